//! `penvio-sync init`: write a commented starter config.

use std::path::PathBuf;

use clap::Args;

use crate::report::exit::{EXIT_CONFIG, EXIT_OK};

/// Options of `init`.
#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// The identity provider.
    #[arg(long, value_parser = ["okta", "entra", "onelogin", "jumpcloud", "pingone", "google", "ldap", "scim", "file"])]
    pub source: String,
    /// Where to write it (default: the --config path).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Writes the starter config to `--output`, else to `config_path`; the
/// exit code.
pub(super) fn run(args: &InitArgs, config_path: PathBuf) -> i32 {
    let path = args.output.clone().unwrap_or(config_path);
    match crate::init::write_starter(&path, &args.source) {
        Ok(()) => {
            println!(
                "Wrote {}: fill in the CHANGE-ME values, then run penvio-sync --config {} check --connectivity",
                path.display(),
                path.display()
            );
            EXIT_OK
        }
        Err(error) => {
            eprintln!("{error}");
            EXIT_CONFIG
        }
    }
}
