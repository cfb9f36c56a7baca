//! A smoothing continuation out of non-smooth stalls (issue 16), for 1-D networks with
//! one hidden ReLU layer h(x) = Σ_j c_j relu(w_j x + b_j) + b_out + s x.
//!
//! There ∇_θ h(x_i) has the entries c_j 1[z_ij > 0] x_i (w_j), c_j 1[z_ij > 0] (b_j),
//! relu(z_ij) (c_j), 1 (b_out) and x_i (s), with z_ij = w_j x_i + b_j, so
//!
//! reg(θ) = (1/n) Σ_i [ Σ_j ( c_j² 1[z_ij > 0] A_i + relu(z_ij)² ) + B_i ],
//!
//! A_i = x_i² [w trainable] + [b trainable], B_i = [b_out trainable] + x_i² [s trainable].
//! The indicator makes reg jump when a kink k_j = −b_j / w_j crosses a data point. The
//! smoothed regularizer replaces it by a logistic ramp of width τ (relative to the data
//! span S = x_n − x_1) in the signed distance of the point from the kink:
//!
//! reg_τ(θ) = (1/n) Σ_i [ Σ_j ( c_j² s_ij² A_i + relu(z_ij)² ) + B_i ],
//! s_ij = logistic(u_ij), u_ij = sign(w_j) (x_i − k_j) / (τ S) = z_ij / (|w_j| τ S),
//!
//! which is smooth in θ (relu² is C¹), equals reg wherever no kink is within a few τ S of
//! a point as τ → 0, and sees a kink on a point as sitting on a slope rather than a
//! cliff: the smoothing label-noise SGD's jitter does on its own. Its gradient:
//!
//! ∂/∂c_j = (2/n) Σ_i c_j s_ij² A_i,
//! ∂/∂w_j = Σ_i [ (2/n) relu(z_ij) x_i + G_ij ∂u_ij/∂w_j ],
//! ∂/∂b_j = Σ_i [ (2/n) relu(z_ij) + G_ij ∂u_ij/∂b_j ],
//! G_ij = (2/n) c_j² A_i s_ij² (1 − s_ij),
//! ∂u/∂b_j = 1 / (|w_j| τ S), ∂u/∂w_j = −sign(w_j) b_j / (w_j² τ S)
//!
//! (checked against finite differences by `settle::tests::smoothed_reg_gradient_matches_finite_differences`).
//!
//! The continuation descends reg_τ along M (the same projection and retraction as the
//! exact descent, no pins) for each τ of `smooth_taus` in turn, then hands the point to
//! the exact descent, whose end point is certified by `analyze` as always. The result
//! replaces the stalled one only when its exact reg is lower.

use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::Result;
use crate::kernels::norm;
use crate::network::Network;
use crate::train::CancelToken;

use super::context::{first_trial_step, internal, Ctx, Point};
use super::escape::is_nonsmooth_stall;
use super::options::ValidSettleOptions;
use super::outcome::{Outcome, SettleResult, Smoothing};

/// The smoothed descent accepts trials that fit to within this multiple of the fit
/// tolerance: with kinks on data points the retraction's Jacobian jumps and Gauss–Newton
/// can stall just above the tolerance. The exact descent after it fits to the tolerance
/// again (and its end point is what counts).
const SMOOTH_FIT_SLACK: f64 = 10.0;

/// Where the parameters of a 1-D one-hidden-layer ReLU network sit in θ.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shallow {
    w: Option<usize>,
    b: Option<usize>,
    c: Option<usize>,
    out_bias: bool,
    skip: bool,
}

impl Shallow {
    /// The layout of `net`, or `None` unless it is a 1-D network with one hidden ReLU
    /// layer (where the smoothing applies).
    pub(super) fn of(net: &Network) -> Option<Self> {
        let hidden = net.hidden_layers();
        if net.input_dim() != 1 || hidden.len() != 1 || hidden[0].activation != Activation::Relu {
            return None;
        }
        let slots = net.slots();
        Some(Shallow {
            w: slots[0].weight,
            b: slots[0].bias,
            c: slots[1].weight,
            out_bias: slots[1].bias.is_some(),
            skip: net.skip_slot().is_some(),
        })
    }
}

/// reg_τ(θ) and its gradient (module documentation) for a network of layout `lay` on the
/// inputs `xs`, with τ S = `width`.
pub(crate) fn smoothed_reg(net: &Network, lay: Shallow, xs: &[f64], width: f64) -> (f64, Vec<f64>) {
    let n = xs.len() as f64;
    let layers = net.layers();
    let (hid, out) = (&layers[0], &layers[1]);
    let mut grad = vec![0.0; net.param_count()];
    let mut value = 0.0;
    for &x in xs {
        let a = x * x * f64::from(u8::from(lay.w.is_some())) + f64::from(u8::from(lay.b.is_some()));
        value += f64::from(u8::from(lay.out_bias)) + x * x * f64::from(u8::from(lay.skip));
        for j in 0..hid.out_dim {
            let w = hid.row(j)[0];
            let b = hid.bias.as_ref().map_or(0.0, |v| v[j]);
            let c = out.row(0)[j];
            let z = w * x + b;
            let relu = z.max(0.0);
            let (s, du_dw, du_db) = if w != 0.0 {
                let u = z / (w.abs() * width);
                let s = logistic(u);
                (
                    s,
                    -w.signum() * b / (w * w * width),
                    1.0 / (w.abs() * width),
                )
            } else {
                (if b > 0.0 { 1.0 } else { 0.0 }, 0.0, 0.0)
            };
            value += c * c * s * s * a + relu * relu;
            let g = 2.0 * c * c * a * s * s * (1.0 - s);
            if let Some(at) = lay.c {
                grad[at + j] += 2.0 * c * s * s * a;
            }
            if let Some(at) = lay.w {
                grad[at + j] += 2.0 * relu * x + g * du_dw;
            }
            if let Some(at) = lay.b {
                grad[at + j] += 2.0 * relu + g * du_db;
            }
        }
    }
    for v in &mut grad {
        *v /= n;
    }
    (value / n, grad)
}

fn logistic(u: f64) -> f64 {
    if u >= 0.0 {
        1.0 / (1.0 + (-u).exp())
    } else {
        let e = u.exp();
        e / (1.0 + e)
    }
}

impl Ctx<'_> {
    /// Projected gradient descent of reg_τ along M from `start` (τ S = `width`), at most
    /// `max_iter` accepted steps; returns the end point and the steps taken.
    pub(super) fn smoothed_descent(
        &self,
        start: Point,
        lay: Shallow,
        width: f64,
        max_iter: usize,
    ) -> Result<(Point, usize)> {
        let xs = self.data.xs();
        let mut cur = start;
        let (mut value, mut grad) = smoothed_reg(&cur.net, lay, xs, width);
        let mut g = self.project(&cur, &[], &grad)?;
        let mut previous: Option<(Vec<f64>, Vec<f64>)> = None;
        let mut steps = 0;
        while steps < max_iter && !self.cancel.is_cancelled() {
            let g_norm = norm(&g);
            if g_norm <= self.opts.tolerances.stationarity * norm(&grad).max(1.0) {
                break;
            }
            let theta_norm = norm(&cur.theta).max(1.0);
            let mut t = first_trial_step(&cur.theta, &g, previous.as_ref(), None);
            let mut accepted = None;
            while t * g_norm > f64::EPSILON * theta_norm && !self.cancel.is_cancelled() {
                let trial: Vec<f64> = cur.theta.iter().zip(&g).map(|(a, b)| a - t * b).collect();
                if let Some(trial) = self.evaluate(trial)? {
                    let (trial, _) = self.gauss_newton(trial, &[], 30, false)?;
                    if trial.max_abs_residual <= SMOOTH_FIT_SLACK * self.opts.tolerances.fit {
                        let (v, gr) = smoothed_reg(&trial.net, lay, xs, width);
                        if v <= value - self.opts.armijo * t * g_norm * g_norm {
                            accepted = Some((trial, v, gr));
                            break;
                        }
                    }
                }
                t *= 0.5;
            }
            let Some((next, v, gr)) = accepted else {
                break;
            };
            previous = Some((cur.theta.clone(), g.clone()));
            cur = next;
            value = v;
            grad = gr;
            g = self.project(&cur, &[], &grad)?;
            steps += 1;
        }
        Ok((cur, steps))
    }
}

/// The continuation after the first descent `first` (module documentation): when it
/// ended in a non-smooth stall on a network where the smoothing applies, descend reg_τ
/// for each τ of `smooth_taus`, then run `descend` from there, and keep that end point
/// if its exact reg is lower than `first`'s by more than `escape_gain` (relative).
pub(super) fn continuation(
    first: SettleResult,
    data: &Dataset,
    opts: &ValidSettleOptions,
    cancel: &CancelToken,
    descend: impl Fn(&Network) -> Result<SettleResult>,
) -> Result<SettleResult> {
    if opts.smooth_taus.is_empty() || !is_nonsmooth_stall(&first.outcome) {
        return Ok(first);
    }
    let Some(lay) = Shallow::of(&first.network) else {
        return Ok(first);
    };
    let (end, steps) = {
        let from = &first.network;
        let ctx = Ctx::new(from, data, opts, cancel);
        if ctx.span <= 0.0 {
            return Ok(first);
        }
        let pt = ctx.evaluate(from.params())?.ok_or_else(internal)?;
        let (mut pt, _) = ctx.gauss_newton(pt, &[], opts.max_fit_iter.max(1), true)?;
        let mut steps = 0;
        for &tau in &opts.smooth_taus {
            let (next, k) = ctx.smoothed_descent(pt, lay, tau * ctx.span, opts.smooth_max_iter)?;
            pt = next;
            steps += k;
        }
        (pt, steps)
    };
    if cancel.is_cancelled() {
        let mut first = first;
        first.outcome = Outcome::Cancelled;
        return Ok(first);
    }
    let next = descend(&end.net)?;
    if next.outcome == Outcome::Cancelled {
        let mut first = first;
        first.outcome = Outcome::Cancelled;
        return Ok(first);
    }
    let accepted = !matches!(
        next.outcome,
        Outcome::Cancelled | Outcome::FitFailed { .. } | Outcome::MaxIterations
    ) && next.end_reg < first.end_reg * (1.0 - opts.escape_gain);
    let record = Smoothing {
        taus: opts.smooth_taus.clone(),
        steps,
        stalled_reg: first.end_reg,
        smoothed_reg: end.reg,
        settled_reg: next.end_reg,
        outcome: next.outcome.name().to_string(),
        accepted,
    };
    let mut out = if accepted {
        let mut out = next;
        out.start_reg = first.start_reg;
        out.fitted_first = first.fitted_first;
        out.fit_steps = first.fit_steps;
        out
    } else {
        first
    };
    out.smoothing = Some(record);
    Ok(out)
}
