//! The `jongler` binary: parse the arguments, run, exit with the code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = jongler::cli::Cli::parse();
    std::process::ExitCode::from(jongler::app::main(cli).code())
}
