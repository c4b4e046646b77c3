//! SCIM 2.0 protocol (RFC 7643/7644): the schema URNs, media type and wire
//! types penvio-sync sends and reads, nothing more. Shared by the Penvio
//! target, the SCIM source and the emulator, so the three never disagree on
//! a URN or a field name.

pub mod client;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::UserAttributes;

/// Core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// PATCH request message URN.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// List response message URN.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error message URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// SCIM media type.
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";

/// The body of `POST /Users`.
pub fn user_resource(attributes: &UserAttributes) -> Value {
    let mut name = serde_json::Map::new();
    if !attributes.given_name.is_empty() {
        name.insert("givenName".into(), json!(attributes.given_name));
    }
    if !attributes.family_name.is_empty() {
        name.insert("familyName".into(), json!(attributes.family_name));
    }
    json!({
        "schemas": [USER_SCHEMA],
        "userName": attributes.user_name,
        "externalId": attributes.external_id,
        "name": name,
        "displayName": attributes.display_name,
        "emails": emails_value(&attributes.email),
        "active": attributes.active,
    })
}

/// The `emails` attribute: one primary work address.
pub fn emails_value(email: &str) -> Value {
    json!([{"value": email, "type": "work", "primary": true}])
}

/// The body of `POST /Groups`.
pub fn group_resource(name: &str, external_id: &str, member_ids: &[String]) -> Value {
    let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
    json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "externalId": external_id,
        "members": members,
    })
}

/// One PATCH operation (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOperation {
    /// `add`, `replace` or `remove`.
    pub op: &'static str,
    /// Attribute path.
    pub path: String,
    /// Value; never present on `remove` (strict servers reject it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOperation {
    /// `replace` of one attribute.
    pub fn replace(path: impl Into<String>, value: Value) -> Self {
        PatchOperation {
            op: "replace",
            path: path.into(),
            value: Some(value),
        }
    }

    /// `remove` of one attribute or filtered value.
    pub fn remove(path: impl Into<String>) -> Self {
        PatchOperation {
            op: "remove",
            path: path.into(),
            value: None,
        }
    }

    /// `add` of members to a group.
    pub fn add_members(ids: &[String]) -> Self {
        let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        PatchOperation {
            op: "add",
            path: "members".into(),
            value: Some(Value::Array(members)),
        }
    }

    /// `remove` of one member, by filter: never `members` without a filter,
    /// which would remove everyone.
    pub fn remove_member(id: &str) -> Self {
        PatchOperation::remove(format!("members[value eq \"{}\"]", escape_filter_value(id)))
    }
}

/// The body of a PATCH request.
pub fn patch_body(operations: &[PatchOperation]) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

/// Escapes a value for a SCIM filter string literal.
pub fn escape_filter_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A user as a SCIM server returns it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ScimUser {
    /// Server id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// externalId.
    pub external_id: Option<String>,
    /// name.
    pub name: Option<ScimName>,
    /// displayName.
    pub display_name: Option<String>,
    /// emails.
    pub emails: Vec<ScimEmail>,
    /// active (absent means active, per common server behaviour).
    pub active: Option<bool>,
    /// groups the server reports (read-only; used by the SCIM source).
    pub groups: Vec<ScimMember>,
}

/// The `name` complex attribute.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ScimName {
    /// name.givenName.
    pub given_name: Option<String>,
    /// name.familyName.
    pub family_name: Option<String>,
}

/// One entry of `emails`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ScimEmail {
    /// Address.
    pub value: String,
    /// Whether it is the primary address.
    pub primary: Option<bool>,
    /// `work`, `home`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl ScimUser {
    /// The primary email, else the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str())
    }

    /// The attributes Penvio holds, in the shape penvio-sync manages.
    pub fn attributes(&self) -> UserAttributes {
        let name = self.name.clone().unwrap_or_default();
        UserAttributes {
            user_name: self.user_name.clone(),
            given_name: name.given_name.unwrap_or_default(),
            family_name: name.family_name.unwrap_or_default(),
            display_name: self.display_name.clone().unwrap_or_default(),
            email: self.primary_email().unwrap_or_default().to_string(),
            external_id: self.external_id.clone().unwrap_or_default(),
            active: self.active.unwrap_or(true),
        }
    }
}

/// A group as a SCIM server returns it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ScimGroup {
    /// Server id.
    pub id: String,
    /// displayName.
    pub display_name: String,
    /// externalId.
    pub external_id: Option<String>,
    /// members.
    pub members: Vec<ScimMember>,
}

/// One member reference.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ScimMember {
    /// Member id.
    pub value: String,
}

/// A page of a list response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// Total matches; `None` when the server omitted it, which leaves a
    /// listing with no proof of completeness.
    #[serde(default)]
    pub total_results: Option<u64>,
    /// Items on this page.
    pub items_per_page: Option<u64>,
    /// 1-based index of the first item.
    pub start_index: Option<u64>,
    /// The items.
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

/// A SCIM error body. `status` is a string per the RFC; some servers send a
/// number, so both are accepted.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    /// HTTP status.
    pub status: Option<Value>,
    /// scimType (`uniqueness`, `invalidValue`, …).
    pub scim_type: Option<String>,
    /// Human-readable detail.
    pub detail: Option<String>,
}

/// The created resource's id.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    /// Server id.
    pub id: String,
}

/// A listed resource with a server id, so a listing can count distinct
/// resources against `totalResults`.
pub trait Identified {
    /// The server id.
    fn resource_id(&self) -> &str;
}

impl Identified for ScimUser {
    fn resource_id(&self) -> &str {
        &self.id
    }
}

impl Identified for ScimGroup {
    fn resource_id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn remove_member_uses_a_filter_and_no_value() {
        let body = serde_json::to_value(PatchOperation::remove_member("a\"b")).unwrap();
        assert_eq!(
            body,
            json!({"op": "remove", "path": "members[value eq \"a\\\"b\"]"})
        );
    }

    #[test]
    fn user_resource_has_the_documented_shape() {
        let body = user_resource(&UserAttributes {
            user_name: "ada@example.com".into(),
            given_name: "Ada".into(),
            family_name: String::new(),
            display_name: "Ada".into(),
            email: "ada@example.com".into(),
            external_id: "00u1".into(),
            active: true,
        });
        assert_eq!(body["schemas"], json!([USER_SCHEMA]));
        assert_eq!(body["name"], json!({"givenName": "Ada"}));
        assert_eq!(body["emails"][0]["primary"], json!(true));
        assert_eq!(body["active"], json!(true));
    }

    #[test]
    fn server_users_map_back_to_attributes() {
        let user: ScimUser = serde_json::from_value(json!({
            "id": "1", "userName": "a@example.com", "externalId": "x",
            "name": {"givenName": "A"},
            "emails": [{"value": "other@example.com"}, {"value": "a@example.com", "primary": true}]
        }))
        .unwrap();
        let attributes = user.attributes();
        assert_eq!(attributes.email, "a@example.com");
        assert_eq!(attributes.given_name, "A");
        assert!(attributes.active);
    }
}
