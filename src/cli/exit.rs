//! One exit code for a command that ran several connections.

use crate::report::exit::{
    EXIT_CONFIG, EXIT_HELD_BACK, EXIT_OK, EXIT_PARTIAL, EXIT_RUN_FAILED, EXIT_STALE_PLAN,
};

/// Combines per-connection exit codes: a failed run outranks failed
/// operations, which outrank held-back deletions.
pub fn combine_exit_codes(codes: &[i32]) -> i32 {
    for code in [EXIT_CONFIG, EXIT_RUN_FAILED, EXIT_PARTIAL, EXIT_HELD_BACK] {
        if codes.contains(&code) {
            return code;
        }
    }
    EXIT_OK
}

/// `apply`'s exit code: a stale plan anywhere outranks everything else, so
/// scripts see at once that the plan must be made again.
pub(super) fn combine_apply_exit_codes(codes: &[i32]) -> i32 {
    if codes.contains(&EXIT_STALE_PLAN) {
        return EXIT_STALE_PLAN;
    }
    combine_exit_codes(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_combine_by_severity() {
        assert_eq!(combine_exit_codes(&[]), EXIT_OK);
        assert_eq!(
            combine_exit_codes(&[EXIT_OK, EXIT_HELD_BACK]),
            EXIT_HELD_BACK
        );
        assert_eq!(
            combine_exit_codes(&[EXIT_HELD_BACK, EXIT_PARTIAL]),
            EXIT_PARTIAL
        );
        assert_eq!(
            combine_exit_codes(&[EXIT_PARTIAL, EXIT_RUN_FAILED]),
            EXIT_RUN_FAILED
        );
    }

    #[test]
    fn a_stale_plan_outranks_a_failed_run_in_apply() {
        assert_eq!(
            combine_apply_exit_codes(&[EXIT_RUN_FAILED, EXIT_STALE_PLAN]),
            EXIT_STALE_PLAN
        );
        assert_eq!(
            combine_apply_exit_codes(&[EXIT_OK, EXIT_PARTIAL]),
            EXIT_PARTIAL
        );
    }
}
