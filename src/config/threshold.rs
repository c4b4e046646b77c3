//! Safety thresholds for destructive operations: a count or a share of users.

use std::fmt;

/// How many deactivations or deletions one run may perform before the safety
/// guard refuses them: an absolute count (`50`) or a share of the users the
/// connection manages (`"10%"`), so one setting fits small and large orgs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// At most this many.
    Count(u64),
    /// At most this fraction (0.0..=1.0) of the base, rounded up.
    Share(f64),
}

impl Threshold {
    /// Parses `"50"` or `"10%"` (`0%`..=`100%`, decimals allowed).
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let text = text.trim();
        let invalid = || "must be a count or a share like \"10%\"".to_owned();
        if let Some(percent) = text.strip_suffix('%') {
            let value: f64 = percent.trim().parse().map_err(|_| invalid())?;
            if !value.is_finite() || !(0.0..=100.0).contains(&value) {
                return Err("must be a share between 0% and 100%".to_owned());
            }
            return Ok(Threshold::Share(value / 100.0));
        }
        text.parse::<u64>()
            .map(Threshold::Count)
            .map_err(|_| invalid())
    }

    /// The largest number allowed out of `base` (e.g. the managed users).
    /// A share is rounded up, so "10%" of 5 users still allows one.
    pub fn limit(&self, base: usize) -> usize {
        match *self {
            Threshold::Count(count) => usize::try_from(count).unwrap_or(usize::MAX),
            Threshold::Share(share) => {
                let exact = share * base as f64;
                // 0.1 * 30 is 3.0000000000000004 in binary; do not round that up to 4.
                let nearest = exact.round();
                let limit = if (exact - nearest).abs() < 1e-9 {
                    nearest
                } else {
                    exact.ceil()
                };
                // The float-to-int cast saturates, and a share is at most 100%.
                (limit as usize).min(base)
            }
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Count(count) => write!(f, "{count}"),
            Threshold::Share(share) => write!(f, "{}%", share * 100.0),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_shares() {
        let cases = [
            ("50", Some(Threshold::Count(50))),
            ("0", Some(Threshold::Count(0))),
            ("10%", Some(Threshold::Share(0.10))),
            ("100%", Some(Threshold::Share(1.0))),
            ("0%", Some(Threshold::Share(0.0))),
            ("2.5%", Some(Threshold::Share(0.025))),
            ("101%", None),
            ("-1%", None),
            ("-1", None),
            ("ten", None),
            ("%", None),
            ("10 percent", None),
        ];
        for (text, expected) in cases {
            assert_eq!(Threshold::parse(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn limit_rounds_shares_up() {
        let cases = [
            (Threshold::Count(5), 1000, 5),
            (Threshold::Count(5), 2, 5),
            (Threshold::Share(0.10), 30, 3),
            (Threshold::Share(0.10), 31, 4),
            (Threshold::Share(0.10), 5, 1),
            (Threshold::Share(0.10), 0, 0),
            (Threshold::Share(0.05), 100, 5),
            (Threshold::Share(0.0), 100, 0),
            (Threshold::Share(1.0), 7, 7),
            (Threshold::Share(0.07), 100, 7),
        ];
        for (threshold, base, expected) in cases {
            assert_eq!(threshold.limit(base), expected, "{threshold} of {base}");
        }
    }

    #[test]
    fn displays_as_written() {
        assert_eq!(Threshold::Count(3).to_string(), "3");
        assert_eq!(Threshold::Share(0.25).to_string(), "25%");
    }
}
