//! The arguments of `labelnoise analyze`, `train` and `resume`, and the tolerances
//! shared by `analyze` and `settle` (docs/cli.md). Every default comes from the
//! library's own defaults, so the two cannot disagree.

use clap::Args;
use labelnoise_core::analysis::AnalyzeOptions;
use labelnoise_core::stability::Tolerances;
use labelnoise_core::train::{whole_steps, Freeze, NetworkSpec, NoiseDist, TrainConfig};
use labelnoise_core::Activation;

/// `labelnoise analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Model file (.json or .safetensors) or built-in model (fig1-minimal, fig1-wiggly).
    #[arg(long, value_name = "M")]
    pub model: String,
    /// Data: a .json or .csv file, a NumPy pair X.npy,Y.npy, or a built-in data set (fig1).
    #[arg(long, value_name = "D")]
    pub data: String,
    /// Hidden activation of a PyTorch state_dict saved as safetensors (0.weight, 0.bias,
    /// 2.weight, ...); labelnoise's own files name theirs.
    #[arg(long, value_name = "A", value_enum)]
    pub activation: Option<Activation>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fit and stationarity tolerances of the Theorem 2 verdict.
    #[command(flatten)]
    pub tolerances: ToleranceArgs,
    /// Slope jumps smaller than this fraction of the largest are ignored when counting
    /// convexity changes (Theorem 1 report).
    #[arg(
        long,
        value_name = "REL",
        default_value_t = AnalyzeOptions::default().shape.jump_threshold,
        allow_negative_numbers = true
    )]
    pub jump_threshold: f64,
    /// A kink within this fraction of (x_n - x_1) of a data point is on that point.
    #[arg(
        long,
        value_name = "REL",
        default_value_t = AnalyzeOptions::default().shape.on_point_tol,
        allow_negative_numbers = true
    )]
    pub kink_tol: f64,
    /// Tolerance for grouping hidden units into classes (Theorem 3 report).
    #[arg(
        long,
        value_name = "TOL",
        default_value_t = AnalyzeOptions::default().units.tol,
        allow_negative_numbers = true
    )]
    pub unit_tol: f64,
}

/// `labelnoise train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Data: a .json or .csv file, a NumPy pair X.npy,Y.npy, or a built-in data set (fig1).
    #[arg(long, value_name = "D")]
    pub data: String,
    /// Width of a hidden layer; repeat for deeper networks (--hidden 64 --hidden 64).
    #[arg(long, value_name = "W")]
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers.
    #[arg(long, value_name = "A", value_enum)]
    pub activation: Option<Activation>,
    /// Add a linear skip unit from the input to the output.
    #[arg(long)]
    pub skip: bool,
    /// Give the output layer a bias.
    #[arg(long)]
    pub output_bias: bool,
    /// Freeze layer K (0 = first hidden layer; the output layer is K = number of hidden
    /// layers) or `skip`; repeatable.
    #[arg(long, value_name = "K", value_parser = parse_freeze)]
    pub freeze: Vec<Freeze>,
    /// Learning rate η.
    #[arg(long, value_name = "ETA", allow_negative_numbers = true)]
    pub lr: f64,
    /// Number of SGD steps (1e6 style accepted).
    #[arg(long, value_name = "T", value_parser = parse_steps)]
    pub steps: u64,
    /// Label-noise standard deviation σ (0 = plain SGD).
    #[arg(long, value_name = "SIGMA", allow_negative_numbers = true)]
    pub noise: f64,
    /// Label-noise distribution (variance σ² in each case).
    #[arg(long, value_name = "NAME", value_enum, default_value_t = TrainConfig::default().noise_dist)]
    pub noise_dist: NoiseDist,
    /// Mini-batch size B: the mean of B per-sample updates.
    #[arg(long, value_name = "B", default_value_t = TrainConfig::default().batch)]
    pub batch: usize,
    /// Plain SGD over the 2n points (x_i, y_i ± σ) instead of drawing noise (paper §1.1);
    /// the same run as --copies σ,-σ.
    #[arg(long)]
    pub two_copies: bool,
    /// Plain SGD over the copies (x_i, y_i + c) of every point, one per label offset c in
    /// this comma-separated list (1 to 16 offsets, e.g. --copies -0.5,0.5), instead of
    /// drawing noise (paper §1.1); --noise and --noise-dist are then unused.
    #[arg(
        long,
        value_name = "C,...",
        value_delimiter = ',',
        num_args = 1,
        allow_hyphen_values = true
    )]
    pub copies: Vec<f64>,
    /// Add η·λ·∇reg to every step (explicit regularization, paper §1.1).
    #[arg(
        long,
        value_name = "LAMBDA",
        default_value_t = TrainConfig::default().explicit_reg,
        allow_negative_numbers = true
    )]
    pub explicit_reg: f64,
    /// Estimate the explicit term's ∇reg from each step's own samples (unbiased; B
    /// per-point sweeps per step instead of n) instead of all n points.
    #[arg(long)]
    pub explicit_reg_sampled: bool,
    /// Multiply the default initialisation (U(±1/√fan_in)) by this.
    #[arg(
        long,
        value_name = "S",
        default_value_t = labelnoise_core::train::init::DEFAULT_INIT_SCALE,
        allow_negative_numbers = true
    )]
    pub init_scale: f64,
    /// Then multiply the output layer's weights by this (the Figure 1 experiment uses
    /// 30, for wiggly initial functions).
    #[arg(
        long,
        value_name = "S",
        default_value_t = labelnoise_core::train::start::DEFAULT_OUTPUT_INIT_SCALE,
        allow_negative_numbers = true
    )]
    pub output_init_scale: f64,
    /// Start from this model (file or built-in); architecture flags may then be left out.
    #[arg(long, value_name = "M")]
    pub init_model: Option<String>,
    /// Seed of the first run.
    #[arg(long, value_name = "S", default_value_t = TrainConfig::default().seed)]
    pub seed: u64,
    /// Number of independent runs (seeds S, S+1, ...), in parallel.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub seeds: usize,
    /// Number of log-spaced steps at which metrics are recorded.
    #[arg(long, value_name = "P", default_value_t = TrainConfig::default().log_points)]
    pub log_points: usize,
    /// Output directory (DIR/seed-S/ per seed when --seeds > 1).
    #[arg(long, value_name = "DIR", default_value = "labelnoise-run")]
    pub out: String,
    /// Overwrite a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Write a checkpoint every N steps (0 = never), for `labelnoise resume`.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_steps)]
    pub checkpoint_every: u64,
    /// Parameters with magnitude below this are set to exactly 0 (keeps dying units out
    /// of slow subnormal arithmetic; 0 disables).
    #[arg(long, value_name = "EPS", default_value = "1e-150")]
    pub flush_threshold: f64,
    /// No progress bar and no summary lines.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `--freeze`: a layer index or `skip`.
fn parse_freeze(s: &str) -> Result<Freeze, String> {
    s.parse()
}

impl TrainArgs {
    /// The starting network the flags describe (built per seed by the library).
    pub fn network_spec(&self) -> NetworkSpec {
        NetworkSpec {
            hidden: self.hidden.clone(),
            activation: self.activation,
            skip: self.skip,
            output_bias: self.output_bias,
            freeze: self.freeze.clone(),
            init_scale: self.init_scale,
            output_init_scale: self.output_init_scale,
            init_model: self.init_model.clone(),
        }
    }

    /// The SGD configuration of the run with this seed.
    pub fn train_config(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            lr: self.lr,
            steps: self.steps,
            noise: self.noise,
            noise_dist: self.noise_dist,
            batch: self.batch,
            two_copies: self.two_copies,
            copies: self.copies.clone(),
            explicit_reg: self.explicit_reg,
            explicit_reg_sampled: self.explicit_reg_sampled,
            seed,
            log_points: self.log_points,
            flush_threshold: self.flush_threshold,
        }
    }
}

/// `labelnoise resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// A run directory written by `labelnoise train --checkpoint-every N`.
    #[arg(value_name = "DIR")]
    pub dir: String,
    /// No progress bar and no summary lines.
    #[arg(long)]
    pub quiet: bool,
}

/// `--fit-tol` and `--stationarity-tol`, shared by `analyze` and `settle`.
#[derive(Debug, Args)]
pub struct ToleranceArgs {
    /// Interpolation tolerance: the fit holds when max |h(x_i) - y_i| <= this.
    #[arg(
        long,
        value_name = "TOL",
        default_value_t = Tolerances::default().fit,
        allow_negative_numbers = true
    )]
    pub fit_tol: f64,
    /// Stationarity tolerance: a zero-error point is non-repellent when
    /// ||g_N|| <= this * max(1, ||grad reg||).
    #[arg(
        long,
        value_name = "TOL",
        default_value_t = Tolerances::default().stationarity,
        allow_negative_numbers = true
    )]
    pub stationarity_tol: f64,
}

impl ToleranceArgs {
    /// The library's tolerances (checked by the library before use).
    pub fn tolerances(&self) -> Tolerances {
        Tolerances {
            fit: self.fit_tol,
            stationarity: self.stationarity_tol,
        }
    }
}

/// Parses `1e6`, `2000000` or `2_000_000` as a step count.
pub fn parse_steps(s: &str) -> Result<u64, String> {
    let clean = s.replace('_', "");
    if let Ok(v) = clean.parse::<u64>() {
        return Ok(v);
    }
    clean
        .parse::<f64>()
        .ok()
        .and_then(whole_steps)
        .ok_or_else(|| format!("expected a whole number of steps such as 1e6, got {s:?}"))
}
