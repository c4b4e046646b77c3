//! Configuration: the YAML file an admin writes, and its validated form.
//!
//! Loading goes in two steps so that `penvio-sync check` can show every
//! mistake at once: [`raw::parse`] turns the text into a loose YAML tree
//! (only malformed YAML fails there), then the pure [`validate`] checks the
//! tree against the schema, resolves secrets through an injected
//! [`Environment`] and returns either a [`Config`] or every [`Problem`], each
//! named by its key path. Nothing here opens a connection or creates a file.

mod ca;
mod env;
mod error;
mod notification;
mod pattern;
pub mod raw;
pub mod schema;
mod secret;
mod source;
mod source_entra;
mod source_google;
mod source_jumpcloud;
mod source_ldap;
mod source_limits;
mod source_okta;
mod source_onelogin;
mod source_pingone;
mod template;
mod threshold;
mod validate;

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ca::CaBundle;
pub use env::{
    ALLOW_INSECURE_SECRET_FILES, Environment, MemoryEnvironment, PermissiveProcessEnvironment,
    ProcessEnvironment,
};
pub use error::{ConfigError, Location, Problem};
pub use notification::{
    AlertEvent, Channel, EmailConfig, NOTIFICATION_TYPES, NotificationConfig, SmtpSecurity,
};
pub use pattern::GroupPattern;
pub use raw::RawConfig;
pub use secret::Secret;
pub use source::{FileSourceConfig, SOURCE_TYPES, ScimSourceConfig, SourceConfig};
pub use source_entra::{EmailFrom, EntraCredential, EntraSourceConfig, NestedGroups};
pub use source_google::{
    GOOGLE_API_BASE, GOOGLE_IAM_URL, GOOGLE_METADATA_URL, GOOGLE_TOKEN_URI, GoogleAccount,
    GoogleSigner, GoogleSourceConfig, IamSigner, ServiceAccountKey, parse_service_account_key,
};
pub use source_jumpcloud::{JumpCloudAuth, JumpCloudRegion, JumpCloudSourceConfig};
pub use source_ldap::{LDAP_FLAVORS, LdapAttributes, LdapFlavor, LdapSourceConfig, LdapTransport};
pub use source_limits::{DEFAULT_MAX_BODY, DEFAULT_MAX_PAGES, DEFAULT_MAX_WAIT, ListingLimits};
pub use source_okta::{
    OKTA_APPS_SCOPE, OKTA_DEFAULT_SCOPES, OktaAuth, OktaOAuthConfig, OktaSourceConfig,
};
pub use source_onelogin::{OneLoginSourceConfig, TeamsFrom};
pub use source_pingone::{PingOneRegion, PingOneSourceConfig, TokenAuthMethod};
pub use template::{TEMPLATE_FIELDS, Template};
pub use threshold::Threshold;
pub use validate::validate;

/// Schedule used when a connection sets none: every 15 minutes, on the minute.
pub const DEFAULT_SCHEDULE: &str = "0 */15 * * * *";
/// Reconcile daily at 03:00 UTC by default: drift made by hand in Penvio is
/// repaired within a day at the cost of one full listing.
pub const DEFAULT_RECONCILE_SCHEDULE: &str = "0 0 3 * * *";
/// Whole-run deadline used when a connection sets no `run_timeout`: far
/// beyond a healthy run, short enough that a hung one frees its connection.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// Daemon endpoint used when `listen` is not set: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// State directory used when neither `state_dir` nor `$STATE_DIRECTORY` is
/// set and [`PACKAGED_STATE_DIR`] does not exist.
pub const DEFAULT_STATE_DIR: &str = "state";
/// The state directory of the packaged service (systemd's
/// `StateDirectory=penvio-sync`): used by every command when it exists and
/// nothing else is configured, so the CLI finds the daemon's state.
pub const PACKAGED_STATE_DIR: &str = "/var/lib/penvio-sync";
/// How long the daemon reuses a directory fetched for `explain` by default.
pub const DEFAULT_EXPLAIN_MAX_AGE: Duration = Duration::from_secs(300);

/// Reads and validates a config file against the real process environment.
/// The path is made absolute first so relative paths inside it stay stable.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &ProcessEnvironment)
}

/// Reads and validates a config file against a given environment (e.g. one
/// that accepts secret files readable by others).
pub fn load_with(path: &Path, env: &dyn Environment) -> Result<Config, ConfigError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    load_str(&text, &path, env)
}

/// Parses and validates config text as if read from `path`, with an injected
/// environment: the entry point for tests and for configs not on disk.
pub fn load_str(text: &str, path: &Path, env: &dyn Environment) -> Result<Config, ConfigError> {
    let raw = raw::parse(text, path)?;
    validate(&raw, env)
}

/// A validated config: every value checked, defaults filled in, secrets resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this config was loaded from, for messages and reloads.
    pub path: PathBuf,
    /// Where snapshots (redb) live.
    pub state_dir: PathBuf,
    /// Whether `state_dir` was set in the file: when it was not, the daemon
    /// (under systemd) and an admin's shell may resolve different defaults,
    /// which `check` warns about.
    pub state_dir_configured: bool,
    /// Log output settings.
    pub log: LogConfig,
    /// Address of the daemon's HTTP endpoint (metrics, health, trigger).
    pub listen: SocketAddr,
    /// Bearer token of the daemon's `/v1` API, if configured; when not, the
    /// daemon generates one in `state_dir` (see `daemon::token`).
    pub listen_token: Option<Secret>,
    /// How long the daemon reuses the directory it last fetched for
    /// `explain` before fetching again (each fetch reads the whole directory).
    pub explain_max_age: Duration,
    /// The connections (source → Penvio org), in file order.
    pub connections: Vec<ConnectionConfig>,
    /// Alert channels (`notifications:`), in file order; empty when none.
    pub notifications: Vec<NotificationConfig>,
}

impl Config {
    /// The connection with this name, for `sync --connection NAME` and triggers.
    pub fn connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections
            .iter()
            .find(|connection| connection.name == name)
    }
}

/// How logs are written: text for terminals, JSON for log shippers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
    /// A `tracing` `EnvFilter` directive such as `info` or `penvio_sync=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One sync job: a directory source, what to take from it, and the Penvio
/// org to apply it to. Each connection has its own snapshot and schedule.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Unique name (`[a-z0-9-]+`); keys the snapshot, logs and metrics.
    pub name: String,
    /// Cron schedule in UTC, normalized to 6 fields, seconds first.
    pub schedule: String,
    /// The daemon runs the connection once when it starts (default true).
    pub run_on_start: bool,
    /// Cron schedule of full reconciliations against Penvio (repairs drift
    /// made by hand); `None` when disabled with `never`.
    pub reconcile_schedule: Option<String>,
    /// Where users and groups are read from.
    pub source: SourceConfig,
    /// Which users and groups are synced.
    pub scope: ScopeConfig,
    /// Overrides of how Penvio attributes are built from directory fields.
    pub mapping: MappingConfig,
    /// The Penvio org (SCIM endpoint) changes are applied to.
    pub target: TargetConfig,
    /// What happens to removed users, and the safety limits.
    pub policy: PolicyConfig,
    /// Longest one run may take (`run_timeout`); past it the run fails like
    /// a source error, with nothing changed by the unfinished part.
    pub run_timeout: Duration,
}

/// Which part of the directory a connection syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeConfig {
    /// Only members of these groups (exact names) are synced; empty means all users.
    pub user_groups: Vec<String>,
    /// Groups matching any of these patterns become Penvio teams; empty means none.
    pub team_groups: Vec<GroupPattern>,
}

impl Default for ScopeConfig {
    fn default() -> Self {
        Self {
            user_groups: Vec::new(),
            team_groups: vec![GroupPattern::all()],
        }
    }
}

/// Per-attribute template overrides; `None` keeps the source's default mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingConfig {
    /// Penvio `userName` (must be the user's email).
    pub user_name: Option<Template>,
    /// `name.givenName`.
    pub given_name: Option<Template>,
    /// `name.familyName`.
    pub family_name: Option<Template>,
    /// `displayName`.
    pub display_name: Option<Template>,
    /// The primary email.
    pub email: Option<Template>,
    /// `externalId`, by default the IdP's immutable user id.
    pub external_id: Option<Template>,
}

/// The Penvio SCIM endpoint of one org and how hard we may drive it.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// SCIM base URL, e.g. `https://penvio.io/api/scim/v2/ORG_ID`, without trailing slash.
    pub url: reqwest::Url,
    /// The org's SCIM bearer token.
    pub token: Secret,
    /// Sustained request rate limit.
    pub requests_per_second: NonZeroU32,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: NonZeroU32,
    /// Requests in flight at once.
    pub concurrency: NonZeroUsize,
    /// Members per group PATCH request (1..=1000); larger changes are chunked.
    pub member_patch_size: NonZeroUsize,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Extra trusted CAs for this endpoint (a private CA).
    pub ca_file: Option<CaBundle>,
    /// An explicit proxy for this endpoint (a validated `http://` or
    /// `https://` URL, kept as a secret because it may carry credentials);
    /// `None` uses `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. Loopback is never proxied.
    pub proxy: Option<Secret>,
    /// Caps on Penvio's waits, pages and bodies (`max_wait`, `max_pages`,
    /// `max_body`), as for sources.
    pub limits: ListingLimits,
}

/// Lifecycle and safety policy for a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// What to do with a user who left the directory or the scope.
    pub on_user_removed: OnUserRemoved,
    /// Hard-delete deactivated users this long after deactivation; `None` never.
    pub delete_deactivated_after: Option<Duration>,
    /// Most deactivations one run may perform.
    pub max_deactivations: Threshold,
    /// Most deletions one run may perform.
    pub max_deletions: Threshold,
    /// Largest drop in active users (a share, 0..=1) a fetch may show before
    /// every destructive operation is held back: a directory that suddenly
    /// shrinks is far more often a broken IdP query than a mass departure.
    pub max_shrinkage: f64,
    /// Most members one team may lose in a run (a count, or a share of the
    /// team that applies to teams of [`MEMBER_GUARD_MIN_TEAM`] or more): a
    /// group listing that comes back empty must not empty its team.
    pub max_member_removals: Threshold,
    /// What to do when a new directory user's userName belongs to a Penvio
    /// account the snapshot holds for another directory user (an email
    /// reused after a leaver): linking would hand over the leaver's data.
    pub on_username_reuse: OnUserNameReuse,
}

/// Teams smaller than this are guarded only against going to zero members by
/// a share-valued `max_member_removals`: in a small team one person is a
/// large share, and moving them is an ordinary change.
pub const MEMBER_GUARD_MIN_TEAM: usize = 10;

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            on_user_removed: OnUserRemoved::Deactivate,
            delete_deactivated_after: None,
            max_deactivations: Threshold::Share(0.10),
            max_deletions: Threshold::Share(0.05),
            max_shrinkage: 0.20,
            max_member_removals: Threshold::Share(0.50),
            on_username_reuse: OnUserNameReuse::Refuse,
        }
    }
}

/// What happens in Penvio to a user removed from the directory or scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUserRemoved {
    /// Set `active: false`: access revoked, data kept (the safe default).
    #[default]
    Deactivate,
    /// Delete the user at once.
    Delete,
}

/// What happens when a created user's userName is taken by a Penvio account
/// the snapshot maps to a different directory user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUserNameReuse {
    /// Skip the new user with a warning naming both source ids (the safe
    /// default: the old account may hold a leaver's data).
    #[default]
    Refuse,
    /// Link the new user to the existing account; the old mapping is dropped
    /// and the change is written to the audit trail.
    Relink,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
