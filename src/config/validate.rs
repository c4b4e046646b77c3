//! The pure validation step: a [`RawConfig`] tree in, a [`Config`] or every
//! problem out. Each decoder reads the keys it knows through a [`MapReader`],
//! which remembers them so anything left over is reported as an unknown key.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};
use reqwest::Url;

use super::env::Environment;
use super::error::{ConfigError, Location, Problem};
use super::pattern::GroupPattern;
use super::raw::{Entry, Node, RawConfig, Value};
use super::secret::Secret;
use super::source;
use super::template::Template;
use super::threshold::Threshold;
use super::{
    Config, ConnectionConfig, DEFAULT_EXPLAIN_MAX_AGE, DEFAULT_LISTEN, DEFAULT_RECONCILE_SCHEDULE,
    DEFAULT_SCHEDULE, DEFAULT_STATE_DIR, LogConfig, LogFormat, MappingConfig, OnUserNameReuse,
    OnUserRemoved, PACKAGED_STATE_DIR, PolicyConfig, ScopeConfig, TargetConfig,
};

/// Checks a parsed config and builds the validated [`Config`]. Pure apart from
/// `env` (variables and secret files), so the same input always gives the
/// same answer; on failure it returns every problem found, not just the first.
pub fn validate(raw: &RawConfig, env: &dyn Environment) -> Result<Config, ConfigError> {
    let config_dir = raw.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut ctx = Ctx {
        env,
        config_dir,
        problems: Vec::new(),
    };
    let config = decode_root(&mut ctx, raw);
    match config {
        Some(config) if ctx.problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            path: raw.path.clone(),
            problems: ctx.problems,
        }),
    }
}

/// Validation state: the environment, the base for relative paths, and the
/// problems found so far.
pub(super) struct Ctx<'e> {
    env: &'e dyn Environment,
    config_dir: PathBuf,
    problems: Vec<Problem>,
}

/// A value found under a key, with the key path used in problem messages.
pub(super) struct Field<'n> {
    pub(super) path: String,
    pub(super) node: &'n Node,
}

/// Reads the keys of one YAML mapping and reports the ones nobody asked for.
pub(super) struct MapReader<'n> {
    path: String,
    location: Option<Location>,
    entries: &'n [Entry],
    expected: Vec<String>,
}

impl<'n> MapReader<'n> {
    /// Opens `node` as a mapping; a missing or null node is an empty mapping.
    /// Returns `None` (after recording a problem) when it is something else.
    pub(super) fn open(ctx: &mut Ctx<'_>, node: Option<&'n Node>, path: &str) -> Option<Self> {
        let location = node.and_then(|node| node.location);
        let entries: &'n [Entry] = match node.map(|node| &node.value) {
            None | Some(Value::Null) => &[],
            Some(Value::Map(entries)) => entries,
            Some(other) => {
                ctx.problem(
                    path,
                    location,
                    format!("must be a mapping of keys, not {}", other.kind()),
                );
                return None;
            }
        };
        Some(Self {
            path: path.to_owned(),
            location,
            entries,
            expected: Vec::new(),
        })
    }

    /// Where the mapping starts, to point at when a required key is missing.
    pub(super) fn location(&self) -> Option<Location> {
        self.location
    }

    /// The key path of a child key, e.g. `connections[0]` + `target`.
    pub(super) fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`, `None` when absent or null. Marks the key as known.
    pub(super) fn get(&mut self, key: &str) -> Option<Field<'n>> {
        if !self.expected.iter().any(|known| known == key) {
            self.expected.push(key.to_owned());
        }
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .filter(|entry| entry.value.value != Value::Null)
            .map(|entry| Field {
                path: self.child_path(key),
                node: &entry.value,
            })
    }

    /// Like [`Self::get`], but records "is required" when the key is absent.
    pub(super) fn require(&mut self, ctx: &mut Ctx<'_>, key: &str) -> Option<Field<'n>> {
        let field = self.get(key);
        if field.is_none() {
            ctx.problem(&self.child_path(key), self.location, "is required");
        }
        field
    }

    /// Reports every key that no decoder asked for, with the keys that are allowed.
    pub(super) fn finish(self, ctx: &mut Ctx<'_>) {
        for entry in self.entries {
            if !self.expected.contains(&entry.key) {
                ctx.problem(
                    &self.child_path(&entry.key),
                    entry.key_location,
                    format!(
                        "unknown key (expected one of: {})",
                        self.expected.join(", ")
                    ),
                );
            }
        }
    }
}

impl Ctx<'_> {
    /// Records a problem.
    pub(super) fn problem(
        &mut self,
        path: &str,
        location: Option<Location>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem::new(path, message, location));
    }

    /// Records a problem at a field's key path and location.
    pub(super) fn field_problem(&mut self, field: &Field<'_>, message: impl Into<String>) {
        self.problem(&field.path, field.node.location, message);
    }

    /// Resolves a path from the config against the config file's directory.
    pub(super) fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.config_dir.join(path)
        }
    }

    /// A string scalar. Integers are taken as their digits; YAML booleans
    /// (`yes`, `off`) are refused because their spelling is lost.
    pub(super) fn string(&mut self, field: &Field<'_>) -> Option<String> {
        match &field.node.value {
            Value::String(text) => Some(text.clone()),
            Value::Int(number) => Some(number.to_string()),
            Value::Bool(_) => {
                self.field_problem(
                    field,
                    "must be a string (quote it: YAML reads this value as a boolean)",
                );
                None
            }
            other => {
                self.field_problem(field, format!("must be a string, not {}", other.kind()));
                None
            }
        }
    }

    /// An optional `proxy`: an `http://` or `https://` proxy URL for one
    /// endpoint, kept as a [`Secret`] (it may carry credentials).
    pub(super) fn proxy(&mut self, map: &mut MapReader<'_>) -> Option<Option<Secret>> {
        let Some(field) = map.get("proxy") else {
            return Some(None);
        };
        let text = self.non_empty_string(&field)?;
        match Url::parse(text.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(Some(Secret::new(url.into())))
            }
            _ => {
                self.field_problem(
                    &field,
                    "must be a proxy URL like http://proxy.example:3128 (http or https)",
                );
                None
            }
        }
    }

    /// An optional `ca_file`: PEM certificates of a private CA, resolved
    /// against the config file's directory.
    pub(super) fn ca_file(&mut self, map: &mut MapReader<'_>) -> Option<Option<super::CaBundle>> {
        let Some(field) = map.get("ca_file") else {
            return Some(None);
        };
        let text = self.non_empty_string(&field)?;
        let path = self.resolve_path(Path::new(text.trim()));
        match self.env.read_file(&path) {
            Ok(pem) => match super::CaBundle::parse(path, pem.into_bytes()) {
                Ok(bundle) => Some(Some(bundle)),
                Err(message) => {
                    self.field_problem(&field, message);
                    None
                }
            },
            Err(error) => {
                self.field_problem(&field, format!("cannot read {}: {error}", path.display()));
                None
            }
        }
    }

    /// A percentage like `"50%"`, from 1% to 100%, as a share (0.01..=1.0):
    /// how much of a vendor's rate limit penvio-sync may use.
    pub(super) fn percentage(&mut self, field: &Field<'_>) -> Option<f64> {
        let parsed = match &field.node.value {
            Value::String(text) => text
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|n| (1.0..=100.0).contains(n)),
            _ => None,
        };
        if parsed.is_none() {
            self.field_problem(
                field,
                "must be a percentage from \"1%\" to \"100%\", like \"50%\"",
            );
        }
        parsed.map(|n| n / 100.0)
    }

    /// An optional source `requests_per_second` (1 to 1000), our own
    /// ceiling on requests to the IdP; `default` when absent.
    pub(super) fn requests_per_second(
        &mut self,
        map: &mut MapReader<'_>,
        default: u32,
    ) -> Option<std::num::NonZeroU32> {
        let value = match map.get("requests_per_second") {
            Some(field) => self.integer(&field, 1..=1000)?,
            None => u64::from(default),
        };
        std::num::NonZeroU32::new(u32::try_from(value).ok()?)
    }

    /// A boolean scalar (`true`/`false`, or YAML's `yes`/`no`).
    pub(super) fn boolean(&mut self, field: &Field<'_>) -> Option<bool> {
        match &field.node.value {
            Value::Bool(value) => Some(*value),
            other => {
                self.field_problem(
                    field,
                    format!("must be true or false, not {}", other.kind()),
                );
                None
            }
        }
    }

    /// A non-empty string scalar.
    pub(super) fn non_empty_string(&mut self, field: &Field<'_>) -> Option<String> {
        let text = self.string(field)?;
        if text.trim().is_empty() {
            self.field_problem(field, "must not be empty");
            return None;
        }
        Some(text)
    }

    /// A whole number within `range`; quoted digits are accepted too.
    pub(super) fn integer(
        &mut self,
        field: &Field<'_>,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        let number: Option<i128> = match &field.node.value {
            Value::Int(number) => Some(*number),
            // Some YAML spellings of integers (`010`) arrive as floats.
            Value::Float(number) if number.fract() == 0.0 && number.abs() < 1e18 => {
                Some(*number as i128)
            }
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        let Some(number) = number else {
            self.field_problem(field, "must be a whole number");
            return None;
        };
        match u64::try_from(number) {
            Ok(value) if range.contains(&value) => Some(value),
            _ => {
                let message = if *range.end() == u64::MAX {
                    format!("must be at least {}", range.start())
                } else {
                    format!("must be between {} and {}", range.start(), range.end())
                };
                self.field_problem(field, message);
                None
            }
        }
    }

    /// A duration with a unit (`30s`, `1h`, `30d`); `positive` refuses zero.
    pub(super) fn duration(&mut self, field: &Field<'_>, positive: bool) -> Option<Duration> {
        let parsed = match &field.node.value {
            Value::String(text) => humantime::parse_duration(text.trim()).ok(),
            _ => None,
        };
        match parsed {
            Some(duration) if positive && duration.is_zero() => {
                self.field_problem(field, "must be longer than zero");
                None
            }
            Some(duration) => Some(duration),
            None => {
                self.field_problem(
                    field,
                    "must be a duration with a unit, like \"30s\", \"1h\" or \"30d\"",
                );
                None
            }
        }
    }

    /// An `http(s)` URL: https unless the host is loopback, no credentials,
    /// query or fragment; a trailing slash is removed so paths join cleanly.
    pub(super) fn http_url(&mut self, field: &Field<'_>) -> Option<Url> {
        let text = self.non_empty_string(field)?;
        match check_http_url(text.trim()) {
            Ok(url) => Some(url),
            Err(message) => {
                self.field_problem(field, message);
                None
            }
        }
    }

    /// A list; each item is handed to `item` with its own key path (`key[i]`).
    pub(super) fn list<T>(
        &mut self,
        field: &Field<'_>,
        mut item: impl FnMut(&mut Self, &Field<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let Value::Seq(nodes) = &field.node.value else {
            self.field_problem(
                field,
                format!("must be a list, not {}", field.node.value.kind()),
            );
            return None;
        };
        let mut items = Vec::with_capacity(nodes.len());
        let mut ok = true;
        for (index, node) in nodes.iter().enumerate() {
            let child = Field {
                path: format!("{}[{index}]", field.path),
                node,
            };
            match item(self, &child) {
                Some(value) => items.push(value),
                None => ok = false,
            }
        }
        ok.then_some(items)
    }

    /// A secret given as `key` (literal or `${ENV_VAR}`) or `key_file` (a
    /// path). Returns `Some(None)` when neither is set and `required` is false,
    /// `None` after recording a problem. Problems never include the value.
    pub(super) fn secret(
        &mut self,
        map: &mut MapReader<'_>,
        key: &str,
        required: bool,
    ) -> Option<Option<Secret>> {
        let file_key = format!("{key}_file");
        let inline = map.get(key);
        let file = map.get(&file_key);
        match (inline, file) {
            (Some(inline), Some(_)) => {
                self.field_problem(&inline, format!("set either {key} or {file_key}, not both"));
                None
            }
            (None, None) if required => {
                self.problem(
                    &map.child_path(key),
                    map.location,
                    format!("is required (set {key}, or {file_key} to a file holding it)"),
                );
                None
            }
            (None, None) => Some(None),
            (Some(inline), None) => self.inline_secret(&inline).map(Some),
            (None, Some(file)) => self.file_secret(&file).map(Some),
        }
    }

    fn inline_secret(&mut self, field: &Field<'_>) -> Option<Secret> {
        let text = self.string(field)?;
        if let Some(reference) = text.strip_prefix("${") {
            let name = reference.strip_suffix('}').unwrap_or_default();
            if !is_env_var_name(name) {
                self.field_problem(
                    field,
                    "is not a valid environment reference (write the whole value as ${NAME})",
                );
                return None;
            }
            return match self.env.var(name) {
                Some(value) if !value.is_empty() => Some(Secret::new(value)),
                Some(_) => {
                    self.field_problem(field, format!("environment variable {name} is empty"));
                    None
                }
                None => {
                    self.field_problem(field, format!("environment variable {name} is not set"));
                    None
                }
            };
        }
        if text.is_empty() {
            self.field_problem(field, "must not be empty");
            return None;
        }
        Some(Secret::new(text))
    }

    fn file_secret(&mut self, field: &Field<'_>) -> Option<Secret> {
        let text = self.non_empty_string(field)?;
        let path = PathBuf::from(text.trim());
        let path = if path.is_absolute() {
            path
        } else {
            // systemd's LoadCredential= puts credentials here.
            match self
                .env
                .var("CREDENTIALS_DIRECTORY")
                .filter(|dir| !dir.is_empty())
            {
                Some(dir) => PathBuf::from(dir).join(path),
                None => self.config_dir.join(path),
            }
        };
        if let Some(mode) = self.env.file_mode(&path)
            && mode & 0o077 != 0
            && !self.env.allow_insecure_secret_files()
        {
            self.field_problem(
                field,
                format!(
                    "{} is readable by group or others (mode {:04o}): run chmod 600 on it (in a container that cannot, set {}=1 or pass --allow-insecure-secret-files)",
                    path.display(),
                    mode & 0o7777,
                    super::env::ALLOW_INSECURE_SECRET_FILES
                ),
            );
            return None;
        }
        match self.env.read_file(&path) {
            Ok(content) => {
                let value = content.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    self.field_problem(field, format!("{} is empty", path.display()));
                    return None;
                }
                Some(Secret::new(value.to_owned()))
            }
            Err(error) => {
                self.field_problem(field, format!("cannot read {}: {error}", path.display()));
                None
            }
        }
    }
}

fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks an http(s) URL against the https-unless-loopback rule.
pub(super) fn check_http_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|error| format!("is not a valid URL ({error})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err("must be https (http is allowed only for loopback addresses)".to_owned());
        }
        other => return Err(format!("must be an https:// URL, not {other}:")),
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password (use the token setting)".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query (?…) or fragment (#…)".to_owned());
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    if trimmed.len() != url.path().len() {
        url.set_path(&trimmed);
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come bracketed ("[::1]"); IPv4 ones are already normalized.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn decode_root(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Option<Config> {
    let mut root = MapReader::open(ctx, Some(&raw.root), "")?;

    let state_dir_field = root.get("state_dir");
    let state_dir_configured = state_dir_field.is_some();
    let state_dir = match state_dir_field {
        Some(field) => ctx
            .non_empty_string(&field)
            .map(|text| ctx.resolve_path(Path::new(text.trim()))),
        None => Some(default_state_dir(ctx.env)),
    };
    let explain_max_age = match root.get("explain_max_age") {
        Some(field) => ctx.duration(&field, false),
        None => Some(DEFAULT_EXPLAIN_MAX_AGE),
    };
    let log = decode_log(ctx, root.get("log"));
    let listen = match root.get("listen") {
        Some(field) => ctx.string(&field).and_then(|text| {
            let parsed = text.trim().parse::<SocketAddr>().ok();
            if parsed.is_none() {
                ctx.field_problem(
                    &field,
                    "must be an IP address and port, like 127.0.0.1:9464 or [::1]:9464",
                );
            }
            parsed
        }),
        None => DEFAULT_LISTEN.parse().ok(),
    };
    let listen_token = ctx.secret(&mut root, "listen_token", false);
    if let (Some(address), Some(None)) = (&listen, &listen_token)
        && !address.ip().is_loopback()
        && let Some(field) = root.get("listen")
    {
        ctx.field_problem(
            &field,
            "a non-loopback address needs listen_token (the endpoint can trigger runs)",
        );
    }
    let connections = match root.require(ctx, "connections") {
        Some(field) => decode_connections(ctx, &field),
        None => None,
    };
    let notifications = match root.get("notifications") {
        Some(field) => {
            let names: Vec<String> = connections
                .iter()
                .flatten()
                .map(|connection| connection.name.clone())
                .collect();
            super::notification::decode_notifications(ctx, &field, &names)
        }
        None => Some(Vec::new()),
    };
    root.finish(ctx);

    Some(Config {
        path: raw.path.clone(),
        state_dir: state_dir?,
        state_dir_configured,
        log: log?,
        listen: listen?,
        listen_token: listen_token?,
        explain_max_age: explain_max_age?,
        connections: connections?,
        notifications: notifications?,
    })
}

/// `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`; the first entry if
/// several), else the packaged service's directory when it exists (so an
/// admin's CLI finds the daemon's state), else `./state` relative to the
/// working directory.
fn default_state_dir(env: &dyn Environment) -> PathBuf {
    env.var("STATE_DIRECTORY")
        .and_then(|dirs| dirs.split(':').next().map(str::to_owned))
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let packaged = Path::new(PACKAGED_STATE_DIR);
            env.is_dir(packaged).then(|| packaged.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

fn decode_log(ctx: &mut Ctx<'_>, field: Option<Field<'_>>) -> Option<LogConfig> {
    let path = field
        .as_ref()
        .map_or_else(|| "log".to_owned(), |f| f.path.clone());
    let mut map = MapReader::open(ctx, field.as_ref().map(|f| f.node), &path)?;
    let defaults = LogConfig::default();
    let format = match map.get("format") {
        Some(field) => {
            ctx.string(&field)
                .and_then(|text| match text.trim().to_ascii_lowercase().as_str() {
                    "text" => Some(LogFormat::Text),
                    "json" => Some(LogFormat::Json),
                    _ => {
                        ctx.field_problem(&field, "must be one of: text, json");
                        None
                    }
                })
        }
        None => Some(defaults.format),
    };
    let level = match map.get("level") {
        Some(field) => ctx.non_empty_string(&field).and_then(|text| {
            let text = text.trim().to_owned();
            match tracing_subscriber::EnvFilter::builder().parse(&text) {
                Ok(_) => Some(text),
                Err(error) => {
                    ctx.field_problem(
                        &field,
                        format!("is not a valid log filter like \"info\" or \"penvio_sync=debug,info\" ({error})"),
                    );
                    None
                }
            }
        }),
        None => Some(defaults.level),
    };
    map.finish(ctx);
    Some(LogConfig {
        format: format?,
        level: level?,
    })
}

fn decode_connections(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<Vec<ConnectionConfig>> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut index = 0;
    let connections = ctx.list(field, |ctx, item| {
        let connection = decode_connection(ctx, item, index, &mut names);
        index += 1;
        connection
    })?;
    if connections.is_empty() {
        ctx.field_problem(field, "must list at least one connection");
        return None;
    }
    Some(connections)
}

fn decode_connection(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    index: usize,
    names: &mut HashMap<String, usize>,
) -> Option<ConnectionConfig> {
    let mut map = MapReader::open(ctx, Some(field.node), &field.path)?;
    let name = map
        .require(ctx, "name")
        .and_then(|field| decode_name(ctx, &field, index, names));
    let schedule = match map.get("schedule") {
        Some(field) => decode_schedule(ctx, &field),
        None => Some(DEFAULT_SCHEDULE.to_owned()),
    };
    let source = map
        .require(ctx, "source")
        .and_then(|field| source::decode_source(ctx, &field));
    let scope = decode_scope(ctx, map.get("scope"), &map.child_path("scope"));
    let mapping = decode_mapping(ctx, map.get("mapping"), &map.child_path("mapping"));
    let target = map
        .require(ctx, "target")
        .and_then(|field| decode_target(ctx, &field));
    let policy = decode_policy(ctx, map.get("policy"), &map.child_path("policy"));
    let run_on_start = match map.get("run_on_start") {
        Some(field) => ctx.boolean(&field),
        None => Some(true),
    };
    let reconcile_schedule = match map.get("reconcile_schedule") {
        Some(field) => match &field.node.value {
            Value::Null => Some(None),
            Value::String(text) if text.trim() == "never" => Some(None),
            _ => decode_schedule(ctx, &field).map(Some),
        },
        None => Some(Some(DEFAULT_RECONCILE_SCHEDULE.to_owned())),
    };
    let run_timeout = match map.get("run_timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(super::DEFAULT_RUN_TIMEOUT),
    };
    map.finish(ctx);
    Some(ConnectionConfig {
        name: name?,
        schedule: schedule?,
        run_on_start: run_on_start?,
        reconcile_schedule: reconcile_schedule?,
        source: source?,
        scope: scope?,
        mapping: mapping?,
        target: target?,
        policy: policy?,
        run_timeout: run_timeout?,
    })
}

fn decode_name(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    index: usize,
    names: &mut HashMap<String, usize>,
) -> Option<String> {
    let name = ctx.non_empty_string(field)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        ctx.field_problem(
            field,
            format!("{name:?} may contain only lowercase letters, digits and \"-\""),
        );
        return None;
    }
    if let Some(first) = names.get(&name) {
        ctx.field_problem(field, format!("{name:?} is used by connections[{first}]"));
        return None;
    }
    names.insert(name.clone(), index);
    Some(name)
}

/// Accepts 5 cron fields (minute first) or 6 (seconds first) and returns the
/// 6-field form the scheduler expects.
pub(super) fn normalize_schedule(text: &str) -> Result<String, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let normalized = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        _ => {
            return Err(
                "must be a cron expression with 5 fields (minute hour day month weekday) or 6 (seconds first)"
                    .to_owned(),
            );
        }
    };
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .dom_and_dow(true)
        .build()
        .parse(&normalized)
        .map_err(|error| format!("is not a valid cron expression ({error})"))?;
    Ok(normalized)
}

fn decode_schedule(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<String> {
    let text = ctx.string(field)?;
    match normalize_schedule(&text) {
        Ok(schedule) => Some(schedule),
        Err(message) => {
            ctx.field_problem(field, message);
            None
        }
    }
}

fn decode_scope(ctx: &mut Ctx<'_>, field: Option<Field<'_>>, path: &str) -> Option<ScopeConfig> {
    let mut map = MapReader::open(ctx, field.as_ref().map(|f| f.node), path)?;
    let defaults = ScopeConfig::default();
    let user_groups = match map.get("user_groups") {
        Some(field) => ctx.list(&field, |ctx, item| ctx.non_empty_string(item)),
        None => Some(defaults.user_groups),
    };
    let team_groups = match map.get("team_groups") {
        Some(field) => ctx.list(&field, |ctx, item| {
            let text = ctx.string(item)?;
            match GroupPattern::new(&text) {
                Ok(pattern) => Some(pattern),
                Err(message) => {
                    ctx.field_problem(item, message);
                    None
                }
            }
        }),
        None => Some(defaults.team_groups),
    };
    map.finish(ctx);
    Some(ScopeConfig {
        user_groups: user_groups?,
        team_groups: team_groups?,
    })
}

fn decode_mapping(
    ctx: &mut Ctx<'_>,
    field: Option<Field<'_>>,
    path: &str,
) -> Option<MappingConfig> {
    let mut map = MapReader::open(ctx, field.as_ref().map(|f| f.node), path)?;
    let mut template = |key: &str| -> Option<Option<Template>> {
        let Some(field) = map.get(key) else {
            return Some(None);
        };
        let text = ctx.string(&field)?;
        match Template::parse(&text) {
            Ok(template) => Some(Some(template)),
            Err(message) => {
                ctx.field_problem(&field, message);
                None
            }
        }
    };
    let user_name = template("userName");
    let given_name = template("givenName");
    let family_name = template("familyName");
    let display_name = template("displayName");
    let email = template("email");
    let external_id = template("externalId");
    map.finish(ctx);
    Some(MappingConfig {
        user_name: user_name?,
        given_name: given_name?,
        family_name: family_name?,
        display_name: display_name?,
        email: email?,
        external_id: external_id?,
    })
}

/// Default sustained request rate to Penvio.
const DEFAULT_REQUESTS_PER_SECOND: u64 = 10;
/// Default requests in flight.
const DEFAULT_CONCURRENCY: u64 = 4;
/// Default and maximum members per PATCH.
const DEFAULT_MEMBER_PATCH_SIZE: u64 = 100;
const MAX_MEMBER_PATCH_SIZE: u64 = 1000;
/// Default request timeout, for the target and sources.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn decode_target(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<TargetConfig> {
    let mut map = MapReader::open(ctx, Some(field.node), &field.path)?;
    let url = map
        .require(ctx, "url")
        .and_then(|field| ctx.http_url(&field));
    let token = ctx.secret(&mut map, "token", true).flatten();
    let mut positive = |key: &str, default: u64, max: u64| match map.get(key) {
        Some(field) => ctx.integer(&field, 1..=max),
        None => Some(default),
    };
    let requests_per_second = positive(
        "requests_per_second",
        DEFAULT_REQUESTS_PER_SECOND,
        u64::from(u32::MAX),
    );
    let burst = positive(
        "burst",
        requests_per_second.unwrap_or(DEFAULT_REQUESTS_PER_SECOND),
        u64::from(u32::MAX),
    );
    let concurrency = positive("concurrency", DEFAULT_CONCURRENCY, u64::MAX);
    let member_patch_size = positive(
        "member_patch_size",
        DEFAULT_MEMBER_PATCH_SIZE,
        MAX_MEMBER_PATCH_SIZE,
    );
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    let ca_file = ctx.ca_file(&mut map);
    let proxy = ctx.proxy(&mut map);
    let limits = super::source_limits::decode_limits(ctx, &mut map);
    map.finish(ctx);
    Some(TargetConfig {
        url: url?,
        token: token?,
        requests_per_second: non_zero_u32(requests_per_second?)?,
        burst: non_zero_u32(burst?)?,
        concurrency: non_zero_usize(concurrency?)?,
        member_patch_size: non_zero_usize(member_patch_size?)?,
        timeout: timeout?,
        ca_file: ca_file?,
        proxy: proxy?,
        limits: limits?,
    })
}

fn non_zero_u32(value: u64) -> Option<NonZeroU32> {
    u32::try_from(value).ok().and_then(NonZeroU32::new)
}

fn non_zero_usize(value: u64) -> Option<NonZeroUsize> {
    usize::try_from(value).ok().and_then(NonZeroUsize::new)
}

fn decode_policy(ctx: &mut Ctx<'_>, field: Option<Field<'_>>, path: &str) -> Option<PolicyConfig> {
    let mut map = MapReader::open(ctx, field.as_ref().map(|f| f.node), path)?;
    let defaults = PolicyConfig::default();
    let on_user_removed = match map.get("on_user_removed") {
        Some(field) => {
            ctx.string(&field)
                .and_then(|text| match text.trim().to_ascii_lowercase().as_str() {
                    "deactivate" => Some(OnUserRemoved::Deactivate),
                    "delete" => Some(OnUserRemoved::Delete),
                    _ => {
                        ctx.field_problem(&field, "must be one of: deactivate, delete");
                        None
                    }
                })
        }
        None => Some(defaults.on_user_removed),
    };
    let delete_deactivated_after = match map.get("delete_deactivated_after") {
        Some(field) => {
            let duration = ctx.duration(&field, false);
            if on_user_removed == Some(OnUserRemoved::Delete) {
                ctx.field_problem(
                    &field,
                    "applies only when on_user_removed is \"deactivate\" (removed users are already deleted at once)",
                );
                None
            } else {
                duration.map(Some)
            }
        }
        None => Some(defaults.delete_deactivated_after),
    };
    let mut threshold = |key: &str, default: Threshold| match map.get(key) {
        Some(field) => decode_threshold(ctx, &field),
        None => Some(default),
    };
    let max_deactivations = threshold("max_deactivations", defaults.max_deactivations);
    let max_deletions = threshold("max_deletions", defaults.max_deletions);
    let max_member_removals = threshold("max_member_removals", defaults.max_member_removals);
    let on_username_reuse = match map.get("on_username_reuse") {
        Some(field) => {
            ctx.string(&field)
                .and_then(|text| match text.trim().to_ascii_lowercase().as_str() {
                    "refuse" => Some(OnUserNameReuse::Refuse),
                    "relink" => Some(OnUserNameReuse::Relink),
                    _ => {
                        ctx.field_problem(&field, "must be one of: refuse, relink");
                        None
                    }
                })
        }
        None => Some(defaults.on_username_reuse),
    };
    let max_shrinkage = match map.get("max_shrinkage") {
        Some(field) => match decode_threshold(ctx, &field) {
            Some(Threshold::Share(share)) => Some(share),
            Some(Threshold::Count(_)) => {
                ctx.field_problem(&field, "must be a share like \"20%\"");
                None
            }
            None => None,
        },
        None => Some(defaults.max_shrinkage),
    };
    map.finish(ctx);
    Some(PolicyConfig {
        on_user_removed: on_user_removed?,
        delete_deactivated_after: delete_deactivated_after?,
        max_deactivations: max_deactivations?,
        max_deletions: max_deletions?,
        max_shrinkage: max_shrinkage?,
        max_member_removals: max_member_removals?,
        on_username_reuse: on_username_reuse?,
    })
}

fn decode_threshold(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<Threshold> {
    let parsed = match &field.node.value {
        Value::Int(count) => u64::try_from(*count)
            .map(Threshold::Count)
            .map_err(|_| "must be a count or a share like \"10%\"".to_owned()),
        Value::String(text) => Threshold::parse(text),
        _ => Err("must be a count or a share like \"10%\"".to_owned()),
    };
    match parsed {
        Ok(threshold) => Some(threshold),
        Err(message) => {
            ctx.field_problem(field, message);
            None
        }
    }
}
