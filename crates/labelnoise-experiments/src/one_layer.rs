//! Only the output layer trainable (hidden layer frozen; output weights, output bias and
//! skip trainable): h is linear in θ, so ∇_θ h does not depend on θ, reg is constant, and
//! SGD with label noise moves θ only within the row space of J: the zero-loss function it
//! finds never changes (the remark under the paper's Figure 1). The same network with
//! both layers trainable, from the same initialisation and noise, simplifies.
//!
//! Paper claim checked: the remark under Figure 1: with a single layer of trainable
//! weights the implicit regularization does not occur (reg is constant).

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use labelnoise_core::error::Result;

use crate::common::{
    data_series, fig1_data, fig1_data_points, figure, grid, setup_text, shape_of, sup_distance,
    x_range, Setup,
};
use crate::fig2::{curve, fit_index, index_at, trajectory, Trajectory, NEAR_ZERO};
use crate::plot::{color, Figure, Legend, Panel, Series, Style};
use crate::{Claim, Report, ValidOptions};

/// The result of `reproduce one-layer`.
#[derive(Clone, Debug, Serialize)]
pub struct OneLayer {
    /// The setup (both runs use its label-noise settings).
    pub setup: Setup,
    /// The seed of both runs.
    pub seed: u64,
    /// Only the output layer trainable.
    pub one_layer: Trajectory,
    /// Both layers trainable.
    pub two_layer: Trajectory,
    /// The claims.
    pub claims: Vec<Claim>,
}

/// Runs the experiment.
pub fn run(opts: &ValidOptions) -> Result<OneLayer> {
    let setup = Setup::for_mode(opts.quick, opts.steps_scale);
    let data = fig1_data();
    let (lo, hi) = x_range(&data);
    let xs = grid(lo, hi, 1101);
    let seed = 1;
    let points = if opts.quick { 30 } else { 50 };
    let mut both: Vec<Trajectory> = [true, false]
        .par_iter()
        .map(|&frozen| {
            trajectory(
                &setup,
                &data,
                seed,
                setup.noise,
                setup.noise_steps,
                frozen,
                points,
                &xs,
                opts.cancel(),
            )
        })
        .collect::<Result<_>>()?;
    let two_layer = both.pop().expect("two runs");
    let one_layer = both.pop().expect("two runs");
    let near_zero = NEAR_ZERO * one_layer.snapshots[0].loss;
    let minimal = labelnoise_core::builtin::model("fig1-minimal").expect("built in");
    let min = shape_of(&minimal, &data, setup.jump_threshold)?
        .0
        .min_convexity_changes;

    let reg0 = one_layer.snapshots[0].reg;
    let reg_dev = one_layer
        .snapshots
        .iter()
        .map(|s| (s.reg - reg0).abs() / reg0)
        .fold(0.0f64, f64::max);
    let summary = |t: &Trajectory| {
        let k = fit_index(t, near_zero);
        let from = index_at(
            t,
            10 * k.map_or(t.snapshots.last().map_or(0, |s| s.step), |k| {
                t.snapshots[k].step.max(1)
            }),
        );
        let last = t.snapshots.last().expect("snapshots");
        let first = &t.snapshots[from];
        (
            k.map(|k| t.snapshots[k].step),
            first.clone(),
            last.clone(),
            sup_distance(&first.samples, &last.samples),
        )
    };
    let (fit1, from1, end1, moved1) = summary(&one_layer);
    let (fit2, from2, end2, moved2) = summary(&two_layer);
    let reg_ratio2 = end2.reg / from2.reg;
    let claims = vec![
        Claim::new(
            "one-layer-reg-constant",
            "With one layer of trainable weights h is linear in theta, so reg = (1/n) sum ||grad h||^2 \
             is constant. Pass: max relative change of reg over the run < 1e-9.",
            json!({"reg_initial": reg0, "max_relative_change": reg_dev,
                   "reg_final": end1.reg}),
            reg_dev < 1e-9,
        ),
        Claim::new(
            "one-layer-no-simplification",
            "The implicit regularization does not occur for ReLU networks with a single layer of \
             trainable weights (Figure 1 caption). Pass: after the fit (10 x t_fit to the end) the \
             projected function moves by less than 1e-6 and keeps more convexity changes than the \
             minimum.",
            json!({"fit_step": fit1, "from_step": from1.step, "sup_moved": moved1,
                   "convexity_changes_from": from1.convexity_changes,
                   "convexity_changes_end": end1.convexity_changes,
                   "curve_length_from": from1.curve_length, "curve_length_end": end1.curve_length,
                   "min_convexity_changes": min}),
            fit1.is_some() && moved1 < 1e-6 && end1.convexity_changes > min,
        ),
        Claim::new(
            "two-layer-simplifies",
            "The same network with both layers trainable, same initialisation and noise: reg falls \
             and the function simplifies. Pass: reg at the end is below half its value at \
             10 x t_fit, and the end has the minimum number of convexity changes.",
            json!({"fit_step": fit2, "from_step": from2.step, "reg_from": from2.reg, "reg_end": end2.reg,
                   "reg_ratio": reg_ratio2, "sup_moved": moved2,
                   "convexity_changes_from": from2.convexity_changes,
                   "convexity_changes_end": end2.convexity_changes,
                   "curve_length_from": from2.curve_length, "curve_length_end": end2.curve_length,
                   "min_convexity_changes": min}),
            fit2.is_some() && reg_ratio2 < 0.5 && end2.convexity_changes == min,
        ),
    ];
    Ok(OneLayer {
        setup,
        seed,
        one_layer,
        two_layer,
        claims,
    })
}

/// `reproduce one-layer`: [`run`], then its report section.
pub struct OneLayerExperiment;

impl crate::Experiment for OneLayerExperiment {
    fn name(&self) -> &'static str {
        "one-layer"
    }

    fn description(&self) -> &'static str {
        "Only the output layer trainable: reg is constant and nothing simplifies"
    }

    fn run(&self, opts: &ValidOptions) -> crate::Result<Report> {
        report(&run(opts)?)
    }
}

// The report section: figures, tables and the claims.

fn report(r: &OneLayer) -> crate::Result<Report> {
    let runs = [
        ("output layer only", &r.one_layer, color(1)),
        ("both layers", &r.two_layer, color(0)),
    ];
    let series = |f: &dyn Fn(&crate::fig2::Snapshot) -> f64| {
        runs.iter()
            .map(|(label, t, c)| Series::new(Some(label), curve(t, f), *c, Style::Line))
            .collect::<Vec<_>>()
    };
    let mut fn_series: Vec<Series> = runs
        .iter()
        .map(|(label, t, c)| {
            let last = t.snapshots.last().expect("snapshots");
            Series::new(
                Some(&format!("{label}, end")),
                t.grid
                    .iter()
                    .copied()
                    .zip(last.samples.iter().copied())
                    .collect(),
                *c,
                Style::Line,
            )
        })
        .collect();
    fn_series.push(data_series(&fig1_data_points()));
    let fig = Figure {
        name: "one-layer".into(),
        title: "One trainable layer vs two, both with label noise (same initialisation)".into(),
        panels: vec![
            Panel {
                title: "implicit regularizer reg".into(),
                x_label: "iteration".into(),
                y_label: "reg = (1/n) sum ||grad h||^2".into(),
                x_log: true,
                y_log: true,
                series: series(&|s| s.reg),
                ..Panel::default()
            },
            Panel {
                title: "convexity changes (projected)".into(),
                x_label: "iteration".into(),
                y_label: "convexity changes".into(),
                x_log: true,
                legend: Legend::LowerLeft,
                series: series(&|s| {
                    if s.on_manifold {
                        s.convexity_changes as f64
                    } else {
                        f64::NAN
                    }
                }),
                ..Panel::default()
            },
            Panel {
                title: "curve length (projected)".into(),
                x_label: "iteration".into(),
                y_label: "curve length on [x_1, x_n]".into(),
                x_log: true,
                legend: Legend::LowerLeft,
                series: series(&|s| {
                    if s.on_manifold {
                        s.curve_length
                    } else {
                        f64::NAN
                    }
                }),
                ..Panel::default()
            },
            Panel {
                title: "final functions (projected)".into(),
                x_label: "x".into(),
                y_label: "f(x)".into(),
                series: fn_series,
                legend: Legend::LowerRight,
                ..Panel::default()
            },
        ],
        cols: 2,
        panel_size: (620, 420),
    };
    let intro = vec![
        setup_text(&r.setup),
        "Here both runs use label noise. `output layer only`: the hidden layer is frozen at its \
         initialisation and only the output weights, output bias and skip weight train, so h is \
         linear in theta, grad h does not depend on theta, reg is constant, and every update lies \
         in the row space of J: the zero-loss function SGD finds never moves. `both layers`: the \
         same network, initialisation and noise with the hidden layer trainable."
            .to_string(),
    ];
    Ok(Report {
        title: "Only the output layer trainable: no implicit regularization".into(),
        intro,
        claims: r.claims.clone(),
        results: serde_json::to_value(r)?,
        figures: vec![figure(
            fig,
            "reg (log-log), convexity changes and curve length of the projected function against \
             iteration, and the final functions, for the one-trainable-layer network (orange) and \
             the two-layer network (blue)."
                .into(),
        )],
        notes: vec![],
    })
}
