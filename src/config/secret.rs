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

    /// A short fingerprint an admin can match against the token they
    /// generated (`printf %s "$TOKEN" | sha256sum | cut -c1-12`) without the
    /// token ever being shown: `sha256:` and the first 12 hex digits.
    pub fn fingerprint(&self) -> String {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.expose().as_bytes());
        let hex: String = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
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

    #[test]
    fn the_fingerprint_is_the_start_of_the_sha256_of_the_value() {
        // printf %s abc | sha256sum → ba7816bf8f01cfea…
        assert_eq!(
            Secret::new("abc".into()).fingerprint(),
            "sha256:ba7816bf8f01"
        );
        assert!(!Secret::new("abc".into()).fingerprint().contains("abc"));
    }
}
