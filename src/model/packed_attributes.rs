//! A user's desired attributes in one allocation.
//!
//! The desired state holds every user in scope, a million for the largest
//! customers, and a run changes almost none of them. [`UserAttributes`]
//! spends six allocations per user; [`PackedAttributes`] keeps the same text
//! in one string with the field boundaries beside it, so mapping a user is
//! one allocation and the planner compares it with the snapshot field by
//! field without decoding either side. Only a changed user is unpacked.

use std::fmt;

use super::UserAttributes;

/// Index of the fields read one by one, in [`UserAttributes::text_fields`] order.
const USER_NAME: usize = 0;
const DISPLAY_NAME: usize = 3;
const EMAIL: usize = 4;
const EXTERNAL_ID: usize = 5;
/// Text fields of a [`UserAttributes`].
pub const TEXT_FIELDS: usize = 6;

/// [`UserAttributes`] packed: equal exactly when the attributes are equal.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PackedAttributes {
    /// The six text fields, concatenated in [`UserAttributes`] order.
    text: Box<str>,
    /// End offset of each field in `text`; the top bit of the last one
    /// is `active` (a text is far below 2 GiB: mapping caps each field),
    /// which keeps the value at five words for a million users.
    ends: [u32; TEXT_FIELDS],
}

/// The bit of the last end offset that holds `active`.
const ACTIVE_BIT: u32 = 1 << 31;

impl PackedAttributes {
    /// Packs the six text fields (in [`UserAttributes`] order) and `active`.
    pub fn from_fields(fields: [&str; TEXT_FIELDS], active: bool) -> Self {
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0u32; TEXT_FIELDS];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.push_str(field);
            // Mapping caps every field's length; a text past 2 GiB cannot
            // come from a real record, and saturating only shortens it.
            *end = u32::try_from(text.len())
                .unwrap_or(u32::MAX)
                .min(!ACTIVE_BIT);
        }
        if active {
            ends[TEXT_FIELDS - 1] |= ACTIVE_BIT;
        }
        PackedAttributes {
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// The six text fields in [`UserAttributes`] order.
    pub fn fields(&self) -> [&str; TEXT_FIELDS] {
        std::array::from_fn(|index| self.field(index))
    }

    fn end(&self, index: usize) -> usize {
        (self.ends[index] & !ACTIVE_BIT) as usize
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

    /// The six fields concatenated, and where each ends in it: what the
    /// snapshot compares in one piece.
    pub(crate) fn packed(&self) -> (&str, [u32; TEXT_FIELDS]) {
        (
            &self.text,
            std::array::from_fn(|index| self.end(index) as u32),
        )
    }

    /// SCIM `userName`.
    pub fn user_name(&self) -> &str {
        self.field(USER_NAME)
    }

    /// SCIM `emails[primary]`.
    pub fn email(&self) -> &str {
        self.field(EMAIL)
    }

    /// SCIM `externalId`.
    pub fn external_id(&self) -> &str {
        self.field(EXTERNAL_ID)
    }

    /// SCIM `displayName`.
    pub fn display_name(&self) -> &str {
        self.field(DISPLAY_NAME)
    }

    /// SCIM `active`.
    pub fn active(&self) -> bool {
        self.ends[TEXT_FIELDS - 1] & ACTIVE_BIT != 0
    }

    /// The attributes, owned (for the few users a run changes).
    pub fn unpack(&self) -> UserAttributes {
        UserAttributes::from_text_fields(self.fields(), self.active())
    }
}

impl From<&UserAttributes> for PackedAttributes {
    fn from(a: &UserAttributes) -> Self {
        PackedAttributes::from_fields(a.text_fields(), a.active)
    }
}

impl From<UserAttributes> for PackedAttributes {
    fn from(attributes: UserAttributes) -> Self {
        PackedAttributes::from(&attributes)
    }
}

impl fmt::Debug for PackedAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.unpack(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> UserAttributes {
        UserAttributes {
            user_name: "ada@example.com".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            display_name: "Ada Lovelace".into(),
            email: "ada@example.org".into(),
            external_id: "00u1".into(),
            active: true,
        }
    }

    #[test]
    fn packing_round_trips_every_field() {
        let packed = PackedAttributes::from(ada());
        assert_eq!(packed.unpack(), ada());
        assert_eq!(packed.user_name(), "ada@example.com");
        assert_eq!(packed.email(), "ada@example.org");
        assert_eq!(packed.external_id(), "00u1");
        assert_eq!(packed.display_name(), "Ada Lovelace");
        assert!(packed.active());
        let empty = UserAttributes::default();
        assert_eq!(PackedAttributes::from(&empty).unpack(), empty);
        assert_eq!(format!("{packed:?}"), format!("{:?}", ada()));
        let inactive = UserAttributes {
            active: false,
            ..ada()
        };
        assert_eq!(PackedAttributes::from(&inactive).unpack(), inactive);
        assert_eq!(std::mem::size_of::<PackedAttributes>(), 40);
    }

    #[test]
    fn equal_exactly_when_the_attributes_are_equal() {
        let packed = PackedAttributes::from(ada());
        assert_eq!(packed, PackedAttributes::from(ada()));
        let variants: [fn(&mut UserAttributes); 3] = [
            |a| a.active = false,
            |a| a.external_id.push('x'),
            // Same concatenated text, different boundary.
            |a| {
                a.given_name = "AdaL".into();
                a.family_name = "ovelace".into();
            },
        ];
        for change in variants {
            let mut other = ada();
            change(&mut other);
            assert_ne!(packed, PackedAttributes::from(&other), "{other:?}");
        }
    }
}
