//! How a delivery fails and how long one may take, shared by every channel
//! (webhooks in `deliver`, SMTP in `email`) so the channels do not depend
//! on one another.

use std::time::Duration;

/// Total time allowed for one HTTP request or SMTP exchange.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an alert was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth another try: network error, 5xx, 429, 408, transient SMTP reply.
    #[error("{0}")]
    Transient(String),
    /// Not worth another try: the receiver refused the message.
    #[error("{0}")]
    Permanent(String),
}
