//! Sends one alert through one channel, with bounded retries and capped,
//! jittered backoff. Errors never carry the channel's URL or credentials.

use std::time::Duration;

use crate::config::{Channel, NotificationConfig};

use super::email;
use super::event::Alert;
pub use super::failure::{DeliveryError, REQUEST_TIMEOUT};
use super::payload;
use super::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};

/// Attempts per alert (the first try and three retries).
pub const MAX_ATTEMPTS: u32 = 4;
/// Backoff before the first retry; doubles, capped at [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest backoff between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Delivers alerts; one HTTP client for every webhook-like channel.
#[derive(Clone)]
pub struct Deliverer {
    http: reqwest::Client,
}

impl Deliverer {
    /// Builds the shared HTTP client (system proxies honoured, loopback
    /// never proxied, redirects only within the origin).
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Deliverer {
            http: crate::http::build_endpoint_client(REQUEST_TIMEOUT, None, None)?,
        })
    }

    /// Sends `alert` through `channel`, retrying transient failures up to
    /// [`MAX_ATTEMPTS`] times; returns the last error and the attempts made.
    pub async fn deliver(
        &self,
        channel: &NotificationConfig,
        alert: &Alert,
    ) -> Result<u32, (DeliveryError, u32)> {
        let mut attempt = 1;
        loop {
            match self.attempt(channel, alert).await {
                Ok(()) => return Ok(attempt),
                Err(DeliveryError::Transient(message)) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(notification = %channel.name, attempt, %message, "Alert delivery failed; retrying.");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err((error, attempt)),
            }
        }
    }

    async fn attempt(
        &self,
        channel: &NotificationConfig,
        alert: &Alert,
    ) -> Result<(), DeliveryError> {
        match &channel.channel {
            Channel::Webhook { url, secret } => {
                let body = payload::webhook(alert);
                let mut request = self.http.post(url.expose());
                if let Some(secret) = secret {
                    let now = crate::timestamp::unix_now();
                    request = request.header(TIMESTAMP_HEADER, now.to_string()).header(
                        SIGNATURE_HEADER,
                        signature(secret.expose().as_bytes(), now, &body),
                    );
                }
                let request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
                self.post(request).await
            }
            Channel::Slack { url } => {
                self.post(self.http.post(url.expose()).json(&payload::slack(alert)))
                    .await
            }
            Channel::Teams { url } => {
                self.post(self.http.post(url.expose()).json(&payload::teams(alert)))
                    .await
            }
            Channel::Email(config) => email::send(config, alert).await,
        }
    }

    async fn post(&self, request: reqwest::RequestBuilder) -> Result<(), DeliveryError> {
        let response = request
            .send()
            .await
            .map_err(|error| DeliveryError::Transient(describe(error)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("the receiver answered {status}");
        if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
            Err(DeliveryError::Transient(message))
        } else {
            Err(DeliveryError::Permanent(message))
        }
    }
}

/// The backoff after failed attempt `attempt` (1-based): doubling, capped,
/// with up to 25% jitter so many agents do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << (attempt - 1).min(8))
        .min(MAX_BACKOFF);
    base + base.mul_f64(fastrand::f64() * 0.25)
}

/// A reqwest error without the URL (a webhook URL is a credential).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(1) <= FIRST_BACKOFF.mul_f64(1.25));
        assert!(backoff(2) >= FIRST_BACKOFF * 2);
        assert!(backoff(30) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
