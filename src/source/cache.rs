//! What an incremental adapter remembers between runs. It describes the IdP,
//! not Penvio, so it belongs to the sources; the state store only keeps it.

use serde::{Deserialize, Serialize};

use crate::model::Directory;

/// What an incremental source read last time: the whole directory after the
/// last complete fetch, and the adapter's cursor to continue from. It
/// describes the IdP, not Penvio, so it is kept apart from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceCache {
    /// The directory as of the last complete fetch.
    pub directory: Directory,
    /// Adapter cursor (delta link, timestamp) to continue from.
    pub cursor: Option<String>,
    /// Unix seconds of the last full (non-incremental) fetch.
    pub last_full_fetch: i64,
}
