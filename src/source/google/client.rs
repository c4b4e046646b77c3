//! Talking to Google: the service account's RS256 JWT bearer grant with
//! domain-wide delegation, and `pageToken` paging of the Directory API over
//! the shared [`VendorHttp`] (pacing, body caps, 429/5xx retries), plus the
//! 403 rate-limit reasons Google sends instead of a 429.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::Value;

use super::KIND;
use super::federation::{Call, Federation};
use super::proto::{ErrorBody, Page, TokenResponse};
use crate::config::{GoogleSigner, GoogleSourceConfig, IamSigner, Secret};
use crate::http::redact_url;
use crate::ratelimit::Backoff;
use crate::source::SourceError;
use crate::source::kit::http::{SourceConnection, VendorHttp, VendorHttpSettings};
use crate::source::kit::paging::{self, Next, Pager};
use crate::source::kit::token::{
    BearerTokenCache, Grant, Refusal, TokenAnswer, TokenEndpoint, decode_token_body,
};

/// The three read-only scopes, space-delimited as the JWT `scope` claim.
pub const SCOPES: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/admin.directory.group.readonly https://www.googleapis.com/auth/admin.directory.group.member.readonly";
/// The token endpoint accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Google's documented backoff: 1 s, 2 s, 4 s, … plus jitter.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(32),
    max_attempts: 6,
};
/// Longest `quotaUser` Google accepts.
const QUOTA_USER_MAX: usize = 40;

/// The JWT claim set of the bearer grant.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct GrantClaims {
    /// The service account's `client_email`.
    pub iss: String,
    /// The admin impersonated through domain-wide delegation.
    pub sub: String,
    /// The token endpoint.
    pub aud: String,
    /// Space-delimited scopes.
    pub scope: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expiry (Unix seconds), an hour after `iat`.
    pub exp: u64,
}

/// How assertions are signed.
enum Signing {
    /// With the key file's private key; `kid` = `private_key_id`.
    Key { key: EncodingKey, key_id: String },
    /// Keyless: the VM's token from the metadata server (or, with
    /// `federation`, a token from workload identity federation), then IAM
    /// Credentials `signJwt` on the service account.
    Iam {
        /// `…/computeMetadata/v1/instance/service-accounts/default/token`.
        metadata_token: Url,
        /// `…/v1/projects/-/serviceAccounts/{email}:signJwt`.
        sign_jwt: Url,
        /// An `external_account` file's STS exchange, instead of the
        /// metadata server.
        federation: Option<Federation>,
    },
}

/// Signs assertions and exchanges them for access tokens. Holds the private
/// key, so it has no `Debug`.
struct TokenRequester {
    http: reqwest::Client,
    signing: Signing,
    client_email: String,
    client_id: String,
    admin_email: String,
    token_uri: Url,
    /// `connections[i].source`, to name keys in advice.
    source_key: String,
    bounds: SourceConnection,
}

impl TokenRequester {
    fn claims(&self, now: u64) -> GrantClaims {
        GrantClaims {
            iss: self.client_email.clone(),
            sub: self.admin_email.clone(),
            aud: self.token_uri.as_str().to_string(),
            scope: SCOPES.to_string(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        }
    }

    /// The signed assertion, by the key or through IAM Credentials.
    async fn signed(&self, now: u64) -> Result<String, SourceError> {
        match &self.signing {
            Signing::Key { .. } => self.assertion(now),
            Signing::Iam {
                metadata_token,
                sign_jwt,
                federation,
            } => {
                let token = match federation {
                    Some(federation) => {
                        let call = Call {
                            http: &self.http,
                            bounds: &self.bounds,
                            source_key: &self.source_key,
                        };
                        federation.token(&call).await?
                    }
                    None => self.metadata_token(metadata_token).await?,
                };
                self.sign_jwt(sign_jwt, &token, now).await
            }
        }
    }

    fn assertion(&self, now: u64) -> Result<String, SourceError> {
        let Signing::Key { key, key_id } = &self.signing else {
            return Err(SourceError::Setup {
                source_kind: KIND,
                message: "no key to sign with".into(),
            });
        };
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key_id.clone());
        jsonwebtoken::encode(&header, &self.claims(now), key).map_err(|e| SourceError::Setup {
            source_kind: KIND,
            message: format!(
                "cannot sign the token request: {e} (check `{}.credentials_file`)",
                self.source_key
            ),
        })
    }

    /// The VM's own access token from the metadata server.
    async fn metadata_token(&self, url: &Url) -> Result<Secret, SourceError> {
        let shown = format!("GET {}", redact_url(url));
        let fail = |detail: String| SourceError::Unauthorized {
            source_kind: KIND,
            message: format!(
                "{shown}: {detail}. `{}.signer: iam` needs Google Cloud (a VM, GKE or Cloud Run) with a service account attached",
                self.source_key
            ),
        };
        let response = self
            .http
            .get(url.clone())
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| fail(crate::http::describe_error(&e)))?;
        let TokenAnswer { status, body, .. } = self.bounds.read(&shown, response).await?;
        if !status.is_success() {
            return Err(fail(format!("answered {status}")));
        }
        let token: TokenResponse = decode_token_body(&shown, status, &body).map_err(fail)?;
        Ok(Secret::new(token.access_token))
    }

    /// Signs the claims with IAM Credentials `signJwt`.
    async fn sign_jwt(&self, url: &Url, token: &Secret, now: u64) -> Result<String, SourceError> {
        let shown = format!("POST {}", redact_url(url));
        let payload = serde_json::to_string(&self.claims(now)).map_err(|e| SourceError::Setup {
            source_kind: KIND,
            message: format!("cannot encode the claims: {e}"),
        })?;
        let response = self
            .http
            .post(url.clone())
            .bearer_auth(token.expose())
            .json(&serde_json::json!({ "payload": payload }))
            .send()
            .await
            .map_err(|e| SourceError::Fetch {
                source_kind: KIND,
                message: format!("{shown}: {}", crate::http::describe_error(&e)),
            })?;
        let TokenAnswer { status, body, .. } = self.bounds.read(&shown, response).await?;
        if !status.is_success() {
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{shown} answered {status} ({}): {} needs roles/iam.serviceAccountTokenCreator on {} (`{}.service_account`), and the IAM Credentials API must be enabled",
                    ErrorBody::summarise(&body),
                    match &self.signing {
                        Signing::Iam {
                            federation: Some(_),
                            ..
                        } => "the federated identity (or the service account it impersonates)",
                        _ => "the VM's service account",
                    },
                    self.client_email,
                    self.source_key
                ),
            });
        }
        let signed: SignJwtResponse =
            decode_token_body(&shown, status, &body).map_err(|message| SourceError::Fetch {
                source_kind: KIND,
                message,
            })?;
        Ok(signed.signed_jwt)
    }

    /// What to tell the admin for a refused grant.
    fn advice(&self, refusal: &Refusal) -> String {
        let detail = match (&refusal.error, &refusal.description) {
            (Some(_), _) => refusal.summary(),
            _ => ErrorBody::summarise(refusal.body),
        };
        format!(
            "{} answered {} ({detail}): {}",
            refusal.shown,
            refusal.status,
            self.advice_for(refusal.error.as_deref())
        )
    }

    /// The advice for an OAuth error code.
    fn advice_for(&self, error: Option<&str>) -> String {
        let key = &self.source_key;
        match error {
            Some("unauthorized_client") => format!(
                "domain-wide delegation is not granted for client id {} with these scopes: in the Admin console (Security → API controls → Domain-wide delegation) authorise client id {} for {}",
                self.client_id,
                self.client_id,
                SCOPES.replace(' ', ",")
            ),
            Some("invalid_grant") => format!(
                "the key, the impersonated admin or the clock is wrong: check that `{key}.credentials_file` holds a current key of {} (a deleted key is refused), that `{key}.admin_email` ({}) is an existing admin, and that this machine's clock is right",
                self.client_email, self.admin_email
            ),
            _ => format!(
                "check `{key}.credentials_file`, `{key}.admin_email` and the domain-wide delegation of client id {}",
                self.client_id
            ),
        }
    }
}

/// IAM Credentials `signJwt` answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignJwtResponse {
    signed_jwt: String,
}

/// Percent-encodes a path component (RFC 3986 unreserved characters stay).
pub(super) use crate::source::kit::encode::component as encode;

/// The metadata and `signJwt` URLs of keyless signing.
fn iam_signing(iam: &IamSigner) -> Result<Signing, String> {
    let metadata = iam.metadata_url.as_str().trim_end_matches('/');
    let sign = iam.iam_url.as_str().trim_end_matches('/');
    Ok(Signing::Iam {
        metadata_token: Url::parse(&format!(
            "{metadata}/computeMetadata/v1/instance/service-accounts/default/token"
        ))
        .map_err(|e| e.to_string())?,
        sign_jwt: Url::parse(&format!(
            "{sign}/v1/projects/-/serviceAccounts/{}:signJwt",
            encode(&iam.service_account)
        ))
        .map_err(|e| e.to_string())?,
        federation: iam.external_account.clone().map(Federation::new),
    })
}

/// The token cache of the JWT bearer grant: each token request signs a
/// fresh assertion (by the key or through IAM), sent through the kit.
fn grant_tokens(
    endpoints: &SourceConnection,
    requester: Arc<TokenRequester>,
    url: Url,
) -> Result<BearerTokenCache, SourceError> {
    let signer = Arc::clone(&requester);
    let grant = Grant::JwtBearer(Box::new(move || {
        let signer = Arc::clone(&signer);
        Box::pin(async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            signer.signed(now).await
        })
    }));
    let endpoint = TokenEndpoint::new(
        endpoints,
        url,
        grant,
        Box::new(move |refusal| requester.advice(refusal)),
    )?;
    Ok(BearerTokenCache::from_endpoint(
        endpoint.with_backoff(BACKOFF),
    ))
}

/// `quotaUser` of a connection: its name, cut to Google's 40 characters,
/// so Google's per-user quota is counted per connection.
pub fn quota_user(connection: &str) -> String {
    let name: String = format!("penvio-sync-{connection}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    name.chars().take(QUOTA_USER_MAX).collect()
}

/// Google's per-user and per-project limits answer 403 with a rate-limit
/// reason instead of a 429: retried with the backoff, as a 429 is.
fn rate_limited(status: StatusCode, body: &[u8], _: SystemTime) -> Option<Option<Duration>> {
    (status == StatusCode::FORBIDDEN && ErrorBody::parse(body).is_rate_limited()).then_some(None)
}

/// A paced, retrying client for one Google Workspace account.
pub struct GoogleClient {
    http: VendorHttp,
    /// `…/admin/directory/v1/`, where every path starts.
    directory_url: Url,
    quota_user: String,
    source_key: String,
}

impl GoogleClient {
    /// Builds the clients; `index` and `connection` name the connection in
    /// messages and in `quotaUser`.
    pub fn new(
        config: &GoogleSourceConfig,
        index: usize,
        connection: &str,
    ) -> Result<Self, SourceError> {
        let setup = |message: String| SourceError::Setup {
            source_kind: KIND,
            message,
        };
        let source_key = format!("connections[{index}].source");
        let (signing, client_email, client_id, token_uri) = match &config.signer {
            GoogleSigner::Key(key) => (
                Signing::Key {
                    key: EncodingKey::from_rsa_pem(key.private_key.expose().as_bytes()).map_err(
                        |e| setup(format!("cannot load `{source_key}.credentials_file`: {e}")),
                    )?,
                    key_id: key.private_key_id.clone(),
                },
                key.client_email.clone(),
                key.client_id.clone(),
                key.token_uri.clone(),
            ),
            GoogleSigner::Iam(iam) => (
                iam_signing(iam).map_err(|e| setup(format!("cannot build the IAM URLs: {e}")))?,
                iam.service_account.clone(),
                format!("of {} (its Unique ID)", iam.service_account),
                iam.token_uri.clone(),
            ),
        };
        let endpoints = crate::source::kit::connection!(KIND, config, index);
        let requester = Arc::new(TokenRequester {
            http: endpoints.client()?,
            signing,
            client_email,
            client_id,
            admin_email: config.admin_email.clone(),
            token_uri: token_uri.clone(),
            source_key: source_key.clone(),
            bounds: endpoints.clone(),
        });
        let tokens = grant_tokens(&endpoints, requester, token_uri)?;
        // Google sends no rate-limit headers (FACTS: none documented).
        let settings = VendorHttpSettings {
            backoff: BACKOFF,
            throttle: rate_limited,
            ..endpoints.settings(format!("{source_key}.credentials_file"))
        };
        let http = VendorHttp::new(settings, Arc::new(tokens))?;
        let base = config.base_url.as_str().trim_end_matches('/');
        let directory_url = Url::parse(&format!("{base}/admin/directory/v1/"))
            .map_err(|e| setup(format!("cannot build the Directory API URL: {e}")))?;
        Ok(GoogleClient {
            http,
            directory_url,
            quota_user: quota_user(connection),
            source_key,
        })
    }

    /// Requests sent to the API (token requests not included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    /// A Directory API URL with `quotaUser` and the query, encoded here.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        let mut url =
            crate::source::kit::encode::with_query(KIND, &self.directory_url, path, query)?;
        url.query_pairs_mut()
            .append_pair("quotaUser", &self.quota_user);
        Ok(url)
    }

    /// GETs one page. A 403 with a rate-limit reason is retried by
    /// [`VendorHttp`] with Google's backoff ([`rate_limited`]), like 429 and
    /// 5xx; any other 403 names the admin role; 400/404 carry Google's
    /// message.
    async fn get_page(&self, url: &Url, what: &str) -> Result<Page, SourceError> {
        let allowed = [
            StatusCode::FORBIDDEN,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
        ];
        let response = self.http.get_allowing(url.as_str(), &allowed).await?;
        if response.status.is_success() {
            return response.json(KIND, what);
        }
        let (shown, detail) = (&response.request, ErrorBody::summarise(&response.body));
        if response.status == StatusCode::FORBIDDEN {
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{what}: {shown} answered 403 ({detail}). `{}.admin_email` must be an admin whose role may read users and groups, and the delegation must include the three scopes the README lists",
                    self.source_key
                ),
            });
        }
        Err(SourceError::Fetch {
            source_kind: KIND,
            message: format!("{what}: {shown} answered {}: {detail}", response.status),
        })
    }

    /// Every record of a listing, following `nextPageToken` until it is
    /// absent (a repeated token and `max_pages` are the kit's to refuse).
    pub async fn list_all(&self, first: Url, what: &str) -> Result<Vec<Value>, SourceError> {
        let pager = TokenPager {
            client: self,
            first,
            what,
        };
        paging::list_all(&self.http, &pager, what).await
    }

    /// The first page only, for `check`.
    pub async fn first_page(&self, url: &Url, what: &str) -> Result<(), SourceError> {
        self.get_page(url, what).await.map(|_| ())
    }
}

/// A listing paged by `pageToken`.
struct TokenPager<'a> {
    client: &'a GoogleClient,
    first: Url,
    what: &'a str,
}

impl Pager for TokenPager<'_> {
    type Record = Value;

    fn url(&self, token: Option<&str>) -> Result<Url, SourceError> {
        let mut url = self.first.clone();
        if let Some(token) = token {
            url.query_pairs_mut().append_pair("pageToken", token);
        }
        Ok(url)
    }

    async fn page(&self, url: &Url) -> Result<paging::Page<Value>, SourceError> {
        let page = self.client.get_page(url, self.what).await?;
        let next = page
            .next()
            .map_or(Next::Done, |token| Next::Cursor(token.to_string()));
        Ok(paging::Page {
            records: page.records(),
            next,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::*;

    const KEY: &str = include_str!("../../../tests/fixtures/google/test-key.pem");
    const PUBLIC: &str = include_str!("../../../tests/fixtures/google/test-key.pub.pem");

    fn requester() -> TokenRequester {
        TokenRequester {
            http: reqwest::Client::new(),
            signing: Signing::Key {
                key: EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
                key_id: "kid-1".into(),
            },
            client_email: "sync@p.iam.gserviceaccount.com".into(),
            client_id: "1234567".into(),
            admin_email: "admin@example.com".into(),
            token_uri: Url::parse("https://oauth2.googleapis.com/token").unwrap(),
            source_key: "connections[0].source".into(),
            bounds: SourceConnection {
                kind: KIND,
                source_key: "connections[0].source".into(),
                timeout: Duration::from_secs(30),
                ca: None,
                proxy: None,
                limits: crate::config::ListingLimits::default(),
                requests_per_second: std::num::NonZeroU32::MIN,
            },
        }
    }

    #[test]
    fn the_assertion_carries_the_delegation_claims_and_verifies() {
        let jwt = requester().assertion(1_800_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_issuer(&["sync@p.iam.gserviceaccount.com"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<GrantClaims>(
            &jwt,
            &DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims.sub, "admin@example.com");
        assert_eq!(claims.scope.split(' ').count(), 3);
        assert!(
            claims
                .scope
                .contains("admin.directory.group.member.readonly")
        );
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn refusals_become_admin_advice() {
        let requester = requester();
        let text = requester.advice_for(Some("unauthorized_client"));
        assert!(
            text.contains("domain-wide delegation is not granted for client id 1234567"),
            "{text}"
        );
        assert!(text.contains("admin.directory.user.readonly"), "{text}");
        let text = requester.advice_for(Some("invalid_grant"));
        assert!(text.contains("credentials_file"), "{text}");
        assert!(text.contains("admin@example.com"), "{text}");
        assert!(text.contains("clock"), "{text}");
    }

    #[test]
    fn quota_user_is_short_and_plain() {
        assert_eq!(quota_user("prod"), "penvio-sync-prod");
        let long = quota_user(&"x".repeat(100));
        assert_eq!(long.len(), 40);
    }
}
