//! A vendor record's scalars as dotted paths (`name.given`, `enabled`), so
//! mapping templates can name any raw field (`{attributes.<path>}`) the same
//! way whichever vendor it came from.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::source::kit::values::scalar;

/// Every string, boolean and number of `value` under its dotted path;
/// arrays, nulls and the objects whose key `skip` names are left out.
pub(crate) fn flatten_scalars(value: &Value, skip: fn(&str) -> bool) -> BTreeMap<String, String> {
    fn walk(
        prefix: &str,
        value: &Value,
        skip: fn(&str) -> bool,
        out: &mut BTreeMap<String, String>,
    ) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter().filter(|(key, _)| !skip(key)) {
                    let path = match prefix {
                        "" => key.clone(),
                        _ => format!("{prefix}.{key}"),
                    };
                    walk(&path, child, skip, out);
                }
            }
            _ => out.extend(scalar(value).map(|text| (prefix.to_string(), text))),
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, skip, &mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::flatten_scalars;

    #[test]
    fn scalars_get_dotted_paths_and_skipped_keys_and_arrays_are_left_out() {
        let record = json!({"name": {"given": "Ada"}, "enabled": true, "n": 3,
            "emails": ["a@x"], "gone": null, "_links": {"self": "x"}});
        let flat = flatten_scalars(&record, |key| key.starts_with('_'));
        let pairs: Vec<(&str, &str)> = flat.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [("enabled", "true"), ("n", "3"), ("name.given", "Ada")]
        );
    }
}
