//! A stateful fake OneLogin account on 127.0.0.1 for the adapter's
//! end-to-end tests.
//!
//! It follows the vendor facts the adapter relies on: the client-credentials
//! token endpoint (`POST /auth/oauth2/v2/token`, Basic auth, JSON body),
//! bearer tokens that expire (by time, or after a number of uses to force a
//! 401 mid-run), the vendor's 401 bodies, v2 listings as bare JSON arrays
//! paged with the `After-Cursor` header (absent on the last page, or empty
//! with [`OneLoginFake::set_empty_final_cursor`]), v1 groups in the
//! `{"status","pagination","data"}` envelope, `updated_since` on users,
//! integer `status`/`state`, and `X-RateLimit-Limit/Remaining/Reset` with
//! the reset in seconds remaining. Record and error shapes come from the
//! vendor samples in tests/fixtures/onelogin.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fake_server/mod.rs"]
mod fake_server;
#[path = "../fake_faults/mod.rs"]
pub mod faults;
#[path = "../fake_samples/mod.rs"]
mod samples;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onelogin");

/// The API credential pair the fake accepts by default.
pub const CLIENT_ID: &str = "ol-client-id-0123456789";
/// Its secret.
pub const CLIENT_SECRET: &str = "ol-client-secret-abcdef";

/// The hourly request budget the fake advertises (the spec sample's value).
const RATE_LIMIT: u64 = 5000;

/// A vendor sample (parsed once per process, see tests/fake_samples).
fn fixture(name: &str) -> Value {
    samples::parsed(&format!("{FIXTURES}/{name}"))
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// `GET`, `POST`.
    pub method: String,
    /// Path, e.g. `/api/2/users`.
    pub path: String,
    /// Raw query string (still percent-encoded), empty if none.
    pub query: String,
}

impl Logged {
    /// `GET /api/2/users?limit=100`.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

struct FailRule {
    path: String,
    query_contains: String,
    status: u16,
}

struct Token {
    valid_until: Instant,
    uses_left: Option<u32>,
}

#[derive(Default)]
struct Inner {
    users: BTreeMap<u64, Value>,
    roles: BTreeMap<u64, (String, BTreeSet<u64>)>,
    groups: BTreeMap<u64, String>,
    clock: u64,
    page_size: usize,
    log: Vec<Logged>,
    token_lifetime: u64,
    token_uses: Option<u32>,
    tokens: HashMap<String, Token>,
    token_requests: u64,
    throttle: Option<(u32, u64)>,
    failures: Vec<FailRule>,
    remaining: u64,
    empty_final_cursor: bool,
}

/// The fake account; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct OneLoginFake {
    /// Serving stops when the last clone is dropped.
    server: fake_server::ServerTask,
    /// Injected faults (tests/fake_faults): broken pages, storms, resets.
    pub faults: faults::Faults,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

fn seconds_to_next_hour() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    3600 - now % 3600
}

impl OneLoginFake {
    /// Starts an empty account with `page_size` records per page at most.
    pub async fn start(page_size: usize) -> OneLoginFake {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            page_size,
            token_lifetime: 36_000,
            remaining: RATE_LIMIT,
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
        OneLoginFake {
            server,
            base_url,
            inner,
            faults,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// Adds an approved user (`state` 1) with a `status` (1 active, 0
    /// unactivated, 2 suspended, 3 locked …) in group `group_id`.
    pub fn add_user(
        &self,
        id: u64,
        email: &str,
        first: &str,
        last: &str,
        status: u64,
        group_id: u64,
    ) {
        self.with(|s| {
            let stamp = s.tick();
            let mut user = fixture("user-v2.schema-example.json");
            let object = user.as_object_mut().unwrap();
            // A listing never returns credentials.
            object.retain(|key, _| !key.contains("password") && key != "salt");
            for key in [
                "external_id",
                "locked_until",
                "title",
                "invitation_sent_at",
                "company",
                "department",
                "member_of",
                "manager_ad_id",
                "manager_user_id",
                "last_login",
                "samaccountname",
                "userprincipalname",
                "distinguished_name",
                "comment",
                "phone",
                "trusted_idp_id",
            ] {
                object.insert(key.into(), Value::Null);
            }
            user["id"] = json!(id);
            user["username"] = json!(email.split('@').next().unwrap());
            user["email"] = json!(email);
            user["firstname"] = json!(first);
            user["lastname"] = json!(last);
            user["status"] = json!(status);
            user["state"] = json!(1);
            user["group_id"] = json!(group_id);
            user["role_ids"] = json!([]);
            user["directory_id"] = Value::Null;
            user["preferred_locale_code"] = json!("en");
            user["invalid_login_attempts"] = json!(0);
            user["created_at"] = json!(stamp);
            user["activated_at"] = if status == 0 {
                Value::Null
            } else {
                json!(stamp)
            };
            user["updated_at"] = json!(stamp);
            s.users.insert(id, user);
        });
    }

    /// Changes fields of a user (`firstname`, `email`, `status`, `state`,
    /// `group_id` …) and bumps `updated_at`.
    pub fn update_user(&self, id: u64, fields: &[(&str, Value)]) {
        self.with(|s| {
            let stamp = s.tick();
            let user = s.users.get_mut(&id).unwrap();
            for (key, value) in fields {
                user[*key] = value.clone();
            }
            user["updated_at"] = json!(stamp);
        });
    }

    /// Sets a user's `updated_at` as is (a change made visible late).
    pub fn set_updated_at(&self, id: u64, stamp: &str) {
        self.with(|s| s.users.get_mut(&id).unwrap()["updated_at"] = json!(stamp));
    }

    /// Deletes a user, hard as OneLogin does: it leaves every role and no
    /// listing (changed users included) returns it again.
    pub fn delete_user(&self, id: u64) {
        self.with(|s| {
            s.users.remove(&id);
            for (_, members) in s.roles.values_mut() {
                members.remove(&id);
            }
        });
    }

    /// Adds a role with members.
    pub fn add_role(&self, id: u64, name: &str, members: &[u64]) {
        self.with(|s| {
            s.roles
                .insert(id, (name.to_string(), members.iter().copied().collect()));
            for member in members {
                s.sync_role_ids(*member);
            }
        });
    }

    /// Assigns a role to a user (the user's `updated_at` does not move:
    /// OneLogin documents no such effect, so the adapter must not rely on it).
    pub fn add_role_member(&self, role: u64, user: u64) {
        self.with(|s| {
            s.roles.get_mut(&role).unwrap().1.insert(user);
            s.sync_role_ids(user);
        });
    }

    /// Removes a role from a user.
    pub fn remove_role_member(&self, role: u64, user: u64) {
        self.with(|s| {
            s.roles.get_mut(&role).unwrap().1.remove(&user);
            s.sync_role_ids(user);
        });
    }

    /// Adds a group (v1: `{"id","name","reference"}`).
    pub fn add_group(&self, id: u64, name: &str) {
        self.with(|s| {
            s.groups.insert(id, name.to_string());
        });
    }

    /// Tokens live `expires_in` seconds (advertised and enforced) and, if
    /// `uses` is set, are refused with 401 after that many API requests.
    pub fn set_token_lifetime(&self, expires_in: u64, uses: Option<u32>) {
        self.with(|s| {
            s.token_lifetime = expires_in;
            s.token_uses = uses;
        });
    }

    /// The last page of a v2 listing sends `After-Cursor:` empty instead of
    /// leaving the header out.
    pub fn set_empty_final_cursor(&self, empty: bool) {
        self.with(|s| s.empty_final_cursor = empty);
    }

    /// Answers the next `count` API requests with 429, reset `reset_in` s away.
    pub fn throttle_next(&self, count: u32, reset_in: u64) {
        self.with(|s| s.throttle = Some((count, reset_in)));
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

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.with(|s| s.log.clear());
    }

    /// Token requests received (accepted or not).
    pub fn token_requests(&self) -> u64 {
        self.with(|s| s.token_requests)
    }
}

impl Inner {
    /// A strictly increasing timestamp in OneLogin's format, so every change
    /// moves `updated_at`.
    fn tick(&mut self) -> String {
        self.clock += 1;
        let t = self.clock;
        format!(
            "2024-03-01T{:02}:{:02}:{:02}.000Z",
            t / 3600 % 24,
            t / 60 % 60,
            t % 60
        )
    }

    fn sync_role_ids(&mut self, user: u64) {
        let ids: Vec<u64> = self
            .roles
            .iter()
            .filter(|(_, (_, members))| members.contains(&user))
            .map(|(id, _)| *id)
            .collect();
        if let Some(record) = self.users.get_mut(&user) {
            record["role_ids"] = json!(ids);
        }
    }

    fn rate_headers(&mut self, headers: &mut HeaderMap, exhausted: Option<u64>) {
        self.remaining = self.remaining.saturating_sub(1);
        let (remaining, reset) = match exhausted {
            Some(reset) => (0, reset),
            None => (self.remaining, seconds_to_next_hour()),
        };
        for (name, value) in [
            ("x-ratelimit-limit", RATE_LIMIT),
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

fn v2_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "error": true,
        "code": status.as_u16(),
        "type": status.canonical_reason().unwrap_or("Error"),
        "message": message
    });
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
    s.log.push(Logged {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
    });
    if path == "/auth/oauth2/v2/token" {
        return token(&mut s, &method, &headers, &body);
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let authorized = match s.tokens.get_mut(&bearer) {
        Some(token) if token.valid_until > Instant::now() => match &mut token.uses_left {
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
            None => true,
        },
        _ => false,
    };
    if !authorized {
        // Each endpoint family has its own 401 body in the spec.
        let sample = if path.starts_with("/api/2/roles") {
            "error-401-v2-roles.json"
        } else {
            "error-401-v2.json"
        };
        return (StatusCode::UNAUTHORIZED, axum::Json(fixture(sample))).into_response();
    }
    let mut response_headers = HeaderMap::new();
    if let Some((count, reset_in)) = s.throttle
        && count > 0
    {
        s.throttle = (count > 1).then_some((count - 1, reset_in));
        s.rate_headers(&mut response_headers, Some(reset_in));
        let mut response = v2_error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
        response.headers_mut().extend(response_headers);
        return response;
    }
    s.rate_headers(&mut response_headers, None);
    if let Some(rule) = s
        .failures
        .iter()
        .find(|r| r.path == path && query.contains(&r.query_contains))
    {
        let status = StatusCode::from_u16(rule.status).unwrap();
        let mut response = v2_error(status, "Internal Server Error");
        response.headers_mut().extend(response_headers);
        return response;
    }
    let q = params(&query);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let s = &*s;
    let records: Vec<Value> = match segments.as_slice() {
        ["api", "2", "users"] => {
            // Inclusive, so the newest user of the last read comes back:
            // the adapter must tolerate reading a record twice. Only the
            // page served is cloned (100,000 users are read 100 at a time).
            let since = q.get("updated_since").cloned().unwrap_or_default();
            let users: Vec<&Value> = if since.is_empty() {
                s.users.values().collect()
            } else {
                s.users
                    .values()
                    .filter(|u| u["updated_at"].as_str().unwrap_or_default() >= since.as_str())
                    .collect()
            };
            let users = narrow_users(&q, users);
            if q.contains_key("fields") {
                let projected = project_fields(&q, &users);
                return v2_page(
                    s,
                    &q,
                    &projected.iter().collect::<Vec<_>>(),
                    response_headers,
                );
            }
            return v2_page(s, &q, &users, response_headers);
        }
        ["api", "2", "roles"] => s
            .roles
            .iter()
            .map(|(id, (name, members))| {
                let mut role = fixture("role.schema-example.json");
                role["id"] = json!(id);
                role["name"] = json!(name);
                role["users"] = json!(members);
                role["admins"] = json!([]);
                role["apps"] = json!([]);
                role
            })
            .collect(),
        ["api", "2", "roles", id, "users"] => {
            let Some((_, members)) = id.parse().ok().and_then(|id: u64| s.roles.get(&id)) else {
                return v2_error(StatusCode::NOT_FOUND, "Role not found");
            };
            let template = fixture("role-users-v2.200.json")[0].clone();
            members
                .iter()
                .filter_map(|m| s.users.get(m))
                .map(|user| {
                    let mut record = template.clone();
                    record["id"] = user["id"].clone();
                    record["name"] = json!(format!(
                        "{} {}",
                        user["firstname"].as_str().unwrap_or_default(),
                        user["lastname"].as_str().unwrap_or_default()
                    ));
                    record["username"] = user["username"].clone();
                    record
                })
                .collect()
        }
        ["api", "1", "groups"] => {
            let records: Vec<Value> = s
                .groups
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name, "reference": null}))
                .collect();
            return v1_page(s, &q, records, response_headers);
        }
        _ => return v2_error(StatusCode::NOT_FOUND, "Not Found"),
    };
    v2_page(s, &q, &records.iter().collect::<Vec<_>>(), response_headers)
}

/// An opaque cursor for an offset (clients must not parse it).
fn cursor_for(offset: usize) -> String {
    format!("b2ZmZ{:x}X", offset ^ 0x5a5a)
}

fn offset_of(cursor: Option<&String>) -> usize {
    cursor
        .and_then(|c| c.strip_prefix("b2ZmZ"))
        .and_then(|c| c.strip_suffix('X'))
        .and_then(|c| usize::from_str_radix(c, 16).ok())
        .map_or(0, |x| x ^ 0x5a5a)
}

/// One v2 page: a bare array, with the paging headers.
fn v2_page(
    s: &Inner,
    q: &HashMap<String, String>,
    records: &[&Value],
    mut headers: HeaderMap,
) -> Response {
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50)
        .min(s.page_size);
    let offset = offset_of(q.get("cursor"));
    let end = (offset + limit).min(records.len());
    let items: Vec<&Value> = records[offset.min(end)..end].to_vec();
    let pages = records.len().div_ceil(limit).max(1);
    for (name, value) in [
        ("total-count", records.len()),
        ("total-pages", pages),
        ("current-page", offset / limit + 1),
        ("page-items", limit),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    if offset > 0 {
        headers.insert(
            "before-cursor",
            HeaderValue::from_str(&cursor_for(offset.saturating_sub(limit))).unwrap(),
        );
    }
    if end < records.len() {
        headers.insert(
            "after-cursor",
            HeaderValue::from_str(&cursor_for(end)).unwrap(),
        );
    } else if s.empty_final_cursor {
        headers.insert("after-cursor", HeaderValue::from_static(""));
    }
    let mut response = axum::Json(items).into_response();
    response.headers_mut().extend(headers);
    response
}

/// One v1 page: the `{"status","pagination","data"}` envelope.
fn v1_page(
    s: &Inner,
    q: &HashMap<String, String>,
    records: Vec<Value>,
    headers: HeaderMap,
) -> Response {
    let offset = offset_of(q.get("after_cursor"));
    let end = (offset + s.page_size).min(records.len());
    let mut body = fixture("groups-v1.200.json");
    body["data"] = json!(records[offset.min(end)..end].to_vec());
    if end < records.len() {
        let mut pagination = fixture("events-v1-pagination.example.json");
        let next = cursor_for(end);
        pagination["after_cursor"] = json!(next);
        pagination["next_link"] = json!(format!("/api/1/groups?after_cursor={next}"));
        body["pagination"] = pagination;
    } else if offset > 0 {
        body["pagination"] = json!({"before_cursor": null, "after_cursor": null, "previous_link": null, "next_link": null});
    }
    let mut response = axum::Json(body).into_response();
    response.headers_mut().extend(headers);
    response
}

/// `POST /auth/oauth2/v2/token`: Basic client credentials, JSON body.
fn token(s: &mut Inner, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
    s.token_requests += 1;
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(fixture("error-401-v2.json")),
        )
            .into_response()
    };
    let credentials = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if credentials.as_deref() != Some(&format!("{CLIENT_ID}:{CLIENT_SECRET}")) {
        return unauthorized();
    }
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let grant = serde_json::from_slice::<Value>(body).ok();
    if *method != Method::POST
        || !json_body
        || grant.as_ref().and_then(|g| g["grant_type"].as_str()) != Some("client_credentials")
    {
        return v2_error(StatusCode::BAD_REQUEST, "Request Failure");
    }
    let access = format!("fake-access-{}", s.token_requests);
    s.tokens.insert(
        access.clone(),
        Token {
            valid_until: Instant::now() + Duration::from_secs(s.token_lifetime),
            uses_left: s.token_uses,
        },
    );
    let mut body = fixture("token.200.json");
    body["access_token"] = json!(access);
    body["expires_in"] = json!(s.token_lifetime);
    axum::Json(body).into_response()
}

// ---- Removals: `user_ids` and `fields` on `/api/2/users` -------------------
//
// A deleted user is gone at once (OneLogin deletes are hard, see
// [`OneLoginFake::delete_user`]): only listing every id shows it is missing.

/// Keeps the users named by `user_ids=a,b,…` (the spec's comma list).
fn narrow_users<'a>(q: &HashMap<String, String>, users: Vec<&'a Value>) -> Vec<&'a Value> {
    let Some(ids) = q.get("user_ids") else {
        return users;
    };
    let wanted: BTreeSet<u64> = ids
        .split(',')
        .filter_map(|i| i.trim().parse().ok())
        .collect();
    users
        .into_iter()
        .filter(|u| u["id"].as_u64().is_some_and(|id| wanted.contains(&id)))
        .collect()
}

/// Projects records onto `fields=a,b` (the id is always returned).
fn project_fields(q: &HashMap<String, String>, users: &[&Value]) -> Vec<Value> {
    let fields: Vec<&str> = q
        .get("fields")
        .map(|f| f.split(',').map(str::trim).collect())
        .unwrap_or_default();
    users
        .iter()
        .map(|user| {
            let mut record = serde_json::Map::new();
            record.insert("id".into(), user["id"].clone());
            for field in &fields {
                if let Some(value) = user.get(*field) {
                    record.insert((*field).into(), value.clone());
                }
            }
            Value::Object(record)
        })
        .collect()
}
