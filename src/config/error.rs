//! Errors for loading a config: one variant per stage (read, parse, validate).

use std::fmt;
use std::path::PathBuf;

/// A place in the YAML text, 1-based, so a problem can point at the line to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number, starting at 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One thing wrong with a config, named by its key path so the admin knows
/// exactly which setting to change. Validation collects all of them at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path such as `connections[0].target.url`; empty for the whole document.
    pub key_path: String,
    /// What is wrong and, where possible, what to write instead. Never contains a secret.
    pub message: String,
    /// Where in the file the offending key or value is, when known.
    pub location: Option<Location>,
}

impl Problem {
    /// Builds a problem; `location` is optional because defaults have no place in the file.
    pub fn new(
        key_path: impl Into<String>,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            key_path: key_path.into(),
            message: message.into(),
            location,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key_path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.key_path, self.message)?;
        }
        if let Some(location) = self.location {
            write!(f, " ({location})")?;
        }
        Ok(())
    }
}

/// Why a config could not be loaded. `penvio-sync check` prints it as is, so
/// every variant names the file and, for validation, every problem in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all (missing, permissions).
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed YAML.
    #[error("{}:{line}:{column}: invalid YAML: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the error (0 when the parser gave none).
        line: usize,
        /// 1-based column of the error (0 when the parser gave none).
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// The YAML is well-formed but breaks one or more rules of the schema.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found, in the order they were found.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The validation problems, empty for read and syntax errors; handy for
    /// callers (and tests) that want to show or inspect them one by one.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => &[],
        }
    }
}

fn render_problems(path: &std::path::Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("{}: {problem}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn invalid_lists_each_problem_on_its_own_line() {
        let error = ConfigError::Invalid {
            path: PathBuf::from("/etc/p.yaml"),
            problems: vec![
                Problem::new("connections[0].target.url", "must be https", None),
                Problem::new("listen", "bad", Some(Location { line: 3, column: 9 })),
            ],
        };
        assert_eq!(
            error.to_string(),
            "/etc/p.yaml: connections[0].target.url: must be https\n\
             /etc/p.yaml: listen: bad (line 3, column 9)"
        );
        assert_eq!(error.problems().len(), 2);
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let error = ConfigError::Syntax {
            path: PathBuf::from("c.yaml"),
            line: 4,
            column: 2,
            message: "oops".into(),
        };
        assert_eq!(error.to_string(), "c.yaml:4:2: invalid YAML: oops");
        assert!(error.problems().is_empty());
    }
}
