//! A stateful fake JumpCloud organization on 127.0.0.1 for the adapter's
//! end-to-end tests.
//!
//! It follows the vendor facts the adapter relies on: `x-api-key` auth with
//! `x-org-id` for multi-tenant administrators (401 without it), a
//! service-account token endpoint (`client_credentials`, HTTP Basic client
//! auth, `scope=api`) whose bearer tokens expire, v1 `/api/systemusers`
//! answering `{totalCount, results}`, v2 `/api/v2/usergroups` and
//! `/api/v2/usergroups/{id}/members` answering bare arrays (members as
//! `GraphConnection` edges `{to: {id, type}}`), `skip`/`limit` paging with
//! `limit` defaulting to 10 and silently capped (100 like the vendor, or
//! lower), an optional `x-total-count` header on v2 lists, scripted 429s
//! with or without `Retry-After`, injected failures, and a request log.
//! Record shapes come from tests/fixtures/jumpcloud (constructed from the
//! vendor's schemas; see its README).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fake_server/mod.rs"]
mod fake_server;
#[path = "../fake_faults/mod.rs"]
pub mod faults;
#[path = "../fake_samples/mod.rs"]
mod samples;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jumpcloud");

/// The administrator API key the fake accepts (`x-api-key`).
pub const API_KEY: &str = "jc-test-admin-api-key";

/// A vendor sample (parsed once per process, see tests/fake_samples).
fn fixture(name: &str) -> Value {
    samples::parsed(&format!("{FIXTURES}/{name}"))
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// `GET`, `POST`.
    pub method: String,
    /// Path, e.g. `/api/systemusers`.
    pub path: String,
    /// Raw query string, empty if none.
    pub query: String,
    /// The `x-org-id` header, if sent.
    pub org_id: Option<String>,
}

impl Logged {
    /// `GET /api/systemusers?limit=2&skip=0`.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

/// A service account registered with the fake's token endpoint.
#[derive(Clone)]
pub struct ServiceAccount {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// `expires_in` announced in the token response, seconds.
    pub expires_in: u64,
    /// How long a token really works (shorter than announced simulates a
    /// token revoked or expired early: the client must refresh on 401).
    pub lifetime: Duration,
}

struct FailRule {
    path: String,
    query_contains: String,
    status: u16,
}

struct Group {
    record: Value,
    members: Vec<String>,
}

#[derive(Default)]
struct Inner {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Group>,
    org_id: Option<String>,
    account: Option<ServiceAccount>,
    tokens: HashMap<String, Instant>,
    token_requests: u64,
    valid_token_requests: u64,
    max_limit: usize,
    v2_total_count: bool,
    total_count_offset: i64,
    throttle: VecDeque<Option<u64>>,
    failures: Vec<FailRule>,
    log: Vec<Logged>,
}

/// The fake organization; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct JumpCloudFake {
    /// Serving stops when the last clone is dropped.
    server: fake_server::ServerTask,
    /// Injected faults (tests/fake_faults): broken pages, storms, resets.
    pub faults: faults::Faults,
    /// `http://127.0.0.1:PORT` (the console root; APIs under `/api`).
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl JumpCloudFake {
    /// Starts an empty organization (vendor page cap 100, no `x-total-count`).
    pub async fn start() -> JumpCloudFake {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            max_limit: 100,
            ..Inner::default()
        }));
        let faults = faults::Faults::default();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner))
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::layer,
            ));
        let server = fake_server::ServerTask::serve(listener, app);
        JumpCloudFake {
            server,
            base_url,
            inner,
            faults,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url)
    }

    /// Adds an ACTIVATED, activated, not suspended user.
    pub fn add_user(&self, id: &str, email: &str, first: &str, last: &str) {
        self.with(|s| {
            let mut user = fixture("systemuser.schema-shape.json");
            user["_id"] = json!(id);
            user["email"] = json!(email);
            user["username"] = json!(email.split('@').next().unwrap());
            user["firstname"] = json!(first);
            user["lastname"] = json!(last);
            user["displayname"] = json!(format!("{first} {last}"));
            s.users.insert(id.to_string(), user);
        });
    }

    /// Sets raw fields of a user (`state`, `suspended`, `email`, …).
    pub fn set_user(&self, id: &str, fields: &[(&str, Value)]) {
        self.with(|s| {
            let user = s.users.get_mut(id).unwrap();
            for (key, value) in fields {
                user[*key] = value.clone();
            }
        });
    }

    /// Deletes a user; it leaves every group.
    pub fn delete_user(&self, id: &str) {
        self.with(|s| {
            s.users.remove(id);
            for group in s.groups.values_mut() {
                group.members.retain(|m| m != id);
            }
        });
    }

    /// Adds a user group with user members.
    pub fn add_group(&self, id: &str, name: &str, members: &[&str]) {
        self.with(|s| {
            let mut record = fixture("usergroup.schema-shape.json");
            record["id"] = json!(id);
            record["name"] = json!(name);
            s.groups.insert(
                id.to_string(),
                Group {
                    record,
                    members: members.iter().map(|m| m.to_string()).collect(),
                },
            );
        });
    }

    /// Renames a group.
    pub fn rename_group(&self, id: &str, name: &str) {
        self.with(|s| s.groups.get_mut(id).unwrap().record["name"] = json!(name));
    }

    /// Adds a member.
    pub fn add_member(&self, group: &str, user: &str) {
        self.with(|s| s.groups.get_mut(group).unwrap().members.push(user.into()));
    }

    /// Removes a member.
    pub fn remove_member(&self, group: &str, user: &str) {
        self.with(|s| {
            s.groups
                .get_mut(group)
                .unwrap()
                .members
                .retain(|m| m != user)
        });
    }

    /// Requires `x-org-id: org` on every API request (a multi-tenant admin).
    pub fn require_org_id(&self, org: &str) {
        self.with(|s| s.org_id = Some(org.to_string()));
    }

    /// Registers the service account the token endpoint accepts.
    pub fn register_service_account(&self, account: ServiceAccount) {
        self.with(|s| s.account = Some(account));
    }

    /// Caps `limit` silently at `max` (the vendor: 100).
    pub fn set_max_limit(&self, max: usize) {
        self.with(|s| s.max_limit = max);
    }

    /// Whether v2 lists send `x-total-count`.
    pub fn send_v2_total_count(&self, on: bool) {
        self.with(|s| s.v2_total_count = on);
    }

    /// Reports `totalCount` off by `offset` (a directory changing while it
    /// is paged looks like this).
    pub fn set_total_count_offset(&self, offset: i64) {
        self.with(|s| s.total_count_offset = offset);
    }

    /// Answers the next API requests with 429, one per entry: `Some(s)`
    /// sends `Retry-After: s`, `None` sends no header.
    pub fn throttle_next(&self, retry_after: &[Option<u64>]) {
        self.with(|s| s.throttle.extend(retry_after.iter().copied()));
    }

    /// Answers every request to `path` whose query contains `query_contains`
    /// with `status`, until [`Self::clear_failures`].
    pub fn fail(&self, path: &str, query_contains: &str, status: u16) {
        self.with(|s| {
            s.failures.push(FailRule {
                path: path.to_string(),
                query_contains: query_contains.to_string(),
                status,
            })
        });
    }

    /// Stops injected failures.
    pub fn clear_failures(&self) {
        self.with(|s| s.failures.clear());
    }

    /// Requests received so far (token requests included).
    pub fn log(&self) -> Vec<Logged> {
        self.with(|s| s.log.clone())
    }

    /// `METHOD path?query` of every request received so far.
    pub fn lines(&self) -> Vec<String> {
        self.log().iter().map(Logged::line).collect()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.with(|s| s.log.clear());
    }

    /// (token requests, of which well-formed with the right credentials).
    pub fn token_requests(&self) -> (u64, u64) {
        self.with(|s| (s.token_requests, s.valid_token_requests))
    }
}

/// The v2 `Error` shape (`{code, message}`), also used for v1 errors, whose
/// body JumpCloud does not document.
fn error(status: StatusCode, message: &str) -> Response {
    let mut body = fixture("error-401.schema-shape.json");
    body["code"] = json!(status.as_u16());
    body["message"] = json!(message);
    (status, axum::Json(body)).into_response()
}

fn params(query: &str) -> HashMap<String, String> {
    let uri: Uri = format!("/?{query}").parse().unwrap();
    Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

async fn handle(
    State(state): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    s.log.push(Logged {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        org_id: header("x-org-id"),
    });
    if method == Method::POST && path == "/oauth2/token" {
        return token(&mut s, header("authorization"), &body);
    }
    // Authentication first.
    let bearer = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        .is_some_and(|t| {
            s.tokens
                .get(&t)
                .is_some_and(|until| *until > Instant::now())
        });
    let api_key = header("x-api-key").is_some_and(|k| k == API_KEY);
    if !bearer && !api_key {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if let Some(org) = &s.org_id {
        match header("x-org-id") {
            None => return error(StatusCode::UNAUTHORIZED, "Unauthorized"),
            Some(sent) if &sent != org => {
                return error(StatusCode::NOT_FOUND, "Organization ID Not Found");
            }
            Some(_) => {}
        }
    }
    if let Some(retry_after) = s.throttle.pop_front() {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        return response;
    }
    if let Some(rule) = s
        .failures
        .iter()
        .find(|r| r.path == path && query.contains(&r.query_contains))
    {
        return error(
            StatusCode::from_u16(rule.status).unwrap(),
            "Internal Server Error",
        );
    }
    if method != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let q = params(&query);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .min(s.max_limit);
    let skip = q
        .get("skip")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(0);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Only the page served is read, and serialized from the records
    // themselves: a 100,000-user directory read 100 at a time must not copy
    // the whole directory per page.
    let edges: Vec<Value>;
    let (len, page, v1): (usize, Vec<&Value>, bool) = match segments.as_slice() {
        ["api", "systemusers"] => (
            s.users.len(),
            s.users.values().skip(skip).take(limit).collect(),
            true,
        ),
        ["api", "v2", "usergroups"] => (
            s.groups.len(),
            s.groups
                .values()
                .skip(skip)
                .take(limit)
                .map(|g| &g.record)
                .collect(),
            false,
        ),
        ["api", "v2", "usergroups", id, "members"] => match s.groups.get(*id) {
            Some(group) => {
                edges = group
                    .members
                    .iter()
                    .skip(skip)
                    .take(limit)
                    .map(|m| json!({"to": {"id": m, "type": "user"}, "attributes": null}))
                    .collect();
                (group.members.len(), edges.iter().collect(), false)
            }
            None => return error(StatusCode::NOT_FOUND, "not found"),
        },
        _ => return error(StatusCode::NOT_FOUND, "not found"),
    };
    let total = (len as i64 + s.total_count_offset).max(0);
    if v1 {
        #[derive(serde::Serialize)]
        struct V1<'a> {
            #[serde(rename = "totalCount")]
            total_count: i64,
            results: Vec<&'a Value>,
        }
        return axum::Json(V1 {
            total_count: total,
            results: page,
        })
        .into_response();
    }
    let mut response = axum::Json(page).into_response();
    if s.v2_total_count {
        response
            .headers_mut()
            .insert("x-total-count", HeaderValue::from(total));
    }
    response
}

/// The service-account token endpoint: `client_credentials` with HTTP Basic
/// client authentication and `scope=api`.
fn token(s: &mut Inner, authorization: Option<String>, body: &[u8]) -> Response {
    s.token_requests += 1;
    let oauth_error = |status: StatusCode, code: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": code, "error_description": description})),
        )
            .into_response()
    };
    let form = params(std::str::from_utf8(body).unwrap_or_default());
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("scope").map(String::as_str) != Some("api")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type must be client_credentials and scope api",
        );
    }
    let credentials = authorization
        .and_then(|v| v.strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some(account) = s.account.clone() else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    if credentials != Some(format!("{}:{}", account.client_id, account.client_secret)) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    s.valid_token_requests += 1;
    let access = format!("jc-access-{}", s.token_requests);
    s.tokens
        .insert(access.clone(), Instant::now() + account.lifetime);
    axum::Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": account.expires_in,
        "scope": "api"
    }))
    .into_response()
}
