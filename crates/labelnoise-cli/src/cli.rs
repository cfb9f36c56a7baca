//! The command-line surface of SPEC §3.

use clap::{Args, Parser, Subcommand};

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
}

/// `labelnoise analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Model file (.json or .safetensors) or built-in model (fig1-minimal, fig1-wiggly).
    #[arg(long, value_name = "M")]
    pub model: String,
    /// Data file (.json or .csv) or built-in data set (fig1).
    #[arg(long, value_name = "D")]
    pub data: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Interpolation tolerance: the fit holds when max |h(x_i) - y_i| <= this.
    #[arg(
        long,
        value_name = "TOL",
        default_value_t = 1e-6,
        allow_negative_numbers = true
    )]
    pub fit_tol: f64,
    /// Stationarity tolerance: repellent when ||g_N|| > this * max(1, ||grad reg||).
    #[arg(
        long,
        value_name = "TOL",
        default_value_t = 1e-6,
        allow_negative_numbers = true
    )]
    pub stationarity_tol: f64,
    /// Slope jumps smaller than this fraction of the largest are ignored when counting
    /// convexity changes (Theorem 1 report).
    #[arg(
        long,
        value_name = "REL",
        default_value_t = 1e-6,
        allow_negative_numbers = true
    )]
    pub jump_threshold: f64,
    /// A kink within this fraction of (x_n - x_1) of a data point is on that point.
    #[arg(
        long,
        value_name = "REL",
        default_value_t = 1e-9,
        allow_negative_numbers = true
    )]
    pub kink_tol: f64,
    /// Tolerance for grouping hidden units into classes (Theorem 3 report).
    #[arg(
        long,
        value_name = "TOL",
        default_value_t = 1e-3,
        allow_negative_numbers = true
    )]
    pub unit_tol: f64,
}
