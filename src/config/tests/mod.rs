//! Tests of the whole load path: YAML text → validated config or problems,
//! by topic; the helpers they share are here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

mod defaults;
mod examples;
mod notifications;
mod problems;
mod secrets;
mod urls;

const CONFIG_PATH: &str = "/etc/penvio-sync/config.yaml";

fn env() -> MemoryEnvironment {
    MemoryEnvironment::new()
}

fn load(text: &str, env: &MemoryEnvironment) -> Result<Config, ConfigError> {
    load_str(text, Path::new(CONFIG_PATH), env)
}

/// A valid one-connection config with `extra` appended inside the connection.
fn connection_with(extra: &str) -> String {
    format!(
        "connections:\n  - name: c1\n    source: {{type: file, path: dir.yaml}}\n    target: {{url: https://penvio.example/scim/v2/org, token: tgt-secret}}\n{extra}"
    )
}

/// A config whose only connection has the given source and target mappings.
fn source_target(source: &str, target: &str) -> String {
    format!("connections:\n  - name: c1\n    source: {source}\n    target: {target}\n")
}

fn problems(text: &str, env: &MemoryEnvironment) -> Vec<Problem> {
    match load(text, env) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(error) => error.problems().to_vec(),
    }
}

fn single_problem(text: &str, env: &MemoryEnvironment) -> Problem {
    let problems = problems(text, env);
    assert_eq!(problems.len(), 1, "{text}\n{problems:#?}");
    problems.into_iter().next().unwrap()
}
