//! `nested_groups`, a key of every source whose groups can hold groups
//! (Entra, PingOne): the type and its one reader.

use super::reader::{Ctx, MapReader, choice};

/// How group members that are groups themselves are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedGroups {
    /// A group's members are its users plus the users of every group nested
    /// in it, at any depth (what admins usually expect of a team).
    Flatten,
    /// Only users that are direct members count.
    Ignore,
}

/// The optional `nested_groups` key of `map`: `flatten` (the default) or
/// `ignore`.
pub(super) fn decode_nested_groups(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<NestedGroups> {
    match map.get("nested_groups") {
        Some(field) => choice(
            ctx,
            &field,
            &[
                ("flatten", NestedGroups::Flatten),
                ("ignore", NestedGroups::Ignore),
            ],
        ),
        None => Some(NestedGroups::Flatten),
    }
}
