//! Acknowledged changes are committed in batches on a thread of their own,
//! so slow disks never stall the HTTP pipeline, and a crash loses at most
//! one batch (repeated idempotently by the next run).

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::state::{StateError, StateStore};

use crate::snapshot::Change;

/// Commit the recorded acknowledgements at least this often. Each commit
/// costs a durable write (fsync) whatever its size, so fewer, larger batches
/// keep recording far below the apply time (issue 7, B4); a crash loses at
/// most this long of records, repeated idempotently by the next run.
const FLUSH_INTERVAL: Duration = Duration::from_millis(1_000);
/// …or as soon as this many changes are waiting.
const FLUSH_CHANGES: usize = 10_000;

/// Batches acknowledged changes into durable commits on a thread of its own.
pub(super) struct Recorder {
    sender: Option<mpsc::Sender<Vec<Change>>>,
    handle: Option<JoinHandle<Result<(), StateError>>>,
}

impl Recorder {
    /// Starts the recorder thread of one connection.
    pub(super) fn spawn(
        store: Arc<dyn StateStore>,
        connection: String,
    ) -> Result<Self, StateError> {
        let (sender, receiver) = mpsc::channel::<Vec<Change>>();
        let body = move || record_batches(&receiver, store.as_ref(), &connection);
        // Named, so `top -H` and profiles show where commit time goes.
        let handle = std::thread::Builder::new()
            .name("penvio-recorder".into())
            .spawn(body)
            .map_err(|e| StateError::Recorder(format!("cannot start: {e}")))?;
        Ok(Recorder {
            sender: Some(sender),
            handle: Some(handle),
        })
    }

    /// A sender for the tasks' acknowledged changes.
    pub(super) fn sender(&self) -> Option<mpsc::Sender<Vec<Change>>> {
        self.sender.clone()
    }

    /// Flushes what is left and reports any storage error.
    pub(super) fn finish(mut self) -> Result<(), StateError> {
        self.sender.take();
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StateError::Recorder("panicked".into())),
            None => Ok(()),
        }
    }
}

/// The recorder thread: commits when a batch is due or large, and what is
/// left once every sender is gone.
fn record_batches(
    receiver: &mpsc::Receiver<Vec<Change>>,
    store: &dyn StateStore,
    connection: &str,
) -> Result<(), StateError> {
    let mut pending: Vec<Change> = Vec::new();
    let mut since: Option<Instant> = None;
    loop {
        let timeout = match since {
            Some(start) => FLUSH_INTERVAL.saturating_sub(start.elapsed()),
            None => Duration::from_secs(3600),
        };
        match receiver.recv_timeout(timeout) {
            Ok(changes) => {
                pending.extend(changes);
                since.get_or_insert_with(Instant::now);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                store.apply(connection, &pending)?;
                return Ok(());
            }
        }
        let due = since.is_some_and(|start| start.elapsed() >= FLUSH_INTERVAL);
        if !pending.is_empty() && (due || pending.len() >= FLUSH_CHANGES) {
            store.apply(connection, &pending)?;
            pending.clear();
            since = None;
        }
    }
}
