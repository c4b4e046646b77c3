//! The daemon API's bearer token when the config sets none: generated on the
//! daemon's first start into `state_dir`, read from there by the CLI when it
//! forwards a command. So the API is authenticated by default, and only who
//! can read the state directory can drive the daemon.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::config::{Config, Secret};

/// Name of the generated token's file in `state_dir`.
pub const TOKEN_FILE: &str = "listen_token";

/// Random bytes in a generated token (256 bits), written as hex.
const TOKEN_BYTES: usize = 32;

/// Longest token file read (a generated one has 64 characters).
const MAX_TOKEN_FILE: u64 = 4096;

/// Why the token file could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not a usable token.
    #[error(
        "{path}: {problem}; delete it and restart the daemon to generate a new one, or set listen_token"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// No random bytes could be drawn.
    #[error("cannot draw random bytes for the daemon's token")]
    Random,
}

/// Where the generated token lives for `state_dir`.
pub fn token_path(state_dir: &Path) -> PathBuf {
    state_dir.join(TOKEN_FILE)
}

/// The token the daemon requires: `listen_token` when configured, else the
/// one in `state_dir`, generated now if missing (never replaced if present).
pub fn daemon_token(config: &Config) -> Result<Secret, TokenError> {
    match &config.listen_token {
        Some(token) => Ok(token.clone()),
        None => load_or_create(&config.state_dir),
    }
}

/// The token a forwarding CLI sends: `listen_token` when configured, else
/// the daemon's generated one; `Ok(None)` when there is none yet.
pub fn client_token(config: &Config) -> Result<Option<Secret>, TokenError> {
    if let Some(token) = &config.listen_token {
        return Ok(Some(token.clone()));
    }
    let path = token_path(&config.state_dir);
    match read_token(&path) {
        Ok(token) => Ok(Some(token)),
        Err(TokenError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Reads the token file in `state_dir`, creating it first if it does not
/// exist. Creation is atomic: the token is written to a private temporary
/// file (0600, never following a symlink) which is then hard-linked to its
/// name, which fails rather than replaces when the name exists.
pub fn load_or_create(state_dir: &Path) -> Result<Secret, TokenError> {
    let path = token_path(state_dir);
    match read_token(&path) {
        Err(TokenError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let token = generate()?;
    let temporary = state_dir.join(format!(".{TOKEN_FILE}.{}.tmp", std::process::id()));
    let io = |action, source| TokenError::Io {
        action,
        path: temporary.clone(),
        source,
    };
    let _ = fs::remove_file(&temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temporary)
        .map_err(|e| io("cannot create", e))?;
    let written = file
        .write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all());
    let linked = written.map_err(|e| io("cannot write", e)).and_then(|()| {
        match fs::hard_link(&temporary, &path) {
            Ok(()) => Ok(()),
            // Another process created it first: use theirs.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(TokenError::Io {
                action: "cannot create",
                path: path.clone(),
                source: error,
            }),
        }
    });
    let _ = fs::remove_file(&temporary);
    linked?;
    if let Ok(directory) = File::open(state_dir) {
        let _ = directory.sync_all();
    }
    read_token(&path)
}

/// 256 random bits from the system's CSPRNG, as hex.
fn generate() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads a token file without following a symlink, refusing one that others
/// can read or that is empty.
fn read_token(path: &Path) -> Result<Secret, TokenError> {
    let io = |source| TokenError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    let invalid = |problem| TokenError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    if !metadata.is_file() {
        return Err(invalid("is not a regular file"));
    }
    if metadata.mode() & 0o077 != 0 {
        return Err(invalid(
            "is readable or writable by others (it must be 0600)",
        ));
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)
        .map_err(io)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(invalid("is empty"));
    }
    Ok(Secret::new(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_token_is_created_once_private_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(first.expose().len(), 2 * TOKEN_BYTES);
        let mode = fs::metadata(token_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.expose(), again.expose());
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn tokens_differ_between_state_dirs() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        assert_ne!(
            load_or_create(a.path()).unwrap().expose(),
            load_or_create(b.path()).unwrap().expose()
        );
    }

    #[test]
    fn a_symlinked_or_shared_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "attacker-chosen").unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, token_path(dir.path())).unwrap();
        assert!(load_or_create(dir.path()).is_err());

        let other = tempfile::tempdir().unwrap();
        fs::write(token_path(other.path()), "readable").unwrap();
        fs::set_permissions(token_path(other.path()), fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(other.path()).unwrap_err().to_string();
        assert!(error.contains("0600"), "{error}");
    }
}
