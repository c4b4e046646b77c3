//! Retry decisions as data: one function maps a response to what to do.

use std::time::Duration;

use reqwest::StatusCode;

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 2xx.
    Success,
    /// Transient: try again, after at least the given delay if the server
    /// named one.
    Retry(Option<Duration>),
    /// Permanent for this request; the run goes on.
    Fail,
    /// The credentials were refused: stop the whole run.
    Stop,
}

/// Classifies a status: 429, 408 and 5xx retry (honouring `Retry-After`);
/// 401/403 stop the run; other 4xx fail the one operation.
pub fn classify(status: StatusCode, retry_after: Option<Duration>) -> Decision {
    match status.as_u16() {
        200..=299 => Decision::Success,
        401 | 403 => Decision::Stop,
        408 | 429 => Decision::Retry(retry_after),
        500..=599 => Decision::Retry(retry_after),
        _ => Decision::Fail,
    }
}

/// Whether a server that answered a retriable `status` may nonetheless
/// have applied the request: 429 and 408 say it was not processed; a 5xx
/// (a gateway timing out, a crash after the write) says nothing either way.
pub fn may_have_applied(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 408 | 429)
}

/// Whether a transport error is worth another try: timeouts, refused or
/// reset connections and interrupted bodies are; malformed requests are not.
pub fn is_transient(error: &reqwest::Error) -> bool {
    error.is_timeout() || error.is_connect() || error.is_request() || error.is_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let after = Some(Duration::from_secs(3));
        let cases = [
            (200, None, Decision::Success),
            (201, None, Decision::Success),
            (204, None, Decision::Success),
            (400, None, Decision::Fail),
            (401, None, Decision::Stop),
            (403, None, Decision::Stop),
            (404, None, Decision::Fail),
            (408, None, Decision::Retry(None)),
            (409, None, Decision::Fail),
            (412, None, Decision::Fail),
            (429, after, Decision::Retry(after)),
            (500, None, Decision::Retry(None)),
            (502, None, Decision::Retry(None)),
            (503, after, Decision::Retry(after)),
            (504, None, Decision::Retry(None)),
        ];
        for (status, retry_after, expected) in cases {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
            assert_eq!(classify(status, retry_after), expected, "{status}");
        }
        for (status, maybe) in [
            (408, false),
            (429, false),
            (500, true),
            (502, true),
            (503, true),
        ] {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
            assert_eq!(may_have_applied(status), maybe, "{status}");
        }
    }
}
