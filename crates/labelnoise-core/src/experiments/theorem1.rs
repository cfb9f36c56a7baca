//! Theorem 1 over many seeds: N plain-SGD runs and N label-noise runs of the Figure 1
//! setup, each measured at its end after projection onto the zero-loss manifold: does
//! it satisfy Theorem 1, and what is its Theorem 2 verdict (`analyze`)?

use serde::Serialize;
use serde_json::json;

use super::common::{grid, median, x_range, Setup};
use super::fig1::{runs, seeds, FinalRun};
use super::{fig1_data, Claim, Options};
use crate::error::Result;
use crate::stability::Verdict;

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
pub fn run(opts: &Options) -> Result<Theorem1> {
    let setup = Setup::for_mode(opts.quick, opts.steps_scale);
    let data = fig1_data();
    let (lo, hi) = x_range(&data);
    let xs = grid(lo, hi, 3);
    let n = if opts.quick { 20 } else { 40 };
    // Seeds 1001.. so these runs are independent of Figure 1's.
    let s: Vec<u64> = seeds(n).into_iter().map(|k| 1000 + k).collect();
    let plain = runs(&setup, &data, &s, 0.0, &xs)?;
    let noise = runs(&setup, &data, &s, setup.noise, &xs)?;
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
    let minimal = crate::builtin::model("fig1-minimal").expect("built in");
    let fewest_kink_reg = crate::regularizer::reg(&minimal, &data)?;
    let mids: Vec<&super::fig1::Midway> = noise.iter().filter_map(|r| r.midway.as_ref()).collect();
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
