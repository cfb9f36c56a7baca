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
use serde::Serialize;

use labelnoise_core::analysis::Analysis;
use labelnoise_core::model_io::{load_model_with, model_to_json, model_to_safetensors};
use labelnoise_core::settle::{settle, Outcome, SettleOptions, TraceRow};
use labelnoise_core::{Dataset, Error};

use labelnoise_core::files::{check_output_dir, write_atomic};

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
    /// Overwrite a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Print nothing.
    #[arg(long)]
    pub quiet: bool,
}

/// DIR/summary.json.
#[derive(Serialize)]
struct Summary<'a> {
    version: &'static str,
    model: &'a str,
    data: &'a str,
    outcome: &'a Outcome,
    fitted_first: bool,
    fit_steps: usize,
    iterations: usize,
    trials: usize,
    start_reg: f64,
    end_reg: f64,
    null_reg_grad_norm: f64,
    /// ||g_N|| projected with the pinned kinks (equals `null_reg_grad_norm` without
    /// pins): the quantity the stopping rule tests.
    pinned_null_reg_grad_norm: f64,
    reg_grad_norm: f64,
    max_abs_residual: f64,
    curve_length: Option<f64>,
    convexity_changes: Option<usize>,
    min_convexity_changes: Option<usize>,
    theorem1: Option<bool>,
    wall_seconds: f64,
    options: &'a SettleOptions,
    analysis: &'a Analysis,
}

fn trace_csv(rows: &[TraceRow]) -> String {
    let mut s = String::from(
        "iteration,event,reg,null_reg_grad_norm,reg_grad_norm,max_abs_residual,step_size,\
         step_norm,active,curve_length,convexity_changes\n",
    );
    for r in rows {
        let event = match r.event {
            labelnoise_core::settle::Event::Start => "start",
            labelnoise_core::settle::Event::Step => "step",
            labelnoise_core::settle::Event::Pin => "pin",
        };
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            r.iteration,
            event,
            r.reg,
            r.null_reg_grad_norm,
            r.reg_grad_norm,
            r.max_abs_residual,
            r.step_size,
            r.step_norm,
            r.active,
            r.curve_length.map(|v| v.to_string()).unwrap_or_default(),
            r.convexity_changes
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ));
    }
    s
}

/// Runs `settle`.
pub fn run(args: &SettleArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let opts = SettleOptions {
        tolerances: args.tolerances.tolerances(),
        max_iter: args.max_iter,
        active_set: !args.no_active_set,
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

    let wall = Instant::now();
    let result = settle(&net, &data, &opts)?;
    let wall_seconds = wall.elapsed().as_secs_f64();

    let a = &result.analysis;
    let shape = a.shape.as_ref();
    let pinned_null_reg_grad_norm = result
        .trace
        .last()
        .map_or(a.null_reg_grad_norm, |r| r.null_reg_grad_norm);
    let summary = Summary {
        version: env!("CARGO_PKG_VERSION"),
        model: &args.model,
        data: &args.data,
        outcome: &result.outcome,
        fitted_first: result.fitted_first,
        fit_steps: result.fit_steps,
        iterations: result.iterations,
        trials: result.trials,
        start_reg: result.start_reg,
        end_reg: result.end_reg,
        null_reg_grad_norm: a.null_reg_grad_norm,
        pinned_null_reg_grad_norm,
        reg_grad_norm: a.reg_grad_norm,
        max_abs_residual: a.max_abs_residual,
        curve_length: shape.map(|s| s.curve_length),
        convexity_changes: shape.map(|s| s.convexity_changes),
        min_convexity_changes: shape.map(|s| s.min_convexity_changes),
        theorem1: shape.map(|s| s.theorem1),
        wall_seconds,
        options: &result.options,
        analysis: a,
    };
    write_atomic(
        &dir.join("model.json"),
        model_to_json(&result.network).as_bytes(),
    )?;
    write_atomic(
        &dir.join("model.safetensors"),
        &model_to_safetensors(&result.network),
    )?;
    write_atomic(&dir.join("trace.csv"), trace_csv(&result.trace).as_bytes())?;
    write_atomic(
        &dir.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;

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
                format!(" ({pinned_null_reg_grad_norm:.3e} with the pins)")
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
