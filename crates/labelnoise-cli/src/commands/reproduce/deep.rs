//! The report section of `deep`: the paper's §1.1 conjecture on 1-D ReLU networks with
//! 2 and 3 hidden layers.

use super::common::*;
use labelnoise_core::experiments::deep::{find_arm, Deep, DeepRun, METHODS};

fn label(method: &str) -> &'static str {
    match method {
        "plain" => "plain SGD",
        "label-noise" => "label noise",
        _ => "settle (from plain)",
    }
}

fn runs_of<'a>(r: &'a Deep, hidden: usize, method: &str) -> Vec<&'a DeepRun> {
    r.runs
        .iter()
        .filter(|x| x.hidden_layers == hidden && x.method == method)
        .collect()
}

pub(super) fn deep_section(r: &Deep, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let s = &r.setup;
    let min = r.min_convexity_changes as f64;
    // Figure 1: the functions, one row per depth, one column per method.
    let mut panels = Vec::new();
    for &h in &s.hidden_layers {
        for m in METHODS {
            let rs = runs_of(r, h, m);
            let mut series: Vec<Series> = rs
                .iter()
                .enumerate()
                .map(|(k, run)| {
                    Series::new(None, curve(&r.grid, &run.samples), color(k), Style::Line)
                })
                .collect();
            series.push(data_series(&r.data));
            let cc: Vec<String> = rs
                .iter()
                .map(|x| x.shape.convexity_changes.to_string())
                .collect();
            panels.push(Panel {
                title: format!(
                    "depth {} ({h} hidden), {}: conv. changes {}",
                    h + 1,
                    label(m),
                    cc.join(",")
                ),
                x_label: "x".into(),
                y_label: "f(x)".into(),
                series,
                legend: Legend::LowerRight,
                ..Panel::default()
            });
        }
    }
    let functions = Figure {
        name: "deep-functions".into(),
        title: format!(
            "Deep 1-D ReLU networks (width {}) on fig1: final functions per depth and method",
            s.width
        ),
        panels,
        cols: 3,
        panel_size: (520, 400),
    };
    // Figure 2: convexity changes and reg per run.
    let mut panels = Vec::new();
    for &h in &s.hidden_layers {
        let per_run = |m: &str, f: &dyn Fn(&DeepRun) -> f64, k: usize, labelled: bool| {
            let pts = runs_of(r, h, m)
                .iter()
                .map(|x| (x.seed as f64 + 0.12 * (k as f64 - 1.0), f(x)))
                .collect();
            Series::new(labelled.then(|| label(m)), pts, color(k), Style::Points)
        };
        let mut cc: Vec<Series> = METHODS
            .iter()
            .enumerate()
            .map(|(k, m)| per_run(m, &|x| x.shape.convexity_changes as f64, k, true))
            .collect();
        // The dashed line runs on to the right of the last seed, leaving room for the
        // legend there, so that it hides no run.
        cc.push(Series::new(
            Some("data minimum"),
            vec![(0.7, min), (1.45 * s.seeds as f64 + 0.3, min)],
            plotters::style::BLACK,
            Style::Dashed,
        ));
        panels.push(Panel {
            title: format!("depth {}: convexity changes on (x_1, x_n)", h + 1),
            x_label: "seed".into(),
            y_label: "convexity changes".into(),
            series: cc,
            legend: Legend::UpperRight,
            ..Panel::default()
        });
        panels.push(Panel {
            title: format!("depth {}: reg at the end", h + 1),
            x_label: "seed".into(),
            y_label: "reg".into(),
            y_log: true,
            series: METHODS
                .iter()
                .enumerate()
                .map(|(k, m)| per_run(m, &|x| x.reg, k, false))
                .collect(),
            legend: Legend::UpperRight,
            ..Panel::default()
        });
    }
    let scatter = Figure {
        name: "deep-convexity".into(),
        title: "Deep networks: convexity changes and reg per run".into(),
        panels,
        cols: 2,
        panel_size: (560, 400),
    };

    let intro = vec![format!(
        "The paper proves Theorem 1 for one hidden ReLU layer and conjectures (section 1.1) that \
         it extends to deeper networks: stable zero-error points of SGD with label noise have the \
         fewest changes of convexity the data need. Here: 1-D ReLU networks 1 -> {w} -> ... -> {w} \
         -> 1 with {depths} hidden layers (depth {depths1}), biases, output bias and skip unit, on the \
         built-in `fig1` data (at least {min} convexity changes). Initialisation: PyTorch's \
         U(+-1/sqrt(fan_in)), output weights multiplied by {os}. Per depth, {seeds} seeds, each \
         giving three end points from the same initialisation and SGD draws: plain SGD \
         ({ps} steps), SGD with Rademacher label noise (eta = {lr}, sigma = {sigma}, so \
         eta^2 sigma^2 = {rate:.1e} and the slow-phase time scale is {unit:.0e} steps; {ns} steps = \
         {units:.0} time scales), and `settle` from the plain fit (at most {si} iterations). Every \
         SGD end point is projected onto the zero-loss manifold (Gauss-Newton, at most 50 steps) \
         before it is measured. Kinks, pieces, convexity changes and curve lengths are exact: they \
         come from walking the activation regions of the network along x (`labelnoise_core::piecewise`), \
         not from sampling; slope jumps below {jt:.0e} of the largest inside (x_1, x_n) are ignored.",
        w = s.width,
        depths = s
            .hidden_layers
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        depths1 = s
            .hidden_layers
            .iter()
            .map(|h| (h + 1).to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        min = r.min_convexity_changes,
        os = s.output_scale,
        seeds = s.seeds,
        ps = s.plain_steps,
        lr = s.lr,
        sigma = s.noise,
        rate = s.drift_rate(),
        unit = 1.0 / s.drift_rate(),
        ns = s.noise_steps,
        units = s.noise_steps as f64 * s.drift_rate(),
        si = s.settle_max_iter,
        jt = s.jump_threshold,
    )];

    let mut notes = Vec::new();
    for &h in &s.hidden_layers {
        let mut parts = Vec::new();
        for m in METHODS {
            let Some(a) = find_arm(&r.arms, h, m) else {
                continue;
            };
            let v = &a.verdicts;
            let mut t = format!(
                "{}: at the minimum {:.0}% of runs, Theorem 1 fully {:.0}%, convexity changes {:?} \
                 ({:?} counting only bends of at least {} of the largest: at the minimum {:.0}%), \
                 significant kinks inside {:?}, median reg {:.3}, median curve length {:.3}; \
                 verdicts {} repellent, {} non-repellent, {} not interpolating ({} with a live kink \
                 on a data point)",
                label(m),
                100.0 * a.fraction_min_convexity,
                100.0 * a.fraction_theorem1,
                a.convexity_changes,
                a.convexity_changes_coarse,
                labelnoise_core::experiments::deep::COARSE_THRESHOLD,
                100.0 * a.fraction_min_convexity_coarse,
                a.kinks_inside,
                a.median_reg,
                a.median_curve_length,
                v.repellent,
                v.non_repellent,
                v.not_interpolating,
                v.nonsmooth
            );
            if !a.outcomes.is_empty() {
                t.push_str(&format!(
                    "; settle outcomes: {}",
                    a.outcomes
                        .iter()
                        .map(|(o, k)| format!("{k} x {o}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            parts.push(t);
        }
        notes.push(format!(
            "Depth {} ({h} hidden layers). {}.",
            h + 1,
            parts.join(". ")
        ));
    }
    let breakpoints: usize = r.runs.iter().map(|x| x.breakpoints).sum();
    let kinks: usize = r.runs.iter().map(|x| x.kinks).sum();
    notes.push(format!(
        "The region walk found {breakpoints} breakpoints on the real line over the {} measured \
         networks, {kinks} of them kinks (the rest are points where a unit switches without the \
         slope changing, e.g. a unit whose downstream weights are zero or that is identically \
         zero on one side).",
        r.runs.len()
    ));
    let passed = |name: &str| r.claims.iter().any(|c| c.name == name && c.pass);
    let non_repellent: usize = r
        .arms
        .iter()
        .filter(|a| a.method == "label-noise")
        .map(|a| a.verdicts.non_repellent)
        .sum();
    notes.push(format!(
        "Reading: label noise {} reg at every depth (Lemma 6 predicts descent on reg for any \
         network); {} at every depth the label-noise runs have the minimum number of convexity \
         changes in at least half the runs, and they {} have fewer convexity changes on average \
         than plain SGD at every depth. {} label-noise runs end certified non-repellent, so {}. This is a finite-time, \
         finite-width measurement of an open conjecture.",
        if passed("noise-lowers-reg") {
            "lowers"
        } else {
            "does not lower"
        },
        if passed("min-convexity-changes") {
            "yes:"
        } else {
            "no: it is not true that"
        },
        if passed("noise-fewer-convexity-changes") {
            "do"
        } else {
            "do not"
        },
        non_repellent,
        if non_repellent == 0 {
            "the conjecture's hypothesis (a stable point) is not reached and the measurement \
             neither proves nor refutes it"
        } else {
            "the fractions above for those runs bear on the conjecture directly"
        }
    ));
    Ok(Section {
        name: "deep".into(),
        title: "Deeper networks: the section 1.1 conjecture".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![
            figure(
                functions,
                "Rows: depth; columns: plain SGD, label noise, settle from the plain fit. Every \
                 seed's final function (projected onto the zero-loss manifold for the SGD runs); \
                 black dots: the data. Panel titles list each run's convexity changes."
                    .into(),
                dir,
            )?,
            figure(
                scatter,
                "Per seed and method: convexity changes on (x_1, x_n) (dashed: the data's \
                 minimum) and reg at the end (log scale; colours as in the left panels)."
                    .into(),
                dir,
            )?,
        ],
        notes,
    })
}
