//! The `jongler` binary: parse the arguments, run, exit with the code.

fn main() -> std::process::ExitCode {
    let cli = jongler::cli::Cli::parse_args();
    std::process::ExitCode::from(jongler::app::main(cli).code())
}
