//! A stateful fake of PingOne on 127.0.0.1: the environment's token
//! endpoint (`/{env}/as/token`, CLIENT_SECRET_BASIC or CLIENT_SECRET_POST,
//! expiring tokens) and the Platform API reads the `pingone` source makes
//! (`/v1/environments/{env}/users|groups`, the `memberOfGroups` filter,
//! `/users/{id}/memberOfGroups`, `/groups/{id}/memberOfGroups`).
//!
//! Pages are HAL collections of `limit` records (1..=1000, PingOne's
//! documented range), capped by the fake at 2 by default to force paging
//! (`start_with_page_cap` sets another cap), with `_links.next.href`
//! carrying an opaque `cursor`. Error bodies follow
//! the official `{id, code, message, details[]}` schemas (see
//! `tests/fixtures/pingone/`). Whether the member filter matches INDIRECT
//! memberships is unconfirmed (FACTS `[?]`), so it is a switch.
#![allow(dead_code)]

#[path = "../fake_faults/mod.rs"]
pub mod faults;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

/// The environment the fake serves.
pub const ENV: &str = "0a1b2c3d-0000-4000-8000-00000000e001";
/// The worker app's client id.
pub const CLIENT_ID: &str = "5e6f7a8b-0000-4000-8000-00000000c001";
/// The worker app's secret.
pub const CLIENT_SECRET: &str = "fake-worker~secret.1";
/// The default population.
pub const POPULATION: &str = "pop-default";
/// Records per page by default, whatever `limit` asks (small, to force
/// paging).
const PAGE_CAP: usize = 2;
/// PingOne's largest `limit` (FACTS: users and groups, `limit` 1..1000).
pub const MAX_LIMIT: usize = 1000;

/// One API request the fake received (token requests are counted apart).
#[derive(Debug, Clone)]
pub struct Logged {
    /// Path, e.g. `/v1/environments/{env}/users`.
    pub path: String,
    /// Decoded query, e.g. `limit=1000&filter=…`.
    pub query: String,
    /// When it arrived.
    pub at: Instant,
    /// Status answered.
    pub status: u16,
}

impl Logged {
    /// `path?query`.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// A scripted failure of requests whose `path?query` contains `needle`.
#[derive(Debug, Clone)]
struct Failure {
    needle: String,
    status: u16,
    remaining: u32,
    /// `Retry-After` header (seconds) on the answer.
    retry_after: Option<u64>,
    /// `details[].innerError.retryAfter` of a 429 body, seconds from now.
    body_retry_after: Option<u64>,
}

/// What a cursor stands for: (path, records still to serve, `_embedded`
/// key, limit).
type Pending = (String, Vec<Arc<Value>>, String, String);

#[derive(Default)]
struct FakeState {
    origin: String,
    post_auth: bool,
    token_lifetime: u64,
    tokens: HashMap<String, Instant>,
    token_requests: u32,
    /// Shared, so a listing's snapshot costs no copies (a change copies
    /// the one user it touches).
    users: BTreeMap<String, Arc<Value>>,
    /// user → groups it is a DIRECT member of.
    user_groups: BTreeMap<String, BTreeSet<String>>,
    groups: BTreeMap<String, Value>,
    /// group → groups it is nested in (directly).
    parents: BTreeMap<String, BTreeSet<String>>,
    filter_indirect: bool,
    /// Most records per page, whatever `limit` asks.
    page_cap: usize,
    cursors: HashMap<String, Pending>,
    requests: Vec<Logged>,
    failures: Vec<Failure>,
    sequence: u64,
}

impl FakeState {
    /// Groups `group` is nested in, at any depth.
    fn ancestors(&self, group: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![group.to_string()];
        while let Some(current) = stack.pop() {
            for parent in self.parents.get(&current).into_iter().flatten() {
                if seen.insert(parent.clone()) {
                    stack.push(parent.clone());
                }
            }
        }
        seen
    }

    /// (group, DIRECT?) for every group a user belongs to.
    fn memberships(&self, user: &str) -> BTreeMap<String, bool> {
        let mut out = BTreeMap::new();
        for group in self.user_groups.get(user).into_iter().flatten() {
            for ancestor in self.ancestors(group) {
                out.entry(ancestor).or_insert(false);
            }
        }
        for group in self.user_groups.get(user).into_iter().flatten() {
            out.insert(group.clone(), true);
        }
        out
    }
}

/// The fake server.
pub struct FakePingOne {
    /// Injected faults (tests/fake_faults): broken pages, storms, resets.
    pub faults: faults::Faults,
    /// `http://127.0.0.1:port`.
    pub origin: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePingOne {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<FakeState>>;

impl FakePingOne {
    /// Starts the fake on a random loopback port, pages capped at 2.
    pub async fn start() -> Self {
        Self::start_with_page_cap(PAGE_CAP).await
    }

    /// Starts the fake with pages of at most `page_cap` records (still
    /// never more than `limit` asks, nor than PingOne's 1,000).
    pub async fn start_with_page_cap(page_cap: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            origin: origin.clone(),
            token_lifetime: 3600,
            filter_indirect: true,
            page_cap: page_cap.max(1),
            ..FakeState::default()
        }));
        let faults = faults::Faults::default();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(
                faults.clone(),
                faults::layer,
            ));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakePingOne {
            origin,
            state,
            task,
            faults,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// API base (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin)
    }

    /// The environment's token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/{ENV}/as/token", self.origin)
    }

    /// A `source:` block for the fixture; `extra` lines go under it.
    pub fn source_block(&self, secret_line: &str, extra: &[&str]) -> String {
        let mut block = format!(
            "    source:\n      type: pingone\n      environment_id: {ENV}\n      client_id: {CLIENT_ID}\n      {secret_line}\n      base_url: {}\n      token_url: {}\n",
            self.base_url(),
            self.token_url()
        );
        for line in extra {
            block.push_str(&format!("      {line}\n"));
        }
        block
    }

    /// Adds or replaces an enabled user of the default population.
    pub fn put_user(&self, id: &str, email: &str, given: &str, family: &str) {
        let username = email.split('@').next().unwrap_or(id).to_string();
        self.with(|s| {
            let env = ENV;
            s.users.insert(
                id.to_string(),
                Arc::new(json!({
                    "_links": {"self": {"href": format!("{}/v1/environments/{env}/users/{id}", s.origin)}},
                    "id": id, "environment": {"id": env},
                    "account": {"canAuthenticate": true, "status": "OK"},
                    "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
                    "email": email, "emailVerified": true, "enabled": true,
                    "identityProvider": {"type": "PING_ONE"},
                    "lifecycle": {"status": "ACCOUNT_OK"},
                    "name": {"given": given, "family": family, "formatted": format!("{given} {family}")},
                    "population": {"id": POPULATION},
                    "username": username,
                })),
            );
        });
    }

    /// Overwrites fields of a user (`{"email": …}`, `{"name": {…}}`).
    pub fn update_user(&self, id: &str, fields: Value) {
        self.with(|s| {
            let user = Arc::make_mut(s.users.get_mut(id).unwrap());
            for (key, value) in fields.as_object().unwrap() {
                user[key] = value.clone();
            }
        });
    }

    /// Enables or disables a user (`/users/{id}/enabled` in PingOne).
    pub fn set_enabled(&self, id: &str, enabled: bool) {
        self.update_user(id, json!({"enabled": enabled}));
    }

    /// Moves a user to another population.
    pub fn set_population(&self, id: &str, population: &str) {
        self.update_user(id, json!({"population": {"id": population}}));
    }

    /// Deletes a user and its memberships.
    pub fn delete_user(&self, id: &str) {
        self.with(|s| {
            s.users.remove(id);
            s.user_groups.remove(id);
        });
    }

    /// Adds or renames a group; `population` makes it a population group.
    pub fn put_group(&self, id: &str, name: &str, population: Option<&str>) {
        self.with(|s| {
            let mut group = json!({
                "_links": {"self": {"href": format!("{}/v1/environments/{ENV}/groups/{id}", s.origin)}},
                "id": id, "environment": {"id": ENV}, "name": name,
                "directMemberCounts": {"users": 0},
            });
            if let Some(population) = population {
                group["population"] = json!({"id": population});
            }
            s.groups.insert(id.to_string(), group);
        });
    }

    /// Deletes a group, its memberships and its nesting.
    pub fn delete_group(&self, id: &str) {
        self.with(|s| {
            s.groups.remove(id);
            for groups in s.user_groups.values_mut() {
                groups.remove(id);
            }
            s.parents.remove(id);
            for parents in s.parents.values_mut() {
                parents.remove(id);
            }
        });
    }

    /// Adds users to a group (direct memberships).
    pub fn add_members(&self, group: &str, users: &[&str]) {
        self.with(|s| {
            for user in users {
                s.user_groups
                    .entry(user.to_string())
                    .or_default()
                    .insert(group.to_string());
            }
        });
    }

    /// Removes users from a group.
    pub fn remove_members(&self, group: &str, users: &[&str]) {
        self.with(|s| {
            for user in users {
                if let Some(groups) = s.user_groups.get_mut(*user) {
                    groups.remove(group);
                }
            }
        });
    }

    /// Nests `child` in `parent`.
    pub fn nest(&self, parent: &str, child: &str) {
        self.with(|s| {
            s.parents
                .entry(child.to_string())
                .or_default()
                .insert(parent.to_string());
        });
    }

    /// Whether `memberOfGroups[id eq …]` also matches INDIRECT members
    /// (default true; FACTS `[?]`).
    pub fn set_filter_includes_indirect(&self, indirect: bool) {
        self.with(|s| s.filter_indirect = indirect);
    }

    /// The worker app's Token Endpoint Authentication Method: POST (true)
    /// or BASIC (false, PingOne's default).
    pub fn set_client_secret_post(&self, post: bool) {
        self.with(|s| s.post_auth = post);
    }

    /// Lifetime of issued tokens (seconds), enforced on API calls.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.with(|s| s.token_lifetime = seconds);
    }

    /// Answers the next `times` requests whose `path?query` contains
    /// `needle` with `status` (and `Retry-After` when given).
    pub fn fail(&self, needle: &str, status: u16, times: u32, retry_after: Option<u64>) {
        self.with(|s| {
            s.failures.push(Failure {
                needle: needle.to_string(),
                status,
                remaining: times,
                retry_after,
                body_retry_after: None,
            })
        });
    }

    /// Answers the next `times` matching requests with 429 whose only hint
    /// is the body's `innerError.retryAfter`, `seconds` from now.
    pub fn throttle_by_body(&self, needle: &str, times: u32, seconds: u64) {
        self.with(|s| {
            s.failures.push(Failure {
                needle: needle.to_string(),
                status: 429,
                remaining: times,
                retry_after: None,
                body_retry_after: Some(seconds),
            })
        });
    }

    /// Drops every scripted failure.
    pub fn clear_failures(&self) {
        self.with(|s| s.failures.clear());
    }

    /// API requests received (token requests excluded).
    pub fn requests(&self) -> Vec<Logged> {
        self.with(|s| s.requests.clone())
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// Token requests received.
    pub fn token_requests(&self) -> u32 {
        self.with(|s| s.token_requests)
    }
}

fn respond(status: u16, headers: &[(&str, String)], body: Value) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

/// A Platform error body (`P1Error`).
fn p1_error(status: u16, code: &str, message: &str, details: Value) -> Response {
    respond(
        status,
        &[],
        json!({"id": format!("{:08x}-fake-4000-8000-{:012x}", fastrand::u32(..), fastrand::u64(..) & 0xffff_ffff_ffff),
               "code": code, "message": message, "details": details}),
    )
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    respond(
        status,
        &[],
        json!({"error": error, "error_description": description}),
    )
}

fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days (Howard Hinnant).
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
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = uri.path().to_string();
    if method == Method::POST && path == format!("/{ENV}/as/token") {
        return token(&state, &headers, &body);
    }
    if method == Method::POST && path.ends_with("/as/token") {
        return p1_error(
            404,
            "NOT_FOUND",
            "The requested resource was not found.",
            json!([]),
        );
    }
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{uri}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut s = state.lock().unwrap();
    let response = api(&mut s, &path, &query, &pairs, &headers);
    s.requests.push(Logged {
        path,
        query,
        at: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}

fn token(state: &Shared, headers: &HeaderMap, body: &str) -> Response {
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(400, "unsupported_grant_type", "Unsupported grant type.");
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            v.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
        });
    let posted = form
        .get("client_id")
        .zip(form.get("client_secret"))
        .map(|(id, secret)| (id.clone(), secret.clone()));
    let (credentials, wrong_method) = if s.post_auth {
        (posted, basic.is_some())
    } else {
        (basic, posted.is_some())
    };
    if wrong_method {
        return oauth_error(
            401,
            "invalid_client",
            "Request denied: Unsupported authentication method (Correlation ID: fake)",
        );
    }
    match credentials {
        Some((id, secret)) if id == CLIENT_ID && secret == CLIENT_SECRET => {}
        _ => {
            return oauth_error(
                401,
                "invalid_client",
                "Request denied: Invalid client credentials (Correlation ID: fake)",
            );
        }
    }
    s.sequence += 1;
    let token = format!("p1-token-{}-{}", s.sequence, fastrand::u64(..));
    let lifetime = s.token_lifetime;
    s.tokens.insert(
        token.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    respond(
        200,
        &[],
        json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
               "scope": "p1:read:user p1:read:group"}),
    )
}

/// The users a `filter` selects; `Err` for filters PingOne refuses.
///
/// A member clause looks at the users with memberships only, and users are
/// cloned once selected: 100 member queries on a 100,000-user environment
/// must not copy it 100 times.
fn filter_users(s: &FakeState, filter: Option<&str>) -> Result<Vec<Arc<Value>>, String> {
    let Some(filter) = filter else {
        return Ok(s.users.values().cloned().collect());
    };
    // Users a member clause allows (None: no member clause), and the
    // populations required.
    let mut members: Option<BTreeSet<&str>> = None;
    let mut populations: Vec<&str> = Vec::new();
    for clause in filter.split(" and ") {
        let clause = clause.trim();
        if let Some(rest) = clause.strip_prefix("memberOfGroups[id eq \"")
            && let Some(group) = rest.strip_suffix("\"]")
        {
            let mut ancestors: HashMap<&str, BTreeSet<String>> = HashMap::new();
            let listed: BTreeSet<&str> = s
                .user_groups
                .iter()
                .filter(|(_, groups)| {
                    // Direct member, or (if the filter matches INDIRECT
                    // memberships) member of a group nested in `group`.
                    groups.contains(group)
                        || (s.filter_indirect
                            && groups.iter().any(|g| {
                                ancestors
                                    .entry(g.as_str())
                                    .or_insert_with(|| s.ancestors(g))
                                    .contains(group)
                            }))
                })
                .map(|(user, _)| user.as_str())
                .collect();
            members = Some(match members {
                None => listed,
                Some(before) => before.intersection(&listed).copied().collect(),
            });
        } else if let Some(rest) = clause.strip_prefix("population.id eq \"")
            && let Some(population) = rest.strip_suffix('"')
        {
            populations.push(population);
        } else {
            return Err(clause.to_string());
        }
    }
    let in_populations = |user: &&Arc<Value>| {
        populations
            .iter()
            .all(|population| user["population"]["id"] == *population)
    };
    Ok(match members {
        Some(ids) => ids
            .iter()
            .filter_map(|id| s.users.get(*id))
            .filter(in_populations)
            .cloned()
            .collect(),
        None => s.users.values().filter(in_populations).cloned().collect(),
    })
}

fn api(
    s: &mut FakeState,
    path: &str,
    query: &str,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = s
        .tokens
        .get(bearer)
        .is_some_and(|until| Instant::now() < *until);
    if !valid {
        return p1_error(
            401,
            "ACCESS_FAILED",
            "The request could not be completed. The access token is invalid or has expired.",
            json!([{"code": "INVALID_TOKEN", "message": "The access token is invalid or has expired."}]),
        );
    }
    let target = format!("{path}?{query}");
    if let Some(failure) = s
        .failures
        .iter_mut()
        .find(|f| f.remaining > 0 && target.contains(&f.needle))
    {
        failure.remaining -= 1;
        let failure = failure.clone();
        return match failure.status {
            429 => {
                let retry_at =
                    SystemTime::now() + Duration::from_secs(failure.body_retry_after.unwrap_or(1));
                let mut response = p1_error(
                    429,
                    "REQUEST_LIMITED",
                    "The request could not be completed. Too many requests.",
                    json!([{"code": "LIMIT_EXCEEDED", "message": "The request rate limit was exceeded.",
                            "innerError": {"quotaLimit": 100, "quotaResetTime": rfc3339(retry_at), "retryAfter": rfc3339(retry_at)}}]),
                );
                if let Some(secs) = failure.retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", secs.to_string().parse().unwrap());
                }
                response
            }
            401 => p1_error(
                401,
                "ACCESS_FAILED",
                "The request could not be completed. You do not have access to this resource.",
                json!([{"code": "INVALID_TOKEN", "message": "The access token was revoked."}]),
            ),
            status => p1_error(
                status,
                "UNEXPECTED_ERROR",
                "An unexpected error occurred.",
                json!([]),
            ),
        };
    }
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let limit = param("limit").unwrap_or_else(|| "100".into());
    if let Some(cursor) = param("cursor") {
        let Some((cursor_path, rest, key, limit)) = s.cursors.remove(&cursor) else {
            return p1_error(
                400,
                "INVALID_DATA",
                "The request could not be completed. One or more validation errors were in the request.",
                json!([{"code": "INVALID_VALUE", "target": "cursor", "message": "The cursor is not valid."}]),
            );
        };
        if cursor_path != path {
            return p1_error(
                400,
                "INVALID_REQUEST",
                "Cursor of another listing.",
                json!([]),
            );
        }
        return page(s, path, &key, rest, &limit);
    }
    let Some(rest) = path.strip_prefix(&format!("/v1/environments/{ENV}/")) else {
        return p1_error(
            403,
            "ACCESS_FAILED",
            "The request could not be completed. You do not have access to this resource.",
            json!([{"code": "INSUFFICIENT_PERMISSIONS", "message": "Not an environment of this worker app."}]),
        );
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["users"] => match filter_users(s, param("filter").as_deref()) {
            Ok(users) => page(s, path, "users", users, &limit),
            Err(clause) => p1_error(
                400,
                "INVALID_DATA",
                "The request could not be completed. One or more validation errors were in the request.",
                json!([{"code": "INVALID_FILTER", "target": "filter", "message": format!("Unsupported filter clause: {clause}")}]),
            ),
        },
        ["groups"] => {
            let groups = s.groups.values().cloned().map(Arc::new).collect();
            page(s, path, "groups", groups, &limit)
        }
        ["users", user, "memberOfGroups"] => {
            if !s.users.contains_key(*user) {
                return p1_error(
                    404,
                    "NOT_FOUND",
                    "The requested resource was not found.",
                    json!([]),
                );
            }
            let entries = s
                .memberships(user)
                .into_iter()
                .map(|(group, direct)| {
                    Arc::new(
                        json!({"id": group, "name": s.groups.get(&group).map(|g| g["name"].clone()),
                           "type": if direct { "DIRECT" } else { "INDIRECT" }}),
                    )
                })
                .collect();
            page(s, path, "groupMemberships", entries, &limit)
        }
        ["groups", group, "memberOfGroups"] => {
            if !s.groups.contains_key(*group) {
                return p1_error(
                    404,
                    "NOT_FOUND",
                    "The requested resource was not found.",
                    json!([]),
                );
            }
            let entries = s
                .parents
                .get(*group)
                .into_iter()
                .flatten()
                .map(|parent| {
                    Arc::new(json!({"id": parent, "name": s.groups.get(parent).map(|g| g["name"].clone()), "type": "DIRECT"}))
                })
                .collect();
            page(s, path, "groupMemberships", entries, &limit)
        }
        _ => p1_error(
            404,
            "NOT_FOUND",
            "The requested resource was not found.",
            json!([]),
        ),
    }
}

/// One HAL page of `records`, keeping the rest behind an opaque cursor.
fn page(
    s: &mut FakeState,
    path: &str,
    key: &str,
    mut records: Vec<Arc<Value>>,
    limit: &str,
) -> Response {
    let take = limit
        .parse::<usize>()
        .unwrap_or(100)
        .clamp(1, MAX_LIMIT)
        .min(s.page_cap);
    let rest = if records.len() > take {
        records.split_off(take)
    } else {
        Vec::new()
    };
    let size = records.len();
    let mut links = json!({"self": {"href": format!("{}{path}?limit={limit}", s.origin)}});
    if !rest.is_empty() {
        s.sequence += 1;
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            s.sequence,
            fastrand::u64(..)
        ));
        links["next"] =
            json!({"href": format!("{}{path}?cursor={cursor}&limit={limit}", s.origin)});
        s.cursors.insert(
            cursor,
            (path.to_string(), rest, key.to_string(), limit.to_string()),
        );
    }
    // Serialized straight from the shared records (no `Value` copy).
    #[derive(serde::Serialize)]
    struct Hal<'a> {
        _links: Value,
        _embedded: BTreeMap<&'a str, Vec<&'a Value>>,
        count: usize,
        size: usize,
    }
    let body = Hal {
        _links: links,
        _embedded: BTreeMap::from([(key, records.iter().map(|r| &**r).collect())]),
        count: size,
        size,
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}
