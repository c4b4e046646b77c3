//! The daemon's local HTTP endpoint: metrics, health, readiness, connection
//! status, on-demand runs and reviewed plans.
//!
//! `/metrics`, `/healthz` and `/readyz` are open (scrapers and probes); the
//! `/v1` API can start runs, so it requires `listen_token` when one is set.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::json;

use super::registry::{Origin, Registry, TriggerError};
use crate::cli::render_report;
use crate::config::Secret;
use crate::events;
use crate::reviewed::ConnectionPlan;
use crate::sync::{RunMode, RunReport, unix_now};

/// Header carrying a run's exit code on text responses, so a forwarded CLI
/// command exits exactly as a local one would.
pub const EXIT_CODE_HEADER: &str = "x-penvio-sync-exit-code";

/// What the handlers share.
pub struct ServerState {
    /// The connections.
    pub registry: Arc<Registry>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// Bearer token for `/v1`, if configured.
    pub token: Option<Secret>,
}

/// The router of the endpoint.
pub fn router(state: Arc<ServerState>) -> Router {
    let api = Router::new()
        .route("/v1/connections", get(list_connections))
        .route("/v1/connections/{name}", get(show_connection))
        .route("/v1/connections/{name}/sync", post(run_connection))
        .route("/v1/connections/{name}/apply", post(apply_plan))
        .route("/v1/connections/{name}/explain", get(explain))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api)
        .with_state(state)
}

async fn require_token(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.expose().as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": "listen_token required: send it as a Bearer token"})),
            )
                .into_response();
        }
    }
    next.run(request).await
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

/// Query of `POST /v1/connections/{name}/sync`.
#[derive(Debug, Deserialize)]
pub struct SyncQuery {
    /// `incremental` (default) or `reconcile`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Plan only.
    #[serde(default)]
    pub dry_run: bool,
    /// Approve held-back destructive operations.
    #[serde(default)]
    pub allow_deletions: bool,
    /// Reconcile: adopt unmatched Penvio users and teams.
    #[serde(default)]
    pub adopt: bool,
    /// `json` (default) or `text` (the CLI's human output).
    #[serde(default)]
    pub format: Option<String>,
    /// Provision on demand: comma-separated emails or source ids.
    #[serde(default)]
    pub only: Option<String>,
}

async fn run_connection(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
    Query(query): Query<SyncQuery>,
) -> Response {
    let mode = match query.mode.as_deref() {
        None | Some("incremental") | Some("sync") => RunMode::Sync,
        Some("reconcile") => RunMode::Reconcile { adopt: query.adopt },
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
    let result = state
        .registry
        .trigger_only(
            &name,
            mode,
            query.dry_run,
            query.allow_deletions,
            Origin::Api,
            only,
        )
        .await;
    report_response(result, query.format.as_deref() == Some("text"))
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

/// Query of `POST /v1/connections/{name}/apply`.
#[derive(Debug, Deserialize)]
pub struct ApplyQuery {
    /// Apply held-back destructive operations too.
    #[serde(default)]
    pub allow_deletions: bool,
    /// `json` (default) or `text` (the CLI's human output).
    #[serde(default)]
    pub format: Option<String>,
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
    let result = state
        .registry
        .apply_reviewed(&plan, query.allow_deletions)
        .await;
    report_response(result, query.format.as_deref() == Some("text"))
}

/// Query of `GET /v1/connections/{name}/explain`.
#[derive(Debug, Deserialize)]
pub struct ExplainQuery {
    /// An email, a source id or a team name.
    pub subject: String,
}

/// The explanation as text (200), 404 when nothing matches the subject,
/// 502 when the directory or the snapshot cannot be read.
async fn explain(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
    Query(query): Query<ExplainQuery>,
) -> Response {
    match state.registry.explain(&name, &query.subject).await {
        Err(_) => not_found(&name),
        Ok(Ok(Some(text))) => (StatusCode::OK, text).into_response(),
        Ok(Ok(None)) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("nothing named {:?} in {name}", query.subject)})),
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
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
