//! A SCIM 2.0 server as an identity source, with the hostile quirks of
//! issue 14: a page that comes back empty before `totalResults` is reached,
//! and list responses without `totalResults`. Also a proxy in front of a real
//! SCIM server (scim2-server as Penvio) that empties later `/Users` pages, so
//! reconcile meets a truncated listing of Penvio.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fake_server/mod.rs"]
mod fake_server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The quirks a [`ScimSourceFake`] applies to its list responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quirks {
    /// Pages whose `startIndex` is above this come back with no resources
    /// (while `totalResults` still counts them all).
    pub empty_after: Option<usize>,
    /// Leave `totalResults` out of every list response.
    pub omit_total: bool,
}

#[derive(Default)]
struct Inner {
    users: Vec<Value>,
    quirks: Quirks,
    list_requests: u64,
}

/// A SCIM source on a random loopback port; stops with its last clone.
#[derive(Clone)]
pub struct ScimSourceFake {
    _server: fake_server::ServerTask,
    /// `http://127.0.0.1:PORT/scim/v2`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl ScimSourceFake {
    /// Serves `count` active users `user-1` … with `userN@example.com`.
    pub async fn start(count: usize) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base_url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        let users = (1..=count)
            .map(|n| {
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "id": format!("user-{n}"),
                    "userName": format!("user{n}@example.com"),
                    "name": {"givenName": format!("User{n}"), "familyName": "Example"},
                    "emails": [{"value": format!("user{n}@example.com"), "primary": true}],
                    "active": true,
                })
            })
            .collect();
        let inner = Arc::new(Mutex::new(Inner {
            users,
            ..Inner::default()
        }));
        let app = Router::new().fallback(list).with_state(Arc::clone(&inner));
        ScimSourceFake {
            _server: fake_server::ServerTask::serve(listener, app),
            base_url,
            inner,
        }
    }

    /// Applies these quirks from the next request on.
    pub fn set_quirks(&self, quirks: Quirks) {
        self.inner.lock().unwrap().quirks = quirks;
    }

    /// List requests received so far.
    pub fn list_requests(&self) -> u64 {
        self.inner.lock().unwrap().list_requests
    }

    /// A fixture `source:` block reading this server; `extra` lines go under it.
    pub fn source_block(&self, extra: &[&str]) -> String {
        let mut block = format!(
            "    source:\n      type: scim\n      base_url: {}\n      token: source-token\n      page_size: 100\n      requests_per_second: 1000\n",
            self.base_url
        );
        for line in extra {
            block.push_str(&format!("      {line}\n"));
        }
        block
    }
}

async fn list(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut s = inner.lock().unwrap();
    s.list_requests += 1;
    let all: &[Value] = match uri.path() {
        "/scim/v2/Users" => &s.users,
        "/scim/v2/Groups" => &[],
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let start: usize = params
        .get("startIndex")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let count: usize = params
        .get("count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let emptied = s.quirks.empty_after.is_some_and(|after| start > after);
    let page: Vec<Value> = if emptied {
        Vec::new()
    } else {
        all.iter()
            .skip(start.saturating_sub(1))
            .take(count)
            .cloned()
            .collect()
    };
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": all.len(),
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    });
    if s.quirks.omit_total {
        body.as_object_mut().unwrap().remove("totalResults");
    }
    (
        [(header::CONTENT_TYPE, "application/scim+json")],
        body.to_string(),
    )
        .into_response()
}

#[derive(Default)]
struct ProxyState {
    upstream: String,
    truncate: bool,
    truncated: u64,
    http: reqwest::Client,
}

/// A pass-through proxy to a SCIM server that, when told to, answers every
/// `GET …/Users` page after the first with no resources (keeping
/// `totalResults`): a Penvio listing cut short.
#[derive(Clone)]
pub struct TruncatingProxy {
    _server: fake_server::ServerTask,
    /// `http://127.0.0.1:PORT` (append the upstream's path).
    pub origin: String,
    state: Arc<Mutex<ProxyState>>,
}

impl TruncatingProxy {
    /// Proxies to `upstream_origin` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream_origin: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProxyState {
            upstream: upstream_origin.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            ..ProxyState::default()
        }));
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        TruncatingProxy {
            _server: fake_server::ServerTask::serve(listener, app),
            origin,
            state,
        }
    }

    /// Starts or stops emptying later `/Users` pages.
    pub fn set_truncate(&self, truncate: bool) {
        self.state.lock().unwrap().truncate = truncate;
    }

    /// Pages emptied so far.
    pub fn truncated(&self) -> u64 {
        self.state.lock().unwrap().truncated
    }
}

async fn forward(
    State(state): State<Arc<Mutex<ProxyState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (url, http, truncate) = {
        let s = state.lock().unwrap();
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        (
            format!("{}{target}", s.upstream),
            s.http.clone(),
            s.truncate,
        )
    };
    let mut request = http.request(method.clone(), url).body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/scim+json")
        .to_string();
    let bytes = response.bytes().await.unwrap();
    let later_users_page = method == Method::GET
        && uri.path().ends_with("/Users")
        && uri
            .query()
            .is_some_and(|q| q.contains("startIndex=") && !q.contains("startIndex=1&"));
    if truncate
        && later_users_page
        && let Ok(mut page) = serde_json::from_slice::<Value>(&bytes)
    {
        page["Resources"] = json!([]);
        page["itemsPerPage"] = json!(0);
        state.lock().unwrap().truncated += 1;
        return (
            status,
            [(header::CONTENT_TYPE, content_type)],
            page.to_string(),
        )
            .into_response();
    }
    (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}
