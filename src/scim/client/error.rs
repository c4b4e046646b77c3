//! Errors of SCIM requests, each naming the request (method and path, never
//! the query, which can hold user data).

use reqwest::Method;

/// Errors of SCIM requests. Each names the request (method and path, no query).
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// 401/403: the token is wrong or was regenerated.
    #[error(
        "{service} rejected the token ({status}) on {method} {path}. It may have been regenerated: update `{key}` (or the file its `_file` form names) and run `penvio-sync check --connectivity`"
    )]
    Unauthorized {
        /// Who answered.
        service: String,
        /// 401 or 403.
        status: u16,
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// Config key of the token.
        key: String,
    },
    /// 409 uniqueness on create.
    #[error("{method} {path}: conflict (409): {detail}")]
    Conflict {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// Server detail.
        detail: String,
    },
    /// 404.
    #[error("{method} {path}: not found (404)")]
    NotFound {
        /// Method.
        method: Method,
        /// Path.
        path: String,
    },
    /// Another non-retriable status.
    #[error("{method} {path}: {status}{}: {detail}", scim_type.as_ref().map(|t| format!(" {t}")).unwrap_or_default())]
    Rejected {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// Status.
        status: u16,
        /// scimType, if any.
        scim_type: Option<String>,
        /// Server detail.
        detail: String,
    },
    /// Retries ran out.
    #[error("{method} {path}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last problem.
        last: String,
    },
    /// The request could not be sent at all.
    #[error("{method} {path}: {source}")]
    Transport {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// No clear answer to a request that must not be sent twice blindly
    /// (a team create): it may or may not have been applied.
    #[error(
        "{method} {path}: no clear answer ({last}); the request may or may not have been applied"
    )]
    OutcomeUnknown {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// What came back instead of an answer.
        last: String,
    },
    /// The server asked for more than the bounds allow: a wait longer than
    /// `max_wait`, a body larger than `max_body`.
    #[error("{method} {path}: {message}")]
    Unbounded {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// What was refused, naming the header or cap.
        message: String,
    },
    /// A listing that cannot be proven complete (invariant 1).
    #[error("GET {path}: incomplete listing: {message}")]
    IncompleteListing {
        /// Path.
        path: String,
        /// Why, and what to do.
        message: String,
    },
    /// A 2xx whose body is not what SCIM promises.
    #[error("{method} {path}: unexpected response: {message}")]
    InvalidResponse {
        /// Method.
        method: Method,
        /// Path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl ScimError {
    /// True when the whole run must stop (credentials refused).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ScimError::Unauthorized { .. })
    }

    /// The HTTP status the server answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ScimError::Unauthorized { status, .. } | ScimError::Rejected { status, .. } => {
                Some(*status)
            }
            ScimError::Conflict { .. } => Some(409),
            ScimError::NotFound { .. } => Some(404),
            ScimError::RetriesExhausted { .. }
            | ScimError::OutcomeUnknown { .. }
            | ScimError::Transport { .. }
            | ScimError::Unbounded { .. }
            | ScimError::IncompleteListing { .. }
            | ScimError::InvalidResponse { .. } => None,
        }
    }
}
