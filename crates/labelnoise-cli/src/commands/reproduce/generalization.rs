//! The report section of `generalization`: test error against n per method and k, the
//! fitted slopes, and example functions.

use super::common::*;
use labelnoise_core::experiments::generalization::{
    Cell, Generalization, INTERPOLATION_TOL, METHODS, PIECES, SIZES, WRONG_TOL,
};

fn cell<'a>(r: &'a Generalization, method: &str, k: usize, n: usize) -> Option<&'a Cell> {
    r.cells
        .iter()
        .find(|c| c.method == method && c.pieces == k && c.size == n)
}

pub(super) fn generalization_section(
    r: &Generalization,
    wall: f64,
    dir: &Path,
) -> anyhow::Result<Section> {
    let curve = |method: &str, k: usize, f: &dyn Fn(&Cell) -> f64| -> Vec<(f64, f64)> {
        SIZES
            .iter()
            .filter_map(|&n| cell(r, method, k, n).map(|c| (n as f64, f(c))))
            .filter(|(_, y)| *y > 0.0 && y.is_finite())
            .collect()
    };
    let mut panels = Vec::new();
    for (what, f, label) in [
        (
            "test MSE",
            &(|c: &Cell| c.mse) as &dyn Fn(&Cell) -> f64,
            "mean (f - g)^2 on [-1, 1]",
        ),
        (
            "wrong fraction",
            &|c: &Cell| c.wrong_fraction,
            "fraction with |f - g| > 0.01",
        ),
    ] {
        for &k in &PIECES {
            let mut series: Vec<Series> = METHODS
                .iter()
                .enumerate()
                .map(|(i, m)| Series::new(Some(m), curve(m, k, f), color(i), Style::Line))
                .collect();
            if what == "wrong fraction" {
                // The paper's k/n, anchored at the interpolant's value at the smallest n.
                if let Some(c) = cell(r, "interpolant", k, SIZES[0]) {
                    let y0 = c.wrong_fraction;
                    let n0 = SIZES[0] as f64;
                    series.push(Series::new(
                        Some("slope -1"),
                        SIZES
                            .iter()
                            .map(|&n| (n as f64, y0 * n0 / n as f64))
                            .collect(),
                        plotters::style::BLACK,
                        Style::Dashed,
                    ));
                }
            }
            panels.push(Panel {
                title: format!("{what}, k = {k} pieces"),
                x_label: "training points n".into(),
                y_label: label.into(),
                x_log: true,
                y_log: true,
                series,
                legend: Legend::LowerLeft,
            });
        }
    }
    let fig_err = Figure {
        name: "generalization".into(),
        title: format!(
            "Test error against n (mean over {} draws per point, interpolating runs)",
            r.draws
        ),
        panels,
        cols: 3,
        panel_size: (520, 420),
    };

    // Example functions: one draw with k = 4, n = 16.
    let example = r
        .runs
        .iter()
        .find(|d| d.pieces == 4 && d.size == 16)
        .or_else(|| r.runs.first());
    let mut figures = vec![figure(
        fig_err,
        format!(
            "Top: mean test MSE on a {}-point grid of [-1, 1]; bottom: the fraction of the grid where \
             |f - g| > {WRONG_TOL} (dashed: slope -1, the paper's O(k/n), through the interpolant's \
             first point). Log-log axes; means over the runs that interpolate (max_i |f(x_i) - y_i| \
             <= {INTERPOLATION_TOL}).",
            r.grid.len()
        ),
        dir,
    )?];
    if let Some(d) = example {
        let target: Vec<(f64, f64)> = r.grid.iter().map(|&x| (x, d.target.eval(x))).collect();
        let data: Vec<(f64, f64)> = d.xs.iter().map(|&x| (x, d.target.eval(x))).collect();
        let panels = d
            .methods
            .iter()
            .enumerate()
            .map(|(i, m)| Panel {
                title: format!(
                    "{}: MSE {:.1e}, wrong {:.3}{}",
                    m.method,
                    m.error.mse,
                    m.error.wrong_fraction,
                    m.convexity_changes
                        .map_or(String::new(), |c| format!(", {c} convexity changes"))
                ),
                x_label: "x".into(),
                y_label: "f(x)".into(),
                series: vec![
                    Series::new(Some("target"), target.clone(), color(7), Style::Dashed),
                    Series::new(
                        Some(&m.method),
                        super::common::curve(&r.grid, &m.samples),
                        color(i),
                        Style::Line,
                    ),
                    data_series(&data),
                ],
                legend: Legend::UpperLeft,
                ..Panel::default()
            })
            .collect();
        figures.push(figure(
            Figure {
                name: "generalization-example".into(),
                title: format!(
                    "One draw: k = {} pieces, n = {} points (seed {})",
                    d.pieces, d.size, d.seed
                ),
                panels,
                cols: 2,
                panel_size: (560, 400),
            },
            "The target (dashed), the training points and each method's function on [-1, 1]."
                .into(),
            dir,
        )?);
    }

    let mut notes = Vec::new();
    for m in METHODS {
        let parts: Vec<String> = r
            .slopes
            .iter()
            .filter(|s| s.method == m)
            .map(|s| {
                format!(
                    "k = {}: MSE {:.2}, wrong fraction {:.2}",
                    s.pieces, s.mse, s.wrong_fraction
                )
            })
            .collect();
        notes.push(format!(
            "Fitted log-log slopes against n, `{m}`: {}.",
            parts.join("; ")
        ));
    }
    let fits: Vec<String> = METHODS
        .iter()
        .filter(|m| **m != "interpolant")
        .map(|m| {
            let (i, a) = r
                .cells
                .iter()
                .filter(|c| c.method == *m)
                .fold((0, 0), |(i, a), c| (i + c.interpolating, a + c.draws));
            format!("{m} {i} of {a}")
        })
        .collect();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for d in &r.runs {
        for m in &d.methods {
            if let Some(o) = &m.settle_outcome {
                *outcomes.entry(o.clone()).or_default() += 1;
            }
        }
    }
    let thm = |m: &str| -> f64 {
        let v: Vec<f64> = r
            .cells
            .iter()
            .filter(|c| c.method == m)
            .filter_map(|c| c.theorem1_fraction)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    notes.push(format!(
        "Runs that interpolate (counted in the means): {}. Those that do not end a little short \
         (typically max residual ~1e-3): SGD converges slowly, and Gauss-Newton cannot help, where \
         three training points share one linear piece of the network, which has to be split by \
         moving a kink. `settle` outcomes: {}. Theorem 1 holds at the end of {:.0}% of the plain \
         runs, {:.0}% of the label-noise runs and {:.0}% of the settled runs (mean over cells).",
        fits.join(", "),
        outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * thm("plain"),
        100.0 * thm("label-noise"),
        100.0 * thm("settle"),
    ));
    let s = &r.setup;
    let intro = vec![format!(
        "Targets: random continuous k-piece piecewise-linear functions on [-1, 1] (k - 1 \
         breakpoints uniform on (-1, 1), values at the breakpoints and at +-1 uniform on [-1, 1]). \
         Training sets: n points, one uniform in the middle 90% of each of n equal cells of [-1, 1], \
         labels g(x) without noise; {} draws per (k, n). Network: 1 -> {} ReLU -> 1 with output bias \
         and skip, PyTorch's default initialisation with the output weights times {}. Methods: plain \
         SGD (eta = {}) until max_i |f(x_i) - y_i| <= 1e-6 (at most {} steps); SGD with Rademacher \
         label noise sigma = {} for {} steps ({:.0} slow-phase time units 1/(eta^2 sigma^2)), from the \
         same start; `settle` from the plain fit (at most 300 iterations); the piecewise-linear \
         interpolant of the training points, extended linearly. Every network is projected onto the \
         zero-loss manifold before it is tested.",
        r.draws,
        s.width,
        s.output_scale,
        s.lr,
        s.plain_steps,
        s.noise,
        s.noise_steps,
        s.noise_steps as f64 * s.drift_rate()
    )];
    Ok(Section {
        name: "generalization".into(),
        title: "Generalization: test error against n for k-piece targets".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures,
        notes,
    })
}
