//! Workload identity federation in the fake: Google STS's token exchange
//! (`POST /v1/token`, RFC 8693, verified like STS does: form body, no
//! `Authorization`, the token-exchange grant type, the pool provider as
//! `audience`, an access-token `requested_token_type`, a known subject
//! token of the configured `subject_token_type`, a `cloud-platform` scope),
//! IAM Credentials `generateAccessToken` (a federated token, the service
//! account of the credential file, `cloud-platform`), and a subject-token
//! URL like Azure's IMDS (`Metadata: True` required, JSON body).
//! Tokens either step hands out may call `signJwt` (`mod.rs`).
//!
//! Shapes: `tests/fixtures/google/sts-token.200.json`,
//! `external_account.credential.json` (from the STS and IAM Credentials
//! discovery documents and google-auth-library-python).

use std::collections::{BTreeSet, HashMap};

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{Value, json};

use super::{CLIENT_EMAIL, FakeGoogle, Shared, google_error, oauth_error, respond};

/// The workload identity pool provider the fake's STS accepts.
pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/penvio-pool/providers/penvio-oidc";
/// The subject token type of the credential files the fake writes.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Path of the subject-token URL.
pub const SUBJECT_PATH: &str = "/metadata/identity/oauth2/token";

/// One STS request as received (form fields decoded).
#[derive(Debug, Clone)]
pub struct StsRequest {
    /// The form.
    pub form: HashMap<String, String>,
    /// Whether it carried an `Authorization` header (STS wants none).
    pub authorized: bool,
    /// Status answered.
    pub status: u16,
}

/// Federation state of the fake.
#[derive(Default)]
pub struct FederationState {
    /// Subject tokens the identity provider issued and the pool trusts.
    pub subjects: BTreeSet<String>,
    /// Federated tokens STS handed out.
    pub federated: BTreeSet<String>,
    /// Impersonated service-account tokens handed out.
    pub impersonated: BTreeSet<String>,
    /// Every STS request.
    pub sts: Vec<StsRequest>,
    /// `generateAccessToken` requests.
    pub generate_requests: u32,
    /// Subject-token URL requests.
    pub subject_requests: u32,
}

impl FederationState {
    /// Whether `token` came from federation and may call `signJwt`.
    pub fn may_sign(&self, token: &str) -> bool {
        self.federated.contains(token) || self.impersonated.contains(token)
    }
}

/// Where a credential file the fake writes takes the subject token from.
pub enum Subject<'a> {
    /// `credential_source.file` at this path, text format.
    File(&'a std::path::Path),
    /// `credential_source.url` at this fake, JSON format, `Metadata: True`.
    Url,
}

impl FakeGoogle {
    /// Lets the pool trust `token` as a subject token (and only it).
    pub fn accept_subject_token(&self, token: &str) {
        self.with(|s| {
            s.federation.subjects = [token.to_string()].into();
        });
    }

    /// An `external_account` credential file pointing at this fake:
    /// `token_url` its STS and, when `impersonate`,
    /// `service_account_impersonation_url` its `generateAccessToken` for the
    /// test service account.
    pub fn external_account_file(&self, subject: Subject<'_>, impersonate: bool) -> String {
        let source = match subject {
            Subject::File(path) => {
                json!({"file": path.display().to_string(), "format": {"type": "text"}})
            }
            Subject::Url => json!({
                "url": format!("{}{SUBJECT_PATH}?api-version=2018-02-01&resource=api://penvio", self.origin),
                "headers": {"Metadata": "True"},
                "format": {"type": "json", "subject_token_field_name": "access_token"},
            }),
        };
        let mut file = json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": JWT_TOKEN_TYPE,
            "token_url": format!("{}/v1/token", self.origin),
            "credential_source": source,
        });
        if impersonate {
            file["service_account_impersonation_url"] = json!(format!(
                "{}/v1/projects/-/serviceAccounts/{CLIENT_EMAIL}:generateAccessToken",
                self.origin
            ));
        }
        serde_json::to_string_pretty(&file).unwrap()
    }

    /// A `source:` block for keyless signing through workload identity
    /// federation with the credential file at `path`.
    pub fn federated_source_block(&self, path: &std::path::Path, extra: &[&str]) -> String {
        let mut block = format!(
            "    source:\n      type: google\n      signer: iam\n      admin_email: {}\n      credentials_file: {}\n      base_url: {o}\n      iam_url: {o}\n      token_url: {o}/token\n",
            super::ADMIN,
            path.display(),
            o = self.origin
        );
        for line in extra {
            block.push_str(&format!("      {line}\n"));
        }
        block
    }

    /// STS requests so far.
    pub fn sts_requests(&self) -> Vec<StsRequest> {
        self.with(|s| s.federation.sts.clone())
    }

    /// (subject-token URL requests, generateAccessToken requests) so far.
    pub fn federation_requests(&self) -> (u32, u32) {
        self.with(|s| {
            (
                s.federation.subject_requests,
                s.federation.generate_requests,
            )
        })
    }
}

/// Answers the federation endpoints; `None` for any other request.
pub(super) fn route(
    state: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &str,
) -> Option<Response> {
    if method == Method::POST && path == "/v1/token" {
        return Some(sts(state, headers, body));
    }
    if method == Method::POST && path.ends_with(":generateAccessToken") {
        return Some(generate_access_token(state, path, headers, body));
    }
    if method == Method::GET && path == SUBJECT_PATH {
        return Some(subject_token(state, headers));
    }
    None
}

fn sts(state: &Shared, headers: &HeaderMap, body: &str) -> Response {
    let mut s = state.lock().unwrap();
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let authorized = headers.contains_key("authorization");
    let field = |name: &str| form.get(name).map(String::as_str);
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let response = if !form_type || authorized {
        oauth_error(400, "invalid_request", "Invalid request.")
    } else if field("grant_type") != Some(TOKEN_EXCHANGE) {
        oauth_error(
            400,
            "unsupported_grant_type",
            "Invalid value for grant_type.",
        )
    } else if field("requested_token_type") != Some(ACCESS_TOKEN_TYPE) {
        oauth_error(400, "invalid_request", "Invalid requested_token_type.")
    } else if field("audience") != Some(AUDIENCE) {
        oauth_error(
            400,
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid.",
        )
    } else if field("subject_token_type") != Some(JWT_TOKEN_TYPE) {
        oauth_error(400, "invalid_request", "Invalid subject_token_type.")
    } else if !field("subject_token").is_some_and(|t| s.federation.subjects.contains(t)) {
        oauth_error(
            400,
            "invalid_grant",
            "The audience in ID Token does not match the expected audience.",
        )
    } else if !field("scope").is_some_and(|scope| scope.split(' ').any(|x| x == CLOUD_PLATFORM)) {
        oauth_error(400, "invalid_scope", "Invalid scope.")
    } else {
        s.sequence += 1;
        let token = format!("ya29.d.federated-{}", s.sequence);
        s.federation.federated.insert(token.clone());
        respond(
            200,
            json!({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                   "token_type": "Bearer", "expires_in": 3600}),
        )
    };
    s.federation.sts.push(StsRequest {
        form: form.clone(),
        authorized,
        status: response.status().as_u16(),
    });
    response
}

fn generate_access_token(state: &Shared, path: &str, headers: &HeaderMap, body: &str) -> Response {
    let mut s = state.lock().unwrap();
    s.federation.generate_requests += 1;
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| s.federation.federated.contains(t)) {
        return google_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let account = path
        .trim_start_matches("/v1/projects/-/serviceAccounts/")
        .trim_end_matches(":generateAccessToken")
        .replace("%40", "@");
    if account != CLIENT_EMAIL {
        return google_error(404, "notFound", "Not found; Gaia id not found for email");
    }
    let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let scoped = request["scope"]
        .as_array()
        .is_some_and(|scopes| scopes.iter().any(|x| x == CLOUD_PLATFORM));
    if !scoped {
        return google_error(400, "badRequest", "Scope required.");
    }
    s.sequence += 1;
    let token = format!("ya29.c.impersonated-{}", s.sequence);
    s.federation.impersonated.insert(token.clone());
    respond(
        200,
        json!({"accessToken": token, "expireTime": "2030-01-01T00:00:00Z"}),
    )
}

fn subject_token(state: &Shared, headers: &HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    s.federation.subject_requests += 1;
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("True") {
        return respond(
            400,
            json!({"error": "bad_request", "error_description": "Required metadata header not specified"}),
        );
    }
    let token = s
        .federation
        .subjects
        .iter()
        .next()
        .cloned()
        .unwrap_or_default();
    respond(
        200,
        json!({"access_token": token, "expires_in": "3599", "token_type": "Bearer"}),
    )
}
