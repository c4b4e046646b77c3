//! Talking to Okta: authentication (API token or `private_key_jwt` service
//! app) and `Link: rel="next"` paging over the shared [`VendorHttp`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use jsonwebtoken::{EncodingKey, Header};
use reqwest::Url;
use serde::Serialize;
use serde_json::Value;

use super::KIND;
use super::proto::{TokenError, TokenResponse};
use crate::config::{OktaAuth, OktaOAuthConfig, OktaSourceConfig, Secret};
use crate::http::redact_url;
use crate::ratelimit::Backoff;
use crate::source::SourceError;
use crate::source::paginate::link_next;
use crate::source::vendor_http::decode_token_body;
use crate::source::vendor_http::{
    Authenticator, BearerTokenCache, IssuedToken, RateLimitHeaders, StaticHeader, TokenAnswer,
    TokenBounds, VendorHttp, VendorHttpSettings,
};

/// Lifetime of a client assertion: Okta accepts at most one hour; five
/// minutes is plenty for one token request.
const ASSERTION_LIFETIME_SECS: u64 = 300;
/// The RFC 7523 client assertion type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime assumed when a token response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Attempts at the token endpoint (network errors, 429, 5xx).
const TOKEN_ATTEMPTS: u32 = 3;

/// Claims of the `private_key_jwt` client assertion (RFC 7523).
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct AssertionClaims {
    /// The client id.
    pub iss: String,
    /// The client id again.
    pub sub: String,
    /// The token endpoint URL.
    pub aud: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Random id, so Okta can refuse a replayed assertion.
    pub jti: String,
}

impl AssertionClaims {
    /// Claims for one token request at `now` (unix seconds).
    pub fn new(client_id: &str, token_url: &str, now: u64, jti: String) -> Self {
        AssertionClaims {
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            aud: token_url.to_owned(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
            jti,
        }
    }
}

/// Everything needed to get an access token from the org authorization server.
struct TokenRequester {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    key_id: String,
    algorithm: jsonwebtoken::Algorithm,
    key: EncodingKey,
    scope: String,
    credentials_key: String,
    /// Caps on the token endpoint's `Retry-After` and body.
    bounds: TokenBounds,
}

impl TokenRequester {
    fn assertion(&self) -> Result<String, SourceError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut random = [0u8; 16];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| self.setup("no system randomness for the assertion id"))?;
        let jti = random.iter().map(|b| format!("{b:02x}")).collect();
        let claims = AssertionClaims::new(&self.client_id, self.token_url.as_str(), now, jti);
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| self.setup(&format!("cannot sign the client assertion: {e}")))
    }

    fn setup(&self, message: &str) -> SourceError {
        SourceError::Setup {
            source_kind: KIND,
            message: format!("{message} (check `{}`)", self.credentials_key),
        }
    }

    async fn issue(&self) -> Result<IssuedToken, SourceError> {
        let shown = format!("POST {}", redact_url(&self.token_url));
        let backoff = Backoff::default();
        let mut last = String::new();
        for attempt in 0..TOKEN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff.delay(attempt - 1)).await;
            }
            let assertion = self.assertion()?;
            let form = [
                ("grant_type", "client_credentials"),
                ("scope", self.scope.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ]
            .iter()
            .map(|(key, value)| format!("{key}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&");
            let response = match self
                .http
                .post(self.token_url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form)
                .send()
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    last = error.to_string();
                    continue;
                }
            };
            let TokenAnswer { status, body, .. } = self.bounds.read(KIND, &shown, response).await?;
            if status.is_success() {
                let token: TokenResponse =
                    decode_token_body(&shown, status, &body).map_err(|message| {
                        SourceError::Fetch {
                            source_kind: KIND,
                            message,
                        }
                    })?;
                return Ok(IssuedToken {
                    token: Secret::new(token.access_token),
                    expires_in: token
                        .expires_in
                        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs),
                });
            }
            let detail = match serde_json::from_slice::<TokenError>(&body) {
                Ok(error) => match error.error_description {
                    Some(description) => format!("{}: {description}", error.error),
                    None => error.error,
                },
                Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            };
            if status.as_u16() == 429 || status.is_server_error() {
                last = format!("{status}: {detail}");
                continue;
            }
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{shown} answered {status}: {detail}. Check `{}` (client_id, key_id and the private key whose public key is registered on the app) and that the app was granted the scopes {}",
                    self.credentials_key, self.scope
                ),
            });
        }
        Err(SourceError::Fetch {
            source_kind: KIND,
            message: format!("{shown} failed after {TOKEN_ATTEMPTS} attempts: {last}"),
        })
    }
}

/// A cache of service-app tokens that signs a fresh assertion per request.
fn oauth_authenticator(
    base_url: &Url,
    oauth: &OktaOAuthConfig,
    timeout: Duration,
    (ca, proxy): (Option<&crate::config::CaBundle>, Option<&str>),
    credentials_key: String,
    bounds: TokenBounds,
) -> Result<BearerTokenCache, SourceError> {
    let setup = |message: String| SourceError::Setup {
        source_kind: KIND,
        message,
    };
    let key = match oauth.algorithm {
        jsonwebtoken::Algorithm::ES256 => {
            EncodingKey::from_ec_pem(oauth.private_key.expose().as_bytes())
        }
        _ => EncodingKey::from_rsa_pem(oauth.private_key.expose().as_bytes()),
    }
    .map_err(|e| {
        setup(format!(
            "cannot load `{credentials_key}.private_key_file`: {e}"
        ))
    })?;
    let token_url = endpoint(base_url, "oauth2/v1/token")?;
    let http =
        crate::http::build_endpoint_client(timeout, ca, proxy).map_err(|e| setup(e.to_string()))?;
    let requester = Arc::new(TokenRequester {
        http,
        token_url,
        client_id: oauth.client_id.clone(),
        key_id: oauth.key_id.clone(),
        algorithm: oauth.algorithm,
        key,
        scope: oauth.scopes.join(" "),
        credentials_key,
        bounds,
    });
    Ok(BearerTokenCache::new(Box::new(move || {
        let requester = Arc::clone(&requester);
        Box::pin(async move { requester.issue().await })
    })))
}

/// `base` joined with a path relative to the org root.
pub fn endpoint(base: &Url, path: &str) -> Result<Url, SourceError> {
    let mut root = base.clone();
    if !root.path().ends_with('/') {
        let with_slash = format!("{}/", root.path());
        root.set_path(&with_slash);
    }
    root.join(path).map_err(|e| SourceError::Setup {
        source_kind: KIND,
        message: format!("cannot build the URL for {path}: {e}"),
    })
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay),
/// so a filter reads `lastUpdated%20gt%20%22…%22` as Okta documents it.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The Okta API client of one connection.
pub struct OktaClient {
    http: VendorHttp,
    base_url: Url,
    tokens: Option<Arc<BearerTokenCache>>,
}

/// Shares one token cache between the client and the counters tests read.
struct SharedCache(Arc<BearerTokenCache>);

impl Authenticator for SharedCache {
    fn authorize<'a>(
        &'a self,
        request: reqwest::RequestBuilder,
        refresh: bool,
    ) -> crate::source::BoxFuture<'a, Result<reqwest::RequestBuilder, SourceError>> {
        self.0.authorize(request, refresh)
    }

    fn can_refresh(&self) -> bool {
        true
    }
}

impl OktaClient {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &OktaSourceConfig, index: usize) -> Result<Self, SourceError> {
        let (auth, credentials_key, tokens): (Box<dyn Authenticator>, String, _) =
            match &config.auth {
                OktaAuth::ApiToken(token) => (
                    Box::new(StaticHeader::new("Authorization", "SSWS ", token.clone())),
                    format!(
                        "{key}.token` or `{key}.token_file",
                        key = format!("connections[{index}].source")
                    ),
                    None,
                ),
                OktaAuth::OAuth(oauth) => {
                    let key = format!("connections[{index}].source.oauth");
                    let cache = Arc::new(oauth_authenticator(
                        &config.base_url,
                        oauth,
                        config.timeout,
                        (
                            config.ca_file.as_ref(),
                            config.proxy.as_ref().map(crate::config::Secret::expose),
                        ),
                        key.clone(),
                        TokenBounds {
                            limits: config.limits,
                            source_key: format!("connections[{index}].source"),
                        },
                    )?);
                    (Box::new(SharedCache(Arc::clone(&cache))), key, Some(cache))
                }
            };
        let http = VendorHttp::new(
            VendorHttpSettings {
                ca: config.ca_file.clone(),
                limits: config.limits,
                proxy: config.proxy.clone(),
                source_key: format!("connections[{index}].source"),
                kind: KIND,
                credentials_key,
                requests_per_second: config.requests_per_second,
                timeout: config.timeout,
                backoff: Backoff::default(),
                rate_limit_headers: RateLimitHeaders::OktaEpoch,
                max_rate_limit_share: config.max_rate_limit_share,
            },
            auth,
        )?;
        Ok(OktaClient {
            http,
            base_url: config.base_url.clone(),
            tokens,
        })
    }

    /// Requests sent to the API (token requests not included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    /// Access tokens fetched so far (OAuth only).
    pub fn tokens_issued(&self) -> u64 {
        self.tokens.as_ref().map_or(0, |t| t.tokens_issued())
    }

    /// An API URL with query parameters (values URL-encoded here).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        let mut url = endpoint(&self.base_url, path)?;
        if !query.is_empty() {
            let joined: Vec<String> = query
                .iter()
                .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
                .collect();
            url.set_query(Some(&joined.join("&")));
        }
        Ok(url)
    }

    /// GETs one URL and returns its JSON body.
    pub async fn get_json(&self, url: &Url, what: &str) -> Result<Value, SourceError> {
        self.http.get(url.as_str()).await?.json(KIND, what)
    }

    /// Every record of a listing, following `Link: rel="next"` until it is
    /// absent. A next link to another origin is refused: the credentials
    /// must never leave the configured org.
    pub async fn list_all(&self, first: Url, what: &str) -> Result<Vec<Value>, SourceError> {
        let mut records = Vec::new();
        let mut next = Some(first.to_string());
        let mut guard = self.http.page_guard(what);
        while let Some(url) = next.take() {
            guard.admit(&url)?;
            let parsed = Url::parse(&url).map_err(|e| SourceError::Fetch {
                source_kind: KIND,
                message: format!("{what}: invalid next link: {e}"),
            })?;
            if parsed.origin() != self.base_url.origin() {
                return Err(SourceError::Fetch {
                    source_kind: KIND,
                    message: format!(
                        "{what}: the next link points to another host ({}); refusing to send credentials there",
                        redact_url(&parsed)
                    ),
                });
            }
            let response = self.http.get(&url).await?;
            let page: Vec<Value> = response.json(KIND, what)?;
            records.extend(page);
            next = link_next(&response.headers);
        }
        Ok(records)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::*;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta/test-keys");

    fn requester(private: &str, algorithm: Algorithm) -> TokenRequester {
        let pem = std::fs::read(format!("{KEYS}/{private}")).unwrap();
        let key = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
        };
        TokenRequester {
            http: reqwest::Client::new(),
            token_url: Url::parse("https://acme.okta.com/oauth2/v1/token").unwrap(),
            client_id: "0oaclient".into(),
            key_id: "kid-1".into(),
            algorithm,
            key,
            scope: "okta.users.read okta.groups.read".into(),
            credentials_key: "connections[0].source.oauth".into(),
            bounds: TokenBounds {
                limits: crate::config::ListingLimits::default(),
                source_key: "connections[0].source".into(),
            },
        }
    }

    #[test]
    fn assertions_carry_the_rfc7523_claims_and_verify_with_the_public_key() {
        for (private, public, algorithm) in [
            ("rsa-private.pem", "rsa-public.pem", Algorithm::RS256),
            ("ec-private.pem", "ec-public.pem", Algorithm::ES256),
        ] {
            let requester = requester(private, algorithm);
            let jwt = requester.assertion().unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.alg, algorithm);
            assert_eq!(header.kid.as_deref(), Some("kid-1"));
            let public_pem = std::fs::read(format!("{KEYS}/{public}")).unwrap();
            let key = match algorithm {
                Algorithm::ES256 => DecodingKey::from_ec_pem(&public_pem).unwrap(),
                _ => DecodingKey::from_rsa_pem(&public_pem).unwrap(),
            };
            let mut validation = Validation::new(algorithm);
            validation.set_audience(&["https://acme.okta.com/oauth2/v1/token"]);
            validation.set_issuer(&["0oaclient"]);
            let decode = |jwt: &str| {
                jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &validation)
                    .unwrap()
                    .claims
            };
            let claims = decode(&jwt);
            assert_eq!(claims.sub, "0oaclient");
            assert_eq!(claims.exp - claims.iat, 300, "five minutes");
            assert_eq!(claims.jti.len(), 32);
            let again = decode(&requester.assertion().unwrap());
            assert_ne!(claims.jti, again.jti, "jti is random per assertion");
        }
    }

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            encode(r#"lastUpdated gt "2024-01-02T03:04:05.000Z""#),
            "lastUpdated%20gt%20%222024-01-02T03%3A04%3A05.000Z%22"
        );
    }

    #[test]
    fn endpoints_join_under_the_org_root() {
        let base = Url::parse("http://127.0.0.1:8080/okta").unwrap();
        assert_eq!(
            endpoint(&base, "api/v1/users").unwrap().as_str(),
            "http://127.0.0.1:8080/okta/api/v1/users"
        );
        let root = Url::parse("https://acme.okta.com").unwrap();
        assert_eq!(
            endpoint(&root, "oauth2/v1/token").unwrap().as_str(),
            "https://acme.okta.com/oauth2/v1/token"
        );
    }
}
