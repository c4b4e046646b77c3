//! The attributes the emulator supports, described once and used three ways:
//! advertised on `/Schemas`, enforced on writes, and consulted by filters and
//! PATCH paths (names, types, `caseExact`, mutability).

use serde_json::{Map, Value, json};

pub use crate::scim::LIST_RESPONSE_SCHEMA as LIST_RESPONSE;
pub use crate::scim::PATCH_OP_SCHEMA as PATCH_OP;
pub use crate::scim::{ERROR_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
/// ServiceProviderConfig schema URN.
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// ResourceType schema URN.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema schema URN.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The SCIM data type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrType {
    String,
    Boolean,
    Complex,
    Reference,
    DateTime,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Complex => "complex",
            Self::Reference => "reference",
            Self::DateTime => "dateTime",
        }
    }
}

/// RFC 7643 §7 mutability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
        }
    }
}

/// One attribute (or sub-attribute) definition.
#[derive(Debug)]
pub(crate) struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    /// `always` or `default`.
    pub returned: &'static str,
    /// `none` or `server`.
    pub uniqueness: &'static str,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [AttrDef],
    pub description: &'static str,
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty: AttrType::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: "default",
        uniqueness: "none",
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const EXTERNAL_ID: AttrDef = AttrDef {
    case_exact: true,
    ..string(
        "externalId",
        "Identifier of the resource in the provisioning client.",
    )
};

const NAME_SUB: &[AttrDef] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name (last name)."),
    string("givenName", "The given name (first name)."),
];

const EMAIL_SUB: &[AttrDef] = &[
    string("value", "The email address."),
    AttrDef {
        canonical: &["work", "home", "other"],
        ..string("type", "The kind of email address.")
    },
    AttrDef {
        ty: AttrType::Boolean,
        ..string("primary", "Whether this is the primary email address.")
    },
];

/// Attributes of the core User schema, as supported.
pub(crate) const USER_ATTRS: &[AttrDef] = &[
    AttrDef {
        required: true,
        uniqueness: "server",
        ..string("userName", "Unique login name; Penvio uses the email.")
    },
    AttrDef {
        ty: AttrType::Complex,
        sub: NAME_SUB,
        ..string("name", "The components of the user's name.")
    },
    string("displayName", "The name shown for the user."),
    AttrDef {
        ty: AttrType::Complex,
        multi: true,
        sub: EMAIL_SUB,
        ..string("emails", "Email addresses of the user.")
    },
    AttrDef {
        ty: AttrType::Boolean,
        ..string("active", "Whether the user may sign in.")
    },
    EXTERNAL_ID,
];

const MEMBER_SUB: &[AttrDef] = &[
    AttrDef {
        mutability: Mutability::Immutable,
        case_exact: true,
        ..string("value", "The id of the member resource.")
    },
    AttrDef {
        ty: AttrType::Reference,
        mutability: Mutability::Immutable,
        case_exact: true,
        reference_types: &["User", "Group"],
        ..string("$ref", "The URI of the member resource.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..string("display", "A human-readable name of the member.")
    },
    AttrDef {
        mutability: Mutability::Immutable,
        canonical: &["User", "Group"],
        ..string("type", "The type of the member resource.")
    },
];

/// Attributes of the core Group schema, as supported.
pub(crate) const GROUP_ATTRS: &[AttrDef] = &[
    AttrDef {
        required: true,
        ..string("displayName", "The team name.")
    },
    AttrDef {
        ty: AttrType::Complex,
        multi: true,
        sub: MEMBER_SUB,
        ..string("members", "The members of the team.")
    },
    EXTERNAL_ID,
];

const META_SUB: &[AttrDef] = &[
    AttrDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..string("resourceType", "")
    },
    AttrDef {
        ty: AttrType::DateTime,
        mutability: Mutability::ReadOnly,
        ..string("created", "")
    },
    AttrDef {
        ty: AttrType::DateTime,
        mutability: Mutability::ReadOnly,
        ..string("lastModified", "")
    },
    AttrDef {
        ty: AttrType::Reference,
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..string("location", "")
    },
    AttrDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..string("version", "")
    },
];

/// Common attributes (RFC 7643 §3.1) that are not listed in the schemas.
pub(crate) const COMMON_ATTRS: &[AttrDef] = &[
    AttrDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        returned: "always",
        uniqueness: "server",
        ..string("id", "")
    },
    AttrDef {
        ty: AttrType::Complex,
        mutability: Mutability::ReadOnly,
        sub: META_SUB,
        ..string("meta", "")
    },
];

/// The two resource types the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

impl ResourceKind {
    /// The resource type name (`meta.resourceType`).
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint, relative to the org base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    /// The core schema URN.
    pub fn schema(self) -> &'static str {
        match self {
            Self::User => USER_SCHEMA,
            Self::Group => GROUP_SCHEMA,
        }
    }

    pub(crate) fn attrs(self) -> &'static [AttrDef] {
        match self {
            Self::User => USER_ATTRS,
            Self::Group => GROUP_ATTRS,
        }
    }

    /// Finds a top-level attribute (schema or common) by name, ignoring case.
    pub(crate) fn attr(self, name: &str) -> Option<&'static AttrDef> {
        find(self.attrs(), name).or_else(|| find(COMMON_ATTRS, name))
    }
}

/// Finds an attribute by name, ignoring case (RFC 7643 §2.1).
pub(crate) fn find<'a>(defs: &'a [AttrDef], name: &str) -> Option<&'a AttrDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Strips a core schema URN prefix (`urn:…:User:name.givenName`) from a path.
/// Returns `None` when the path names another (unsupported) schema.
pub(crate) fn strip_urn(kind: ResourceKind, path: &str) -> Option<String> {
    if !path
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        return Some(path.to_string());
    }
    let schema = kind.schema();
    let head = path.get(..schema.len())?;
    if !head.eq_ignore_ascii_case(schema) {
        return None;
    }
    let rest = path.get(schema.len()..)?;
    rest.strip_prefix(':').map(str::to_string)
}

fn attr_json(def: &AttrDef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(def.name));
    out.insert("type".into(), json!(def.ty.as_str()));
    out.insert("multiValued".into(), json!(def.multi));
    out.insert("description".into(), json!(def.description));
    out.insert("required".into(), json!(def.required));
    if def.ty != AttrType::Complex && def.ty != AttrType::Boolean {
        out.insert("caseExact".into(), json!(def.case_exact));
    }
    if !def.canonical.is_empty() {
        out.insert("canonicalValues".into(), json!(def.canonical));
    }
    if !def.reference_types.is_empty() {
        out.insert("referenceTypes".into(), json!(def.reference_types));
    }
    out.insert("mutability".into(), json!(def.mutability.as_str()));
    out.insert("returned".into(), json!(def.returned));
    if def.ty != AttrType::Complex && def.ty != AttrType::Boolean {
        out.insert("uniqueness".into(), json!(def.uniqueness));
    }
    if !def.sub.is_empty() {
        let subs: Vec<Value> = def.sub.iter().map(attr_json).collect();
        out.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// The `/Schemas/{id}` document for a resource kind.
pub(crate) fn schema_json(kind: ResourceKind, base_url: &str) -> Value {
    let (name, description) = match kind {
        ResourceKind::User => ("User", "User account"),
        ResourceKind::Group => ("Group", "Group (a Penvio team)"),
    };
    let attrs: Vec<Value> = kind.attrs().iter().map(attr_json).collect();
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": kind.schema(),
        "name": name,
        "description": description,
        "attributes": attrs,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base_url}/Schemas/{}", kind.schema()),
        },
    })
}

/// The `/ResourceTypes/{id}` document for a resource kind.
pub(crate) fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": format!("{} resources", kind.name()),
        "schema": kind.schema(),
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base_url}/ResourceTypes/{}", kind.name()),
        },
    })
}

/// The `/ServiceProviderConfig` document.
pub(crate) fn service_provider_config(base_url: &str, max_results: usize) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://penvio.io/docs/scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token generated in Penvio.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

/// Both resource kinds, in listing order.
pub(crate) const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];
