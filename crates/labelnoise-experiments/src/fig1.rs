//! Figure 1: 5 plain-SGD runs and 10 label-noise runs of the Theorem 1 network on the
//! `fig1` data, from random initialisations ([`Setup`]). Every final network is first
//! projected back onto the zero-loss manifold ([`project_to_manifold`]), then measured:
//! the spread between runs (max pairwise sup-distance on [x_1, x_n]), kinks and
//! convexity changes against the data's minimum, Theorem 1 and the Theorem 2 verdict.
//!
//! Paper claim checked: Figure 1 and Theorem 1: label-noise SGD ends at the simplest
//! interpolant (the fewest convexity changes, every run the same function), while plain
//! SGD keeps the wiggles of its initialisation.

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::data::Dataset;
use labelnoise_core::error::Result;
use labelnoise_core::shape::ShapeOptions;
use labelnoise_core::stability::Verdict;
use labelnoise_core::train::{metrics, CancelToken};

use crate::common::{
    fig1_data, figure, functions_with_data, grid, max_pairwise_sup, project_to_manifold, sample,
    setup_text, shape_of, x_range, Projection, Setup, Shape,
};
use crate::plot::{Figure, Legend, Panel};
use crate::{Claim, Report, ValidOptions};

/// Points of the grid the functions are sampled on.
pub const GRID_POINTS: usize = 1101;

/// The end of one run, measured after projecting onto the zero-loss manifold.
#[derive(Clone, Debug, Serialize)]
pub struct FinalRun {
    /// The run's seed (initialisation and SGD draws).
    pub seed: u64,
    /// Label-noise σ (0 = plain SGD).
    pub noise: f64,
    /// SGD steps.
    pub steps: u64,
    /// Clean training loss (1/n) Σ (h − y)² at the end of training, before projection.
    pub final_loss: f64,
    /// reg at the end of training, before projection.
    pub final_reg: f64,
    /// The Gauss–Newton projection.
    pub projection: Projection,
    /// Shape of the projected function.
    pub shape: Shape,
    /// reg at the projected point.
    pub reg: f64,
    /// ||g_N|| at the projected point.
    pub null_reg_grad_norm: f64,
    /// ||∇reg|| at the projected point.
    pub reg_grad_norm: f64,
    /// Theorem 2 verdict at the projected point (default tolerances 1e-6).
    pub verdict: Verdict,
    /// Live units with a kink on a data point (reg not smooth there).
    pub nonsmooth_units: usize,
    /// reg and ||g_N|| (projected) a third of the way through the run.
    pub midway: Option<Midway>,
    /// The projected function on the grid (not serialized).
    #[serde(skip)]
    pub samples: Vec<f64>,
}

/// reg and ||g_N|| at the projected point a third of the way through a run.
#[derive(Clone, Debug, Serialize)]
pub struct Midway {
    /// The step.
    pub step: u64,
    /// reg.
    pub reg: f64,
    /// ||g_N||.
    pub null_reg_grad_norm: f64,
}

/// Trains one run of `setup` and measures its end (see the module documentation).
pub fn final_run(
    setup: &Setup,
    data: &Dataset,
    seed: u64,
    noise: f64,
    freeze_hidden: bool,
    xs: &[f64],
    cancel: &CancelToken,
) -> Result<FinalRun> {
    let steps = if noise > 0.0 {
        setup.noise_steps
    } else {
        setup.plain_steps
    };
    let net = setup.init(seed, freeze_hidden)?;
    let cfg = setup.config(seed, noise, steps);
    let opts = AnalyzeOptions {
        shape: ShapeOptions {
            jump_threshold: setup.jump_threshold,
            ..ShapeOptions::default()
        },
        ..AnalyzeOptions::default()
    };
    let mid = steps / 3;
    let mut midway = None;
    let net = crate::common::train_with_snapshots(net, data, &cfg, &[mid], cancel, |step, net| {
        if step == mid && mid > 0 {
            let (proj, _) = project_to_manifold(net, data, 50, 1e-12)?;
            let a = analyze(&proj, data, &opts)?;
            midway = Some(Midway {
                step,
                reg: a.reg,
                null_reg_grad_norm: a.null_reg_grad_norm,
            });
        }
        Ok(())
    })?;
    let m = metrics(&net, data, steps)?;
    let (proj, projection) = project_to_manifold(&net, data, 50, 1e-12)?;
    let (shape, _) = shape_of(&proj, data, setup.jump_threshold)?;
    let a = analyze(&proj, data, &opts)?;
    Ok(FinalRun {
        seed,
        noise,
        steps,
        final_loss: m.train_loss,
        final_reg: m.reg,
        projection,
        shape,
        reg: a.reg,
        null_reg_grad_norm: a.null_reg_grad_norm,
        reg_grad_norm: a.reg_grad_norm,
        verdict: a.verdict,
        nonsmooth_units: a.nonsmooth.len(),
        midway,
        samples: sample(&proj, xs),
    })
}

/// Runs `seeds` with noise σ in parallel (stopped by `cancel`).
pub fn runs(
    setup: &Setup,
    data: &Dataset,
    seeds: &[u64],
    noise: f64,
    xs: &[f64],
    cancel: &CancelToken,
) -> Result<Vec<FinalRun>> {
    seeds
        .par_iter()
        .map(|&s| final_run(setup, data, s, noise, false, xs, cancel))
        .collect()
}

/// The result of `reproduce fig1`.
#[derive(Clone, Debug, Serialize)]
pub struct Fig1 {
    /// The setup.
    pub setup: Setup,
    /// The data (x, y).
    pub data: Vec<(f64, f64)>,
    /// The grid the functions are sampled on ([x_1 − 0.25, x_n + 0.25]).
    #[serde(skip)]
    pub grid: Vec<f64>,
    /// Plain SGD runs.
    pub plain: Vec<FinalRun>,
    /// Label-noise runs.
    pub noise: Vec<FinalRun>,
    /// Max pairwise sup-distance on [x_1, x_n] between plain runs.
    pub spread_plain: f64,
    /// The same between label-noise runs.
    pub spread_noise: f64,
    /// The claims.
    pub claims: Vec<Claim>,
}

/// The seeds of `count` runs (1, 2, ...; plain and noise runs share initialisations).
pub fn seeds(count: usize) -> Vec<u64> {
    (1..=count as u64).collect()
}

/// Sup-distance between runs restricted to [x_1, x_n].
pub fn spread(runs: &[FinalRun], xs: &[f64], lo: f64, hi: f64) -> f64 {
    let keep: Vec<usize> = (0..xs.len())
        .filter(|&k| xs[k] >= lo - 1e-12 && xs[k] <= hi + 1e-12)
        .collect();
    let s: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| keep.iter().map(|&k| r.samples[k]).collect())
        .collect();
    max_pairwise_sup(&s)
}

/// Runs the experiment.
pub fn run(opts: &ValidOptions) -> Result<Fig1> {
    let setup = Setup::for_mode(opts.quick, opts.steps_scale);
    let data = fig1_data();
    let (lo, hi) = x_range(&data);
    let xs = grid(lo - 0.25, hi + 0.25, GRID_POINTS);
    let plain = runs(&setup, &data, &seeds(5), 0.0, &xs, opts.cancel())?;
    let noise = runs(&setup, &data, &seeds(10), setup.noise, &xs, opts.cancel())?;
    let spread_plain = spread(&plain, &xs, lo, hi);
    let spread_noise = spread(&noise, &xs, lo, hi);
    let min = noise.first().map_or(0, |r| r.shape.min_convexity_changes);
    let cc = |rs: &[FinalRun]| {
        rs.iter()
            .map(|r| r.shape.convexity_changes)
            .collect::<Vec<_>>()
    };
    let kinks = |rs: &[FinalRun]| rs.iter().map(|r| r.shape.kinks_inside).collect::<Vec<_>>();
    let thm = |rs: &[FinalRun]| rs.iter().filter(|r| r.shape.theorem1).count();
    let frac = |k: usize, n: usize| k as f64 / n.max(1) as f64;
    let noise_thm = frac(thm(&noise), noise.len());
    let plain_extra = plain
        .iter()
        .filter(|r| r.shape.convexity_changes > r.shape.min_convexity_changes)
        .count();
    let all: Vec<&FinalRun> = plain.iter().chain(&noise).collect();
    let worst_residual = all
        .iter()
        .map(|r| r.projection.residual_after)
        .fold(0.0f64, f64::max);
    let worst_move = noise
        .iter()
        .map(|r| r.projection.distance)
        .fold(0.0f64, f64::max);
    let jitter_bound = 10.0 * (setup.lr * setup.noise * setup.noise).sqrt();
    let claims = vec![
        Claim::new(
            "noise-runs-satisfy-theorem1",
            format!(
                "Figure 1 (right) and Theorem 1: with label noise the learned functions have \
                 the minimum number of convexity changes ({min} for this data) and are linear on \
                 every co-linear triple. Pass: at least 90% of the {} runs satisfy Theorem 1.",
                noise.len()
            ),
            json!({"fraction": noise_thm, "convexity_changes": cc(&noise), "kinks_inside": kinks(&noise),
                   "min_convexity_changes": min}),
            noise_thm >= 0.9,
        ),
        Claim::new(
            "plain-runs-keep-extra-kinks",
            "Figure 1 (left): plain SGD halts at the first zero-error function it finds, which \
             keeps the wiggles of its initialisation. Pass: at least 80% of the plain runs have \
             more convexity changes than the minimum.",
            json!({"fraction_above_min": frac(plain_extra, plain.len()), "convexity_changes": cc(&plain),
                   "kinks_inside": kinks(&plain), "theorem1_fraction": frac(thm(&plain), plain.len())}),
            frac(plain_extra, plain.len()) >= 0.8,
        ),
        Claim::new(
            "noise-runs-agree",
            "Figure 1: the label-noise runs end at nearly the same function, the plain runs do \
             not. Pass: the max pairwise sup-distance on [x_1, x_n] of the noise runs is below \
             half that of the plain runs.",
            json!({"spread_noise": spread_noise, "spread_plain": spread_plain,
                   "ratio": spread_noise / spread_plain}),
            spread_noise < 0.5 * spread_plain,
        ),
        Claim::new(
            "all-runs-fit",
            "Figure 1: in all cases the training error is 0. Pass: every run, after at most 50 \
             Gauss-Newton steps, fits every point within the fit tolerance 1e-6 (docs/conventions.md#tolerances, `analyze`), and the projection moves a \
             label-noise run by at most 10 sqrt(eta sigma^2) in parameter space (it removes the \
             O(sqrt(eta sigma^2)) jitter, nothing more).",
            json!({"max_abs_residual_after_projection": worst_residual,
                   "max_projection_distance_noise": worst_move, "bound": jitter_bound,
                   "final_loss_plain": plain.iter().map(|r| r.final_loss).collect::<Vec<_>>(),
                   "final_loss_noise": noise.iter().map(|r| r.final_loss).collect::<Vec<_>>()}),
            worst_residual <= 1e-6 && worst_move <= jitter_bound,
        ),
    ];
    Ok(Fig1 {
        setup,
        data: (0..data.len()).map(|i| (data.x(i)[0], data.y(i))).collect(),
        grid: xs,
        plain,
        noise,
        spread_plain,
        spread_noise,
        claims,
    })
}

/// `reproduce fig1`: [`run`], then its report section.
pub struct Fig1Experiment;

impl crate::Experiment for Fig1Experiment {
    fn name(&self) -> &'static str {
        "fig1"
    }

    fn description(&self) -> &'static str {
        "Figure 1: plain SGD keeps its wiggles, label noise ends at the fewest-kink fit"
    }

    fn run(&self, opts: &ValidOptions) -> crate::Result<Report> {
        report(&run(opts)?)
    }
}

// The report section: figures, tables and the claims.

fn report(r: &Fig1) -> crate::Result<Report> {
    let panel = |title: &str, runs: &[FinalRun]| {
        let series = functions_with_data(&r.grid, runs.iter().map(|run| &run.samples[..]), &r.data);
        Panel {
            title: title.to_string(),
            x_label: "x".into(),
            y_label: "f(x)".into(),
            series,
            legend: Legend::LowerRight,
            ..Panel::default()
        }
    };
    let fig = Figure {
        name: "fig1".into(),
        title: "Figure 1: learned functions, plain SGD vs SGD with label noise".into(),
        panels: vec![
            panel(&format!("plain SGD, {} runs", r.plain.len()), &r.plain),
            panel(
                &format!("SGD with label noise, {} runs", r.noise.len()),
                &r.noise,
            ),
        ],
        cols: 2,
        panel_size: (620, 480),
    };
    let cc = |rs: &[FinalRun]| {
        rs.iter()
            .map(|x| x.shape.convexity_changes.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nonsmooth = |rs: &[FinalRun]| rs.iter().filter(|x| x.nonsmooth_units > 0).count();
    let failing: Vec<String> = r
        .noise
        .iter()
        .filter(|x| !x.shape.theorem1)
        .map(|x| {
            format!(
                "seed {} ({} of {} co-linear triples linear, {} convexity changes, {} live units with a kink on a data point)",
                x.seed,
                x.shape.linear_triples,
                x.shape.colinear_triples,
                x.shape.convexity_changes,
                x.nonsmooth_units
            )
        })
        .collect();
    let mut notes = vec![
        format!(
            "Convexity changes of the plain runs: {}; of the label-noise runs: {} (data minimum {}). \
             Spread (max pairwise sup-distance on [x_1, x_n]): plain {:.3}, label noise {:.3}.",
            cc(&r.plain),
            cc(&r.noise),
            r.noise.first().map_or(0, |x| x.shape.min_convexity_changes),
            r.spread_plain,
            r.spread_noise
        ),
        format!(
            "Kinks: the label-noise functions still have many significant kinks inside (x_1, x_n) \
             ({}) but all of the same sign within each bend, between the co-linear runs: unneeded \
             units shrink exponentially slowly, and kinks of the same convexity do not count as \
             convexity changes. Runs with a live unit whose kink sits on a data point (reg not \
             smooth there, outside Theorem 2): plain {}/{}, label noise {}/{}.",
            r.noise
                .iter()
                .map(|x| x.shape.kinks_inside.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            nonsmooth(&r.plain),
            r.plain.len(),
            nonsmooth(&r.noise),
            r.noise.len()
        ),
    ];
    if !failing.is_empty() {
        notes.push(format!(
            "Label-noise runs that do not satisfy Theorem 1: {}.",
            failing.join("; ")
        ));
    }
    Ok(Report {
        title: "Figure 1: plain SGD vs SGD with label noise".into(),
        intro: vec![setup_text(&r.setup)],
        claims: r.claims.clone(),
        results: serde_json::to_value(r)?,
        figures: vec![figure(
            fig,
            format!(
                "Left: {} plain-SGD runs; right: {} label-noise runs (same initialisations for seeds 1-5), \
                 each projected onto the zero-loss manifold; black dots: the data.",
                r.plain.len(),
                r.noise.len()
            ),
        )],
        notes,
    })
}
