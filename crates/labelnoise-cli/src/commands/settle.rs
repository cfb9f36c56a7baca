//! `labelnoise settle --model M --data D --out DIR`: move a network along the zero-loss
//! manifold down the implicit regularizer to a non-repellent point (Theorem 2), or
//! report where and why it could not (see `labelnoise_core::settle`).
//!
//! Writes, each file atomically: DIR/model.json and DIR/model.safetensors (the end
//! point), DIR/trace.csv (one row per accepted move) and DIR/summary.json (outcome,
//! start and end reg, ||g_N||, curve length, Theorem 1, the end point's analysis, wall
//! time). Every input is checked before anything is written.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use labelnoise_core::files::check_output_dir;
use labelnoise_core::model_io::load_model_with;
use labelnoise_core::settle::{settle, write_settle_dir, Outcome, SettleOptions, SettleSummary};
use labelnoise_core::{Dataset, Error};

use labelnoise_core::files::DirLock;

/// `labelnoise settle`.
#[derive(Debug, Args)]
pub struct SettleArgs {
    /// Model file (.json or .safetensors) or built-in model.
    #[arg(long, value_name = "M")]
    pub model: String,
    /// Data: a .json or .csv file, a NumPy pair X.npy,Y.npy, or a built-in data set (fig1).
    #[arg(long, value_name = "D")]
    pub data: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: String,
    /// Hidden activation of a PyTorch state_dict saved as safetensors (0.weight, 0.bias,
    /// 2.weight, ...); labelnoise's own files name theirs.
    #[arg(long, value_name = "A", value_enum)]
    pub activation: Option<labelnoise_core::Activation>,
    /// The most descent iterations.
    #[arg(long, value_name = "N", default_value_t = SettleOptions::default().max_iter)]
    pub max_iter: usize,
    /// Fit and stationarity tolerances of the Theorem 2 verdict.
    #[command(flatten)]
    pub tolerances: crate::args::ToleranceArgs,
    /// Do not pin kinks pushed onto data points; stop there with the outcome
    /// kink-on-data-point instead (the active set is on by default).
    #[arg(long)]
    pub no_active_set: bool,
    /// Do not run the smoothing continuation after a stall at kinks on data points
    /// (docs/cli.md#settle).
    #[arg(long)]
    pub no_smoothing: bool,
    /// The most label-noise SGD bursts after a stall at kinks on data points, each
    /// followed by a new descent; 0 turns them off.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub escape_rounds: usize,
    /// η of the bursts.
    #[arg(long, default_value_t = 4e-3, value_name = "ETA")]
    pub escape_lr: f64,
    /// σ of the bursts' label noise.
    #[arg(long, default_value_t = 0.5, value_name = "SIGMA")]
    pub escape_noise: f64,
    /// Length of one burst in slow-phase time units 1/(η²σ²).
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub escape_time: f64,
    /// Seed of the bursts' noise.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub escape_seed: u64,
    /// Overwrite a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Print nothing.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `settle`.
pub fn run(args: &SettleArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let opts = SettleOptions {
        tolerances: args.tolerances.tolerances(),
        max_iter: args.max_iter,
        active_set: !args.no_active_set,
        smooth_taus: if args.no_smoothing {
            Vec::new()
        } else {
            SettleOptions::default().smooth_taus
        },
        escape_rounds: args.escape_rounds,
        escape_lr: args.escape_lr,
        escape_noise: args.escape_noise,
        escape_time: args.escape_time,
        escape_seed: args.escape_seed,
        ..SettleOptions::default()
    };
    opts.check()?;
    let net = load_model_with(&args.model, args.activation)?;
    let data = Dataset::load(&args.data)?;
    if net.input_dim() != data.dim() {
        return Err(Error::Mismatch {
            message: format!(
                "{} and {}: the model takes {}-dimensional inputs but the data are \
                 {}-dimensional",
                args.model,
                args.data,
                net.input_dim(),
                data.dim()
            ),
        }
        .into());
    }
    let dir = PathBuf::from(&args.out);
    check_output_dir(&dir, "--out", args.force)?;
    // One writer per output directory, held until the files are written.
    let _lock = DirLock::acquire(&dir)?;

    let wall = Instant::now();
    let result = settle(&net, &data, &opts).map_err(|e| match e {
        // Weights that overflow on the data: bad input in the model file.
        labelnoise_core::Error::Parameter { name, message } if name == "model" => {
            labelnoise_core::Error::invalid(&args.model, "weights", message)
        }
        other => other,
    })?;
    let wall_seconds = wall.elapsed().as_secs_f64();

    let a = &result.analysis;
    let shape = a.shape.as_ref();
    let summary = SettleSummary::new(&result, &args.model, &args.data, wall_seconds);
    write_settle_dir(&dir, &summary, &result)?;

    if !args.quiet {
        writeln!(
            out,
            "settle {} on {}: {}{}",
            args.model,
            args.data,
            result.outcome.name(),
            if opts.active_set {
                " (active set on)"
            } else {
                " (active set off)"
            }
        )?;
        if result.fitted_first {
            writeln!(
                out,
                "  the start did not interpolate: fitted by Gauss-Newton first ({} steps)",
                result.fit_steps
            )?;
        }
        match &result.outcome {
            Outcome::ConstrainedStationary { active: kinks }
            | Outcome::KinkOnDataPoint { units: kinks } => {
                let list: Vec<String> = kinks
                    .iter()
                    .map(|k| format!("unit {}.{} at point {} {:?}", k.layer, k.unit, k.point, k.x))
                    .collect();
                writeln!(
                    out,
                    "  kinks on data points (reg is not smooth there, outside Theorem 2): {}",
                    list.join(", ")
                )?;
            }
            _ => {}
        }
        let pinned = match &result.outcome {
            Outcome::ConstrainedStationary { .. } => {
                format!(" ({:.3e} with the pins)", summary.pinned_null_reg_grad_norm)
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "  reg {:.9e} -> {:.9e}; ||g_N|| {:.3e}{pinned}; max |residual| {:.3e}",
            result.start_reg, result.end_reg, a.null_reg_grad_norm, a.max_abs_residual
        )?;
        if let Some(s) = shape {
            writeln!(
                out,
                "  curve length {:.6}; convexity changes {} (minimum {}); Theorem 1 {}",
                s.curve_length,
                s.convexity_changes,
                s.min_convexity_changes,
                if s.theorem1 { "holds" } else { "fails" }
            )?;
        }
        writeln!(
            out,
            "  {} iterations, {} trial points, {:.2} s; wrote {}",
            result.iterations,
            result.trials,
            wall_seconds,
            dir.display()
        )?;
    }
    Ok(())
}
