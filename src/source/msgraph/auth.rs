//! Client-credentials tokens from the Microsoft identity platform, with a
//! client secret (`client_secret_post`) or a certificate-signed JWT
//! assertion (`private_key_jwt`), through the kit's token endpoint.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::KIND;
use crate::config::{EntraCredential, EntraSourceConfig};
use crate::source::SourceError;
use crate::source::kit::assertion::ClientAssertion;
use crate::source::kit::http::SourceConnection;
use crate::source::kit::token::{BearerTokenCache, ClientAuth, Grant, Refusal, TokenEndpoint};

/// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate DER,
/// which is how Entra finds the certificate the assertion was signed with.
pub fn x5t_s256(certificate_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, certificate_der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The token cache of one app registration; `index` names the connection
/// in messages.
pub fn tokens(
    connection: &SourceConnection,
    config: &EntraSourceConfig,
    index: usize,
) -> Result<BearerTokenCache, SourceError> {
    let auth = match &config.credential {
        EntraCredential::Secret(secret) => ClientAuth::Post(secret.clone()),
        EntraCredential::Certificate {
            certificate_der,
            private_key_pem,
        } => {
            let mut header = Header::new(Algorithm::RS256);
            header.x5t_s256 = Some(x5t_s256(certificate_der));
            let pem = private_key_pem.expose().as_bytes();
            let key = EncodingKey::from_rsa_pem(pem).map_err(|_| SourceError::Setup {
                source_kind: KIND,
                message: format!(
                    "`connections[{index}].source.private_key_file` is not an RSA private key"
                ),
            })?;
            let signer = ClientAssertion {
                kind: KIND,
                header,
                key,
                client_id: config.client_id.clone(),
                token_url: config.token_url.to_string(),
                not_before: true,
                credentials_key: credential_key(config, index),
            };
            ClientAuth::PrivateKeyJwt(Box::new(move || signer.sign()))
        }
    };
    let keys = [
        credential_key(config, index),
        format!("connections[{index}].source.client_id"),
        format!("connections[{index}].source.tenant_id"),
    ];
    let grant = Grant::ClientCredentials {
        client_id: config.client_id.clone(),
        auth,
        scopes: vec![config.scope.clone()],
    };
    Ok(BearerTokenCache::from_endpoint(TokenEndpoint::new(
        connection,
        config.token_url.clone(),
        grant,
        Box::new(move |refusal| advice(&keys, refusal)),
    )?))
}

/// What Entra's refusal means: its error code and the first line of the
/// AADSTS description, and the key that code points at.
fn advice(keys: &[String; 3], refusal: &Refusal) -> String {
    let description = refusal.description.as_deref().unwrap_or_default();
    format!(
        "{} answered {} ({}: {}). Check `{}`",
        refusal.shown,
        refusal.status,
        refusal.error.as_deref().unwrap_or("no error code"),
        first_line(description),
        key_for(keys, description),
    )
}

/// The config key an AADSTS code points at.
fn key_for<'a>(keys: &'a [String; 3], description: &str) -> &'a str {
    let [credential, client, tenant] = keys;
    let code = description.split(':').next().unwrap_or_default().trim();
    match code {
        // Tenant not found / invalid tenant identifier.
        "AADSTS90002" | "AADSTS900023" | "AADSTS90023" => tenant,
        // Application not found in the directory.
        "AADSTS700016" => client,
        _ => credential,
    }
}

/// The key holding the credential, for messages.
pub fn credential_key(config: &EntraSourceConfig, index: usize) -> String {
    match config.credential {
        EntraCredential::Secret(_) => format!("connections[{index}].source.client_secret"),
        EntraCredential::Certificate { .. } => {
            format!("connections[{index}].source.certificate_file")
        }
    }
}

/// AADSTS descriptions carry trace and correlation ids on later lines.
fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default().trim();
    Some(line)
        .filter(|l| !l.is_empty())
        .unwrap_or("no description")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn x5t_s256_is_the_base64url_sha256_of_the_der() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        assert_eq!(
            x5t_s256(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert!(!x5t_s256(b"").contains(['=', '+', '/']));
    }

    #[test]
    fn aadsts_codes_point_at_their_keys() {
        let keys = ["cred".to_string(), "client".into(), "tenant".into()];
        for (description, key) in [
            ("AADSTS7000215: Invalid client secret provided.", "cred"),
            (
                "AADSTS700016: Application with identifier 'c' was not found",
                "client",
            ),
            ("AADSTS90002: Tenant 't' not found.", "tenant"),
            ("", "cred"),
        ] {
            assert_eq!(key_for(&keys, description), key, "{description}");
        }
        let refusal = Refusal {
            shown: "POST https://login.example/t/oauth2/v2.0/token",
            status: reqwest::StatusCode::UNAUTHORIZED,
            error: Some("invalid_client".into()),
            description: Some(
                "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x".into(),
            ),
            body: b"",
        };
        assert_eq!(
            advice(&keys, &refusal),
            "POST https://login.example/t/oauth2/v2.0/token answered 401 Unauthorized (invalid_client: AADSTS7000215: Invalid client secret provided.). Check `cred`"
        );
    }
}
