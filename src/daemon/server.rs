//! The daemon's local HTTP endpoint: metrics, health, readiness, connection
//! status, on-demand runs and reviewed plans.
//!
//! `/metrics`, `/healthz` and `/readyz` are open (scrapers and probes). The
//! `/v1` API can start runs, so every request to it must prove it comes from
//! an admin, not from a web page the admin has open:
//! - no `Origin` header (browsers send one on cross-site requests): 403;
//! - a `Host` that is the listen address or `localhost` (defeats DNS
//!   rebinding, where a hostile name resolves to 127.0.0.1): else 403;
//! - the bearer token (`listen_token`, else the one generated in
//!   `state_dir`), compared in constant time: else 401;
//! - `Content-Type: application/json` on POST (an HTML form cannot send it
//!   without a CORS preflight): else 415.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::api::{
    self, ApplyQuery, EXIT_CODE_HEADER, ExplainQuery, FORMAT_TEXT, MODE_INCREMENTAL,
    MODE_RECONCILE, NOTHING_NAMED, SyncQuery,
};
use super::registry::{Origin, Registry, TriggerError};
use crate::config::Secret;
use crate::events;
use crate::report::RunReport;
use crate::report::render::render_report;
use crate::reviewed::ConnectionPlan;
use crate::sync::RunMode;
use crate::timestamp::unix_now;

/// What the handlers share.
pub struct ServerState {
    /// The connections.
    pub registry: Arc<Registry>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// The address the endpoint listens on (the `Host` header must name it).
    pub listen: SocketAddr,
    /// Bearer token of `/v1`; replaced on SIGHUP.
    token: RwLock<Secret>,
}

impl ServerState {
    /// The shared state of an endpoint on `listen` requiring `token`.
    pub fn new(
        registry: Arc<Registry>,
        metrics: Option<PrometheusHandle>,
        listen: SocketAddr,
        token: Secret,
    ) -> Self {
        ServerState {
            registry,
            metrics,
            listen,
            token: RwLock::new(token),
        }
    }

    /// Requires `token` from now on (SIGHUP); requests in flight are not affected.
    pub fn set_token(&self, token: Secret) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    fn token_matches(&self, presented: &str) -> bool {
        let token = self.token.read().unwrap_or_else(|e| e.into_inner());
        constant_time_eq(presented.as_bytes(), token.expose().as_bytes())
    }
}

/// The router of the endpoint.
pub fn router(state: Arc<ServerState>) -> Router {
    let api = Router::new()
        .route(api::CONNECTIONS, get(list_connections))
        .route(api::CONNECTION, get(show_connection))
        .route(api::SYNC, post(run_connection))
        .route(api::APPLY, post(apply_plan))
        .route(api::EXPLAIN, get(explain))
        .layer(middleware::from_fn_with_state(state.clone(), guard_api));
    Router::new()
        .route(api::HEALTHZ, get(healthz))
        .route(api::READYZ, get(readyz))
        .route(api::METRICS, get(metrics))
        .merge(api)
        .with_state(state)
}

/// The checks of the module documentation, in that order.
async fn guard_api(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if headers.contains_key(header::ORIGIN) {
        return refuse(
            StatusCode::FORBIDDEN,
            "requests from web pages (with an Origin header) are refused",
        );
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !host.is_some_and(|host| host_allowed(host, state.listen)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the Host header must be the listen address or localhost",
        );
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| state.token_matches(p)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "a Bearer token is required: listen_token, or the listen_token file in state_dir"})),
        )
            .into_response();
    }
    if request.method() == Method::POST && !is_json(&headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST requests must have Content-Type: application/json",
        );
    }
    next.run(request).await
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// `application/json`, with or without parameters such as a charset.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether `host` names this endpoint: `localhost` (with our port or none),
/// the listen address itself, or, when listening on a wildcard address, a
/// loopback address with our port. Any other name may be a DNS rebinding.
fn host_allowed(host: &str, listen: SocketAddr) -> bool {
    let port = listen.port();
    if host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case(&format!("localhost:{port}"))
    {
        return true;
    }
    host.parse::<SocketAddr>().is_ok_and(|named| {
        named.port() == port
            && (named.ip() == listen.ip()
                || (listen.ip().is_unspecified() && named.ip().is_loopback()))
    })
}

/// Compares without stopping at the first difference, so response timing
/// does not reveal how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<Arc<ServerState>>) -> Response {
    let now = unix_now();
    let backing_off: Vec<String> = state
        .registry
        .backoff_remaining(now)
        .into_iter()
        .filter(|(_, left)| *left > 0)
        .map(|(name, _)| name)
        .collect();
    if backing_off.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "backing_off": backing_off})),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let now = unix_now();
    for (name, left) in state.registry.backoff_remaining(now) {
        metrics::gauge!(events::BACKOFF_SECONDS, "connection" => name).set(left as f64);
    }
    match &state.metrics {
        Some(handle) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}

async fn list_connections(State(state): State<Arc<ServerState>>) -> Response {
    let statuses: Vec<_> = state
        .registry
        .statuses()
        .into_iter()
        .map(|mut s| {
            s.last_report = None;
            s
        })
        .collect();
    Json(json!({"connections": statuses})).into_response()
}

async fn show_connection(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
) -> Response {
    match state.registry.status(&name) {
        Some(status) => Json(status).into_response(),
        None => not_found(&name),
    }
}

fn not_found(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no connection named {name:?}")})),
    )
        .into_response()
}

async fn run_connection(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
    Query(query): Query<SyncQuery>,
) -> Response {
    let mode = match query.mode.as_deref() {
        None | Some(MODE_INCREMENTAL) | Some("sync") => RunMode::Sync,
        Some(MODE_RECONCILE) => RunMode::Reconcile { adopt: query.adopt },
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("mode must be incremental or reconcile, not {other:?}")})),
            )
                .into_response();
        }
    };
    let only: Vec<String> = query
        .only
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    let registry = state.registry.clone();
    let (dry_run, allow_deletions) = (query.dry_run, query.allow_deletions);
    // Spawned: a caller that disconnects must not abort a run mid-apply.
    let run = tokio::spawn(async move {
        registry
            .trigger_only(&name, mode, dry_run, allow_deletions, Origin::Api, only)
            .await
    });
    match run.await {
        Ok(result) => report_response(result, query.format.as_deref() == Some(FORMAT_TEXT)),
        Err(error) => run_task_failed(&error),
    }
}

/// The run's task panicked or was cancelled (the daemon is stopping).
fn run_task_failed(error: &tokio::task::JoinError) -> Response {
    tracing::error!(%error, "A run started over the API ended abnormally.");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the run ended abnormally; see the daemon's log",
    )
}

/// A run's answer: its report (JSON, or the CLI's text) with its exit code in
/// a header, or why it did not run.
fn report_response(result: Result<RunReport, TriggerError>, text: bool) -> Response {
    match result {
        Ok(report) => {
            let code = report.exit_code.to_string();
            if text {
                (
                    StatusCode::OK,
                    [(EXIT_CODE_HEADER, code)],
                    render_report(&report),
                )
                    .into_response()
            } else {
                (StatusCode::OK, [(EXIT_CODE_HEADER, code)], Json(report)).into_response()
            }
        }
        Err(TriggerError::Unknown(name)) => not_found(&name),
        Err(error @ TriggerError::Busy(_)) => (
            StatusCode::CONFLICT,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

/// Applies one connection's part of a reviewed plan file (the body), so
/// `plan --out` / `apply` work while the daemon holds the state.
async fn apply_plan(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
    Query(query): Query<ApplyQuery>,
    Json(plan): Json<ConnectionPlan>,
) -> Response {
    if plan.connection != name {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!(
                "the plan is for connection {:?}, not {name:?}",
                plan.connection
            )})),
        )
            .into_response();
    }
    let registry = state.registry.clone();
    // Spawned: a caller that disconnects must not abort the apply midway.
    let run =
        tokio::spawn(async move { registry.apply_reviewed(&plan, query.allow_deletions).await });
    match run.await {
        Ok(result) => report_response(result, query.format.as_deref() == Some(FORMAT_TEXT)),
        Err(error) => run_task_failed(&error),
    }
}

/// The explanation as text (200), 404 when nothing matches the subject,
/// 429 while another explain of the connection is in progress, 502 when the
/// directory or the snapshot cannot be read.
async fn explain(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
    Query(query): Query<ExplainQuery>,
) -> Response {
    match state.registry.explain(&name, &query.subject).await {
        Err(error @ TriggerError::ExplainInProgress(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "5")],
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
        Err(_) => not_found(&name),
        Ok(Ok(Some(text))) => (StatusCode::OK, text).into_response(),
        Ok(Ok(None)) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("{NOTHING_NAMED} {:?} in {name}", query.subject)})),
        )
            .into_response(),
        Ok(Err(error)) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listen_address_and_localhost_are_accepted_hosts() {
        let listen: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        for host in ["127.0.0.1:9464", "localhost:9464", "LOCALHOST", "localhost"] {
            assert!(host_allowed(host, listen), "{host}");
        }
        for host in [
            "evil.example:9464",
            "127.0.0.1:80",
            "localhost:80",
            "[::1]:9464",
            "127.0.0.1",
            "",
        ] {
            assert!(!host_allowed(host, listen), "{host}");
        }
        let wildcard: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(host_allowed("127.0.0.1:9464", wildcard));
        assert!(host_allowed("0.0.0.0:9464", wildcard));
        assert!(!host_allowed("10.1.2.3:9464", wildcard));
    }

    #[test]
    fn json_content_types_are_recognized() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            headers
        };
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        assert!(!is_json(&with("text/plain")));
        assert!(!is_json(&with("application/x-www-form-urlencoded")));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
