//! `notifications:`: defaults, problems and the commented example.

use super::*;

/// `notifications:` decodes every channel type with its defaults.
#[test]
fn notifications_decode_with_defaults() {
    let env = env().with_var("SLACK_URL", "https://hooks.slack.com/services/T/B/x");
    let text = format!(
        "{}notifications:\n  - {{name: hook, type: webhook, url: \"http://127.0.0.1:9/h\", secret: k}}\n  - {{name: chat, type: slack, url: \"${{SLACK_URL}}\", events: [run_failed, recovered], connections: [c1], stale_after: 2h}}\n  - {{name: ops, type: email, smtp_url: \"smtp://mail.example.com\", from: a@example.com, to: [b@example.com]}}\n",
        connection_with("")
    );
    let config = load(&text, &env).unwrap();
    let [hook, chat, ops] = &config.notifications[..] else {
        panic!("{:?}", config.notifications);
    };
    assert_eq!(hook.events.len(), AlertEvent::ALL.len());
    assert!(matches!(
        &hook.channel,
        Channel::Webhook {
            secret: Some(_),
            ..
        }
    ));
    assert_eq!(chat.events.len(), 2);
    assert_eq!(chat.stale_after, Some(Duration::from_secs(7200)));
    assert!(chat.wants(AlertEvent::RunFailed, "c1") && !chat.wants(AlertEvent::Stale, "c1"));
    let Channel::Email(email) = &ops.channel else {
        panic!("{ops:?}");
    };
    assert_eq!((email.port, email.security), (587, SmtpSecurity::StartTls));
}

/// Bad notification entries name the key and the problem, never the URL.
#[test]
fn bad_notifications_name_key_and_problem() {
    let cases = [
        (
            "{name: a, type: slack, url: \"http://hooks.example.com/T/secret-path\"}",
            "notifications[0].url",
            "must be https",
        ),
        (
            "{name: a, type: pager}",
            "notifications[0].type",
            "not a notification type",
        ),
        (
            "{name: a, type: webhook, url: \"https://h.example\", events: [boom]}",
            "notifications[0].events[0]",
            "not an event",
        ),
        (
            "{name: a, type: webhook, url: \"https://h.example\", connections: [nope]}",
            "notifications[0].connections[0]",
            "not a configured connection",
        ),
        (
            "{name: a, type: email, smtp_url: \"imap://m.example\", from: a@example.com, to: [b@example.com]}",
            "notifications[0].smtp_url",
            "smtp://",
        ),
        (
            "{name: a, type: email, smtp_url: \"smtps://m.example\", from: nobody, to: [b@example.com]}",
            "notifications[0].from",
            "e-mail address",
        ),
        (
            "{name: a, type: teams}",
            "notifications[0].url",
            "is required",
        ),
    ];
    for (entry, key, message) in cases {
        let text = format!("{}notifications:\n  - {entry}\n", connection_with(""));
        let problem = single_problem(&text, &env());
        assert_eq!(problem.key_path, key, "{entry}");
        assert!(
            problem.message.contains(message),
            "{entry}: {}",
            problem.message
        );
        assert!(
            !problem.message.contains("secret-path"),
            "{}",
            problem.message
        );
    }
}

/// The commented `notifications:` example of the example config validates
/// once uncommented, so the documentation cannot drift from the validator.
#[test]
fn the_commented_notifications_example_is_valid() {
    let example = include_str!("../../../config/penvio-sync.example.yaml");
    let block: Vec<&str> = example
        .lines()
        .skip_while(|l| *l != "# notifications:")
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(""))
        .collect();
    assert!(block.len() > 10, "no notifications example found");
    let text = format!("{}{}\n", connection_with(""), block.join("\n"));
    let env = env()
        .with_var(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/x",
        )
        .with_var(
            "TEAMS_WEBHOOK_URL",
            "https://x.logic.azure.com/workflows/1?sig=s",
        )
        .with_file(
            "/etc/penvio-sync/alert-webhook-url",
            "https://hooks.example.com/a\n",
        )
        .with_file("/etc/penvio-sync/alert-webhook-secret", "k\n")
        .with_file("/etc/penvio-sync/smtp-password", "p\n");
    let config = load(&text, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let kinds: Vec<&str> = config
        .notifications
        .iter()
        .map(|n| n.channel.kind())
        .collect();
    assert_eq!(kinds, ["slack", "webhook", "teams", "email"]);
}
