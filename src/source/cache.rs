//! What an incremental adapter remembers between runs. It describes the IdP,
//! not Penvio, so it belongs to the sources; the state store only keeps its
//! bytes.
//!
//! The bytes carry a format tag: a cache written by another version (or cut
//! short) reads as "no cache", so that run reads the directory in full
//! instead of failing. The cache also names the raw attributes it kept: it
//! holds only those the mapping refers to (the rest of a vendor profile is
//! most of its size), and a mapping that needs another one reads in full.

use serde::{Deserialize, Serialize};

use crate::model::Directory;

/// Format tag in front of every stored cache: bump the last byte when the
/// layout of [`SourceCache`] (or of anything in [`Directory`]) changes.
const FORMAT: &[u8; 4] = b"PSC\x02";

/// What an incremental source read last time: the whole directory after the
/// last complete fetch, and the adapter's cursor to continue from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceCache {
    /// The directory as of the last complete fetch.
    pub directory: Directory,
    /// Adapter cursor (delta link, timestamp) to continue from.
    pub cursor: Option<String>,
    /// Unix seconds of the last full (non-incremental) fetch.
    pub last_full_fetch: i64,
    /// The raw attribute keys kept on the users (sorted): the ones the
    /// mapping referred to when the directory was read.
    pub kept_attributes: Vec<String>,
}

/// A [`SourceCache`] borrowed from the run, serialised field for field the
/// same way (postcard is positional), so saving copies nothing.
#[derive(Serialize)]
pub struct SourceCacheRef<'a> {
    /// See [`SourceCache::directory`].
    pub directory: &'a Directory,
    /// See [`SourceCache::cursor`].
    pub cursor: Option<&'a str>,
    /// See [`SourceCache::last_full_fetch`].
    pub last_full_fetch: i64,
    /// See [`SourceCache::kept_attributes`].
    pub kept_attributes: &'a [String],
}

impl SourceCacheRef<'_> {
    /// The stored form: the format tag, then the cache.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        postcard::to_extend(self, FORMAT.to_vec()).map_err(|e| e.to_string())
    }
}

impl SourceCache {
    /// Reads a stored cache. `Err` says why it cannot be used (another
    /// version's format, damaged bytes); the caller then reads in full.
    pub fn decode(bytes: &[u8]) -> Result<SourceCache, String> {
        let body = bytes
            .strip_prefix(FORMAT.as_slice())
            .ok_or("it was written by another version of penvio-sync")?;
        postcard::from_bytes(body).map_err(|e| format!("it cannot be read ({e})"))
    }

    /// The stored form of this cache: the bytes [`SourceCacheRef::encode`]
    /// writes for the same fields.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        postcard::to_extend(self, FORMAT.to_vec()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::SourceUser;

    fn cache() -> SourceCache {
        let user = SourceUser {
            id: "00u1".into(),
            email: Some("ada@example.com".into()),
            active: true,
            attributes: [("profile.costCenter".to_string(), "42".to_string())].into(),
            ..SourceUser::default()
        };
        SourceCache {
            directory: Directory {
                users: vec![user],
                ..Directory::default()
            },
            cursor: Some("cursor".into()),
            last_full_fetch: 1_780_000_000,
            kept_attributes: vec!["profile.costCenter".into()],
        }
    }

    #[test]
    fn a_cache_round_trips_through_its_stored_form() {
        let bytes = cache().encode().unwrap();
        assert!(bytes.starts_with(FORMAT));
        assert_eq!(SourceCache::decode(&bytes).unwrap(), cache());
    }

    #[test]
    fn another_versions_or_a_damaged_cache_is_refused_not_misread() {
        // Before the format tag, caches were the bare postcard encoding.
        let untagged = postcard::to_stdvec(&cache()).unwrap();
        let error = SourceCache::decode(&untagged).unwrap_err();
        assert!(error.contains("another version"), "{error}");
        let mut other_version = cache().encode().unwrap();
        other_version[3] = 1;
        assert!(SourceCache::decode(&other_version).is_err());
        let bytes = cache().encode().unwrap();
        let error = SourceCache::decode(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(error.contains("cannot be read"), "{error}");
    }
}
