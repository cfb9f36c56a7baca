//! The `labelnoise` command line: argument parsing, progress, and writing files. The
//! science lives in `labelnoise-core`, the paper's experiments (with their figures and
//! reports) in `labelnoise-experiments`.

pub mod args;
pub mod cli;
pub mod commands;
pub mod output;
pub mod signals;
pub mod usage;

pub use usage::UsageError;

use std::ffi::OsString;

use clap::Parser;

/// Parses `args` (program name first) and runs the command.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                // A closed pipe (`labelnoise --help | head`) is not an error.
                let _ = e.print();
                return Ok(());
            }
            return Err(UsageError(clap_one_line(&e.to_string())).into());
        }
    };
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        cli::Command::Analyze(args) => commands::analyze::run(&args, &mut stdout),
        cli::Command::Train(args) => commands::train::run(&args, command, &mut stdout),
        cli::Command::Resume(args) => commands::train::resume(&args, &mut stdout),
        cli::Command::Settle(args) => commands::settle::run(&args, &mut stdout),
        cli::Command::Reproduce(args) => commands::reproduce::run(&args, &mut stdout),
        cli::Command::Sweep(args) => commands::sweep::run(&args, &mut stdout),
        cli::Command::Collect(args) => commands::sweep::collect_cmd(&args, &mut stdout),
        cli::Command::Explore(args) => commands::explore::run(&args, &mut stdout),
        cli::Command::Export(args) => commands::export::run(&args, &mut stdout),
    }
}

/// Clap's multi-line usage error as one line: its message lines before the usage block,
/// joined.
fn clap_one_line(text: &str) -> String {
    let message = text.split("\n\nUsage:").next().unwrap_or(text);
    let message = message
        .split("\n\nFor more information")
        .next()
        .unwrap_or(message);
    let joined: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = joined.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// Whether the error is a write to a closed pipe (`labelnoise analyze ... | head`), which
/// ends the program quietly and successfully, as in other command-line tools.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit status for an error: 2 for bad input or usage, 128 + the signal for work
/// stopped by SIGINT or SIGTERM (130, 143), 1 for anything else (a failed write, a
/// diverged run, a failed claim).
pub fn exit_status(err: &anyhow::Error) -> u8 {
    if let Some(stopped) = err.downcast_ref::<signals::Interrupted>() {
        return stopped.status();
    }
    let core =
        err.downcast_ref::<labelnoise_core::Error>()
            .or_else(
                || match err.downcast_ref::<labelnoise_experiments::Error>() {
                    Some(labelnoise_experiments::Error::Core(e)) => Some(e),
                    _ => None,
                },
            );
    let user_error = match core {
        Some(labelnoise_core::Error::Write { .. } | labelnoise_core::Error::Cancelled) => false,
        Some(_) => true,
        None => err.downcast_ref::<UsageError>().is_some(),
    };
    if user_error {
        2
    } else {
        1
    }
}

/// The error as one line (clap's usage messages span several; keep the first).
///
/// The causes are joined with ": ", leaving out a cause whose text the message before
/// it already contains (the library's I/O errors quote the operating system's message,
/// which is also their source).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    let first = text.lines().next().unwrap_or("").trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, "os says no")
    }

    #[test]
    fn exit_status_sees_library_errors_inside_experiment_errors() {
        let bad_input: anyhow::Error = labelnoise_experiments::Error::Core(
            labelnoise_core::Error::parameter("--lr", "must be positive"),
        )
        .into();
        assert_eq!(exit_status(&bad_input), 2);
        let failed_write: anyhow::Error =
            labelnoise_experiments::Error::Core(labelnoise_core::Error::Write {
                file: "out/report.md".into(),
                source: io(std::io::ErrorKind::StorageFull),
            })
            .into();
        assert_eq!(exit_status(&failed_write), 1);
        let plot: anyhow::Error = labelnoise_experiments::Error::plot("fig1", "no font").into();
        assert_eq!(exit_status(&plot), 1);
        assert_eq!(one_line(&plot), "fig1: no font");
        let usage: anyhow::Error = UsageError("--seeds: must be at least 1".into()).into();
        assert_eq!(exit_status(&usage), 2);
    }

    #[test]
    fn a_closed_pipe_under_the_progress_reporter_is_a_broken_pipe() {
        let err: anyhow::Error =
            labelnoise_experiments::Error::Progress(io(std::io::ErrorKind::BrokenPipe)).into();
        assert!(is_broken_pipe(&err));
        assert_eq!(one_line(&err), "os says no");
        let other: anyhow::Error =
            labelnoise_experiments::Error::Progress(io(std::io::ErrorKind::Other)).into();
        assert!(!is_broken_pipe(&other));
    }
}
