//! A managed user as the loaded snapshot holds it: one allocation per user.
//!
//! A snapshot holds every managed user, a million for the largest customers,
//! and nearly all of them are unchanged on any run. [`UserRecord`] spends
//! seven allocations per user (and ~350 bytes); [`StoredUser`] keeps the same
//! text in one string with the field boundaries beside it, so loading is a
//! copy per row and the planner compares fields without decoding anything.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::UserRecord;
use crate::model::{PackedAttributes, UserAttributes};

/// Index of each text field in [`StoredUser::text`], in storage order.
const PENVIO_ID: usize = 0;
const USER_NAME: usize = 1;
const GIVEN_NAME: usize = 2;
const FAMILY_NAME: usize = 3;
const DISPLAY_NAME: usize = 4;
const EMAIL: usize = 5;
const EXTERNAL_ID: usize = 6;
const FIELDS: usize = 7;

/// `deactivated_at` of a user the agent has not deactivated.
const NOT_DEACTIVATED: i64 = i64::MIN;

/// A deactivation time as stored: the one value no clock gives (the
/// smallest `i64`, 292 billion years ago) moves up a second to stay a time.
fn clamp_time(at: i64) -> i64 {
    at.max(NOT_DEACTIVATED + 1)
}

/// The bit of the first end offset that holds `active` (a text is far below
/// 2 GiB: mapping caps every attribute, a row is read from a bounded file).
const ACTIVE_BIT: u32 = 1 << 31;

/// The stored offsets of `ends` (the end of every field, the last one
/// included) with `active`, or `None` when the text is 2 GiB or more.
fn pack_ends(ends: [usize; FIELDS], active: bool) -> Option<[u32; FIELDS - 1]> {
    if ends[FIELDS - 1] >= ACTIVE_BIT as usize {
        return None;
    }
    let mut packed: [u32; FIELDS - 1] = std::array::from_fn(|i| ends[i] as u32);
    if active {
        packed[0] |= ACTIVE_BIT;
    }
    Some(packed)
}

/// A [`UserRecord`] packed for the in-memory snapshot.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// The seven text fields, concatenated in the order of the constants above.
    text: Box<str>,
    /// End offset of each field in `text` but the last (which ends with
    /// it); the top bit of the first is `active`. A million users are held
    /// at once: these two save a word each.
    ends: [u32; FIELDS - 1],
    /// Unix seconds, [`NOT_DEACTIVATED`] for none: half the size of an
    /// `Option<i64>`, for a million users.
    deactivated_at: i64,
}

/// A borrowed [`UserRecord`]: the same serde shape (postcard is positional,
/// so the field order must match), decoded from a stored row without
/// allocating.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UserRecordRef<'a> {
    #[serde(borrow)]
    penvio_id: &'a str,
    #[serde(borrow)]
    attributes: UserAttributesRef<'a>,
    deactivated_at: Option<i64>,
}

/// A borrowed [`UserAttributes`], field for field.
#[derive(Debug, Serialize, Deserialize)]
struct UserAttributesRef<'a> {
    user_name: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    display_name: &'a str,
    email: &'a str,
    external_id: &'a str,
    active: bool,
}

impl StoredUser {
    fn pack(fields: [&str; FIELDS], active: bool, deactivated_at: Option<i64>) -> Self {
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0usize; FIELDS];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.push_str(field);
            *end = text.len();
        }
        // Fields are length-capped by mapping; a text past 2 GiB cannot come
        // from a real record, and cutting the offsets only shortens it.
        let ends = pack_ends(ends, active).unwrap_or_else(|| {
            let mut cut = [0; FIELDS - 1];
            cut[0] = u32::from(active) << 31;
            cut
        });
        StoredUser {
            text: text.into_boxed_str(),
            ends,
            deactivated_at: deactivated_at.map_or(NOT_DEACTIVATED, clamp_time),
        }
    }

    /// Packs fields read from a stored row, each given as pieces of bytes
    /// (the row rebuilds some fields from others, e.g. the display name from
    /// the given and family names). The text is checked as UTF-8 once, whole,
    /// and no field may end inside a character.
    pub(crate) fn pack_row_parts(
        fields: [&[&[u8]]; FIELDS],
        active: bool,
        deactivated_at: Option<i64>,
    ) -> Result<Self, String> {
        let len = fields
            .iter()
            .flat_map(|parts| parts.iter())
            .map(|p| p.len())
            .sum();
        let mut bytes = Vec::with_capacity(len);
        let mut ends = [0usize; FIELDS];
        for (end, parts) in ends.iter_mut().zip(fields) {
            for part in parts {
                bytes.extend_from_slice(part);
            }
            *end = bytes.len();
        }
        let ends_packed = pack_ends(ends, active).ok_or("the row's text exceeds 2 GiB")?;
        let text = String::from_utf8(bytes)
            .map_err(|e| format!("text is not UTF-8: {}", e.utf8_error()))?;
        if ends.iter().any(|&end| !text.is_char_boundary(end)) {
            return Err("a field ends inside a character".into());
        }
        Ok(StoredUser {
            text: text.into_boxed_str(),
            ends: ends_packed,
            deactivated_at: deactivated_at.map_or(NOT_DEACTIVATED, clamp_time),
        })
    }

    /// The seven text fields in storage order: penvio id, userName, given,
    /// family and display name, email, external id.
    pub(crate) fn fields(&self) -> [&str; FIELDS] {
        std::array::from_fn(|index| self.field(index))
    }

    pub(crate) fn from_ref(record: &UserRecordRef<'_>) -> Self {
        let a = &record.attributes;
        StoredUser::pack(
            [
                record.penvio_id,
                a.user_name,
                a.given_name,
                a.family_name,
                a.display_name,
                a.email,
                a.external_id,
            ],
            a.active,
            record.deactivated_at,
        )
    }

    pub(crate) fn as_ref(&self) -> UserRecordRef<'_> {
        UserRecordRef {
            penvio_id: self.field(PENVIO_ID),
            attributes: UserAttributesRef {
                user_name: self.field(USER_NAME),
                given_name: self.field(GIVEN_NAME),
                family_name: self.field(FAMILY_NAME),
                display_name: self.field(DISPLAY_NAME),
                email: self.field(EMAIL),
                external_id: self.field(EXTERNAL_ID),
                active: self.active(),
            },
            deactivated_at: self.deactivated_at(),
        }
    }

    /// Where field `index` ends in the text.
    fn end(&self, index: usize) -> usize {
        match self.ends.get(index) {
            Some(end) => (end & !ACTIVE_BIT) as usize,
            None => self.text.len(),
        }
    }

    fn field(&self, index: usize) -> &str {
        let start = match index {
            0 => 0,
            _ => self.end(index - 1),
        };
        // Offsets were taken at field boundaries of this very text, so the
        // slice always exists; the fallback only keeps this panic-free.
        self.text.get(start..self.end(index)).unwrap_or_default()
    }

    /// Packs what Penvio acknowledged for a user, without an intermediate
    /// [`UserRecord`].
    pub fn new(penvio_id: &str, attributes: &UserAttributes, deactivated_at: Option<i64>) -> Self {
        let [user_name, given, family, display, email, external_id] = attributes.text_fields();
        StoredUser::pack(
            [
                penvio_id,
                user_name,
                given,
                family,
                display,
                email,
                external_id,
            ],
            attributes.active,
            deactivated_at,
        )
    }

    /// The user's id in Penvio.
    pub fn penvio_id(&self) -> &str {
        self.field(PENVIO_ID)
    }

    /// The SCIM `userName` last acknowledged.
    pub fn user_name(&self) -> &str {
        self.field(USER_NAME)
    }

    /// The primary email last acknowledged.
    pub fn email(&self) -> &str {
        self.field(EMAIL)
    }

    /// Whether the user is active in Penvio.
    pub fn active(&self) -> bool {
        self.ends[0] & ACTIVE_BIT != 0
    }

    /// Unix seconds when the agent deactivated the user; `None` while active.
    pub fn deactivated_at(&self) -> Option<i64> {
        (self.deactivated_at != NOT_DEACTIVATED).then_some(self.deactivated_at)
    }

    /// Whether Penvio already holds exactly `wanted`: the planner's question
    /// for every user, answered without allocating.
    pub fn holds(&self, wanted: &PackedAttributes) -> bool {
        // Both keep the six attributes in the same order, one after the
        // other: the same text after the penvio id with the same field ends
        // is the same attributes.
        let (text, ends) = wanted.packed();
        let start = self.end(PENVIO_ID);
        self.active() == wanted.active()
            && self.text.get(start..) == Some(text)
            && (USER_NAME..EXTERNAL_ID)
                .zip(ends)
                .all(|(index, end)| self.end(index).checked_sub(start) == Some(end as usize))
    }

    /// The attributes last acknowledged, owned (for the few users a run changes).
    pub fn attributes(&self) -> UserAttributes {
        let [_, text @ ..] = self.fields();
        UserAttributes::from_text_fields(text, self.active())
    }

    /// The whole record, owned.
    pub fn record(&self) -> UserRecord {
        UserRecord {
            penvio_id: self.penvio_id().to_string(),
            attributes: self.attributes(),
            deactivated_at: self.deactivated_at(),
        }
    }
}

impl From<&UserRecord> for StoredUser {
    fn from(record: &UserRecord) -> Self {
        StoredUser::new(&record.penvio_id, &record.attributes, record.deactivated_at)
    }
}

impl From<UserRecord> for StoredUser {
    fn from(record: UserRecord) -> Self {
        StoredUser::from(&record)
    }
}

impl fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_ref(), f)
    }
}

/// Serialised exactly as [`UserRecord`], so `state export` shows the same
/// shape (the state file stores the compact `user_row` form instead).
impl Serialize for StoredUser {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(serializer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A user whose fields all differ, for the state module's tests.
    pub(crate) fn record() -> UserRecord {
        UserRecord {
            penvio_id: "2819c223-7f76-453a-919d-413861904646".into(),
            attributes: UserAttributes {
                user_name: "ada@example.com".into(),
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                display_name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                external_id: "00u1".into(),
                active: true,
            },
            deactivated_at: Some(1_780_000_000),
        }
    }

    #[test]
    fn packing_keeps_every_field_and_round_trips() {
        let original = record();
        let stored = StoredUser::from(&original);
        assert_eq!(stored.record(), original);
        assert_eq!(stored.penvio_id(), original.penvio_id);
        assert_eq!(stored.user_name(), "ada@example.com");
        assert_eq!(stored.email(), "ada@example.com");
        assert!(stored.active());
        assert_eq!(stored.deactivated_at(), Some(1_780_000_000));
        let empty = UserRecord {
            penvio_id: String::new(),
            attributes: UserAttributes::default(),
            deactivated_at: None,
        };
        assert_eq!(StoredUser::from(&empty).record(), empty);
        let ancient = UserRecord {
            deactivated_at: Some(i64::MIN),
            ..record()
        };
        assert_eq!(
            StoredUser::from(&ancient).deactivated_at(),
            Some(i64::MIN + 1),
            "still a time, never read back as active"
        );
        // 16 (text) + 24 (ends, `active` in a bit) + 8: two words less than
        // seven offsets, a flag and an `Option<i64>`.
        assert_eq!(std::mem::size_of::<StoredUser>(), 48);
    }

    #[test]
    fn the_borrowed_shape_reads_and_writes_the_stored_bytes_of_a_user_record() {
        let original = record();
        let bytes = postcard::to_stdvec(&original).unwrap();
        let borrowed: UserRecordRef<'_> = postcard::from_bytes(&bytes).unwrap();
        let stored = StoredUser::from_ref(&borrowed);
        assert_eq!(stored.record(), original);
        assert_eq!(postcard::to_stdvec(&stored).unwrap(), bytes);
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            serde_json::to_value(&original).unwrap()
        );
    }

    #[test]
    fn holds_notices_a_change_in_any_field_or_boundary() {
        let stored = StoredUser::from(&record());
        let same = record().attributes;
        assert!(stored.holds(&PackedAttributes::from(&same)));
        let variants: [fn(&mut UserAttributes); 8] = [
            |a| a.user_name.push('x'),
            |a| a.given_name.clear(),
            |a| a.family_name = "Byron".into(),
            |a| a.display_name = "Ada".into(),
            |a| a.email = "ada@example.org".into(),
            |a| a.external_id = "00u2".into(),
            |a| a.active = false,
            // Same concatenated text, different boundary.
            |a| {
                a.given_name = "AdaL".into();
                a.family_name = "ovelace".into();
            },
        ];
        for change in variants {
            let mut wanted = same.clone();
            change(&mut wanted);
            assert!(
                !stored.holds(&PackedAttributes::from(&wanted)),
                "{wanted:?}"
            );
        }
    }
}
