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
mod nested_groups;
mod notification;
mod pattern;
pub mod raw;
mod reader;
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
mod validated;

use std::path::Path;

pub use ca::CaBundle;
pub use env::{
    ALLOW_INSECURE_SECRET_FILES, Environment, MemoryEnvironment, PermissiveProcessEnvironment,
    ProcessEnvironment,
};
pub use error::{ConfigError, Location, Problem};
pub use nested_groups::NestedGroups;
pub use notification::{
    AlertEvent, Channel, EmailConfig, NOTIFICATION_TYPES, NotificationConfig, SmtpSecurity,
};
pub use pattern::GroupPattern;
pub use raw::RawConfig;
pub use secret::Secret;
pub use source::{FileSourceConfig, SOURCE_TYPES, ScimSourceConfig, SourceConfig};
pub use source_entra::{EmailFrom, EntraCredential, EntraSourceConfig};
pub use source_google::{
    ExternalAccount, GOOGLE_API_BASE, GOOGLE_IAM_URL, GOOGLE_METADATA_URL, GOOGLE_STS_URL,
    GOOGLE_TOKEN_URI, GoogleAccount, GoogleSigner, GoogleSourceConfig, IamSigner,
    ServiceAccountKey, SubjectTokenFormat, SubjectTokenSource, parse_external_account,
    parse_service_account_key,
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
pub use validated::{
    Config, ConnectionConfig, DEFAULT_EXPLAIN_MAX_AGE, DEFAULT_LISTEN, DEFAULT_RECONCILE_SCHEDULE,
    DEFAULT_RUN_TIMEOUT, DEFAULT_SCHEDULE, DEFAULT_STATE_DIR, LogConfig, LogFormat,
    MEMBER_GUARD_MIN_TEAM, MappingConfig, OnUserNameReuse, OnUserRemoved, PACKAGED_STATE_DIR,
    PolicyConfig, ScopeConfig, TargetConfig,
};

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
