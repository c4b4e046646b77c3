//! Process exit codes: the promise the README's "Exit codes" table makes,
//! mapped from a run's [`Outcome`] in this one place.

use super::Outcome;

/// Exit code: every operation applied.
pub const EXIT_OK: i32 = 0;
/// Exit code: the run failed (fetch, credentials, state).
pub const EXIT_RUN_FAILED: i32 = 1;
/// Exit code: config or usage error.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code: some operations failed.
pub const EXIT_PARTIAL: i32 = 3;
/// Exit code: destructive operations were held back by the guard.
pub const EXIT_HELD_BACK: i32 = 4;
/// Exit code of `apply`: the snapshot moved since the plan was computed.
pub const EXIT_STALE_PLAN: i32 = 5;

impl Outcome {
    /// The process exit code of a run that ended this way.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Succeeded => EXIT_OK,
            Outcome::Partial => EXIT_PARTIAL,
            Outcome::HeldBack => EXIT_HELD_BACK,
            Outcome::Failed => EXIT_RUN_FAILED,
            Outcome::StalePlan => EXIT_STALE_PLAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_keep_the_documented_exit_codes() {
        let table = [
            (Outcome::Succeeded, 0, "succeeded"),
            (Outcome::Failed, 1, "failed"),
            (Outcome::Partial, 3, "partial"),
            (Outcome::HeldBack, 4, "held_back"),
            (Outcome::StalePlan, 5, "failed"),
        ];
        for (outcome, code, label) in table {
            assert_eq!(outcome.exit_code(), code, "{outcome:?}");
            assert_eq!(outcome.label(), label, "{outcome:?}");
        }
    }
}
