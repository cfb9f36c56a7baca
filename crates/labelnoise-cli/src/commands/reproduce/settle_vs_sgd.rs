//! The report section of `settle`: settle against long label-noise SGD from the same
//! starts.

use super::common::*;
use labelnoise_core::experiments::settle_vs_sgd::{Pair, SettleVsSgd};

pub(super) fn settle_section(r: &SettleVsSgd, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let mut panels = Vec::new();
    for (name, xs, pts) in &r.grids {
        let pairs: Vec<&Pair> = r.pairs.iter().filter(|p| &p.data == name).collect();
        for (title, pick) in [
            (
                "label-noise SGD",
                &(|p: &Pair| p.sgd.samples.clone()) as &dyn Fn(&Pair) -> Vec<f64>,
            ),
            ("settle", &|p: &Pair| p.settle.samples.clone()),
        ] {
            let mut series: Vec<Series> = pairs
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    Series::new(
                        None::<&str>,
                        xs.iter().copied().zip(pick(p)).collect(),
                        color(k),
                        Style::Line,
                    )
                })
                .collect();
            series.push(data_series(pts));
            panels.push(Panel {
                title: format!("{name}: {title} ({} starts)", pairs.len()),
                x_label: "x".into(),
                y_label: "f(x)".into(),
                series,
                legend: Legend::UpperLeft,
                ..Panel::default()
            });
        }
    }
    let fig_fn = Figure {
        name: "settle-functions".into(),
        title: "The end points of label-noise SGD and of settle, from the same plain fits".into(),
        panels,
        cols: 2,
        panel_size: (560, 400),
    };
    let reg_points = |name: &str| -> Vec<(f64, f64)> {
        r.pairs
            .iter()
            .filter(|p| p.data == name)
            .map(|p| (p.sgd.reg, p.settle.reg))
            .collect()
    };
    let all: Vec<f64> = r
        .pairs
        .iter()
        .flat_map(|p| [p.sgd.reg, p.settle.reg])
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut series: Vec<Series> = r
        .grids
        .iter()
        .enumerate()
        .map(|(k, (name, _, _))| Series::new(Some(name), reg_points(name), color(k), Style::Points))
        .collect();
    series.push(Series::new(
        Some("equal"),
        vec![(lo, lo), (hi, hi)],
        color(7),
        Style::Dashed,
    ));
    let times: Vec<Series> = r
        .grids
        .iter()
        .enumerate()
        .map(|(k, (name, _, _))| {
            Series::new(
                Some(name),
                r.pairs
                    .iter()
                    .filter(|p| &p.data == name)
                    .map(|p| (p.sgd.seconds, p.settle.seconds))
                    .collect(),
                color(k),
                Style::Points,
            )
        })
        .collect();
    let fig_cmp = Figure {
        name: "settle-comparison".into(),
        title: "settle against label-noise SGD, per start".into(),
        panels: vec![
            Panel {
                title: "reg at the end".into(),
                x_label: "label-noise SGD".into(),
                y_label: "settle".into(),
                series,
                legend: Legend::UpperLeft,
                ..Panel::default()
            },
            Panel {
                title: "wall seconds".into(),
                x_label: "label-noise SGD".into(),
                y_label: "settle".into(),
                y_log: true,
                series: times,
                legend: Legend::UpperLeft,
                ..Panel::default()
            },
        ],
        cols: 2,
        panel_size: (520, 420),
    };
    let mut notes = Vec::new();
    for (name, _, _) in &r.grids {
        let ps: Vec<&Pair> = r.pairs.iter().filter(|p| &p.data == name).collect();
        let rows: Vec<String> = ps
            .iter()
            .map(|p| {
                format!(
                    "seed {}: start reg {:.3}; SGD reg {:.3}, {} convexity changes, Theorem 1 {}, {} \
                     ({:.2} s); settle reg {:.3}, {} convexity changes, Theorem 1 {}, {} ({:.3} s); \
                     sup-distance {:.3} ({:.1}% of the data's spread)",
                    p.seed,
                    p.start_reg,
                    p.sgd.reg,
                    p.sgd.shape.convexity_changes,
                    p.sgd.shape.theorem1,
                    p.sgd.kind,
                    p.sgd.seconds,
                    p.settle.reg,
                    p.settle.shape.convexity_changes,
                    p.settle.shape.theorem1,
                    p.settle.kind,
                    p.settle.seconds,
                    p.sup_distance,
                    100.0 * p.relative_distance
                )
            })
            .collect();
        notes.push(format!("`{name}`: {}.", rows.join("; ")));
    }
    Ok(Section {
        name: "settle".into(),
        title: "settle against long label-noise SGD".into(),
        wall_seconds: wall,
        intro: vec![
            setup_text(&r.setup),
            "From each plain-SGD fit: label-noise SGD for the setup's label-noise steps, then \
             projected onto the zero-loss manifold; and `settle` with its defaults (active set on). \
             Data: `fig1`, and `v8` (y = |x| at x = +-0.3, +-0.7, +-1.1, +-1.5: one convex kink, \
             free to sit anywhere in the gap (-0.3, 0.3)). Wall times count the label-noise steps \
             and the settle call, not the shared plain fit."
                .into(),
        ],
        claims: r.claims.clone(),
        figures: vec![
            figure(
                fig_fn,
                "Each start in its own colour, the same colour in both panels of a data set; black \
                 dots: the data."
                    .into(),
                dir,
            )?,
            figure(
                fig_cmp,
                "Left: reg of settle's end against label-noise SGD's (dashed: equal). Right: wall \
                 seconds (log scale)."
                    .into(),
                dir,
            )?,
        ],
        notes,
    })
}
