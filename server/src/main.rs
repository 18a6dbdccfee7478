//! The `tollgate` binary: parse the command line, run it, exit non-zero on failure.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = tollgate_server::cli::Cli::parse();
    match tollgate_server::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tollgate: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
