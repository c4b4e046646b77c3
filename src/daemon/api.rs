//! The daemon's local API as both ends speak it: routes, the exit-code
//! header and the query types. The server (`daemon/server.rs`) and the
//! command line forwarding to it (`cli/forward.rs`) import this file, and
//! neither imports the other.

use serde::{Deserialize, Serialize};

/// Header carrying a run's exit code on text responses, so a forwarded CLI
/// command exits exactly as a local one would.
pub const EXIT_CODE_HEADER: &str = "x-penvio-sync-exit-code";

/// Route: the connections and their status.
pub const CONNECTIONS: &str = "/v1/connections";
/// Route: one connection's status.
pub const CONNECTION: &str = "/v1/connections/{name}";
/// Route: run one connection now ([`SyncQuery`]).
pub const SYNC: &str = "/v1/connections/{name}/sync";
/// Route: apply one connection's part of a reviewed plan ([`ApplyQuery`]).
pub const APPLY: &str = "/v1/connections/{name}/apply";
/// Route: explain a subject in one connection ([`ExplainQuery`]).
pub const EXPLAIN: &str = "/v1/connections/{name}/explain";
/// Route: liveness.
pub const HEALTHZ: &str = "/healthz";
/// Route: readiness (no connection backing off).
pub const READYZ: &str = "/readyz";
/// Route: Prometheus metrics.
pub const METRICS: &str = "/metrics";

/// The start of the 404 error of [`EXPLAIN`] when the subject matches
/// nothing (as opposed to an unknown connection).
pub const NOTHING_NAMED: &str = "nothing named";

/// `mode` of a [`SyncQuery`] for an incremental sync.
pub const MODE_INCREMENTAL: &str = "incremental";
/// `mode` of a [`SyncQuery`] for a reconciliation.
pub const MODE_RECONCILE: &str = "reconcile";
/// `format` asking for the CLI's human output instead of JSON.
pub const FORMAT_TEXT: &str = "text";
/// `format` asking for the JSON report.
pub const FORMAT_JSON: &str = "json";

/// `route` (one of the `{name}` routes) for `connection`.
pub fn connection_path(route: &str, connection: &str) -> String {
    route.replace("{name}", connection)
}

/// Query of `POST /v1/connections/{name}/sync`.
#[derive(Debug, Default, Deserialize, Serialize)]
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

/// Query of `POST /v1/connections/{name}/apply`; the body is the
/// connection's part of the reviewed plan.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ApplyQuery {
    /// Apply held-back destructive operations too.
    #[serde(default)]
    pub allow_deletions: bool,
    /// `json` (default) or `text` (the CLI's human output).
    #[serde(default)]
    pub format: Option<String>,
}

/// Query of `GET /v1/connections/{name}/explain`.
#[derive(Debug, Deserialize, Serialize)]
pub struct ExplainQuery {
    /// An email, a source id or a team name.
    pub subject: String,
}

/// The `format` value for a JSON or a text answer.
pub fn format(json: bool) -> &'static str {
    if json { FORMAT_JSON } else { FORMAT_TEXT }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn connection_routes_name_the_connection() {
        assert_eq!(connection_path(SYNC, "corp"), "/v1/connections/corp/sync");
        assert_eq!(connection_path(CONNECTION, "a-b"), "/v1/connections/a-b");
    }

    #[test]
    fn a_sync_query_survives_the_trip_through_the_url() {
        let sent = SyncQuery {
            mode: Some(MODE_RECONCILE.to_string()),
            dry_run: true,
            allow_deletions: false,
            adopt: true,
            format: Some(format(false).to_string()),
            only: Some("a@example.com,b c&d=e".to_string()),
        };
        // As the CLI sends it (reqwest) and the server reads it (axum).
        let request = reqwest::Client::new()
            .post("http://127.0.0.1:9/v1/connections/corp/sync")
            .query(&sent)
            .build()
            .unwrap();
        let uri: axum::http::Uri = request.url().as_str().parse().unwrap();
        let axum::extract::Query(received) =
            axum::extract::Query::<SyncQuery>::try_from_uri(&uri).unwrap();
        assert_eq!(received.mode.as_deref(), Some("reconcile"));
        assert!(received.dry_run && received.adopt && !received.allow_deletions);
        assert_eq!(received.format.as_deref(), Some("text"));
        assert_eq!(received.only.as_deref(), Some("a@example.com,b c&d=e"));
    }
}
