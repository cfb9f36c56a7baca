//! `reproduce deep` (issue 5, part 4): the paper's §1.1 conjecture on deeper networks.
//!
//! The paper proves Theorem 1 (non-repellent zero-error points of label-noise SGD have
//! the fewest changes of convexity any interpolant needs) for one hidden ReLU layer and
//! conjectures in §1.1 that the same holds for deeper networks. This experiment measures
//! it on 1-D ReLU networks with 2 and 3 hidden layers (depth 3 and 4) on the built-in
//! `fig1` data (minimum 2 convexity changes). Per depth and seed, from the same
//! initialisation and the same SGD draws:
//!
//! - **plain**: plain SGD (σ = 0) until it fits;
//! - **label noise**: SGD with Rademacher label noise ±σ for several slow-phase time
//!   units 1/(η²σ²);
//! - **settle**: [`labelnoise_core::settle::settle`] from the plain fit (its outcome is reported as
//!   it is, whatever it is).
//!
//! Every SGD end point is first projected back onto the zero-loss manifold
//! ([`project_to_manifold`]), then measured exactly: its kinks, pieces, convexity
//! changes and curve length come from the region walk of [`labelnoise_core::piecewise`] (not from
//! sampling) through [`network_shape_report`], its reg and Theorem 2 verdict from
//! [`analyze`]. The region walk itself is checked on every measured network against
//! dense evaluation of the network ([`WalkCheck`]).
//!
//! Paper claim checked: the §1.1 conjecture that Theorem 1 extends to deeper ReLU
//! networks (an open question: answered yes or no).

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::data::Dataset;
use labelnoise_core::error::{Error, Result};
use labelnoise_core::network::{Architecture, Network};
use labelnoise_core::piecewise::PiecewiseLinear;
use labelnoise_core::settle::SettleOptions;
use labelnoise_core::shape::{network_shape_report, ShapeOptions, ShapeReport};
use labelnoise_core::stability::Verdict;
use labelnoise_core::train::{init_network, CancelToken, TrainConfig};
use labelnoise_core::Activation;

use crate::common::{
    fig1_data, figure, functions_with_data, grid, median, project_to_manifold, sample, x_range,
    Projection, Shape,
};
use crate::plot::{color, Figure, Legend, Panel, Series, Style};
use crate::theorem1::VerdictCounts;
use crate::{Claim, Report, ValidOptions};

/// Points of the grid the functions are sampled on for the figures.
pub const GRID_POINTS: usize = 601;

/// A second, coarse relative jump threshold, reported beside the setup's: convexity
/// changes counting only bends of at least 1% of the largest inside (x_1, x_n). Not used
/// by any claim; it shows how much of the count is tiny bends.
pub const COARSE_THRESHOLD: f64 = 1e-2;

/// The setup of `reproduce deep`; see [`DeepSetup::full`] for the values and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeepSetup {
    /// Numbers of hidden layers (depth = hidden layers + 1).
    pub hidden_layers: Vec<usize>,
    /// Width of every hidden layer.
    pub width: usize,
    /// Multiplier of the output-layer weights after the default initialisation.
    pub output_scale: f64,
    /// Learning rate η.
    pub lr: f64,
    /// Label-noise σ (Rademacher ±σ).
    pub noise: f64,
    /// Steps of the plain SGD runs.
    pub plain_steps: u64,
    /// Steps of the label-noise runs.
    pub noise_steps: u64,
    /// Seeds per depth (each seed: one plain, one label-noise run, one settle).
    pub seeds: usize,
    /// Relative slope-jump threshold for kinks and convexity changes.
    pub jump_threshold: f64,
    /// The most descent iterations of `settle` (its `max_iter`).
    pub settle_max_iter: usize,
}

impl DeepSetup {
    /// The full-size setup.
    ///
    /// - width 16, biases, output bias and skip unit (the Theorem 1 network, deeper);
    ///   PyTorch's default initialisation U(±1/√fan_in), then the output weights
    ///   multiplied by `output_scale` = 3 so that the initial function has bends for plain
    ///   SGD to keep (as Figure 1's setup does for one hidden layer; with the default
    ///   scale the plain fits of this data are already nearly minimal);
    /// - η = 2e-3, σ = 0.5 (so η σ² = 5e-4 as in Figure 1's setup): η²σ² = 1e-6, the
    ///   slow-phase time scale 1/(η²σ²) is 1e6 steps, affordable on the general
    ///   (any-depth) training path (a few million steps per second);
    /// - plain runs: 1e6 steps = 2000/η (the fit phase is over well before); label-noise
    ///   runs: 16 time scales (reg has levelled off by then, see the report);
    /// - 8 seeds per depth; `settle` from each plain fit, at most 200 iterations (each
    ///   costs SVDs of the p x n Jacobian, p ≈ 300-600).
    pub fn full() -> Self {
        let lr = 2e-3;
        let noise = 0.5;
        DeepSetup {
            hidden_layers: vec![2, 3],
            width: 16,
            output_scale: 3.0,
            lr,
            noise,
            plain_steps: 1_000_000,
            noise_steps: (16.0 / (lr * lr * noise * noise)).round() as u64,
            seeds: 8,
            jump_threshold: 1e-6,
            settle_max_iter: 200,
        }
    }

    /// The quick setup: 3 seeds per depth, 4 slow-phase time scales, settle at most 60
    /// iterations.
    pub fn quick() -> Self {
        let full = Self::full();
        DeepSetup {
            noise_steps: (4.0 / full.drift_rate()).round() as u64,
            seeds: 3,
            settle_max_iter: 60,
            ..full
        }
    }

    /// The setup for `quick`, with every step count multiplied by `scale` (a testing
    /// aid; 1 is the documented setup). A scale below 1 also scales settle's iteration
    /// limit (at least 1).
    pub fn for_mode(quick: bool, scale: f64) -> Self {
        let mut s = if quick { Self::quick() } else { Self::full() };
        s.plain_steps = ((s.plain_steps as f64 * scale).round() as u64).max(1);
        s.noise_steps = ((s.noise_steps as f64 * scale).round() as u64).max(1);
        s.settle_max_iter = ((s.settle_max_iter as f64 * scale.min(1.0)).round() as usize).max(1);
        s
    }

    /// η²σ², the rate of the slow phase (Lemma 6).
    pub fn drift_rate(&self) -> f64 {
        self.lr * self.lr * self.noise * self.noise
    }

    /// The architecture with `hidden` hidden relu layers.
    pub fn architecture(&self, hidden: usize) -> Architecture {
        Architecture {
            input_dim: 1,
            hidden: vec![self.width; hidden],
            activation: Activation::Relu,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen_layers: vec![],
            frozen_skip: false,
        }
    }

    /// The initial network of run `seed` with `hidden` hidden layers.
    pub fn init(&self, hidden: usize, seed: u64) -> Result<Network> {
        let net = init_network(&self.architecture(hidden), seed, 1.0)?;
        let mut layers = net.layers().to_vec();
        let out = layers.last_mut().expect("a network has an output layer");
        for w in &mut out.weight {
            *w *= self.output_scale;
        }
        Network::new(net.input_dim(), layers, net.skip().cloned(), "init")
    }

    fn config(&self, seed: u64, noise: f64, steps: u64) -> TrainConfig {
        TrainConfig {
            lr: self.lr,
            steps,
            noise,
            seed,
            ..TrainConfig::default()
        }
    }
}

/// How well the exact region walk describes a network, measured against
/// [`Network::eval`] on [x_1 − 0.5, x_n + 0.5].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WalkCheck {
    /// Regions of the walk meeting the interval.
    pub regions: usize,
    /// Network evaluations made.
    pub evaluations: usize,
    /// max |walk(x) − h(x)| / scale(x) over 2001 grid points and every breakpoint, where
    /// scale(x) bounds the terms summed in h(x) (the network with |W|, |b|, no
    /// activation, at |x|).
    pub value_error: f64,
    /// The same for 9 points inside every region against the region's line: a kink the
    /// walk missed would show here.
    pub linearity_error: f64,
    /// max over regions at least 1e-3 wide of |finite-difference slope − walk slope| /
    /// max(1, the region's slope scale).
    pub slope_error: f64,
}

impl WalkCheck {
    /// The largest of the three errors.
    pub fn worst(&self) -> f64 {
        self.value_error
            .max(self.linearity_error)
            .max(self.slope_error)
    }
}

/// A bound on the terms summed in h(x): the network with |W|, |b| and no activation,
/// evaluated at |x|, plus |s x|.
fn term_scale(net: &Network, x: f64) -> f64 {
    let mut a = vec![x.abs()];
    for l in net.layers() {
        a = (0..l.out_dim)
            .map(|o| {
                l.row(o)
                    .iter()
                    .zip(&a)
                    .map(|(w, v)| w.abs() * v)
                    .sum::<f64>()
                    + l.bias.as_ref().map_or(0.0, |b| b[o].abs())
            })
            .collect();
    }
    a[0] + net.skip().map_or(0.0, |s| s.weight[0].abs() * x.abs()) + f64::MIN_POSITIVE
}

/// Checks the walk `pw` of `net` on [lo, hi] (see [`WalkCheck`]).
pub fn check_walk(net: &Network, pw: &PiecewiseLinear, lo: f64, hi: f64) -> WalkCheck {
    let mut c = WalkCheck::default();
    let h = |x: f64| net.eval(&[x]);
    let mut xs = grid(lo, hi, 2001);
    xs.extend(
        pw.breakpoints()
            .iter()
            .map(|b| b.x)
            .filter(|&x| x >= lo && x <= hi),
    );
    for &x in &xs {
        c.value_error = c
            .value_error
            .max((pw.eval(x) - h(x)).abs() / term_scale(net, x));
    }
    c.evaluations += xs.len();
    for r in pw.regions() {
        let u = r.from.map_or(lo, |f| f.max(lo));
        let v = r.to.map_or(hi, |t| t.min(hi));
        if v <= u {
            continue;
        }
        c.regions += 1;
        for k in 0..=8 {
            let x = u + (v - u) * k as f64 / 8.0;
            let line = r.slope * x + r.intercept;
            c.linearity_error = c
                .linearity_error
                .max((line - h(x)).abs() / term_scale(net, x));
        }
        c.evaluations += 9;
        if v - u >= 1e-3 {
            let (a, b) = (u + 0.25 * (v - u), v - 0.25 * (v - u));
            let fd = (h(b) - h(a)) / (b - a);
            c.slope_error = c
                .slope_error
                .max((fd - r.slope).abs() / r.slope_scale.max(1.0));
            c.evaluations += 2;
        }
    }
    c
}

/// One measured end point.
#[derive(Clone, Debug, Serialize)]
pub struct DeepRun {
    /// Hidden layers.
    pub hidden_layers: usize,
    /// `plain`, `label-noise` or `settle`.
    pub method: String,
    /// The seed (initialisation and SGD draws).
    pub seed: u64,
    /// SGD steps (0 for settle).
    pub steps: u64,
    /// Clean training loss at the end of training, before projection (settle: at its
    /// end).
    pub final_loss: f64,
    /// The Gauss–Newton projection onto the zero-loss manifold (SGD runs).
    pub projection: Option<Projection>,
    /// Shape of the measured function (from the exact region walk).
    pub shape: Shape,
    /// Convexity changes with the coarse threshold [`COARSE_THRESHOLD`].
    pub convexity_changes_coarse: usize,
    /// Breakpoints of the walk on the real line (units switching, slope jumping or not).
    pub breakpoints: usize,
    /// Kinks on the real line (breakpoints where the slope jumps).
    pub kinks: usize,
    /// reg at the measured point.
    pub reg: f64,
    /// ||g_N|| at the measured point.
    pub null_reg_grad_norm: f64,
    /// The Theorem 2 verdict (`analyze`, default tolerances).
    pub verdict: Verdict,
    /// Live relu units with z ≈ 0 at a data point (reg not smooth there).
    pub nonsmooth_units: usize,
    /// settle's outcome (settle runs only).
    pub settle_outcome: Option<String>,
    /// settle's accepted moves (settle runs only).
    pub settle_iterations: Option<usize>,
    /// The walk against the network.
    pub walk: WalkCheck,
    /// The measured function on the grid (not serialized).
    #[serde(skip)]
    pub samples: Vec<f64>,
}

/// Per depth and method: the numbers the conjecture is about.
#[derive(Clone, Debug, Serialize)]
pub struct Arm {
    /// Hidden layers.
    pub hidden_layers: usize,
    /// Depth (hidden layers + 1).
    pub depth: usize,
    /// `plain`, `label-noise` or `settle`.
    pub method: String,
    /// Runs.
    pub runs: usize,
    /// Fraction of runs with exactly the minimum number of convexity changes.
    pub fraction_min_convexity: f64,
    /// Fraction of runs satisfying Theorem 1 fully (interpolation, minimum convexity
    /// changes, linear on every co-linear triple).
    pub fraction_theorem1: f64,
    /// Theorem 2 verdicts.
    pub verdicts: VerdictCounts,
    /// Median reg.
    pub median_reg: f64,
    /// Median curve length on [x_1, x_n].
    pub median_curve_length: f64,
    /// Mean convexity changes.
    pub mean_convexity_changes: f64,
    /// Every run's convexity changes.
    pub convexity_changes: Vec<usize>,
    /// Every run's significant kinks inside (x_1, x_n).
    pub kinks_inside: Vec<usize>,
    /// Fraction of runs at the minimum with the coarse threshold [`COARSE_THRESHOLD`].
    pub fraction_min_convexity_coarse: f64,
    /// Every run's convexity changes with the coarse threshold.
    pub convexity_changes_coarse: Vec<usize>,
    /// settle outcomes by name (settle only).
    pub outcomes: Vec<(String, usize)>,
}

/// The result of `reproduce deep`.
#[derive(Clone, Debug, Serialize)]
pub struct Deep {
    /// The setup.
    pub setup: DeepSetup,
    /// The data (x, y).
    pub data: Vec<(f64, f64)>,
    /// The grid the functions are sampled on ([x_1 − 0.25, x_n + 0.25]).
    #[serde(skip)]
    pub grid: Vec<f64>,
    /// The data's minimum number of convexity changes.
    pub min_convexity_changes: usize,
    /// Every measured end point.
    pub runs: Vec<DeepRun>,
    /// Summaries per depth and method.
    pub arms: Vec<Arm>,
    /// The claims.
    pub claims: Vec<Claim>,
}

/// The method names, in report order.
pub const METHODS: [&str; 3] = ["plain", "label-noise", "settle"];

fn shape_options(setup: &DeepSetup) -> ShapeOptions {
    ShapeOptions {
        jump_threshold: setup.jump_threshold,
        ..ShapeOptions::default()
    }
}

fn compact(rep: &ShapeReport) -> Shape {
    Shape {
        curve_length: rep.curve_length,
        convexity_changes: rep.convexity_changes,
        min_convexity_changes: rep.min_convexity_changes,
        kinks_inside: rep.kinks_inside,
        linear_triples: rep.colinear_triples.iter().filter(|t| t.linear).count(),
        colinear_triples: rep.colinear_triples.len(),
        max_abs_residual: rep.max_abs_residual,
        theorem1: rep.theorem1,
    }
}

/// What is measured about one end point, before it is labelled.
struct Measured {
    shape: Shape,
    convexity_changes_coarse: usize,
    breakpoints: usize,
    kinks: usize,
    reg: f64,
    null_reg_grad_norm: f64,
    verdict: Verdict,
    nonsmooth_units: usize,
    walk: WalkCheck,
    samples: Vec<f64>,
}

/// Measures `net` on `data` exactly (module documentation).
pub fn measure_net(
    setup: &DeepSetup,
    net: &Network,
    data: &Dataset,
    xs: &[f64],
) -> Result<(Shape, WalkCheck)> {
    let m = measure(setup, net, data, xs)?;
    Ok((m.shape, m.walk))
}

fn measure(setup: &DeepSetup, net: &Network, data: &Dataset, xs: &[f64]) -> Result<Measured> {
    let opts = shape_options(setup);
    let rep = network_shape_report(net, data, &opts)?.ok_or_else(|| Error::Mismatch {
        message: "the deep experiment needs a 1-D relu network".into(),
    })?;
    let pw = PiecewiseLinear::from_network(net).ok_or_else(|| Error::Mismatch {
        message: "the deep experiment needs a 1-D relu network".into(),
    })?;
    let coarse = labelnoise_core::shape::piecewise_shape_report(
        &pw,
        data,
        &ShapeOptions {
            jump_threshold: COARSE_THRESHOLD,
            ..opts
        },
    )?;
    let (lo, hi) = x_range(data);
    let walk = check_walk(net, &pw, lo - 0.5, hi + 0.5);
    let a = analyze(
        net,
        data,
        &AnalyzeOptions {
            shape: opts,
            ..AnalyzeOptions::default()
        },
    )?;
    Ok(Measured {
        shape: compact(&rep),
        convexity_changes_coarse: coarse.convexity_changes,
        breakpoints: pw.breakpoints().len(),
        kinks: pw.kinks().count(),
        reg: a.reg,
        null_reg_grad_norm: a.null_reg_grad_norm,
        verdict: a.verdict,
        nonsmooth_units: a.nonsmooth.len(),
        walk,
        samples: sample(net, xs),
    })
}

struct Label<'a> {
    hidden_layers: usize,
    method: &'a str,
    seed: u64,
    steps: u64,
    final_loss: f64,
    projection: Option<Projection>,
    settle: Option<(String, usize)>,
}

fn run_of(label: Label<'_>, m: Measured) -> DeepRun {
    DeepRun {
        hidden_layers: label.hidden_layers,
        method: label.method.to_string(),
        seed: label.seed,
        steps: label.steps,
        final_loss: label.final_loss,
        projection: label.projection,
        shape: m.shape,
        convexity_changes_coarse: m.convexity_changes_coarse,
        breakpoints: m.breakpoints,
        kinks: m.kinks,
        reg: m.reg,
        null_reg_grad_norm: m.null_reg_grad_norm,
        verdict: m.verdict,
        nonsmooth_units: m.nonsmooth_units,
        settle_outcome: label.settle.as_ref().map(|s| s.0.clone()),
        settle_iterations: label.settle.map(|s| s.1),
        walk: m.walk,
        samples: m.samples,
    }
}

fn loss(net: &Network, data: &Dataset) -> f64 {
    (0..data.len())
        .map(|i| (net.eval(data.x(i)) - data.y(i)).powi(2))
        .sum::<f64>()
        / data.len() as f64
}

/// The three end points (plain, label noise, settle) of one seed at one depth.
pub fn seed_runs(
    setup: &DeepSetup,
    data: &Dataset,
    hidden: usize,
    seed: u64,
    xs: &[f64],
    cancel: &CancelToken,
) -> Result<Vec<DeepRun>> {
    let init = setup.init(hidden, seed)?;
    let mut out = Vec::with_capacity(3);
    let sgd = |noise: f64, steps: u64| -> Result<(Network, f64, Projection)> {
        let cfg = setup.config(seed, noise, steps);
        let net =
            crate::common::train_with_snapshots(init.clone(), data, &cfg, &[], cancel, |_, _| {
                Ok(())
            })?;
        let final_loss = loss(&net, data);
        let (proj, p) = project_to_manifold(&net, data, 50, 1e-12)?;
        Ok((proj, final_loss, p))
    };
    let (plain, plain_loss, plain_proj) = sgd(0.0, setup.plain_steps)?;
    out.push(run_of(
        Label {
            hidden_layers: hidden,
            method: "plain",
            seed,
            steps: setup.plain_steps,
            final_loss: plain_loss,
            projection: Some(plain_proj),
            settle: None,
        },
        measure(setup, &plain, data, xs)?,
    ));
    let (noisy, noise_loss, noise_proj) = sgd(setup.noise, setup.noise_steps)?;
    out.push(run_of(
        Label {
            hidden_layers: hidden,
            method: "label-noise",
            seed,
            steps: setup.noise_steps,
            final_loss: noise_loss,
            projection: Some(noise_proj),
            settle: None,
        },
        measure(setup, &noisy, data, xs)?,
    ));
    let settled = crate::common::settle_or_cancelled(
        &plain,
        data,
        &SettleOptions {
            jump_threshold: setup.jump_threshold,
            max_iter: setup.settle_max_iter,
            ..SettleOptions::default()
        },
        cancel,
    )?;
    out.push(run_of(
        Label {
            hidden_layers: hidden,
            method: "settle",
            seed,
            steps: 0,
            final_loss: loss(&settled.network, data),
            projection: None,
            settle: Some((settled.outcome.name().to_string(), settled.iterations)),
        },
        measure(setup, &settled.network, data, xs)?,
    ));
    Ok(out)
}

fn arm(runs: &[DeepRun], hidden: usize, method: &str) -> Arm {
    let rs: Vec<&DeepRun> = runs
        .iter()
        .filter(|r| r.hidden_layers == hidden && r.method == method)
        .collect();
    let n = rs.len();
    let frac = |k: usize| k as f64 / n.max(1) as f64;
    let mut verdicts = VerdictCounts::default();
    for r in &rs {
        match r.verdict {
            Verdict::NonRepellent => verdicts.non_repellent += 1,
            Verdict::Repellent => verdicts.repellent += 1,
            Verdict::NotInterpolating => verdicts.not_interpolating += 1,
        }
        if r.nonsmooth_units > 0 {
            verdicts.nonsmooth += 1;
        }
    }
    let mut outcomes: Vec<(String, usize)> = Vec::new();
    for r in &rs {
        if let Some(o) = &r.settle_outcome {
            match outcomes.iter_mut().find(|(name, _)| name == o) {
                Some((_, k)) => *k += 1,
                None => outcomes.push((o.clone(), 1)),
            }
        }
    }
    let cc: Vec<usize> = rs.iter().map(|r| r.shape.convexity_changes).collect();
    Arm {
        hidden_layers: hidden,
        depth: hidden + 1,
        method: method.to_string(),
        runs: n,
        fraction_min_convexity: frac(
            rs.iter()
                .filter(|r| r.shape.convexity_changes == r.shape.min_convexity_changes)
                .count(),
        ),
        fraction_theorem1: frac(rs.iter().filter(|r| r.shape.theorem1).count()),
        verdicts,
        median_reg: median(&rs.iter().map(|r| r.reg).collect::<Vec<_>>()),
        median_curve_length: median(&rs.iter().map(|r| r.shape.curve_length).collect::<Vec<_>>()),
        mean_convexity_changes: cc.iter().sum::<usize>() as f64 / n.max(1) as f64,
        convexity_changes: cc,
        kinks_inside: rs.iter().map(|r| r.shape.kinks_inside).collect(),
        fraction_min_convexity_coarse: frac(
            rs.iter()
                .filter(|r| r.convexity_changes_coarse == r.shape.min_convexity_changes)
                .count(),
        ),
        convexity_changes_coarse: rs.iter().map(|r| r.convexity_changes_coarse).collect(),
        outcomes,
    }
}

/// Runs the experiment with an explicit setup (stopped by `cancel`).
pub fn run_setup(setup: &DeepSetup, cancel: &CancelToken) -> Result<Deep> {
    let data = fig1_data();
    let (lo, hi) = x_range(&data);
    let xs = grid(lo - 0.25, hi + 0.25, GRID_POINTS);
    let tasks: Vec<(usize, u64)> = setup
        .hidden_layers
        .iter()
        .flat_map(|&h| (1..=setup.seeds as u64).map(move |s| (h, s)))
        .collect();
    let runs: Vec<DeepRun> = tasks
        .par_iter()
        .map(|&(h, s)| seed_runs(setup, &data, h, s, &xs, cancel))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let min_convexity_changes = runs.first().map_or(0, |r| r.shape.min_convexity_changes);
    let arms: Vec<Arm> = setup
        .hidden_layers
        .iter()
        .flat_map(|&h| METHODS.iter().map(move |m| (h, *m)))
        .map(|(h, m)| arm(&runs, h, m))
        .collect();
    let claims = claims(setup, &runs, &arms, min_convexity_changes);
    Ok(Deep {
        setup: setup.clone(),
        data: (0..data.len()).map(|i| (data.x(i)[0], data.y(i))).collect(),
        grid: xs,
        min_convexity_changes,
        runs,
        arms,
        claims,
    })
}

/// The arm of `hidden` layers and `method`.
pub fn find_arm<'a>(arms: &'a [Arm], hidden: usize, method: &str) -> Option<&'a Arm> {
    arms.iter()
        .find(|a| a.hidden_layers == hidden && a.method == method)
}

fn claims(setup: &DeepSetup, runs: &[DeepRun], arms: &[Arm], min: usize) -> Vec<Claim> {
    let worst_walk = runs.iter().map(|r| r.walk.worst()).fold(0.0f64, f64::max);
    let regions: usize = runs.iter().map(|r| r.walk.regions).sum();
    let evaluations: usize = runs.iter().map(|r| r.walk.evaluations).sum();
    let per_depth = |f: &dyn Fn(&Arm, &Arm) -> bool| {
        setup.hidden_layers.iter().all(|&h| {
            match (find_arm(arms, h, "plain"), find_arm(arms, h, "label-noise")) {
                (Some(p), Some(n)) => f(p, n),
                _ => false,
            }
        })
    };
    let table = |key: &dyn Fn(&Arm) -> serde_json::Value| {
        arms.iter()
            .map(|a| json!({"depth": a.depth, "method": a.method, "value": key(a)}))
            .collect::<Vec<_>>()
    };
    let fit_worst = runs
        .iter()
        .filter(|r| r.method != "settle")
        .map(|r| r.shape.max_abs_residual)
        .fold(0.0f64, f64::max);
    vec![
        Claim::new(
            "region-walk-exact",
            "The exact region walk (piecewise module) describes every measured network: its \
             values equal Network::eval on 2001 points of [x_1 - 0.5, x_n + 0.5] and at every \
             breakpoint, the network is linear on every region (9 points each; a missed kink \
             would show), and the finite-difference slope of every region at least 1e-3 wide \
             equals the walk's. Pass: the worst relative error is at most 1e-9.",
            json!({"worst_relative_error": worst_walk, "regions_checked": regions,
                   "evaluations": evaluations, "networks": runs.len()}),
            worst_walk <= 1e-9,
        ),
        Claim::new(
            "sgd-runs-fit",
            "Both SGD arms reach zero training error (the conjecture is about zero-error \
             points). Pass: after at most 50 Gauss-Newton steps every plain and label-noise \
             run fits every point within 1e-6.",
            json!({"max_abs_residual": fit_worst}),
            fit_worst <= 1e-6,
        ),
        Claim::new(
            "noise-lowers-reg",
            "Label noise drives SGD down the implicit regularizer reg (paper eq. 1, Lemma 6) at \
             any depth. Pass: at every depth the median reg of the label-noise runs is below \
             that of the plain runs from the same initialisations.",
            json!({"median_reg": table(&|a| json!(a.median_reg))}),
            per_depth(&|p, n| n.median_reg < p.median_reg),
        ),
        Claim::question(
            "min-convexity-changes",
            format!(
                "The paper's section 1.1 conjecture: Theorem 1 (the fewest convexity changes, \
                 {min} for this data) extends to deeper networks, i.e. stable zero-error points \
                 of deep 1-D relu networks have the minimum number of convexity changes. An open \
                 question, so either answer is a result. Measured: per depth and method the \
                 fraction of runs with the minimum number of convexity changes, the fraction \
                 satisfying Theorem 1 fully, every run's convexity changes, and the Theorem 2 \
                 verdicts (the conjecture is about non-repellent points; see the verdicts). \
                 Yes if: at every depth at least half of the label-noise runs have the minimum."
            ),
            json!({"fraction_min_convexity": table(&|a| json!(a.fraction_min_convexity)),
                   "fraction_theorem1": table(&|a| json!(a.fraction_theorem1)),
                   "convexity_changes": table(&|a| json!(a.convexity_changes)),
                   "convexity_changes_coarse_threshold": COARSE_THRESHOLD,
                   "fraction_min_convexity_coarse": table(&|a| json!(a.fraction_min_convexity_coarse)),
                   "verdicts": table(&|a| json!(a.verdicts)),
                   "settle_outcomes": table(&|a| json!(a.outcomes))}),
            setup.hidden_layers.iter().all(|&h| {
                find_arm(arms, h, "label-noise").is_some_and(|n| n.fraction_min_convexity >= 0.5)
            }),
        ),
        Claim::question(
            "noise-fewer-convexity-changes",
            "A weaker form of the same question: does label noise at least simplify the \
             function, as it provably does at depth 2? Yes if: at every depth the label-noise \
             runs have fewer convexity changes on average than the plain runs from the same \
             initialisations.",
            json!({"mean_convexity_changes": table(&|a| json!(a.mean_convexity_changes))}),
            per_depth(&|p, n| n.mean_convexity_changes < p.mean_convexity_changes),
        ),
    ]
}

/// Runs the experiment.
pub fn run(opts: &ValidOptions) -> Result<Deep> {
    run_setup(
        &DeepSetup::for_mode(opts.quick, opts.steps_scale),
        opts.cancel(),
    )
}

/// `reproduce deep`: [`run`], then its report section.
pub struct DeepExperiment;

impl crate::Experiment for DeepExperiment {
    fn name(&self) -> &'static str {
        "deep"
    }

    fn description(&self) -> &'static str {
        "Depth 3 and 4 ReLU networks: the §1.1 conjecture on convexity changes"
    }

    fn run(&self, opts: &ValidOptions) -> crate::Result<Report> {
        report(&run(opts)?)
    }
}

// The report section: figures, tables and the claims.

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

fn report(r: &Deep) -> crate::Result<Report> {
    let s = &r.setup;
    let min = r.min_convexity_changes as f64;
    // Figure 1: the functions, one row per depth, one column per method.
    let mut panels = Vec::new();
    for &h in &s.hidden_layers {
        for m in METHODS {
            let rs = runs_of(r, h, m);
            let series =
                functions_with_data(&r.grid, rs.iter().map(|run| &run.samples[..]), &r.data);
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
                COARSE_THRESHOLD,
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
    Ok(Report {
        title: "Deeper networks: the section 1.1 conjecture".into(),
        intro,
        claims: r.claims.clone(),
        results: serde_json::to_value(r)?,
        figures: vec![
            figure(
                functions,
                "Rows: depth; columns: plain SGD, label noise, settle from the plain fit. Every \
                 seed's final function (projected onto the zero-loss manifold for the SGD runs); \
                 black dots: the data. Panel titles list each run's convexity changes."
                    .into(),
            ),
            figure(
                scatter,
                "Per seed and method: convexity changes on (x_1, x_n) (dashed: the data's \
                 minimum) and reg at the end (log scale; colours as in the left panels)."
                    .into(),
            ),
        ],
        notes,
    })
}
