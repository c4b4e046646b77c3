//! Source adapters: one per identity provider, each yielding the neutral
//! [`Directory`](crate::model::Directory).
//!
//! An adapter knows only its vendor's API (auth, paging, rate limits, field
//! names, status values). It never decides what to change, and it returns a
//! directory only when every page was read (invariant 1).

mod cache;
mod file;
mod flatten;
/// Pure page parsers of every adapter, public only for the property tests
/// in `tests/fuzz_parsers.rs`; not a stable API.
#[doc(hidden)]
pub mod fuzz;
mod google;
mod jumpcloud;
pub mod kit;
pub mod ldap;
mod msgraph;
mod okta;
mod onelogin;
mod pingone;
mod scim;

pub use cache::{SourceCache, SourceCacheRef};

use std::future::Future;
use std::pin::Pin;

use crate::config::{ConnectionConfig, SourceConfig};
use crate::model::Directory;
use crate::progress::Progress;

pub use file::FileSource;
pub use google::GoogleSource;
pub use jumpcloud::JumpCloudSource;
pub use ldap::LdapSource;
pub use msgraph::EntraSource;
pub use okta::OktaSource;
pub use onelogin::OneLoginSource;
pub use pingone::PingOneSource;
pub use scim::ScimSource;

/// A boxed future, so adapters can live behind `dyn IdentitySource`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors of a fetch: any of them means the directory is incomplete and
/// nothing may be deactivated or deleted.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source could not be read.
    #[error("{source_kind} source: {message}")]
    Fetch {
        /// Adapter name.
        source_kind: &'static str,
        /// What failed, naming the request or file.
        message: String,
    },
    /// The source refused the credentials.
    #[error("{source_kind} source rejected the credentials: {message}")]
    Unauthorized {
        /// Adapter name.
        source_kind: &'static str,
        /// What to fix.
        message: String,
    },
    /// The adapter could not be set up from the config.
    #[error("{source_kind} source: cannot start: {message}")]
    Setup {
        /// Adapter name.
        source_kind: &'static str,
        /// Why.
        message: String,
    },
}

/// What an adapter gets for one fetch.
pub struct FetchContext<'a> {
    /// Progress display.
    pub progress: &'a Progress,
    /// The directory and cursor of the last complete fetch, for adapters
    /// that read incrementally (`None`: fetch everything). Mutable so an
    /// adapter can move the previous records into its result instead of
    /// copying a whole directory; the run drops the cache after the fetch.
    pub previous: Option<&'a mut SourceCache>,
    /// Unix seconds now (injected, so "full fetch once a day" is testable).
    pub now: i64,
}

/// A complete directory and what the next incremental fetch starts from.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The whole directory, deltas already applied onto the previous one.
    pub directory: Directory,
    /// Opaque adapter cursor (a delta link, a timestamp) for the next fetch.
    pub cursor: Option<String>,
    /// Whether this was a full read (not a delta onto the previous one).
    pub full: bool,
}

impl Fetched {
    /// A full fetch with no cursor (adapters that always read everything).
    pub fn full(directory: Directory) -> Self {
        Fetched {
            directory,
            cursor: None,
            full: true,
        }
    }
}

/// An identity provider penvio-sync reads from.
pub trait IdentitySource: Send + Sync {
    /// Adapter name, as in `source.type`.
    fn kind(&self) -> &'static str;

    /// Reads the whole directory (users, groups, memberships). Either every
    /// page was read, or this is an error.
    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>>;

    /// Whether the adapter reads incrementally and so needs the previous
    /// directory and cursor kept between runs.
    fn incremental(&self) -> bool {
        false
    }

    /// Raw attributes the adapter reads back from its own cache (a run
    /// keeps only these and the ones the mapping uses).
    fn own_attributes(&self) -> &'static [&'static str] {
        &[]
    }

    /// Requests sent to the source so far (for reports and tests).
    fn requests_sent(&self) -> u64 {
        0
    }

    /// Authenticates and makes one cheap read, for `check --connectivity`.
    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>>;
}

/// Builds the adapter for a connection. `index` is the connection's position
/// in the config, used to name the keys to fix in error messages.
pub fn build(
    connection: &ConnectionConfig,
    index: usize,
) -> Result<Box<dyn IdentitySource>, SourceError> {
    let source: Box<dyn IdentitySource> = match &connection.source {
        SourceConfig::Scim(config) => Box::new(ScimSource::new(config, index)?),
        SourceConfig::File(config) => Box::new(FileSource::new(config.path.clone())),
        SourceConfig::Okta(config) => Box::new(OktaSource::new(config, &connection.scope, index)?),
        SourceConfig::Entra(config) => Box::new(EntraSource::new(config, index)?),
        SourceConfig::OneLogin(config) => Box::new(OneLoginSource::new(config, index)?),
        SourceConfig::JumpCloud(config) => Box::new(JumpCloudSource::new(config, index)?),
        SourceConfig::PingOne(config) => Box::new(PingOneSource::new(config, index)?),
        SourceConfig::Ldap(config) => Box::new(LdapSource::new(config, index)?),
        SourceConfig::Google(config) => {
            Box::new(GoogleSource::new(config, index, &connection.name)?)
        }
    };
    Ok(source)
}
