//! Turning loose vendor values into model values the same way in every
//! adapter: optional text (trimmed; blank is absent), scalars as attribute
//! text, and a group's member records as a team of sorted user ids.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::SourceGroup;

/// `text` trimmed, or `None` when absent or blank: a blank email or name
/// is no email or name.
pub fn trimmed(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// A string, number or boolean as attribute text; `None` for null, arrays
/// and objects, which are no single value.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The scalars at the top level of a record, by key (nested values are
/// left out), for mapping templates.
pub fn top_scalars(record: &Value) -> BTreeMap<String, String> {
    let fields = record.as_object().into_iter().flatten();
    fields
        .filter_map(|(key, value)| Some((key.clone(), scalar(value)?)))
        .collect()
}

/// The user ids `user_id` reads from a group's member `records`, sorted and
/// without repeats. Records naming no user (devices, other member types,
/// unassigned role users) are counted in a debug log, so a team that looks
/// short can be explained.
pub fn member_ids(
    kind: &'static str,
    group: &str,
    records: &[Value],
    user_id: impl Fn(&Value) -> Option<String>,
) -> Vec<String> {
    let mut members: Vec<String> = records.iter().filter_map(user_id).collect();
    if members.len() < records.len() {
        let ignored = records.len() - members.len();
        tracing::debug!(
            source = kind,
            group,
            ignored,
            "Ignored member records that name no user."
        );
    }
    members.sort();
    members.dedup();
    members
}

/// A team as most vendors have it: no email, not built in.
pub fn team(id: String, name: String, members: Vec<String>) -> SourceGroup {
    SourceGroup {
        id,
        name,
        members,
        ..SourceGroup::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn loose_values_become_model_values() {
        assert_eq!(trimmed(Some(" Ada ")).as_deref(), Some("Ada"));
        assert_eq!((trimmed(Some(" ")), trimmed(None)), (None, None));
        let record = json!({"a": "x", "n": 3, "b": false, "z": null, "l": [1], "o": {"k": 1}});
        let pairs = [("a", "x"), ("b", "false"), ("n", "3")];
        let expected = BTreeMap::from(pairs.map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(top_scalars(&record), expected);
        assert!(top_scalars(&json!([1])).is_empty());
        let edges = [
            json!({"u": "b"}),
            json!({"d": 1}),
            json!({"u": "a"}),
            json!({"u": "b"}),
        ];
        let read = |edge: &Value| edge.get("u")?.as_str().map(str::to_owned);
        assert_eq!(member_ids("test", "g", &edges, read), ["a", "b"]);
        let group = team("g".into(), "G".into(), vec!["a".into()]);
        assert_eq!((group.email, group.built_in), (None, false));
    }
}
