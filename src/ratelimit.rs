//! Request pacing and backoff shared by every task that talks to one API.
//!
//! Penvio must never see more than `requests_per_second` (+ `burst`), and
//! nothing may be sent before a `Retry-After` has passed (invariant 6): both
//! are enforced here, in one place, for all concurrent tasks.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

pub mod bounds;
mod sliding_window;
pub use bounds::{BodyError, check_wait, read_body_capped};
use sliding_window::SlidingWindow;

/// The longest pause an `Instant` is asked to hold: about 30 years.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// Paces requests to one endpoint: a token bucket, a hard cap on any one
/// second (`SlidingWindow`), and a global pause set by `Retry-After` or
/// vendor reset headers.
pub struct RequestPacer {
    limiter: DefaultDirectRateLimiter,
    burst: NonZeroU32,
    /// Whether a request has asked yet (the bucket is emptied then).
    used: AtomicBool,
    window: Mutex<SlidingWindow>,
    paused_until: Mutex<Option<Instant>>,
}

impl RequestPacer {
    /// A pacer allowing `per_second` requests on average, with bursts of
    /// `burst` requests.
    ///
    /// The bucket is empty when the first request asks, however long after
    /// the pacer was made (a run makes it before reading the directory and
    /// planning): a run's first second then carries at most the sustained
    /// rate, so connection set-up jitter cannot bunch a full burst plus a
    /// second's worth of requests into one window at the server.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let limiter = RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst));
        RequestPacer {
            limiter,
            burst,
            used: AtomicBool::new(false),
            window: Mutex::new(SlidingWindow::for_rate(per_second.get(), burst.get())),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may be sent.
    pub async fn wait(&self) {
        loop {
            let pause = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if !self.used.swap(true, Ordering::AcqRel) {
            let _ = self.limiter.check_n(self.burst);
        }
        self.limiter.until_ready().await;
        // A pause may have been set while we waited for a token.
        let pause = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = pause
            && until > Instant::now()
        {
            tokio::time::sleep_until(until).await;
        }
        // Last, so the window records when requests really leave.
        loop {
            let admitted = {
                let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
                window.admit(Instant::now())
            };
            match admitted {
                Ok(()) => break,
                Err(retry_at) => tokio::time::sleep_until(retry_at).await,
            }
        }
    }

    /// Holds every request to this endpoint back for `delay` (never shortens
    /// a pause already in force).
    ///
    /// `delay` comes from a server's `Retry-After` or reset header, so it can
    /// be absurd (`Retry-After: 18446744073709551615`): a deadline past what
    /// an `Instant` holds becomes [`FAR_FUTURE`] from now instead of an
    /// overflow panic. Still never earlier than asked, in any practical sense.
    pub fn pause_for(&self, delay: Duration) {
        let now = Instant::now();
        let Some(until) = now
            .checked_add(delay)
            .or_else(|| now.checked_add(FAR_FUTURE))
        else {
            return;
        };
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }
}

/// Capped exponential backoff with full jitter, so many clients retrying
/// after one outage do not come back in lockstep.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay scale of the first retry.
    pub base: Duration,
    /// Upper bound of any single delay.
    pub cap: Duration,
    /// Attempts in total (the first try included) before giving up.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// Delay before retry number `retry` (0 = first retry): uniformly drawn
    /// from [ceiling/2, ceiling], ceiling = min(cap, base·2^retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX);
        let ceiling = self.base.saturating_mul(factor).min(self.cap);
        let half = ceiling / 2;
        let spread = ceiling.saturating_sub(half).as_millis() as u64;
        half + Duration::from_millis(fastrand::u64(0..=spread))
    }
}

/// How long one request may spend waiting out throttling (429 answers) in
/// all. A 429 says the server is well but busy, so it does not use up the
/// retry attempts meant for failures; an hour lets OneLogin's hourly rate
/// window pass.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(3600);

/// …and how many 429 answers it takes in all, so a server answering
/// `Retry-After: 0` forever cannot hold a request forever.
pub const MAX_THROTTLE_ANSWERS: u32 = 100;

/// The throttling one request has waited out (429s, and any answer naming a
/// `Retry-After`), against [`MAX_THROTTLE_WAIT`] and [`MAX_THROTTLE_ANSWERS`].
#[derive(Debug, Default)]
pub struct ThrottleBudget {
    waited: Duration,
    answers: u32,
}

impl ThrottleBudget {
    /// Admits one more wait of `delay`. Refuses (with the reason,
    /// for the error message) when the server asks for more than the budget
    /// has left: failing that one request at once beats stalling the whole
    /// run on an absurd `Retry-After`.
    pub fn admit(&mut self, delay: Duration) -> Result<(), String> {
        self.answers += 1;
        let total = self.waited.saturating_add(delay);
        if self.answers > MAX_THROTTLE_ANSWERS {
            return Err(format!(
                "{} answers asked this request to wait ({} s waited), more than the {MAX_THROTTLE_ANSWERS} a request may take",
                self.answers,
                self.waited.as_secs(),
            ));
        }
        if total > MAX_THROTTLE_WAIT {
            return Err(format!(
                "{} answers asked this request to wait ({} s waited so far); the last asks for {} s, more than the {} s a request may wait in all",
                self.answers,
                self.waited.as_secs(),
                delay.as_secs(),
                MAX_THROTTLE_WAIT.as_secs()
            ));
        }
        self.waited = total;
        Ok(())
    }

    /// Waits asked for so far, to grow the backoff when a 429 names no delay.
    pub fn answers(&self) -> u32 {
        self.answers
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 5,
        };
        for _ in 0..100 {
            let first = backoff.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff.delay(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(backoff.delay(30) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn throttle_budget_admits_waits_up_to_the_limit_and_refuses_beyond() {
        let mut budget = ThrottleBudget::default();
        for _ in 0..59 {
            budget.admit(Duration::from_secs(60)).unwrap();
        }
        assert_eq!(budget.answers(), 59);
        budget.admit(Duration::from_secs(60)).unwrap();
        let refused = budget.admit(Duration::from_secs(1)).unwrap_err();
        assert!(refused.contains("61 answers asked"), "{refused}");
        assert!(refused.contains("3600 s waited"), "{refused}");

        // An absurd Retry-After is refused at once, without overflow.
        let mut fresh = ThrottleBudget::default();
        let refused = fresh.admit(Duration::MAX).unwrap_err();
        assert!(refused.contains("more than the 3600 s"), "{refused}");
        // Zero-second throttles cost no time, but not forever.
        let mut zero = ThrottleBudget::default();
        for _ in 0..MAX_THROTTLE_ANSWERS {
            zero.admit(Duration::ZERO).unwrap();
        }
        let refused = zero.admit(Duration::ZERO).unwrap_err();
        assert!(refused.contains("more than the 100"), "{refused}");
    }

    #[tokio::test]
    async fn a_pacer_made_long_before_its_first_request_starts_with_an_empty_bucket() {
        let pacer = RequestPacer::new(NonZeroU32::new(100).unwrap(), NonZeroU32::new(50).unwrap());
        // Long enough to fill the bucket, had it been counting since `new`.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let start = std::time::Instant::now();
        for _ in 0..60 {
            pacer.wait().await;
        }
        // Empty: 60 at the sustained 10 ms apart (~590 ms). Full: 50 at
        // once and 10 more (~100 ms).
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(450),
            "60 requests in {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_every_request_back() {
        let pacer = RequestPacer::new(NonZeroU32::new(1000).unwrap(), NonZeroU32::new(10).unwrap());
        let start = Instant::now();
        pacer.pause_for(Duration::from_secs(5));
        pacer.pause_for(Duration::from_secs(1));
        pacer.wait().await;
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
