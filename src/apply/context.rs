//! What the tasks of one apply share, and how one operation fails. Kept
//! apart from the phase runner (`execute`) and the operation bodies
//! (`perform`) so both depend on it and not on each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio_util::sync::CancellationToken;

use crate::config::OnUserNameReuse;
use crate::events::RunContext;
use crate::progress::Progress;
use crate::snapshot::Change;
use crate::target::{Provisioner, TargetError};

/// Why one operation failed: Penvio answered with an error, or the agent
/// refused to send it.
#[derive(Debug, thiserror::Error)]
pub(super) enum OperationError {
    /// Penvio refused or could not be reached.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The operation would touch an account this connection does not hold
    /// for its source user; nothing was sent.
    #[error("{0}")]
    Refused(String),
}

impl OperationError {
    pub(super) fn status(&self) -> Option<u16> {
        match self {
            OperationError::Target(error) => error.status(),
            OperationError::Refused(_) => None,
        }
    }
}

/// What every task of a run shares.
pub(super) struct TaskContext {
    pub(super) target: Arc<dyn Provisioner>,
    /// Penvio user id → the source id the snapshot held it for when the plan
    /// started (filled only when the plan creates or recreates users).
    pub(super) owners: HashMap<String, String>,
    pub(super) on_username_reuse: OnUserNameReuse,
    pub(super) cancel: CancellationToken,
    pub(super) events: RunContext,
    pub(super) patch_size: usize,
    pub(super) now: i64,
    pub(super) recorder: Mutex<Option<mpsc::Sender<Vec<Change>>>>,
    pub(super) stop: AtomicBool,
    pub(super) fatal: Mutex<Option<TargetError>>,
    pub(super) progress: Progress,
}

impl TaskContext {
    pub(super) fn record(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let guard = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = guard.as_ref() {
            // A send fails only if the recorder died; finish() reports why.
            let _ = sender.send(changes.to_vec());
        }
    }

    /// Whether no new operation may start (credentials refused, shutdown).
    pub(super) fn halted(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.cancel.is_cancelled()
    }

    /// Stops the run after a fatal error, keeping the first one.
    pub(super) fn stop_with(&self, error: TargetError) {
        self.stop.store(true, Ordering::SeqCst);
        let mut fatal = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if fatal.is_none() {
            *fatal = Some(error);
        }
    }
}
