//! Provider-neutral directory model.
//!
//! Every source adapter yields these types and nothing else, so mapping,
//! planning and applying never learn which vendor the data came from.

mod packed_attributes;

pub use packed_attributes::PackedAttributes;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A user as the identity provider describes it, before mapping.
///
/// `id` is the provider's immutable id: it keys the snapshot, so an email or
/// name change is an update of the same Penvio user, never a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceUser {
    /// Immutable id in the identity provider.
    pub id: String,
    /// Primary email; users without one cannot be provisioned and are skipped.
    pub email: Option<String>,
    /// First name.
    pub given_name: Option<String>,
    /// Last name.
    pub family_name: Option<String>,
    /// Display name; composed from the names when absent.
    pub display_name: Option<String>,
    /// Whether the provider considers the user active (after the adapter's
    /// vendor-specific status mapping).
    pub active: bool,
    /// Further raw vendor fields (dotted paths, e.g. `profile.login`), so
    /// mapping overrides can use fields the neutral model does not name.
    pub attributes: BTreeMap<String, String>,
}

/// A group as the identity provider describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceGroup {
    /// Immutable id in the identity provider.
    pub id: String,
    /// Group name as shown to admins; matched against `scope` patterns.
    pub name: String,
    /// The group's email address where the vendor has one (Google); `scope`
    /// patterns match it as well as the name, since Google admins know
    /// groups by their address. Not serialized (`None` when read back): the
    /// source cache stores directories as postcard, which has no optional
    /// fields, so a new field would make every cache written before it
    /// unreadable. Only Google fills it, and Google reads in full each run
    /// (no cache); an incremental adapter that fills it needs a cache
    /// format change first.
    #[serde(skip)]
    pub email: Option<String>,
    /// Ids of the member users (direct members, or flattened where the
    /// adapter's vendor nests groups).
    pub members: Vec<String>,
    /// A group the IdP manages itself (Okta's BUILT_IN "Everyone"): it
    /// becomes a team only when `scope.team_groups` names it exactly, never
    /// through a glob like the default `*`.
    #[serde(default)]
    pub built_in: bool,
}

/// A complete fetch of one directory.
///
/// A `Directory` only exists for a fetch that fully succeeded: adapters
/// return an error for any failed page, so a partial listing can never be
/// mistaken for deleted users (invariant 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Directory {
    /// Every user the source returned.
    pub users: Vec<SourceUser>,
    /// Every group the source returned.
    pub groups: Vec<SourceGroup>,
    /// Records the adapter could not read (bad values), each skipped with
    /// its reason; the rest of the directory is still complete.
    pub skipped: Vec<SkippedRecord>,
}

/// A record left out of the run, and why, so the admin can fix it at the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    /// `user` or `group`.
    pub kind: String,
    /// The record's source id (or its position when it has none).
    pub id: String,
    /// Human-readable reason.
    pub reason: String,
}

/// The Penvio attributes penvio-sync manages for a user, after mapping.
///
/// These are exactly what gets sent and what the snapshot remembers, so a
/// change in any of them (and only them) produces an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
pub struct UserAttributes {
    /// SCIM `userName`: the user's email in Penvio, unique per org.
    pub user_name: String,
    /// SCIM `name.givenName`.
    pub given_name: String,
    /// SCIM `name.familyName`.
    pub family_name: String,
    /// SCIM `displayName`.
    pub display_name: String,
    /// SCIM `emails[primary]`.
    pub email: String,
    /// SCIM `externalId`: the source's immutable id.
    pub external_id: String,
    /// SCIM `active`.
    pub active: bool,
}

impl UserAttributes {
    /// The six text attributes in declaration order: the order every packed
    /// form (desired state, snapshot) keeps them in.
    pub fn text_fields(&self) -> [&str; 6] {
        [
            &self.user_name,
            &self.given_name,
            &self.family_name,
            &self.display_name,
            &self.email,
            &self.external_id,
        ]
    }

    /// Attributes from the six text fields of [`Self::text_fields`] and `active`.
    pub fn from_text_fields(fields: [&str; 6], active: bool) -> Self {
        let [
            user_name,
            given_name,
            family_name,
            display_name,
            email,
            external_id,
        ] = fields.map(str::to_string);
        UserAttributes {
            user_name,
            given_name,
            family_name,
            display_name,
            email,
            external_id,
            active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_email_leaves_the_cached_layout_unchanged() {
        // The layout before `email`: source caches written by older
        // versions must still decode.
        #[derive(Serialize)]
        struct Before<'a> {
            id: &'a str,
            name: &'a str,
            members: Vec<&'a str>,
            built_in: bool,
        }
        let old = postcard::to_stdvec(&Before {
            id: "g1",
            name: "Eng",
            members: vec!["u1"],
            built_in: false,
        })
        .unwrap();
        let group: SourceGroup = postcard::from_bytes(&old).unwrap();
        assert_eq!(group.name, "Eng");
        assert_eq!(group.members, ["u1"]);
        assert_eq!(group.email, None);
        let with_email = SourceGroup {
            email: Some("eng@example.com".into()),
            ..group.clone()
        };
        assert_eq!(postcard::to_stdvec(&with_email).unwrap(), old);
    }
}
