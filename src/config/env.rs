//! The environment a config is validated against, injected so validation stays pure.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// What validation may read from outside the YAML text: environment variables
/// (`${VAR}` secrets, `CREDENTIALS_DIRECTORY`, `STATE_DIRECTORY`) and files
/// (`*_file` secrets). Tests pass a [`MemoryEnvironment`] instead of the real one.
pub trait Environment {
    /// The value of an environment variable, `None` when unset or not UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// The whole content of a file, as UTF-8 text.
    fn read_file(&self, path: &Path) -> io::Result<String>;
    /// The permission bits of a file, when the environment knows them: secret
    /// files readable by group or others are refused.
    fn file_mode(&self, _path: &Path) -> Option<u32> {
        None
    }
    /// Whether a directory exists (the packaged state directory); `false`
    /// when the environment does not know.
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }
    /// Whether secret files readable by others are accepted anyway (for
    /// containers whose mounts cannot set modes): the
    /// `PENVIO_SYNC_ALLOW_INSECURE_SECRET_FILES=1` variable or the CLI flag.
    fn allow_insecure_secret_files(&self) -> bool {
        self.var(ALLOW_INSECURE_SECRET_FILES)
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
    }
}

/// Environment variable that accepts group/world-readable secret files.
pub const ALLOW_INSECURE_SECRET_FILES: &str = "PENVIO_SYNC_ALLOW_INSECURE_SECRET_FILES";

/// The real process environment and file system, used by [`super::load`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn file_mode(&self, path: &Path) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode())
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// The process environment, accepting secret files readable by others (the
/// `--allow-insecure-secret-files` flag).
#[derive(Debug, Clone, Copy, Default)]
pub struct PermissiveProcessEnvironment;

impl Environment for PermissiveProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        ProcessEnvironment.var(name)
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        ProcessEnvironment.read_file(path)
    }

    fn file_mode(&self, path: &Path) -> Option<u32> {
        ProcessEnvironment.file_mode(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        ProcessEnvironment.is_dir(path)
    }

    fn allow_insecure_secret_files(&self) -> bool {
        true
    }
}

/// An in-memory environment so tests (here and in other modules) can validate
/// configs without touching real variables or files. Its `Debug` omits values
/// because they are usually secrets.
#[derive(Clone, Default)]
pub struct MemoryEnvironment {
    vars: HashMap<String, String>,
    files: HashMap<PathBuf, String>,
    modes: HashMap<PathBuf, u32>,
    dirs: std::collections::HashSet<PathBuf>,
}

impl MemoryEnvironment {
    /// An environment with no variables and no files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an environment variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Adds (or replaces) a readable file at an exact path.
    pub fn with_file(mut self, path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        self.files.insert(path.into(), content.into());
        self
    }

    /// Sets the permission bits reported for a file.
    pub fn with_file_mode(mut self, path: impl Into<PathBuf>, mode: u32) -> Self {
        self.modes.insert(path.into(), mode);
        self
    }

    /// Declares a directory as existing.
    pub fn with_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.dirs.insert(path.into());
        self
    }
}

impl std::fmt::Debug for MemoryEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEnvironment")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Environment for MemoryEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }

    fn file_mode(&self, path: &Path) -> Option<u32> {
        self.modes.get(path).copied()
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.dirs.contains(path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn memory_environment_serves_vars_and_files() {
        let env = MemoryEnvironment::new()
            .with_var("A", "1")
            .with_file("/x/y", "content");
        assert_eq!(env.var("A").as_deref(), Some("1"));
        assert_eq!(env.var("B"), None);
        assert_eq!(
            env.read_file(Path::new("/x/y")).ok().as_deref(),
            Some("content")
        );
        let missing = env.read_file(Path::new("/x/z"));
        assert_eq!(
            missing.err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        assert!(!format!("{env:?}").contains("content"));
    }
}
