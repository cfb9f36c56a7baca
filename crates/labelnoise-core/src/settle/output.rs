//! The output directory of a settle: what `labelnoise settle --out DIR` and Python's
//! `labelnoise.settle(..., out=DIR)` write, built here once so the two front ends write
//! the same bytes.
//!
//! - `DIR/model.json`, `DIR/model.safetensors`: the end point;
//! - `DIR/trace.csv`: one row per accepted move ([`trace_csv`]);
//! - `DIR/summary.json`: [`SettleSummary`].
//!
//! Each file is written atomically (docs/formats.md#settle-output).

use std::path::Path;

use serde::Serialize;

use crate::analysis::Analysis;
use crate::error::Result;
use crate::files::write_atomic;
use crate::model_io::{model_to_json, model_to_safetensors};

use super::options::SettleOptions;
use super::outcome::{EscapeRound, Event, Outcome, SettleResult, Smoothing, TraceRow};

/// `DIR/summary.json` of a settle: the outcome, the start and end reg, the end point's
/// Theorem 2 and Theorem 1 quantities and its full analysis, the options and the wall
/// time.
#[derive(Clone, Debug, Serialize)]
pub struct SettleSummary<'a> {
    /// labelnoise's version.
    pub version: &'static str,
    /// The model as the user named it (file or built-in name).
    pub model: &'a str,
    /// The data as the user named them.
    pub data: &'a str,
    /// How the descent ended.
    pub outcome: &'a Outcome,
    /// Whether the start had to be fitted first (Gauss–Newton).
    pub fitted_first: bool,
    /// Gauss–Newton steps of that fit.
    pub fit_steps: usize,
    /// Descent iterations (accepted steps and pins).
    pub iterations: usize,
    /// Trial points of the line searches.
    pub trials: usize,
    /// reg at the start.
    pub start_reg: f64,
    /// reg at the end.
    pub end_reg: f64,
    /// ||g_N|| at the end (Theorem 2).
    pub null_reg_grad_norm: f64,
    /// ||g_N|| projected with the pinned kinks (equals `null_reg_grad_norm` without
    /// pins): the quantity the stopping rule tests.
    pub pinned_null_reg_grad_norm: f64,
    /// ||∇reg|| at the end.
    pub reg_grad_norm: f64,
    /// max_i |h(x_i) − y_i| at the end.
    pub max_abs_residual: f64,
    /// Curve length on [x_1, x_n] (1-D relu networks).
    pub curve_length: Option<f64>,
    /// Convexity changes of the end function (Theorem 1).
    pub convexity_changes: Option<usize>,
    /// The data's minimum number of convexity changes.
    pub min_convexity_changes: Option<usize>,
    /// Whether Theorem 1's shape statement holds at the end.
    pub theorem1: Option<bool>,
    /// Wall time of the settle, in seconds.
    pub wall_seconds: f64,
    /// The smoothing continuation after a non-smooth stall, if it ran.
    pub smoothing: Option<&'a Smoothing>,
    /// The escape rounds (label-noise bursts) after a non-smooth stall.
    pub escapes: &'a [EscapeRound],
    /// The options it ran with.
    pub options: &'a SettleOptions,
    /// `analyze` of the end point.
    pub analysis: &'a Analysis,
}

impl<'a> SettleSummary<'a> {
    /// The summary of `result`, settled from `model` on `data` in `wall_seconds`.
    pub fn new(result: &'a SettleResult, model: &'a str, data: &'a str, wall_seconds: f64) -> Self {
        let a = &result.analysis;
        let shape = a.shape.as_ref();
        SettleSummary {
            version: env!("CARGO_PKG_VERSION"),
            model,
            data,
            outcome: &result.outcome,
            fitted_first: result.fitted_first,
            fit_steps: result.fit_steps,
            iterations: result.iterations,
            trials: result.trials,
            start_reg: result.start_reg,
            end_reg: result.end_reg,
            null_reg_grad_norm: a.null_reg_grad_norm,
            pinned_null_reg_grad_norm: pinned_null_reg_grad_norm(result),
            reg_grad_norm: a.reg_grad_norm,
            max_abs_residual: a.max_abs_residual,
            curve_length: shape.map(|s| s.curve_length),
            convexity_changes: shape.map(|s| s.convexity_changes),
            min_convexity_changes: shape.map(|s| s.min_convexity_changes),
            theorem1: shape.map(|s| s.theorem1),
            wall_seconds,
            smoothing: result.smoothing.as_ref(),
            escapes: &result.escapes,
            options: &result.options,
            analysis: a,
        }
    }
}

/// ||g_N|| with the pinned kinks held (the last trace row's), or the end point's ||g_N||
/// when there is no trace.
pub fn pinned_null_reg_grad_norm(result: &SettleResult) -> f64 {
    result
        .trace
        .last()
        .map_or(result.analysis.null_reg_grad_norm, |r| r.null_reg_grad_norm)
}

/// The event's name in `trace.csv`: `start`, `step` or `pin`.
pub fn event_name(event: Event) -> &'static str {
    match event {
        Event::Start => "start",
        Event::Step => "step",
        Event::Pin => "pin",
    }
}

/// `trace.csv`: a header and one row per trace row (docs/formats.md#settle-output).
pub fn trace_csv(rows: &[TraceRow]) -> String {
    let mut s = String::from(
        "iteration,event,reg,null_reg_grad_norm,reg_grad_norm,max_abs_residual,step_size,\
         step_norm,active,curve_length,convexity_changes\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            r.iteration,
            event_name(r.event),
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

/// Writes `model.json`, `model.safetensors`, `trace.csv` and `summary.json` of `result`
/// into `dir` (created if missing), each atomically ([`write_atomic`]). The caller checks `dir` first
/// ([`crate::files::check_output_dir`]).
pub fn write_settle_dir(
    dir: &Path,
    summary: &SettleSummary<'_>,
    result: &SettleResult,
) -> Result<()> {
    write_atomic(
        &dir.join("model.json"),
        model_to_json(&result.network).as_bytes(),
    )?;
    write_atomic(
        &dir.join("model.safetensors"),
        &model_to_safetensors(&result.network),
    )?;
    write_atomic(&dir.join("trace.csv"), trace_csv(&result.trace).as_bytes())?;
    let json = serde_json::to_vec_pretty(summary).expect("a settle summary serializes");
    write_atomic(&dir.join("summary.json"), &json)
}
