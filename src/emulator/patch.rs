//! PATCH (RFC 7644 §3.5.2): add / replace / remove on the attributes of one
//! resource. The result is validated afterwards by `store::normalize`, so
//! this module only moves values around and checks paths and mutability.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::EmulatorError;
use super::filter::{CompareOp, Filter, PatchPath, get_ci, matches_value, parse_patch_path};
use super::schemas::{AttrDef, AttrType, Mutability, ResourceKind, find};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies every operation of a PatchOp body to `attrs`, in order.
pub(crate) fn apply(
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    body: &Value,
) -> Result<(), EmulatorError> {
    let body = body.as_object().ok_or_else(|| {
        EmulatorError::new(
            400,
            Some("invalidSyntax"),
            "the body must be a PatchOp object",
        )
    })?;
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            EmulatorError::invalid_value("a PatchOp needs a non-empty 'Operations' array")
        })?;
    for op in ops {
        let op = op
            .as_object()
            .ok_or_else(|| EmulatorError::invalid_value("each operation must be an object"))?;
        let name = get_ci(op, "op").and_then(Value::as_str).unwrap_or_default();
        let kind_op = match name.to_ascii_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => {
                return Err(EmulatorError::invalid_value(format!(
                    "unknown PATCH op '{name}'"
                )));
            }
        };
        let path = match get_ci(op, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.as_str()),
            Some(other) => {
                return Err(EmulatorError::invalid_path(format!(
                    "'path' must be a string, not {other}"
                )));
            }
        };
        let value = get_ci(op, "value").unwrap_or(&Value::Null);
        if kind_op == Op::Remove && !value.is_null() {
            return Err(EmulatorError::invalid_value(
                "a remove operation carries no value",
            ));
        }
        match path {
            Some(p) => {
                let parsed =
                    parse_patch_path(kind, p).map_err(|e| EmulatorError::invalid_path(e.0))?;
                apply_path(kind, attrs, kind_op, &parsed, value)?;
            }
            None if kind_op == Op::Remove => {
                return Err(EmulatorError::new(
                    400,
                    Some("noTarget"),
                    "a remove operation needs a 'path'",
                ));
            }
            None => apply_pathless(kind, attrs, kind_op, value)?,
        }
    }
    Ok(())
}

/// `{"op":"replace","value":{"active":false,"name.givenName":"x"}}` (Entra style).
fn apply_pathless(
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    op: Op,
    value: &Value,
) -> Result<(), EmulatorError> {
    let obj = value.as_object().ok_or_else(|| {
        EmulatorError::invalid_value("an operation without 'path' needs an object 'value'")
    })?;
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if key.eq_ignore_ascii_case(kind.schema()) && v.is_object() {
            apply_pathless(kind, attrs, op, v)?;
            continue;
        }
        let parsed = parse_patch_path(kind, key).map_err(|e| EmulatorError::invalid_path(e.0))?;
        apply_path(kind, attrs, op, &parsed, v)?;
    }
    Ok(())
}

fn resolve(
    kind: ResourceKind,
    path: &PatchPath,
) -> Result<(&'static AttrDef, Option<&'static AttrDef>), EmulatorError> {
    let def = kind.attr(&path.attr).ok_or_else(|| {
        EmulatorError::invalid_path(format!(
            "'{}' is not an attribute of {}",
            path.attr,
            kind.name()
        ))
    })?;
    if def.mutability == Mutability::ReadOnly {
        return Err(EmulatorError::new(
            400,
            Some("mutability"),
            format!("'{}' is read-only", def.name),
        ));
    }
    let sub = match path.sub.as_deref() {
        None => None,
        Some(s) => {
            let sub = find(def.sub, s).ok_or_else(|| {
                EmulatorError::invalid_path(format!(
                    "'{s}' is not a sub-attribute of '{}'",
                    def.name
                ))
            })?;
            if sub.mutability == Mutability::ReadOnly {
                return Err(EmulatorError::new(
                    400,
                    Some("mutability"),
                    format!("'{}.{}' is read-only", def.name, sub.name),
                ));
            }
            Some(sub)
        }
    };
    if path.filter.is_some() && !def.multi {
        return Err(EmulatorError::invalid_path(format!(
            "'{}' is not multi-valued",
            def.name
        )));
    }
    Ok((def, sub))
}

/// Renames the keys of an object value to the canonical sub-attribute names.
fn canonical_object(def: &AttrDef, value: &Value) -> Value {
    match value {
        Value::Object(o) if def.ty == AttrType::Complex => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let name = find(def.sub, k).map_or_else(|| k.clone(), |s| s.name.to_string());
                    (name, v.clone())
                })
                .collect(),
        ),
        v => v.clone(),
    }
}

/// Appends the items not already present. Members are compared by `value`
/// through a set, so adding a chunk to a huge team stays linear.
fn append_new(def: &AttrDef, list: &mut Vec<Value>, items: Vec<Value>) {
    if def.name == "members" {
        let mut ids: HashSet<String> = list
            .iter()
            .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_string))
            .collect();
        for item in items {
            match item.get("value").and_then(Value::as_str) {
                Some(v) if !ids.insert(v.to_string()) => {}
                _ => list.push(item),
            }
        }
        return;
    }
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                t.insert(k.clone(), v.clone());
            }
        }
        _ => *target = patch.clone(),
    }
}

fn no_target(path: &PatchPath) -> EmulatorError {
    EmulatorError::new(
        400,
        Some("noTarget"),
        format!("no value of '{}' matches the filter", path.attr),
    )
}

fn apply_path(
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: &Value,
) -> Result<(), EmulatorError> {
    let (def, sub) = resolve(kind, path)?;
    let key = def.name;
    if op != Op::Remove && value.is_null() {
        if op == Op::Replace && path.filter.is_none() && sub.is_none() {
            attrs.remove(key);
        }
        return Ok(());
    }
    match (&path.filter, sub) {
        (None, None) => {
            match op {
                Op::Remove => {
                    attrs.remove(key);
                }
                _ if def.multi => {
                    let items: Vec<Value> = match value {
                        Value::Array(a) => a.iter().map(|v| canonical_object(def, v)).collect(),
                        v => vec![canonical_object(def, v)],
                    };
                    if op == Op::Replace {
                        attrs.insert(key.into(), Value::Array(items));
                    } else {
                        let list = attrs.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                        if !list.is_array() {
                            *list = Value::Array(Vec::new());
                        }
                        if let Value::Array(list) = list {
                            append_new(def, list, items);
                        }
                    }
                }
                _ if def.ty == AttrType::Complex => {
                    let patch = canonical_object(def, value);
                    if !patch.is_object() {
                        return Err(EmulatorError::invalid_value(format!(
                            "'{key}' needs an object value"
                        )));
                    }
                    let target = attrs
                        .entry(key)
                        .or_insert_with(|| Value::Object(Map::new()));
                    merge(target, &patch);
                }
                _ => {
                    attrs.insert(key.into(), value.clone());
                }
            }
            Ok(())
        }
        (None, Some(sub)) => {
            if def.multi {
                // `emails.value` without a filter: every value of the attribute.
                let Some(Value::Array(list)) = attrs.get_mut(key) else {
                    return if op == Op::Remove {
                        Ok(())
                    } else {
                        Err(no_target(path))
                    };
                };
                for item in list.iter_mut().filter_map(Value::as_object_mut) {
                    set_sub(item, sub.name, op, value);
                }
                drop_empty(attrs, key);
                return Ok(());
            }
            if op == Op::Remove {
                if let Some(Value::Object(o)) = attrs.get_mut(key) {
                    o.remove(sub.name);
                }
                drop_empty(attrs, key);
                return Ok(());
            }
            let target = attrs
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(o) = target {
                o.insert(sub.name.into(), value.clone());
            }
            Ok(())
        }
        (Some(filter), sub) => {
            let list = match attrs.get_mut(key) {
                Some(Value::Array(list)) => list,
                _ => &mut Vec::new(),
            };
            let hits: Vec<usize> = list
                .iter()
                .enumerate()
                .filter(|(_, v)| matches_value(filter, v, def.sub))
                .map(|(i, _)| i)
                .collect();
            match (op, sub) {
                (Op::Remove, None) => {
                    let mut i = 0;
                    list.retain(|_| {
                        let keep = !hits.contains(&i);
                        i += 1;
                        keep
                    });
                }
                (Op::Remove, Some(sub)) => {
                    for &i in &hits {
                        if let Some(Value::Object(o)) = list.get_mut(i) {
                            o.remove(sub.name);
                        }
                    }
                }
                (_, None) => {
                    if hits.is_empty() {
                        return Err(no_target(path));
                    }
                    let patch = canonical_object(def, value);
                    for &i in &hits {
                        if let Some(item) = list.get_mut(i) {
                            merge(item, &patch);
                        }
                    }
                }
                (_, Some(sub)) => {
                    if hits.is_empty() {
                        // Entra: `emails[type eq "work"].value` on a user with no
                        // work email creates it.
                        let Filter::Compare(p, CompareOp::Eq, lit) = filter else {
                            return Err(no_target(path));
                        };
                        let Some(fsub) = find(def.sub, &p.attr).filter(|_| p.sub.is_none()) else {
                            return Err(no_target(path));
                        };
                        let mut item = Map::new();
                        item.insert(fsub.name.into(), lit.clone());
                        item.insert(sub.name.into(), value.clone());
                        list.push(Value::Object(item));
                        let list = std::mem::take(list);
                        attrs.insert(key.into(), Value::Array(list));
                        return Ok(());
                    }
                    for &i in &hits {
                        if let Some(Value::Object(o)) = list.get_mut(i) {
                            o.insert(sub.name.into(), value.clone());
                        }
                    }
                }
            }
            drop_empty(attrs, key);
            Ok(())
        }
    }
}

fn set_sub(item: &mut Map<String, Value>, sub: &str, op: Op, value: &Value) {
    if op == Op::Remove {
        item.remove(sub);
    } else {
        item.insert(sub.into(), value.clone());
    }
}

/// An emptied attribute is unassigned (RFC 7643 §2.5).
fn drop_empty(attrs: &mut Map<String, Value>, key: &str) {
    let empty = match attrs.get_mut(key) {
        Some(Value::Array(a)) => {
            a.retain(|v| !v.as_object().is_some_and(Map::is_empty));
            a.is_empty()
        }
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    };
    if empty {
        attrs.remove(key);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: ResourceKind, start: Value, ops: Value) -> Result<Value, EmulatorError> {
        let mut attrs = start.as_object().cloned().unwrap();
        apply(kind, &mut attrs, &json!({"Operations": ops}))?;
        Ok(Value::Object(attrs))
    }

    #[test]
    fn member_add_and_remove() {
        let g = json!({"displayName": "t", "members": [{"value": "a"}]});
        let out = run(
            ResourceKind::Group,
            g.clone(),
            json!([{"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "a"}, {"value": "b"}]));
        let out = run(
            ResourceKind::Group,
            out,
            json!([{"op": "remove", "path": "members[value eq \"a\"]"}]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "b"}]));
        let err = run(
            ResourceKind::Group,
            g,
            json!([{"op": "remove", "path": "members", "value": [{"value": "a"}]}]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some("invalidValue"));
    }

    #[test]
    fn user_paths() {
        let u = json!({"userName": "a", "emails": [{"value": "a@w", "type": "work"}]});
        let out = run(
            ResourceKind::User,
            u.clone(),
            json!([
                {"op": "replace", "value": {"active": false, "name.givenName": "Ada"}},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@w"},
                {"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@h"},
            ]),
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
        assert_eq!(out["name"]["givenName"], json!("Ada"));
        assert_eq!(
            out["emails"],
            json!([{"value": "b@w", "type": "work"}, {"value": "h@h", "type": "home"}])
        );
        for (ops, want) in [
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "nope", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "frob", "path": "userName", "value": "x"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq \"x\"]", "value": {"value": "q"}}]),
                "noTarget",
            ),
        ] {
            assert_eq!(
                run(ResourceKind::User, u.clone(), ops)
                    .unwrap_err()
                    .scim_type,
                Some(want)
            );
        }
    }
}
