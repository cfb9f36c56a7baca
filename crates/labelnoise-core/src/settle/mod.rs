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
//!    numerical rank of docs/conventions.md#spectrum (the same [`NullSpace`](crate::stability::NullSpace) as `analyze`). A trial point is
//!    θ − t g_N, pulled back onto M by minimum-norm Gauss–Newton steps down to the
//!    rounding floor (`retract_tol`, ~1e-13 relative: a sloppier retraction moves θ
//!    along the row space by more than the Armijo decrease of the next step is worth).
//!    The trial is accepted when the fit holds and reg falls by the Armijo amount,
//!    reg(θ') ≤ reg(θ) − c₁ t ||g_N||²; when that decrease is below the rounding of reg
//!    itself, rises of up to `slack_ulps`·ε·|reg| are accepted instead. Trial steps
//!    start from the Barzilai–Borwein step sᵀs / sᵀy and are halved on rejection.
//! 3. **Stop** when ||g_N|| ≤ stationarity · max(1, ||∇reg||) (docs/conventions.md#verdict), and
//!    certify the end point with [`analyze`](crate::analysis::analyze), the code behind `labelnoise analyze`.
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
//! # Leaving non-smooth stalls (issue 16)
//!
//! A pinned or blocked end point is a stationary point of the piece of reg on the
//! inactive side of its kinks, and often far above where label-noise SGD goes: many units
//! stacked on one data point is the common case after plain SGD, and SGD's jitter of size
//! O(√(ησ²)) moves them off the point together, which the smooth descent cannot. When the
//! first descent ends [`Outcome::ConstrainedStationary`], [`Outcome::KinkOnDataPoint`] or
//! [`Outcome::Stalled`] and the remedies are on ([`SettleOptions::with_remedies`],
//! `--remedies`; off by default, for their cost), two remedies run in turn (both measured in `reproduce settle`;
//! smoothing is the one that takes the `sparse12` stalls down to SGD's level, the bursts
//! rescue some starts where it gains nothing):
//!
//! 1. **Smoothing** (`smooth`, 1-D networks with one hidden ReLU layer): descend along M a
//!    smoothed regularizer reg_τ, whose indicator 1[z > 0] is a logistic ramp of width τ,
//!    for each τ of `smooth_taus`, then descend exactly from there ([`Smoothing`]).
//! 2. **Bursts** (`escape`): label-noise SGD for `escape_time` slow-phase units from the
//!    best end point so far, then descend exactly from there ([`EscapeRound`]).
//!
//! A remedy's end point replaces the stalled one only when its exact reg is lower (by
//! more than `escape_gain`); what is returned is always an exact descent's end point with
//! its own certificate, outcome and trace.
//!
//! # Cost
//!
//! Per iteration: one forward/backward pass and ∇reg (Hessian-vector products, never the
//! Hessian), one Householder QR of the p x (n + pins) matrix [Jᵀ | Cᵀ] for g_N (one more
//! per pin for the release test), and per trial step a few Gauss–Newton steps, each a thin
//! SVD of that matrix (O(p (n + pins)²)).
//!
//! # Files
//!
//! `options` (the options and their checks), `outcome` (the result, outcome and trace
//! types), `context` (a run's fixed context and an evaluated point), `retraction` (the
//! minimum-norm Gauss–Newton retraction onto M, [`MinNorm`]), `pins` (the active set of
//! kinks pinned on data points), `smooth` (the smoothing continuation), `escape` (the
//! label-noise bursts) and `driver` ([`settle`] itself).

mod context;
mod driver;
mod escape;
mod options;
mod outcome;
mod output;
mod pins;
mod retraction;
mod smooth;

pub use driver::{memory_estimate, settle, settle_with_cancel};
pub use options::{
    SettleOptions, ValidSettleOptions, MAX_ESCAPE_STEPS, REMEDY_ROUNDS, REMEDY_TAUS,
};
pub use outcome::{EscapeRound, Event, KinkAtPoint, Outcome, SettleResult, Smoothing, TraceRow};
pub use output::{
    event_name, pinned_null_reg_grad_norm, trace_csv, write_settle_dir, SettleSummary,
};
pub use pins::PIN_RISE;
pub use retraction::MinNorm;

#[cfg(test)]
mod tests;
