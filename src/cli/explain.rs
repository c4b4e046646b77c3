//! `penvio-sync explain SUBJECT`: why a user or team is (or is not) in
//! Penvio, here or through the daemon.

use std::sync::Arc;

use clap::Args;

use super::access::{Selected, StateAccess, open_state, select};
use crate::config::Config;
use crate::explain::{ExplainError, explain_connection};
use crate::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use crate::state::StateStore;
use crate::timestamp::unix_now;

/// Options of `explain`.
#[derive(Debug, Args, Clone)]
pub struct ExplainArgs {
    /// An email, a source id, or a team (group) name.
    pub subject: String,
    /// Only this connection.
    #[arg(long)]
    pub connection: Option<String>,
}

/// Explains the subject in each selected connection; the exit code.
pub(super) async fn run(config: &Config, args: &ExplainArgs) -> i32 {
    let selected = match select(config, args.connection.as_deref()) {
        Ok(selected) => selected,
        Err(code) => return code,
    };
    let explained = match open_state(config) {
        Err(code) => return code,
        Ok(StateAccess::Daemon(daemon)) => daemon.explain(&selected, &args.subject).await,
        Ok(StateAccess::Local(store)) => explain_here(selected, store, &args.subject).await,
    };
    match explained {
        Ok((found, code)) => explained_exit(found, code, &args.subject),
        Err(code) => code,
    }
}

/// Explains in this process. `Ok` says whether any connection knew the
/// subject, and the exit code so far; `Err` is the final exit code.
async fn explain_here(
    selected: Selected<'_>,
    store: Arc<dyn StateStore>,
    subject: &str,
) -> Result<(bool, i32), i32> {
    let mut found = false;
    let mut code = EXIT_OK;
    for (index, connection) in selected {
        match explain_connection(connection, index, store.as_ref(), subject, unix_now()).await {
            Ok(Some(text)) => {
                found = true;
                println!("Connection {}:", connection.name);
                print!("{text}");
            }
            Ok(None) => {}
            Err(error @ ExplainError::State(_)) => {
                eprintln!("{error}");
                return Err(EXIT_RUN_FAILED);
            }
            Err(error) => {
                eprintln!("{}: {error}", connection.name);
                code = EXIT_RUN_FAILED;
            }
        }
    }
    Ok((found, code))
}

/// `explain`'s exit: nothing found anywhere is a failure, said once.
fn explained_exit(found: bool, code: i32, subject: &str) -> i32 {
    if !found && code == EXIT_OK {
        eprintln!(
            "Nothing named {subject:?} in the directory or the snapshot (tried emails, source ids and team names)."
        );
        return EXIT_RUN_FAILED;
    }
    code
}
