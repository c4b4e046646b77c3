//! A hard cap on requests released in any one-second window.
//!
//! A token bucket bounds any second at rate + burst only as the sender sees
//! it: a bucket that filled while the run was busy elsewhere (loading the
//! snapshot, planning, a phase boundary) releases its whole burst and then a
//! full second's rate, 549 of 550 at 500/s + 50. A few milliseconds of
//! delivery jitter then put 551 into one second at the server. This window
//! counts what was actually released and holds the next request back when
//! the last second already carries the cap, which is set a little under
//! rate + burst so that jitter stays inside the promise.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(1);

/// Release times of the last second, at most `cap` of them.
#[derive(Debug)]
pub(super) struct SlidingWindow {
    cap: usize,
    released: VecDeque<Instant>,
}

impl SlidingWindow {
    /// A window for `per_second` + `burst`, less 1% headroom for delivery
    /// jitter (none below 100, where 1% is less than one request).
    pub(super) fn for_rate(per_second: u32, burst: u32) -> Self {
        let most = per_second.saturating_add(burst);
        let cap = most - most / 100;
        SlidingWindow {
            cap: usize::try_from(cap).unwrap_or(usize::MAX).max(1),
            released: VecDeque::new(),
        }
    }

    /// Releases one request at `now`, or says when the oldest release in the
    /// window leaves it (try again then).
    pub(super) fn admit(&mut self, now: Instant) -> Result<(), Instant> {
        while let Some(&oldest) = self.released.front() {
            if now.saturating_duration_since(oldest) < WINDOW {
                break;
            }
            self.released.pop_front();
        }
        match self.released.front() {
            Some(&oldest) if self.released.len() >= self.cap => Err(oldest + WINDOW),
            _ => {
                self.released.push_back(now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_one_percent_for_jitter_above_a_hundred() {
        assert_eq!(SlidingWindow::for_rate(500, 50).cap, 545);
        assert_eq!(SlidingWindow::for_rate(10, 10).cap, 20);
        assert_eq!(SlidingWindow::for_rate(60, 40).cap, 99);
        assert!(SlidingWindow::for_rate(u32::MAX, u32::MAX).cap > 1);
    }

    #[test]
    fn no_one_second_window_holds_more_than_the_cap() {
        let mut window = SlidingWindow::for_rate(500, 50);
        let start = Instant::now();
        // Everyone asks at once, over and over, for three seconds: exactly
        // the cap goes per second, and each waits for the oldest to leave.
        let mut released = Vec::new();
        let mut now = start;
        while now < start + Duration::from_secs(3) {
            match window.admit(now) {
                Ok(()) => released.push(now),
                Err(retry_at) => {
                    assert!(retry_at > now);
                    now = retry_at;
                }
            }
        }
        assert_eq!(released.len(), 3 * 545);
        for (i, &first) in released.iter().enumerate() {
            let in_window = released[i..]
                .iter()
                .take_while(|&&t| t.duration_since(first) < WINDOW)
                .count();
            assert!(in_window <= 545, "{in_window} from release {i}");
        }
    }

    #[test]
    fn a_steady_rate_below_the_cap_is_never_held_back() {
        let mut window = SlidingWindow::for_rate(500, 50);
        let start = Instant::now();
        for i in 0..5_000u32 {
            let now = start + Duration::from_millis(2) * i;
            assert_eq!(window.admit(now), Ok(()), "request {i}");
        }
    }
}
