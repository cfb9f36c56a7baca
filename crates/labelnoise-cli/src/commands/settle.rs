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
    /// After a stall at kinks on data points, run the remedies: a smoothing continuation
    /// (1-D networks with one hidden ReLU layer), then label-noise SGD bursts, each
    /// followed by a new descent (docs/cli.md#settle). Off by default: they can cost
    /// more than the descent itself.
    #[arg(long)]
    pub remedies: bool,
    /// With --remedies: do not run the smoothing continuation.
    #[arg(long, requires = "remedies")]
    pub no_smoothing: bool,
    /// With --remedies: the most label-noise SGD bursts; 0 turns them off.
    #[arg(long, default_value_t = labelnoise_core::settle::REMEDY_ROUNDS, value_name = "N", requires = "remedies")]
    pub escape_rounds: usize,
    /// With --remedies: η of the bursts.
    #[arg(long, default_value_t = SettleOptions::default().escape_lr, value_name = "ETA", requires = "remedies")]
    pub escape_lr: f64,
    /// With --remedies: σ of the bursts' label noise.
    #[arg(long, default_value_t = SettleOptions::default().escape_noise, value_name = "SIGMA", requires = "remedies")]
    pub escape_noise: f64,
    /// With --remedies: length of one burst in slow-phase time units 1/(η²σ²).
    #[arg(long, default_value_t = SettleOptions::default().escape_time, value_name = "T", requires = "remedies")]
    pub escape_time: f64,
    /// With --remedies: seed of the bursts' noise.
    #[arg(long, default_value_t = SettleOptions::default().escape_seed, value_name = "SEED", requires = "remedies")]
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
    let base = SettleOptions {
        tolerances: args.tolerances.tolerances(),
        max_iter: args.max_iter,
        active_set: !args.no_active_set,
        ..SettleOptions::default()
    };
    let opts = if args.remedies {
        let on = base.with_remedies();
        SettleOptions {
            smooth_taus: if args.no_smoothing {
                Vec::new()
            } else {
                on.smooth_taus.clone()
            },
            escape_rounds: args.escape_rounds,
            escape_lr: args.escape_lr,
            escape_noise: args.escape_noise,
            escape_time: args.escape_time,
            escape_seed: args.escape_seed,
            ..on
        }
    } else {
        base
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
