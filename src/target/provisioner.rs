//! What the executor asks of Penvio, in domain terms: users, teams and
//! memberships, not SCIM requests. The executor sees only this trait, so it
//! can be tested against an in-memory target and the SCIM details (PATCH
//! bodies, filters, retries) stay in the client.

use std::future::Future;
use std::pin::Pin;

use crate::model::UserAttributes;
use crate::plan::AttributeChange;

/// A boxed future of a provisioner call (the trait stays usable as
/// `dyn Provisioner`).
pub type TargetFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TargetError>> + Send + 'a>>;

/// A user the target already holds, found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundUser {
    /// The target's id of the user.
    pub id: String,
    /// The attributes the target holds, in the shape penvio-sync manages.
    pub attributes: UserAttributes,
}

/// A team the target already holds, found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTeam {
    /// The target's id of the team.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Why a provisioner call failed. The variants are the cases the executor
/// treats differently; each carries the full message for people (method,
/// path and server detail for the SCIM client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The credentials were refused (401/403): the whole run stops.
    #[error("{message}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// What happened and what to do.
        message: String,
    },
    /// A uniqueness conflict (409): the user or team already exists.
    #[error("{message}")]
    Conflict {
        /// What happened.
        message: String,
    },
    /// The user or team does not exist (404).
    #[error("{message}")]
    NotFound {
        /// What happened.
        message: String,
    },
    /// The write was sent but no clear answer came back (timeout,
    /// connection lost, 5xx): it may or may not have been applied.
    #[error("{message}")]
    OutcomeUnknown {
        /// What came back instead of an answer.
        message: String,
    },
    /// The target refused the request for good (another 4xx).
    #[error("{message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The message, with the server's SCIM detail.
        message: String,
    },
    /// Transient failures went on until the retries ran out.
    #[error("{message}")]
    TransientExhausted {
        /// The last problem.
        message: String,
    },
    /// Anything else: the request could not be sent, the answer was
    /// unbounded or malformed.
    #[error("{message}")]
    Failed {
        /// What happened.
        message: String,
    },
}

impl TargetError {
    /// True when the whole run must stop (credentials refused).
    pub fn is_fatal(&self) -> bool {
        matches!(self, TargetError::Unauthorized { .. })
    }

    /// The HTTP status the target answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TargetError::Unauthorized { status, .. } | TargetError::Rejected { status, .. } => {
                Some(*status)
            }
            TargetError::Conflict { .. } => Some(409),
            TargetError::NotFound { .. } => Some(404),
            TargetError::OutcomeUnknown { .. }
            | TargetError::TransientExhausted { .. }
            | TargetError::Failed { .. } => None,
        }
    }

    /// The same error with `note` appended to its message.
    pub fn with_note(self, note: &str) -> Self {
        let append = |message: String| format!("{message}{note}");
        match self {
            TargetError::Unauthorized { status, message } => TargetError::Unauthorized {
                status,
                message: append(message),
            },
            TargetError::Conflict { message } => TargetError::Conflict {
                message: append(message),
            },
            TargetError::NotFound { message } => TargetError::NotFound {
                message: append(message),
            },
            TargetError::OutcomeUnknown { message } => TargetError::OutcomeUnknown {
                message: append(message),
            },
            TargetError::Rejected { status, message } => TargetError::Rejected {
                status,
                message: append(message),
            },
            TargetError::TransientExhausted { message } => TargetError::TransientExhausted {
                message: append(message),
            },
            TargetError::Failed { message } => TargetError::Failed {
                message: append(message),
            },
        }
    }
}

/// The writes and lookups the executor needs from Penvio. Every write is
/// safe to repeat after a crash: a repeated create meets a conflict (users)
/// or is found by `externalId` first (teams); updates set values; deletes
/// of what is gone report `false`.
pub trait Provisioner: Send + Sync {
    /// Creates a user; returns its id. [`TargetError::Conflict`] when the
    /// userName is taken.
    fn create_user<'a>(&'a self, attributes: &'a UserAttributes) -> TargetFuture<'a, String>;

    /// Brings the `changes` of a user to their values in `attributes`
    /// (empty values are removed).
    fn update_user<'a>(
        &'a self,
        id: &'a str,
        changes: &'a [AttributeChange],
        attributes: &'a UserAttributes,
    ) -> TargetFuture<'a, ()>;

    /// Deactivates a user: the `changes` include `active` going false.
    fn deactivate_user<'a>(
        &'a self,
        id: &'a str,
        changes: &'a [AttributeChange],
        attributes: &'a UserAttributes,
    ) -> TargetFuture<'a, ()>;

    /// Deletes a user; `false` if it was already gone.
    fn delete_user<'a>(&'a self, id: &'a str) -> TargetFuture<'a, bool>;

    /// The user with this userName (case-insensitive), if any.
    fn find_user_by_user_name<'a>(
        &'a self,
        user_name: &'a str,
    ) -> TargetFuture<'a, Option<FoundUser>>;

    /// The user with this externalId, if any.
    fn find_user_by_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> TargetFuture<'a, Option<FoundUser>>;

    /// Creates a team with its first members; returns its id. Never leaves
    /// two teams behind when an answer is lost.
    fn create_team<'a>(
        &'a self,
        name: &'a str,
        external_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, String>;

    /// Renames a team.
    fn rename_team<'a>(&'a self, id: &'a str, name: &'a str) -> TargetFuture<'a, ()>;

    /// Deletes a team; `false` if it was already gone.
    fn delete_team<'a>(&'a self, id: &'a str) -> TargetFuture<'a, bool>;

    /// Adds users (by target id) to a team, in one request.
    fn add_members<'a>(
        &'a self,
        team_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, ()>;

    /// Removes users (by target id) from a team, in one request.
    fn remove_members<'a>(
        &'a self,
        team_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, ()>;

    /// The teams with this externalId (after a create without an answer).
    fn find_teams_by_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> TargetFuture<'a, Vec<FoundTeam>>;
}
