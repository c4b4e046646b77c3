//! A stateful fake of the Microsoft identity platform token endpoint and of
//! the Graph v1.0 endpoints the `entra` source reads, on 127.0.0.1.
//!
//! Delta follows Graph's documented semantics over a change log: a delta
//! token is a position in the log, a round lists what changed since then
//! (everything for a fresh round), pages are small by default (2 records, 3
//! members of a group per record) so groups repeat across pages
//! (`start_paged` sets Graph-sized pages), and `$skiptoken`s are opaque. Records are shaped after the samples in `tests/fixtures/entra/`.
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
use serde_json::{Map, Value, json};

/// Tenant the fake serves.
pub const TENANT: &str = "contoso-tenant";
/// App registration's client id.
pub const CLIENT_ID: &str = "11111111-aaaa-bbbb-cccc-000000000001";
/// The registered client secret.
pub const CLIENT_SECRET: &str = "fake-client-secret";
/// Records per page by default (Graph chooses for delta; small to force
/// paging).
const PAGE: usize = 2;
/// Members per group record on a delta page, by default.
const MEMBERS_PER_RECORD: usize = 3;
const USER_TYPE: &str = "#microsoft.graph.user";
const GROUP_TYPE: &str = "#microsoft.graph.group";

/// The test-only certificate, key and public key (see the fixtures README).
pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/entra")
            .join(name),
    )
    .unwrap()
}

/// One request Graph received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Path, e.g. `/v1.0/users/delta`.
    pub path: String,
    /// Decoded query, e.g. `$select=id,mail`.
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

#[derive(Debug, Clone)]
enum Change {
    User(String),
    Group(String),
    Member {
        group: String,
        member: String,
        kind: &'static str,
    },
}

#[derive(Debug, Clone, Default)]
struct Group {
    name: String,
    /// member id -> @odata.type
    members: BTreeMap<String, &'static str>,
}

/// A scripted failure: requests whose target contains `needle`.
#[derive(Debug, Clone)]
struct Failure {
    needle: String,
    status: u16,
    remaining: u32,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct FakeState {
    origin: String,
    /// Records per page.
    page: usize,
    /// Members per group record on a delta page.
    members_per_record: usize,
    token_lifetime: u64,
    tokens: HashMap<String, Instant>,
    token_requests: u32,
    assertions_verified: u32,
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Group>,
    log: Vec<Change>,
    /// Users deleted for good (`@removed` reason `deleted`, not `changed`).
    purged: BTreeSet<String>,
    generation: u64,
    answer_expired_with_gone: bool,
    delta_tokens: HashMap<String, (u64, usize, String)>,
    pending: HashMap<String, (Vec<Vec<Value>>, String)>,
    requests: Vec<Logged>,
    failures: Vec<Failure>,
    assignments: HashMap<String, Vec<(String, &'static str)>>,
    scripted: HashMap<String, Vec<Value>>,
    sequence: u64,
}

/// The fake server.
pub struct FakeEntra {
    /// Injected faults (tests/fake_faults): broken pages, storms, resets.
    pub faults: faults::Faults,
    /// `http://127.0.0.1:port`.
    pub origin: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEntra {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<FakeState>>;

impl FakeEntra {
    /// Starts the fake on a random loopback port, with small pages (2
    /// records, 3 members per group record).
    pub async fn start() -> Self {
        Self::start_paged(PAGE, MEMBERS_PER_RECORD).await
    }

    /// Starts the fake with `records_per_page` records per page (listings
    /// and delta rounds) and at most `members_per_record` members in the
    /// `members@delta` of one group record.
    pub async fn start_paged(records_per_page: usize, members_per_record: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            origin: origin.clone(),
            page: records_per_page.max(1),
            members_per_record: members_per_record.max(1),
            token_lifetime: 3599,
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
        FakeEntra {
            origin,
            state,
            task,
            faults,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Graph base URL.
    pub fn base_url(&self) -> String {
        format!("{}/v1.0", self.origin)
    }

    /// Token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.origin)
    }

    /// A `source:` block for the test fixture; `extra` lines are indented
    /// under it (e.g. `"nested_groups: ignore"`).
    pub fn source_block(&self, credential: &str, extra: &[&str]) -> String {
        let mut block = format!(
            "    source:\n      type: entra\n      tenant_id: {TENANT}\n      client_id: {CLIENT_ID}\n      {credential}\n      base_url: {}\n      token_url: {}\n",
            self.base_url(),
            self.token_url()
        );
        for line in extra {
            block.push_str(&format!("      {line}\n"));
        }
        block
    }

    /// Adds or replaces a user (a member, enabled), logging the change.
    pub fn put_user(&self, id: &str, mail: Option<&str>, given: &str, surname: &str) {
        let upn = format!("{id}@contoso.onmicrosoft.com");
        self.put_user_record(
            id,
            json!({"accountEnabled": true, "mail": mail, "userPrincipalName": upn,
                   "givenName": given, "surname": surname, "displayName": format!("{given} {surname}"),
                   "userType": "Member"}),
        );
    }

    /// Sets properties of a user (creating it if new), logging the change.
    pub fn put_user_record(&self, id: &str, properties: Value) {
        self.with(|s| {
            // Shape after tests/fixtures/entra/list-users.200.json.
            let user = s.users.entry(id.to_string()).or_insert_with(|| {
                json!({"businessPhones": [], "displayName": null, "givenName": null, "jobTitle": null,
                       "mail": null, "mobilePhone": null, "officeLocation": null, "preferredLanguage": null,
                       "surname": null, "userPrincipalName": null, "id": id,
                       "accountEnabled": true, "userType": "Member"})
            });
            for (key, value) in properties.as_object().unwrap() {
                user[key] = value.clone();
            }
            s.log.push(Change::User(id.to_string()));
        });
    }

    /// Deletes a user.
    pub fn delete_user(&self, id: &str) {
        self.with(|s| {
            s.users.remove(id);
            s.log.push(Change::User(id.to_string()));
        });
    }

    /// Deletes a user permanently (or purges a soft-deleted one): delta
    /// reports it `@removed` with reason `deleted`.
    pub fn purge_user(&self, id: &str) {
        self.with(|s| {
            s.users.remove(id);
            s.purged.insert(id.to_string());
            s.log.push(Change::User(id.to_string()));
        });
    }

    /// Adds or renames a group.
    pub fn put_group(&self, id: &str, name: &str) {
        self.with(|s| {
            s.groups.entry(id.to_string()).or_default().name = name.to_string();
            s.log.push(Change::Group(id.to_string()));
        });
    }

    /// Deletes a group.
    pub fn delete_group(&self, id: &str) {
        self.with(|s| {
            s.groups.remove(id);
            s.log.push(Change::Group(id.to_string()));
        });
    }

    fn membership(&self, group: &str, member: &str, kind: &'static str, add: bool) {
        self.with(|s| {
            let node = s.groups.get_mut(group).unwrap();
            if add {
                node.members.insert(member.to_string(), kind);
            } else {
                node.members.remove(member);
            }
            s.log.push(Change::Member {
                group: group.to_string(),
                member: member.to_string(),
                kind,
            });
        });
    }

    /// Adds users to a group.
    pub fn add_members(&self, group: &str, users: &[&str]) {
        for user in users {
            self.membership(group, user, USER_TYPE, true);
        }
    }

    /// Removes users from a group.
    pub fn remove_members(&self, group: &str, users: &[&str]) {
        for user in users {
            self.membership(group, user, USER_TYPE, false);
        }
    }

    /// Nests `child` in `parent`.
    pub fn nest(&self, parent: &str, child: &str) {
        self.membership(parent, child, GROUP_TYPE, true);
    }

    /// Assigns a user or group to a service principal (enterprise app).
    pub fn assign(&self, service_principal: &str, principal: &str, group: bool) {
        self.with(|s| {
            s.assignments
                .entry(service_principal.to_string())
                .or_default()
                .push((principal.to_string(), if group { "Group" } else { "User" }));
        });
    }

    /// Makes every delta token issued so far unknown; the next use answers
    /// `410 Gone` (`gone`) or `400 syncStateNotFound`.
    pub fn expire_delta_tokens(&self, gone: bool) {
        self.with(|s| {
            s.generation += 1;
            s.answer_expired_with_gone = gone;
        });
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
            })
        });
    }

    /// Drops every scripted failure.
    pub fn clear_failures(&self) {
        self.with(|s| s.failures.clear());
    }

    /// Serves these bodies, in order, for requests to `path` (links in them
    /// pointing at graph.microsoft.com are rewritten to the fake).
    pub fn script(&self, path: &str, bodies: Vec<Value>) {
        self.with(|s| s.scripted.insert(path.to_string(), bodies));
    }

    /// Lifetime of issued tokens (seconds), also enforced on Graph calls.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.with(|s| s.token_lifetime = seconds);
    }

    /// Invalidates every issued token (the next Graph call answers 401).
    pub fn revoke_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// Graph requests received (token requests excluded).
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

    /// Client assertions whose signature, `x5t#S256` and claims checked out.
    pub fn assertions_verified(&self) -> u32 {
        self.with(|s| s.assertions_verified)
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

fn graph_error(status: u16, code: &str, message: &str) -> Response {
    respond(
        status,
        &[],
        json!({"error": {"code": code, "message": message,
               "innerError": {"request-id": "fake", "date": "2026-01-01T00:00:00"}}}),
    )
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    respond(
        status,
        &[],
        json!({"error": error, "error_description": format!("{description}\r\nTrace ID: fake\r\nCorrelation ID: fake"),
               "error_codes": [1], "timestamp": "2026-01-01 00:00:00Z"}),
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
    if method == Method::POST && path == format!("/{TENANT}/oauth2/v2.0/token") {
        return token(&state, &body);
    }
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return oauth_error(
            400,
            "invalid_request",
            "AADSTS90002: Tenant not found. Check to make sure you have the correct tenant ID.",
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
    let response = graph(&mut s, &path, &query, &pairs, &headers);
    s.requests.push(Logged {
        path,
        query,
        at: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}

fn token(state: &Shared, body: &str) -> Response {
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |key: &str| form.get(key).map(String::as_str).unwrap_or_default();
    if get("grant_type") != "client_credentials" {
        return oauth_error(400, "unsupported_grant_type", "AADSTS70003: bad grant");
    }
    if get("client_id") != CLIENT_ID {
        return oauth_error(
            400,
            "unauthorized_client",
            "AADSTS700016: Application with identifier was not found in the directory.",
        );
    }
    if get("scope") != format!("{}/.default", s.origin) {
        return oauth_error(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        );
    }
    let authenticated = if let Some(secret) = form.get("client_secret") {
        if secret != CLIENT_SECRET {
            return oauth_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.",
            );
        }
        true
    } else if get("client_assertion_type")
        == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    {
        let token_url = format!("{}/{TENANT}/oauth2/v2.0/token", s.origin);
        match verify_assertion(get("client_assertion"), &token_url) {
            Ok(()) => {
                s.assertions_verified += 1;
                true
            }
            Err(why) => {
                return oauth_error(
                    401,
                    "invalid_client",
                    &format!("AADSTS700027: Client assertion failed signature validation ({why})."),
                );
            }
        }
    } else {
        false
    };
    if !authenticated {
        return oauth_error(
            400,
            "invalid_client",
            "AADSTS7000218: The request body must contain client_assertion or client_secret.",
        );
    }
    s.sequence += 1;
    let access = format!("fake-token-{}-{}", s.sequence, fastrand::u64(..));
    let lifetime = s.token_lifetime;
    s.tokens.insert(
        access.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    respond(
        200,
        &[],
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access}),
    )
}

/// Checks an assertion like Entra: `x5t#S256` names the registered
/// certificate, the RS256 signature verifies with its key, and the claims
/// are for this app and this token endpoint.
fn verify_assertion(assertion: &str, token_url: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| e.to_string())?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err("not RS256".into());
    }
    if header.typ.as_deref() != Some("JWT") {
        return Err("typ is not JWT".into());
    }
    let cert = fixture_text("test-only-cert.pem");
    let body: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    if header.x5t_s256.as_deref() != Some(expected.as_str()) {
        return Err("x5t#S256 names no registered certificate".into());
    }
    let key =
        jsonwebtoken::DecodingKey::from_rsa_pem(fixture_text("test-only-pubkey.pem").as_bytes())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    let data =
        jsonwebtoken::decode::<Value>(assertion, &key, &validation).map_err(|e| e.to_string())?;
    let claims = data.claims;
    if claims["sub"] != CLIENT_ID {
        return Err("sub is not the client id".into());
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err("no jti".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if claims["exp"].as_u64().unwrap_or(0) > now + 600 {
        return Err("lifetime over 10 minutes".into());
    }
    Ok(())
}

fn select(pairs: &[(String, String)]) -> Option<Vec<String>> {
    pairs
        .iter()
        .find(|(k, _)| k == "$select")
        .map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).collect())
}

fn project(user: &Value, fields: &Option<Vec<String>>) -> Value {
    match fields {
        None => {
            // Graph's default property set: no accountEnabled, no userType.
            let mut map = user.as_object().unwrap().clone();
            map.remove("accountEnabled");
            map.remove("userType");
            Value::Object(map)
        }
        Some(fields) => {
            let mut map = Map::new();
            map.insert("id".into(), user["id"].clone());
            for field in fields {
                if let Some(value) = user.get(field) {
                    map.insert(field.clone(), value.clone());
                }
            }
            Value::Object(map)
        }
    }
}

fn graph(
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
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    }
    let target = format!("{path}?{query}");
    if let Some(failure) = s
        .failures
        .iter_mut()
        .find(|f| f.remaining > 0 && target.contains(&f.needle))
    {
        failure.remaining -= 1;
        let headers: Vec<(&str, String)> = failure
            .retry_after
            .map(|secs| vec![("retry-after", secs.to_string())])
            .unwrap_or_default();
        let status = failure.status;
        return respond(
            status,
            &headers,
            json!({"error": {"code": match status { 429 => "TooManyRequests", 401 => "InvalidAuthenticationToken", _ => "InternalServerError" },
                             "message": "scripted failure"}}),
        );
    }
    if let Some(bodies) = s.scripted.get_mut(path)
        && !bodies.is_empty()
    {
        let text = serde_json::to_string(&bodies.remove(0)).unwrap();
        let text = text.replace(
            "https://graph.microsoft.com/v1.0",
            &format!("{}/v1.0", s.origin),
        );
        return respond(200, &[], serde_json::from_str(&text).unwrap());
    }
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match path {
        "/v1.0/users" => {
            let fields = select(pairs);
            let top: usize = param("$top").and_then(|t| t.parse().ok()).unwrap_or(100);
            let skip: usize = param("$skiptoken")
                .and_then(|t| t.strip_prefix("skip-").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let take = top.min(s.page);
            let page: Vec<Value> = s
                .users
                .values()
                .skip(skip)
                .take(take)
                .map(|u| project(u, &fields))
                .collect();
            let mut body = json!({"@odata.context": format!("{}/v1.0/$metadata#users", s.origin), "value": page});
            if skip + take < s.users.len() {
                body["@odata.nextLink"] = json!(format!(
                    "{}/v1.0/users?$top={top}&$skiptoken=skip-{}",
                    s.origin,
                    skip + take
                ));
            }
            respond(200, &[], body)
        }
        "/v1.0/users/delta" | "/v1.0/groups/delta" => delta(s, path, pairs),
        _ => {
            if let Some(rest) = path.strip_prefix("/v1.0/servicePrincipals/")
                && let Some(sp) = rest.strip_suffix("/appRoleAssignedTo")
            {
                let Some(list) = s.assignments.get(sp) else {
                    return graph_error(
                        404,
                        "Request_ResourceNotFound",
                        &format!(
                            "Resource '{sp}' does not exist or one of its queried reference-property objects are not present."
                        ),
                    );
                };
                let value: Vec<Value> = list
                    .iter()
                    .map(|(id, kind)| json!({"id": format!("assign-{id}"), "principalId": id, "principalType": kind, "resourceId": sp}))
                    .collect();
                return respond(200, &[], json!({"value": value}));
            }
            graph_error(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{path}'."),
            )
        }
    }
}

fn delta(s: &mut FakeState, path: &str, pairs: &[(String, String)]) -> Response {
    let resource = if path.starts_with("/v1.0/users") {
        "users"
    } else {
        "groups"
    };
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(skip) = param("$skiptoken") {
        let Some((mut pages, delta_link)) = s.pending.remove(&skip) else {
            return graph_error(400, "BadRequest", "Unknown skip token.");
        };
        let page = pages.remove(0);
        let rest = (!pages.is_empty()).then_some(pages);
        return page_response(s, resource, page, rest, delta_link);
    }
    let (position, fields) = match param("$deltatoken") {
        Some(token) => match s.delta_tokens.get(&token) {
            Some((generation, position, fields)) if *generation == s.generation => {
                (Some(*position), fields.clone())
            }
            _ => {
                return if s.answer_expired_with_gone {
                    respond(
                        410,
                        &[("location", format!("{}/v1.0/{resource}/delta", s.origin))],
                        json!({"error": {"code": "resyncRequired", "message": "Resync required. Replace any local cached data with a full sync."}}),
                    )
                } else {
                    graph_error(
                        400,
                        "syncStateNotFound",
                        "The sync state generation is not found.",
                    )
                };
            }
        },
        None => (None, param("$select").unwrap_or_default()),
    };
    let fields: Vec<String> = fields
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let records = if resource == "users" {
        user_records(s, position, &fields)
    } else {
        group_records(s, position, &fields)
    };
    s.sequence += 1;
    let token = format!("dt{}x{}", s.sequence, fastrand::u64(..));
    s.delta_tokens
        .insert(token.clone(), (s.generation, s.log.len(), fields.join(",")));
    let delta_link = format!("{}/v1.0/{resource}/delta?$deltatoken={token}", s.origin);
    let mut pages: Vec<Vec<Value>> = records.chunks(s.page).map(<[Value]>::to_vec).collect();
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    let first = pages.remove(0);
    let rest = (!pages.is_empty()).then_some(pages);
    page_response(s, resource, first, rest, delta_link)
}

fn page_response(
    s: &mut FakeState,
    resource: &str,
    page: Vec<Value>,
    rest: Option<Vec<Vec<Value>>>,
    delta_link: String,
) -> Response {
    let mut body =
        json!({"@odata.context": format!("{}/v1.0/$metadata#{resource}", s.origin), "value": page});
    match rest {
        Some(rest) => {
            s.sequence += 1;
            let skip = format!("sk{}x{}", s.sequence, fastrand::u64(..));
            s.pending.insert(skip.clone(), (rest, delta_link));
            body["@odata.nextLink"] = json!(format!(
                "{}/v1.0/{resource}/delta?$skiptoken={skip}",
                s.origin
            ));
        }
        None => body["@odata.deltaLink"] = json!(delta_link),
    }
    respond(200, &[], body)
}

fn user_records(s: &FakeState, position: Option<usize>, fields: &[String]) -> Vec<Value> {
    let fields = (!fields.is_empty()).then(|| fields.to_vec());
    let ids: Vec<String> = match position {
        None => s.users.keys().cloned().collect(),
        Some(position) => {
            let mut seen = BTreeSet::new();
            s.log[position..]
                .iter()
                .filter_map(|c| match c {
                    Change::User(id) => Some(id.clone()),
                    _ => None,
                })
                .filter(|id| seen.insert(id.clone()))
                .collect()
        }
    };
    ids.iter()
        .map(|id| match s.users.get(id) {
            Some(user) => project(user, &fields),
            None if s.purged.contains(id) => json!({"id": id, "@removed": {"reason": "deleted"}}),
            None => json!({"id": id, "@removed": {"reason": "changed"}}),
        })
        .collect()
}

fn group_records(s: &FakeState, position: Option<usize>, fields: &[String]) -> Vec<Value> {
    let with_members = fields.is_empty() || fields.iter().any(|f| f == "members");
    // (group id, name changed, member ids touched)
    let mut touched: BTreeMap<String, (bool, BTreeMap<String, &'static str>)> = BTreeMap::new();
    match position {
        None => {
            for (id, group) in &s.groups {
                touched.insert(id.clone(), (true, group.members.clone()));
            }
        }
        Some(position) => {
            for change in &s.log[position..] {
                match change {
                    Change::Group(id) => touched.entry(id.clone()).or_default().0 = true,
                    Change::Member {
                        group,
                        member,
                        kind,
                    } => {
                        touched
                            .entry(group.clone())
                            .or_default()
                            .1
                            .insert(member.clone(), kind);
                    }
                    Change::User(_) => {}
                }
            }
        }
    }
    let mut records = Vec::new();
    for (id, (renamed, members)) in touched {
        let Some(group) = s.groups.get(&id) else {
            records.push(json!({"id": id, "@removed": {"reason": "deleted"}}));
            continue;
        };
        let entries: Vec<Value> = members
            .iter()
            .map(|(member, kind)| {
                if group.members.contains_key(member) {
                    json!({"@odata.type": kind, "id": member})
                } else {
                    json!({"@odata.type": kind, "id": member, "@removed": {"reason": "deleted"}})
                }
            })
            .collect();
        // Graph may leave out properties that did not change: a
        // membership-only change carries no displayName here.
        let mut first = json!({"id": id});
        if renamed {
            first["displayName"] = json!(group.name);
            first["description"] = json!(format!("{} (fake)", group.name));
        }
        if !with_members || entries.is_empty() {
            records.push(first);
            continue;
        }
        for (index, chunk) in entries.chunks(s.members_per_record).enumerate() {
            let mut record = if index == 0 {
                first.clone()
            } else {
                json!({"id": id})
            };
            record["members@delta"] = json!(chunk);
            records.push(record);
        }
    }
    records
}
