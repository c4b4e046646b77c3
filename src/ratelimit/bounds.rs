//! Bounds on what a server can make a run do (invariant 11): how long it
//! may ask us to wait, and how large one answer may be. A server beyond
//! either fails that request at once with a message naming what it sent.

use std::time::Duration;

/// A server-directed wait, checked against the cap before anyone sleeps.
///
/// `header` and `value` are what the server sent (`Retry-After: 999999999`),
/// so the error says exactly what was refused; `key` names what sets the cap
/// (a config key in backticks, or "the built-in max_wait").
pub fn check_wait(
    header: &str,
    value: &str,
    wait: Duration,
    cap: Duration,
    key: &str,
) -> Result<Duration, String> {
    if wait <= cap {
        return Ok(wait);
    }
    Err(format!(
        "the server sent `{header}: {}`, which asks for {} s, more than the {} s {key} allows; failing this request instead of waiting",
        value.trim(),
        wait.as_secs(),
        cap.as_secs()
    ))
}

/// Why a body could not be read within its cap.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body (or its declared length) is larger than the cap.
    #[error(
        "the response body is larger than the {cap} bytes {key} allows{}; refusing to read it",
        declared.map(|n| format!(" (it declares {n} bytes)")).unwrap_or_default()
    )]
    TooLarge {
        /// The cap in bytes.
        cap: u64,
        /// `Content-Length`, when the server declared one.
        declared: Option<u64>,
        /// The config key setting the cap.
        key: String,
    },
    /// The body stream failed (reset, timeout).
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads a response body chunk by chunk, failing as soon as the running
/// total passes `cap`: a hostile server can never make us buffer more.
pub async fn read_body_capped(
    mut response: reqwest::Response,
    cap: u64,
    key: &str,
) -> Result<Vec<u8>, BodyError> {
    let too_large = |declared| BodyError::TooLarge {
        cap,
        declared,
        key: key.to_string(),
    };
    let declared = response.content_length();
    if let Some(length) = declared
        && length > cap
    {
        return Err(too_large(Some(length)));
    }
    let initial = declared.unwrap_or(0).min(cap).min(1 << 20);
    let mut body = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        let total = u64::try_from(body.len())
            .unwrap_or(u64::MAX)
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if total > cap {
            return Err(too_large(declared));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_up_to_the_cap_pass_and_longer_ones_name_the_header() {
        let cap = Duration::from_secs(60);
        assert_eq!(
            check_wait("Retry-After", "60", Duration::from_secs(60), cap, "k"),
            Ok(Duration::from_secs(60))
        );
        let refused = check_wait(
            "x-ratelimit-reset",
            " 999999999",
            Duration::from_secs(999_999_999),
            cap,
            "`connections[0].source.max_wait`",
        )
        .unwrap_err();
        assert!(
            refused.contains("`x-ratelimit-reset: 999999999`"),
            "{refused}"
        );
        assert!(
            refused.contains("more than the 60 s `connections[0].source.max_wait`"),
            "{refused}"
        );
    }
}
