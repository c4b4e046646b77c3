//! Credentials never cross origins: a redirect to another host or port is
//! not followed (the token would be replayed there), a redirect within the
//! origin is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use penvio_sync::config::Secret;
use penvio_sync::ratelimit::Backoff;
use penvio_sync::scim::client::{ScimClient, ScimClientSettings};

type Seen = Arc<Mutex<Vec<Option<String>>>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn recorder(
    seen: Seen,
) -> impl Fn(HeaderMap) -> std::future::Ready<axum::response::Response> + Clone {
    move |headers: HeaderMap| {
        seen.lock().unwrap().push(
            headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_string()),
        );
        std::future::ready(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/scim+json")],
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#,
            )
                .into_response(),
        )
    }
}

fn client(base: &str) -> ScimClient {
    ScimClient::new(ScimClientSettings {
        base_url: format!("{base}/scim").parse().unwrap(),
        token: Secret::new("redirect-test-token".into()),
        token_key: "connections[0].target.token".into(),
        service: "Penvio".into(),
        requests_per_second: std::num::NonZeroU32::new(100).unwrap(),
        burst: std::num::NonZeroU32::new(100).unwrap(),
        timeout: Duration::from_secs(5),
        backoff: Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(10),
            max_attempts: 1,
        },
        ca: None,
        proxy: None,
    })
    .unwrap()
}

#[tokio::test]
async fn the_token_never_follows_a_redirect_to_another_origin() {
    let elsewhere_seen: Seen = Arc::default();
    let elsewhere =
        serve(Router::new().route("/Users", get(recorder(elsewhere_seen.clone())))).await;
    let target = elsewhere.clone();
    let origin = serve(Router::new().route(
        "/scim/Users",
        get(move || {
            let target = target.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, format!("{target}/Users"))],
                )
            }
        }),
    ))
    .await;
    let result = client(&origin).check_access().await;
    assert!(result.is_err(), "a cross-origin redirect is not followed");
    assert!(
        elsewhere_seen.lock().unwrap().is_empty(),
        "the other origin received nothing, token included"
    );
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed() {
    let seen: Seen = Arc::default();
    let router = Router::new()
        .route(
            "/scim/Users",
            get(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/moved/Users")],
                )
            }),
        )
        .route("/moved/Users", get(recorder(seen.clone())));
    let origin = serve(router).await;
    client(&origin).check_access().await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].as_deref(), Some("Bearer redirect-test-token"));
}
