//! The report section of Figure 1: figures, tables and claims.

use super::common::*;

pub(super) fn fig1_section(r: &Fig1, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let panel = |title: &str, runs: &[labelnoise_core::experiments::fig1::FinalRun]| {
        let mut series: Vec<Series> = runs
            .iter()
            .enumerate()
            .map(|(k, run)| Series::new(None, curve(&r.grid, &run.samples), color(k), Style::Line))
            .collect();
        series.push(data_series(&r.data));
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
    let cc = |rs: &[labelnoise_core::experiments::fig1::FinalRun]| {
        rs.iter()
            .map(|x| x.shape.convexity_changes.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nonsmooth = |rs: &[labelnoise_core::experiments::fig1::FinalRun]| {
        rs.iter().filter(|x| x.nonsmooth_units > 0).count()
    };
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
    Ok(Section {
        name: "fig1".into(),
        title: "Figure 1: plain SGD vs SGD with label noise".into(),
        wall_seconds: wall,
        intro: vec![setup_text(&r.setup)],
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            format!(
                "Left: {} plain-SGD runs; right: {} label-noise runs (same initialisations for seeds 1-5), \
                 each projected onto the zero-loss manifold; black dots: the data.",
                r.plain.len(),
                r.noise.len()
            ),
            dir,
        )?],
        notes,
    })
}
