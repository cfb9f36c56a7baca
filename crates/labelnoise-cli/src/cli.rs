//! The command-line surface of docs/cli.md: the top-level parser and its commands. The
//! arguments of the commands are in [`crate::args`] (and the commands' own modules), so
//! that the commands, which read them, do not import this module, which names them.

use clap::{Parser, Subcommand};

pub use crate::args::{AnalyzeArgs, ResumeArgs, ToleranceArgs, TrainArgs};

/// SGD with label noise and its implicit regularizer (Blanc, Gupta, Valiant, Valiant).
#[derive(Debug, Parser)]
#[command(name = "labelnoise", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit, implicit regularizer, stability verdict (Theorem 2) and shape checks
    /// (Theorems 1 and 3) of a network on a data set.
    Analyze(AnalyzeArgs),
    /// SGD with label noise (paper eq. 3): train one or many seeds, write a run directory.
    Train(TrainArgs),
    /// Continue a killed run from its last checkpoint, bit-identically.
    Resume(ResumeArgs),
    /// Move a network along the zero-loss manifold down reg to a non-repellent point.
    Settle(crate::commands::settle::SettleArgs),
    /// Reproduce a figure, theorem or lemma of the paper: numbers, figures, report.
    Reproduce(crate::commands::reproduce::ReproduceArgs),
    /// Run a sweep file's points (here, a shard, or as a Slurm job array), idempotently.
    Sweep(crate::commands::sweep::SweepArgs),
    /// Measure every point of a sweep: results.csv, results.json, figures, report.
    Collect(crate::commands::sweep::CollectArgs),
    /// Serve a live page that trains plain and label-noise SGD side by side in the browser.
    Explore(crate::commands::explore::ExploreArgs),
    /// Write a model as a PyTorch state_dict in safetensors (`--torch`).
    Export(crate::commands::export::ExportArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flush_threshold_default_is_the_library_default() {
        // The default is written as "1e-150" for --help; it must stay the library's.
        let cli = Cli::try_parse_from([
            "labelnoise",
            "train",
            "--data",
            "fig1",
            "--lr",
            "1e-3",
            "--steps",
            "10",
            "--noise",
            "0",
        ])
        .unwrap();
        match cli.command {
            Command::Train(args) => assert_eq!(
                args.flush_threshold,
                labelnoise_core::train::DEFAULT_FLUSH_THRESHOLD
            ),
            other => panic!("parsed as {other:?}"),
        }
    }
}
