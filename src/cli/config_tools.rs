//! `penvio-sync config schema`: the config file's JSON Schema, for editors.

use clap::{Args, Subcommand};

use crate::report::exit::EXIT_OK;

/// Options of `config`.
#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, Subcommand, Clone)]
enum ConfigAction {
    /// Print the JSON Schema of the config file, for editors: save it and put
    /// `# yaml-language-server: $schema=/path/to/penvio-sync.schema.json`
    /// at the top of the config.
    Schema,
}

/// Prints what the action asks for; the exit code.
pub(super) fn run(args: &ConfigArgs) -> i32 {
    match args.action {
        ConfigAction::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::config::schema::config_schema())
                    .unwrap_or_default()
            );
            EXIT_OK
        }
    }
}
