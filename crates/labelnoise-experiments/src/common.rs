//! Shared machinery of the experiments: the Figure 1 setup (network, initialisation,
//! learning rate, noise and step counts), training runs with snapshots, the projection
//! back onto the zero-loss manifold, the shape measurements of a 1-D ReLU network, and
//! the pieces of report text and figure that several experiments draw the same way.

use serde::Serialize;

use labelnoise_core::data::Dataset;
use labelnoise_core::error::{Error, Result};
use labelnoise_core::network::Network;
use labelnoise_core::regularizer::Batch;
use labelnoise_core::settle::{settle_with_cancel, MinNorm, Outcome, SettleOptions, SettleResult};
use labelnoise_core::shape::{shape_report, ReluUnits, ShapeOptions, ShapeReport};
use labelnoise_core::train::{
    execute_all, log_spaced_steps, CancelToken, Freeze, NetworkSpec, Observer, Run, RunOutcome,
    RunView, TrainConfig,
};
use labelnoise_core::Activation;

use crate::experiment::CaptionedFigure;
use crate::plot::{color, Figure, Series, Style};

/// The one-hidden-layer ReLU setup of Figure 1 and everything trained like it.
///
/// Defaults (see [`Setup::full`]) and why:
/// - width 100, skip unit and output bias: the paper's Theorem 1 network;
/// - initialisation: PyTorch's U(±1/√fan_in) for every layer, then the output weights
///   c_i multiplied by `output_scale` = 30 (so c_i ~ U(−3, 3)). Large output weights make
///   the random initial function wiggly (~35 convexity changes, large slope jumps between
///   the data points); plain SGD fits the 12 points by moving the parameters a little and
///   keeps those wiggles forever, so the contrast with label noise (which removes them)
///   is visible in the picture and in the numbers. With the default scale the plain fits
///   are already nearly piecewise linear and the curve length says little.
/// - η = 5e-4, the largest power-of-ten-ish rate that is stable from this initialisation
///   (per-sample ||∇h||² reaches ~1500, and a step is stable for 2η||∇h||² < 2);
///   σ = 1 (Rademacher), so η²σ² = 2.5e-7.
/// - fit phase ≈ 100/η = 2e5 steps: plain runs get 5 times that;
/// - slow phase: the theory's time scale is 1/(η²σ²) = 4e6 steps; label-noise runs get
///   10/(η²σ²) = 4e7 (full) or 3/(η²σ²) = 1.2e7 (quick).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setup {
    /// Hidden width.
    pub width: usize,
    /// Multiplier of the output-layer weights after the default initialisation.
    pub output_scale: f64,
    /// Learning rate η.
    pub lr: f64,
    /// Label-noise standard deviation σ (Rademacher ±σ).
    pub noise: f64,
    /// Steps of plain SGD runs.
    pub plain_steps: u64,
    /// Steps of label-noise runs.
    pub noise_steps: u64,
    /// Relative slope-jump threshold for counting kinks and convexity changes.
    pub jump_threshold: f64,
}

impl Setup {
    /// The full-size setup.
    pub fn full() -> Self {
        let lr = 5e-4;
        let noise = 1.0;
        Setup {
            width: 100,
            output_scale: 30.0,
            lr,
            noise,
            plain_steps: (500.0 / lr) as u64,
            noise_steps: (10.0 / (lr * lr * noise * noise)).round() as u64,
            jump_threshold: 1e-6,
        }
    }

    /// The quick setup: same network and rates, a shorter slow phase.
    pub fn quick() -> Self {
        let full = Self::full();
        Setup {
            noise_steps: (3.0 / (full.lr * full.lr * full.noise * full.noise)).round() as u64,
            ..full
        }
    }

    /// The setup for `quick`, with every step count multiplied by `scale` (a testing
    /// aid; 1 is the documented setup).
    pub fn for_mode(quick: bool, scale: f64) -> Self {
        let mut s = if quick { Self::quick() } else { Self::full() };
        s.plain_steps = ((s.plain_steps as f64 * scale).round() as u64).max(1);
        s.noise_steps = ((s.noise_steps as f64 * scale).round() as u64).max(1);
        s
    }

    /// η²σ², the rate of the slow phase (Lemma 6).
    pub fn drift_rate(&self) -> f64 {
        self.lr * self.lr * self.noise * self.noise
    }

    /// The starting network of the runs, as `labelnoise train` flags describe it
    /// (`--hidden W --activation relu --skip --output-bias --output-init-scale 30`, and
    /// `--freeze 0` when `freeze_hidden`).
    pub fn network_spec(&self, freeze_hidden: bool) -> NetworkSpec {
        NetworkSpec {
            hidden: vec![self.width],
            activation: Some(Activation::Relu),
            skip: true,
            output_bias: true,
            freeze: if freeze_hidden {
                vec![Freeze::Layer(0)]
            } else {
                vec![]
            },
            output_init_scale: self.output_scale,
            ..NetworkSpec::default()
        }
    }

    /// The initial network of run `seed` (see the type documentation).
    pub fn init(&self, seed: u64, freeze_hidden: bool) -> Result<Network> {
        self.network_spec(freeze_hidden)
            .build(&fig1_data(), "fig1", seed)
    }

    /// The training configuration of a run.
    pub fn config(&self, seed: u64, noise: f64, steps: u64) -> TrainConfig {
        TrainConfig {
            lr: self.lr,
            steps,
            noise,
            seed,
            ..TrainConfig::default()
        }
    }
}

/// Trains `net` on `data` with `cfg` through the library's run driver, calling
/// `at(step, network)` at step 0 and at every step in `snapshots` (≤ cfg.steps). Returns
/// the final network. A divergence, an error from `at` (which stops the run), or
/// `cancel` set ([`Error::Cancelled`]) is returned.
pub fn train_with_snapshots(
    net: Network,
    data: &Dataset,
    cfg: &TrainConfig,
    snapshots: &[u64],
    cancel: &CancelToken,
    mut at: impl FnMut(u64, &Network) -> Result<()> + Send,
) -> Result<Network> {
    let pauses: Vec<u64> = std::iter::once(0)
        .chain(snapshots.iter().copied())
        .collect();
    let outcome = train_with_pauses(net, data, cfg, &pauses, cancel, |run| {
        at(run.step(), &run.network())
    })?;
    check_finished(&outcome, cfg)?;
    Ok(outcome.network)
}

/// Trains `net` on `data` with `cfg` through the run driver, calling `at(run)` at every
/// step in `pauses` (the run stopped there: its step, network and training-loop seconds).
/// An error from `at` stops the run and is returned, and so is [`Error::Cancelled`] when
/// `cancel` stopped it; a divergence is left to the caller (`outcome.summary.diverged_at`).
pub fn train_with_pauses(
    net: Network,
    data: &Dataset,
    cfg: &TrainConfig,
    pauses: &[u64],
    cancel: &CancelToken,
    at: impl FnMut(&RunView<'_>) -> Result<()> + Send,
) -> Result<RunOutcome> {
    let job = PauseJob {
        net,
        cfg: cfg.clone(),
        pauses: pauses.to_vec(),
        at: Box::new(at),
    };
    let mut outcomes = train_all_with_pauses(vec![job], data, cancel)?;
    Ok(outcomes.remove(0))
}

/// What a run of [`train_all_with_pauses`] does at a pause; an error stops the run.
pub type AtPause<'a> = Box<dyn FnMut(&RunView<'_>) -> Result<()> + Send + 'a>;

/// One run of [`train_all_with_pauses`]: the initial network, the configuration, the
/// steps to pause at, and what to do there.
pub struct PauseJob<'a> {
    /// The initial network.
    pub net: Network,
    /// The training configuration (its metrics are reduced to the first and last step:
    /// [`measuring_only`]).
    pub cfg: TrainConfig,
    /// The steps at which `at` is called.
    pub pauses: Vec<u64>,
    /// Called at every pause with the run stopped there; an error stops the run.
    pub at: AtPause<'a>,
}

/// [`train_with_pauses`] for many runs on one data set at once, results in the order
/// given: through the run driver's [`execute_all`], so runs that can train packed in
/// vector lanes (small ReLU networks that share a schedule: the seeds of one η and σ
/// with the same pauses, docs/conventions.md#packed-runs) do, bit-identical to training
/// each alone; the others run one per thread. Memory is checked for the runs together
/// before any starts. The first error (from a run's `at`, a cancel, a refused run) is
/// returned.
pub fn train_all_with_pauses<'a>(
    jobs: Vec<PauseJob<'a>>,
    data: &Dataset,
    cancel: &CancelToken,
) -> Result<Vec<RunOutcome>> {
    let mut runs = Vec::with_capacity(jobs.len());
    let mut observers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let stop = CancelToken::new();
        runs.push(
            Run::new(job.net, data.clone(), &measuring_only(&job.cfg))?
                .cancel_on(stop.clone())
                .cancel_on(cancel.clone())
                .pause_at(job.pauses.iter().copied()),
        );
        observers.push(AtPauses {
            at: job.at,
            error: None,
            cancel: stop,
        });
    }
    labelnoise_core::train::check_memory_together(&runs.iter().collect::<Vec<_>>())?;
    let outcomes = execute_all(runs.into_iter().zip(observers.iter_mut()).collect());
    outcomes
        .into_iter()
        .zip(observers)
        .map(|(outcome, observer)| match observer.error {
            Some(e) => Err(e),
            None => not_cancelled(outcome?),
        })
        .collect()
}

/// Trains `net` on `data` with `cfg` to the last step through the run driver; a
/// divergence is an error, and so is `cancel` set ([`Error::Cancelled`]).
pub fn train_to_end(
    net: Network,
    data: &Dataset,
    cfg: &TrainConfig,
    cancel: &CancelToken,
) -> Result<RunOutcome> {
    let mut outcomes = train_all_to_end(vec![(net, cfg.clone())], data, cancel)?;
    Ok(outcomes.remove(0))
}

/// [`train_to_end`] for many runs on one data set at once, results in the order given:
/// through the run driver's [`execute_all`], so runs that can train packed in vector
/// lanes (small ReLU networks that share a schedule: the seeds of one η and σ, docs/conventions.md#packed-runs)
/// do, bit-identical to training each alone; the others run one per thread. Memory is
/// checked for the runs together before any starts.
pub fn train_all_to_end(
    jobs: Vec<(Network, TrainConfig)>,
    data: &Dataset,
    cancel: &CancelToken,
) -> Result<Vec<RunOutcome>> {
    let configs: Vec<TrainConfig> = jobs.iter().map(|(_, cfg)| cfg.clone()).collect();
    let runs = jobs
        .into_iter()
        .map(|(net, cfg)| PauseJob {
            net,
            cfg,
            pauses: Vec::new(),
            at: Box::new(|_| Ok(())),
        })
        .collect();
    let outcomes = train_all_with_pauses(runs, data, cancel)?;
    for (outcome, cfg) in outcomes.iter().zip(&configs) {
        check_finished(outcome, cfg)?;
    }
    Ok(outcomes)
}

/// [`settle_with_cancel`]; [`Error::Cancelled`] when `cancel` stopped it.
pub fn settle_or_cancelled(
    net: &Network,
    data: &Dataset,
    opts: &SettleOptions,
    cancel: &CancelToken,
) -> Result<SettleResult> {
    let settled = settle_with_cancel(net, data, opts, cancel)?;
    if settled.outcome == Outcome::Cancelled {
        return Err(Error::Cancelled);
    }
    Ok(settled)
}

/// The outcome of a run that was not cancelled; [`Error::Cancelled`] for one that was.
pub fn not_cancelled(outcome: RunOutcome) -> Result<RunOutcome> {
    if outcome.summary.cancelled {
        Err(Error::Cancelled)
    } else {
        Ok(outcome)
    }
}

/// `cfg` with metrics only at the first and last step: the experiments take their own
/// measurements (at pauses), so the driver's metrics worker has next to nothing to do.
pub fn measuring_only(cfg: &TrainConfig) -> TrainConfig {
    TrainConfig {
        log_points: 2,
        ..cfg.clone()
    }
}

/// The error for a run that diverged (or was stopped) before its last step.
pub fn check_finished(outcome: &RunOutcome, cfg: &TrainConfig) -> Result<()> {
    if let Some(step) = outcome.summary.diverged_at {
        return Err(Error::parameter(
            "--lr",
            format!(
                "training diverged at step {step} (seed {}, η = {}, σ = {})",
                cfg.seed, cfg.lr, cfg.noise
            ),
        ));
    }
    Ok(())
}

/// Calls `at` at every pause of a run; the first error stops the run.
struct AtPauses<F> {
    at: F,
    error: Option<Error>,
    cancel: CancelToken,
}

impl<F: FnMut(&RunView<'_>) -> Result<()>> Observer for AtPauses<F> {
    fn paused(&mut self, run: &RunView<'_>) {
        if self.error.is_none() {
            if let Err(e) = (self.at)(run) {
                self.error = Some(e);
                self.cancel.cancel();
            }
        }
    }
}

/// Log-spaced snapshot steps for a run of `steps` steps (at most `points`).
pub fn snapshot_steps(steps: u64, points: usize) -> Vec<u64> {
    log_spaced_steps(steps, points)
}

/// Solves the small symmetric positive (semi)definite system `a x = b` (n x n,
/// row-major) by Gaussian elimination with partial pivoting; `None` when singular.
pub(crate) fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() < 1e-300 {
            return None;
        }
        if piv != col {
            for k in 0..n {
                a.swap(piv * n + k, col * n + k);
            }
            b.swap(piv, col);
        }
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            if f != 0.0 {
                for k in col..n {
                    a[row * n + k] -= f * a[col * n + k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * n + row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The eigenbasis of (1/n) JᵀJ restricted to its range, at a parameter vector θ
/// (paper §2.2: the directions with γ > 0 of the Ornstein-Uhlenbeck-like process).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RangeBasis {
    /// The number of parameters p.
    pub params: usize,
    /// γ_k > 0, the nonzero eigenvalues of (1/n) JᵀJ, descending.
    pub gamma: Vec<f64>,
    /// The orthonormal eigenvectors v_k (length p each), in the order of `gamma`.
    #[serde(skip)]
    pub vectors: Vec<Vec<f64>>,
}

impl RangeBasis {
    /// The basis of `net` on `data`: a thin SVD Jᵀ = U S Vᵀ of the p x n matrix Jᵀ
    /// (column i = ∇_θ h(x_i, θ)), so that (1/n) JᵀJ = U (S²/n) Uᵀ; the columns of U
    /// with singular values above the numerical rank tolerance of
    /// [`labelnoise_core::stability::rank_tolerance`] are the v_k, with γ_k = s_k² / n.
    pub fn new(net: &Network, data: &Dataset) -> Result<Self> {
        let p = net.param_count();
        let n = data.len();
        let jt = Batch::new(net, data)?.jacobian_transposed(net);
        let m = faer::MatRef::from_column_major_slice(&jt, p, n);
        let svd = m
            .thin_svd()
            .map_err(|e| Error::Linalg(format!("SVD of the Jacobian did not converge: {e:?}")))?;
        let s = svd.S().column_vector();
        let u = svd.U();
        let k = p.min(n);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let smax = order.first().map_or(0.0, |&i| s[i]);
        let tol = labelnoise_core::stability::rank_tolerance(n, p, smax);
        let mut gamma = Vec::new();
        let mut vectors = Vec::new();
        for &i in order.iter().filter(|&&i| s[i] > tol) {
            gamma.push(s[i] * s[i] / n as f64);
            vectors.push((0..p).map(|r| u[(r, i)]).collect());
        }
        Ok(RangeBasis {
            params: p,
            gamma,
            vectors,
        })
    }

    /// The coordinates v_kᵀ d of a vector d of length p.
    pub fn coordinates(&self, d: &[f64]) -> Vec<f64> {
        self.vectors
            .iter()
            .map(|v| v.iter().zip(d).map(|(a, b)| a * b).sum())
            .collect()
    }
}

/// The outcome of [`project_to_manifold`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Projection {
    /// Gauss–Newton steps taken.
    pub iterations: usize,
    /// max_i |h(x_i) − y_i| before.
    pub residual_before: f64,
    /// max_i |h(x_i) − y_i| after.
    pub residual_after: f64,
    /// ||θ_after − θ_before||.
    pub distance: f64,
}

/// Singular values of J below this times the largest are left out of the projection's
/// Gauss–Newton steps.
const PROJECTION_RCOND: f64 = 1e-10;

/// Moves θ back onto the zero-loss manifold by Gauss–Newton steps θ ← θ − J⁺ r (the
/// minimum-norm step that zeroes the linearised residuals, Jᵀ (J Jᵀ)⁻¹ r when J has full
/// rank; singular values below 1e-10 times the largest left out), with
/// backtracking, at most `max_iter` of them, stopping when max_i |r_i| ≤ `tol`. The label-noise
/// jitter is O(√(η σ²)) in the directions with γ > 0 and this removes it without moving
/// along the manifold (to first order), so the kinks and length of the function the
/// dynamics is near can be measured. Units that are off on every point are not moved.
pub fn project_to_manifold(
    net: &Network,
    data: &Dataset,
    max_iter: usize,
    tol: f64,
) -> Result<(Network, Projection)> {
    let n = data.len();
    let p = net.param_count();
    let start = net.params();
    let mut cur = net.clone();
    let residuals =
        |net: &Network| -> Vec<f64> { (0..n).map(|i| net.eval(data.x(i)) - data.y(i)).collect() };
    let max_abs = |r: &[f64]| r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut r = residuals(&cur);
    let residual_before = max_abs(&r);
    let mut iterations = 0;
    while max_abs(&r) > tol && iterations < max_iter {
        let jt = Batch::new(&cur, data)?.jacobian_transposed(&cur);
        // The minimum-norm step J⁺ r: J loses rank where three data points share an
        // activation pattern (the function is affine across them), and there the normal
        // equations J Jᵀ λ = r are singular.
        let Ok(solver) = MinNorm::new(&jt, p, n) else {
            break;
        };
        let step = solver.solve(&r, PROJECTION_RCOND, 0.0);
        let theta0 = cur.params();
        iterations += 1;
        // Backtracking: a full step can cross a kink (a ReLU switching on a data point);
        // halve it until the residual falls.
        let mut alpha = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let theta: Vec<f64> = theta0
                .iter()
                .zip(&step)
                .map(|(t, d)| t - alpha * d)
                .collect();
            let next = cur.with_params(&theta)?;
            let r_next = residuals(&next);
            if max_abs(&r_next) < max_abs(&r) {
                accepted = Some((next, r_next));
                break;
            }
            alpha *= 0.5;
        }
        let Some((next, r_next)) = accepted else {
            break;
        };
        cur = next;
        r = r_next;
    }
    let distance = cur
        .params()
        .iter()
        .zip(&start)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    Ok((
        cur,
        Projection {
            iterations,
            residual_before,
            residual_after: max_abs(&r),
            distance,
        },
    ))
}

/// The shape of a 1-D one-hidden-layer ReLU network on the data (Theorem 1 report).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shape {
    /// Curve length over [x_1, x_n].
    pub curve_length: f64,
    /// Convexity changes on (x_1, x_n) (jumps below the relative threshold ignored).
    pub convexity_changes: usize,
    /// The data's minimum.
    pub min_convexity_changes: usize,
    /// Kinks strictly inside (x_1, x_n) with a significant jump (≥ threshold · largest).
    pub kinks_inside: usize,
    /// Co-linear triples on which f is linear, of all co-linear triples.
    pub linear_triples: usize,
    /// All co-linear triples.
    pub colinear_triples: usize,
    /// max_i |f(x_i) − y_i|.
    pub max_abs_residual: f64,
    /// Theorem 1's conclusion holds (interpolation within 1e-6 included).
    pub theorem1: bool,
}

/// The Theorem 1 report of `net` in compact form, with the full report.
pub fn shape_of(
    net: &Network,
    data: &Dataset,
    jump_threshold: f64,
) -> Result<(Shape, ShapeReport)> {
    let units = ReluUnits::from_network(net).ok_or_else(|| Error::Mismatch {
        message: "the shape report needs a 1-D network with one hidden relu layer".into(),
    })?;
    let opts = ShapeOptions {
        jump_threshold,
        ..ShapeOptions::default()
    };
    let rep = shape_report(&units, data, &opts)?;
    let xs = data.xs();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let margin = opts.on_point_tol * (hi - lo);
    let inside: Vec<f64> = rep
        .kinks
        .iter()
        .filter(|k| k.x > lo + margin && k.x < hi - margin)
        .map(|k| k.jump.abs())
        .collect();
    let largest = inside.iter().copied().fold(0.0f64, f64::max);
    let kinks_inside = inside
        .iter()
        .filter(|&&j| j > 0.0 && j >= jump_threshold * largest)
        .count();
    let shape = Shape {
        curve_length: rep.curve_length,
        convexity_changes: rep.convexity_changes,
        min_convexity_changes: rep.min_convexity_changes,
        kinks_inside,
        linear_triples: rep.colinear_triples.iter().filter(|t| t.linear).count(),
        colinear_triples: rep.colinear_triples.len(),
        max_abs_residual: rep.max_abs_residual,
        theorem1: rep.theorem1,
    };
    Ok((shape, rep))
}

/// A grid of `points` evenly spaced x values on [lo, hi].
pub fn grid(lo: f64, hi: f64, points: usize) -> Vec<f64> {
    let m = points.max(2) - 1;
    (0..=m)
        .map(|k| lo + (hi - lo) * k as f64 / m as f64)
        .collect()
}

/// f on a grid.
pub fn sample(net: &Network, xs: &[f64]) -> Vec<f64> {
    xs.iter().map(|&x| net.eval(&[x])).collect()
}

/// max |f − g| over a common grid.
pub fn sup_distance(f: &[f64], g: &[f64]) -> f64 {
    f.iter()
        .zip(g)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
}

/// The largest pairwise sup-distance among sampled functions (0 for fewer than two).
pub fn max_pairwise_sup(samples: &[Vec<f64>]) -> f64 {
    let mut m = 0.0f64;
    for i in 0..samples.len() {
        for j in i + 1..samples.len() {
            m = m.max(sup_distance(&samples[i], &samples[j]));
        }
    }
    m
}

/// The data's x range [x_1, x_n].
pub fn x_range(data: &Dataset) -> (f64, f64) {
    let xs = data.xs();
    (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

/// Curve length over [x_1, x_n] of the piecewise-linear interpolant of the data.
pub fn interpolant_length(data: &Dataset) -> f64 {
    let mut pts: Vec<(f64, f64)> = (0..data.len()).map(|i| (data.x(i)[0], data.y(i))).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts.windows(2)
        .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
        .sum()
}

/// The median of a list (NaN for an empty one).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

/// The built-in `fig1` data set (12 points, four co-linear runs).
pub fn fig1_data() -> Dataset {
    labelnoise_core::builtin::dataset("fig1").expect("fig1 is built in")
}

/// The points (x, y) of the built-in `fig1` data set.
pub fn fig1_data_points() -> Vec<(f64, f64)> {
    let d = fig1_data();
    (0..d.len()).map(|i| (d.x(i)[0], d.y(i))).collect()
}

/// The points (x, f(x)) of a function sampled on a grid.
pub fn function_curve(grid: &[f64], samples: &[f64]) -> Vec<(f64, f64)> {
    grid.iter().copied().zip(samples.iter().copied()).collect()
}

/// One unlabelled line per sampled function (colours in order), then the data: the
/// series of a panel that overlays several runs' functions on their data.
pub fn functions_with_data<'a>(
    grid: &[f64],
    samples: impl IntoIterator<Item = &'a [f64]>,
    data: &[(f64, f64)],
) -> Vec<Series> {
    let mut series: Vec<Series> = samples
        .into_iter()
        .enumerate()
        .map(|(k, s)| Series::new(None, function_curve(grid, s), color(k), Style::Line))
        .collect();
    series.push(data_series(data));
    series
}

/// The data as black markers labelled "data".
pub fn data_series(data: &[(f64, f64)]) -> Series {
    Series::new(
        Some("data"),
        data.to_vec(),
        plotters::style::BLACK,
        Style::Points,
    )
}

/// A figure with its caption, to be drawn when the report is written.
pub fn figure(figure: Figure, caption: String) -> CaptionedFigure {
    CaptionedFigure { figure, caption }
}

/// The setup paragraph shared by the 1-D experiments' report sections.
pub fn setup_text(s: &Setup) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_counts_follow_the_theory() {
        let s = Setup::full();
        assert_eq!(s.noise_steps, (10.0 / s.drift_rate()).round() as u64);
        assert_eq!(
            Setup::quick().noise_steps,
            (3.0 / s.drift_rate()).round() as u64
        );
        assert!(s.plain_steps as f64 >= 100.0 / s.lr);
        let t = Setup::for_mode(true, 1e-3);
        assert_eq!(t.noise_steps, 12_000);
    }

    #[test]
    fn projection_returns_to_the_manifold_and_keeps_the_shape() {
        let data = fig1_data();
        let net = labelnoise_core::builtin::model("fig1-minimal").unwrap();
        let theta: Vec<f64> = net
            .params()
            .iter()
            .enumerate()
            .map(|(k, t)| t + 1e-3 * ((k as f64 * 0.7).sin()))
            .collect();
        let noisy = net.with_params(&theta).unwrap();
        let (proj, p) = project_to_manifold(&noisy, &data, 50, 1e-12).unwrap();
        assert!(p.residual_before > 1e-4, "{p:?}");
        assert!(p.residual_after <= 1e-12, "{p:?}");
        assert!(p.distance < 1e-2, "{p:?}");
        let (shape, _) = shape_of(&proj, &data, 1e-6).unwrap();
        assert!(shape.theorem1, "{shape:?}");
        assert_eq!(shape.kinks_inside, 3);
        assert_eq!(shape.convexity_changes, 2);
    }

    #[test]
    fn range_basis_diagonalizes_the_gram_matrix() {
        let data = fig1_data();
        let net = labelnoise_core::builtin::model("fig1-minimal").unwrap();
        let b = RangeBasis::new(&net, &data).unwrap();
        let p = net.param_count();
        let n = data.len();
        let jt = Batch::new(&net, &data).unwrap().jacobian_transposed(&net);
        assert!(!b.gamma.is_empty() && b.gamma.len() <= p.min(n));
        for (k, v) in b.vectors.iter().enumerate() {
            // (1/n) Jᵀ J v = γ v.
            let jv: Vec<f64> = (0..n)
                .map(|i| {
                    jt[i * p..(i + 1) * p]
                        .iter()
                        .zip(v)
                        .map(|(a, b)| a * b)
                        .sum()
                })
                .collect();
            for r in 0..p {
                let av: f64 = (0..n).map(|i| jt[i * p + r] * jv[i]).sum::<f64>() / n as f64;
                assert!(
                    (av - b.gamma[k] * v[r]).abs() < 1e-9 * b.gamma[0],
                    "{k} {r}"
                );
            }
            let c = b.coordinates(v);
            for (j, cj) in c.iter().enumerate() {
                let want = if j == k { 1.0 } else { 0.0 };
                assert!((cj - want).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn small_helpers() {
        assert_eq!(grid(0.0, 1.0, 3), vec![0.0, 0.5, 1.0]);
        assert_eq!(sup_distance(&[0.0, 1.0], &[0.5, 3.0]), 2.0);
        assert_eq!(max_pairwise_sup(&[vec![0.0], vec![1.0], vec![-2.0]]), 3.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let x = solve(vec![2.0, 1.0, 1.0, 3.0], vec![3.0, 5.0], 2).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
        let data = fig1_data();
        assert!((interpolant_length(&data) - 6.9454).abs() < 1e-3);
    }
}
