//! Builders of JSON-schema fragments shared by every part of the schema.

use serde_json::{Map, Value, json};

pub(super) fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

pub(super) fn integer(minimum: u64, description: &str) -> Value {
    json!({"type": "integer", "minimum": minimum, "description": description})
}

pub(super) fn boolean(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

pub(super) fn duration(description: &str) -> Value {
    json!({"type": "string", "pattern": "^\\s*[0-9]+\\s*[a-zA-Z]+(\\s*[0-9]+\\s*[a-zA-Z]+)*\\s*$", "description": description})
}

pub(super) fn share(description: &str) -> Value {
    json!({"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%\\s*$", "description": description})
}

pub(super) fn count_or_share(description: &str) -> Value {
    json!({"oneOf": [{"type": "integer", "minimum": 0}, share("")], "description": description})
}

pub(super) fn one_of(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

pub(super) fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// A closed object: unknown keys are errors, as in the validator.
pub(super) fn object(properties: &[(&str, Value)], required: &[&str], description: &str) -> Value {
    let mut map = Map::new();
    for (key, value) in properties {
        map.insert((*key).to_string(), value.clone());
    }
    json!({
        "type": "object",
        "description": description,
        "properties": map,
        "required": required,
        "additionalProperties": false,
    })
}

pub(super) fn source(kind: &str, properties: &[(&str, Value)], required: &[&str]) -> Value {
    let mut all = vec![("type", json!({"const": kind}))];
    all.extend(properties.iter().cloned());
    if kind != "file" {
        all.extend(listing_limits());
    }
    // The scim source lists its own `proxy` among its properties.
    if !matches!(kind, "file" | "scim") {
        all.push((
            "proxy",
            string(
                "Proxy URL for this endpoint (default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY; never for loopback).",
            ),
        ));
    }
    let mut required_all = vec!["type"];
    required_all.extend_from_slice(required);
    object(
        &all,
        &required_all,
        &format!("Read users and groups from {kind}."),
    )
}

/// `max_wait`, `max_pages`, `max_body`: the bounds every HTTP source (and
/// the target) reads.
pub(super) fn listing_limits() -> Vec<(&'static str, Value)> {
    vec![max_wait(), max_pages(), max_body()]
}

pub(super) fn max_wait() -> (&'static str, Value) {
    (
        "max_wait",
        duration(
            "Longest Retry-After or rate-limit reset honoured; longer fails at once (default 1h).",
        ),
    )
}

pub(super) fn max_pages() -> (&'static str, Value) {
    (
        "max_pages",
        integer(1, "Most pages one listing may take (default 100000)."),
    )
}

pub(super) fn max_body() -> (&'static str, Value) {
    (
        "max_body",
        json!({"type": ["integer", "string"], "description": "Largest response body of one request: bytes or e.g. \"64MiB\" (default 64MiB)."}),
    )
}

/// A secret key: a literal or `${ENV_VAR}`, or its `_file` twin.
pub(super) fn secret(what: &str) -> Value {
    string(&format!(
        "{what}: a literal or ${{ENV_VAR}} (or use the _file key)"
    ))
}

/// The `_file` twin of a secret key.
pub(super) fn secret_file(what: &str) -> Value {
    string(&format!(
        "{what} from a file (relative: $CREDENTIALS_DIRECTORY)"
    ))
}

/// `timeout` of one request to the IdP.
pub(super) fn timeout() -> Value {
    duration("Time allowed for one request (e.g. 30s).")
}

/// `requests_per_second`: our own ceiling.
pub(super) fn rps() -> Value {
    let mut field = integer(1, "Our own ceiling on requests per second to the IdP.");
    field["maximum"] = json!(1000);
    field
}

/// `full_sync_every` of the incremental sources.
pub(super) fn full() -> Value {
    duration("Re-read everything at least this often (e.g. 24h).")
}
