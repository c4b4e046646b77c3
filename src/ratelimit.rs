//! Request pacing and backoff shared by every task that talks to one API.
//!
//! Penvio must never see more than `requests_per_second` (+ `burst`), and
//! nothing may be sent before a `Retry-After` has passed (invariant 6): both
//! are enforced here, in one place, for all concurrent tasks.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// The longest pause an `Instant` is asked to hold: about 30 years.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// Paces requests to one endpoint: a token bucket plus a global pause set by
/// `Retry-After` or vendor reset headers.
pub struct RequestPacer {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl RequestPacer {
    /// A pacer allowing `per_second` requests on average, with bursts of
    /// `burst` requests.
    ///
    /// The bucket starts empty: a run's first second then carries at most the
    /// sustained rate, so connection set-up jitter cannot bunch a full burst
    /// plus a second's worth of requests into one window at the server.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let limiter = RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst));
        let _ = limiter.check_n(burst);
        RequestPacer {
            limiter,
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
        self.limiter.until_ready().await;
        // A pause may have been set while we waited for a token.
        let pause = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = pause
            && until > Instant::now()
        {
            tokio::time::sleep_until(until).await;
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
