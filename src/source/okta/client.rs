//! Talking to Okta: authentication (API token or `private_key_jwt` service
//! app) and `Link: rel="next"` paging over the shared [`VendorHttp`].

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use serde_json::Value;

use super::KIND;
use crate::config::{OktaAuth, OktaOAuthConfig, OktaSourceConfig};
use crate::source::SourceError;
use crate::source::kit::assertion::ClientAssertion;
use crate::source::kit::connection;
use crate::source::kit::encode::{endpoint, form};
use crate::source::kit::http::{
    Authenticator, RateLimitHeaders, SourceConnection, StaticHeader, VendorHttp, VendorHttpSettings,
};
use crate::source::kit::paging::{Next, Page, Pager, link_next, list_all};
use crate::source::kit::token::{BearerTokenCache, ClientAuth, Grant, TokenEndpoint};

/// The service app's private key: EC for ES256, else RSA.
fn signing_key(algorithm: Algorithm, pem: &[u8]) -> jsonwebtoken::errors::Result<EncodingKey> {
    match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
}

/// A cache of service-app tokens that signs a fresh assertion per request.
fn oauth_tokens(
    connection: &SourceConnection,
    config: &OktaSourceConfig,
    oauth: &OktaOAuthConfig,
    credentials_key: String,
) -> Result<BearerTokenCache, SourceError> {
    let pem = oauth.private_key.expose().as_bytes();
    let key = signing_key(oauth.algorithm, pem).map_err(|e| SourceError::Setup {
        source_kind: KIND,
        message: format!("cannot load `{credentials_key}.private_key_file`: {e}"),
    })?;
    let token_url = endpoint(KIND, &config.base_url, "oauth2/v1/token")?;
    let mut header = Header::new(oauth.algorithm);
    header.kid = Some(oauth.key_id.clone());
    let signer = ClientAssertion {
        kind: KIND,
        header,
        key,
        client_id: oauth.client_id.clone(),
        token_url: token_url.to_string(),
        not_before: false,
        credentials_key: credentials_key.clone(),
    };
    let scope = oauth.scopes.join(" ");
    let grant = Grant::ClientCredentials {
        client_id: oauth.client_id.clone(),
        auth: ClientAuth::PrivateKeyJwt(Box::new(move || signer.sign())),
        scopes: oauth.scopes.clone(),
    };
    Ok(BearerTokenCache::from_endpoint(TokenEndpoint::new(
        connection,
        token_url,
        grant,
        Box::new(move |refusal| {
            format!(
                "{} answered {}: {}. Check `{credentials_key}` (client_id, key_id and the private key whose public key is registered on the app) and that the app was granted the scopes {scope}",
                refusal.shown,
                refusal.status,
                refusal.summary()
            )
        }),
    )?))
}

/// The Okta API client of one connection.
pub struct OktaClient {
    http: VendorHttp,
    base_url: Url,
}

impl OktaClient {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &OktaSourceConfig, index: usize) -> Result<Self, SourceError> {
        let connection = connection!(KIND, config, index);
        let source_key = &connection.source_key;
        let (auth, credentials_key): (Arc<dyn Authenticator>, String) = match &config.auth {
            OktaAuth::ApiToken(token) => (
                Arc::new(StaticHeader::new("Authorization", "SSWS ", token.clone())),
                format!("{source_key}.token` or `{source_key}.token_file"),
            ),
            OktaAuth::OAuth(oauth) => {
                let key = format!("{source_key}.oauth");
                let cache = oauth_tokens(&connection, config, oauth, key.clone())?;
                (Arc::new(cache), key)
            }
        };
        let settings = VendorHttpSettings {
            rate_limit_headers: RateLimitHeaders::OktaEpoch,
            max_rate_limit_share: config.max_rate_limit_share,
            ..connection.settings(credentials_key)
        };
        let http = VendorHttp::new(settings, auth)?;
        Ok(OktaClient {
            http,
            base_url: config.base_url.clone(),
        })
    }

    /// Requests sent to the API (token requests not included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    /// An API URL with query parameters, percent-encoded as Okta documents
    /// them (`%20`, not `+`).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        let mut url = endpoint(KIND, &self.base_url, path)?;
        url.set_query(Some(&form(query)));
        Ok(url)
    }

    /// GETs one URL and returns its JSON body.
    pub async fn get_json(&self, url: &Url, what: &str) -> Result<Value, SourceError> {
        self.http.get(url.as_str()).await?.json(KIND, what)
    }

    /// Every record of a listing, following `Link: rel="next"` on Okta's
    /// origin until it is absent.
    pub async fn list_all(&self, first: Url, what: &str) -> Result<Vec<Value>, SourceError> {
        let pager = LinkPager {
            client: self,
            first,
            what,
        };
        list_all(&self.http, &pager, what).await
    }
}

/// A listing paged by `Link: rel="next"` headers.
struct LinkPager<'a> {
    client: &'a OktaClient,
    first: Url,
    what: &'a str,
}

impl Pager for LinkPager<'_> {
    type Record = Value;

    fn url(&self, _cursor: Option<&str>) -> Result<Url, SourceError> {
        Ok(self.first.clone())
    }

    async fn page(&self, url: &Url) -> Result<Page<Value>, SourceError> {
        let response = self.client.http.get(url.as_str()).await?;
        Ok(Page {
            records: response.json(KIND, self.what)?,
            next: link_next(&response.headers).map_or(Next::Done, Next::Link),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;
    use crate::source::kit::assertion::AssertionClaims;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta/test-keys");

    #[test]
    fn assertions_carry_the_rfc7523_claims_and_verify_with_the_public_key() {
        for (private, public, algorithm) in [
            ("rsa-private.pem", "rsa-public.pem", Algorithm::RS256),
            ("ec-private.pem", "ec-public.pem", Algorithm::ES256),
        ] {
            let pem = std::fs::read(format!("{KEYS}/{private}")).unwrap();
            let key = signing_key(algorithm, &pem).unwrap();
            let mut header = Header::new(algorithm);
            header.kid = Some("kid-1".into());
            let requester = ClientAssertion {
                kind: KIND,
                header,
                key,
                client_id: "0oaclient".into(),
                token_url: "https://acme.okta.com/oauth2/v1/token".into(),
                not_before: false,
                credentials_key: "connections[0].source.oauth".into(),
            };
            let jwt = requester.sign().unwrap();
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
            assert_eq!(claims.nbf, None, "Okta's assertion has no nbf");
            assert_eq!(claims.exp - claims.iat, 300, "five minutes");
            assert_eq!(claims.jti.len(), 32);
            let again = decode(&requester.sign().unwrap());
            assert_ne!(claims.jti, again.jti, "jti is random per assertion");
        }
    }
}
