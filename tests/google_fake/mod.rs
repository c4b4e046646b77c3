//! A stateful fake of Google Workspace on 127.0.0.1: the OAuth token
//! endpoint (RFC 7523 JWT bearer grant, verified like Google does: RS256
//! signature against the test key's public half, `kid`, `iss`, `aud`,
//! `exp` at most an hour after `iat`, `sub` an existing admin, every scope
//! within the domain-wide delegation grant) and the Admin SDK Directory API
//! reads the `google` source makes (`users.list`, `groups.list`,
//! `members.list` with `includeDerivedMembership`), plus keyless signing:
//! the GCE metadata server's token (`Metadata-Flavor: Google` required) and
//! IAM Credentials `signJwt`, which signs with the same test key, and
//! workload identity federation (STS, `generateAccessToken`, a subject-token
//! URL: `federation.rs`).
//!
//! Shapes follow the discovery document (revision 20260531) and the samples
//! in `tests/fixtures/google/`: opaque `nextPageToken`s (omitted on the last
//! page), `maxResults` caps (users 500, groups and members 200; above them
//! the fake answers 400 — Google's behaviour is `[?]`, strict catches
//! client bugs), `fields` partial responses, `customer`/`domain` required
//! for users, the `query` clauses `isSuspended`, `isArchived` and
//! `orgUnitPath` (subtree), and error bodies
//! `{"error":{"code","message","errors":[{"reason"}],"status"}}`.
//! Pages are capped at 2 records by default to force paging.
#![allow(dead_code)]

#[path = "../fake_faults/mod.rs"]
pub mod faults;
pub mod federation;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

/// The test service account (`tests/fixtures/google/test-service-account.json`).
pub const CLIENT_EMAIL: &str = "dir-sync@penvio-sync-tests.iam.gserviceaccount.com";
/// Its numeric client id, the one an admin authorises.
pub const CLIENT_ID: &str = "123456789012345678901";
/// Its key id (`private_key_id`, the JWT `kid`).
pub const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";
/// The account's customer id.
pub const CUSTOMER_ID: &str = "C03az79cb";
/// The admin the service account impersonates.
pub const ADMIN: &str = "admin@example.com";
/// The three read-only scopes.
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];
const PUBLIC_KEY: &str = include_str!("../fixtures/google/test-key.pub.pem");
const PRIVATE_KEY: &str = include_str!("../fixtures/google/test-key.pem");
const KEY_FILE: &str = include_str!("../fixtures/google/test-service-account.json");
const PAGE_CAP: usize = 2;
const API: &str = "/admin/directory/v1/";

/// One API request the fake received (token requests are counted apart).
#[derive(Debug, Clone)]
pub struct Logged {
    /// Path, e.g. `/admin/directory/v1/users`.
    pub path: String,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    /// Status answered.
    pub status: u16,
}

impl Logged {
    /// The value of one query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted failure of API requests whose path contains `needle`.
#[derive(Debug, Clone)]
struct Failure {
    needle: String,
    status: u16,
    reason: String,
    remaining: u32,
    /// Only requests carrying a `pageToken` (a later page of a listing).
    later_pages: bool,
}

/// A direct member of a group.
#[derive(Debug, Clone)]
struct DirectMember {
    kind: &'static str,
    role: &'static str,
}

#[derive(Default)]
struct FakeState {
    origin: String,
    token_lifetime: u64,
    /// token → (expiry, impersonated admin).
    tokens: HashMap<String, (Instant, String)>,
    token_requests: u32,
    /// Metadata-server tokens handed out (keyless signing).
    metadata_tokens: BTreeSet<String>,
    metadata_requests: u32,
    sign_requests: u32,
    /// Whether the VM's account may sign as the service account.
    token_creator: bool,
    /// Scopes the admin console grants the client id (empty: no delegation).
    granted: BTreeSet<String>,
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    /// group id → member id → how.
    members: BTreeMap<String, BTreeMap<String, DirectMember>>,
    /// page token → records still to serve.
    cursors: HashMap<String, Vec<Value>>,
    page_cap: usize,
    requests: Vec<Logged>,
    failures: Vec<Failure>,
    sequence: u64,
    /// Workload identity federation (STS and impersonation).
    federation: federation::FederationState,
}

/// The fake server.
pub struct FakeGoogle {
    /// Injected faults (tests/fake_faults).
    pub faults: faults::Faults,
    /// `http://127.0.0.1:port`.
    pub origin: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<FakeState>>;

fn google_error(status: u16, reason: &str, message: &str) -> Response {
    let canonical = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        _ => "UNAVAILABLE",
    };
    respond(
        status,
        json!({"error": {"code": status, "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": canonical}}),
    )
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    respond(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn respond(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

impl FakeGoogle {
    /// Starts the fake on a random loopback port with delegation granted
    /// for the three scopes and `ADMIN` as a super admin.
    pub async fn start() -> Self {
        Self::start_with_page_cap(PAGE_CAP).await
    }

    /// Starts the fake with pages of at most `page_cap` records (still never
    /// more than `maxResults` asks, nor than Google's caps).
    pub async fn start_with_page_cap(page_cap: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            origin: origin.clone(),
            token_lifetime: 3600,
            granted: SCOPES.iter().map(|s| s.to_string()).collect(),
            page_cap: page_cap.max(1),
            token_creator: true,
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
        let fake = FakeGoogle {
            origin,
            state,
            task,
            faults,
        };
        fake.put_user("u-admin", ADMIN, "Ada", "Admin");
        fake.with(|s| s.users.get_mut("u-admin").unwrap()["isAdmin"] = json!(true));
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The token endpoint (the key file's `token_uri`).
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.origin)
    }

    /// The test service-account key file, with `token_uri` pointing here.
    pub fn key_file(&self) -> String {
        KEY_FILE.replace("https://oauth2.googleapis.com/token", &self.token_uri())
    }

    /// A `source:` block for the fixture reading the key from `key_path`;
    /// `extra` lines go under it.
    pub fn source_block(&self, key_path: &std::path::Path, extra: &[&str]) -> String {
        let mut block = format!(
            "    source:\n      type: google\n      admin_email: {ADMIN}\n      credentials_file: {}\n      base_url: {}\n",
            key_path.display(),
            self.origin
        );
        for line in extra {
            block.push_str(&format!("      {line}\n"));
        }
        block
    }

    /// A `source:` block for keyless signing (`signer: iam`) through this
    /// fake's metadata server and IAM Credentials API.
    pub fn iam_source_block(&self, extra: &[&str]) -> String {
        let mut block = format!(
            "    source:\n      type: google\n      signer: iam\n      admin_email: {ADMIN}\n      service_account: {CLIENT_EMAIL}\n      base_url: {o}\n      metadata_url: {o}\n      iam_url: {o}\n      token_url: {o}/token\n",
            o = self.origin
        );
        for line in extra {
            block.push_str(&format!("      {line}\n"));
        }
        block
    }

    /// Takes `roles/iam.serviceAccountTokenCreator` away from the VM's account.
    pub fn revoke_token_creator(&self) {
        self.with(|s| s.token_creator = false);
    }

    /// (metadata token requests, signJwt requests) so far.
    pub fn keyless_requests(&self) -> (u32, u32) {
        self.with(|s| (s.metadata_requests, s.sign_requests))
    }

    /// Adds or replaces an active user in the root unit.
    pub fn put_user(&self, id: &str, email: &str, given: &str, family: &str) {
        self.with(|s| {
            s.users.insert(
                id.to_string(),
                json!({
                    "kind": "admin#directory#user", "id": id, "etag": format!("\"etag-{id}\""),
                    "primaryEmail": email,
                    "name": {"givenName": given, "familyName": family, "fullName": format!("{given} {family}")},
                    "isAdmin": false, "isDelegatedAdmin": false,
                    "lastLoginTime": "2026-05-01T09:15:22.000Z", "creationTime": "2024-01-10T12:00:00.000Z",
                    "agreedToTerms": true, "suspended": false, "archived": false,
                    "changePasswordAtNextLogin": false, "ipWhitelisted": false,
                    "emails": [{"address": email, "primary": true}],
                    "customerId": CUSTOMER_ID, "orgUnitPath": "/",
                    "isMailboxSetup": true, "isEnrolledIn2Sv": false, "isEnforcedIn2Sv": false,
                    "includeInGlobalAddressList": true
                }),
            );
        });
    }

    /// Overwrites fields of a user (`{"primaryEmail": …}`, `{"name": {…}}`).
    pub fn update_user(&self, id: &str, fields: Value) {
        self.with(|s| {
            let user = s.users.get_mut(id).unwrap();
            for (key, value) in fields.as_object().unwrap() {
                user[key] = value.clone();
            }
        });
    }

    /// Suspends (or unsuspends) a user, as the Admin console does.
    pub fn set_suspended(&self, id: &str, suspended: bool) {
        let mut fields = json!({"suspended": suspended});
        if suspended {
            fields["suspensionReason"] = json!("ADMIN");
        }
        self.update_user(id, fields);
    }

    /// Deletes a user and its memberships.
    pub fn delete_user(&self, id: &str) {
        self.with(|s| {
            s.users.remove(id);
            for members in s.members.values_mut() {
                members.remove(id);
            }
        });
    }

    /// Adds or renames a group.
    pub fn put_group(&self, id: &str, email: &str, name: &str) {
        self.with(|s| {
            s.groups.insert(
                id.to_string(),
                json!({"kind": "admin#directory#group", "id": id, "etag": format!("\"etag-{id}\""),
                       "email": email, "name": name, "description": "", "adminCreated": true,
                       "directMembersCount": "0"}),
            );
            s.members.entry(id.to_string()).or_default();
        });
    }

    /// Adds users to a group as direct `MEMBER`s.
    pub fn add_members(&self, group: &str, users: &[&str]) {
        self.with(|s| {
            let members = s.members.entry(group.to_string()).or_default();
            for user in users {
                members.insert(
                    user.to_string(),
                    DirectMember {
                        kind: "USER",
                        role: "MEMBER",
                    },
                );
            }
        });
    }

    /// Removes members from a group.
    pub fn remove_members(&self, group: &str, ids: &[&str]) {
        self.with(|s| {
            if let Some(members) = s.members.get_mut(group) {
                for id in ids {
                    members.remove(*id);
                }
            }
        });
    }

    /// Nests `child` in `parent` (a `type: GROUP` member).
    pub fn nest(&self, parent: &str, child: &str) {
        self.with(|s| {
            s.members.entry(parent.to_string()).or_default().insert(
                child.to_string(),
                DirectMember {
                    kind: "GROUP",
                    role: "MEMBER",
                },
            );
        });
    }

    /// Removes the client id's domain-wide delegation in the Admin console.
    pub fn revoke_delegation(&self) {
        self.with(|s| s.granted.clear());
    }

    /// Answers the next `times` API requests whose path contains `needle`
    /// with a Google error of `status` and `reason`.
    pub fn fail(&self, needle: &str, status: u16, reason: &str, times: u32) {
        self.push_failure(needle, status, reason, times, false);
    }

    /// Like [`Self::fail`], but only for later pages (requests with a
    /// `pageToken`), so a listing fails mid-way.
    pub fn fail_later_page(&self, needle: &str, status: u16, reason: &str, times: u32) {
        self.push_failure(needle, status, reason, times, true);
    }

    fn push_failure(&self, needle: &str, status: u16, reason: &str, times: u32, later: bool) {
        self.with(|s| {
            s.failures.push(Failure {
                needle: needle.to_string(),
                status,
                reason: reason.to_string(),
                remaining: times,
                later_pages: later,
            })
        });
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

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = uri.path().to_string();
    if method == Method::POST && path == "/token" {
        return token(&state, &body);
    }
    if method == Method::GET
        && path == "/computeMetadata/v1/instance/service-accounts/default/token"
    {
        return metadata_token(&state, &headers);
    }
    if let Some(response) = federation::route(&state, &method, &path, &headers, &body) {
        return response;
    }
    if method == Method::POST && path.starts_with("/v1/projects/-/serviceAccounts/") {
        return sign_jwt(&state, &path, &headers, &body);
    }
    let query: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{uri}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut s = state.lock().unwrap();
    let response = if method == Method::GET {
        api(&mut s, &path, &query, &headers)
    } else {
        google_error(405, "methodNotAllowed", "Method not allowed")
    };
    s.requests.push(Logged {
        path,
        query,
        status: response.status().as_u16(),
    });
    response
}

/// The metadata server's token for the VM's default service account.
fn metadata_token(state: &Shared, headers: &HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    s.metadata_requests += 1;
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return Response::builder()
            .status(403)
            .body(Body::from("Missing required header: Metadata-Flavor"))
            .unwrap();
    }
    s.sequence += 1;
    let token = format!("ya29.c.metadata-{}", s.sequence);
    s.metadata_tokens.insert(token.clone());
    respond(
        200,
        json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

/// IAM Credentials `signJwt`: signs the payload with the test key.
fn sign_jwt(state: &Shared, path: &str, headers: &HeaderMap, body: &str) -> Response {
    let mut s = state.lock().unwrap();
    s.sign_requests += 1;
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| s.metadata_tokens.contains(t) || s.federation.may_sign(t)) {
        return google_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let account = path
        .trim_start_matches("/v1/projects/-/serviceAccounts/")
        .trim_end_matches(":signJwt")
        .replace("%40", "@");
    if account != CLIENT_EMAIL || !path.ends_with(":signJwt") {
        return google_error(404, "notFound", "Not found; Gaia id not found for email");
    }
    if !s.token_creator {
        return google_error(
            403,
            "forbidden",
            "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).",
        );
    }
    let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let Some(claims) = request["payload"]
        .as_str()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return google_error(400, "badRequest", "Invalid JSON payload received.");
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(KEY_ID.to_string());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    let signed = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    respond(200, json!({"keyId": KEY_ID, "signedJwt": signed}))
}

/// The JWT bearer grant, verified as Google does.
fn token(state: &Shared, body: &str) -> Response {
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: ");
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let header = match jsonwebtoken::decode_header(assertion) {
        Ok(header) => header,
        Err(_) => return oauth_error(400, "invalid_grant", "Invalid JWT Signature."),
    };
    if header.alg != jsonwebtoken::Algorithm::RS256 || header.kid.as_deref() != Some(KEY_ID) {
        return oauth_error(400, "invalid_grant", "Invalid JWT Signature.");
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false; // checked below with Google's message
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "scope"]);
    validation.leeway = 0;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(error) => {
            let text = match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
                }
                _ => "Invalid JWT Signature.",
            };
            return oauth_error(400, "invalid_grant", text);
        }
    };
    let number = |name: &str| claims[name].as_u64().unwrap_or(0);
    if number("exp") <= number("iat") || number("exp") - number("iat") > 3600 {
        return oauth_error(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    if claims["iss"] != CLIENT_EMAIL {
        return oauth_error(400, "invalid_grant", "Invalid grant: account not found");
    }
    if claims["aud"] != format!("{}/token", s.origin).as_str() {
        return oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.");
    }
    let Some(sub) = claims["sub"].as_str().map(str::to_string) else {
        // A token for the service account itself; the Directory API
        // rejects it later, which the fake models by refusing here.
        return oauth_error(400, "invalid_grant", "Invalid email or User ID");
    };
    if !s.users.values().any(|u| u["primaryEmail"] == sub.as_str()) {
        return oauth_error(400, "invalid_grant", "Invalid email or User ID");
    }
    let requested: BTreeSet<String> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if requested.is_empty() || !requested.is_subset(&s.granted) {
        return oauth_error(
            401,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    s.sequence += 1;
    let token = format!("ya29.fake-{}-{}", s.sequence, fastrand::u64(..));
    let lifetime = s.token_lifetime;
    s.tokens.insert(
        token.clone(),
        (Instant::now() + Duration::from_secs(lifetime), sub),
    );
    let scope = requested.into_iter().collect::<Vec<_>>().join(" ");
    respond(
        200,
        json!({"access_token": token, "scope": scope, "token_type": "Bearer", "expires_in": lifetime}),
    )
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn api(s: &mut FakeState, path: &str, query: &[(String, String)], headers: &HeaderMap) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let admin = match bearer.and_then(|t| s.tokens.get(t)) {
        Some((expiry, admin)) if *expiry > Instant::now() => admin.clone(),
        _ => {
            return google_error(
                401,
                "authError",
                "Request had invalid authentication credentials.",
            );
        }
    };
    let is_admin = s
        .users
        .values()
        .any(|u| u["primaryEmail"] == admin.as_str() && u["isAdmin"] == true);
    if !is_admin {
        return google_error(
            403,
            "forbidden",
            "Not Authorized to access this resource/api",
        );
    }
    let later = param(query, "pageToken").is_some();
    if let Some(failure) = s
        .failures
        .iter_mut()
        .find(|f| path.contains(&f.needle) && f.remaining > 0 && (!f.later_pages || later))
    {
        failure.remaining -= 1;
        let (status, reason) = (failure.status, failure.reason.clone());
        let message = match reason.as_str() {
            "backendError" => "Service unavailable. Please try again",
            "userRateLimitExceeded" => {
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'"
            }
            "rateLimitExceeded" => "Rate Limit Exceeded",
            _ => "Error",
        };
        return google_error(status, &reason, message);
    }
    let Some(rest) = path.strip_prefix(API) else {
        return google_error(404, "notFound", "Not Found");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let listing = match segments.as_slice() {
        ["users"] => list_users(s, query),
        ["groups"] => list_groups(s, query),
        [_, key, "members"] if segments[0] == "groups" => list_members(s, key, query),
        _ => return google_error(404, "notFound", "Not Found"),
    };
    let (array, records, cap) = match listing {
        Ok(listing) => listing,
        Err(response) => return *response,
    };
    page(s, array, records, cap, query)
}

/// Serves one page of `records` (or of the listing a `pageToken` names).
fn page(
    s: &mut FakeState,
    array: &str,
    records: Vec<Value>,
    cap: usize,
    query: &[(String, String)],
) -> Response {
    let max = match param(query, "maxResults") {
        None => cap.min(if array == "users" { 100 } else { 200 }),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=cap).contains(&n) => n,
            _ => return google_error(400, "invalid", "Invalid value for maxResults"),
        },
    };
    let mut remaining = match param(query, "pageToken") {
        Some(token) => match s.cursors.remove(token) {
            Some(rest) => rest,
            None => return google_error(400, "badRequest", "Invalid page token"),
        },
        None => records,
    };
    let take = max.min(s.page_cap).min(remaining.len());
    let rest = remaining.split_off(take);
    let kind = format!("admin#directory#{array}");
    let mut body = json!({"kind": kind, "etag": "\"list-etag\""});
    if !remaining.is_empty() {
        body[array] = Value::Array(remaining);
    }
    if !rest.is_empty() {
        s.sequence += 1;
        let token = format!("Q{:x}{:08x}", s.sequence, fastrand::u32(..));
        s.cursors.insert(token.clone(), rest);
        body["nextPageToken"] = json!(token);
    }
    let body = match param(query, "fields") {
        Some(fields) => match parse_fields(fields) {
            Some(tree) => filter(&body, &tree),
            None => return google_error(400, "invalidParameter", "Invalid field selection"),
        },
        None => body,
    };
    respond(200, body)
}

type Listing = Result<(&'static str, Vec<Value>, usize), Box<Response>>;

fn list_users(s: &FakeState, query: &[(String, String)]) -> Listing {
    let domain = param(query, "domain");
    match (param(query, "customer"), domain) {
        (None, None) => return Err(Box::new(google_error(400, "badRequest", "Bad Request"))),
        (Some(c), _) if c != "my_customer" && c != CUSTOMER_ID => {
            return Err(Box::new(google_error(400, "badRequest", "Bad Request")));
        }
        _ => {}
    }
    let clauses = match parse_query(param(query, "query").unwrap_or_default()) {
        Some(clauses) => clauses,
        None => return Err(Box::new(google_error(400, "invalidInput", "Invalid Input"))),
    };
    let users = s
        .users
        .values()
        .filter(|u| {
            domain.is_none_or(|d| {
                u["primaryEmail"]
                    .as_str()
                    .is_some_and(|e| e.ends_with(&format!("@{d}")))
            })
        })
        .filter(|u| clauses.iter().all(|(k, v)| matches_clause(u, k, v)))
        .cloned()
        .collect();
    Ok(("users", users, 500))
}

fn list_groups(s: &FakeState, query: &[(String, String)]) -> Listing {
    if let Some(c) = param(query, "customer")
        && c != "my_customer"
        && c != CUSTOMER_ID
    {
        return Err(Box::new(google_error(400, "badRequest", "Bad Request")));
    }
    let mut groups: Vec<Value> = s.groups.values().cloned().collect();
    for group in &mut groups {
        let id = group["id"].as_str().unwrap().to_string();
        let count = s.members.get(&id).map_or(0, BTreeMap::len);
        group["directMembersCount"] = json!(count.to_string());
    }
    groups.sort_by_key(|g| g["email"].as_str().unwrap_or_default().to_lowercase());
    Ok(("groups", groups, 200))
}

fn list_members(s: &FakeState, key: &str, query: &[(String, String)]) -> Listing {
    let Some(group_id) = s
        .groups
        .values()
        .find(|g| g["id"] == key || g["email"] == key)
        .and_then(|g| g["id"].as_str())
        .map(str::to_string)
    else {
        return Err(Box::new(google_error(
            404,
            "notFound",
            "Resource Not Found: groupKey",
        )));
    };
    let derived = param(query, "includeDerivedMembership") == Some("true");
    let mut rows: BTreeMap<String, Value> = BTreeMap::new();
    let mut stack = vec![(group_id.clone(), true)];
    let mut seen = BTreeSet::new();
    while let Some((group, direct)) = stack.pop() {
        if !seen.insert(group.clone()) {
            continue;
        }
        for (id, member) in s.members.get(&group).into_iter().flatten() {
            let row = if member.kind == "USER" {
                let Some(user) = s.users.get(id) else {
                    continue;
                };
                let status = if user["suspended"] == true {
                    "SUSPENDED"
                } else {
                    "ACTIVE"
                };
                json!({"kind": "admin#directory#member", "etag": format!("\"m-{id}\""), "id": id,
                       "email": user["primaryEmail"], "role": if direct { member.role } else { "MEMBER" },
                       "type": "USER", "status": status})
            } else {
                if derived {
                    stack.push((id.clone(), false));
                }
                let email = s.groups.get(id).map_or(Value::Null, |g| g["email"].clone());
                json!({"kind": "admin#directory#member", "etag": format!("\"m-{id}\""), "id": id,
                       "email": email, "role": member.role, "type": "GROUP"})
            };
            if direct || member.kind == "USER" {
                rows.entry(id.clone()).or_insert(row);
            }
        }
    }
    let mut members: Vec<Value> = rows.into_values().collect();
    members.sort_by_key(|m| m["email"].as_str().unwrap_or_default().to_lowercase());
    Ok(("members", members, 200))
}

/// `isSuspended=false orgUnitPath='/Staff'` → clauses; `None` for a
/// clause the fake does not know.
fn parse_query(text: &str) -> Option<Vec<(String, String)>> {
    let mut clauses = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ' ').collect();
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let key = key.trim().to_string();
        if !matches!(key.as_str(), "isSuspended" | "isArchived" | "orgUnitPath") {
            return None;
        }
        clauses.push((key, value));
    }
    Some(clauses)
}

fn matches_clause(user: &Value, key: &str, value: &str) -> bool {
    match key {
        "isSuspended" => user["suspended"].as_bool().unwrap_or(false).to_string() == value,
        "isArchived" => user["archived"].as_bool().unwrap_or(false).to_string() == value,
        "orgUnitPath" => {
            let path = user["orgUnitPath"].as_str().unwrap_or("/");
            value == "/"
                || path == value
                || path.starts_with(&format!("{}/", value.trim_end_matches('/')))
        }
        _ => false,
    }
}

/// A `fields` selection: key → sub-selection (`None`: the whole value).
#[derive(Debug, Default, Clone)]
struct Fields(BTreeMap<String, Option<Fields>>);

fn parse_fields(text: &str) -> Option<Fields> {
    fn parse(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, nested: bool) -> Option<Fields> {
        let mut out = Fields::default();
        loop {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '(' || c == ')' {
                    break;
                }
                name.push(c);
                chars.next();
            }
            let name = name.trim().to_string();
            if name.is_empty() {
                return None;
            }
            let sub = if chars.peek() == Some(&'(') {
                chars.next();
                let sub = parse(chars, true)?;
                if chars.next() != Some(')') {
                    return None;
                }
                Some(sub)
            } else {
                None
            };
            // `a/b` selects b under a.
            let mut parts = name.rsplit('/');
            let last = parts.next()?.to_string();
            let mut entry = (last, sub);
            for parent in parts {
                entry = (parent.to_string(), Some(Fields(BTreeMap::from([entry]))));
            }
            out.0.insert(entry.0, entry.1);
            match chars.peek() {
                Some(',') => {
                    chars.next();
                }
                Some(')') if nested => return Some(out),
                None if !nested => return Some(out),
                _ => return None,
            }
        }
    }
    parse(&mut text.chars().peekable(), false)
}

fn filter(value: &Value, fields: &Fields) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| filter(i, fields)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, sub) in &fields.0 {
                if let Some(child) = map.get(key) {
                    out.insert(
                        key.clone(),
                        match sub {
                            Some(sub) => filter(child, sub),
                            None => child.clone(),
                        },
                    );
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod fake_tests {
    use super::*;

    #[test]
    fn fields_select_nested_keys() {
        let tree = parse_fields("nextPageToken,users(id,name(givenName))").unwrap();
        let body = json!({"kind": "k", "nextPageToken": "t",
            "users": [{"id": "1", "primaryEmail": "a@x", "name": {"givenName": "A", "familyName": "B"}}]});
        assert_eq!(
            filter(&body, &tree),
            json!({"nextPageToken": "t", "users": [{"id": "1", "name": {"givenName": "A"}}]})
        );
        assert!(parse_fields("users(id").is_none());
    }
}
