//! `labelnoise reproduce NAME --out DIR [--quick]`: runs an experiment of
//! `labelnoise_core::experiments`, draws its figures (PNG and SVG), and writes
//! `summary.json` (every claim with a boolean `pass`), `report.md` and `report.html`.
//! Exits with status 1 when a claim fails, naming the failing claims.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use clap::Args;
use labelnoise_core::experiments::{
    self, explicit::Explicit, fig1::Fig1, fig2::Fig2, fig2::Trajectory, lemma5::Lemma5,
    lemma6::Lemma6, one_layer::OneLayer, theorem1::Theorem1, theorem3::Theorem3, Options, Outcome,
};
use serde_json::json;

use crate::plot::{color, render, Figure, Legend, Panel, Series, Style};
use crate::report::{html, markdown, RenderedFigure, Section};
use crate::rundir::{check_output_dir, write_atomic};
use crate::UsageError;

/// Experiments of SPEC §3 that are not implemented yet.
const PLANNED: &[&str] = &["generalization", "deep"];

/// `labelnoise reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The experiment: fig1, fig2, one-layer, theorem1, theorem3, lemma5, lemma6, explicit,
    /// or all.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: String,
    /// A smaller version that still tests every claim.
    #[arg(long)]
    pub quick: bool,
    /// Overwrite a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Testing aid: multiply every step count by this (the claims are then not expected
    /// to hold; 1 runs the documented experiment).
    #[arg(long, value_name = "S", default_value_t = 1.0, hide = true)]
    pub steps_scale: f64,
}

/// Runs `reproduce`.
pub fn run(args: &ReproduceArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let names: Vec<&str> = match args.name.as_str() {
        "all" => experiments::ALL.to_vec(),
        n if experiments::NAMES.contains(&n) => vec![n],
        n if PLANNED.contains(&n) => {
            return Err(UsageError(format!(
                "NAME: experiment {n:?} is not implemented yet; available: {}, all",
                experiments::NAMES.join(", ")
            ))
            .into())
        }
        n => {
            return Err(UsageError(format!(
                "NAME: unknown experiment {n:?}; available: {}, all",
                experiments::NAMES.join(", ")
            ))
            .into())
        }
    };
    let opts = Options {
        quick: args.quick,
        steps_scale: args.steps_scale,
    };
    opts.check()?;
    let dir = Path::new(&args.out);
    check_output_dir(dir, args.force)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", dir.display()))?;

    let start = Instant::now();
    let mut sections = Vec::new();
    let mut results = Vec::new();
    for name in &names {
        let t = Instant::now();
        let spinner = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(format!(
                "{name}: running{}",
                if opts.quick { " (quick)" } else { "" }
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let outcome = experiments::run(name, &opts);
        spinner.finish_and_clear();
        let outcome = outcome?;
        let wall = t.elapsed().as_secs_f64();
        let section = section(&outcome, wall, dir)?;
        for c in &section.claims {
            writeln!(
                out,
                "{name}: {} {}",
                if c.pass { "PASS" } else { "FAIL" },
                c.name
            )?;
        }
        results.push(json!({
            "experiment": name,
            "pass": section.pass(),
            "wall_seconds": wall,
            "claims": section.claims,
            "results": outcome,
        }));
        sections.push(section);
    }
    let total = start.elapsed().as_secs_f64();
    let pass = sections.iter().all(Section::pass);
    let summary = json!({
        "name": args.name,
        "version": env!("CARGO_PKG_VERSION"),
        "quick": args.quick,
        "steps_scale": args.steps_scale,
        "pass": pass,
        "wall_seconds": total,
        "claims": sections.iter().flat_map(|s| s.claims.iter().map(move |c| json!({
            "experiment": s.name, "name": c.name, "expectation": c.expectation,
            "measured": c.measured, "pass": c.pass}))).collect::<Vec<_>>(),
        "experiments": results,
    });
    let mut text = serde_json::to_string_pretty(&summary)?;
    text.push('\n');
    write_atomic(&dir.join("summary.json"), text.as_bytes())?;
    let title = format!(
        "labelnoise reproduce {}{}",
        args.name,
        if args.quick { " --quick" } else { "" }
    );
    let header = header(args, total);
    write_atomic(
        &dir.join("report.md"),
        markdown(&title, &header, &sections).as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.html"),
        html(&title, &header, &sections).as_bytes(),
    )?;
    writeln!(
        out,
        "{}: {} in {total:.1} s; wrote {}",
        args.name,
        if pass { "all claims pass" } else { "FAILED" },
        dir.join("report.html").display()
    )?;
    if !pass {
        let failed: Vec<String> = sections
            .iter()
            .flat_map(|s| {
                s.claims
                    .iter()
                    .filter(|c| !c.pass)
                    .map(move |c| format!("{}/{}", s.name, c.name))
            })
            .collect();
        anyhow::bail!(
            "{} claim(s) failed: {} (see {})",
            failed.len(),
            failed.join(", "),
            dir.join("report.md").display()
        );
    }
    Ok(())
}

fn header(args: &ReproduceArgs, total: f64) -> Vec<String> {
    let mut h = vec![format!(
        "Blanc, Gupta, Valiant, Valiant, \"Implicit regularization for deep neural networks driven \
         by an Ornstein-Uhlenbeck like process\", reproduced by labelnoise {} (`labelnoise reproduce {}{}`). \
         Total wall time {total:.1} s. Every number below is in `summary.json`; every run is \
         reproducible from its seed.",
        env!("CARGO_PKG_VERSION"),
        args.name,
        if args.quick { " --quick" } else { "" }
    )];
    if args.steps_scale != 1.0 {
        h.push(format!(
            "Step counts were multiplied by {} (a testing aid): these are not the documented runs.",
            args.steps_scale
        ));
    }
    h
}

/// Setup paragraph shared by the 1-D experiments.
fn setup_text(s: &labelnoise_core::experiments::common::Setup) -> String {
    format!(
        "Network: 1 -> {} ReLU -> 1 with output bias and skip unit (the Theorem 1 network), on the \
         built-in `fig1` data (12 points, four co-linear runs, at least 2 convexity changes). \
         Initialisation: PyTorch's U(+-1/sqrt(fan_in)) for every layer, then the output weights \
         multiplied by {}, so c_i ~ U(-3, 3): large output weights make the initial function wiggly \
         (~35 convexity changes), plain SGD fits the points while keeping those wiggles, and the \
         contrast the paper shows is visible (with the default scale the plain fits are already \
         nearly piecewise linear). SGD: eta = {}, label noise +-sigma (Rademacher) with sigma = {}, \
         so eta^2 sigma^2 = {:.2e}. Step counts from the theory: the fit phase takes ~100/eta = {:.0e} \
         steps and plain runs get {} steps; the slow phase runs at rate eta^2 sigma^2 (Lemma 6), time \
         scale 1/(eta^2 sigma^2) = {:.0e} steps, and label-noise runs get {} steps ({:.0} x that). \
         Kinks and convexity changes ignore slope jumps below {:.0e} of the largest jump inside \
         (x_1, x_n). Every final network is projected back onto the zero-loss manifold by \
         Gauss-Newton steps (minimum-norm, at most 50) before it is measured: this removes the \
         O(sqrt(eta sigma^2)) label-noise jitter without moving along the manifold (to first order).",
        s.width,
        s.output_scale,
        s.lr,
        s.noise,
        s.drift_rate(),
        100.0 / s.lr,
        s.plain_steps,
        1.0 / s.drift_rate(),
        s.noise_steps,
        s.noise_steps as f64 * s.drift_rate(),
        s.jump_threshold
    )
}

fn data_series(data: &[(f64, f64)]) -> Series {
    Series::new(
        Some("data"),
        data.to_vec(),
        plotters::style::BLACK,
        Style::Points,
    )
}

fn fig1_data_points() -> Vec<(f64, f64)> {
    let d = labelnoise_core::builtin::dataset("fig1").expect("built in");
    (0..d.len()).map(|i| (d.x(i)[0], d.y(i))).collect()
}

fn figure(f: Figure, caption: String, dir: &Path) -> anyhow::Result<RenderedFigure> {
    let (png, _svg) = render(&f, dir)?;
    Ok(RenderedFigure {
        name: f.name,
        caption,
        png,
    })
}

fn section(outcome: &Outcome, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    match outcome {
        Outcome::Fig1(r) => fig1_section(r, wall, dir),
        Outcome::Fig2(r) => fig2_section(r, wall, dir),
        Outcome::OneLayer(r) => one_layer_section(r, wall, dir),
        Outcome::Theorem1(r) => theorem1_section(r, wall, dir),
        Outcome::Theorem3(r) => theorem3_section(r, wall, dir),
        Outcome::Lemma5(r) => lemma5_section(r, wall, dir),
        Outcome::Lemma6(r) => lemma6_section(r, wall, dir),
        Outcome::Explicit(r) => explicit_section(r, wall, dir),
    }
}

fn fig1_section(r: &Fig1, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let panel = |title: &str, runs: &[labelnoise_core::experiments::fig1::FinalRun]| {
        let mut series: Vec<Series> = runs
            .iter()
            .enumerate()
            .map(|(k, run)| {
                Series::new(
                    None,
                    r.grid
                        .iter()
                        .copied()
                        .zip(run.samples.iter().copied())
                        .collect(),
                    color(k),
                    Style::Line,
                )
            })
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

/// (step, value) pairs of a trajectory, steps ≥ 1 (log axes).
fn curve(t: &Trajectory, f: impl Fn(&experiments::fig2::Snapshot) -> f64) -> Vec<(f64, f64)> {
    t.snapshots
        .iter()
        .filter(|s| s.step >= 1)
        .map(|s| (s.step as f64, f(s)))
        .collect()
}

fn hline(t: &Trajectory, y: f64) -> Vec<(f64, f64)> {
    let last = t.snapshots.last().map_or(1, |s| s.step.max(1)) as f64;
    vec![(1.0, y), (last, y)]
}

fn fig2_section(r: &Fig2, wall: f64, dir: &Path) -> anyhow::Result<Section> {
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

fn one_layer_section(r: &OneLayer, wall: f64, dir: &Path) -> anyhow::Result<Section> {
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

fn theorem1_section(r: &Theorem1, wall: f64, dir: &Path) -> anyhow::Result<Section> {
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

fn theorem3_section(r: &Theorem3, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    use experiments::theorem3::Run;
    let s = &r.setup;
    let scatter = |title: &str, noise: &[Run], plain: &[Run], legend: Legend| {
        let (Some(n), Some(p)) = (noise.first(), plain.first()) else {
            return Panel::default();
        };
        let pts = |c: &[f64], h: &[f64]| c.iter().copied().zip(h.iter().copied()).collect();
        Panel {
            title: format!("{title} (seed {})", n.seed),
            x_label: "output weight c_i".into(),
            y_label: "activation h_i on x".into(),
            series: vec![
                Series::new(
                    Some("start"),
                    pts(&n.c_start, &n.h_start),
                    color(7),
                    Style::Points,
                ),
                Series::new(
                    Some(&format!("plain SGD, step {}", p.steps)),
                    pts(&p.c_end, &p.h_end),
                    color(1),
                    Style::Points,
                ),
                Series::new(
                    Some(&format!("label noise, step {}", n.steps)),
                    pts(&n.c_end, &n.h_end),
                    color(0),
                    Style::Points,
                ),
            ],
            legend,
            ..Panel::default()
        }
    };
    let classes = |title: &str, noise: &[Run], plain: &[Run]| {
        let mut series = Vec::new();
        for (k, run) in noise.iter().chain(plain).enumerate() {
            let is_noise = run.noise > 0.0;
            let first = k == 0 || (!is_noise && k == noise.len());
            series.push(Series::new(
                first.then_some(if is_noise { "label noise" } else { "plain SGD" }),
                run.history
                    .iter()
                    .filter(|u| u.step >= 1)
                    .map(|u| (u.step as f64, u.classes as f64))
                    .collect(),
                if is_noise { color(0) } else { color(1) },
                Style::Line,
            ));
        }
        let last = noise
            .iter()
            .chain(plain)
            .map(|x| x.steps)
            .max()
            .unwrap_or(1) as f64;
        series.push(Series::new(
            Some("Theorem 3 bound: 2"),
            vec![(1.0, 2.0), (last, 2.0)],
            color(2),
            Style::Dashed,
        ));
        Panel {
            title: format!("{title}: live classes (tolerance {})", s.tol),
            x_label: "iteration".into(),
            y_label: "live unit classes".into(),
            x_log: true,
            series,
            legend: Legend::LowerLeft,
            ..Panel::default()
        }
    };
    let fig = Figure {
        name: "theorem3".into(),
        title: "Theorem 3: hidden units (c_i, h_i) of 2-layer tanh and logistic nets on one point"
            .into(),
        panels: vec![
            scatter("tanh", &r.tanh_noise, &r.tanh_plain, Legend::LowerRight),
            scatter(
                "logistic",
                &r.logistic_noise,
                &r.logistic_plain,
                Legend::UpperRight,
            ),
            classes("tanh", &r.tanh_noise, &r.tanh_plain),
            classes("logistic", &r.logistic_noise, &r.logistic_plain),
        ],
        cols: 2,
        panel_size: (620, 460),
    };
    let describe = |rs: &[Run]| {
        rs.iter()
            .map(|x| {
                let l = x.last();
                format!(
                    "seed {}: {} classes, {} dead, loss {:.1e} ({:.1e} after {} noise-free steps), \
                     Theorem 3 {} (from step {}), mean gap to the non-repellent relation {:.3} -> {:.3}{}, \
                     {:.2} s",
                    x.seed,
                    l.classes,
                    l.dead,
                    l.loss,
                    x.settled.loss,
                    experiments::theorem3::SETTLE_STEPS,
                    if l.theorem3 { "holds" } else { "fails" },
                    x.theorem3_from
                        .map_or("-".to_string(), |t| t.to_string()),
                    x.history[0].stationary_gap,
                    l.stationary_gap,
                    if l.classes <= 2 {
                        format!(
                            ", classes (c, h, size) {} with spreads (c, h) {}",
                            x.classes_end
                                .iter()
                                .map(|(c, h, m)| format!("({c:.3}, {h:.4}, {m})"))
                                .collect::<Vec<_>>()
                                .join(" "),
                            x.class_spread
                                .iter()
                                .map(|(c, h)| format!("({c:.2e}, {h:.2e})"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    } else {
                        String::new()
                    },
                    x.wall_seconds
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let intro = vec![format!(
        "Network: f(x) = sum_i c_i act(w_i . x) with {} hidden units, no biases (as in the paper's \
         Appendix B), d = {}, trained on the single point x = {:?}, y = {} (|x| = {:.3}). \
         Initialisation: PyTorch's U(+-1/sqrt(fan_in)). SGD: eta = {}, label noise +-sigma \
         (Rademacher) with sigma = {} (eta^2 sigma^2 = {:.0e}: the slow phase has time scale \
         1/(eta^2 sigma^2) = {:.0e} steps); plain SGD (sigma = 0) from the same initialisations for \
         contrast. tanh runs: {} steps; logistic runs: {} steps (the logistic drift toward eq. 18 is \
         far slower), {} seeds each. Units are grouped by `units::unit_report` with tolerance {}: \
         h within {} and c within {} x max(1, max |c|); dead = c and h both within tolerance of 0. \
         Units of one class get identical gradients, so the label-noise jitter does not split \
         classes. Classes are single-linkage components, so the members of one class can spread \
         further than the tolerance (the spread is reported). The time to reach at most two classes \
         is the first recorded step (80 log-spaced records) from which the verdict holds to the end. \
         The fit is checked after 5000 further noise-free steps, which remove the label-noise \
         jitter (units of one class get identical gradients and dead units none, so the classes \
         are unchanged).",
        s.width,
        s.x.len(),
        s.x,
        s.y,
        s.x_norm(),
        s.lr,
        s.noise,
        s.lr * s.lr * s.noise * s.noise,
        1.0 / (s.lr * s.lr * s.noise * s.noise),
        s.tanh_steps,
        s.logistic_steps,
        s.seeds,
        s.tol,
        s.tol,
        s.tol
    )];
    let xn = s.x_norm();
    let eq18 = r
        .logistic_noise
        .iter()
        .flat_map(|x| x.classes_end.iter().map(move |k| (x.seed, k)))
        .map(|(seed, &(c, h, m))| {
            let o = c * h;
            let hs = labelnoise_core::units::logistic_stationary_h(o, xn);
            format!(
                "seed {seed}: {m} units at (c, h) = ({c:.3}, {h:.4}), o = c h = {o:.4}, where eq. 18 \
                 wants h = {hs:.4} and c = o / h = {:.2}",
                o / hs
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let notes = vec![
        format!("tanh, label noise: {}.", describe(&r.tanh_noise)),
        format!("tanh, plain SGD: {}.", describe(&r.tanh_plain)),
        format!("logistic, label noise: {}.", describe(&r.logistic_noise)),
        format!("logistic, plain SGD: {}.", describe(&r.logistic_plain)),
        format!(
            "Logistic: with label noise all the units merge into one or two classes that share the \
             output y about equally (for the logistic regularizer R_o(o) = o^2|x|^2/(1 + o^2|x|^2), \
             which is quadratic near 0, spreading the output over all units costs least), but within \
             the budget they have not reached the non-repellent relation of eq. 18, which for so \
             small an o requires tiny activations and large output weights: {eq18}. The drift \
             continues along that direction (the mean gap falls throughout the run) but slows as the \
             activations shrink. So the two-class statement holds here while the units are still \
             moving: at most two classes is necessary for a non-repellent point, not sufficient."
        ),
        "tanh: the live units collapse to a single class carrying the whole output and the other \
         units die (c = h = 0), as R_o for tanh grows like |o| near 0 (concave), so concentrating \
         the output costs least; the surviving class also sits on the non-repellent relation of \
         eq. 20 (h^2 = sqrt(o^2|x|^2/(1 + o^2|x|^2))) to within the mean gap |h^2 - h*^2| reported \
         above."
            .to_string(),
    ];
    Ok(Section {
        name: "theorem3".into(),
        title: "Theorem 3: tanh and logistic networks on one point".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "Top: (c_i, h_i) of every hidden unit at the start (grey) and at the end of plain SGD \
             (orange) and of label-noise SGD (blue), first seed; units of one class sit on one point. \
             Bottom: the number of live classes against iteration for every seed (dashed: Theorem 3's \
             bound of two)."
                .into(),
            dir,
        )?],
        notes,
    })
}

fn lemma5_section(r: &Lemma5, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let k = r.gamma.len();
    let main = &r.sweep[0];
    let mut by_sigma: Vec<Series> = r
        .sweep
        .iter()
        .enumerate()
        .map(|(m, a)| {
            Series::new(
                Some(&format!("sigma = {}", a.noise)),
                r.gamma
                    .iter()
                    .copied()
                    .zip(a.ratio.iter().copied())
                    .collect(),
                color(m),
                Style::Points,
            )
        })
        .collect();
    by_sigma.push(Series::new(
        Some("1 (Lemma 5)"),
        vec![(r.gamma[k - 1] * 0.8, 1.0), (r.gamma[0] * 1.25, 1.0)],
        color(7),
        Style::Dashed,
    ));
    let fig = Figure {
        name: "lemma5".into(),
        title: format!(
            "Lemma 5: time-averaged theta_k^2 in the {k} gamma > 0 directions at {}",
            r.model
        ),
        panels: vec![
            Panel {
                title: "measured / (eta sigma^2) against gamma_k, by sigma".into(),
                x_label: "gamma_k (eigenvalue of (1/n) J^T J)".into(),
                y_label: "time avg theta_k^2 / (eta sigma^2)".into(),
                x_log: true,
                y_log: true,
                series: by_sigma,
                legend: Legend::UpperRight,
            },
            Panel {
                title: format!("sigma = {}: measured / predicted per direction", main.noise),
                x_label: "direction k (gamma descending)".into(),
                y_label: "time average of theta_k^2 / (eta sigma^2)".into(),
                series: vec![
                    Series::new(
                        Some("measured / predicted"),
                        main.ratio
                            .iter()
                            .enumerate()
                            .map(|(j, v)| ((j + 1) as f64, *v))
                            .collect(),
                        color(0),
                        Style::Points,
                    ),
                    Series::new(
                        Some("1 (Lemma 5)"),
                        vec![(0.5, 1.0), (k as f64 + 0.5, 1.0)],
                        color(3),
                        Style::Dashed,
                    ),
                    Series::new(
                        Some("pass band +-15%"),
                        vec![(0.5, 1.15), (k as f64 + 0.5, 1.15)],
                        color(7),
                        Style::Dashed,
                    ),
                    Series::new(
                        None,
                        vec![(0.5, 0.85), (k as f64 + 0.5, 0.85)],
                        color(7),
                        Style::Dashed,
                    ),
                ],
                legend: Legend::UpperRight,
                ..Panel::default()
            },
            Panel {
                title: format!("sigma = {}: cross terms, j < k", main.noise),
                x_label: "pair (j, k), in order".into(),
                y_label: "time avg theta_j theta_k / (eta sigma^2)".into(),
                series: vec![
                    Series::new(
                        Some("measured"),
                        main.cross
                            .iter()
                            .enumerate()
                            .map(|(m, c)| ((m + 1) as f64, c.2))
                            .collect(),
                        color(0),
                        Style::Points,
                    ),
                    Series::new(
                        Some("0 (Lemma 5)"),
                        vec![(0.5, 0.0), (main.cross.len() as f64 + 0.5, 0.0)],
                        color(3),
                        Style::Dashed,
                    ),
                    Series::new(
                        Some("pass band +-0.15"),
                        vec![(0.5, 0.15), (main.cross.len() as f64 + 0.5, 0.15)],
                        color(7),
                        Style::Dashed,
                    ),
                    Series::new(
                        None,
                        vec![(0.5, -0.15), (main.cross.len() as f64 + 0.5, -0.15)],
                        color(7),
                        Style::Dashed,
                    ),
                ],
                legend: Legend::UpperRight,
                ..Panel::default()
            },
        ],
        cols: 3,
        panel_size: (520, 440),
    };
    let intro = vec![format!(
        "theta* = built-in `{}` on `fig1` (zero error, non-repellent: ||g_N|| = {:.1e}, so the \
         zero-error manifold does not drift, Lemma 6). gamma_k: the {k} nonzero eigenvalues of \
         (1/n) J^T J at theta*, from {:.3} down to {:.2e}; the eigenbasis comes from a thin SVD of \
         J^T. SGD with label noise, eta = {}, {} seeds per sigma, each from theta*: {} burn-in steps \
         (2/(eta gamma_min)) and then the time average over {} steps (= {:.0}/(eta gamma_min)), \
         sampled every {} steps. The update is theta <- theta - eta 2 e grad h with the loss \
         sum (h - y)^2 without 1/2 (the paper's eq. 3), so to first order the stationary covariance \
         solves A S + S A = 2 eta sigma^2 A, A = (1/n) J^T J, i.e. S = eta sigma^2 on the range of \
         A: the prediction is eta Var[e] = eta sigma^2 in every direction, exactly the paper's \
         constant. The next order in eta is a relative correction of about \
         eta max_i ||grad h_i||^2 = {:.3}. The claims are tested at sigma = {} (so that \
         |theta| ~ sqrt(eta) sigma is small against the slow directions, the lemma's eta -> 0 \
         regime); larger sigma are reported to show where the linear picture stops holding.",
        r.model,
        r.null_reg_grad_norm,
        r.gamma[0],
        r.gamma[k - 1],
        r.lr,
        r.seeds.len(),
        r.burn_in,
        r.steps,
        r.steps as f64 * r.lr * r.gamma[k - 1],
        r.sample_every,
        r.discretization_scale,
        main.noise
    )];
    let mut notes: Vec<String> = r
        .sweep
        .iter()
        .map(|a| {
            format!(
                "sigma = {} (eta sigma^2 = {:.2e}): measured / predicted per direction (gamma \
                 descending) {}; largest |cross term| / (eta sigma^2) {:.3} over {} pairs; mean \
                 ||P_N(theta_end - theta*)|| {:.2e}.",
                a.noise,
                a.predicted,
                a.ratio
                    .iter()
                    .zip(&a.ratio_stderr)
                    .map(|(v, e)| format!("{v:.3} +- {e:.3}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                a.max_abs_cross,
                a.cross.len(),
                a.null_displacement
            )
        })
        .collect();
    notes.push(
        "With larger sigma the fast directions still match eta sigma^2 but the slowest ones \
         (smallest gamma) carry more variance than predicted: their restoring force 2 eta gamma_k \
         theta_k is weak, so the higher-order terms of the update (of size eta |theta|^2 times \
         derivatives of h) compete with it once sqrt(eta) sigma is not small against gamma_min. \
         Lemma 5 is an eta -> 0 statement (|theta| <= eta^(0.5 - beta)); at fixed eta the excess \
         shrinks roughly as sigma^2."
            .to_string(),
    );
    Ok(Section {
        name: "lemma5".into(),
        title: "Lemma 5: the Ornstein-Uhlenbeck variance eta sigma^2".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "Left: the time average of theta_k^2 in each gamma > 0 eigendirection (log-log) against \
             the prediction eta sigma^2, which does not depend on gamma. Middle: their ratio, with \
             the +-15% pass band. Right: the normalized cross terms."
                .into(),
            dir,
        )?],
        notes,
    })
}

fn lemma6_section(r: &Lemma6, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    let mut comp = Vec::new();
    let mut lo = 0.0f64;
    let mut hi = 0.0f64;
    for (k, rate) in r.rates.iter().enumerate() {
        let pts: Vec<(f64, f64)> = rate
            .predicted
            .iter()
            .copied()
            .zip(rate.measured.iter().copied())
            .filter(|(p, _)| p.abs() > 0.0)
            .collect();
        for &(p, m) in &pts {
            lo = lo.min(p.min(m));
            hi = hi.max(p.max(m));
        }
        comp.push(Series::new(
            Some(&format!("eta = {}, T = {}", rate.lr, rate.steps)),
            pts,
            color(k),
            Style::Points,
        ));
    }
    comp.push(Series::new(
        Some("measured = predicted"),
        vec![(lo, lo), (hi, hi)],
        color(7),
        Style::Dashed,
    ));
    let etas: Vec<f64> = r.rates.iter().map(|x| x.lr).collect();
    let (e0, e1) = (
        etas.first().copied().unwrap_or(1e-3) / 1.3,
        etas.last().copied().unwrap_or(1e-3) * 1.3,
    );
    let pred_line: Vec<(f64, f64)> = (0..=20)
        .map(|i| {
            let e = e0 * (e1 / e0).powf(i as f64 / 20.0);
            (e, e * e * r.noise * r.noise * r.null_reg_grad_norm)
        })
        .collect();
    let fig = Figure {
        name: "lemma6".into(),
        title: format!(
            "Lemma 6: null-space drift from {} (mean of {} seeds per eta)",
            r.model, r.seeds
        ),
        panels: vec![
            Panel {
                title: "components of P_N(theta(T) - theta(0))".into(),
                x_label: "predicted: -T eta^2 sigma^2 (g_N)_j".into(),
                y_label: "measured (mean over seeds)".into(),
                series: comp,
                legend: Legend::LowerRight,
                ..Panel::default()
            },
            Panel {
                title: "norm ratio measured / predicted against eta".into(),
                x_label: "eta".into(),
                y_label: "||measured|| / ||predicted||".into(),
                series: vec![
                    Series::new(
                        Some("measured"),
                        r.rates.iter().map(|x| (x.lr, x.norm_ratio)).collect(),
                        color(0),
                        Style::Points,
                    ),
                    Series::new(
                        Some(&format!("quadratic fit, {:.3} at eta = 0", r.ratio_fit.0)),
                        (0..=40)
                            .map(|i| {
                                let e = e1 * i as f64 / 40.0;
                                (e, r.ratio_fit.0 + r.ratio_fit.1 * e + r.ratio_fit.2 * e * e)
                            })
                            .collect(),
                        color(0),
                        Style::Thin,
                    ),
                    Series::new(
                        Some("1 (Lemma 6)"),
                        vec![(0.0, 1.0), (e1, 1.0)],
                        color(3),
                        Style::Dashed,
                    ),
                ],
                legend: Legend::UpperLeft,
                ..Panel::default()
            },
            Panel {
                title: "drift per step against eta".into(),
                x_label: "eta".into(),
                y_label: "||mean P_N(theta(T) - theta(0))|| / T".into(),
                x_log: true,
                y_log: true,
                series: vec![
                    Series::new(
                        Some(&format!("measured (slope {:.2})", r.slope)),
                        r.rates.iter().map(|x| (x.lr, x.drift_per_step)).collect(),
                        color(0),
                        Style::Points,
                    ),
                    Series::new(
                        Some("eta^2 sigma^2 ||g_N|| (slope 2)"),
                        pred_line,
                        color(3),
                        Style::Dashed,
                    ),
                ],
                legend: Legend::LowerRight,
            },
        ],
        cols: 3,
        panel_size: (540, 460),
    };
    let gmin = r.gamma.last().copied().unwrap_or(f64::NAN);
    let intro = vec![format!(
        "theta* = built-in `{}` on `fig1` (zero error, repellent: ||g_N|| = {:.3}, g_N = P_N grad reg \
         with P_N the projector onto the null space of J at theta*). The paper's Lemma 6 writes the \
         drift of a null direction j as -2 T eta^2 Var[e] sum_(k: gamma_k > 0) E_i[h_i^(j,k) h_i^k]; \
         since reg = (1/n) sum_i ||grad h_i||^2 has grad_j reg = (2/n) sum_i sum_k h_i^(j,k) h_i^k \
         (and h_i^k = 0 for gamma_k = 0), that is -T eta^2 sigma^2 (g_N)_j under this crate's update \
         theta <- theta - eta 2 e grad h (the paper's eq. 3, loss without 1/2): the constant tested \
         here is exactly -T eta^2 sigma^2 g_N. Runs: sigma = {} (Rademacher), {} seeds per eta, each \
         from theta* for T = {:.0}/(eta gamma_min) steps (gamma_min = {:.2e}): long against the \
         slowest Ornstein-Uhlenbeck relaxation 1/(4 eta gamma_min) (the warm-up, when \
         E[theta_k^2] < eta sigma^2, costs at most 1/(4 x {:.0}) of the drift), with sigma small \
         enough that the whole drift stays short against the scale on which g_N changes. T eta is \
         the same for every eta, so the drift per step should scale as eta^2.",
        r.model,
        r.null_reg_grad_norm,
        r.noise,
        r.seeds,
        r.horizon,
        gmin,
        r.horizon
    )];
    let mut by_sigma: Vec<&experiments::lemma6::AtRate> =
        r.sigma_check.iter().chain(r.rates.last()).collect();
    by_sigma.sort_by(|a, b| a.noise.total_cmp(&b.noise));
    let notes = vec![r
        .rates
        .iter()
        .map(|x| {
            format!(
                "eta = {}: T = {}, ||predicted|| = {:.3e}, cosine {:.5}, norm ratio {:.4}, component \
                 along the prediction {:.4} +- {:.4}",
                x.lr,
                x.steps,
                x.predicted_per_step * x.steps as f64,
                x.cosine,
                x.norm_ratio,
                x.along_ratio,
                x.along_stderr
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
        + &format!(
            ". Slope of log(drift per step) against log(eta): {:.3}. The direction matches to a \
             cosine of 0.999 or better at every eta; the size exceeds the leading-order prediction by \
             a relative amount that grows nearly linearly in eta (least-squares quadratic {:.4} + \
             {:.1} eta + {:.0} eta^2, so the eta -> 0 limit is {:.4}): the next order of the \
             expansion, of the size of eta max_i ||grad h_i||^2, which also lifts the fitted slope a \
             little above 2. It does not shrink with sigma, so it is a discrete-time effect and not \
             g_N changing along the path (the total drift grows as sigma^2; at the largest sigma that \
             path effect shows as a small decrease): at eta = {} the norm ratio is {} for sigma = {}.",
            r.slope,
            r.ratio_fit.0,
            r.ratio_fit.1,
            r.ratio_fit.2,
            r.ratio_fit.0,
            r.rates.last().map_or(f64::NAN, |x| x.lr),
            by_sigma
                .iter()
                .map(|x| format!("{:.3}", x.norm_ratio))
                .collect::<Vec<_>>()
                .join(", "),
            by_sigma
                .iter()
                .map(|x| x.noise.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )];
    Ok(Section {
        name: "lemma6".into(),
        title: "Lemma 6: null-space drift -T eta^2 sigma^2 g_N".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "Left: every parameter component of the mean null-space displacement against the \
             prediction -T eta^2 sigma^2 g_N, one colour per eta (dashed: equality). Middle: the norm \
             ratio measured / predicted against eta with its least-squares quadratic (the prediction is \
             the leading order in eta). Right: the drift per step against eta (log-log) with the \
             prediction eta^2 sigma^2 ||g_N||."
                .into(),
            dir,
        )?],
        notes,
    })
}

fn explicit_section(r: &Explicit, wall: f64, dir: &Path) -> anyhow::Result<Section> {
    use experiments::explicit::{Point, Run};
    let series = |f: &dyn Fn(&Point) -> f64, manifold: bool| -> Vec<Series> {
        r.runs
            .iter()
            .enumerate()
            .map(|(k, run)| {
                Series::new(
                    Some(&run.name),
                    run.points
                        .iter()
                        .filter(|p| p.step >= 1)
                        .map(|p| {
                            let y = if manifold && !p.on_manifold {
                                f64::NAN
                            } else {
                                f(p)
                            };
                            (p.step as f64, y)
                        })
                        .collect(),
                    color(k),
                    Style::Line,
                )
            })
            .collect()
    };
    let last_step = r.runs.iter().map(|x| x.steps).max().unwrap_or(1) as f64;
    let mut reg_series = series(&|p| p.reg, true);
    reg_series.push(Series::new(
        Some("target (label noise at the end)"),
        vec![(1.0, r.target_reg), (last_step, r.target_reg)],
        color(7),
        Style::Dashed,
    ));
    let panel = |title: &str, y: &str, s: Vec<Series>, y_log: bool, legend: Legend| Panel {
        title: title.into(),
        x_label: "iteration".into(),
        y_label: y.into(),
        x_log: true,
        y_log,
        series: s,
        legend,
    };
    let ln = &r.runs[0];
    let fn_series: Vec<Series> = r
        .runs
        .iter()
        .enumerate()
        .map(|(k, run)| {
            Series::new(
                Some(&format!("{} (end)", run.name)),
                r.grid
                    .iter()
                    .copied()
                    .zip(
                        run.points
                            .last()
                            .map(|p| p.samples.clone())
                            .unwrap_or_default(),
                    )
                    .collect(),
                color(k),
                Style::Line,
            )
        })
        .chain(std::iter::once(data_series(&fig1_data_points())))
        .collect();
    let fig = Figure {
        name: "explicit".into(),
        title: "Explicit regularization (plain SGD + eta lambda grad reg) against label noise"
            .into(),
        panels: vec![
            panel(
                "reg (projected onto zero loss)",
                "reg",
                reg_series,
                true,
                Legend::LowerLeft,
            ),
            panel(
                "training loss (raw)",
                "loss (1/n) sum (h - y)^2",
                series(&|p| p.loss, false),
                true,
                Legend::LowerLeft,
            ),
            panel(
                "curve length (projected)",
                "curve length on [x_1, x_n]",
                series(&|p| p.curve_length, true),
                false,
                Legend::UpperRight,
            ),
            panel(
                "convexity changes (projected)",
                "convexity changes on (x_1, x_n)",
                series(&|p| p.convexity_changes as f64, true),
                false,
                Legend::UpperRight,
            ),
            Panel {
                title: "the functions at the end (projected)".into(),
                x_label: "x".into(),
                y_label: "f(x)".into(),
                series: fn_series,
                legend: Legend::LowerRight,
                ..Panel::default()
            },
        ],
        cols: 2,
        panel_size: (620, 400),
    };
    let fmt_opt = |v: Option<f64>, digits: usize| {
        v.map_or("not reached".to_string(), |x| format!("{x:.digits$}"))
    };
    let speed = |run: &Run| -> (Option<f64>, Option<f64>) {
        (
            ln.steps_to_target
                .zip(run.steps_to_target)
                .map(|(a, b)| a as f64 / b as f64),
            ln.seconds_to_target
                .zip(run.seconds_to_target)
                .filter(|&(_, b)| b > 0.0)
                .map(|(a, b)| a / b),
        )
    };
    let rows: Vec<String> = r
        .runs
        .iter()
        .map(|run| {
            let end = run.points.last();
            let (s, w) = speed(run);
            format!(
                "`{}` (sigma = {}, lambda = {:.1e}): {} steps ({:.2} s, {:.0} ns/step); target reached at \
                 step {} ({}), speed-up {} in steps and {} in wall time; at the end reg {:.4}, \
                 training loss {:.3e}, {}, curve length {:.4}, {} convexity changes, Theorem 1 {}, \
                 sup-distance to the label-noise function {:.4}.",
                run.name,
                run.noise,
                run.explicit_reg,
                run.steps,
                run.seconds,
                run.ns_per_step,
                run.steps_to_target
                    .map_or("-".to_string(), |x| x.to_string()),
                run.seconds_to_target
                    .map_or("-".to_string(), |x| format!("{x:.3} s")),
                fmt_opt(s, 2),
                fmt_opt(w, 2),
                end.map_or(f64::NAN, |p| p.reg),
                end.map_or(f64::NAN, |p| p.loss),
                if end.is_some_and(|p| p.on_manifold) {
                    "projected onto the zero-loss manifold".to_string()
                } else {
                    format!(
                        "the projection does NOT reach the zero-loss manifold (residual {:.2e}: the \
                         explicit term gave up the fit, so the numbers after this describe a \
                         function that does not interpolate)",
                        end.map_or(f64::NAN, |p| p.projected_residual)
                    )
                },
                end.map_or(f64::NAN, |p| p.curve_length),
                end.map_or(0, |p| p.convexity_changes),
                if end.is_some_and(|p| p.theorem1) {
                    "holds"
                } else {
                    "fails"
                },
                run.sup_distance_to_label_noise
            )
        })
        .collect();
    let intro = vec![
        format!(
            "Paper §1.1 (making the regularization explicit) and issue 5 part 2. Lemma 6: label-noise \
             SGD descends reg(theta) along the zero-loss manifold at rate eta^2 sigma^2 per step. Plain \
             SGD with the term eta lambda grad reg(theta) added to every step (`--explicit-reg lambda`) \
             descends it at rate eta lambda, so lambda = eta sigma^2 = {:.1e} is the theory's \
             equivalent and a larger lambda an acceleration. All runs start from the same \
             initialisation (seed {}) of a 1 -> {} ReLU -> 1 network with output bias and skip unit \
             (PyTorch's U(+-1/sqrt(fan_in)), output weights times {}) on the built-in `fig1` data; \
             eta = {}, sigma = {} (Rademacher), so eta^2 sigma^2 = {:.1e} and the slow phase's time \
             scale is 1/(eta^2 sigma^2) = {:.1e} steps. Runs: {}. An explicit run at lambda = m eta \
             sigma^2 (rate m eta^2 sigma^2, plus eta^2 sigma^2 with noise) gets the label-noise run's \
             horizon in its own time (steps divided by its rate multiple; 3 times that for the \
             accelerated runs, m > 1, so that when they reach the target is measured rather than cut \
             off), and at least 300/eta steps for the fit. reg, curve length and convexity changes are measured on the function \
             projected back onto the zero-loss manifold (Gauss-Newton, at most 50 steps).",
            r.equivalent_lambda,
            r.seed,
            r.setup.width,
            r.setup.output_scale,
            r.setup.lr,
            r.setup.noise,
            r.setup.drift_rate(),
            1.0 / r.setup.drift_rate(),
            r.runs
                .iter()
                .map(|x| format!(
                    "`{}` (sigma = {}, lambda = {:.1e}, {} steps)",
                    x.name, x.noise, x.explicit_reg, x.steps
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "The target reg is the label-noise run's final projected reg, {:.4}; a run reaches it at \
             the first measured step with projected reg at most {:.0}% above it. Steps are measured at \
             log-spaced points, so steps-to-target are upper bounds with that resolution. Wall times \
             count training only (the measurements at the snapshots are excluded); the runs train in \
             parallel, so on a busy machine the times are noisy.",
            r.target_reg,
            r.target_tolerance * 100.0
        ),
    ];
    let mut notes = rows;
    notes.push(
        "The explicit term runs the general (non-fused) kernel: n Hessian-vector products per \
         step, which is why its steps cost more than label-noise steps (see ns/step above). Without \
         noise the explicit runs do not fit noise, but they do not reach zero loss either: their \
         fixed point solves grad L + lambda grad reg = 0, so the training loss they settle at grows \
         with lambda (training-loss panel), and the projection onto the zero-loss manifold then \
         moves the function."
            .to_string(),
    );
    Ok(Section {
        name: "explicit".into(),
        title: "Explicit regularization versus label noise".into(),
        wall_seconds: wall,
        intro,
        claims: r.claims.clone(),
        figures: vec![figure(
            fig,
            "reg (projected onto zero loss, log-log; dashed: the target), raw training loss, curve \
             length and convexity changes of the projected function against iteration (log x), one \
             colour per method; last panel: the projected functions at the end with the data."
                .into(),
            dir,
        )?],
        notes,
    })
}
