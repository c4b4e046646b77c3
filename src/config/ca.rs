//! Private certificate authorities for one endpoint (`ca_file`).
//!
//! Added to the system trust store, never replacing it, and there is no
//! option to turn certificate checks off: a self-hosted SCIM server behind a
//! private CA is trusted by naming that CA, nothing weaker.

use std::fmt;
use std::path::PathBuf;

/// PEM certificates read from a `ca_file`.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// Where they were read from, for messages.
    pub path: PathBuf,
    /// The PEM text (one or more certificates).
    pub pem: Vec<u8>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaBundle({})", self.path.display())
    }
}

impl CaBundle {
    /// Checks that `pem` holds at least one certificate rustls accepts.
    pub fn parse(path: PathBuf, pem: Vec<u8>) -> Result<Self, String> {
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certificates) if !certificates.is_empty() => Ok(CaBundle { path, pem }),
            Ok(_) => Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )),
            Err(error) => Err(format!(
                "{}: not a PEM certificate bundle: {error}",
                path.display()
            )),
        }
    }

    /// The certificates, for an HTTP client's trust store.
    pub fn certificates(&self) -> Vec<reqwest::Certificate> {
        reqwest::Certificate::from_pem_bundle(&self.pem).unwrap_or_default()
    }
}
