//! The pure validation step: a [`RawConfig`] tree in, a [`Config`] or every
//! problem out. Each decoder reads the keys it knows through a [`MapReader`]
//! (`reader.rs`), which remembers them so anything left over is reported as
//! an unknown key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};

use croner::parser::{CronParser, Seconds, Year};

use super::env::Environment;
use super::error::ConfigError;
use super::pattern::GroupPattern;
use super::raw::{RawConfig, Value};
use super::reader::{Ctx, DEFAULT_TIMEOUT, Field, MapReader};
use super::source;
use super::template::Template;
use super::threshold::Threshold;
use super::validated::{
    Config, ConnectionConfig, DEFAULT_EXPLAIN_MAX_AGE, DEFAULT_LISTEN, DEFAULT_RECONCILE_SCHEDULE,
    DEFAULT_RUN_TIMEOUT, DEFAULT_SCHEDULE, DEFAULT_STATE_DIR, LogConfig, LogFormat, MappingConfig,
    OnUserNameReuse, OnUserRemoved, PACKAGED_STATE_DIR, PolicyConfig, ScopeConfig, TargetConfig,
};

/// Checks a parsed config and builds the validated [`Config`]. Pure apart from
/// `env` (variables and secret files), so the same input always gives the
/// same answer; on failure it returns every problem found, not just the first.
pub fn validate(raw: &RawConfig, env: &dyn Environment) -> Result<Config, ConfigError> {
    let config_dir = raw.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut ctx = Ctx::new(env, config_dir);
    let config = decode_root(&mut ctx, raw);
    let problems = ctx.into_problems();
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            path: raw.path.clone(),
            problems,
        }),
    }
}

fn decode_root(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Option<Config> {
    let mut root = MapReader::open(ctx, Some(&raw.root), "")?;

    let state_dir_field = root.get("state_dir");
    let state_dir_configured = state_dir_field.is_some();
    let state_dir = match state_dir_field {
        Some(field) => ctx
            .non_empty_string(&field)
            .map(|text| ctx.resolve_path(Path::new(text.trim()))),
        None => Some(default_state_dir(ctx.env())),
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
        None => Some(DEFAULT_RUN_TIMEOUT),
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
