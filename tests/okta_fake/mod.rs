//! A stateful fake Okta org on 127.0.0.1 for the adapter's end-to-end tests.
//!
//! It follows the vendor facts the adapter relies on: `SSWS` and `Bearer`
//! auth (401 `E0000011`), the org authorization server's `client_credentials`
//! grant with a `private_key_jwt` assertion verified against the registered
//! public key, bare JSON arrays paged by separate `Link` headers (`self`,
//! `next` with an opaque `after`), `X-Rate-Limit-*` headers with an epoch
//! reset, 429 `E0000047`, listUsers omitting DEPROVISIONED users unless
//! filtered, and `lastUpdated` / `lastMembershipUpdated` that move on every
//! change. Record shapes come from the vendor samples in tests/fixtures/okta.
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
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta");

/// The API token the fake accepts (`Authorization: SSWS …`).
pub const API_TOKEN: &str = "00okta-test-api-token";

/// A vendor sample (parsed once per process, see tests/fake_samples).
fn fixture(name: &str) -> Value {
    samples::parsed(&format!("{FIXTURES}/{name}"))
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// `GET`, `POST`.
    pub method: String,
    /// Path, e.g. `/api/v1/users`.
    pub path: String,
    /// Raw query string (still percent-encoded), empty if none.
    pub query: String,
}

impl Logged {
    /// `GET /api/v1/users?limit=200`.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

/// A service app registered on the fake's org authorization server.
#[derive(Clone)]
pub struct OAuthApp {
    /// Client id (`iss`/`sub` of the assertion).
    pub client_id: String,
    /// `kid` of the registered key.
    pub key_id: String,
    /// Public key PEM.
    pub public_pem: Vec<u8>,
    /// RS256 or ES256.
    pub algorithm: Algorithm,
    /// Token lifetime in seconds (advertised and enforced).
    pub expires_in: u64,
}

struct Group {
    record: Value,
    members: BTreeSet<String>,
}

struct FailRule {
    path: String,
    query_contains: String,
    status: u16,
}

#[derive(Default)]
struct Inner {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Group>,
    apps: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    clock_ms: u64,
    page_size: usize,
    log: Vec<Logged>,
    oauth: Option<OAuthApp>,
    tokens: HashMap<String, Instant>,
    token_requests: u64,
    valid_assertions: u64,
    throttle: Option<(u32, u64)>,
    failures: Vec<FailRule>,
    rate_limit: u64,
    window: (u64, u64),
    base_url: String,
    /// Where a listUsers page starts: (filter, offset) → id of its first
    /// user, remembered as pages are served and forgotten on any change,
    /// so paging 100,000 users seeks instead of re-filtering from the
    /// start (the cursor stays a disguised offset).
    resume: Mutex<HashMap<(String, usize), String>>,
    /// The System Log, oldest first (see the System Log section).
    events: Vec<Value>,
    /// `/api/v1/logs` answers 403 (no `okta.logs.read`, no log role).
    log_forbidden: bool,
    /// Shifts the stamps of changes from now (negative: an org whose
    /// changes were made that long ago).
    clock_offset_ms: i64,
}

/// The fake org; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct OktaFake {
    /// Serving stops when the last clone is dropped.
    server: fake_server::ServerTask,
    /// Injected faults (tests/fake_faults): broken pages, storms, resets.
    pub faults: faults::Faults,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

/// UTC ISO-8601 with milliseconds, as Okta writes timestamps.
pub fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl OktaFake {
    /// Starts an empty org with `page_size` records per page at most.
    pub async fn start(page_size: usize) -> OktaFake {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            page_size,
            // Okta's clock is about ours: System Log positions are judged
            // against the agent's clock (retention).
            clock_ms: now_secs() * 1000,
            rate_limit: 10_000,
            base_url: base_url.clone(),
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
        OktaFake {
            server,
            base_url,
            inner,
            faults,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap();
        inner.resume.get_mut().unwrap().clear();
        f(&mut inner)
    }

    /// Adds a user shaped like the vendor's listUsers sample.
    pub fn add_user(&self, id: &str, email: &str, first: &str, last: &str, status: &str) {
        self.with(|s| {
            let stamp = s.tick();
            let mut user = fixture("list-users.200.json")[0].clone();
            user["id"] = json!(id);
            user["status"] = json!(status);
            user["created"] = json!(stamp);
            user["lastUpdated"] = json!(stamp);
            user["profile"]["firstName"] = json!(first);
            user["profile"]["lastName"] = json!(last);
            user["profile"]["login"] = json!(email);
            user["profile"]["email"] = json!(email);
            user["_links"]["self"]["href"] = json!(format!("{}/api/v1/users/{id}", s.base_url));
            s.users.insert(id.to_string(), user);
        });
    }

    /// Changes profile fields (`firstName`, `email`, …) and bumps `lastUpdated`.
    pub fn update_profile(&self, id: &str, fields: &[(&str, &str)]) {
        self.with(|s| {
            let stamp = s.tick();
            let user = s.users.get_mut(id).unwrap();
            for (key, value) in fields {
                user["profile"][*key] = json!(value);
            }
            user["lastUpdated"] = json!(stamp);
        });
    }

    /// Sets a user's status (SUSPENDED, DEPROVISIONED, ACTIVE …).
    pub fn set_status(&self, id: &str, status: &str) {
        self.with(|s| {
            let stamp = s.tick();
            s.lifecycle_event(id, status, &stamp);
            let user = s.users.get_mut(id).unwrap();
            user["status"] = json!(status);
            user["statusChanged"] = json!(stamp);
            user["lastUpdated"] = json!(stamp);
        });
    }

    /// Deletes a user; it leaves every group. As in Okta, an active user is
    /// deactivated (DEPROVISIONED) first, then deleted: two log events.
    pub fn delete_user(&self, id: &str) {
        if self.with(|s| s.users[id]["status"] != "DEPROVISIONED") {
            self.set_status(id, "DEPROVISIONED");
        }
        self.with(|s| {
            let stamp = s.tick();
            s.log_event("user.lifecycle.delete.initiated", &stamp, id, None);
            s.users.remove(id);
            let ids: Vec<String> = s.groups.keys().cloned().collect();
            for gid in ids {
                if s.groups[&gid].members.contains(id) {
                    s.change_members(&gid, |m| {
                        m.remove(id);
                    });
                }
            }
        });
    }

    /// Adds a group (`OKTA_GROUP`, `APP_GROUP`, `BUILT_IN`) with members.
    pub fn add_group(&self, id: &str, name: &str, group_type: &str, members: &[&str]) {
        self.with(|s| {
            let stamp = s.tick();
            let samples = fixture("list-groups.200.json");
            let mut record = if group_type == "APP_GROUP" {
                samples[1].clone()
            } else {
                samples[0].clone()
            };
            record["id"] = json!(id);
            record["type"] = json!(group_type);
            record["profile"]["name"] = json!(name);
            record["created"] = json!(stamp);
            record["lastUpdated"] = json!(stamp);
            record["lastMembershipUpdated"] = json!(stamp);
            s.groups.insert(
                id.to_string(),
                Group {
                    record,
                    members: members.iter().map(|m| m.to_string()).collect(),
                },
            );
        });
    }

    /// Renames a group (bumps `lastUpdated`, not `lastMembershipUpdated`).
    pub fn rename_group(&self, id: &str, name: &str) {
        self.with(|s| {
            let stamp = s.tick();
            let group = s.groups.get_mut(id).unwrap();
            group.record["profile"]["name"] = json!(name);
            group.record["lastUpdated"] = json!(stamp);
        });
    }

    /// Adds a member (bumps `lastMembershipUpdated`).
    pub fn add_member(&self, group: &str, user: &str) {
        self.with(|s| {
            let stamp = iso(s.clock_ms + 1);
            s.log_event("group.user_membership.add", &stamp, user, Some(group));
            s.change_members(group, |m| {
                m.insert(user.to_string());
            })
        });
    }

    /// Removes a member (bumps `lastMembershipUpdated`).
    pub fn remove_member(&self, group: &str, user: &str) {
        self.with(|s| {
            let stamp = iso(s.clock_ms + 1);
            s.log_event("group.user_membership.remove", &stamp, user, Some(group));
            s.change_members(group, |m| {
                m.remove(user);
            })
        });
    }

    /// Assigns users and groups to an app.
    pub fn assign_app(&self, app: &str, users: &[&str], groups: &[&str]) {
        self.with(|s| {
            let entry = s.apps.entry(app.to_string()).or_default();
            entry.0.extend(users.iter().map(|u| u.to_string()));
            entry.1.extend(groups.iter().map(|g| g.to_string()));
        });
    }

    /// Registers the service app the token endpoint accepts.
    pub fn register_oauth_app(&self, app: OAuthApp) {
        self.with(|s| s.oauth = Some(app));
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

    /// (token requests, of which with a valid assertion).
    pub fn token_requests(&self) -> (u64, u64) {
        self.with(|s| (s.token_requests, s.valid_assertions))
    }
}

impl Inner {
    /// A strictly increasing timestamp, so every change moves `lastUpdated`.
    fn tick(&mut self) -> String {
        // Okta's clock: about ours, never running ahead of it by much
        // (System Log reads are bounded by the agent's clock), and strictly
        // increasing so every change moves `lastUpdated`.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let now_ms = now_ms.saturating_add_signed(self.clock_offset_ms);
        self.clock_ms = (self.clock_ms + 1).max(now_ms);
        iso(self.clock_ms)
    }

    fn change_members(&mut self, group: &str, f: impl FnOnce(&mut BTreeSet<String>)) {
        let stamp = self.tick();
        let group = self.groups.get_mut(group).unwrap();
        f(&mut group.members);
        group.record["lastMembershipUpdated"] = json!(stamp);
    }

    fn rate_headers(&mut self, headers: &mut HeaderMap, exhausted: Option<u64>) {
        let now = now_secs();
        let window_end = now - now % 60 + 60;
        if self.window.0 != window_end {
            self.window = (window_end, self.rate_limit);
        }
        self.window.1 = self.window.1.saturating_sub(1);
        let (remaining, reset) = match exhausted {
            Some(reset) => (0, reset),
            None => (self.window.1, window_end),
        };
        for (name, value) in [
            ("x-rate-limit-limit", self.rate_limit),
            ("x-rate-limit-remaining", remaining),
            ("x-rate-limit-reset", reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
}

fn error(status: StatusCode, code: &str, summary: &str) -> Response {
    let body = json!({
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "fake0000000000000000",
        "errorCauses": []
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
    if method == Method::POST && path == "/oauth2/v1/token" {
        return token(&mut s, &body);
    }
    // Authentication first, like Okta.
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let authorized = match authorization.split_once(' ') {
        Some(("SSWS", token)) => token == API_TOKEN,
        Some(("Bearer", token)) => s
            .tokens
            .get(token)
            .is_some_and(|until| *until > Instant::now()),
        _ => false,
    };
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
        );
    }
    let mut response_headers = HeaderMap::new();
    if let Some((count, reset_in)) = s.throttle
        && count > 0
    {
        s.throttle = (count > 1).then_some((count - 1, reset_in));
        s.rate_headers(&mut response_headers, Some(now_secs() + reset_in));
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(fixture("error-429.json")),
        )
            .into_response();
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
        let mut response = error(status, "E0000009", "Internal Server Error");
        response.headers_mut().extend(response_headers);
        return response;
    }
    let q = params(&query);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let s = &*s;
    // Listings are walked lazily and only the page served is cloned: a
    // 100,000-user directory read 200 at a time must not copy the whole
    // directory per page.
    let assignments: Vec<Value>;
    let records: Box<dyn Iterator<Item = &Value> + '_> = match segments.as_slice() {
        ["api", "v1", "users"] => {
            let filter = q.get("filter").cloned().unwrap_or_default();
            let Some(keep) = user_filter(&filter) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "E0000031",
                    "Invalid search criteria.",
                );
            };
            let offset = cursor_offset(&q);
            let start = s
                .resume
                .lock()
                .unwrap()
                .get(&(filter.clone(), offset))
                .cloned();
            let (records, skip): (Box<dyn Iterator<Item = &Value>>, usize) = match start {
                Some(id) => (
                    Box::new(s.users.range(id..).map(|(_, u)| u).filter(move |u| keep(u))),
                    0,
                ),
                None => (Box::new(s.users.values().filter(move |u| keep(u))), offset),
            };
            let (response, next) = page(s, &path, &q, records, skip, response_headers);
            if let Some((end, id)) = next {
                s.resume.lock().unwrap().insert((filter, end), id);
            }
            return response;
        }
        ["api", "v1", "logs"] => return system_log(s, &path, &q, response_headers),
        ["api", "v1", "groups"] => Box::new(s.groups.values().map(|g| &g.record)),
        ["api", "v1", "groups", id, "users"] => match s.groups.get(*id) {
            Some(group) => Box::new(group.members.iter().filter_map(|m| s.users.get(m))),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "E0000007",
                    &format!("Not found: Resource not found: {id} (UserGroup)"),
                );
            }
        },
        ["api", "v1", "apps", app, kind @ ("users" | "groups")] => match s.apps.get(*app) {
            Some((users, groups)) => {
                let ids = if *kind == "users" { users } else { groups };
                assignments = ids
                    .iter()
                    .map(|id| json!({"id": id, "scope": "USER", "status": "PROVISIONED"}))
                    .collect();
                Box::new(assignments.iter())
            }
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "E0000007",
                    &format!("Not found: Resource not found: {app} (AppInstance)"),
                );
            }
        },
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "E0000022",
                "The endpoint does not support the provided HTTP method",
            );
        }
    };
    let skip = cursor_offset(&q);
    page(s, &path, &q, records, skip, response_headers).0
}

/// The offset an `after` cursor stands for (opaque to clients: an offset,
/// disguised).
fn cursor_offset(q: &HashMap<String, String>) -> usize {
    q.get("after")
        .and_then(|a| a.strip_prefix("c1."))
        .and_then(|a| usize::from_str_radix(a, 16).ok())
        .map_or(0, |x| x ^ 0x5a5a)
}

/// Selects users of a listing.
type UserPredicate = Box<dyn Fn(&Value) -> bool + Send>;

/// Users a `filter` selects; `None` for an expression the fake does not know.
/// Without a filter, DEPROVISIONED users are omitted, as in Okta.
fn user_filter(filter: &str) -> Option<UserPredicate> {
    if filter.is_empty() {
        return Some(Box::new(|u| u["status"] != "DEPROVISIONED"));
    }
    if let Some(rest) = filter.strip_prefix("lastUpdated gt \"") {
        let since = rest.strip_suffix('"')?.to_string();
        return Some(Box::new(move |u| {
            u["lastUpdated"].as_str().unwrap_or_default() > since.as_str()
        }));
    }
    if let Some(rest) = filter.strip_prefix("status eq \"") {
        let status = rest.strip_suffix('"')?.to_string();
        return Some(Box::new(move |u| u["status"] == status.as_str()));
    }
    let ids: Option<BTreeSet<String>> = filter
        .split(" or ")
        .map(|part| {
            part.strip_prefix("id eq \"")
                .and_then(|r| r.strip_suffix('"'))
                .map(str::to_string)
        })
        .collect();
    let ids = ids?;
    Some(Box::new(move |u| {
        ids.contains(u["id"].as_str().unwrap_or_default())
    }))
}

/// One page of `records` (after skipping `skip` of them), with `Link`
/// headers for self and (if more) next; with the next page's offset and
/// first record's `id` when there is one.
fn page<'a>(
    s: &Inner,
    path: &str,
    q: &HashMap<String, String>,
    records: impl Iterator<Item = &'a Value>,
    skip: usize,
    mut headers: HeaderMap,
) -> (Response, Option<(usize, String)>) {
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(200)
        .min(s.page_size);
    let offset = cursor_offset(q);
    let mut items: Vec<&Value> = records.skip(skip).take(limit + 1).collect();
    let following = (items.len() > limit).then(|| items.remove(limit));
    let end = offset + items.len();
    let next = following.and_then(|record| Some((end, record["id"].as_str()?.to_string())));
    let more = following.is_some();
    let mut base_query: Vec<String> = q
        .iter()
        .filter(|(k, _)| *k != "after")
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    base_query.sort();
    let self_link = format!(
        "<{}{path}?{}>; rel=\"self\"",
        s.base_url,
        base_query.join("&")
    );
    headers.append("link", HeaderValue::from_str(&self_link).unwrap());
    if more {
        let mut next_query = vec![format!("after=c1.{:x}", end ^ 0x5a5a)];
        next_query.extend(base_query);
        let next = format!(
            "<{}{path}?{}>; rel=\"next\"",
            s.base_url,
            next_query.join("&")
        );
        headers.append("link", HeaderValue::from_str(&next).unwrap());
    }
    let mut response = axum::Json(items).into_response();
    response.headers_mut().extend(headers);
    (response, next)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The org authorization server's token endpoint (client_credentials with a
/// private_key_jwt assertion).
fn token(s: &mut Inner, body: &[u8]) -> Response {
    s.token_requests += 1;
    let form = params(std::str::from_utf8(body).unwrap_or_default());
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let Some(app) = s.oauth.clone() else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "No client is registered.",
        );
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Unsupported grant or assertion type.",
        );
    }
    let scopes: BTreeSet<&str> = form
        .get("scope")
        .map(|s| s.split(' ').collect())
        .unwrap_or_default();
    if !scopes.contains("okta.users.read") || !scopes.contains("okta.groups.read") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope is invalid.",
        );
    }
    let assertion = form.get("client_assertion").cloned().unwrap_or_default();
    let key = match app.algorithm {
        Algorithm::ES256 => DecodingKey::from_ec_pem(&app.public_pem).unwrap(),
        _ => DecodingKey::from_rsa_pem(&app.public_pem).unwrap(),
    };
    let mut validation = Validation::new(app.algorithm);
    validation.set_audience(&[format!("{}/oauth2/v1/token", s.base_url)]);
    validation.set_issuer(&[app.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let header_ok = jsonwebtoken::decode_header(&assertion)
        .is_ok_and(|h| h.kid.as_deref() == Some(app.key_id.as_str()));
    let claims = jsonwebtoken::decode::<Value>(&assertion, &key, &validation);
    let valid = header_ok
        && claims.as_ref().is_ok_and(|c| {
            c.claims["sub"] == app.client_id.as_str()
                && c.claims["jti"].as_str().is_some_and(|j| !j.is_empty())
                && c.claims["iat"].is_u64()
        });
    if !valid {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion signature is invalid.",
        );
    }
    s.valid_assertions += 1;
    let access = format!("fake-access-{}", s.token_requests);
    s.tokens.insert(
        access.clone(),
        Instant::now() + Duration::from_secs(app.expires_in),
    );
    let mut body = fixture("token.200.json");
    body["access_token"] = json!(access);
    body["expires_in"] = json!(app.expires_in);
    body["scope"] = json!(form.get("scope").cloned().unwrap_or_default());
    let object = body.as_object_mut().unwrap();
    // Client-credentials responses carry no refresh or id token.
    object.remove("refresh_token");
    object.remove("id_token");
    axum::Json(body).into_response()
}

// ---- System Log (`/api/v1/logs`) ------------------------------------------
//
// Events in the shape of the spec's `ListLogs` example, recorded by the
// changes above: `user.lifecycle.deactivate` / `.suspend` on a status
// change, `user.lifecycle.delete.initiated` on delete (after the
// deactivation), `group.user_membership.add` / `.remove`. Served with
// `since` (inclusive) / `until` (exclusive) on `published`, an `eventType eq
// "…" or …` filter, `sortOrder`, and the same `Link` paging as listings.

impl OktaFake {
    /// `/api/v1/logs` answers 403 `E0000006` (or serves again).
    pub fn set_log_forbidden(&self, forbidden: bool) {
        self.with(|s| s.log_forbidden = forbidden);
    }

    /// Forgets events older than `keep` (the log's retention).
    pub fn expire_events(&self, keep: usize) {
        self.with(|s| {
            let drop = s.events.len().saturating_sub(keep);
            s.events.drain(..drop);
        });
    }

    /// A user's `lastUpdated` in Unix milliseconds.
    pub fn last_updated_ms(&self, id: &str) -> u64 {
        self.with(|s| ms_of(s.users[id]["lastUpdated"].as_str().unwrap()))
    }

    /// Sets a user's `lastUpdated` as is (a user untouched for a while).
    pub fn set_last_updated_ms(&self, id: &str, ms: u64) {
        self.with(|s| s.users.get_mut(id).unwrap()["lastUpdated"] = json!(iso(ms)));
    }

    /// Stamps the following changes `offset_ms` from now (e.g. -3,600,000:
    /// a seed made an hour ago). Call it before adding records.
    pub fn set_clock_offset(&self, offset_ms: i64) {
        self.with(|s| {
            s.clock_offset_ms = offset_ms;
            s.clock_ms = 0;
        });
    }

    /// Event types recorded so far, oldest first.
    pub fn event_types(&self) -> Vec<String> {
        self.with(|s| {
            s.events
                .iter()
                .map(|e| e["eventType"].as_str().unwrap_or_default().to_string())
                .collect()
        })
    }
}

impl Inner {
    fn lifecycle_event(&mut self, user: &str, status: &str, stamp: &str) {
        let event = match status {
            "DEPROVISIONED" => "user.lifecycle.deactivate",
            "SUSPENDED" => "user.lifecycle.suspend",
            "ACTIVE" => "user.lifecycle.activate",
            _ => return,
        };
        self.log_event(event, stamp, user, None);
    }

    fn log_event(&mut self, event_type: &str, published: &str, user: &str, group: Option<&str>) {
        let mut event = fixture("list-logs.200.json")[0].clone();
        event["eventType"] = json!(event_type);
        event["displayMessage"] = json!(event_type);
        event["legacyEventType"] = Value::Null;
        event["published"] = json!(published);
        event["uuid"] = json!(format!("fake-event-{}", self.events.len()));
        let login = self
            .users
            .get(user)
            .map(|u| u["profile"]["login"].clone())
            .unwrap_or(Value::Null);
        let mut targets = vec![
            json!({"id": user, "type": "User", "alternateId": login, "displayName": login, "detailEntry": null}),
        ];
        if let Some(group) = group {
            let name = self
                .groups
                .get(group)
                .map(|g| g.record["profile"]["name"].clone());
            targets.push(json!({"id": group, "type": "UserGroup", "alternateId": "unknown", "displayName": name, "detailEntry": null}));
        }
        event["target"] = json!(targets);
        self.events.push(event);
    }
}

/// `GET /api/v1/logs`.
fn system_log(s: &Inner, path: &str, q: &HashMap<String, String>, headers: HeaderMap) -> Response {
    if s.log_forbidden {
        let mut response =
            (StatusCode::FORBIDDEN, axum::Json(fixture("error-403.json"))).into_response();
        response.headers_mut().extend(headers);
        return response;
    }
    let types: Option<BTreeSet<String>> = match q.get("filter") {
        None => None,
        Some(filter) => {
            let parsed: Option<BTreeSet<String>> = filter
                .split(" or ")
                .map(|part| {
                    part.strip_prefix("eventType eq \"")
                        .and_then(|r| r.strip_suffix('"'))
                        .map(str::to_string)
                })
                .collect();
            let Some(parsed) = parsed else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "E0000031",
                    "Invalid search criteria.",
                );
            };
            Some(parsed)
        }
    };
    let since = q.get("since").cloned().unwrap_or_default();
    let until = q.get("until").cloned();
    let selected = move |e: &&Value| {
        let published = e["published"].as_str().unwrap_or_default();
        published >= since.as_str()
            && until.as_deref().is_none_or(|u| published < u)
            && types
                .as_ref()
                .is_none_or(|t| t.contains(e["eventType"].as_str().unwrap_or_default()))
    };
    let events: Box<dyn Iterator<Item = &Value>> =
        if q.get("sortOrder").map(String::as_str) == Some("DESCENDING") {
            Box::new(s.events.iter().rev().filter(selected))
        } else {
            Box::new(s.events.iter().filter(selected))
        };
    page(s, path, q, events, cursor_offset(q), headers).0
}

/// Unix milliseconds of a timestamp written by [`iso`].
pub fn ms_of(stamp: &str) -> u64 {
    let n = |a: usize, b: usize| stamp[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    (secs * 1000 + n(20, 23)) as u64
}
