//! The report section of Figure 2: figures, tables and claims.

use super::common::*;

/// (step, value) pairs of a trajectory, steps ≥ 1 (log axes).
pub(super) fn curve(
    t: &Trajectory,
    f: impl Fn(&experiments::fig2::Snapshot) -> f64,
) -> Vec<(f64, f64)> {
    t.snapshots
        .iter()
        .filter(|s| s.step >= 1)
        .map(|s| (s.step as f64, f(s)))
        .collect()
}

pub(super) fn hline(t: &Trajectory, y: f64) -> Vec<(f64, f64)> {
    let last = t.snapshots.last().map_or(1, |s| s.step.max(1)) as f64;
    vec![(1.0, y), (last, y)]
}

pub(super) fn fig2_section(r: &Fig2, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let min = r
        .claims
        .iter()
        .find(|c| c.name == "noise-ends-simpler")
        .and_then(|c| c.measured["min_convexity_changes"].as_f64())
        .unwrap_or(0.0);
    let mut panels = Vec::new();
    let runs = [("plain SGD", &r.plain), ("label noise", &r.noise)];
    let fit_step = |t: &Trajectory| {
        experiments::fig2::fit_index(t, r.near_zero_loss).map_or(u64::MAX, |k| t.snapshots[k].step)
    };
    for (label, t) in runs {
        panels.push(Panel {
            title: format!("{label}: training loss"),
            x_label: "iteration".into(),
            y_label: "loss (1/n) sum (h - y)^2".into(),
            x_log: true,
            y_log: true,
            series: vec![Series::new(
                Some("training loss"),
                curve(t, |s| s.loss),
                color(3),
                Style::Line,
            )],
            ..Panel::default()
        });
    }
    for (label, t) in runs {
        panels.push(Panel {
            title: format!("{label}: curve length on [x_1, x_n]"),
            x_label: "iteration".into(),
            y_label: "curve length".into(),
            x_log: true,
            legend: Legend::LowerLeft,
            series: vec![
                Series::new(
                    Some("projected onto zero loss"),
                    curve(t, |s| {
                        if s.on_manifold {
                            s.curve_length
                        } else {
                            f64::NAN
                        }
                    }),
                    color(0),
                    Style::Line,
                ),
                Series::new(
                    Some("raw (from the first near-zero loss)"),
                    curve(t, |s| s.raw_curve_length)
                        .into_iter()
                        .filter(|&(step, _)| step >= fit_step(t) as f64)
                        .collect(),
                    color(0),
                    Style::Thin,
                ),
                Series::new(
                    Some("fewest-kink interpolant"),
                    hline(t, r.fewest_kink_length),
                    color(2),
                    Style::Dashed,
                ),
                Series::new(
                    Some("piecewise-linear interpolant"),
                    hline(t, r.interpolant_length),
                    color(7),
                    Style::Dashed,
                ),
            ],
            ..Panel::default()
        });
    }
    for (label, t) in runs {
        panels.push(Panel {
            title: format!("{label}: convexity changes"),
            x_label: "iteration".into(),
            y_label: "convexity changes on (x_1, x_n)".into(),
            x_log: true,
            legend: Legend::LowerLeft,
            series: vec![
                Series::new(
                    Some("projected function"),
                    curve(t, |s| {
                        if s.on_manifold {
                            s.convexity_changes as f64
                        } else {
                            f64::NAN
                        }
                    }),
                    color(4),
                    Style::Line,
                ),
                Series::new(Some("data minimum"), hline(t, min), color(2), Style::Dashed),
            ],
            ..Panel::default()
        });
    }
    let fig = Figure {
        name: "fig2".into(),
        title: "Figure 2: training dynamics without (left) and with (right) label noise".into(),
        panels,
        cols: 2,
        panel_size: (620, 380),
    };
    // The functions at the fit, and at the end.
    let near = r.near_zero_loss;
    let at_fit = |t: &Trajectory| experiments::fig2::fit_index(t, near).unwrap_or(0);
    let fn_panel = |label: &str, t: &Trajectory| {
        let k = at_fit(t);
        let last = t.snapshots.len() - 1;
        let xs = &t.grid;
        Panel {
            title: format!("{label}: the function (projected)"),
            x_label: "x".into(),
            y_label: "f(x)".into(),
            series: vec![
                Series::new(
                    Some(&format!("step {} (loss near zero)", t.snapshots[k].step)),
                    xs.iter()
                        .copied()
                        .zip(t.snapshots[k].samples.iter().copied())
                        .collect(),
                    color(1),
                    Style::Line,
                ),
                Series::new(
                    Some(&format!("step {} (end)", t.snapshots[last].step)),
                    xs.iter()
                        .copied()
                        .zip(t.snapshots[last].samples.iter().copied())
                        .collect(),
                    color(0),
                    Style::Line,
                ),
                data_series(&fig1_data_points()),
            ],
            legend: Legend::LowerRight,
            ..Panel::default()
        }
    };
    let fig_fn = Figure {
        name: "fig2-functions".into(),
        title: "Figure 2: the function when the loss first gets near zero, and at the end".into(),
        panels: vec![
            fn_panel("plain SGD", &r.plain),
            fn_panel("label noise", &r.noise),
        ],
        cols: 2,
        panel_size: (620, 460),
    };
    let m = |name: &str, key: &str| {
        r.claims
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.measured[key].clone())
            .unwrap_or(serde_json::Value::Null)
    };
    let notes = vec![
        format!(
            "Both runs start from the same initialisation (seed {}). \"Near zero\" loss: at most {:.0e} \
             of the loss at initialisation ({:.3e}); plain SGD reaches it at step {} and the \
             label-noise run at step {}. The label-noise loss then stays at the noise floor, which is \
             ~eta sigma^2 x (size of the gradients): it falls from ~0.1-0.7 to ~0.002-0.01 as reg falls \
             from {:.0} to {:.1} during the slow phase.",
            r.seed,
            experiments::fig2::NEAR_ZERO,
            r.near_zero_loss,
            m("loss-near-zero-first", "fit_step_plain"),
            m("loss-near-zero-first", "fit_step_noise"),
            r.noise.snapshots.first().map_or(f64::NAN, |s| s.reg),
            r.noise.snapshots.last().map_or(f64::NAN, |s| s.reg),
        ),
        format!(
            "Curve length (projected): plain run ends at {:.4}; label-noise run {:.4} at the first \
             near-zero loss, minimum {:.4} during the run, {:.4} at the end. For reference: the \
             piecewise-linear interpolant of the data has length {:.4} and the fewest-kink \
             interpolant (built-in `fig1-minimal`) {:.4}. Curve length is not what the dynamics \
             minimizes and is not monotone: the label-noise function first gets shorter, then longer \
             again as its concave bends sharpen into near-single kinks at x = -1.5 and 1.5, while its \
             convex bend stays split into two kink clusters next to the data points -0.25 and 0.25 \
             (see `theorem1`), so it ends between the two reference lengths. That the label-noise run \
             ends shorter than the plain run (the paper's 5.2 -> 4.3) holds here because the \
             initialisation puts large weights on the output layer, so the plain fit is wiggly; with \
             PyTorch's default scale the plain fits we tried have length ~7.03, and the comparison \
             with the label-noise length would then not favour label noise.",
            m("noise-curve-length", "plain_final").as_f64().unwrap_or(f64::NAN),
            m("noise-curve-length", "noise_at_fit").as_f64().unwrap_or(f64::NAN),
            m("noise-curve-length", "noise_min_over_run").as_f64().unwrap_or(f64::NAN),
            m("noise-curve-length", "noise_final").as_f64().unwrap_or(f64::NAN),
            r.interpolant_length,
            r.fewest_kink_length
        ),
        format!(
            "The label-noise run first reaches (and keeps) the minimum number of convexity changes at \
             step {} = {:.2} / (eta^2 sigma^2).",
            m("noise-keeps-moving-after-fit", "settled_step"),
            m("noise-keeps-moving-after-fit", "settled_step")
                .as_f64()
                .map_or(f64::NAN, |s| s * r.setup.drift_rate())
        ),
    ];
    Ok(Section {
        name: "fig2".into(),
        title: "Figure 2: loss, curve length and convexity changes against iteration".into(),
        wall_seconds: wall,
        intro: vec![setup_text(&r.setup)],
        claims: r.claims.clone(),
        figures: vec![
            figure(
                fig,
                "Rows: training loss (log-log), curve length of the function on [x_1, x_n] (projected \
                 onto the zero-loss manifold, and raw in light blue), convexity changes of the \
                 projected function; dashed: reference lengths and the data's minimum."
                    .into(),
                dir,
            )?,
            figure(
                fig_fn,
                "The projected function when the loss first gets near zero (orange) and at the end \
                 (blue), without and with label noise."
                    .into(),
                dir,
            )?,
        ],
        notes,
    })
}
