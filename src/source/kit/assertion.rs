//! Signed client assertions (RFC 7523 `private_key_jwt`): Okta service apps
//! and Entra certificate credentials prove who they are with a fresh one
//! per token request.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use jsonwebtoken::{EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::source::SourceError;

/// Lifetime of an assertion: Okta accepts at most an hour, Entra ten
/// minutes; five is plenty for one token request.
const LIFETIME_SECS: u64 = 300;

/// Claims of a client assertion (RFC 7523 §3).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct AssertionClaims {
    /// The client id.
    pub iss: String,
    /// The client id again.
    pub sub: String,
    /// The token endpoint URL.
    pub aud: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Not before, unix seconds (sent where the IdP documents it: Entra).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Random id, so the IdP can refuse a replayed assertion.
    pub jti: String,
}

/// Signs the assertions of one client. Holds the key, so it has no `Debug`.
pub struct ClientAssertion {
    /// Adapter name, as in `source.type`.
    pub kind: &'static str,
    /// The JWT header: the algorithm and how the IdP finds the key (`kid`
    /// for Okta, `x5t#S256` for Entra).
    pub header: Header,
    /// The private key.
    pub key: EncodingKey,
    /// The client id (`iss` and `sub`).
    pub client_id: String,
    /// The token endpoint URL (`aud`).
    pub token_url: String,
    /// Whether to send `nbf`.
    pub not_before: bool,
    /// The config key to check when signing fails.
    pub credentials_key: String,
}

impl ClientAssertion {
    /// A signed assertion for one token request, valid from now.
    pub fn sign(&self) -> Result<String, SourceError> {
        let now = u64::try_from(crate::timestamp::unix_now()).unwrap_or(0);
        let mut random = [0u8; 16];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| self.setup("no system randomness for the assertion id"))?;
        let claims = AssertionClaims {
            iss: self.client_id.clone(),
            sub: self.client_id.clone(),
            aud: self.token_url.clone(),
            iat: now,
            nbf: self.not_before.then_some(now),
            exp: now + LIFETIME_SECS,
            jti: random.iter().map(|b| format!("{b:02x}")).collect(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|e| self.setup(&format!("cannot sign the client assertion: {e}")))
    }

    fn setup(&self, message: &str) -> SourceError {
        SourceError::Setup {
            source_kind: self.kind,
            message: format!("{message} (check `{}`)", self.credentials_key),
        }
    }
}
