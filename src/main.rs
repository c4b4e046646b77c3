//! The `penvio-sync` binary: parse the command line, run, exit with the
//! command's exit code (see `penvio-sync --help` and the README).

use clap::Parser;
use penvio_sync::cli::{Cli, run};

fn main() {
    penvio_sync::allocator::release_freed_memory_promptly();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run(cli));
    std::process::exit(code);
}
