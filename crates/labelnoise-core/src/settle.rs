//! `settle`: move a network along the zero-loss manifold down the implicit regularizer
//! until it is a non-repellent point (Theorem 2), without simulating SGD.
//!
//! # What it computes
//!
//! The zero-loss manifold is M = {θ : h(x_i, θ) = y_i for all i}. By Lemma 6, SGD with
//! label noise near M performs, in the null space of J, gradient descent on
//! reg(θ) = (1/n) Σ_i ||∇_θ h(x_i, θ)||² (paper eq. 1) at rate η²σ²; by Theorem 2 it
//! comes to rest where g_N = P_N ∇reg vanishes. `settle` follows the same path
//! deterministically, as projected gradient descent with a retraction:
//!
//! 1. **Fit.** If max_i |r_i| > the fit tolerance (r_i = h(x_i, θ) − y_i), fit the data
//!    first by Gauss–Newton, θ ← θ − J⁺ r (the minimum-norm step, so the fit moves θ as
//!    little as possible); an undamped step is tried first, then Levenberg–Marquardt
//!    steps θ ← θ − Jᵀ(JJᵀ + λI)⁻¹ r with growing λ. [`SettleResult::fitted_first`] says
//!    whether this happened.
//! 2. **Descend.** At θ on M: g_N = P_N ∇reg, with P_N the projector onto ker J and the
//!    numerical rank of docs/conventions.md#spectrum (the same [`NullSpace`] as `analyze`).
//!    A trial point is θ − t g_N, pulled back onto M by minimum-norm Gauss–Newton steps down to the
//!    rounding floor (`retract_tol`, ~1e-13 relative: a sloppier retraction moves θ
//!    along the row space by more than the Armijo decrease of the next step is worth).
//!    The trial is accepted when the fit holds and reg falls by the Armijo amount,
//!    reg(θ') ≤ reg(θ) − c₁ t ||g_N||²; when that decrease is below the rounding of reg
//!    itself, rises of up to `slack_ulps`·ε·|reg| are accepted instead. Trial steps
//!    start from the Barzilai–Borwein step sᵀs / sᵀy and are halved on rejection.
//! 3. **Stop** when ||g_N|| ≤ stationarity · max(1, ||∇reg||) (docs/conventions.md#verdict), and
//!    certify the end point with [`analyze`], the code behind `labelnoise analyze`.
//!
//! # Kinks on data points
//!
//! For ReLU layers reg is not smooth where a live unit (∂h/∂a ≠ 0) has its
//! pre-activation z = 0 at a data point x_j. With relu'(0) = 0, moving the kink so
//! that x_j turns from inactive to active makes reg jump up by
//! ||δ||²(||a||² + 1)/n (for the Theorem 1 network: c²(1 + x_j²)/n), which the gradient
//! does not see. When −g_N pushes a kink onto a data point from its inactive side, the
//! line search therefore collapses: every step long enough to matter crosses the kink.
//! That is outside Theorem 2's smoothness assumption, and `settle` reports it as its own
//! outcome, [`Outcome::KinkOnDataPoint`], naming the units and points (never as
//! "repellent").
//!
//! With the active set (on by default) such a kink is instead pinned on its inactive
//! side: the equality z_u(x_j) = −m (a margin m of `pin_margin` times the size of the
//! terms of z) joins the fit equations as an extra row ∂z_u(x_j)/∂θ, both in the
//! projection (P_N then projects onto the null space of [Jᵀ | Cᵀ]ᵀ) and in the
//! retraction. Other live kinks within `kink_snap_tol` of a point on their inactive side
//! are pinned with it (the retraction onto the new rows must not push them across), and
//! a pin move may raise reg by at most [`PIN_RISE`] relative, else the run ends as
//! [`Outcome::KinkOnDataPoint`]. Often the pinned row already lies in the row space of
//! J (neighbouring co-linear points fix the kink to first order); it then changes
//! nothing in P_N and only keeps the retraction from rounding the point onto the active
//! side. A pin is released when the gradient projected without it clearly moves the kink
//! away from the point (⟨∇z, g⟩ > 0, the sign of its Lagrange multiplier). An end point
//! with pins still active is a stationary point of reg on M restricted to the inactive
//! side of those kinks: [`Outcome::ConstrainedStationary`], not a Theorem 2
//! non-repellent point, and its reg can be lower than that of the smooth limit.
//!
//! # Cost
//!
//! Per iteration: one forward/backward pass and ∇reg (Hessian-vector products, never the
//! Hessian), one Householder QR of the p x (n + pins) matrix [Jᵀ | Cᵀ] for g_N (one more
//! per pin for the release test), and per trial step a few Gauss–Newton steps, each a thin
//! SVD of that matrix (O(p (n + pins)²)).

use faer::{Mat, MatRef};
use serde::{Serialize, Serializer};

use crate::activation::Activation;
use crate::analysis::{analyze, Analysis, AnalyzeOptions};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{dot, norm};
use crate::model_io::model_to_json;
use crate::network::Network;
use crate::regularizer::{check_compatible, Batch};
use crate::shape::{network_shape_report, ShapeOptions};
use crate::stability::{NullSpace, Tolerances};

/// Options of [`settle`]; [`Default`] gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettleOptions {
    /// Fit tolerance (max_i |h(x_i) − y_i|, default 1e-6) and stationarity tolerance
    /// (||g_N|| ≤ stationarity · max(1, ||∇reg||), default 1e-6) of docs/conventions.md#tolerances.
    pub tolerances: Tolerances,
    /// The most descent iterations (accepted steps, pins included). Default 2000.
    pub max_iter: usize,
    /// The most Gauss–Newton steps of the initial fit. Default 200.
    pub max_fit_iter: usize,
    /// Pin kinks that the descent pushes onto data points (module documentation).
    /// Default true; when false such a stall ends the run as
    /// [`Outcome::KinkOnDataPoint`].
    pub active_set: bool,
    /// Gauss–Newton steps ignore singular values of J below `gn_rcond` · σ_max.
    /// Default 1e-10. (P_N itself uses the rank rule of docs/conventions.md#spectrum.)
    pub gn_rcond: f64,
    /// The retraction stops once max_i |r_i| ≤ `retract_tol` · max(1, max_i |y_i|), or
    /// when a step no longer halves the residual (the rounding floor). Default 1e-13.
    pub retract_tol: f64,
    /// c₁ of the Armijo condition. Default 1e-4.
    pub armijo: f64,
    /// When the predicted decrease t ||g_N||² is below 100 · `slack_ulps` · ε · |reg|,
    /// a trial may raise reg by up to `slack_ulps` · ε · |reg|. Default 4.
    pub slack_ulps: f64,
    /// A kink within `kink_snap_tol` (relative, as for `kink_tol`) of a data point that
    /// blocked a trial step counts as pushed onto it. Default 1e-6.
    pub kink_snap_tol: f64,
    /// A pinned kink is held at z = −`pin_margin` · (||w|| ||a|| + |b|) (the size of the
    /// terms of z), a few rounding units on the inactive side of its point, so that
    /// rounding cannot turn the point active. Default 8ε ≈ 1.8e-15.
    pub pin_margin: f64,
    /// A kink within `kink_tol` of a data point is on it (docs/conventions.md#nonsmooth:
    /// the kink within `kink_tol` · (x_n − x_1) for 1-D inputs and one hidden layer, otherwise
    /// |z| ≤ `kink_tol` · (||w|| ||a|| + |b|)). Default 1e-9.
    pub kink_tol: f64,
    /// Relative slope-jump threshold of the Theorem 1 shape report. Default 1e-6.
    pub jump_threshold: f64,
}

impl Default for SettleOptions {
    fn default() -> Self {
        SettleOptions {
            tolerances: Tolerances::default(),
            max_iter: 2000,
            max_fit_iter: 200,
            active_set: true,
            gn_rcond: 1e-10,
            retract_tol: 1e-13,
            armijo: 1e-4,
            slack_ulps: 4.0,
            kink_snap_tol: 1e-6,
            pin_margin: 8.0 * f64::EPSILON,
            kink_tol: 1e-9,
            jump_threshold: 1e-6,
        }
    }
}

impl SettleOptions {
    /// Fails on a tolerance that is NaN, infinite, negative or out of range, naming
    /// the option (`--fit-tol` and `--stationarity-tol` as on the command line, the
    /// others by their field name).
    pub fn check(&self) -> Result<()> {
        self.tolerances.check()?;
        let unit = |name: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && v > lo && v < hi {
                Ok(())
            } else {
                Err(Error::parameter(
                    name,
                    format!("must lie strictly between {lo} and {hi}, got {v}"),
                ))
            }
        };
        unit("gn_rcond", self.gn_rcond, 0.0, 1.0)?;
        unit("retract_tol", self.retract_tol, 0.0, 1.0)?;
        unit("armijo", self.armijo, 0.0, 0.5)?;
        unit("kink_snap_tol", self.kink_snap_tol, 0.0, 1.0)?;
        unit("pin_margin", self.pin_margin, 0.0, 1.0)?;
        for (name, v) in [
            ("slack_ulps", self.slack_ulps),
            ("kink_tol", self.kink_tol),
            ("jump_threshold", self.jump_threshold),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::parameter(
                    name,
                    format!("must be a finite number ≥ 0, got {v}"),
                ));
            }
        }
        if self.pin_margin >= self.kink_tol.max(f64::MIN_POSITIVE) {
            return Err(Error::parameter(
                "pin_margin",
                format!(
                    "must be below kink_tol ({}), got {}",
                    self.kink_tol, self.pin_margin
                ),
            ));
        }
        Ok(())
    }

    fn shape(&self) -> ShapeOptions {
        ShapeOptions {
            jump_threshold: self.jump_threshold,
            fit_tol: self.tolerances.fit,
            on_point_tol: self.kink_tol,
        }
    }

    fn analyze_options(&self) -> AnalyzeOptions {
        AnalyzeOptions {
            tolerances: self.tolerances,
            shape: self.shape(),
            ..AnalyzeOptions::default()
        }
    }
}

/// A live ReLU unit's kink at a data point: z_{layer,unit}(x_point) ≈ 0.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KinkAtPoint {
    /// Hidden layer (0-based).
    pub layer: usize,
    /// Unit within the layer.
    pub unit: usize,
    /// Data point (index in the data as given).
    pub point: usize,
    /// The data point's input, x_point.
    pub x: Vec<f64>,
    /// The pre-activation z at that point (≤ 0: the point is on the inactive side).
    pub z: f64,
}

/// How [`settle`] ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// g_N = 0 within tolerance at a smooth point of reg, certified by [`analyze`]: a
    /// non-repellent point of Theorem 2.
    NonRepellent,
    /// Stationary on M with kinks pinned on the inactive side of data points: a
    /// constrained stationary point, outside Theorem 2's smoothness assumption.
    ConstrainedStationary {
        /// The pinned kinks.
        active: Vec<KinkAtPoint>,
    },
    /// Stopped with live kinks on data points, where reg is not smooth: the descent
    /// pushed them there and could not go on (without the active set), or the
    /// stationary end point has kinks on data points.
    KinkOnDataPoint {
        /// The kinks and the points they sit on.
        units: Vec<KinkAtPoint>,
    },
    /// The line search failed with no kink to blame (e.g. a degenerate retraction).
    Stalled,
    /// `max_iter` iterations without reaching stationarity.
    MaxIterations,
    /// The initial Gauss–Newton fit did not reach the fit tolerance.
    FitFailed {
        /// max_i |h(x_i) − y_i| where the fit gave up.
        max_abs_residual: f64,
    },
}

impl Outcome {
    /// A short name: `non-repellent`, `constrained-stationary`, `kink-on-data-point`,
    /// `stalled`, `max-iterations` or `fit-failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::NonRepellent => "non-repellent",
            Outcome::ConstrainedStationary { .. } => "constrained-stationary",
            Outcome::KinkOnDataPoint { .. } => "kink-on-data-point",
            Outcome::Stalled => "stalled",
            Outcome::MaxIterations => "max-iterations",
            Outcome::FitFailed { .. } => "fit-failed",
        }
    }
}

/// What moved θ between two rows of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// The starting point (after the fit, if any, and the retraction to the floor).
    Start,
    /// An accepted line-search step.
    Step,
    /// Kinks were pinned on data points (θ retracted onto the new constraints).
    Pin,
}

/// One row of the trace: the state after an accepted move.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceRow {
    /// 0 for the start, then one per accepted move.
    pub iteration: usize,
    /// What led here.
    pub event: Event,
    /// reg(θ) (paper eq. 1).
    pub reg: f64,
    /// ||g_N||, projected with the active pins.
    pub null_reg_grad_norm: f64,
    /// ||∇reg||.
    pub reg_grad_norm: f64,
    /// max_i |h(x_i) − y_i|.
    pub max_abs_residual: f64,
    /// The step size t of the accepted step (0 for the start and for pins).
    pub step_size: f64,
    /// ||θ − θ_previous|| (after the retraction).
    pub step_norm: f64,
    /// Number of pinned kinks after this move (and the releases before it).
    pub active: usize,
    /// Curve length over [x_1, x_n], for 1-D one-hidden-layer ReLU networks.
    pub curve_length: Option<f64>,
    /// Convexity changes on (x_1, x_n), for 1-D one-hidden-layer ReLU networks.
    pub convexity_changes: Option<usize>,
}

/// The result of [`settle`].
#[derive(Clone, Debug, Serialize)]
pub struct SettleResult {
    /// The final network (serialized as the model JSON of docs/formats.md#model-json).
    #[serde(serialize_with = "serialize_network")]
    pub network: Network,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether the start did not interpolate and was fitted by Gauss–Newton first.
    pub fitted_first: bool,
    /// Gauss–Newton steps of the initial fit (0 when the start interpolated).
    pub fit_steps: usize,
    /// reg of the network as given.
    pub start_reg: f64,
    /// reg of the final network.
    pub end_reg: f64,
    /// Accepted moves (trace rows after the start).
    pub iterations: usize,
    /// Trial points evaluated by the line search, accepted or not.
    pub trials: usize,
    /// One row per accepted move, the start first.
    pub trace: Vec<TraceRow>,
    /// `analyze` at the final network: the certificate.
    pub analysis: Analysis,
    /// The options used.
    pub options: SettleOptions,
}

fn serialize_network<S: Serializer>(net: &Network, s: S) -> std::result::Result<S::Ok, S::Error> {
    let value: serde_json::Value =
        serde_json::from_str(&model_to_json(net)).map_err(serde::ser::Error::custom)?;
    value.serialize(s)
}

/// Pinning moves kinks that are already within `kink_snap_tol` of their points onto
/// them; the move is accepted when reg rises by at most `PIN_RISE` · |reg| (or the
/// step slack, if larger). Larger rises mean the fit does not let the kinks sit there.
pub const PIN_RISE: f64 = 1e-8;

/// A pin is released when ⟨∇z, g⟩ > `RELEASE_TOL` · ||∇z|| ||g|| (clearly away).
const RELEASE_TOL: f64 = 1e-8;

/// A pinned kink: the constraint z_{layer,unit}(x_point) = −margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pin {
    layer: usize,
    unit: usize,
    point: usize,
}

/// Everything about one point θ that the descent needs.
struct Point {
    theta: Vec<f64>,
    net: Network,
    batch: Batch,
    reg: f64,
    max_abs_residual: f64,
}

/// The fixed context of a run.
struct Ctx<'a> {
    template: &'a Network,
    data: &'a Dataset,
    opts: &'a SettleOptions,
    /// x_n − x_1 for 1-D data (kink distances are relative to it), else 0.
    span: f64,
    /// Whether distances to kinks are measured along x (1-D, one hidden layer).
    one_d_shallow: bool,
    /// The retraction's target for max |r|.
    floor: f64,
}

/// Moves `net` along the zero-loss manifold down reg to a non-repellent point (see the
/// module documentation), or reports where and why it could not.
///
/// Errors: nonsense options ([`Error::Parameter`]), a model and data that do not fit
/// together ([`Error::Mismatch`]), and whatever [`analyze`] reports on the data (e.g.
/// repeated x values for the 1-D shape report). Not converging is an [`Outcome`], not
/// an error.
pub fn settle(net: &Network, data: &Dataset, opts: &SettleOptions) -> Result<SettleResult> {
    opts.check()?;
    check_compatible(net, data)?;
    let one_d_shallow = net.input_dim() == 1 && net.hidden_layers().len() == 1;
    let span = if net.input_dim() == 1 {
        let lo = data.xs().iter().copied().fold(f64::INFINITY, f64::min);
        let hi = data.xs().iter().copied().fold(f64::NEG_INFINITY, f64::max);
        hi - lo
    } else {
        0.0
    };
    let y_scale = data.ys().iter().fold(1.0f64, |m, y| m.max(y.abs()));
    let ctx = Ctx {
        template: net,
        data,
        opts,
        span,
        one_d_shallow,
        floor: opts.retract_tol * y_scale,
    };
    let start = ctx.evaluate(net.params())?.ok_or_else(|| {
        Error::parameter("model", "the network's outputs on the data are not finite")
    })?;
    let start_reg = start.reg;
    let mut trials = 0;

    // 1. Fit.
    let fitted_first = start.max_abs_residual > opts.tolerances.fit;
    let (point, fit_steps) = ctx.gauss_newton(start, &[], opts.max_fit_iter.max(1), true)?;
    if point.max_abs_residual > opts.tolerances.fit {
        let analysis = analyze(&point.net, data, &opts.analyze_options())?;
        return Ok(SettleResult {
            outcome: Outcome::FitFailed {
                max_abs_residual: point.max_abs_residual,
            },
            end_reg: point.reg,
            network: point.net,
            fitted_first,
            fit_steps,
            start_reg,
            iterations: 0,
            trials,
            trace: Vec::new(),
            analysis,
            options: opts.clone(),
        });
    }
    let fit_steps = if fitted_first { fit_steps } else { 0 };

    // 2. Descend.
    let mut pins: Vec<Pin> = Vec::new();
    let mut cur = point;
    let mut grad = cur.batch.reg_gradient(&cur.net);
    let mut g = ctx.project(&cur, &pins, &grad)?;
    let mut trace = vec![ctx.row(0, Event::Start, &cur, &grad, &g, 0.0, 0.0, 0)];
    let mut previous: Option<(Vec<f64>, Vec<f64>)> = None;
    let mut t_prev: Option<f64> = None;
    let mut stop: Option<Outcome> = None;
    let mut iterations = 0;
    while iterations < opts.max_iter {
        // Release pins the unconstrained gradient would move away from their point.
        if !pins.is_empty() {
            let before = pins.len();
            pins = ctx.still_blocking(&cur, &pins, &grad)?;
            if pins.len() != before {
                g = ctx.project(&cur, &pins, &grad)?;
                previous = None;
                t_prev = None;
            }
        }
        let g_norm = norm(&g);
        let grad_norm = norm(&grad);
        if g_norm <= opts.tolerances.stationarity * grad_norm.max(1.0) {
            break;
        }
        // Line search along −g, starting from the Barzilai–Borwein step.
        let theta_norm = norm(&cur.theta).max(1.0);
        let bb = previous.as_ref().and_then(|(theta0, g0)| {
            let s: Vec<f64> = cur.theta.iter().zip(theta0).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = g.iter().zip(g0).map(|(a, b)| a - b).collect();
            let sy = dot(&s, &y);
            (sy > 0.0).then(|| dot(&s, &s) / sy)
        });
        let cap = 0.25 * theta_norm / g_norm;
        let mut t = bb
            .or(t_prev.map(|t| 2.0 * t))
            .unwrap_or(0.1 * theta_norm / g_norm)
            .min(cap);
        let slack = opts.slack_ulps * f64::EPSILON * cur.reg.abs();
        let candidates_before = ctx.inactive_live_pairs(&cur, &pins);
        let mut blocking: Vec<Pin> = Vec::new();
        let mut accepted: Option<Point> = None;
        while t * g_norm > f64::EPSILON * theta_norm {
            trials += 1;
            let trial_theta: Vec<f64> = cur.theta.iter().zip(&g).map(|(a, b)| a - t * b).collect();
            if let Some(trial) = ctx.evaluate(trial_theta)? {
                let (trial, _) = ctx.gauss_newton(trial, &pins, 30, false)?;
                let predicted = t * g_norm * g_norm;
                let ok_reg = trial.reg <= cur.reg - opts.armijo * predicted
                    || (predicted <= 100.0 * slack && trial.reg <= cur.reg + slack);
                let ok_fit =
                    trial.max_abs_residual <= opts.tolerances.fit && ctx.pins_hold(&trial, &pins);
                if ok_reg && ok_fit {
                    accepted = Some(trial);
                    break;
                }
                // Kinks this trial pushed across a data point from its inactive side.
                blocking = candidates_before
                    .iter()
                    .copied()
                    .filter(|p| ctx.preactivation(&trial, *p) > 0.0)
                    .collect();
            }
            t *= 0.5;
        }
        let step_accepted = accepted.is_some();
        let new_blocking: Vec<Pin> = match &accepted {
            // The line search failed: blame the kinks crossed by its smallest trial, or
            // failing those, the live kinks that sit (nearly) on a point.
            None if blocking.is_empty() => ctx.near_inactive(&cur, &pins),
            None => blocking,
            // With the active set, also a kink that blocked a longer trial and now sits
            // (nearly) on its point: pin it now rather than creep up to it.
            // Without it, such a kink that has crept onto its point (within `kink_tol`,
            // where `analyze` calls it non-smooth) ends the run.
            Some(next) => {
                let tol = if opts.active_set {
                    opts.kink_snap_tol
                } else {
                    opts.kink_tol
                };
                blocking
                    .into_iter()
                    .filter(|p| {
                        let off = ctx.offset(next, *p);
                        off <= 0.0 && -off <= tol
                    })
                    .collect()
            }
        };
        if let Some(next) = accepted {
            let step_norm = distance(&next.theta, &cur.theta);
            previous = Some((cur.theta.clone(), g.clone()));
            t_prev = Some(t);
            cur = next;
            grad = cur.batch.reg_gradient(&cur.net);
            g = ctx.project(&cur, &pins, &grad)?;
            iterations += 1;
            trace.push(ctx.row(
                iterations,
                Event::Step,
                &cur,
                &grad,
                &g,
                t,
                step_norm,
                pins.len(),
            ));
        }
        if new_blocking.is_empty() {
            if step_accepted {
                continue;
            }
            stop = Some(Outcome::Stalled);
            break;
        }
        if !opts.active_set {
            stop = Some(Outcome::KinkOnDataPoint {
                units: new_blocking
                    .iter()
                    .map(|p| ctx.describe(&cur, *p))
                    .collect(),
            });
            break;
        }
        // Pin the blocking kinks on their inactive side, together with every other live
        // kink as near to a point on its inactive side (the retraction onto the new
        // constraints must not push those across), and retract onto the constraints.
        let mut with: Vec<Pin> = pins.clone();
        for p in new_blocking
            .iter()
            .copied()
            .chain(ctx.near_inactive(&cur, &pins))
        {
            if !with.contains(&p) {
                with.push(p);
            }
        }
        let before = cur.theta.clone();
        let (pinned, _) = ctx.gauss_newton(
            ctx.evaluate(cur.theta.clone())?.ok_or_else(internal)?,
            &with,
            30,
            false,
        )?;
        let slack = opts.slack_ulps * f64::EPSILON * cur.reg.abs();
        if pinned.max_abs_residual > opts.tolerances.fit
            || !ctx.pins_hold(&pinned, &with)
            || pinned.reg > cur.reg + slack.max(PIN_RISE * cur.reg.abs())
        {
            // The kinks cannot be pinned without breaking the fit or raising reg. After
            // an accepted step, go on (they may come nearer); after a failed line search
            // this is where the descent ends.
            if step_accepted {
                continue;
            }
            stop = Some(Outcome::KinkOnDataPoint {
                units: with.iter().map(|p| ctx.describe(&cur, *p)).collect(),
            });
            break;
        }
        pins = with;
        cur = pinned;
        grad = cur.batch.reg_gradient(&cur.net);
        g = ctx.project(&cur, &pins, &grad)?;
        // The steps that crept up to the kinks say nothing about the steps after.
        previous = None;
        t_prev = None;
        iterations += 1;
        let step_norm = distance(&cur.theta, &before);
        trace.push(ctx.row(
            iterations,
            Event::Pin,
            &cur,
            &grad,
            &g,
            0.0,
            step_norm,
            pins.len(),
        ));
    }

    // 3. Certify.
    let analysis = analyze(&cur.net, data, &opts.analyze_options())?;
    let outcome = match stop {
        Some(o) => o,
        None if iterations >= opts.max_iter
            && norm(&g) > opts.tolerances.stationarity * norm(&grad).max(1.0) =>
        {
            Outcome::MaxIterations
        }
        None if !pins.is_empty() => Outcome::ConstrainedStationary {
            active: pins.iter().map(|p| ctx.describe(&cur, *p)).collect(),
        },
        None if !analysis.nonsmooth.is_empty() => Outcome::KinkOnDataPoint {
            units: analysis
                .nonsmooth
                .iter()
                .map(|u| KinkAtPoint {
                    layer: u.layer,
                    unit: u.unit,
                    point: u.point,
                    x: data.x(u.point).to_vec(),
                    z: u.z,
                })
                .collect(),
        },
        None if analysis.verdict == crate::stability::Verdict::NonRepellent => {
            Outcome::NonRepellent
        }
        None => Outcome::Stalled,
    };
    Ok(SettleResult {
        outcome,
        end_reg: cur.reg,
        network: cur.net,
        fitted_first,
        fit_steps,
        start_reg,
        iterations,
        trials,
        trace,
        analysis,
        options: opts.clone(),
    })
}

fn internal() -> Error {
    Error::Linalg("settle: a point that was finite became non-finite".into())
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

impl Ctx<'_> {
    /// The network, its passes, reg and the fit at θ; `None` if θ or an output is not
    /// finite (a trial that diverged).
    fn evaluate(&self, theta: Vec<f64>) -> Result<Option<Point>> {
        if !theta.iter().all(|v| v.is_finite()) {
            return Ok(None);
        }
        let mut net = self.template.clone();
        net.set_params_unchecked(&theta);
        let batch = Batch::new(&net, self.data)?;
        let max_abs_residual = batch
            .outputs()
            .iter()
            .zip(self.data.ys())
            .fold(0.0f64, |m, (h, y)| m.max((h - y).abs()));
        let norms = batch.grad_norms_sq(&net);
        let reg = norms.iter().sum::<f64>() / norms.len() as f64;
        if !(max_abs_residual.is_finite() && reg.is_finite()) {
            return Ok(None);
        }
        Ok(Some(Point {
            theta,
            net,
            batch,
            reg,
            max_abs_residual,
        }))
    }

    /// [Jᵀ | Cᵀ]: the p x (n + pins) matrix, column-major, whose columns are ∇h(x_i) and
    /// ∇z for every pin.
    fn augmented_jt(&self, pt: &Point, pins: &[Pin]) -> Vec<f64> {
        let mut jt = pt.batch.jacobian_transposed(&pt.net);
        for &p in pins {
            jt.extend(self.preactivation_gradient(pt, p));
        }
        jt
    }

    /// g = P ∇reg, P the projector onto the null space of [J; C] (the rank rule of
    /// docs/conventions.md#spectrum).
    fn project(&self, pt: &Point, pins: &[Pin], grad: &[f64]) -> Result<Vec<f64>> {
        let p = pt.theta.len();
        let m = self.data.len() + pins.len();
        let (ns, _) = NullSpace::from_jacobian_transposed(self.augmented_jt(pt, pins), p, m)?;
        Ok(ns.project_null_space(grad))
    }

    /// The pins to keep: all but those whose kink the gradient projected without them
    /// would clearly move away from their point (⟨∇z, g⟩ > 0, so a step along −g lowers
    /// z), and those of units no longer live there.
    fn still_blocking(&self, pt: &Point, pins: &[Pin], grad: &[f64]) -> Result<Vec<Pin>> {
        let mut keep = Vec::with_capacity(pins.len());
        for (k, &pin) in pins.iter().enumerate() {
            let others: Vec<Pin> = pins
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != k)
                .map(|(_, &q)| q)
                .collect();
            let g = self.project(pt, &others, grad)?;
            let dz = self.preactivation_gradient(pt, pin);
            // A pin whose row lies in the row space of the others (the fit alone holds
            // the kink on the point to first order) gives ⟨∇z, g⟩ = 0 up to rounding:
            // keep it, it still guards the retraction.
            let away = dot(&dz, &g) > RELEASE_TOL * norm(&dz) * norm(&g);
            if self.is_live(pt, pin) && !away {
                keep.push(pin);
            }
        }
        Ok(keep)
    }

    /// The residual vector of the fit and the pins: r_i = h(x_i) − y_i, then
    /// z_pin + margin_pin.
    fn residuals(&self, pt: &Point, pins: &[Pin]) -> Vec<f64> {
        let mut r: Vec<f64> = pt
            .batch
            .outputs()
            .iter()
            .zip(self.data.ys())
            .map(|(h, y)| h - y)
            .collect();
        for &p in pins {
            r.push(self.preactivation(pt, p) + self.margin(pt, p));
        }
        r
    }

    /// Gauss–Newton on the fit (and the pins) from `start`: minimum-norm steps
    /// θ ← θ − [J; C]⁺ r with the `gn_rcond` cutoff until max |r| ≤ the floor or a step
    /// no longer halves ||r||. With `damped`, a step that does not lower ||r|| is
    /// retried as Levenberg–Marquardt with growing λ. Returns the best point and the
    /// number of steps taken.
    fn gauss_newton(
        &self,
        start: Point,
        pins: &[Pin],
        max_steps: usize,
        damped: bool,
    ) -> Result<(Point, usize)> {
        let mut cur = start;
        let mut r = self.residuals(&cur, pins);
        let mut r_norm = norm(&r);
        let mut steps = 0;
        while steps < max_steps {
            let fit = r[..self.data.len()]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            let pins_floor = pins
                .iter()
                .enumerate()
                .all(|(k, &p)| r[self.data.len() + k].abs() <= 0.5 * self.margin(&cur, p));
            if fit <= self.floor && pins_floor {
                break;
            }
            let p = cur.theta.len();
            if p == 0 {
                break;
            }
            let m = r.len();
            let solver = MinNorm::new(&self.augmented_jt(&cur, pins), p, m)?;
            let s_max = solver.s.first().copied().unwrap_or(0.0);
            let lambdas: Vec<f64> = if damped {
                std::iter::once(0.0)
                    .chain((0..6).map(|k| s_max * s_max * 10f64.powi(2 * k - 8)))
                    .collect()
            } else {
                vec![0.0]
            };
            let mut improved = None;
            for lambda in lambdas {
                let delta = solver.solve(&r, self.opts.gn_rcond, lambda);
                let theta: Vec<f64> = cur.theta.iter().zip(&delta).map(|(a, d)| a - d).collect();
                if let Some(next) = self.evaluate(theta)? {
                    let r_next = self.residuals(&next, pins);
                    let n_next = norm(&r_next);
                    if n_next < r_norm {
                        improved = Some((next, r_next, n_next));
                        break;
                    }
                }
            }
            let Some((next, r_next, n_next)) = improved else {
                break;
            };
            steps += 1;
            let halved = n_next <= 0.5 * r_norm;
            cur = next;
            r = r_next;
            r_norm = n_next;
            if !halved && !damped {
                // The rounding floor: further steps only shuffle rounding errors.
                break;
            }
        }
        let cur = self.snap(cur, pins)?;
        Ok((cur, steps))
    }

    /// Rounding, or a pin row that the fit rows already imply (the fit alone holds the
    /// kink on its point to first order, so the least-squares step cannot honour both
    /// exactly), can leave a pinned z a few ulps above 0, where the point counts as
    /// active and reg jumps. Lower such a unit's bias b_u by z + m, which puts z back
    /// at −m and moves h by at most |∂h/∂b_u| (z + m), a few rounding units.
    fn snap(&self, pt: Point, pins: &[Pin]) -> Result<Point> {
        let mut theta = pt.theta.clone();
        let mut changed = false;
        for &p in pins {
            let z = self.preactivation(&pt, p);
            let m = self.margin(&pt, p);
            if z > -0.5 * m {
                if let Some(b) = pt.net.slots()[p.layer].bias {
                    let shift = z + m;
                    let at = b + p.unit;
                    // Several pins of one unit: the largest shift serves them all.
                    let lowered = pt.theta[at] - shift;
                    if lowered < theta[at] {
                        theta[at] = lowered;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return Ok(pt);
        }
        Ok(self.evaluate(theta)?.unwrap_or(pt))
    }

    /// Whether every pinned point is still on its unit's inactive side (z ≤ 0, as
    /// relu'(0) = 0).
    fn pins_hold(&self, pt: &Point, pins: &[Pin]) -> bool {
        pins.iter().all(|&p| self.preactivation(pt, p) <= 0.0)
    }

    /// z of the pin's unit at its point.
    fn preactivation(&self, pt: &Point, p: Pin) -> f64 {
        let layer = &pt.net.layers()[p.layer];
        let input = pt.batch.activations(p.layer).col(p.point);
        dot(layer.row(p.unit), input) + layer.bias.as_ref().map_or(0.0, |b| b[p.unit])
    }

    /// The size against which z is measured: |w| · span for 1-D inputs and one hidden
    /// layer (so z / scale is the signed distance to the kink over x_n − x_1), else
    /// ||w|| ||a|| + |b| (as in [`crate::analysis::nonsmooth_units`]).
    fn scale(&self, pt: &Point, p: Pin) -> f64 {
        let layer = &pt.net.layers()[p.layer];
        let w = layer.row(p.unit);
        if self.one_d_shallow {
            w[0].abs() * self.span
        } else {
            let input = pt.batch.activations(p.layer).col(p.point);
            norm(w) * norm(input) + layer.bias.as_ref().map_or(0.0, |b| b[p.unit].abs())
        }
    }

    /// z / scale: the signed relative distance of the point from the kink (< 0:
    /// inactive side). +∞ for a unit without a kink (scale 0).
    fn offset(&self, pt: &Point, p: Pin) -> f64 {
        let s = self.scale(pt, p);
        if s > 0.0 {
            self.preactivation(pt, p) / s
        } else {
            f64::INFINITY
        }
    }

    /// The pinned margin m: z is held at −m, m = `pin_margin` · (||w|| ||a|| + |b|).
    fn margin(&self, pt: &Point, p: Pin) -> f64 {
        let layer = &pt.net.layers()[p.layer];
        let input = pt.batch.activations(p.layer).col(p.point);
        let size = norm(layer.row(p.unit)) * norm(input)
            + layer.bias.as_ref().map_or(0.0, |b| b[p.unit].abs());
        self.opts.pin_margin * size
    }

    /// Whether the unit's output reaches h at the point (∂h/∂a ≠ 0 there).
    fn is_live(&self, pt: &Point, p: Pin) -> bool {
        pt.batch.sensitivities(p.layer + 1).col(p.point)[p.unit] != 0.0
    }

    /// Every (ReLU unit, point) with the point on the unit's inactive side (z ≤ 0), a
    /// kink (scale > 0), the unit live there, and not pinned: the kinks a step could push
    /// across a point with a jump of reg.
    fn inactive_live_pairs(&self, pt: &Point, pins: &[Pin]) -> Vec<Pin> {
        let mut out = Vec::new();
        for (layer, l) in pt.net.hidden_layers().iter().enumerate() {
            if l.activation != Activation::Relu {
                continue;
            }
            for point in 0..self.data.len() {
                for unit in 0..l.out_dim {
                    let p = Pin { layer, unit, point };
                    if pins.contains(&p) || !self.is_live(pt, p) {
                        continue;
                    }
                    if self.scale(pt, p) > 0.0 && self.preactivation(pt, p) <= 0.0 {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// The live kinks within `kink_snap_tol` of a point on its inactive side, unpinned.
    fn near_inactive(&self, pt: &Point, pins: &[Pin]) -> Vec<Pin> {
        self.inactive_live_pairs(pt, pins)
            .into_iter()
            .filter(|p| {
                let off = self.offset(pt, *p);
                off <= 0.0 && -off <= self.opts.kink_snap_tol
            })
            .collect()
    }

    /// ∂z_{layer,unit}(x_point)/∂θ, by a backward pass from that unit.
    fn preactivation_gradient(&self, pt: &Point, p: Pin) -> Vec<f64> {
        let net = &pt.net;
        let layers = net.layers();
        let slots = net.slots();
        let mut out = vec![0.0; pt.theta.len()];
        let layer = &layers[p.layer];
        let input = pt.batch.activations(p.layer).col(p.point);
        if let Some(w) = slots[p.layer].weight {
            let at = w + p.unit * layer.in_dim;
            out[at..at + layer.in_dim].copy_from_slice(input);
        }
        if let Some(b) = slots[p.layer].bias {
            out[b + p.unit] = 1.0;
        }
        // s = ∂z/∂a_l, then through z_k = W_k a_k + b_k, a_{k+1} = φ(z_k).
        let mut s: Vec<f64> = layer.row(p.unit).to_vec();
        for k in (0..p.layer).rev() {
            let lk = &layers[k];
            let input = pt.batch.activations(k).col(p.point);
            let delta: Vec<f64> = (0..lk.out_dim)
                .map(|o| {
                    let z = dot(lk.row(o), input) + lk.bias.as_ref().map_or(0.0, |b| b[o]);
                    lk.activation.eval(z).1 * s[o]
                })
                .collect();
            if let Some(w) = slots[k].weight {
                for (o, &d) in delta.iter().enumerate() {
                    let at = w + o * lk.in_dim;
                    for (slot, &a) in out[at..at + lk.in_dim].iter_mut().zip(input) {
                        *slot = d * a;
                    }
                }
            }
            if let Some(b) = slots[k].bias {
                out[b..b + lk.out_dim].copy_from_slice(&delta);
            }
            let mut next = vec![0.0; lk.in_dim];
            for (o, &d) in delta.iter().enumerate() {
                crate::kernels::axpy(d, lk.row(o), &mut next);
            }
            s = next;
        }
        out
    }

    fn describe(&self, pt: &Point, p: Pin) -> KinkAtPoint {
        KinkAtPoint {
            layer: p.layer,
            unit: p.unit,
            point: p.point,
            x: self.data.x(p.point).to_vec(),
            z: self.preactivation(pt, p),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        iteration: usize,
        event: Event,
        pt: &Point,
        grad: &[f64],
        g: &[f64],
        step_size: f64,
        step_norm: f64,
        active: usize,
    ) -> TraceRow {
        // Any 1-D relu network (one hidden layer, or deeper by the exact region walk).
        let shape = network_shape_report(&pt.net, self.data, &self.opts.shape())
            .ok()
            .flatten();
        let curve_length = shape.as_ref().map(|r| r.curve_length);
        let convexity_changes = shape.as_ref().map(|r| r.convexity_changes);
        TraceRow {
            iteration,
            event,
            reg: pt.reg,
            null_reg_grad_norm: norm(g),
            reg_grad_norm: norm(grad),
            max_abs_residual: pt.max_abs_residual,
            step_size,
            step_norm,
            active,
            curve_length,
            convexity_changes,
        }
    }
}

/// Minimum-norm least squares: the smallest δ minimising ||A δ − r|| (δ = A⁺ r), for a
/// tall-or-wide A (m rows, p columns; settle uses A = [J; C], the Jacobian and the
/// pinned constraints), from the thin SVD Aᵀ = U S Vᵀ (so A = V S Uᵀ and
/// A⁺ r = U S⁺ Vᵀ r). Factor once with [`MinNorm::new`], then [`MinNorm::solve`] for
/// any right-hand side.
pub struct MinNorm {
    u: Mat<f64>,
    s: Vec<f64>,
    v: Mat<f64>,
}

impl MinNorm {
    /// Factors Aᵀ, given column-major as p x m (column i is row i of A); an
    /// [`Error::Linalg`] when the SVD does not converge.
    pub fn new(at: &[f64], p: usize, m: usize) -> Result<Self> {
        let a = MatRef::from_column_major_slice(at, p, m);
        let svd = a.thin_svd().map_err(|e| {
            Error::Linalg(format!(
                "SVD of the Gauss–Newton system did not converge: {e:?}"
            ))
        })?;
        let s = svd.S().column_vector();
        let k = p.min(m);
        Ok(MinNorm {
            u: svd.U().to_owned(),
            s: (0..k).map(|i| s[i]).collect(),
            v: svd.V().to_owned(),
        })
    }

    /// δ = Σ_i u_i f(s_i) (v_iᵀ r) with f(s) = 1/s for s > rcond · s_max (λ = 0), or
    /// f(s) = s / (s² + λ) (Levenberg–Marquardt, λ > 0).
    /// A⁺ r over the singular values above `rcond` times the largest; with `lambda` > 0
    /// instead the damped least-squares solution (1/s replaced by s / (s² + λ)).
    pub fn solve(&self, r: &[f64], rcond: f64, lambda: f64) -> Vec<f64> {
        let p = self.u.nrows();
        let s_max = self.s.iter().copied().fold(0.0f64, f64::max);
        let mut out = vec![0.0; p];
        for (i, &s) in self.s.iter().enumerate() {
            let f = if lambda > 0.0 {
                s / (s * s + lambda)
            } else if s > rcond * s_max {
                1.0 / s
            } else {
                continue;
            };
            let c: f64 = (0..r.len()).map(|j| self.v[(j, i)] * r[j]).sum::<f64>() * f;
            for (k, o) in out.iter_mut().enumerate() {
                *o += c * self.u[(k, i)];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Architecture;

    fn ctx_for<'a>(net: &'a Network, data: &'a Dataset, opts: &'a SettleOptions) -> Ctx<'a> {
        Ctx {
            template: net,
            data,
            opts,
            span: 1.0,
            one_d_shallow: false,
            floor: 1e-13,
        }
    }

    #[test]
    fn preactivation_gradient_matches_finite_differences() {
        let arch = Architecture {
            input_dim: 2,
            hidden: vec![3, 2],
            activation: Activation::Tanh,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen_layers: vec![],
            frozen_skip: false,
        };
        let mut k = 0.0;
        let net = arch
            .build(|_, _, _| {
                k += 1.0;
                (k * 0.7f64).sin()
            })
            .unwrap();
        let data = Dataset::new(2, vec![0.3, -0.8, 1.1, 0.4], vec![0.0, 1.0], "t").unwrap();
        let opts = SettleOptions::default();
        let ctx = ctx_for(&net, &data, &opts);
        let pt = ctx.evaluate(net.params()).unwrap().unwrap();
        for pin in [
            Pin {
                layer: 1,
                unit: 1,
                point: 1,
            },
            Pin {
                layer: 0,
                unit: 2,
                point: 0,
            },
        ] {
            let grad = ctx.preactivation_gradient(&pt, pin);
            let h = 1e-6;
            for i in 0..pt.theta.len() {
                let mut plus = pt.theta.clone();
                plus[i] += h;
                let mut minus = pt.theta.clone();
                minus[i] -= h;
                let zp = ctx.preactivation(&ctx.evaluate(plus).unwrap().unwrap(), pin);
                let zm = ctx.preactivation(&ctx.evaluate(minus).unwrap().unwrap(), pin);
                let fd = (zp - zm) / (2.0 * h);
                assert!(
                    (fd - grad[i]).abs() < 1e-7,
                    "{pin:?} θ[{i}]: {fd} vs {}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn gauss_newton_steps_are_minimum_norm() {
        // A = [J; C] with 2 rows and p = 4 columns (Aᵀ column-major, p x 2).
        let at = [1.0, 2.0, 0.0, -1.0, 0.5, 0.0, 3.0, 1.0];
        let solver = MinNorm::new(&at, 4, 2).unwrap();
        let r = [1.0, -2.0];
        let d = solver.solve(&r, 1e-10, 0.0);
        // A d = r.
        for (row, want) in [&at[..4], &at[4..]].into_iter().zip(r) {
            assert!((dot(row, &d) - want).abs() < 1e-12);
        }
        // d lies in the row space of A: d = Aᵀ y for the y solving (A Aᵀ) y = r.
        let (a11, a12, a22) = (
            dot(&at[..4], &at[..4]),
            dot(&at[..4], &at[4..]),
            dot(&at[4..], &at[4..]),
        );
        let det = a11 * a22 - a12 * a12;
        let y = [
            (a22 * r[0] - a12 * r[1]) / det,
            (a11 * r[1] - a12 * r[0]) / det,
        ];
        for k in 0..4 {
            assert!((d[k] - (at[k] * y[0] + at[4 + k] * y[1])).abs() < 1e-12);
        }
        // Damping shrinks the step.
        assert!(norm(&solver.solve(&r, 1e-10, 10.0)) < norm(&d));
    }

    #[test]
    fn options_are_checked() {
        assert!(SettleOptions::default().check().is_ok());
        let bad = SettleOptions {
            pin_margin: 1e-3,
            ..SettleOptions::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("pin_margin"));
        let bad = SettleOptions {
            armijo: 0.9,
            ..SettleOptions::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("armijo"));
    }
}
