//! Graph and Microsoft identity platform wire types, as far as the adapter
//! reads them. Users are kept as JSON maps (see [`UserRecord`]) because a
//! delta record may omit properties, and "absent" must differ from "null".

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

/// One page of a Graph collection or delta round.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The records of this page.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page of this listing or round (opaque, GET unchanged).
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// Present on the last page of a delta round: where the next round starts.
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// A user record from `/users/delta`: the selected properties, or only
/// `id` and `@removed` for a deleted user.
pub type UserRecord = Map<String, Value>;

/// `@removed` on a delta record: `{"reason": "changed"}` (soft-deleted,
/// restorable) or `"deleted"`; either way the object left the directory,
/// so its content is not read.
pub type Removed = IgnoredAny;

/// A group record from `/groups/delta?$select=displayName,members`.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupRecord {
    /// Immutable object id.
    pub id: String,
    /// Name; may be absent when only the membership changed.
    #[serde(rename = "displayName", default)]
    pub display_name: Option<String>,
    /// Membership changes (the whole membership in a fresh round).
    #[serde(rename = "members@delta", default)]
    pub members_delta: Vec<MemberChange>,
    /// Set when the group was deleted.
    #[serde(rename = "@removed", default)]
    pub removed: Option<Removed>,
}

/// One entry of `members@delta`.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberChange {
    /// `#microsoft.graph.user`, `#microsoft.graph.group`, devices, contacts…
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    /// Object id of the member.
    pub id: String,
    /// Set when the member left the group.
    #[serde(rename = "@removed", default)]
    pub removed: Option<Removed>,
}

/// `@odata.type` of users in member listings.
pub const ODATA_USER: &str = "#microsoft.graph.user";
/// `@odata.type` of groups in member listings.
pub const ODATA_GROUP: &str = "#microsoft.graph.group";

/// An entry of `/servicePrincipals/{id}/appRoleAssignedTo`.
#[derive(Debug, Clone, Deserialize)]
pub struct AppRoleAssignment {
    /// Object id of the assigned user, group or service principal.
    #[serde(rename = "principalId")]
    pub principal_id: String,
    /// `User`, `Group` or `ServicePrincipal`.
    #[serde(rename = "principalType", default)]
    pub principal_type: Option<String>,
}

/// A Graph error body: `{"error": {"code", "message"}}`.
#[derive(Debug, Deserialize)]
pub struct GraphErrorBody {
    /// The error.
    pub error: GraphError,
}

/// The inner Graph error.
#[derive(Debug, Deserialize)]
pub struct GraphError {
    /// Machine-readable code (`syncStateNotFound`, `InvalidAuthenticationToken`).
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
}
