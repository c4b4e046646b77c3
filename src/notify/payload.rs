//! The bodies each channel type receives, built from one [`Alert`]: the
//! documented webhook JSON, Slack's and Teams' incoming-webhook formats, and
//! a plain-text e-mail. Pure functions of the alert.

use serde_json::{Value, json};

use super::event::Alert;

/// The webhook body: the alert itself (see README "Alerts").
pub fn webhook(alert: &Alert) -> Vec<u8> {
    serde_json::to_vec(alert).unwrap_or_default()
}

/// A Slack incoming-webhook message: `{"text": …}` with the human lines.
pub fn slack(alert: &Alert) -> Value {
    json!({ "text": lines(alert).join("\n") })
}

/// A Teams incoming-webhook message: an Adaptive Card attachment, the form
/// both Workflows webhooks and the older connectors accept.
pub fn teams(alert: &Alert) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": alert.summary, "weight": "Bolder", "wrap": true
    })];
    body.extend(
        lines(alert)
            .into_iter()
            .skip(1)
            .map(|line| json!({"type": "TextBlock", "text": line, "wrap": true})),
    );
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

/// The e-mail subject.
pub fn email_subject(alert: &Alert) -> String {
    format!("[penvio-sync] {}", alert.summary)
}

/// The plain-text e-mail body.
pub fn email_body(alert: &Alert) -> String {
    let mut text = lines(alert).join("\n\n");
    text.push_str("\n\n-- \nSent by penvio-sync. Each problem is reported once until the connection recovers.\n");
    text
}

/// The human lines of an alert: summary, error, fix, run and time.
fn lines(alert: &Alert) -> Vec<String> {
    let mut lines = vec![alert.summary.clone()];
    if let Some(error) = &alert.first_error {
        lines.push(format!("Error: {error}"));
    }
    if let Some(fix) = &alert.fix {
        lines.push(format!("What to do: {fix}"));
    }
    let counts = alert.counts;
    if counts.applied + counts.failed + counts.held_back + counts.skipped > 0 {
        lines.push(format!(
            "Applied {}, failed {}, held back {}, skipped {}.",
            counts.applied, counts.failed, counts.held_back, counts.skipped
        ));
    }
    let mut context = format!("Event {} at {}", alert.event, alert.time);
    if let Some(run_id) = &alert.run_id {
        context.push_str(&format!(", run {run_id}"));
    }
    lines.push(format!("{context}."));
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn slack_and_teams_carry_the_summary_and_the_fix() {
        let mut alert = Alert::test(0);
        alert.fix = Some("update the token".into());
        let slack = slack(&alert);
        let text = slack["text"].as_str().unwrap();
        assert!(text.starts_with("Test alert") && text.contains("What to do: update the token"));
        let teams = teams(&alert);
        let card = &teams["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][0]["text"], alert.summary);
        assert!(email_body(&alert).contains("What to do: update the token"));
    }
}
