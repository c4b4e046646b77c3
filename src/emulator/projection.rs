//! Projection of a resource by `attributes` / `excludedAttributes`: which
//! attributes (and sub-attributes) a response carries.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::filter::parse_attr_path;
use super::schemas::ResourceKind;

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5).
#[derive(Debug, Default)]
pub(super) struct Projection {
    attributes: Vec<String>,
    excluded: Vec<String>,
    /// Either parameter was present (even empty): PATCH then answers 200
    /// with the resource instead of 204.
    pub(super) requested: bool,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Projection {
    pub(super) fn from_query(params: &HashMap<String, String>) -> Self {
        Self {
            requested: params.contains_key("attributes")
                || params.contains_key("excludedAttributes"),
            attributes: params
                .get("attributes")
                .map(|s| split_list(s))
                .unwrap_or_default(),
            excluded: params
                .get("excludedAttributes")
                .map(|s| split_list(s))
                .unwrap_or_default(),
        }
    }

    /// Requested paths that apply to this kind, as (attr, sub).
    fn paths(kind: ResourceKind, list: &[String]) -> Vec<(String, Option<String>)> {
        list.iter()
            .filter_map(|p| parse_attr_path(kind, p).ok())
            .map(|p| (p.attr, p.sub))
            .collect()
    }

    pub(super) fn apply(&self, kind: ResourceKind, doc: &Map<String, Value>) -> Value {
        if !self.attributes.is_empty() {
            let mut wanted: HashMap<String, Option<Vec<String>>> = HashMap::new();
            for (attr, sub) in Self::paths(kind, &self.attributes) {
                let Some(key) = doc.keys().find(|k| k.eq_ignore_ascii_case(&attr)) else {
                    continue;
                };
                let entry = wanted
                    .entry(key.clone())
                    .or_insert_with(|| Some(Vec::new()));
                match (entry.as_mut(), sub) {
                    (Some(subs), Some(s)) => subs.push(s),
                    _ => *entry = None,
                }
            }
            let mut out = Map::new();
            for key in ["schemas", "id"] {
                if let Some(v) = doc.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            for (key, subs) in wanted {
                let Some(v) = doc.get(&key) else { continue };
                let keep = |item: &Value| match (item, &subs) {
                    (Value::Object(o), Some(subs)) => Value::Object(
                        o.iter()
                            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    (v, _) => v.clone(),
                };
                let projected = match v {
                    Value::Array(a) => Value::Array(a.iter().map(keep).collect()),
                    v => keep(v),
                };
                out.insert(key, projected);
            }
            return Value::Object(out);
        }
        let mut out = doc.clone();
        for (attr, sub) in Self::paths(kind, &self.excluded) {
            if attr.eq_ignore_ascii_case("id") || attr.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let Some(key) = out.keys().find(|k| k.eq_ignore_ascii_case(&attr)).cloned() else {
                continue;
            };
            match sub {
                None => {
                    out.remove(&key);
                }
                Some(s) => {
                    if let Some(v) = out.get_mut(&key) {
                        let strip = |item: &mut Value| {
                            if let Value::Object(o) = item {
                                o.retain(|k, _| !k.eq_ignore_ascii_case(&s));
                            }
                        };
                        match v {
                            Value::Array(a) => a.iter_mut().for_each(strip),
                            v => strip(v),
                        }
                    }
                }
            }
        }
        Value::Object(out)
    }
}
