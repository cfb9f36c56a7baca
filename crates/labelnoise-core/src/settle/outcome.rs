//! What [`super::settle`] returns: how it ended ([`Outcome`]), the trace of accepted
//! moves and the final network with its `analyze` certificate.

use serde::Serialize;

use crate::analysis::Analysis;
use crate::network::Network;

use super::options::SettleOptions;

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

/// How [`settle`](super::settle()) ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// g_N = 0 within tolerance at a smooth point of reg, certified by [`analyze`](crate::analysis::analyze): a
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
    /// Stopped by its cancel token ([`settle_with_cancel`](super::settle_with_cancel)).
    Cancelled,
    /// The initial Gauss–Newton fit did not reach the fit tolerance.
    FitFailed {
        /// max_i |h(x_i) − y_i| where the fit gave up.
        max_abs_residual: f64,
    },
}

impl Outcome {
    /// A short name: `non-repellent`, `constrained-stationary`, `kink-on-data-point`,
    /// `stalled`, `max-iterations`, `cancelled` or `fit-failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::NonRepellent => "non-repellent",
            Outcome::ConstrainedStationary { .. } => "constrained-stationary",
            Outcome::KinkOnDataPoint { .. } => "kink-on-data-point",
            Outcome::Stalled => "stalled",
            Outcome::MaxIterations => "max-iterations",
            Outcome::Cancelled => "cancelled",
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

/// The result of [`settle`](super::settle()).
#[derive(Clone, Debug, Serialize)]
pub struct SettleResult {
    /// The final network. Not serialized with the rest: file formats are the
    /// caller's job (`labelnoise settle` writes it as model.json and
    /// model.safetensors with [`crate::model_io`]).
    #[serde(skip)]
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
    /// Accepted moves (trace rows after the start) of the descent that produced the end
    /// point (after a remedy, the last descent; the smoothed steps and the bursts are
    /// counted in [`Self::smoothing`] and [`Self::escapes`]).
    pub iterations: usize,
    /// Trial points evaluated by the line search, accepted or not.
    pub trials: usize,
    /// One row per accepted move, the start first.
    pub trace: Vec<TraceRow>,
    /// `analyze` at the final network: the certificate.
    pub analysis: Analysis,
    /// The options used.
    pub options: SettleOptions,
    /// The escape rounds tried after a non-smooth stall, in order (empty when the first
    /// descent ended smooth, or with `escape_rounds` = 0).
    pub escapes: Vec<EscapeRound>,
    /// The smoothing continuation tried after a non-smooth stall (`None` when the first
    /// descent ended smooth, the network is not 1-D with one hidden ReLU layer, or
    /// `smooth_taus` is empty).
    pub smoothing: Option<Smoothing>,
}

/// The smoothing continuation after a non-smooth stall ([`super`], "Smoothing").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Smoothing {
    /// The ramp widths τ, relative to the data span, in the order descended.
    pub taus: Vec<f64>,
    /// Accepted steps of the smoothed descents, all τ together.
    pub steps: usize,
    /// reg of the stalled end point it started from.
    pub stalled_reg: f64,
    /// Exact reg where the smoothed descents ended.
    pub smoothed_reg: f64,
    /// reg where the exact descent from there ended.
    pub settled_reg: f64,
    /// That descent's outcome.
    pub outcome: String,
    /// Whether that end point replaced the stalled one.
    pub accepted: bool,
}

/// One escape round: a burst of label-noise SGD from the best end point so far, then a
/// new descent from where the burst ended ([`super`], "Escapes").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EscapeRound {
    /// 1 for the first round.
    pub round: usize,
    /// η of the burst.
    pub lr: f64,
    /// SGD steps of the burst (fewer when it diverged).
    pub steps: u64,
    /// Whether the burst diverged (its η is halved for the next round).
    pub diverged: bool,
    /// reg where the burst ended (off the manifold: the burst does not interpolate).
    pub burst_reg: Option<f64>,
    /// reg where the descent after the burst ended.
    pub settled_reg: Option<f64>,
    /// That descent's outcome (`None` when the burst diverged).
    pub outcome: Option<String>,
    /// Whether that end point became the best so far (a finished descent, not
    /// `max-iterations`, with reg lower by more than `escape_gain`, relative).
    pub accepted: bool,
}
