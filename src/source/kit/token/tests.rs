//! Unit tests of the token endpoint and cache.

use super::*;

#[derive(Debug, serde::Deserialize)]
struct Token {
    #[allow(dead_code)]
    access_token: String,
    #[allow(dead_code)]
    expires_in: u64,
}

#[test]
fn a_token_body_that_is_not_a_token_is_described_without_echoing_secrets() {
    let shown = "POST https://idp.example.com/oauth2/v1/token";
    let ok: Result<Token, String> = decode_token_body(
        shown,
        StatusCode::OK,
        br#"{"access_token":"s3cr3t","expires_in":3600}"#,
    );
    assert!(ok.is_ok());

    let html = decode_token_body::<Token>(
        shown,
        StatusCode::OK,
        b"<!DOCTYPE html>\n<html>\n  <head><title>Sign in</title></head>",
    )
    .unwrap_err();
    assert!(html.contains("not JSON"), "{html}");
    assert!(
        html.contains("<!DOCTYPE html> <html> <head><title>Sign in"),
        "{html}"
    );
    assert!(html.starts_with(shown), "{html}");

    let empty = decode_token_body::<Token>(shown, StatusCode::OK, b"  ").unwrap_err();
    assert!(empty.contains("empty body"), "{empty}");

    let missing =
        decode_token_body::<Token>(shown, StatusCode::OK, br#"{"access_token":"s3cr3t"}"#)
            .unwrap_err();
    assert!(missing.contains("no field `expires_in`"), "{missing}");
    assert!(!missing.contains("s3cr3t"), "{missing}");

    // serde's own message would quote the value ("invalid type: string …").
    let mistyped = decode_token_body::<Token>(
        shown,
        StatusCode::OK,
        br#"{"access_token":"s3cr3t","expires_in":"s3cr3t-too"}"#,
    )
    .unwrap_err();
    assert!(mistyped.contains("unexpected type"), "{mistyped}");
    assert!(!mistyped.contains("s3cr3t"), "{mistyped}");
}

#[test]
fn token_lifetimes_may_be_numbers_or_strings() {
    let lifetime = |body: &str| serde_json::from_str::<TokenBody>(body).unwrap().lifetime();
    let hour = Some(Duration::from_secs(3600));
    assert_eq!(lifetime(r#"{"access_token":"a","expires_in":3600}"#), hour);
    assert_eq!(
        lifetime(r#"{"access_token":"a","expires_in":" 3600"}"#),
        hour
    );
    assert_eq!(lifetime(r#"{"access_token":"a"}"#), None);
}

#[test]
fn basic_credentials_keep_the_vendor_encoding() {
    use base64::Engine;
    let decoded = |encoding| {
        let header = basic_header("client-1", &Secret::new("s3cret~x y".into()), encoding);
        let value = header
            .to_str()
            .unwrap()
            .strip_prefix("Basic ")
            .unwrap()
            .to_string();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(decoded(BasicEncoding::Raw), "client-1:s3cret~x y");
    assert_eq!(decoded(BasicEncoding::QueryEscape), "client-1:s3cret~x+y");
}

/// A cache over an issuer whose tokens live `secs` seconds.
fn cache(secs: u64) -> BearerTokenCache {
    BearerTokenCache::new(Box::new(move || {
        Box::pin(async move {
            Ok(IssuedToken {
                token: Secret::new("t".into()),
                expires_in: Duration::from_secs(secs),
            })
        })
    }))
}

#[tokio::test]
async fn the_token_cache_reuses_until_refresh_is_asked() {
    let cache = cache(3600);
    cache.token(false).await.unwrap();
    cache.token(false).await.unwrap();
    assert_eq!(cache.tokens_issued(), 1);
    cache.token(true).await.unwrap();
    assert_eq!(cache.tokens_issued(), 2);
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced() {
    let cache = cache(30);
    cache.token(false).await.unwrap();
    cache.token(false).await.unwrap();
    assert_eq!(cache.tokens_issued(), 2, "30 s is inside the expiry margin");
}
