//! The readers every decoder of the config shares: the validation context
//! that collects problems, a [`MapReader`] that remembers the keys asked for
//! (so anything left over is reported as unknown), and typed readers for
//! strings, numbers, durations, URLs, secrets and choices. The validator
//! (`validate.rs`) and each source's decoder (`source_*.rs`) build on this
//! file; it imports neither.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use super::env::Environment;
use super::error::{Location, Problem};
use super::raw::{Entry, Node, Value};
use super::secret::Secret;

/// Default request timeout, for the target and sources.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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

impl<'e> Ctx<'e> {
    /// A context reading values from `env`, resolving relative paths
    /// against `config_dir` (the config file's directory).
    pub(super) fn new(env: &'e dyn Environment, config_dir: PathBuf) -> Self {
        Ctx {
            env,
            config_dir,
            problems: Vec::new(),
        }
    }

    /// The environment (variables and files) the config is read in.
    pub(super) fn env(&self) -> &'e dyn Environment {
        self.env
    }

    /// Every problem found, in the order found.
    pub(super) fn into_problems(self) -> Vec<Problem> {
        self.problems
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
    pub(super) fn ca_file(
        &mut self,
        map: &mut MapReader<'_>,
    ) -> Option<Option<super::ca::CaBundle>> {
        let Some(field) = map.get("ca_file") else {
            return Some(None);
        };
        let text = self.non_empty_string(&field)?;
        let path = self.resolve_path(Path::new(text.trim()));
        match self.env.read_file(&path) {
            Ok(pem) => match super::ca::CaBundle::parse(path, pem.into_bytes()) {
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
/// One of a few words, each standing for a value.
pub(super) fn choice<T: Copy>(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    options: &[(&str, T)],
) -> Option<T> {
    let text = ctx.string(field)?;
    let found = options
        .iter()
        .find(|(name, _)| *name == text.trim())
        .map(|(_, value)| *value);
    if found.is_none() {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        ctx.problem(
            &field.path,
            field.node.location,
            format!("must be one of: {}", names.join(", ")),
        );
    }
    found
}

/// An id pasted into URLs, headers or credentials: trimmed, not empty, and
/// made only of the characters `allowed` accepts, so it can never change
/// the request; `message` is the problem otherwise (each vendor's ids
/// differ).
pub(super) fn identifier(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    allowed: fn(char) -> bool,
    message: impl Into<String>,
) -> Option<String> {
    let text = ctx.non_empty_string(field)?;
    let text = text.trim().to_owned();
    if text.chars().all(allowed) {
        Some(text)
    } else {
        ctx.field_problem(field, message);
        None
    }
}

/// The vendor API's base URL: `base_url` as written, or the URL that
/// `from_short` builds from the short form under `short_key` (a domain, a
/// subdomain), or the problem it names. Exactly one of the two keys must
/// be set; `required` says what to write when neither is.
pub(super) fn vendor_base_url(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    short_key: &str,
    required: &str,
    from_short: impl FnOnce(&str) -> Result<String, &'static str>,
) -> Option<Url> {
    match (map.get(short_key), map.get("base_url")) {
        (Some(field), None) => {
            let text = ctx.non_empty_string(&field)?;
            let checked = from_short(text.trim())
                .map_err(str::to_owned)
                .and_then(|url| check_http_url(&url));
            match checked {
                Ok(url) => Some(url),
                Err(message) => {
                    ctx.field_problem(&field, message);
                    None
                }
            }
        }
        (None, Some(field)) => ctx.http_url(&field),
        (Some(field), Some(_)) => {
            ctx.field_problem(
                &field,
                format!("set either {short_key} or base_url, not both"),
            );
            None
        }
        (None, None) => {
            ctx.problem(&map.child_path(short_key), map.location(), required);
            None
        }
    }
}
