//! Unit tests of the token endpoint and cache.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

#[allow(dead_code)]
#[derive(Debug, serde::Deserialize)]
struct Token {
    access_token: String,
    expires_in: u64,
}

#[test]
fn a_token_body_that_is_not_a_token_is_described_without_echoing_secrets() {
    let shown = "POST https://idp.example.com/oauth2/v1/token";
    let ok = br#"{"access_token":"s3cr3t","expires_in":3600}"#;
    assert!(decode_token_body::<Token>(shown, StatusCode::OK, ok).is_ok());
    // (body, what the message says). serde's own message would quote the
    // value of a mistyped field ("invalid type: string …").
    let cases: [(&[u8], &[&str]); 4] = [
        (
            b"<!DOCTYPE html>\n<html>\n  <head><title>Sign in</title></head>",
            &["not JSON", "<!DOCTYPE html> <html> <head><title>Sign in"],
        ),
        (b"  ", &["empty body"]),
        (br#"{"access_token":"s3cr3t"}"#, &["no field `expires_in`"]),
        (
            br#"{"access_token":"s3cr3t","expires_in":"s3cr3t-too"}"#,
            &["unexpected type"],
        ),
    ];
    for (body, says) in cases {
        let error = decode_token_body::<Token>(shown, StatusCode::OK, body).unwrap_err();
        assert!(
            error.starts_with(shown) && !error.contains("s3cr3t"),
            "{error}"
        );
        for part in says {
            assert!(error.contains(part), "{error}");
        }
    }
}

#[test]
fn token_lifetimes_may_be_numbers_or_strings() {
    for (body, secs) in [
        (r#"{"access_token":"a","expires_in":3600}"#, Some(3600)),
        (r#"{"access_token":"a","expires_in":" 3600"}"#, Some(3600)),
        (r#"{"access_token":"a"}"#, None),
    ] {
        let token = serde_json::from_str::<TokenBody>(body).unwrap();
        assert_eq!(token.lifetime(), secs.map(Duration::from_secs), "{body}");
    }
}

#[test]
fn basic_credentials_keep_the_vendor_encoding() {
    use base64::Engine;
    let decoded = |encoding| {
        let header = basic_header("client-1", &Secret::new("s3cret~x y".into()), encoding);
        let value = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(value);
        String::from_utf8(bytes.unwrap()).unwrap()
    };
    assert_eq!(decoded(BasicEncoding::Raw), "client-1:s3cret~x y");
    assert_eq!(decoded(BasicEncoding::QueryEscape), "client-1:s3cret~x+y");
}

#[tokio::test]
async fn the_token_cache_reuses_until_expiry_or_refresh() {
    // (lifetime in s, tokens after two plain reads): 30 s is inside the
    // expiry margin, so each read fetches a new token.
    for (secs, issued) in [(3600, 1), (30, 2)] {
        let count = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&count);
        let cache = BearerTokenCache::new(Box::new(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            let token = Secret::new("t".into());
            let lifetime = Duration::from_secs(secs);
            Box::pin(async move { Ok((token, lifetime)) })
        }));
        let tokens_issued = || count.load(Ordering::Relaxed);
        cache.token(false).await.unwrap();
        cache.token(false).await.unwrap();
        assert_eq!(tokens_issued(), issued, "{secs} s");
        cache.token(true).await.unwrap();
        assert_eq!(tokens_issued(), issued + 1, "{secs} s");
    }
}
