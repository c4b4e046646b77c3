//! `penvio-sync completions SHELL` and `penvio-sync man`: generated from the
//! command definition it is given (see `crate::manual`).

use std::io::Write;

use crate::report::exit::{EXIT_OK, EXIT_RUN_FAILED};

/// Prints the completion script of `command` for `shell`; the exit code.
pub(super) fn print_completions(command: clap::Command, shell: clap_complete::Shell) -> i32 {
    let _ = std::io::stdout().write_all(&crate::manual::completions(command, shell));
    EXIT_OK
}

/// Prints the man page of `command`; the exit code.
pub(super) fn print_man_page(command: clap::Command) -> i32 {
    match crate::manual::man_page(command) {
        Ok(page) => {
            let _ = std::io::stdout().write_all(&page);
            EXIT_OK
        }
        Err(error) => {
            eprintln!("cannot render the man page: {error}");
            EXIT_RUN_FAILED
        }
    }
}
