//! HTTP: one fallback handler that routes by hand, so every answer —
//! including unknown paths (404) and wrong methods (405) — carries a SCIM
//! error body, and every request passes the same latency, fault, auth and
//! logging steps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::EmulatorError;
use super::fault::{FaultAction, Hit};
use super::filter::{Filter, get_ci, parse_attr_path, parse_filter};
use super::net::ResetHandle;
use super::projection::Projection;
use super::schemas::{self, KINDS, LIST_RESPONSE, ResourceKind};
use super::store::{OrgStore, Sort, Stored};
use super::{LoggedRequest, Shared, lock};

/// Path prefix before the org segment.
pub(crate) const PREFIX: &str = "/api/scim/v2/";
use crate::scim::SCIM_MEDIA_TYPE as SCIM_JSON;
/// Largest request body accepted (big membership PATCHes fit easily).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// What a path designates, relative to the org base URL.
#[derive(Debug, PartialEq)]
enum Route {
    ServiceProviderConfig,
    Schemas(Option<String>),
    ResourceTypes(Option<String>),
    Collection(ResourceKind),
    Search(Option<ResourceKind>),
    Item(ResourceKind, String),
    Bulk,
    NotFound,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(rel: &str) -> Route {
    let segs: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let kind = |s: &str| match s {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        _ => None,
    };
    match segs.as_slice() {
        [s] if s == "ServiceProviderConfig" => Route::ServiceProviderConfig,
        [s] if s == "Schemas" => Route::Schemas(None),
        [s, id] if s == "Schemas" => Route::Schemas(Some(id.clone())),
        [s] if s == "ResourceTypes" => Route::ResourceTypes(None),
        [s, id] if s == "ResourceTypes" => Route::ResourceTypes(Some(id.clone())),
        [s] if s == ".search" => Route::Search(None),
        [s] if s == "Bulk" => Route::Bulk,
        [c] => kind(c).map_or(Route::NotFound, Route::Collection),
        [c, s] if s == ".search" => kind(c).map_or(Route::NotFound, |k| Route::Search(Some(k))),
        [c, id] => kind(c).map_or(Route::NotFound, |k| Route::Item(k, id.clone())),
        _ => Route::NotFound,
    }
}

/// Splits `/api/scim/v2/{org}/rest` into (org, "/rest").
fn split_org(path: &str) -> (Option<String>, String) {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return (None, path.to_string());
    };
    match rest.split_once('/') {
        Some((org, tail)) => (Some(percent_decode(org)), format!("/{tail}")),
        None => (Some(percent_decode(rest)), String::new()),
    }
}

fn is_write(method: &Method, rel: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => !rel.trim_end_matches('/').ends_with("/.search"),
        _ => true,
    }
}

fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

fn error_response(err: &EmulatorError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    scim_response(status, &err.body())
}

fn with_retry_after(mut resp: Response, retry_after: Option<&str>) -> Response {
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn fault_status(status: u16, retry_after: Option<&str>) -> Response {
    let err = EmulatorError::new(status, None, format!("injected fault: status {status}"));
    let mut resp = with_retry_after(error_response(&err), retry_after);
    if status == 401 {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// What a proxy or portal in front of a SCIM server answers when it is
/// unhappy: a web page, with a success status.
const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1><p>The upstream server did not answer in time.</p></body></html>\n";

/// The start of a SCIM document, for a truncated answer with no real body.
const CUT_DOCUMENT: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{"id":"#;

/// `answer` with its body cut in half (`200` and half a document when
/// there is no body to cut, e.g. a 204 or a request never processed).
async fn truncated(answer: Option<Response>) -> Response {
    let (status, body) = match answer {
        Some(resp) => {
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), BODY_LIMIT)
                .await
                .unwrap_or_default();
            (status, body)
        }
        None => (StatusCode::OK, Bytes::new()),
    };
    let (status, body) = if body.is_empty() {
        (StatusCode::OK, Bytes::from_static(CUT_DOCUMENT.as_bytes()))
    } else {
        let half = body.len() / 2;
        (status, body.slice(..half))
    };
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

/// Records a request in the log when dropped: when the answer is known
/// ([`LogGuard::answered`]), or when the client went away first and the
/// handler was dropped mid-way (status 0).
struct LogGuard {
    shared: Arc<Shared>,
    entry: Option<LoggedRequest>,
    answered: bool,
}

impl LogGuard {
    fn answered(&mut self, status: u16) {
        if let Some(entry) = self.entry.as_mut() {
            entry.status = status;
        }
        self.answered = true;
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            if !self.answered {
                entry.fault = Some(match entry.fault.take() {
                    Some(fault) => format!("{fault} (client gone)"),
                    None => "(client gone)".to_string(),
                });
            }
            self.shared.record(entry);
        }
    }
}

/// The request as read so far: what `serve` needs to process it.
struct Incoming {
    parts: axum::http::request::Parts,
    body: axum::body::Body,
}

/// Processes a request normally.
async fn serve(shared: &Shared, org: Option<&str>, rel: &str, incoming: Incoming) -> Response {
    let Incoming { parts, body } = incoming;
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => {
            let req = Req {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                body: bytes,
            };
            dispatch(shared, org, rel, &req).unwrap_or_else(|e| error_response(&e))
        }
        Err(e) => error_response(&EmulatorError::new(
            413,
            None,
            format!("cannot read the body: {e}"),
        )),
    }
}

/// Answers a request hit by a fault rule. Returns the response and whether
/// an HTTP answer goes out at all (not after a reset).
async fn faulted(
    shared: &Shared,
    org: Option<&str>,
    rel: &str,
    incoming: Incoming,
    action: FaultAction,
    after_apply: bool,
    reset: Option<&ResetHandle>,
) -> (Response, bool) {
    let (applied, incoming) = if after_apply {
        (Some(serve(shared, org, rel, incoming).await), None)
    } else {
        (None, Some(incoming))
    };
    let response = match action {
        FaultAction::Status {
            status,
            retry_after,
        } => fault_status(status, retry_after.as_deref()),
        FaultAction::Delay(delay) => {
            // Dropped here, with the connection, if the client gives up.
            tokio::time::sleep(delay).await;
            match (applied, incoming) {
                (Some(resp), _) => resp,
                (None, Some(incoming)) => serve(shared, org, rel, incoming).await,
                (None, None) => fault_status(500, None),
            }
        }
        FaultAction::Reset => match reset {
            Some(handle) => {
                handle.reset();
                return (fault_status(502, None), false);
            }
            // Not served through the resettable listener: the nearest thing.
            None => fault_status(502, None),
        },
        FaultAction::Html200 => {
            let mut resp = (StatusCode::OK, HTML_ERROR_PAGE).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        FaultAction::TruncatedJson => truncated(applied).await,
        // Resolved to one alternative when the rule hit.
        FaultAction::OneOf(_) => fault_status(500, None),
    };
    (response, true)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let received = Instant::now();
    let at = SystemTime::now();
    let reset = req
        .extensions()
        .get::<ConnectInfo<ResetHandle>>()
        .map(|info| info.0.clone());
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let method = parts.method.clone();
    let (org, rel) = split_org(&path);
    let write = is_write(&method, &rel);

    let (latency, hit) = {
        let mut faults = lock(&shared.faults);
        let hit = faults.take(method.as_str(), org.as_deref(), &rel);
        (faults.latency, hit)
    };
    let mut log = LogGuard {
        shared: Arc::clone(&shared),
        entry: Some(LoggedRequest {
            method: method.as_str().to_string(),
            path,
            query,
            status: 0,
            is_write: write,
            at,
            received,
            fault: hit.as_ref().map(Hit::label),
        }),
        answered: false,
    };
    if let Some(delay) = latency {
        tokio::time::sleep(delay).await;
    }
    let incoming = Incoming { parts, body };
    let (response, answered) = match hit {
        None => (serve(&shared, org.as_deref(), &rel, incoming).await, true),
        Some(Hit::Scripted(s)) => (fault_status(s.status, s.retry_after.as_deref()), true),
        Some(Hit::Rule {
            action,
            after_apply,
        }) => {
            faulted(
                &shared,
                org.as_deref(),
                &rel,
                incoming,
                action,
                after_apply,
                reset.as_ref(),
            )
            .await
        }
    };
    log.answered(if answered {
        response.status().as_u16()
    } else {
        0
    });
    response
}

struct Req<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: Bytes,
}

impl Req<'_> {
    fn params(&self) -> HashMap<String, String> {
        Query::<HashMap<String, String>>::try_from_uri(self.uri)
            .map(|q| q.0)
            .unwrap_or_default()
    }

    fn json(&self) -> Result<Value, EmulatorError> {
        if self.body.is_empty() {
            return Err(EmulatorError::new(
                400,
                Some("invalidSyntax"),
                "the request has no body",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            EmulatorError::new(400, Some("invalidSyntax"), format!("invalid JSON: {e}"))
        })
    }

    fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }

    fn authorized(&self, tokens: &[String]) -> bool {
        if tokens.is_empty() {
            return true;
        }
        let Some(value) = self
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, token)) = value.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && tokens.iter().any(|t| t == token.trim())
    }
}

fn method_not_allowed(allowed: &'static str) -> Result<Response, EmulatorError> {
    let mut resp = error_response(&EmulatorError::new(
        405,
        None,
        format!("method not allowed; use {allowed}"),
    ));
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    Ok(resp)
}

fn dispatch(
    shared: &Shared,
    org: Option<&str>,
    rel: &str,
    req: &Req<'_>,
) -> Result<Response, EmulatorError> {
    let Some(org) = org.filter(|o| !o.is_empty()) else {
        return Err(EmulatorError::not_found(format!(
            "no SCIM endpoint here; the base is {PREFIX}{{org}}"
        )));
    };
    if !shared.config.orgs.is_empty() && !shared.config.orgs.iter().any(|o| o == org) {
        return Err(EmulatorError::not_found(format!("unknown org '{org}'")));
    }
    let base = shared.base_url(org);
    let route = route(rel);
    let discovery = matches!(
        route,
        Route::ServiceProviderConfig | Route::Schemas(_) | Route::ResourceTypes(_)
    );
    let open = discovery && *req.method == Method::GET;
    if !open && !req.authorized(&shared.config.tokens) {
        let mut resp = error_response(&EmulatorError::new(
            401,
            None,
            "missing or invalid bearer token",
        ));
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(resp);
    }
    let m = req.method;
    match route {
        Route::NotFound => Err(EmulatorError::not_found(format!("no such endpoint: {rel}"))),
        _ if discovery && *m != Method::GET => method_not_allowed("GET"),
        Route::ServiceProviderConfig => Ok(scim_response(
            StatusCode::OK,
            &schemas::service_provider_config(&base, shared.config.page_size_max),
        )),
        Route::Schemas(id) => discovery_doc(
            id,
            |k| schemas::schema_json(k, &base),
            |k, id| k.schema() == id,
        ),
        Route::ResourceTypes(id) => discovery_doc(
            id,
            |k| schemas::resource_type_json(k, &base),
            |k, id| k.name() == id,
        ),
        Route::Bulk => Err(EmulatorError::new(
            501,
            None,
            "bulk operations are not supported",
        )),
        Route::Search(kind) if *m == Method::POST => {
            let body = req.json()?;
            let params = search_params(&body)?;
            let orgs = lock(&shared.orgs);
            let empty = OrgStore::new();
            let store = orgs.get(org).unwrap_or(&empty);
            list(store, kind, &params, shared.config.page_size_max)
        }
        Route::Search(_) => method_not_allowed("POST"),
        Route::Collection(kind) => match *m {
            Method::GET => {
                let params = ListParams::from_query(&req.params())?;
                let orgs = lock(&shared.orgs);
                let empty = OrgStore::new();
                let store = orgs.get(org).unwrap_or(&empty);
                list(store, Some(kind), &params, shared.config.page_size_max)
            }
            Method::POST => {
                let body = req.json()?;
                let mut orgs = lock(&shared.orgs);
                let store = orgs.entry(org.to_string()).or_insert_with(OrgStore::new);
                let stored = store.collection_mut(kind).create(&body, &base)?;
                let mut resp =
                    resource_response(StatusCode::CREATED, kind, stored, &Projection::default());
                let location = format!("{base}{}/{}", kind.endpoint(), stored_id(stored));
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                Ok(resp)
            }
            _ => method_not_allowed("GET, POST"),
        },
        Route::Item(kind, id) => {
            let projection = Projection::from_query(&req.params());
            let mut orgs = lock(&shared.orgs);
            let store = orgs.entry(org.to_string()).or_insert_with(OrgStore::new);
            let coll = store.collection_mut(kind);
            let missing = || EmulatorError::not_found(format!("{} {id} not found", kind.name()));
            match *m {
                Method::GET => {
                    let stored = coll.get(&id).ok_or_else(missing)?;
                    Ok(resource_response(StatusCode::OK, kind, stored, &projection))
                }
                Method::PUT => {
                    let body = req.json()?;
                    let stored = coll.replace(&id, &body, req.if_match())?;
                    Ok(resource_response(StatusCode::OK, kind, stored, &projection))
                }
                Method::PATCH => {
                    let body = req.json()?;
                    let stored = coll.patch(&id, &body, req.if_match())?;
                    if !projection.requested {
                        let mut resp = StatusCode::NO_CONTENT.into_response();
                        set_etag(&mut resp, stored);
                        Ok(resp)
                    } else {
                        Ok(resource_response(StatusCode::OK, kind, stored, &projection))
                    }
                }
                Method::DELETE => {
                    coll.delete(&id, req.if_match())?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => method_not_allowed("GET, PUT, PATCH, DELETE"),
            }
        }
    }
}

fn stored_id(s: &Stored) -> &str {
    s.doc.get("id").and_then(Value::as_str).unwrap_or_default()
}

fn set_etag(resp: &mut Response, stored: &Stored) {
    if let Ok(v) = HeaderValue::from_str(&stored.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

fn resource_response(
    status: StatusCode,
    kind: ResourceKind,
    stored: &Stored,
    p: &Projection,
) -> Response {
    let mut resp = scim_response(status, &p.apply(kind, &stored.doc));
    set_etag(&mut resp, stored);
    resp
}

fn discovery_doc(
    id: Option<String>,
    doc: impl Fn(ResourceKind) -> Value,
    is: impl Fn(ResourceKind, &str) -> bool,
) -> Result<Response, EmulatorError> {
    match id {
        Some(id) => {
            let kind = KINDS
                .into_iter()
                .find(|&k| is(k, &id))
                .ok_or_else(|| EmulatorError::not_found(format!("'{id}' not found")))?;
            Ok(scim_response(StatusCode::OK, &doc(kind)))
        }
        None => {
            let resources: Vec<Value> = KINDS.into_iter().map(doc).collect();
            Ok(scim_response(
                StatusCode::OK,
                &json!({
                    "schemas": [LIST_RESPONSE],
                    "totalResults": resources.len(),
                    "itemsPerPage": resources.len(),
                    "startIndex": 1,
                    "Resources": resources,
                }),
            ))
        }
    }
}

/// Parameters of a list or search request.
#[derive(Debug, Default)]
struct ListParams {
    filter: Option<String>,
    sort_by: Option<String>,
    descending: bool,
    start_index: usize,
    count: Option<usize>,
    projection: Projection,
}

fn parse_int(name: &str, v: &str) -> Result<i64, EmulatorError> {
    v.trim().parse::<i64>().map_err(|_| {
        EmulatorError::invalid_value(format!("'{name}' must be an integer, not '{v}'"))
    })
}

impl ListParams {
    fn from_query(q: &HashMap<String, String>) -> Result<Self, EmulatorError> {
        let start = q
            .get("startIndex")
            .map(|v| parse_int("startIndex", v))
            .transpose()?;
        let count = q.get("count").map(|v| parse_int("count", v)).transpose()?;
        Ok(Self {
            filter: q.get("filter").cloned(),
            sort_by: q.get("sortBy").cloned(),
            descending: q
                .get("sortOrder")
                .is_some_and(|o| o.eq_ignore_ascii_case("descending")),
            start_index: usize::try_from(start.unwrap_or(1).max(1)).unwrap_or(1),
            count: count.map(|c| usize::try_from(c.max(0)).unwrap_or(0)),
            projection: Projection::from_query(q),
        })
    }
}

/// Reads a SearchRequest body (RFC 7644 §3.4.3).
fn search_params(body: &Value) -> Result<ListParams, EmulatorError> {
    let obj = body.as_object().ok_or_else(|| {
        EmulatorError::new(
            400,
            Some("invalidSyntax"),
            "a SearchRequest must be an object",
        )
    })?;
    let mut q = HashMap::new();
    for key in [
        "filter",
        "sortBy",
        "sortOrder",
        "startIndex",
        "count",
        "attributes",
        "excludedAttributes",
    ] {
        let text = match get_ci(obj, key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(EmulatorError::invalid_value(format!(
                    "bad '{key}': {other}"
                )));
            }
        };
        q.insert(key.to_string(), text);
    }
    ListParams::from_query(&q)
}

/// Answers a list or search over one kind, or both (root `/.search`).
fn list(
    store: &OrgStore,
    kind: Option<ResourceKind>,
    params: &ListParams,
    page_size_max: usize,
) -> Result<Response, EmulatorError> {
    let kinds: Vec<ResourceKind> = kind.map_or_else(|| KINDS.to_vec(), |k| vec![k]);
    // Root `/.search` spans both kinds: a filter that only parses for one
    // of them (e.g. a `members` path) just finds nothing in the other.
    let mut searches: Vec<(ResourceKind, Option<Filter>)> = Vec::new();
    let mut first_error = None;
    for &k in &kinds {
        match params
            .filter
            .as_deref()
            .map(|f| parse_filter(k, f))
            .transpose()
        {
            Ok(f) => searches.push((k, f)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if searches.is_empty()
        && let Some(e) = first_error
    {
        return Err(EmulatorError::invalid_filter(e.0));
    }
    let sort = params
        .sort_by
        .as_deref()
        .map(|s| -> Result<Sort, EmulatorError> {
            let p = parse_attr_path(kinds.first().copied().unwrap_or(ResourceKind::User), s)
                .map_err(|e| EmulatorError::invalid_value(format!("bad sortBy: {}", e.0)))?;
            Ok(Sort {
                attr: p.attr,
                sub: p.sub,
                descending: params.descending,
            })
        })
        .transpose()?;
    let count = params.count.unwrap_or(page_size_max).min(page_size_max);
    let mut skip = params.start_index - 1;
    let mut remaining = count;
    let mut total = 0;
    let mut resources = Vec::new();
    for (k, f) in &searches {
        let coll = store.collection(*k);
        let (n, page) = coll.query(f.as_ref(), sort.as_ref(), skip, remaining);
        total += n;
        skip = skip.saturating_sub(n);
        remaining -= page.len();
        resources.extend(
            page.into_iter()
                .map(|s| params.projection.apply(*k, &s.doc)),
        );
    }
    Ok(scim_response(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "itemsPerPage": resources.len(),
            "startIndex": params.start_index,
            "Resources": resources,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_paths() {
        assert_eq!(route("/Users"), Route::Collection(ResourceKind::User));
        assert_eq!(
            route("/Users/abc"),
            Route::Item(ResourceKind::User, "abc".into())
        );
        assert_eq!(
            route("/Groups/.search"),
            Route::Search(Some(ResourceKind::Group))
        );
        assert_eq!(
            route("/Schemas/urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Acore%3A2.0%3AUser"),
            Route::Schemas(Some(schemas::USER_SCHEMA.into()))
        );
        assert_eq!(route("/Nope"), Route::NotFound);
        assert_eq!(
            split_org("/api/scim/v2/o1/Users"),
            (Some("o1".into()), "/Users".into())
        );
    }
}
