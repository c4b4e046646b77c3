//! TEMPORARY stub of the configuration API so the engine compiles while the
//! real module is built on its own branch. Replaced wholesale on merge.
#![allow(missing_docs, dead_code)]

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone)]
pub struct Secret(SecretString);
impl Secret {
    pub fn new(s: String) -> Self {
        Secret(SecretString::from(s))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Other(String),
}
pub fn load(_path: &Path) -> Result<Config, ConfigError> {
    Err(ConfigError::Other("stub".into()))
}
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub log: LogConfig,
    pub listen: SocketAddr,
    pub listen_token: Option<Secret>,
    pub connections: Vec<ConnectionConfig>,
}
impl Config {
    pub fn connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| c.name == name)
    }
}
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub name: String,
    pub schedule: String,
    pub source: SourceConfig,
    pub scope: ScopeConfig,
    pub mapping: MappingConfig,
    pub target: TargetConfig,
    pub policy: PolicyConfig,
}
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Scim(ScimSourceConfig),
    File(FileSourceConfig),
}
impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Scim(_) => "scim",
            SourceConfig::File(_) => "file",
        }
    }
}
#[derive(Debug, Clone)]
pub struct ScimSourceConfig {
    pub base_url: reqwest::Url,
    pub token: Secret,
    pub page_size: u32,
    pub timeout: Duration,
}
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    pub path: PathBuf,
}
#[derive(Debug, Clone, Default)]
pub struct ScopeConfig {
    pub user_groups: Vec<String>,
    pub team_groups: Vec<GroupPattern>,
}
#[derive(Debug, Clone)]
pub struct GroupPattern(String);
impl GroupPattern {
    pub fn parse(s: &str) -> Result<GroupPattern, String> {
        Ok(GroupPattern(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn matches(&self, name: &str) -> bool {
        self.0 == name || glob::Pattern::new(&self.0).is_ok_and(|p| p.matches(name))
    }
}
#[derive(Debug, Clone, Default)]
pub struct MappingConfig {
    pub user_name: Option<Template>,
    pub given_name: Option<Template>,
    pub family_name: Option<Template>,
    pub display_name: Option<Template>,
    pub email: Option<Template>,
    pub external_id: Option<Template>,
}
#[derive(Debug, Clone)]
pub struct Template(String);
impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        Ok(Template(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            out.push_str(&lookup(&rest[start + 1..end]).filter(|v| !v.is_empty())?);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub url: reqwest::Url,
    pub token: Secret,
    pub requests_per_second: NonZeroU32,
    pub burst: NonZeroU32,
    pub concurrency: NonZeroUsize,
    pub member_patch_size: NonZeroUsize,
    pub timeout: Duration,
}
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub on_user_removed: OnUserRemoved,
    pub delete_deactivated_after: Option<Duration>,
    pub max_deactivations: Threshold,
    pub max_deletions: Threshold,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUserRemoved {
    Deactivate,
    Delete,
}
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Count(u64),
    Share(f64),
}
impl Threshold {
    pub fn limit(&self, base: usize) -> usize {
        match self {
            Threshold::Count(n) => *n as usize,
            Threshold::Share(s) => (s * base as f64).ceil() as usize,
        }
    }
}
