//! Sending one request: pacing, the retry loop, `Retry-After` and body caps,
//! and what each answer means. A request that must not be sent twice blindly
//! (a team create) ends in [`ScimError::OutcomeUnknown`] instead of a replay.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::retry::{Decision, classify, is_transient, may_have_applied};
use super::{Answer, Replay, ScimClient, ScimError};
use crate::ratelimit::{
    BodyError, ThrottleBudget, check_wait, parse_retry_after, read_body_capped,
};
use crate::scim::{ErrorBody, SCIM_MEDIA_TYPE};

impl ScimClient {
    /// [`ScimClient::send`], saying whether the request may be replayed
    /// when its outcome is unknown; if not, such an outcome ends in
    /// [`ScimError::OutcomeUnknown`] and the caller decides.
    pub(super) async fn send_with(
        &self,
        method: Method,
        target: &str,
        body: Option<Value>,
        replay: Replay,
    ) -> Result<Answer, ScimError> {
        let inner = &self.inner;
        let request = Outgoing::new(&inner.base, method, target, body.as_ref(), replay)?;
        let backoff = inner.settings.backoff;
        let max_attempts = backoff.max_attempts.max(1);
        // Failures count against `max_attempts`; throttling (a 429: busy,
        // not broken) against the throttle budget instead.
        let mut tries = Tries::default();
        while tries.attempt < max_attempts {
            if tries.sent > 0 {
                inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            tries.sent = tries.sent.saturating_add(1);
            match self.exchange(&request).await? {
                Exchange::Lost {
                    last,
                    maybe_applied,
                } => {
                    tries.last = last;
                    if request.replay == Replay::Unsafe && maybe_applied {
                        return Err(request.unknown(tries.last));
                    }
                    tokio::time::sleep(backoff.delay(tries.attempt)).await;
                    tries.attempt += 1;
                }
                Exchange::Answered(answered) => {
                    if let Some(answer) = self.judge(&request, &mut tries, answered).await? {
                        return Ok(answer);
                    }
                }
            }
        }
        Err(ScimError::RetriesExhausted {
            method: request.method,
            path: request.path,
            attempts: tries.sent,
            last: tries.last,
        })
    }

    /// Sends one attempt (paced and counted) and reads its answer, within
    /// the wait and body caps.
    async fn exchange(&self, request: &Outgoing) -> Result<Exchange, ScimError> {
        let inner = &self.inner;
        inner.pacer.wait().await;
        let counter = if request.method == Method::GET {
            &inner.counters.reads
        } else {
            &inner.counters.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut builder = inner
            .http
            .request(request.method.clone(), &request.url)
            .bearer_auth(inner.settings.token.expose())
            .header(ACCEPT, SCIM_MEDIA_TYPE);
        if let Some(bytes) = &request.bytes {
            builder = builder
                .header(CONTENT_TYPE, SCIM_MEDIA_TYPE)
                .body(bytes.clone());
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) if is_transient(&error) => {
                // Errors name method and path; the URL's query can hold
                // user data (a userName filter).
                let error = error.without_url();
                // A refused connection never carried the request; a
                // timeout or a reset may have come after the server
                // acted on it.
                return Ok(Exchange::Lost {
                    last: error_chain(&error),
                    maybe_applied: !error.is_connect(),
                });
            }
            Err(source) => {
                return Err(ScimError::Transport {
                    method: request.method.clone(),
                    path: request.path.clone(),
                    source: source.without_url(),
                });
            }
        };
        let status = response.status();
        let retry_after = self.honour_retry_after(request, &response)?;
        let max_body = inner.rules.limits.max_body;
        match read_body_capped(response, max_body, &inner.rules.key("max_body")).await {
            Ok(body) => Ok(Exchange::Answered(Answered {
                status,
                retry_after,
                body,
            })),
            Err(too_large @ BodyError::TooLarge { .. }) => {
                Err(request.unbounded(format!("answered {status}: {too_large}")))
            }
            Err(BodyError::Transport(error)) => Ok(Exchange::Lost {
                last: error_chain(&error.without_url()),
                maybe_applied: true,
            }),
        }
    }

    /// The `Retry-After` of a retriable answer, checked against `max_wait`;
    /// every task is held back as soon as the headers arrive, before the
    /// body is read, so no other request slips out meanwhile.
    fn honour_retry_after(
        &self,
        request: &Outgoing,
        response: &reqwest::Response,
    ) -> Result<Option<Duration>, ScimError> {
        let status = response.status();
        let value = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        let retry_after = value.and_then(|v| parse_retry_after(v, SystemTime::now()));
        if let Some(after) = retry_after
            && matches!(classify(status, retry_after), Decision::Retry(_))
        {
            let rules = &self.inner.rules;
            let key = rules.key("max_wait");
            let value = value.unwrap_or_default();
            if let Err(reason) =
                check_wait("Retry-After", value, after, rules.limits.max_wait, &key)
            {
                return Err(request.unbounded(format!("answered {status}: {reason}")));
            }
            self.inner.pacer.pause_for(after);
        }
        Ok(retry_after)
    }

    /// What an answer means: the answer itself, `None` to try again (after
    /// waiting), or the error that ends the request.
    async fn judge(
        &self,
        request: &Outgoing,
        tries: &mut Tries,
        answered: Answered,
    ) -> Result<Option<Answer>, ScimError> {
        let Answered {
            status,
            retry_after,
            body,
        } = answered;
        let unsafe_replay = request.replay == Replay::Unsafe;
        match classify(status, retry_after) {
            Decision::Success if is_scim_body(&body) => Ok(Some(Answer { status, body })),
            Decision::Success => {
                // A 2xx whose body is not JSON (a proxy's HTML page, a
                // body cut short) acknowledges nothing: the server may
                // not have seen the request at all.
                tries.last = format!(
                    "{status} with a body that is not SCIM JSON (starts {:?})",
                    preview(&body)
                );
                if unsafe_replay {
                    return Err(request.unknown(std::mem::take(&mut tries.last)));
                }
                tracing::debug!(method = %request.method, path = request.path, %status, "Retrying a request answered with a garbled body.");
                tokio::time::sleep(self.inner.settings.backoff.delay(tries.attempt)).await;
                tries.attempt += 1;
                Ok(None)
            }
            Decision::Retry(_) if unsafe_replay && may_have_applied(status) => {
                Err(request.unknown(format!("{status}: {}", describe_error(&body))))
            }
            Decision::Retry(after) => {
                self.wait_to_retry(request, tries, status, after, &body)
                    .await?;
                Ok(None)
            }
            Decision::Stop => Err(ScimError::Unauthorized {
                service: self.inner.settings.service.clone(),
                status: status.as_u16(),
                method: request.method.clone(),
                path: request.path.clone(),
                key: self.inner.settings.token_key.clone(),
            }),
            Decision::Fail => Err(request.failure(status, &body)),
        }
    }

    /// Waits before retrying a retriable status: the server's `Retry-After`,
    /// else the backoff; throttling draws on the throttle budget, not on
    /// the attempts.
    async fn wait_to_retry(
        &self,
        request: &Outgoing,
        tries: &mut Tries,
        status: StatusCode,
        after: Option<Duration>,
        body: &[u8],
    ) -> Result<(), ScimError> {
        let inner = &self.inner;
        let backoff = inner.settings.backoff;
        let throttled = status == StatusCode::TOO_MANY_REQUESTS;
        if throttled {
            inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
        }
        tries.last = format!("{status}: {}", describe_error(body));
        let delay = match after {
            Some(after) => after,
            None if throttled => backoff.delay(tries.throttle.answers()),
            None => backoff.delay(tries.attempt),
        };
        if (throttled || after.is_some())
            && let Err(reason) = tries.throttle.admit(delay)
        {
            return Err(ScimError::RetriesExhausted {
                method: request.method.clone(),
                path: request.path.clone(),
                attempts: tries.sent,
                last: format!("{}; {reason}", tries.last),
            });
        }
        if after.is_some() {
            inner.pacer.pause_for(delay);
        }
        tracing::debug!(method = %request.method, path = request.path, %status, delay_ms = delay.as_millis() as u64, "Retrying request.");
        tokio::time::sleep(delay).await;
        if !throttled {
            tries.attempt += 1;
        }
        Ok(())
    }
}

/// One request on its way: what, where, and whether it may be replayed.
struct Outgoing {
    method: Method,
    /// The path without the query (errors never show the query).
    path: String,
    url: String,
    bytes: Option<Vec<u8>>,
    replay: Replay,
}

impl Outgoing {
    fn new(
        base: &str,
        method: Method,
        target: &str,
        body: Option<&Value>,
        replay: Replay,
    ) -> Result<Self, ScimError> {
        let path = target.split('?').next().unwrap_or(target).to_string();
        let bytes = match body {
            Some(value) => {
                Some(
                    serde_json::to_vec(value).map_err(|e| ScimError::InvalidResponse {
                        method: method.clone(),
                        path: path.clone(),
                        message: format!("cannot encode request: {e}"),
                    })?,
                )
            }
            None => None,
        };
        Ok(Outgoing {
            url: format!("{base}{target}"),
            method,
            path,
            bytes,
            replay,
        })
    }

    fn unknown(&self, last: String) -> ScimError {
        ScimError::OutcomeUnknown {
            method: self.method.clone(),
            path: self.path.clone(),
            last,
        }
    }

    fn unbounded(&self, message: String) -> ScimError {
        ScimError::Unbounded {
            method: self.method.clone(),
            path: self.path.clone(),
            message,
        }
    }

    /// The error of a non-retriable answer, with the server's SCIM detail.
    fn failure(&self, status: StatusCode, body: &[u8]) -> ScimError {
        let error: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let detail = error.detail.clone().unwrap_or_else(|| describe_error(body));
        let (method, path) = (self.method.clone(), self.path.clone());
        match status {
            StatusCode::NOT_FOUND => ScimError::NotFound { method, path },
            StatusCode::CONFLICT => ScimError::Conflict {
                method,
                path,
                detail,
            },
            _ => ScimError::Rejected {
                method,
                path,
                status: status.as_u16(),
                scim_type: error.scim_type,
                detail,
            },
        }
    }
}

/// Retry bookkeeping of one request.
#[derive(Default)]
struct Tries {
    /// Failed attempts so far (throttling excluded).
    attempt: u32,
    /// Requests sent, retries included.
    sent: u32,
    throttle: ThrottleBudget,
    /// The last problem, for the final error.
    last: String,
}

/// A status and body that came back.
struct Answered {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// What one attempt produced.
enum Exchange {
    /// No answer; `maybe_applied` when the request may have reached the
    /// server before the connection failed.
    Lost { last: String, maybe_applied: bool },
    /// A status and body.
    Answered(Answered),
}

/// Whether a 2xx body can be a SCIM answer: empty (204, or a 200 without
/// content) or JSON.
fn is_scim_body(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

pub(super) fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned()
}

/// The `detail` of a SCIM error body, else the start of the body.
pub(super) fn describe_error(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|e| e.detail)
        .unwrap_or_else(|| {
            let text = preview(body);
            if text.trim().is_empty() {
                "(no body)".to_string()
            } else {
                text
            }
        })
}

/// The error with its causes, so "connection refused" is not hidden behind
/// "error sending request".
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
