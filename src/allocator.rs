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
