//! `settle` against long label-noise SGD from the same starts (issue 5, part 1).
//!
//! [`labelnoise_core::settle`] reaches the label-noise limit without the wait: it walks along the
//! zero-loss manifold down reg. Here it is measured against what it replaces. For each
//! seed, plain SGD fits the data from the Figure 1 initialisation ([`Setup`]); from that
//! same interpolating network
//! - label-noise SGD runs for [`Setup::noise_steps`] steps (3 or 10 slow-phase time units
//!   1/(η²σ²)), and its end is projected onto the zero-loss manifold
//!   ([`project_to_manifold`]) and analysed;
//! - `settle` runs with its defaults (active set on).
//!
//! Compared per start: reg, curve length, convexity changes and Theorem 1 of both ends,
//! the sup-distance between the two functions on [x_1, x_n], the kind of end point each
//! reached (SGD: the Theorem 2 verdict and whether a live kink sits on a data point;
//! settle: its outcome) and the wall times (training and settling only; the plain fit
//! they share is not counted).
//!
//! Two data sets: the built-in `fig1`, and `v8`, eight points of y = |x| at
//! x = ±0.3, ±0.7, ±1.1, ±1.5, whose fewest-kink interpolant has one convex kink in the
//! gap (−0.3, 0.3), free to sit anywhere inside it.
//!
//! Paper claim checked: Theorem 2 and Lemma 6 (label-noise SGD descends reg along the
//! zero-loss manifold to a non-repellent point), used as a guarantee of this
//! implementation: `settle` reaches the same kind of end point, as low in reg, faster.

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::data::Dataset;
use labelnoise_core::error::Result;
use labelnoise_core::settle::SettleOptions;
use labelnoise_core::shape::ShapeOptions;
use labelnoise_core::train::CancelToken;

use crate::common::{
    data_series, fig1_data, figure, grid, median, project_to_manifold, sample, settle_or_cancelled,
    setup_text, shape_of, sup_distance, train_to_end, x_range, Setup, Shape,
};
use crate::plot::{color, Figure, Legend, Panel, Series, Style};
use crate::{Claim, Report, ValidOptions};

/// The x values of the `v8` data (y = |x|).
pub const V8_X: [f64; 8] = [-1.5, -1.1, -0.7, -0.3, 0.3, 0.7, 1.1, 1.5];

/// The `v8` data set.
pub fn v8_data() -> Dataset {
    Dataset::new(
        1,
        V8_X.to_vec(),
        V8_X.iter().map(|x| x.abs()).collect(),
        "v8",
    )
    .expect("v8 is a valid data set")
}

/// The turning points (index, y) of the `sparse12` data; y is linear in between.
const SPARSE12_TURNS: [(usize, f64); 6] =
    [(0, 0.0), (2, 0.8), (4, 0.0), (7, 0.9), (9, 0.3), (11, 0.8)];

/// The `sparse12` data set: twelve points x_k = −1.1 + 0.2k (k = 0..11) on a zigzag that
/// turns at the points k = 2, 4, 7 and 9 (peaks and valleys alternate), straight in
/// between. Every turn is at a data point shared by two runs of co-linear points, so the
/// fewest-kink interpolant bends exactly at data points: the non-smooth case of
/// `settle` (issue 16).
pub fn sparse12_data() -> Dataset {
    let xs: Vec<f64> = (0..12).map(|k| -1.1 + 0.2 * k as f64).collect();
    let ys: Vec<f64> = (0..12)
        .map(|k| {
            let seg = SPARSE12_TURNS
                .windows(2)
                .find(|w| k >= w[0].0 && k <= w[1].0)
                .expect("the turns cover 0..=11");
            let (k0, y0) = seg[0];
            let (k1, y1) = seg[1];
            y0 + (y1 - y0) * (k - k0) as f64 / (k1 - k0) as f64
        })
        .collect();
    Dataset::new(1, xs, ys, "sparse12").expect("sparse12 is a valid data set")
}

/// The setup of the `sparse12` starts (issue 16): width 50, the default output scale,
/// η = 2e-3, σ = 0.5, 10⁶ plain steps, and 20/(η²σ²) = 2·10⁷ label-noise steps (a
/// quick run: 3/(η²σ²)).
pub fn sparse12_setup(quick: bool, scale: f64) -> Setup {
    let (lr, noise) = (2e-3, 0.5);
    let units = if quick { 3.0 } else { 20.0 };
    Setup {
        width: 50,
        output_scale: 1.0,
        lr,
        noise,
        plain_steps: ((1e6 * scale).round() as u64).max(1),
        noise_steps: ((units / (lr * lr * noise * noise) * scale).round() as u64).max(1),
        jump_threshold: 1e-6,
    }
}

/// One end point.
#[derive(Clone, Debug, Serialize)]
pub struct End {
    /// reg.
    pub reg: f64,
    /// ||g_N|| (docs/conventions.md#projection; for settle with pins, of the unconstrained
    /// projection).
    pub null_reg_grad_norm: f64,
    /// The Theorem 1 shape.
    pub shape: Shape,
    /// SGD: the Theorem 2 verdict (`repellent`, `non-repellent`, ...), with
    /// `+kink-on-data-point` when a live kink sits on a data point; settle: its outcome.
    pub kind: String,
    /// Wall seconds.
    pub seconds: f64,
    /// The function on the grid (not serialized).
    #[serde(skip)]
    pub samples: Vec<f64>,
}

/// One start and both ends.
#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    /// The data set.
    pub data: String,
    /// The seed of the initialisation and of the SGD draws.
    pub seed: u64,
    /// reg of the plain fit both start from (projected onto the manifold).
    pub start_reg: f64,
    /// Label-noise SGD's end.
    pub sgd: End,
    /// settle's end.
    pub settle: End,
    /// sup |f_sgd − f_settle| on [x_1, x_n].
    pub sup_distance: f64,
    /// That, relative to max_i |y_i − ȳ| (the data's spread).
    pub relative_distance: f64,
    /// settle's reg / SGD's reg − 1.
    pub reg_gap: f64,
    /// `settle --remedies`'s end from the same start (issue 16: the smoothing
    /// continuation and label-noise bursts after a non-smooth stall).
    pub remedied: End,
    /// How `settle --remedies` left the first stall: `none` (no stall), `smoothing`,
    /// `bursts`, `smoothing+bursts`, or `kept` (tried, nothing gained).
    pub remedy: String,
    /// SGD's wall time for the documented slow phase (the full setup's
    /// [`Setup::noise_steps`], 10/(η²σ²) steps; in a shorter run, its measured time
    /// scaled by the step ratio) / settle's wall time.
    pub time_ratio: f64,
    /// The same for `settle --remedies`.
    pub remedied_time_ratio: f64,
    /// The start function on the grid (not serialized).
    #[serde(skip)]
    pub start_samples: Vec<f64>,
}

/// A data set's name, the grid its functions are sampled on, and its points (x, y).
pub type DataGrid = (String, Vec<f64>, Vec<(f64, f64)>);

/// The result of `reproduce settle`.
#[derive(Clone, Debug, Serialize)]
pub struct SettleVsSgd {
    /// The setup (plain fit and label-noise run) of `fig1` and `v8`.
    pub setup: Setup,
    /// The setup of `sparse12`.
    pub sparse12_setup: Setup,
    /// Every start.
    pub pairs: Vec<Pair>,
    /// Per data set: the grid the functions are sampled on, and the data points (not
    /// serialized).
    #[serde(skip)]
    pub grids: Vec<DataGrid>,
    /// The claims.
    pub claims: Vec<Claim>,
}

fn end_of_sgd(
    net: &labelnoise_core::Network,
    data: &Dataset,
    setup: &Setup,
    xs: &[f64],
    seconds: f64,
) -> Result<End> {
    let (proj, _) = project_to_manifold(net, data, 50, 1e-12)?;
    let (shape, _) = shape_of(&proj, data, setup.jump_threshold)?;
    let a = analyze(
        &proj,
        data,
        &AnalyzeOptions {
            shape: ShapeOptions {
                jump_threshold: setup.jump_threshold,
                ..ShapeOptions::default()
            },
            ..AnalyzeOptions::default()
        },
    )?;
    let mut kind = a.verdict.name().to_string();
    if !a.nonsmooth.is_empty() {
        kind.push_str("+kink-on-data-point");
    }
    Ok(End {
        reg: a.reg,
        null_reg_grad_norm: a.null_reg_grad_norm,
        shape,
        kind,
        seconds,
        samples: sample(&proj, xs),
    })
}

/// `settle` from `start` with `opts`, timed: the result and its [`End`].
fn timed_settle(
    start: &labelnoise_core::Network,
    data: &Dataset,
    setup: &Setup,
    xs: &[f64],
    opts: &SettleOptions,
    cancel: &CancelToken,
) -> Result<(labelnoise_core::settle::SettleResult, End)> {
    let t = Instant::now();
    let settled = settle_or_cancelled(start, data, opts, cancel)?;
    let seconds = t.elapsed().as_secs_f64();
    let (shape, _) = shape_of(&settled.network, data, setup.jump_threshold)?;
    let end = End {
        reg: settled.end_reg,
        null_reg_grad_norm: settled.analysis.null_reg_grad_norm,
        shape,
        kind: settled.outcome.name().to_string(),
        seconds,
        samples: sample(&settled.network, xs),
    };
    Ok((settled, end))
}

#[allow(clippy::too_many_arguments)]
fn pair(
    name: &str,
    data: &Dataset,
    setup: &Setup,
    full_noise_steps: u64,
    seed: u64,
    xs: &[f64],
    cancel: &CancelToken,
) -> Result<Pair> {
    let init = setup.init(seed, false)?;
    let plain = crate::common::train_with_snapshots(
        init,
        data,
        &setup.config(seed, 0.0, setup.plain_steps),
        &[],
        cancel,
        |_, _| Ok(()),
    )?;
    let (start, _) = project_to_manifold(&plain, data, 50, 1e-12)?;
    let start_reg = labelnoise_core::regularizer::reg(&start, data)?;

    let cfg = setup.config(seed, setup.noise, setup.noise_steps);
    let t = Instant::now();
    let sgd_end = train_to_end(plain, data, &cfg, cancel)?.network;
    let sgd_seconds = t.elapsed().as_secs_f64();
    // The slow phase settle replaces is the documented one; a quick run times a third of
    // it (SGD's cost per step does not depend on how long it runs).
    let slow_phase = full_noise_steps as f64 / setup.noise_steps as f64;
    let sgd = end_of_sgd(&sgd_end, data, setup, xs, sgd_seconds)?;

    let (settled, settle_end) =
        timed_settle(&start, data, setup, xs, &SettleOptions::default(), cancel)?;
    let (remedied, remedied_end) = timed_settle(
        &start,
        data,
        setup,
        xs,
        &SettleOptions::default().with_remedies(),
        cancel,
    )?;
    debug_assert!(settled.smoothing.is_none() && settled.escapes.is_empty());
    let smoothed = remedied.smoothing.as_ref().is_some_and(|m| m.accepted);
    let burst = remedied.escapes.iter().any(|r| r.accepted);
    let tried = remedied.smoothing.is_some() || !remedied.escapes.is_empty();
    let remedy = match (smoothed, burst) {
        (true, true) => "smoothing+bursts",
        (true, false) => "smoothing",
        (false, true) => "bursts",
        (false, false) if tried => "kept",
        (false, false) => "none",
    };

    let (lo, hi) = x_range(data);
    let inside: Vec<usize> = (0..xs.len())
        .filter(|&k| xs[k] >= lo - 1e-12 && xs[k] <= hi + 1e-12)
        .collect();
    let pick = |v: &[f64]| inside.iter().map(|&k| v[k]).collect::<Vec<_>>();
    let sup = sup_distance(&pick(&sgd.samples), &pick(&settle_end.samples));
    let ys = data.ys();
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let spread = ys.iter().fold(0.0f64, |m, y| m.max((y - mean).abs()));
    Ok(Pair {
        data: name.into(),
        seed,
        start_reg,
        sup_distance: sup,
        relative_distance: sup / spread.max(f64::MIN_POSITIVE),
        reg_gap: settle_end.reg / sgd.reg - 1.0,
        remedy: remedy.to_string(),
        time_ratio: sgd.seconds * slow_phase / settle_end.seconds.max(1e-9),
        remedied_time_ratio: sgd.seconds * slow_phase / remedied_end.seconds.max(1e-9),
        remedied: remedied_end,
        start_samples: sample(&start, xs),
        sgd,
        settle: settle_end,
    })
}

/// The data sets of the experiment: name, data, setup and the label-noise steps of the
/// full setup (a quick run's SGD time is scaled to it).
fn data_sets(opts: &ValidOptions) -> Vec<(&'static str, Dataset, Setup, u64)> {
    let setup = Setup::for_mode(opts.quick, opts.steps_scale);
    let full = Setup::full().noise_steps;
    let sparse = sparse12_setup(opts.quick, opts.steps_scale);
    let sparse_full = sparse12_setup(false, 1.0).noise_steps;
    vec![
        ("fig1", fig1_data(), setup.clone(), full),
        ("v8", v8_data(), setup, full),
        ("sparse12", sparse12_data(), sparse, sparse_full),
    ]
}

/// The seeds of a data set: 5001-5004 (quick) or 5001-5010 for `fig1` and `v8`; 0-1
/// (quick: its settles are the slow ones, see docs/claims.md#settle) or 0-9 for
/// `sparse12`.
fn seeds(name: &str, quick: bool) -> Vec<u64> {
    let count = match (name, quick) {
        ("sparse12", true) => 2,
        (_, true) => 4,
        _ => 10,
    };
    let base = if name == "sparse12" { 0 } else { 5001 };
    (0..count).map(|k| base + k).collect()
}

/// Runs the experiment.
pub fn run(opts: &ValidOptions) -> Result<SettleVsSgd> {
    let setup = Setup::for_mode(opts.quick, opts.steps_scale);
    let sets = data_sets(opts);
    let mut grids = Vec::new();
    let mut tasks = Vec::new();
    for (name, data, set_setup, full) in &sets {
        let (lo, hi) = x_range(data);
        let xs = grid(lo - 0.25, hi + 0.25, 801);
        let pts = (0..data.len()).map(|i| (data.x(i)[0], data.y(i))).collect();
        grids.push((name.to_string(), xs, pts));
        for s in seeds(name, opts.quick) {
            tasks.push((*name, data, set_setup, *full, s));
        }
    }
    let pairs: Vec<Pair> = tasks
        .par_iter()
        .map(|&(name, data, set_setup, full, s)| {
            let xs = &grids.iter().find(|g| g.0 == name).expect("grid").1;
            pair(name, data, set_setup, full, s, xs, opts.cancel())
        })
        .collect::<Result<_>>()?;
    let claims = claims(&pairs);
    Ok(SettleVsSgd {
        setup,
        sparse12_setup: sparse12_setup(opts.quick, opts.steps_scale),
        pairs,
        grids,
        claims,
    })
}

fn claims(all: &[Pair]) -> Vec<Claim> {
    // The claims of issue 5 keep their data sets; issue 16's measurement takes all.
    let kept: Vec<Pair> = all
        .iter()
        .filter(|p| p.data != "sparse12")
        .cloned()
        .collect();
    let pairs = &kept[..];
    let ratio: Vec<f64> = pairs.iter().map(|p| p.time_ratio).collect();
    let med_ratio = median(&ratio);
    let min_ratio = ratio.iter().copied().fold(f64::INFINITY, f64::min);
    let by_set = |f: &dyn Fn(&Pair) -> serde_json::Value| -> serde_json::Value {
        json!(pairs
            .iter()
            .map(|p| json!({"data": p.data, "seed": p.seed, "value": f(p)}))
            .collect::<Vec<_>>())
    };
    let not_higher = pairs.iter().filter(|p| p.reg_gap <= 0.01).count();
    let thm_settle = pairs.iter().filter(|p| p.settle.shape.theorem1).count();
    let thm_sgd = pairs.iter().filter(|p| p.sgd.shape.theorem1).count();
    let n = pairs.len();
    let rel: Vec<f64> = pairs.iter().map(|p| p.relative_distance).collect();
    vec![
        Claim::new(
            "faster",
            "settle replaces the slow phase: it reaches its end point in a fraction of the wall \
             time of label-noise SGD from the same start. Pass: the median ratio (SGD seconds for \
             the documented slow phase of 10/(eta^2 sigma^2) steps, scaled from the measured time \
             in a quick run, / settle seconds) is at least 10.",
            json!({"median_time_ratio": med_ratio, "min_time_ratio": min_ratio,
                   "by_start": by_set(&|p| json!({"sgd_seconds": p.sgd.seconds,
                        "settle_seconds": p.settle.seconds, "ratio": p.time_ratio}))}),
            med_ratio >= 10.0,
        ),
        Claim::new(
            "reg-not-higher",
            "settle descends reg at least as far as the slow phase does. Pass: settle's reg is at \
             most 1% above label-noise SGD's for at least 3/4 of the starts.",
            json!({"starts": n, "not_higher": not_higher,
                   "by_start": by_set(&|p| json!({"sgd_reg": p.sgd.reg, "settle_reg": p.settle.reg,
                        "start_reg": p.start_reg, "gap": p.reg_gap}))}),
            4 * not_higher >= 3 * n,
        ),
        Claim::new(
            "same-function",
            "Where the two methods end near the same point, the functions agree: the issue's goal \
             is a function within a few percent. Pass: the median over starts of sup |f_SGD - \
             f_settle| on [x_1, x_n], relative to the data's spread max_i |y_i - mean(y)|, is at \
             most 5%. (Theorem 1 counts and the end-point kinds are reported, not tested: neither \
             method reaches a smooth stationary point on these data; see the notes.)",
            json!({"median_relative_distance": median(&rel), "max_relative_distance":
                       rel.iter().copied().fold(0.0f64, f64::max),
                   "theorem1_settle": thm_settle, "theorem1_sgd": thm_sgd, "starts": n,
                   "kinds": by_set(&|p| json!({"sgd": p.sgd.kind, "settle": p.settle.kind,
                        "sup_distance": p.sup_distance, "relative_distance": p.relative_distance}))}),
            median(&rel) <= 0.05,
        ),
        within_two_percent(all),
    ]
}

/// Per data set (and over all starts): the starts, the fraction with settle's reg ≤ 1.02 ×
/// SGD's, the median and worst ratio settle / SGD, the median time ratio, the median
/// wall seconds of each, and the same ratios for the settle without remedies.
pub fn within_two_percent_table(pairs: &[Pair]) -> serde_json::Value {
    let mut names: Vec<&str> = Vec::new();
    for p in pairs {
        if !names.contains(&p.data.as_str()) {
            names.push(&p.data);
        }
    }
    let row = |ps: &[&Pair]| {
        let ratio: Vec<f64> = ps.iter().map(|p| p.remedied.reg / p.sgd.reg).collect();
        let default: Vec<f64> = ps.iter().map(|p| p.settle.reg / p.sgd.reg).collect();
        let time: Vec<f64> = ps.iter().map(|p| p.remedied_time_ratio).collect();
        let default_time: Vec<f64> = ps.iter().map(|p| p.time_ratio).collect();
        let within = ratio.iter().filter(|&&r| r <= 1.02).count();
        let default_within = default.iter().filter(|&&r| r <= 1.02).count();
        let seconds =
            |f: &dyn Fn(&Pair) -> f64| median(&ps.iter().map(|p| f(p)).collect::<Vec<_>>());
        json!({
            "starts": ps.len(),
            "within": within,
            "fraction_within": within as f64 / ps.len().max(1) as f64,
            "median_ratio": median(&ratio),
            "worst_ratio": ratio.iter().copied().fold(0.0f64, f64::max),
            "median_time_ratio": median(&time),
            "median_settle_seconds": seconds(&|p| p.remedied.seconds),
            "default_within": default_within,
            "default_median_ratio": median(&default),
            "default_worst_ratio": default.iter().copied().fold(0.0f64, f64::max),
            "default_median_time_ratio": median(&default_time),
            "median_default_settle_seconds": seconds(&|p| p.settle.seconds),
            "median_sgd_seconds": seconds(&|p| p.sgd.seconds),
        })
    };
    let mut out = serde_json::Map::new();
    for name in names {
        let ps: Vec<&Pair> = pairs.iter().filter(|p| p.data == name).collect();
        out.insert(name.to_string(), row(&ps));
    }
    out.insert("all".into(), row(&pairs.iter().collect::<Vec<_>>()));
    serde_json::Value::Object(out)
}

/// Issue 16's target, asked as a question (its answer is measured, not assumed): over all
/// starts of the three data sets, does settle end within 2% of label-noise SGD's reg in
/// at least 90% of them, with a median time ratio of at least 10?
fn within_two_percent(pairs: &[Pair]) -> Claim {
    let ratio: Vec<f64> = pairs.iter().map(|p| p.remedied.reg / p.sgd.reg).collect();
    let within = ratio.iter().filter(|&&r| r <= 1.02).count();
    let time: Vec<f64> = pairs.iter().map(|p| p.remedied_time_ratio).collect();
    let yes = 10 * within >= 9 * pairs.len() && median(&time) >= 10.0;
    let by_start = json!(pairs
        .iter()
        .map(
            |p| json!({"data": p.data, "seed": p.seed, "sgd_reg": p.sgd.reg,
            "settle_reg": p.remedied.reg, "default_settle_reg": p.settle.reg,
            "settle": p.remedied.kind, "default_settle": p.settle.kind, "remedy": p.remedy,
            "ratio": p.remedied.reg / p.sgd.reg, "time_ratio": p.remedied_time_ratio,
            "default_time_ratio": p.time_ratio})
        )
        .collect::<Vec<_>>());
    Claim::question(
        "within-2pct-of-sgd",
        "Issue 16: where reg is not smooth (live kinks on data points), `settle --remedies` \
         leaves the stall by a smoothing continuation and label-noise bursts. Is its final reg \
         at most 1.02 x label-noise SGD's end reg from the same start in at least 90% of the \
         starts (fig1, v8 and sparse12), with a median time ratio SGD/settle of at least 10? \
         (SGD runs the setup's label-noise steps: 10/(eta^2 sigma^2) for fig1 and v8, \
         20/(eta^2 sigma^2) for sparse12; a quick run 3/(eta^2 sigma^2), a shorter slow phase. \
         The default settle, without remedies, is reported beside it.)",
        json!({"by_data": within_two_percent_table(pairs), "by_start": by_start}),
        yes,
    )
}

/// `reproduce settle`: [`run`], then its report section.
pub struct SettleExperiment;

impl crate::Experiment for SettleExperiment {
    fn name(&self) -> &'static str {
        "settle"
    }

    fn description(&self) -> &'static str {
        "Settle against long label-noise SGD from the same starts: reg, function, time"
    }

    fn run(&self, opts: &ValidOptions) -> crate::Result<Report> {
        report(&run(opts)?)
    }
}

// The report section: figures, tables and the claims.

fn report(r: &SettleVsSgd) -> crate::Result<Report> {
    let mut panels = Vec::new();
    for (name, xs, pts) in &r.grids {
        let pairs: Vec<&Pair> = r.pairs.iter().filter(|p| &p.data == name).collect();
        for (title, pick) in [
            (
                "label-noise SGD",
                &(|p: &Pair| p.sgd.samples.clone()) as &dyn Fn(&Pair) -> Vec<f64>,
            ),
            ("settle", &|p: &Pair| p.settle.samples.clone()),
            ("settle --remedies", &|p: &Pair| p.remedied.samples.clone()),
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
        cols: 3,
        panel_size: (480, 360),
    };
    // One colour per data set and settle: the default settle k, with --remedies k + 3.
    let per_start = |value: &dyn Fn(&End) -> f64| -> Vec<Series> {
        let mut out = Vec::new();
        for (k, (name, _, _)) in r.grids.iter().enumerate() {
            for (remedies, label) in [(false, name.clone()), (true, format!("{name} --remedies"))] {
                let points = r
                    .pairs
                    .iter()
                    .filter(|p| &p.data == name)
                    .map(|p| {
                        let settle = if remedies { &p.remedied } else { &p.settle };
                        (value(&p.sgd), value(settle))
                    })
                    .collect();
                out.push(Series::new(
                    Some(label.as_str()),
                    points,
                    color(k + if remedies { 3 } else { 0 }),
                    Style::Points,
                ));
            }
        }
        out
    };
    let all: Vec<f64> = r
        .pairs
        .iter()
        .flat_map(|p| [p.sgd.reg, p.settle.reg, p.remedied.reg])
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut series = per_start(&|e| e.reg);
    series.push(Series::new(
        Some("equal"),
        vec![(lo, lo), (hi, hi)],
        color(7),
        Style::Dashed,
    ));
    let times = per_start(&|e| e.seconds);
    let fig_cmp = Figure {
        name: "settle-comparison".into(),
        title: "settle against label-noise SGD, per start".into(),
        panels: vec![
            Panel {
                title: "reg at the end".into(),
                x_label: "label-noise SGD".into(),
                y_label: "settle".into(),
                series,
                legend: Legend::LowerRight,
                ..Panel::default()
            },
            Panel {
                title: "wall seconds".into(),
                x_label: "label-noise SGD".into(),
                y_label: "settle".into(),
                y_log: true,
                series: times,
                legend: Legend::LowerLeft,
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
                     settle --remedies reg {:.3}, {} ({:.3} s, remedy: {}); sup-distance {:.3} \
                     ({:.1}% of the data's spread)",
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
                    p.remedied.reg,
                    p.remedied.kind,
                    p.remedied.seconds,
                    p.remedy,
                    p.sup_distance,
                    100.0 * p.relative_distance
                )
            })
            .collect();
        notes.push(format!("`{name}`: {}.", rows.join("; ")));
    }
    Ok(Report {
        title: "settle against long label-noise SGD".into(),
        intro: vec![
            setup_text(&r.setup),
            format!(
                "`sparse12` (issue 16): width {}, output scale {}, eta = {}, sigma = {}, {} plain \
                 steps, {} label-noise steps; twelve points x = -1.1, -0.9, ..., 1.1 on a zigzag \
                 turning at data points (the fewest-kink fit bends at data points, where reg is \
                 not smooth).",
                r.sparse12_setup.width,
                r.sparse12_setup.output_scale,
                r.sparse12_setup.lr,
                r.sparse12_setup.noise,
                r.sparse12_setup.plain_steps,
                r.sparse12_setup.noise_steps
            ),
            "From each plain-SGD fit: label-noise SGD for the setup's label-noise steps, then \
             projected onto the zero-loss manifold; and `settle` with its defaults (active set on). \
             Data: `fig1`, and `v8` (y = |x| at x = +-0.3, +-0.7, +-1.1, +-1.5: one convex kink, \
             free to sit anywhere in the gap (-0.3, 0.3)). Wall times count the label-noise steps \
             and the settle call, not the shared plain fit. The paper's claims are measured on the \
             default `settle`; `settle --remedies` (after a non-smooth stall, a smoothing \
             continuation, then label-noise bursts) is run from the same starts for issue 16's \
             question."
                .into(),
        ],
        claims: r.claims.clone(),
        results: serde_json::to_value(r)?,
        figures: vec![
            figure(
                fig_fn,
                "Each start in its own colour, the same colour in both panels of a data set; black \
                 dots: the data."
                    .into(),
            ),
            figure(
                fig_cmp,
                "Left: reg of settle's end against label-noise SGD's (dashed: equal), the default \
                 settle and `settle --remedies` in their own colours. Right: wall seconds (log \
                 scale)."
                    .into(),
            ),
        ],
        notes,
    })
}
