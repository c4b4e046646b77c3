//! The LDAP entry decoders, public only for the property tests in
//! `tests/ldap_fuzz.rs`; not a stable API.

pub use super::decode::{
    Entry, account_expires_unix, entry_id, guid_to_string, read_user, uac_disabled,
};
pub use super::errors::{ad_bind_advice, ad_bind_subcode};
pub use super::members::normalize_dn;
pub use super::range::{RangeChunk, parse_range_attribute};
