//! `notifications:`: where alerts go when a sync fails, is held back, or goes
//! stale (issue 19). One entry is one channel (a webhook, Slack, Teams or an
//! e-mail address list) with the events and connections it wants.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use super::raw::Value;
use super::reader::{Ctx, Field, MapReader};
use super::secret::Secret;

/// The `type` values of a notification channel, for error messages.
pub const NOTIFICATION_TYPES: &[&str] = &["webhook", "slack", "teams", "email"];

/// Something worth telling a person about, as named in `events:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertEvent {
    /// A run failed (fetch, credentials, state): exit code 1.
    RunFailed,
    /// The guard held destructive operations back: exit code 4.
    HeldBack,
    /// Some operations failed: exit code 3.
    Partial,
    /// No successful run within `stale_after`.
    Stale,
    /// A connection that had alerts ran successfully again.
    Recovered,
    /// Penvio answered 401: the SCIM token was most likely regenerated.
    TokenRejected,
}

impl AlertEvent {
    /// Every event, the default of `events:`.
    pub const ALL: [AlertEvent; 6] = [
        AlertEvent::RunFailed,
        AlertEvent::HeldBack,
        AlertEvent::Partial,
        AlertEvent::Stale,
        AlertEvent::Recovered,
        AlertEvent::TokenRejected,
    ];

    /// The name used in the config, payloads and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::RunFailed => "run_failed",
            AlertEvent::HeldBack => "held_back",
            AlertEvent::Partial => "partial",
            AlertEvent::Stale => "stale",
            AlertEvent::Recovered => "recovered",
            AlertEvent::TokenRejected => "token_rejected",
        }
    }

    /// Parses a name from `events:`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == text)
    }
}

/// One alert channel.
#[derive(Debug, Clone)]
pub struct NotificationConfig {
    /// Unique name, for `notify test --name`, logs and metrics.
    pub name: String,
    /// Where and how the alert is delivered.
    pub channel: Channel,
    /// The events this channel receives (default: all).
    pub events: BTreeSet<AlertEvent>,
    /// A connection is stale after this long without a successful run;
    /// `None` means 3 × the connection's schedule interval.
    pub stale_after: Option<Duration>,
    /// Only these connections (empty: all).
    pub connections: Vec<String>,
}

impl NotificationConfig {
    /// One line for `check`: name, type, events and connections (never the
    /// endpoint, which is a secret).
    pub fn describe(&self) -> String {
        let events: Vec<&str> = self.events.iter().map(|e| e.as_str()).collect();
        let connections = if self.connections.is_empty() {
            "all connections".to_owned()
        } else {
            self.connections.join(", ")
        };
        format!(
            "notification {} ({}): {} for {connections}; try it with `penvio-sync notify test --name {}`",
            self.name,
            self.channel.kind(),
            events.join(", "),
            self.name
        )
    }

    /// Whether this channel wants `event` for `connection`.
    pub fn wants(&self, event: AlertEvent, connection: &str) -> bool {
        self.events.contains(&event)
            && (self.connections.is_empty() || self.connections.iter().any(|c| c == connection))
    }
}

/// The delivery side of a channel. Every endpoint is a [`Secret`]: incoming
/// webhook URLs are credentials (anyone holding one can post).
#[derive(Debug, Clone)]
pub enum Channel {
    /// A documented JSON body, HMAC-SHA256-signed when `secret` is set.
    Webhook {
        /// The receiver's URL (https unless loopback).
        url: Secret,
        /// Key of the `X-Penvio-Sync-Signature` HMAC, if any.
        secret: Option<Secret>,
    },
    /// A Slack incoming webhook.
    Slack {
        /// The incoming-webhook URL.
        url: Secret,
    },
    /// A Microsoft Teams incoming webhook (Workflows or connector).
    Teams {
        /// The incoming-webhook URL.
        url: Secret,
    },
    /// Plain-text e-mail over SMTP.
    Email(Box<EmailConfig>),
}

impl Channel {
    /// The `type` as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
            Channel::Teams { .. } => "teams",
            Channel::Email(_) => "email",
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte (port 465 by default).
    ImplicitTls,
    /// `smtp://`: STARTTLS, required (port 587 by default).
    StartTls,
    /// `smtp://` to a loopback host: STARTTLS when offered, else plain (a
    /// local relay that never leaves the machine).
    LoopbackOpportunistic,
}

/// An e-mail channel.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub host: String,
    /// SMTP server port.
    pub port: u16,
    /// TLS mode derived from the `smtp_url` scheme and host.
    pub security: SmtpSecurity,
    /// Sender address (`Name <addr>` or `addr`).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// SMTP AUTH user name, if the server needs one.
    pub username: Option<String>,
    /// SMTP AUTH password.
    pub password: Option<Secret>,
}

/// Decodes `notifications:`; `connections` are the names of the configured
/// connections, which `connections:` filters must name.
pub(super) fn decode_notifications(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    connections: &[String],
) -> Option<Vec<NotificationConfig>> {
    let mut names: Vec<String> = Vec::new();
    ctx.list(field, |ctx, item| {
        let decoded = decode_notification(ctx, item, connections, &names);
        if let Some(decoded) = &decoded {
            names.push(decoded.name.clone());
        }
        decoded
    })
}

fn decode_notification(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    connections: &[String],
    taken: &[String],
) -> Option<NotificationConfig> {
    let mut map = MapReader::open(ctx, Some(field.node), &field.path)?;
    let name = map.require(ctx, "name").and_then(|field| {
        let name = ctx.non_empty_string(&field)?;
        if taken.contains(&name) {
            ctx.field_problem(&field, format!("{name:?} names another notification"));
            return None;
        }
        Some(name)
    });
    let kind = map
        .require(ctx, "type")
        .and_then(|field| ctx.non_empty_string(&field).map(|text| (text, field)));
    let channel = kind.and_then(|(text, field)| match text.trim() {
        "webhook" => decode_webhook(ctx, &mut map),
        "slack" => webhook_url(ctx, &mut map).map(|url| Channel::Slack { url }),
        "teams" => webhook_url(ctx, &mut map).map(|url| Channel::Teams { url }),
        "email" => decode_email(ctx, &mut map).map(|email| Channel::Email(Box::new(email))),
        other => {
            ctx.field_problem(
                &field,
                format!(
                    "{other:?} is not a notification type (expected one of: {})",
                    NOTIFICATION_TYPES.join(", ")
                ),
            );
            None
        }
    });
    let events = match map.get("events") {
        Some(field) => decode_events(ctx, &field),
        None => Some(AlertEvent::ALL.into_iter().collect()),
    };
    let stale_after = match map.get("stale_after") {
        Some(field) => ctx.duration(&field, true).map(Some),
        None => Some(None),
    };
    let filter = match map.get("connections") {
        Some(field) => ctx.list(&field, |ctx, item| {
            let name = ctx.non_empty_string(item)?;
            if !connections.contains(&name) {
                ctx.field_problem(item, format!("{name:?} is not a configured connection"));
                return None;
            }
            Some(name)
        }),
        None => Some(Vec::new()),
    };
    map.finish(ctx);
    Some(NotificationConfig {
        name: name?,
        channel: channel?,
        events: events?,
        stale_after: stale_after?,
        connections: filter?,
    })
}

fn decode_events(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<BTreeSet<AlertEvent>> {
    let events = ctx.list(field, |ctx, item| {
        let text = ctx.non_empty_string(item)?;
        let event = AlertEvent::parse(text.trim());
        if event.is_none() {
            let known: Vec<&str> = AlertEvent::ALL.iter().map(|e| e.as_str()).collect();
            ctx.field_problem(
                item,
                format!(
                    "{text:?} is not an event (expected one of: {})",
                    known.join(", ")
                ),
            );
        }
        event
    })?;
    if events.is_empty() {
        ctx.field_problem(
            field,
            "must list at least one event (or leave it out for all)",
        );
        return None;
    }
    Some(events.into_iter().collect())
}

fn decode_webhook(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<Channel> {
    let url = webhook_url(ctx, map);
    let secret = ctx.secret(map, "secret", false);
    Some(Channel::Webhook {
        url: url?,
        secret: secret?,
    })
}

/// The required `url` (or `url_file`, or `${ENV}`): a secret that must be an
/// https URL (http only to loopback). Problems never quote the value.
fn webhook_url(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<Secret> {
    let url = ctx.secret(map, "url", true).flatten()?;
    let Some(field) = map.get("url").or_else(|| map.get("url_file")) else {
        return Some(url);
    };
    match check_notify_url(url.expose().trim()) {
        Ok(()) => Some(Secret::new(url.expose().trim().to_owned())),
        Err(message) => {
            ctx.field_problem(&field, message);
            None
        }
    }
}

/// https unless the host is loopback; a host; no user info or fragment. A
/// query is allowed: Teams Workflows URLs carry their signature there.
fn check_notify_url(text: &str) -> Result<(), String> {
    let url = Url::parse(text).map_err(|error| format!("is not a valid URL ({error})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(url.host_str().unwrap_or_default()) => {}
        "http" => {
            return Err("must be https (http is allowed only for loopback addresses)".to_owned());
        }
        _ => return Err("must be an https:// URL".to_owned()),
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (#…)".to_owned());
    }
    Ok(())
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn decode_email(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<EmailConfig> {
    let endpoint = map
        .require(ctx, "smtp_url")
        .and_then(|field| smtp_endpoint(ctx, &field));
    let from = map
        .require(ctx, "from")
        .and_then(|field| mailbox(ctx, &field));
    let to = map.require(ctx, "to").and_then(|field| {
        let to = ctx.list(&field, mailbox)?;
        if to.is_empty() {
            ctx.field_problem(&field, "must list at least one address");
            return None;
        }
        Some(to)
    });
    let username = match map.get("username") {
        Some(field) => ctx.non_empty_string(&field).map(Some),
        None => Some(None),
    };
    let password = ctx.secret(map, "password", false);
    if let (Some(None), Some(Some(_))) = (&username, &password)
        && let Some(field) = map.get("password").or_else(|| map.get("password_file"))
    {
        ctx.field_problem(&field, "needs username too");
    }
    let (host, port, security) = endpoint?;
    Some(EmailConfig {
        host,
        port,
        security,
        from: from?,
        to: to?,
        username: username?,
        password: password?,
    })
}

/// `smtp://host[:587]` (STARTTLS) or `smtps://host[:465]` (implicit TLS).
fn smtp_endpoint(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<(String, u16, SmtpSecurity)> {
    let text = ctx.non_empty_string(field)?;
    let parsed = Url::parse(text.trim()).ok().filter(|url| {
        url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && matches!(url.path(), "" | "/")
            && url.query().is_none()
    });
    let Some(url) = parsed else {
        ctx.field_problem(
            field,
            "must be smtp://host:port (STARTTLS) or smtps://host:port (TLS), without user, path or query",
        );
        return None;
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let (security, default_port) = match url.scheme() {
        "smtps" => (SmtpSecurity::ImplicitTls, 465),
        "smtp" if is_loopback_host(&host) => (SmtpSecurity::LoopbackOpportunistic, 587),
        "smtp" => (SmtpSecurity::StartTls, 587),
        other => {
            ctx.field_problem(
                field,
                format!("must use smtp:// or smtps://, not {other}://"),
            );
            return None;
        }
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Some((host, url.port().unwrap_or(default_port), security))
}

fn mailbox(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<String> {
    if let Value::Seq(_) = field.node.value {
        ctx.field_problem(field, "must be one address");
        return None;
    }
    let text = ctx.non_empty_string(field)?;
    match text.trim().parse::<lettre::message::Mailbox>() {
        Ok(_) => Some(text.trim().to_owned()),
        Err(_) => {
            ctx.field_problem(
                field,
                "is not an e-mail address like alerts@example.com or \"Ops <ops@example.com>\"",
            );
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn notify_urls_are_https_unless_loopback_and_may_carry_a_query() {
        assert!(check_notify_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(check_notify_url("https://x.logic.azure.com/workflows/1?sig=abc").is_ok());
        assert!(check_notify_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_notify_url("http://hooks.example.com/x").is_err());
        assert!(check_notify_url("https://user:pw@hooks.example.com/x").is_err());
        assert!(check_notify_url("ftp://hooks.example.com/x").is_err());
    }

    #[test]
    fn the_description_never_shows_the_url() {
        let config = NotificationConfig {
            name: "ops".into(),
            channel: Channel::Slack {
                url: Secret::new("https://hooks.slack.com/services/T/B/secret".into()),
            },
            events: [AlertEvent::Stale, AlertEvent::RunFailed]
                .into_iter()
                .collect(),
            stale_after: None,
            connections: vec!["okta".into()],
        };
        assert_eq!(
            config.describe(),
            "notification ops (slack): run_failed, stale for okta; try it with `penvio-sync notify test --name ops`"
        );
    }

    #[test]
    fn event_names_round_trip() {
        for event in AlertEvent::ALL {
            assert_eq!(AlertEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(AlertEvent::parse("nope"), None);
    }
}
