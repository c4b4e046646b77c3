//! The in-memory store: one collection per resource kind per org, with the
//! indexes that keep `userName eq`, `externalId eq` and `id eq` lookups
//! independent of the number of stored resources.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::error::EmulatorError;
use super::filter::{CompareOp, Filter, Scope, get_ci, matches};
use super::patch;
use super::schemas::{AttrDef, AttrType, Mutability, ResourceKind, find};
use crate::timestamp::rfc3339;

/// One stored resource: its full JSON representation plus bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub seq: u64,
    pub version: u64,
    pub doc: Map<String, Value>,
}

impl Stored {
    /// The weak ETag of the current version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// Sort request for list queries.
#[derive(Debug, Clone)]
pub(crate) struct Sort {
    pub attr: String,
    pub sub: Option<String>,
    pub descending: bool,
}

/// All resources of one kind in one org.
#[derive(Debug)]
pub(crate) struct Collection {
    kind: ResourceKind,
    docs: HashMap<String, Stored>,
    order: BTreeMap<u64, String>,
    next_seq: u64,
    by_user_name: HashMap<String, String>,
    by_external_id: HashMap<String, BTreeSet<String>>,
}

/// The data of one org.
#[derive(Debug)]
pub(crate) struct OrgStore {
    pub users: Collection,
    pub groups: Collection,
}

impl OrgStore {
    pub fn new() -> Self {
        Self {
            users: Collection::new(ResourceKind::User),
            groups: Collection::new(ResourceKind::Group),
        }
    }

    pub fn collection(&self, kind: ResourceKind) -> &Collection {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    pub fn collection_mut(&mut self, kind: ResourceKind) -> &mut Collection {
        match kind {
            ResourceKind::User => &mut self.users,
            ResourceKind::Group => &mut self.groups,
        }
    }
}

fn new_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Checks `If-Match` (RFC 7644 §3.14): a stale version is a 412.
fn check_if_match(stored: &Stored, if_match: Option<&str>) -> Result<(), EmulatorError> {
    let Some(want) = if_match else {
        return Ok(());
    };
    let current = stored.etag();
    let ok = want.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag == current
            || tag.trim_start_matches("W/") == current.trim_start_matches("W/")
    });
    if ok {
        Ok(())
    } else {
        Err(EmulatorError::new(
            412,
            None,
            format!("If-Match {want} does not match the current version {current}"),
        ))
    }
}

impl Collection {
    fn new(kind: ResourceKind) -> Self {
        Self {
            kind,
            docs: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            by_user_name: HashMap::new(),
            by_external_id: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn get(&self, id: &str) -> Option<&Stored> {
        self.docs.get(id)
    }

    /// All resources in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Stored> {
        self.order.values().filter_map(|id| self.docs.get(id))
    }

    fn check_unique(
        &self,
        attrs: &Map<String, Value>,
        own_id: Option<&str>,
    ) -> Result<(), EmulatorError> {
        if self.kind != ResourceKind::User {
            return Ok(());
        }
        let Some(name) = attrs.get("userName").and_then(Value::as_str) else {
            return Ok(());
        };
        match self.by_user_name.get(&name.to_lowercase()) {
            Some(holder) if Some(holder.as_str()) != own_id => Err(EmulatorError::new(
                409,
                Some("uniqueness"),
                format!("userName '{name}' is already taken by another user"),
            )),
            _ => Ok(()),
        }
    }

    fn index(&mut self, id: &str, attrs: &Map<String, Value>) {
        if let Some(name) = attrs.get("userName").and_then(Value::as_str) {
            self.by_user_name
                .insert(name.to_lowercase(), id.to_string());
        }
        if let Some(ext) = attrs.get("externalId").and_then(Value::as_str) {
            self.by_external_id
                .entry(ext.to_string())
                .or_default()
                .insert(id.to_string());
        }
    }

    fn unindex(&mut self, id: &str, doc: &Map<String, Value>) {
        if let Some(name) = doc.get("userName").and_then(Value::as_str) {
            let key = name.to_lowercase();
            if self.by_user_name.get(&key).is_some_and(|h| h == id) {
                self.by_user_name.remove(&key);
            }
        }
        if let Some(ext) = doc.get("externalId").and_then(Value::as_str)
            && let Some(set) = self.by_external_id.get_mut(ext)
        {
            set.remove(id);
            if set.is_empty() {
                self.by_external_id.remove(ext);
            }
        }
    }

    fn build_doc(&self, id: &str, attrs: Map<String, Value>, meta: Value) -> Map<String, Value> {
        let mut doc = attrs;
        doc.insert("schemas".into(), json!([self.kind.schema()]));
        doc.insert("id".into(), json!(id));
        doc.insert("meta".into(), meta);
        doc
    }

    /// Creates a resource from a request body (POST).
    pub fn create(&mut self, input: &Value, base_url: &str) -> Result<&Stored, EmulatorError> {
        let attrs = normalize(self.kind, input)?;
        self.check_unique(&attrs, None)?;
        let mut id = new_id();
        while self.docs.contains_key(&id) {
            id = new_id();
        }
        let now = rfc3339(SystemTime::now());
        let meta = json!({
            "resourceType": self.kind.name(),
            "created": now,
            "lastModified": now,
            "location": format!("{base_url}{}/{id}", self.kind.endpoint()),
            "version": "W/\"1\"",
        });
        self.index(&id, &attrs);
        let doc = self.build_doc(&id, attrs, meta);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, id.clone());
        let stored = self.docs.entry(id).or_insert(Stored {
            seq,
            version: 1,
            doc,
        });
        Ok(stored)
    }

    fn existing(&self, id: &str) -> Result<&Stored, EmulatorError> {
        self.docs
            .get(id)
            .ok_or_else(|| EmulatorError::not_found(format!("{} {id} not found", self.kind.name())))
    }

    /// Stores new attributes for an existing resource, bumping its version
    /// only when something changed.
    fn commit(&mut self, id: &str, attrs: Map<String, Value>) -> Result<&Stored, EmulatorError> {
        self.check_unique(&attrs, Some(id))?;
        if same_attributes(&self.existing(id)?.doc, &attrs) {
            return self.existing(id);
        }
        let Some(old) = self.docs.remove(id) else {
            return Err(EmulatorError::not_found(format!(
                "{} {id} not found",
                self.kind.name()
            )));
        };
        self.unindex(id, &old.doc);
        self.index(id, &attrs);
        let version = old.version + 1;
        let mut old_doc = old.doc;
        let mut meta = old_doc.remove("meta").unwrap_or_else(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("lastModified".into(), json!(rfc3339(SystemTime::now())));
            m.insert("version".into(), json!(format!("W/\"{version}\"")));
        }
        let doc = self.build_doc(id, attrs, meta);
        self.docs.insert(
            id.to_string(),
            Stored {
                seq: old.seq,
                version,
                doc,
            },
        );
        self.existing(id)
    }

    /// Replaces a resource (PUT).
    pub fn replace(
        &mut self,
        id: &str,
        input: &Value,
        if_match: Option<&str>,
    ) -> Result<&Stored, EmulatorError> {
        check_if_match(self.existing(id)?, if_match)?;
        let attrs = normalize(self.kind, input)?;
        self.commit(id, attrs)
    }

    /// Applies a PatchOp body (PATCH).
    pub fn patch(
        &mut self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<&Stored, EmulatorError> {
        let stored = self.existing(id)?;
        check_if_match(stored, if_match)?;
        let mut attrs = attributes_of(&stored.doc);
        patch::apply(self.kind, &mut attrs, body)?;
        let attrs = normalize(self.kind, &Value::Object(attrs))?;
        self.commit(id, attrs)
    }

    /// Deletes a resource (DELETE).
    pub fn delete(&mut self, id: &str, if_match: Option<&str>) -> Result<(), EmulatorError> {
        check_if_match(self.existing(id)?, if_match)?;
        if let Some(old) = self.docs.remove(id) {
            self.order.remove(&old.seq);
            self.unindex(id, &old.doc);
        }
        Ok(())
    }

    /// Ids an indexed equality in the filter narrows the search to, or
    /// `None` when the filter needs a scan.
    fn candidates(&self, filter: &Filter) -> Option<BTreeSet<String>> {
        match filter {
            Filter::Compare(path, CompareOp::Eq, Value::String(s)) if path.sub.is_none() => {
                let attr = path.attr.as_str();
                if attr.eq_ignore_ascii_case("id") {
                    Some(
                        self.docs
                            .get_key_value(s)
                            .map(|(k, _)| k.clone())
                            .into_iter()
                            .collect(),
                    )
                } else if attr.eq_ignore_ascii_case("userName") && self.kind == ResourceKind::User {
                    Some(
                        self.by_user_name
                            .get(&s.to_lowercase())
                            .cloned()
                            .into_iter()
                            .collect(),
                    )
                } else if attr.eq_ignore_ascii_case("externalId") {
                    Some(self.by_external_id.get(s).cloned().unwrap_or_default())
                } else {
                    None
                }
            }
            Filter::And(a, b) => match (self.candidates(a), self.candidates(b)) {
                (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
                (x, y) => x.or(y),
            },
            Filter::Or(a, b) => {
                let mut x = self.candidates(a)?;
                x.extend(self.candidates(b)?);
                Some(x)
            }
            _ => None,
        }
    }

    /// Resources matching a filter, sorted, with the total before paging.
    /// `start` is 0-based here.
    pub fn query(
        &self,
        filter: Option<&Filter>,
        sort: Option<&Sort>,
        start: usize,
        count: usize,
    ) -> (usize, Vec<&Stored>) {
        if filter.is_none() && sort.is_none() {
            return (self.len(), self.iter().skip(start).take(count).collect());
        }
        let mut hits = self.select(filter);
        if let Some(sort) = sort {
            hits.sort_by_cached_key(|s| sort_key(self.kind, &s.doc, sort));
            if sort.descending {
                hits.reverse();
                // Missing values still go last.
                let present = hits
                    .iter()
                    .filter(|s| sort_key(self.kind, &s.doc, sort).0 == 0)
                    .count();
                let missing = hits.len() - present;
                hits.rotate_left(missing);
            }
        }
        let total = hits.len();
        (total, hits.into_iter().skip(start).take(count).collect())
    }

    /// Resources matching a filter, in creation order.
    pub fn select(&self, filter: Option<&Filter>) -> Vec<&Stored> {
        let Some(filter) = filter else {
            return self.iter().collect();
        };
        let scope_match = |s: &&Stored| {
            matches(
                filter,
                &Scope {
                    doc: &s.doc,
                    defs: &[],
                    kind: Some(self.kind),
                },
            )
        };
        match self.candidates(filter) {
            Some(ids) => {
                let mut hits: Vec<&Stored> = ids
                    .iter()
                    .filter_map(|id| self.docs.get(id))
                    .filter(scope_match)
                    .collect();
                hits.sort_by_key(|s| s.seq);
                hits
            }
            None => self.iter().filter(scope_match).collect(),
        }
    }
}

/// Sort key: (0 = has a value / 1 = missing, comparable text).
fn sort_key(kind: ResourceKind, doc: &Map<String, Value>, sort: &Sort) -> (u8, String) {
    let def = kind.attr(&sort.attr);
    let Some(top) = get_ci(doc, &sort.attr) else {
        return (1, String::new());
    };
    let item = match top {
        Value::Array(a) => a
            .iter()
            .find(|v| v.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| a.first()),
        v => Some(v),
    };
    let sub = sort.sub.as_deref().or(if def.is_some_and(|d| d.multi) {
        Some("value")
    } else {
        None
    });
    let value = match (item, sub) {
        (Some(Value::Object(o)), Some(s)) => get_ci(o, s),
        (v, None) => v,
        _ => None,
    };
    let exact = def
        .and_then(|d| match sort.sub.as_deref() {
            Some(s) => find(d.sub, s),
            None => Some(d),
        })
        .is_some_and(|d| d.case_exact);
    match value {
        Some(Value::String(s)) if exact => (0, s.clone()),
        Some(Value::String(s)) => (0, s.to_lowercase()),
        Some(Value::Null) | None => (1, String::new()),
        Some(v) => (0, v.to_string()),
    }
}

/// Whether a stored document holds exactly these client-owned attributes
/// (it always has `schemas`, `id` and `meta` besides).
fn same_attributes(doc: &Map<String, Value>, attrs: &Map<String, Value>) -> bool {
    doc.len() == attrs.len() + 3 && attrs.iter().all(|(k, v)| doc.get(k) == Some(v))
}

/// The client-owned attributes of a stored document (no id, meta, schemas).
pub(crate) fn attributes_of(doc: &Map<String, Value>) -> Map<String, Value> {
    doc.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "meta" | "schemas"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Validates a request representation and reduces it to the supported
/// attributes under their canonical names. Read-only and unknown attributes
/// are ignored (RFC 7643 §7); wrongly typed values are `invalidValue`.
pub(crate) fn normalize(
    kind: ResourceKind,
    input: &Value,
) -> Result<Map<String, Value>, EmulatorError> {
    let obj = input.as_object().ok_or_else(|| {
        EmulatorError::new(400, Some("invalidSyntax"), "the body must be a JSON object")
    })?;
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case(kind.schema()) {
            // Core attributes nested under their schema URN.
            if let Value::Object(inner) = value {
                for (k, v) in inner {
                    put_attr(kind, &mut out, k, v)?;
                }
            }
            continue;
        }
        let name = super::schemas::strip_urn(kind, key);
        if let Some(name) = name {
            put_attr(kind, &mut out, &name, value)?;
        }
    }
    for def in kind.attrs().iter().filter(|d| d.required) {
        let ok = match out.get(def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !ok {
            return Err(EmulatorError::invalid_value(format!(
                "'{}' is required on a {}",
                def.name,
                kind.name()
            )));
        }
    }
    Ok(out)
}

fn put_attr(
    kind: ResourceKind,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), EmulatorError> {
    let Some(def) = find(kind.attrs(), key) else {
        return Ok(());
    };
    if def.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    if let Some(v) = convert(def, value)? {
        out.insert(def.name.to_string(), v);
    }
    Ok(())
}

/// Converts one attribute value, checking its type against the definition.
pub(crate) fn convert(def: &AttrDef, value: &Value) -> Result<Option<Value>, EmulatorError> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi {
        return convert_single(def, value);
    }
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let mut out: Vec<Value> = Vec::new();
    // Members are keyed by `value` (a team of 100k holds each user once);
    // other multi-valued attributes are short and compared whole.
    let mut member_ids: HashSet<String> = HashSet::new();
    for item in items {
        let Some(v) = convert_single(def, item)? else {
            continue;
        };
        let dup = match v.get("value").and_then(Value::as_str) {
            Some(key) if def.name == "members" => !member_ids.insert(key.to_string()),
            _ => out.contains(&v),
        };
        if !dup {
            out.push(v);
        }
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Array(out))
    })
}

fn convert_single(def: &AttrDef, value: &Value) -> Result<Option<Value>, EmulatorError> {
    match def.ty {
        AttrType::Complex => {
            let obj = value.as_object().ok_or_else(|| {
                EmulatorError::invalid_value(format!("'{}' must be a JSON object", def.name))
            })?;
            let mut out = Map::new();
            for (k, v) in obj {
                let Some(sub) = find(def.sub, k) else {
                    continue;
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = convert_single(sub, v)? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            Ok(if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            })
        }
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            other => Err(EmulatorError::invalid_value(format!(
                "'{}' must be a JSON boolean, not {other}",
                def.name
            ))),
        },
        AttrType::String | AttrType::Reference | AttrType::DateTime => match value {
            Value::String(_) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            other => Err(EmulatorError::invalid_value(format!(
                "'{}' must be a string, not {other}",
                def.name
            ))),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::emulator::filter::parse_filter;

    #[test]
    fn indexed_lookups_and_uniqueness() {
        let mut c = Collection::new(ResourceKind::User);
        for i in 0..1000 {
            c.create(
                &json!({"userName": format!("U{i}@x.com"), "externalId": format!("e{}", i % 10)}),
                "http://b",
            )
            .unwrap();
        }
        let f = parse_filter(ResourceKind::User, r#"userName eq "u7@X.COM""#).unwrap();
        assert_eq!(c.candidates(&f).map(|s| s.len()), Some(1));
        assert_eq!(c.query(Some(&f), None, 0, 10).0, 1);
        // An `or` of two indexed equalities narrows to their union: no scan.
        let f = parse_filter(
            ResourceKind::User,
            r#"userName eq "U7@x.com" or externalId eq "e3""#,
        )
        .unwrap();
        assert_eq!(c.candidates(&f).map(|s| s.len()), Some(101));
        assert_eq!(c.query(Some(&f), None, 0, 1000).0, 101);
        let f = parse_filter(ResourceKind::User, r#"externalId eq "e3""#).unwrap();
        assert_eq!(c.query(Some(&f), None, 0, 1000).0, 100);
        let err = c
            .create(&json!({"userName": "u1@x.COM"}), "http://b")
            .unwrap_err();
        assert_eq!(err.status, 409);
        let err = c
            .create(&json!({"userName": "z", "active": "False"}), "http://b")
            .unwrap_err();
        assert_eq!(err.scim_type, Some("invalidValue"));
    }
}
