//! `penvio-sync init --source <provider>`: a commented starter config with the
//! keys that provider needs and the admin steps to get its credentials.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The providers `init` knows, with their starter configs.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("okta", include_str!("../config/templates/okta.yaml")),
    ("entra", include_str!("../config/templates/entra.yaml")),
    (
        "onelogin",
        include_str!("../config/templates/onelogin.yaml"),
    ),
    (
        "jumpcloud",
        include_str!("../config/templates/jumpcloud.yaml"),
    ),
    ("pingone", include_str!("../config/templates/pingone.yaml")),
    ("google", include_str!("../config/templates/google.yaml")),
    ("ldap", include_str!("../config/templates/ldap.yaml")),
    ("scim", include_str!("../config/templates/scim.yaml")),
    ("file", include_str!("../config/templates/file.yaml")),
];

/// The starter config of a provider.
pub fn template(source: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(name, _)| *name == source)
        .map(|(_, text)| *text)
}

/// Why a starter config was not written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// No template for that provider.
    #[error(
        "unknown source {0:?} (one of: okta, entra, onelogin, jumpcloud, pingone, google, ldap, scim, file)"
    )]
    UnknownSource(String),
    /// The file exists: `init` never overwrites a config.
    #[error(
        "{0} already exists; init never overwrites a config (choose another path with --output)"
    )]
    Exists(String),
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Writes the starter config for `source` to `path`, owner-only, refusing to
/// replace an existing file (the check and the create are one atomic step).
pub fn write_starter(path: &Path, source: &str) -> Result<(), InitError> {
    let text = template(source).ok_or_else(|| InitError::UnknownSource(source.to_string()))?;
    let display = path.display().to_string();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => InitError::Exists(display.clone()),
            _ => InitError::Io {
                path: display.clone(),
                source,
            },
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| InitError::Io {
            path: display,
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{MemoryEnvironment, load_str};

    #[test]
    fn every_template_validates_once_its_variables_are_set() {
        let env = MemoryEnvironment::new()
            .with_var("PENVIO_TOKEN", "t")
            .with_var("PENVIO_OKTA_TOKEN", "o")
            .with_var("PENVIO_ENTRA_SECRET", "e")
            .with_var("PENVIO_ONELOGIN_SECRET", "l")
            .with_var("PENVIO_JUMPCLOUD_KEY", "j")
            .with_var("PENVIO_PINGONE_SECRET", "p")
            .with_var("PENVIO_SOURCE_TOKEN", "s")
            .with_var("PENVIO_LDAP_PASSWORD", "d")
            .with_file(
                "/etc/penvio-sync/google-key.json",
                include_str!("../tests/fixtures/google/test-service-account.json"),
            );
        for (source, text) in TEMPLATES {
            let config = load_str(text, Path::new("/etc/penvio-sync/config.yaml"), &env)
                .unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(config.connections[0].source.kind(), *source);
            assert!(text.contains("CHANGE-ME"), "{source} marks what to fill in");
            assert!(text.contains("In Penvio:"), "{source} has the Penvio steps");
        }
    }

    #[test]
    fn init_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        write_starter(&path, "okta").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "mine").unwrap();
        let err = write_starter(&path, "entra").unwrap_err();
        assert!(matches!(err, InitError::Exists(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        assert!(matches!(
            write_starter(&dir.path().join("x.yaml"), "novell"),
            Err(InitError::UnknownSource(_))
        ));
    }
}
