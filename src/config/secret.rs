//! A redacting wrapper for tokens and other credentials read from the config.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A credential (API token, client secret). Its `Debug` and `Display` print
/// `[redacted]` so it can sit inside any config struct without leaking into
/// logs, errors or `{:?}` output; callers must ask for the value explicitly.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a credential; the memory is zeroed when the last copy is dropped.
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// The raw value, for the one place that needs it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new("s3cr3t-value".into());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
        assert_eq!(secret.expose(), "s3cr3t-value");
    }
}
