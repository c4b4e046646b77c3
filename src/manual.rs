//! Shell completions and the man page, generated from the CLI definition so
//! they never drift from the commands themselves. The definition is passed
//! in (`cli` owns it), so this file depends on clap only.

use clap_complete::Shell;

/// The completion script of `command` for `shell`.
pub fn completions(mut command: clap::Command, shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "penvio-sync", &mut out);
    out
}

/// The man page (roff) of `command`, with one section per subcommand.
pub fn man_page(command: clap::Command) -> std::io::Result<Vec<u8>> {
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
