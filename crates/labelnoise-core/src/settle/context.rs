//! The fixed context of a [`super::settle`] run (network template, data, options, the
//! scales of kink distances and of the retraction) and one evaluated point θ with
//! everything the descent needs there (passes, reg, the fit).

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{dot, norm};
use crate::network::Network;
use crate::regularizer::Batch;
use crate::train::CancelToken;

use super::options::ValidSettleOptions;

/// Everything about one point θ that the descent needs.
pub(super) struct Point {
    pub(super) theta: Vec<f64>,
    pub(super) net: Network,
    pub(super) batch: Batch,
    pub(super) reg: f64,
    pub(super) max_abs_residual: f64,
}

/// The fixed context of a run.
pub(super) struct Ctx<'a> {
    pub(super) template: &'a Network,
    pub(super) data: &'a Dataset,
    pub(super) opts: &'a ValidSettleOptions,
    /// x_n − x_1 for 1-D data (kink distances are relative to it), else 0.
    pub(super) span: f64,
    /// Whether distances to kinks are measured along x (1-D, one hidden layer).
    pub(super) one_d_shallow: bool,
    /// The retraction's target for max |r|.
    pub(super) floor: f64,
    /// Stops the initial fit and the descent early.
    pub(super) cancel: &'a CancelToken,
}

impl<'a> Ctx<'a> {
    /// The context of a run from `net` on `data`.
    pub(super) fn new(
        net: &'a Network,
        data: &'a Dataset,
        opts: &'a ValidSettleOptions,
        cancel: &'a CancelToken,
    ) -> Self {
        let one_d_shallow = net.input_dim() == 1 && net.hidden_layers().len() == 1;
        let span = if net.input_dim() == 1 {
            let lo = data.xs().iter().copied().fold(f64::INFINITY, f64::min);
            let hi = data.xs().iter().copied().fold(f64::NEG_INFINITY, f64::max);
            hi - lo
        } else {
            0.0
        };
        let y_scale = data.ys().iter().fold(1.0f64, |m, y| m.max(y.abs()));
        Ctx {
            template: net,
            data,
            opts,
            span,
            one_d_shallow,
            floor: opts.retract_tol * y_scale,
            cancel,
        }
    }

    /// The network, its passes, reg and the fit at θ; `None` if θ or an output is not
    /// finite (a trial that diverged).
    pub(super) fn evaluate(&self, theta: Vec<f64>) -> Result<Option<Point>> {
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
}

/// The error of a point that was finite and, re-evaluated, is not: a bug.
pub(super) fn internal() -> Error {
    Error::Linalg("settle: a point that was finite became non-finite".into())
}

/// The first trial step length t of a line search along −g from θ: the Barzilai–Borwein
/// step s·s / s·y (s = θ − θ_prev, y = g − g_prev) when the previous accepted step gives
/// one with s·y > 0, else `fallback` (for the exact descent, twice the last accepted
/// step), else 0.1 ||θ|| / ||g||; never longer than 0.25 ||θ|| / ||g|| (||θ|| taken as
/// at least 1). A gradient far smaller than θ (weights near the largest f64) makes that
/// infinite, and halving infinity never ends the search (found by the `structured` fuzz
/// target): the largest finite step is returned instead, which halving does end.
pub(super) fn first_trial_step(
    theta: &[f64],
    g: &[f64],
    previous: Option<&(Vec<f64>, Vec<f64>)>,
    fallback: Option<f64>,
) -> f64 {
    let theta_norm = norm(theta).max(1.0);
    let g_norm = norm(g);
    let bb = previous.and_then(|(theta0, g0)| {
        let s: Vec<f64> = theta.iter().zip(theta0).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g.iter().zip(g0).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        (sy > 0.0).then(|| dot(&s, &s) / sy)
    });
    let t = bb
        .or(fallback)
        .unwrap_or(0.1 * theta_norm / g_norm)
        .min(0.25 * theta_norm / g_norm);
    if t.is_finite() {
        t
    } else {
        f64::MAX
    }
}
