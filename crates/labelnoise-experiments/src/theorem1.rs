//! Theorem 1 over many seeds: N plain-SGD runs and N label-noise runs of the Figure 1
//! setup, each measured at its end after projection onto the zero-loss manifold: does
//! it satisfy Theorem 1, and what is its Theorem 2 verdict (`analyze`)?
//!
//! Paper claim checked: Theorem 1 (non-repellent zero-error points of a one-hidden-
//! layer ReLU network with skip have the fewest convexity changes) and Theorem 2 (label
//! noise ends near a non-repellent point), over many seeds.

use serde::Serialize;
use serde_json::json;

use labelnoise_core::error::Result;
use labelnoise_core::stability::Verdict;

use crate::common::{fig1_data, figure, grid, median, setup_text, x_range, Setup};
use crate::fig1::{runs, seeds, FinalRun};
use crate::plot::{color, Figure, Legend, Panel, Series, Style};
use crate::{Claim, Report, ValidOptions};

/// Counts of verdicts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VerdictCounts {
    /// Zero error, g_N = 0 within tolerance.
    pub non_repellent: usize,
    /// Zero error, g_N ≠ 0.
    pub repellent: usize,
    /// Not interpolating.
    pub not_interpolating: usize,
    /// Runs with a live kink on a data point (reg not smooth: outside Theorem 2).
    pub nonsmooth: usize,
}

fn counts(rs: &[FinalRun]) -> VerdictCounts {
    let mut c = VerdictCounts::default();
    for r in rs {
        match r.verdict {
            Verdict::NonRepellent => c.non_repellent += 1,
            Verdict::Repellent => c.repellent += 1,
            Verdict::NotInterpolating => c.not_interpolating += 1,
        }
        if r.nonsmooth_units > 0 {
            c.nonsmooth += 1;
        }
    }
    c
}

/// The result of `reproduce theorem1`.
#[derive(Clone, Debug, Serialize)]
pub struct Theorem1 {
    /// The setup.
    pub setup: Setup,
    /// Runs per arm.
    pub runs_per_arm: usize,
    /// Plain SGD runs.
    pub plain: Vec<FinalRun>,
    /// Label-noise runs.
    pub noise: Vec<FinalRun>,
    /// Verdicts of the plain runs.
    pub verdicts_plain: VerdictCounts,
    /// Verdicts of the label-noise runs.
    pub verdicts_noise: VerdictCounts,
    /// Fraction of plain runs satisfying Theorem 1.
    pub theorem1_fraction_plain: f64,
    /// Fraction of label-noise runs satisfying Theorem 1.
    pub theorem1_fraction_noise: f64,
    /// Median reg and ||g_N|| of the label-noise runs a third of the way through.
    pub noise_midway_median: (f64, f64),
    /// Median reg at the end (projected) of the plain runs.
    pub median_reg_plain: f64,
    /// Median reg at the end (projected) of the label-noise runs.
    pub median_reg_noise: f64,
    /// reg of the three-unit fewest-kink interpolant (built-in `fig1-minimal`), for
    /// reference.
    pub fewest_kink_reg: f64,
    /// The claims.
    pub claims: Vec<Claim>,
}

/// Runs the experiment.
pub fn run(opts: &ValidOptions) -> Result<Theorem1> {
    let setup = Setup::for_mode(opts.quick, opts.steps_scale);
    let data = fig1_data();
    let (lo, hi) = x_range(&data);
    let xs = grid(lo, hi, 3);
    let n = if opts.quick { 20 } else { 40 };
    // Seeds 1001.. so these runs are independent of Figure 1's.
    let s: Vec<u64> = seeds(n).into_iter().map(|k| 1000 + k).collect();
    let plain = runs(&setup, &data, &s, 0.0, &xs, opts.cancel())?;
    let noise = runs(&setup, &data, &s, setup.noise, &xs, opts.cancel())?;
    let frac = |rs: &[FinalRun]| {
        rs.iter().filter(|r| r.shape.theorem1).count() as f64 / rs.len().max(1) as f64
    };
    let (fp, fnz) = (frac(&plain), frac(&noise));
    let (vp, vn) = (counts(&plain), counts(&noise));
    let gn = |rs: &[FinalRun]| rs.iter().map(|r| r.null_reg_grad_norm).collect::<Vec<_>>();
    let (mp, mn) = (median(&gn(&plain)), median(&gn(&noise)));
    let cc = |rs: &[FinalRun]| {
        rs.iter()
            .map(|r| r.shape.convexity_changes)
            .collect::<Vec<_>>()
    };
    let claims = vec![
        Claim::new(
            "noise-satisfies-theorem1",
            format!(
                "Theorem 1: zero-error points that label-noise SGD does not leave have the minimum \
                 number of convexity changes and are linear on co-linear triples. Pass: at least 90% \
                 of {n} label-noise runs end satisfying Theorem 1."
            ),
            json!({"fraction": fnz, "convexity_changes": cc(&noise)}),
            fnz >= 0.9,
        ),
        Claim::new(
            "plain-does-not",
            format!(
                "Plain SGD has no such bias (Theorem 1 is about label noise). Pass: the fraction of \
                 {n} plain runs satisfying Theorem 1 is at least 0.5 below the label-noise fraction."
            ),
            json!({"fraction_plain": fp, "fraction_noise": fnz, "convexity_changes": cc(&plain)}),
            fnz - fp >= 0.5,
        ),
        Claim::new(
            "noise-nearer-stationary",
            "Theorem 2: plain-SGD fits are repellent (g_N != 0); label-noise SGD descends reg along \
             the manifold toward g_N = 0. Pass: no plain run is non-repellent, and the median ||g_N|| \
             of the label-noise runs is below a tenth of the plain runs'. (Runs with a live kink on a \
             data point are counted as `nonsmooth`: reg is not differentiable there and Theorem 2 \
             does not apply to them.)",
            json!({"verdicts_plain": vp, "verdicts_noise": vn,
                   "median_null_reg_grad_norm_plain": mp, "median_null_reg_grad_norm_noise": mn}),
            vp.non_repellent == 0 && mn < 0.1 * mp,
        ),
    ];
    let regs = |rs: &[FinalRun]| rs.iter().map(|r| r.reg).collect::<Vec<_>>();
    let minimal = labelnoise_core::builtin::model("fig1-minimal").expect("built in");
    let fewest_kink_reg = labelnoise_core::regularizer::reg(&minimal, &data)?;
    let mids: Vec<&crate::fig1::Midway> = noise.iter().filter_map(|r| r.midway.as_ref()).collect();
    let noise_midway_median = (
        median(&mids.iter().map(|m| m.reg).collect::<Vec<_>>()),
        median(
            &mids
                .iter()
                .map(|m| m.null_reg_grad_norm)
                .collect::<Vec<_>>(),
        ),
    );
    Ok(Theorem1 {
        noise_midway_median,
        median_reg_plain: median(&regs(&plain)),
        median_reg_noise: median(&regs(&noise)),
        fewest_kink_reg,
        setup,
        runs_per_arm: n,
        theorem1_fraction_plain: fp,
        theorem1_fraction_noise: fnz,
        verdicts_plain: vp,
        verdicts_noise: vn,
        plain,
        noise,
        claims,
    })
}

/// `reproduce theorem1`: [`run`], then its report section.
pub struct Theorem1Experiment;

impl crate::Experiment for Theorem1Experiment {
    fn name(&self) -> &'static str {
        "theorem1"
    }

    fn description(&self) -> &'static str {
        "Theorem 1 over many seeds, with the Theorem 2 verdicts of the end points"
    }

    fn run(&self, opts: &ValidOptions) -> crate::Result<Report> {
        report(&run(opts)?)
    }
}

// The report section: figures, tables and the claims.

fn report(r: &Theorem1) -> crate::Result<Report> {
    let pts = |rs: &[crate::fig1::FinalRun], f: &dyn Fn(&crate::fig1::FinalRun) -> f64| {
        rs.iter()
            .enumerate()
            .map(|(k, x)| ((k + 1) as f64, f(x)))
            .collect::<Vec<_>>()
    };
    let min = r
        .noise
        .first()
        .map_or(0.0, |x| x.shape.min_convexity_changes as f64);
    let n = r.runs_per_arm as f64;
    let fig = Figure {
        name: "theorem1".into(),
        title: format!(
            "Theorem 1 over {} seeds: plain SGD vs label noise",
            r.runs_per_arm
        ),
        panels: vec![
            Panel {
                title: "convexity changes at the end (projected)".into(),
                x_label: "run".into(),
                y_label: "convexity changes on (x_1, x_n)".into(),
                series: vec![
                    Series::new(
                        Some("plain SGD"),
                        pts(&r.plain, &|x| x.shape.convexity_changes as f64),
                        color(1),
                        Style::Points,
                    ),
                    Series::new(
                        Some("label noise"),
                        pts(&r.noise, &|x| x.shape.convexity_changes as f64),
                        color(0),
                        Style::Points,
                    ),
                    Series::new(
                        Some("data minimum"),
                        vec![(1.0, min), (n, min)],
                        color(2),
                        Style::Dashed,
                    ),
                ],
                legend: Legend::MiddleLeft,
                ..Panel::default()
            },
            Panel {
                title: "||g_N|| = ||P_N grad reg|| at the end".into(),
                x_label: "run".into(),
                y_label: "||g_N||".into(),
                y_log: true,
                series: vec![
                    Series::new(
                        Some("plain SGD"),
                        pts(&r.plain, &|x| x.null_reg_grad_norm),
                        color(1),
                        Style::Points,
                    ),
                    Series::new(
                        Some("label noise"),
                        pts(&r.noise, &|x| x.null_reg_grad_norm),
                        color(0),
                        Style::Points,
                    ),
                ],
                legend: Legend::MiddleRight,
                ..Panel::default()
            },
        ],
        cols: 2,
        panel_size: (620, 440),
    };
    let median_gn_noise = crate::common::median(
        &r.noise
            .iter()
            .map(|x| x.null_reg_grad_norm)
            .collect::<Vec<_>>(),
    );
    let v = |c: &VerdictCounts| {
        format!(
            "{} repellent, {} non-repellent, {} not interpolating; {} with a live kink on a data point",
            c.repellent, c.non_repellent, c.not_interpolating, c.nonsmooth
        )
    };
    let notes = vec![
        format!(
            "Theorem 1 holds at the end of {:.0}% of the label-noise runs and {:.0}% of the plain runs. \
             Verdicts (analyze, tolerances 1e-6): plain: {}; label noise: {}.",
            100.0 * r.theorem1_fraction_noise,
            100.0 * r.theorem1_fraction_plain,
            v(&r.verdicts_plain),
            v(&r.verdicts_noise)
        ),
        format!(
            "No run ends non-repellent, and the label-noise runs are not converging to a smooth \
             stationary point either. Median reg at the end: {:.3} with label noise ({:.1} plain), \
             about half the {:.1} of the three-unit fewest-kink interpolant `fig1-minimal`. From a third of \
             the way through the label-noise runs to their end, the median ||g_N|| goes {:.3} -> {:.3} \
             and the median reg {:.3} -> {:.3}, while descent on reg at rate eta^2 sigma^2 with that \
             ||g_N|| would lower reg by about eta^2 sigma^2 x (2/3 of the steps) x ||g_N||^2 = {:.1}. \
             Inspecting two runs (seeds 1001 and 1006, quick setup) shows why: the convex bend near x = 0 is made of two clusters \
             of kinks within ~0.01 of the data points -0.25 and 0.25, i.e. within the label-noise \
             jitter of a point where reg is not differentiable (a live kink on a data point), which \
             Theorem 2 does not cover; the g_N computed there (relu'(0) = 0) is one-sided. Theorem 1's \
             conclusion (fewest convexity changes, linear on co-linear triples) holds there all the same.",
            r.median_reg_noise,
            r.median_reg_plain,
            r.fewest_kink_reg,
            r.noise_midway_median.1,
            median_gn_noise,
            r.noise_midway_median.0,
            r.median_reg_noise,
            r.setup.drift_rate()
                * (r.setup.noise_steps as f64 * 2.0 / 3.0)
                * median_gn_noise.powi(2)
        ),
    ];
    Ok(Report {
        title: format!("Theorem 1 over {} seeds per arm", r.runs_per_arm),
        intro: vec![setup_text(&r.setup)],
        claims: r.claims.clone(),
        results: serde_json::to_value(r)?,
        figures: vec![figure(
            fig,
            "Per run: convexity changes of the projected final function (dashed: the data's minimum) \
             and the norm of the projected regularizer gradient g_N (log scale)."
                .into(),
        )],
        notes,
    })
}
