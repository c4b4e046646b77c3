//! When a connection counts as stale by default: 3 × its schedule interval,
//! the interval being the longest gap between its next few cron times (so a
//! weekday-only schedule is not stale over a weekend).

use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};

/// Schedule intervals without a successful run before a connection is stale.
pub const STALE_INTERVALS: u32 = 3;
/// Cron times looked at to find the longest gap.
const OCCURRENCES: usize = 16;
/// Used when a schedule cannot be read (it was validated, so never in practice).
const FALLBACK_INTERVAL: Duration = Duration::from_secs(3600);

/// `stale_after` of a connection whose channel sets none.
pub fn default_stale_after(schedule: &str, now: i64) -> Duration {
    schedule_interval(schedule, now)
        .unwrap_or(FALLBACK_INTERVAL)
        .saturating_mul(STALE_INTERVALS)
}

/// The longest gap between the next cron times of a 6-field schedule.
pub fn schedule_interval(schedule: &str, now: i64) -> Option<Duration> {
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .dom_and_dow(true)
        .build()
        .parse(schedule)
        .ok()?;
    let start = chrono::DateTime::from_timestamp(now, 0)?;
    let times: Vec<i64> = cron
        .iter_after(start)
        .take(OCCURRENCES)
        .map(|time| time.timestamp())
        .collect();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max()?;
    Some(Duration::from_secs(u64::try_from(gap).ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn intervals_of_common_schedules() {
        // 2026-01-05 was a Monday.
        let monday = 1_767_571_200;
        let cases = [
            ("0 */15 * * * *", 15 * 60),
            ("0 0 3 * * *", 24 * 3600),
            ("0 0 9 * * 1-5", 3 * 24 * 3600),
        ];
        for (schedule, secs) in cases {
            assert_eq!(
                schedule_interval(schedule, monday),
                Some(Duration::from_secs(secs)),
                "{schedule}"
            );
        }
        assert_eq!(
            default_stale_after("0 */15 * * * *", monday),
            Duration::from_secs(45 * 60)
        );
    }
}
