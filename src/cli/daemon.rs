//! `penvio-sync daemon`: the options; the daemon itself is `crate::daemon`.

use std::path::Path;

use clap::Args;

use crate::config::Environment;

/// Options of `daemon`.
#[derive(Debug, Args, Clone)]
pub struct DaemonArgs {
    /// Run even as root (not recommended: use a dedicated user).
    #[arg(long)]
    pub allow_root: bool,
}

/// Runs the daemon until it stops; the exit code.
pub(super) async fn run(
    config_path: &Path,
    environment: &'static dyn Environment,
    args: &DaemonArgs,
) -> i32 {
    crate::daemon::run(config_path, environment, args.allow_root).await
}
