//! Fault injection shared by the vendor fakes (included by each fake as its
//! `faults` module): a middleware in front of the fake's handler answers a
//! chosen request — picked by substrings of `METHOD /path?query` — with a
//! broken response instead of, or derived from, the fake's real one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{BytesCodec, FramedRead};

/// What a faulted request gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// `200 text/html`: a proxy's or SSO login page instead of JSON.
    Html,
    /// The fake's real answer with its body cut in half.
    Truncated,
    /// 500, 502 and 503 in turn (no `Retry-After`).
    Storm,
    /// The real answer after this delay (longer than the client's timeout).
    Slow(Duration),
    /// Status 200 whose `Content-Length` promises twice the bytes sent; half
    /// the real body goes out, then the connection drops mid-body, as on a
    /// reset (the body stream fails; no handler panics).
    Reset,
    /// 429 with `Retry-After` in seconds.
    Throttle(u64),
    /// 401: the token was revoked.
    Revoked,
    /// The real answer (status unchanged) with these headers set, e.g. a
    /// rate-limit reset far in the future on a 200.
    Headers(&'static [(&'static str, &'static str)]),
    /// 429 with these headers (e.g. `x-ratelimit-reset` instead of
    /// `Retry-After`).
    ThrottleWith(&'static [(&'static str, &'static str)]),
    /// The real answer followed by this many bytes of JSON whitespace,
    /// streamed in chunks with no `Content-Length`: only a running total
    /// can catch it.
    Padded(usize),
}

struct Rule {
    needles: Vec<String>,
    skip: u32,
    remaining: Option<u32>,
    fault: Fault,
}

#[derive(Default)]
struct FaultState {
    rules: Vec<Rule>,
    injected: u64,
    storm_turn: u64,
}

/// The faults of one fake; clones share them.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

impl Faults {
    /// From now on, answers requests whose `METHOD /path?query` contains
    /// every needle with `fault`: after letting `skip` such requests through,
    /// `times` times (None: until [`Self::clear`]).
    pub fn inject(&self, needles: &[&str], skip: u32, times: Option<u32>, fault: Fault) {
        self.0.lock().unwrap().rules.push(Rule {
            needles: needles.iter().map(|n| n.to_string()).collect(),
            skip,
            remaining: times,
            fault,
        });
    }

    /// Stops every injected fault.
    pub fn clear(&self) {
        self.0.lock().unwrap().rules.clear();
    }

    /// How many responses were faulted so far.
    pub fn injected(&self) -> u64 {
        self.0.lock().unwrap().injected
    }

    fn take(&self, target: &str) -> Option<(Fault, u64)> {
        let mut state = self.0.lock().unwrap();
        let rule = state.rules.iter_mut().find(|rule| {
            rule.remaining != Some(0) && rule.needles.iter().all(|n| target.contains(n.as_str()))
        })?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        if let Some(remaining) = rule.remaining.as_mut() {
            *remaining -= 1;
        }
        let fault = rule.fault;
        state.injected += 1;
        state.storm_turn += 1;
        Some((fault, state.storm_turn))
    }
}

/// A body source that yields `sent`, pauses so the bytes reach the client,
/// then fails like a reset connection.
struct CutShort {
    sent: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl AsyncRead for CutShort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(sent) = self.sent.take() {
            buf.put_slice(&sent[..sent.len().min(buf.remaining())]);
            return Poll::Ready(Ok(()));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected connection reset",
            ))),
        }
    }
}

/// A body source that yields `head`, then `remaining` spaces.
struct Padding {
    head: Option<Bytes>,
    remaining: usize,
}

impl AsyncRead for Padding {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(head) = self.head.take() {
            let n = head.len().min(buf.remaining());
            buf.put_slice(&head[..n]);
            if n < head.len() {
                self.head = Some(head.slice(n..));
            }
            return Poll::Ready(Ok(()));
        }
        let n = self.remaining.min(buf.remaining()).min(16 * 1024);
        buf.put_slice(&vec![b' '; n]);
        self.remaining -= n;
        Poll::Ready(Ok(()))
    }
}

/// The middleware: `Router::layer(from_fn_with_state(faults, faults::layer))`.
pub async fn layer(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let target = format!(
        "{} {}",
        request.method(),
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let Some((fault, turn)) = faults.take(&target) else {
        return next.run(request).await;
    };
    match fault {
        Fault::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Session expired: please sign in.</body></html>",
        )
            .into_response(),
        Fault::Truncated => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
        }
        Fault::Storm => {
            let status = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
            ][(turn % 3) as usize];
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"message":"injected server error"}"#,
            )
                .into_response()
        }
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::Reset => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap();
            parts.status = StatusCode::OK;
            parts.headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(bytes.len().max(2) as u64 * 2),
            );
            // The head and half the body go out; then the body stream fails
            // and hyper drops the connection mid-body.
            let reader = CutShort {
                sent: Some(bytes.slice(..bytes.len() / 2)),
                pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
            };
            let stream = FramedRead::new(reader, BytesCodec::new());
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Fault::Throttle(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (header::RETRY_AFTER, seconds.to_string()),
            ],
            r#"{"message":"injected rate limit"}"#,
        )
            .into_response(),
        Fault::Headers(extra) => {
            let mut response = next.run(request).await;
            for (name, value) in extra {
                response.headers_mut().insert(
                    header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            response
        }
        Fault::ThrottleWith(extra) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"message":"injected rate limit"}"#,
            )
                .into_response();
            for (name, value) in extra {
                response.headers_mut().insert(
                    header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            response
        }
        Fault::Padded(extra) => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap();
            parts.headers.remove(header::CONTENT_LENGTH);
            let reader = Padding {
                head: Some(bytes),
                remaining: extra,
            };
            let stream = FramedRead::new(reader, BytesCodec::new());
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Fault::Revoked => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message":"The access token was revoked (injected).","code":"INVALID_TOKEN"}"#,
        )
            .into_response(),
    }
}
