//! The report section of `one-layer`: figures, tables and claims.

use super::common::*;
use super::fig2::curve;

pub(super) fn one_layer_section(r: &OneLayer, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let runs = [
        ("output layer only", &r.one_layer, color(1)),
        ("both layers", &r.two_layer, color(0)),
    ];
    let series = |f: &dyn Fn(&experiments::fig2::Snapshot) -> f64| {
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
    Ok(Section {
        name: "one-layer".into(),
        title: "Only the output layer trainable: no implicit regularization".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "reg (log-log), convexity changes and curve length of the projected function against \
             iteration, and the final functions, for the one-trainable-layer network (orange) and \
             the two-layer network (blue)."
                .into(),
            dir,
        )?],
        notes: vec![],
    })
}
