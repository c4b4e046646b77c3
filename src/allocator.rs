//! The process's memory allocator: mimalloc, without transparent huge pages.
//!
//! A run holds the desired directory and the snapshot at once — a million
//! users are millions of small strings — so allocation speed and locality
//! show up directly in plan time and peak memory. Measured on the B1 budget
//! (1M users, `scripts/bench --only b1`): load + plan 785 → ~620 ms and peak
//! RSS 830 → 715 MiB against glibc's allocator. Declared in the library so
//! the binary, the tests and the benchmarks all measure the same allocator.
//!
//! Huge pages are left off (`no_thp` feature): with them, mimalloc asks the
//! kernel for huge pages on its whole arena, and on a host whose memory is
//! fragmented a page fault then waits for compaction — the same load took
//! anywhere from 370 to 860 ms. A sync agent wants the predictable figure.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e` of
/// mimalloc v3, the version the `mimalloc` crate builds: between
/// `mi_option_deprecated_eager_commit_delay` = 14 and
/// `mi_option_use_numa_nodes` = 16, which `libmimalloc-sys` names).
const MI_OPTION_PURGE_DELAY: i32 = 15;

unsafe extern "C" {
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// Returns freed memory to the OS at once instead of after mimalloc's
/// delay (1 s, ×10 for arena memory).
///
/// A run frees large structures at known points (the export's text once
/// parsed, each fetched record once mapped) and then allocates the desired
/// state; with the delay, the freed pages stay resident while the new ones
/// are touched. Measured on a no-op sync of 100,000 users (issue 20): peak
/// RSS 124 → 104 MiB, CPU time unchanged. Called first thing by the binary.
pub fn release_freed_memory_promptly() {
    // SAFETY: plain setters/getters of a process-wide option, valid at any
    // time; an unknown option index is ignored by mimalloc.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        fn mi_option_get(option: i32) -> std::ffi::c_long;
    }

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: a plain getter of a process-wide option.
        unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc v3's default purge delay is 1000 ms unless the
        // environment overrides it: that default at this index shows the
        // index is the purge delay's (no other test changes it).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(
                purge_delay(),
                1000,
                "option {MI_OPTION_PURGE_DELAY} is not mimalloc's purge delay"
            );
        }
        release_freed_memory_promptly();
        assert_eq!(purge_delay(), 0);
    }
}
