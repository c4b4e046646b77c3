//! The SCIM error the emulator answers with (RFC 7644 §3.12).

use serde_json::{Value, json};

use super::schemas::ERROR_SCHEMA;

/// A SCIM error: the HTTP status, the optional `scimType` and a `detail`.
/// Returned by the direct (non-HTTP) store API as well, so tests and seeding
/// code see exactly what a client would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCIM {status} {}: {detail}", scim_type.unwrap_or("-"))]
pub struct EmulatorError {
    /// HTTP status code.
    pub status: u16,
    /// RFC 7644 `scimType` (`uniqueness`, `invalidFilter`, …), when one applies.
    pub scim_type: Option<&'static str>,
    /// Human-readable explanation.
    pub detail: String,
}

impl EmulatorError {
    pub(crate) fn new(
        status: u16,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }

    pub(crate) fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }

    pub(crate) fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// The JSON error body; `status` is a string, as RFC 7644 requires.
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(o)) = (self.scim_type, body.as_object_mut()) {
            o.insert("scimType".into(), json!(t));
        }
        body
    }
}
