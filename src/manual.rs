//! Shell completions and the man page, generated from the CLI definition so
//! they never drift from the commands themselves.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "penvio-sync", &mut out);
    out
}

/// The man page (roff), with one section per subcommand.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        out.extend_from_slice(
            format!(".SH \"PENVIO-SYNC {}\"\n", sub.get_name().to_uppercase()).as_bytes(),
        );
        clap_mangen::Man::new(sub.clone()).render_description_section(&mut out)?;
        clap_mangen::Man::new(sub.clone()).render_options_section(&mut out)?;
    }
    Ok(out)
}
