//! Reading listing records the way every adapter does: a record that cannot
//! be read is skipped with a reason naming it (its id, else its position),
//! never fatal, so one odd record does not stop a run.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::SkippedRecord;

/// One record of a listing being read, named in its skip reasons.
pub struct Record {
    kind: &'static str,
    name: String,
}

impl Record {
    /// A `kind` record ("user", "group") named by its `id_key` field, else
    /// by `#position` in the listing.
    pub fn new(kind: &'static str, value: &Value, id_key: &str, position: usize) -> Self {
        let id = value.get(id_key).and_then(Value::as_str).map(Into::into);
        Self::named(kind, id, position)
    }

    /// A `kind` record named by `id` (read by the adapter), else by
    /// `#position`.
    pub fn named(kind: &'static str, id: Option<String>, position: usize) -> Self {
        let name = id.unwrap_or_else(|| format!("#{position}"));
        Record { kind, name }
    }

    /// The skip of this record, for `reason`.
    pub fn skip(&self, reason: impl Into<String>) -> SkippedRecord {
        SkippedRecord {
            kind: self.kind.into(),
            id: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// The record decoded as a wire type, or its skip: "`{what}` record
    /// cannot be read" (`what`: "the Okta user").
    pub fn decode<T: DeserializeOwned>(
        &self,
        value: Value,
        what: &str,
    ) -> Result<T, SkippedRecord> {
        serde_json::from_value(value)
            .map_err(|e| self.skip(format!("{what} record cannot be read: {e}")))
    }

    /// `Ok` if `text` (an id, a name) is not blank, else the skip for
    /// `reason`.
    pub fn nonblank(&self, text: &str, reason: &str) -> Result<(), SkippedRecord> {
        let blank = text.trim().is_empty();
        (!blank).then_some(()).ok_or_else(|| self.skip(reason))
    }
}

/// Every record of a listing `read` (given the record and its position),
/// with the skips moved to `skipped`.
pub fn read_all<T>(
    records: Vec<Value>,
    skipped: &mut Vec<SkippedRecord>,
    mut read: impl FnMut(Value, usize) -> Result<T, SkippedRecord>,
) -> Vec<T> {
    let records = records.into_iter().enumerate();
    let kept =
        records.map(|(position, record)| read(record, position).map_err(|s| skipped.push(s)));
    kept.filter_map(Result::ok).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(serde::Deserialize)]
    struct Wire {
        id: String,
    }

    #[test]
    fn a_bad_record_is_skipped_by_its_id_or_position() {
        let named = Record::new("user", &json!({"id": "u1", "x": 1}), "id", 4);
        let decoded: Result<Wire, _> = named.decode(json!({"id": 5}), "the Okta user");
        let skip = decoded.err().unwrap();
        assert_eq!((skip.kind.as_str(), skip.id.as_str()), ("user", "u1"));
        assert!(
            skip.reason
                .starts_with("the Okta user record cannot be read: ")
        );
        let unnamed = Record::new("group", &json!({}), "_id", 7);
        assert!(unnamed.nonblank("g1", "blank").is_ok());
        let blank = unnamed.nonblank(" ", "blank").unwrap_err();
        assert_eq!((blank.id.as_str(), blank.reason.as_str()), ("#7", "blank"));
        let mut skipped = vec![blank];
        let records = vec![json!({"id": "a"}), json!({}), json!({"id": "c"})];
        let kept = read_all(records, &mut skipped, |value, position| {
            let record = Record::new("user", &value, "id", position);
            let wire: Wire = record.decode(value, "the Okta user")?;
            Ok(wire.id)
        });
        assert_eq!(kept, ["a", "c"]);
        assert_eq!(skipped[1].id, "#1");
    }
}
