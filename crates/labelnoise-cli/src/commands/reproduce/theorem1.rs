//! The report section of Theorem 1: figures, tables and claims.

use super::common::*;

pub(super) fn theorem1_section(r: &Theorem1, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let pts = |rs: &[labelnoise_core::experiments::fig1::FinalRun],
               f: &dyn Fn(&labelnoise_core::experiments::fig1::FinalRun) -> f64| {
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
    let median_gn_noise = experiments::common::median(
        &r.noise
            .iter()
            .map(|x| x.null_reg_grad_norm)
            .collect::<Vec<_>>(),
    );
    let v = |c: &labelnoise_core::experiments::theorem1::VerdictCounts| {
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
    Ok(Section {
        name: "theorem1".into(),
        title: format!("Theorem 1 over {} seeds per arm", r.runs_per_arm),
        wall_seconds: wall,
        intro: vec![setup_text(&r.setup)],
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "Per run: convexity changes of the projected final function (dashed: the data's minimum) \
             and the norm of the projected regularizer gradient g_N (log scale)."
                .into(),
            dir,
        )?],
        notes,
    })
}
