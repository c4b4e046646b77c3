//! Where a command finds the state: the connections it names, and the
//! snapshot store opened here or, while the daemon holds it, the daemon.

use std::sync::Arc;

use super::forward::Daemon;
use crate::config::{Config, ConnectionConfig};
use crate::report::exit::{EXIT_CONFIG, EXIT_RUN_FAILED};
use crate::state::{RedbStateStore, StateError, StateStore};

/// The connections a command works on, with their index in the config.
pub(super) type Selected<'a> = Vec<(usize, &'a ConnectionConfig)>;

/// How a command reaches the state.
pub(super) enum StateAccess {
    /// This process opened the snapshot store.
    Local(Arc<dyn StateStore>),
    /// The daemon holds the store (redb lets one process open it): the
    /// command is sent to the daemon's local endpoint instead.
    Daemon(Daemon),
}

/// Opens the state, or, when the daemon holds it, connects to the daemon.
/// `Err` is the exit code; why was printed.
pub(super) fn open_state(config: &Config) -> Result<StateAccess, i32> {
    match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Ok(StateAccess::Local(Arc::new(store))),
        Err(StateError::InUse { .. }) => Daemon::connect(config).map(StateAccess::Daemon),
        Err(error) => {
            eprintln!("{error}");
            Err(EXIT_RUN_FAILED)
        }
    }
}

/// Opens the state here, for commands the daemon does not serve (while it
/// runs, the error says the state is in use). `Err` is the exit code.
pub(super) fn open_local_state(config: &Config) -> Result<Arc<dyn StateStore>, i32> {
    match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Ok(Arc::new(store)),
        Err(error) => {
            eprintln!("{error}");
            Err(EXIT_RUN_FAILED)
        }
    }
}

/// The connections a command applies to, or an exit code for a bad name.
pub(super) fn select<'a>(config: &'a Config, name: Option<&str>) -> Result<Selected<'a>, i32> {
    match name {
        None => Ok(config.connections.iter().enumerate().collect()),
        Some(name) => match config.connections.iter().position(|c| c.name == name) {
            Some(index) => Ok(vec![(index, &config.connections[index])]),
            None => {
                let known: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
                eprintln!(
                    "{}: no connection named {name:?} (connections: {})",
                    config.path.display(),
                    known.join(", ")
                );
                Err(EXIT_CONFIG)
            }
        },
    }
}
