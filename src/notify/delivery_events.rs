//! The notable events of alerting, each in one place that logs and counts
//! it, so `/metrics` and the logs agree.

/// Alerts delivered, by channel and event.
pub const ALERTS_SENT_TOTAL: &str = "penvio_sync_alerts_sent_total";
/// Alerts given up on after every attempt, by channel and event.
pub const ALERT_DELIVERY_FAILURES_TOTAL: &str = "penvio_sync_alert_delivery_failures_total";
/// Alerts dropped because the alert queue was full.
pub const ALERTS_DROPPED_TOTAL: &str = "penvio_sync_alerts_dropped_total";

/// An alert reached its channel.
pub fn delivered(channel: &str, event: &str, attempts: u32) {
    metrics::counter!(ALERTS_SENT_TOTAL, "channel" => channel.to_owned(), "event" => event.to_owned())
        .increment(1);
    tracing::info!(notification = channel, event, attempts, "Sent an alert.");
}

/// An alert could not be delivered after `attempts` tries.
pub fn delivery_failed(channel: &str, event: &str, attempts: u32, error: &str) {
    metrics::counter!(ALERT_DELIVERY_FAILURES_TOTAL, "channel" => channel.to_owned(), "event" => event.to_owned())
        .increment(1);
    tracing::warn!(
        notification = channel,
        event,
        attempts,
        error,
        "Could not deliver an alert."
    );
}

/// The alert queue was full (the channels are slow or down): the work was
/// dropped so the run is never held up.
pub fn dropped(what: &str) {
    metrics::counter!(ALERTS_DROPPED_TOTAL).increment(1);
    tracing::warn!(what, "Alert queue full; dropped an alert.");
}

/// The dedup state could not be saved (alerts may repeat after a restart).
pub fn state_not_saved(error: &std::io::Error) {
    tracing::warn!(%error, "Could not save the alert state; alerts may repeat after a restart.");
}
