//! The `labelnoise` command line. All the work happens in the library crate and in
//! [`labelnoise_cli::run`]; `main` prints the error and picks the exit status.

use std::process::ExitCode;

fn main() -> ExitCode {
    match labelnoise_cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if labelnoise_cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", labelnoise_cli::one_line(&err));
            ExitCode::from(labelnoise_cli::exit_status(&err))
        }
    }
}
