//! Metrics recorded at log-spaced steps, off the hot loop.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::Result;
use crate::kernels::norm;
use crate::network::Network;
use crate::regularizer::Batch;
use crate::shape::{network_shape_report, ShapeOptions};
use crate::stability::NullSpace;

/// What a training run records at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Steps done.
    pub step: u64,
    /// (1/n) Σ_i (h(x_i, θ) − y_i)², on the clean labels.
    pub train_loss: f64,
    /// reg(θ) = (1/n) Σ_i ||∇_θ h(x_i, θ)||² (paper eq. 1).
    pub reg: f64,
    /// ||P_N ∇reg||: the gradient of reg along the null space of J (Theorem 2).
    pub null_reg_grad_norm: f64,
    /// ||θ||.
    pub param_norm: f64,
    /// ∫_{x_1}^{x_n} sqrt(1 + f'(x)²) dx, for 1-D relu networks of any depth
    /// (hidden layers relu or identity; exact, from their linear pieces).
    pub curve_length: Option<f64>,
    /// Convexity changes on (x_1, x_n) (Theorem 1), same networks.
    pub convexity_changes: Option<usize>,
    /// Number of kinks of f on the real line (merged), same networks.
    pub kinks: Option<usize>,
}

impl Metrics {
    /// Whether the training loss and reg are finite (false for a diverging run).
    pub fn finite(&self) -> bool {
        self.train_loss.is_finite() && self.reg.is_finite()
    }
}

/// The metrics of `net` on `data` after `step` steps. Costs one batched forward and
/// backward pass, ∇reg, and a QR factorization of Jᵀ (p x n): O(n p + n² p).
///
/// A network whose training loss or reg is not finite (a diverging run) gets those two,
/// ||θ||, and NaN / `None` for the rest ([`Metrics::finite`] is then false).
///
/// The quantities: the clean training loss (1/n) Σ_i (h(x_i) − y_i)² (the loss of paper
/// eq. 2 divided by n), reg (eq. 1), ||g_N|| = ||P_N ∇reg|| (Theorem 2), ||θ||, and for
/// 1-D relu networks the Theorem 1 shape (curve length as in the paper's Figure 2,
/// convexity changes, kinks), all as in docs/formats.md#metricscsv. Checked against a
/// hand-computed loss by `tests/train.rs::metrics_report_loss_reg_and_shape` and against
/// [`crate::analysis::analyze`] by `tests::metrics_agree_with_analyze`.
pub fn metrics(net: &Network, data: &Dataset, step: u64) -> Result<Metrics> {
    let batch = Batch::new(net, data)?;
    let n = data.len();
    let p = net.param_count();
    let train_loss = batch
        .outputs()
        .iter()
        .zip(data.ys())
        .map(|(h, y)| (h - y) * (h - y))
        .sum::<f64>()
        / n as f64;
    let reg = batch.grad_norms_sq(net).iter().sum::<f64>() / n as f64;
    let param_norm = norm(&net.params());
    if !(train_loss.is_finite() && reg.is_finite()) {
        // θ is finite but so large that the loss or reg overflows: the run is diverging
        // (the trainer only sees non-finite residuals and θ). The rest is not defined;
        // the caller decides what to do (`train` stops the run there).
        return Ok(Metrics {
            step,
            train_loss,
            reg,
            null_reg_grad_norm: f64::NAN,
            param_norm,
            curve_length: None,
            convexity_changes: None,
            kinks: None,
        });
    }
    let reg_grad = batch.reg_gradient(net);
    let (null_space, _) =
        NullSpace::from_jacobian_transposed(batch.jacobian_transposed(net), p, n)?;
    let null_reg_grad_norm = norm(&null_space.project_null_space(&reg_grad));
    // The shape report needs at least two distinct x values; without them (or for other
    // networks, e.g. tanh) these metrics are simply not defined.
    let shape = network_shape_report(net, data, &ShapeOptions::default())
        .ok()
        .flatten();
    Ok(Metrics {
        step,
        train_loss,
        reg,
        null_reg_grad_norm,
        param_norm,
        curve_length: shape.as_ref().map(|s| s.curve_length),
        convexity_changes: shape.as_ref().map(|s| s.convexity_changes),
        kinks: shape.as_ref().map(|s| s.kinks.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyze, AnalyzeOptions};
    use crate::builtin;

    #[test]
    fn metrics_agree_with_analyze() {
        let data = builtin::dataset("fig1").unwrap();
        for name in ["fig1-minimal", "fig1-wiggly"] {
            let net = builtin::model(name).unwrap();
            let m = metrics(&net, &data, 3).unwrap();
            let a = analyze(&net, &data, &AnalyzeOptions::default()).unwrap();
            let shape = a.shape.as_ref().unwrap();
            assert_eq!(m.step, 3);
            assert!(m.finite());
            assert_eq!(m.train_loss, a.train_loss);
            assert_eq!(m.reg, a.reg);
            assert_eq!(m.null_reg_grad_norm, a.null_reg_grad_norm);
            let theta = net.params();
            let norm_sq: f64 = theta.iter().map(|t| t * t).sum();
            assert!((m.param_norm - norm_sq.sqrt()).abs() <= 1e-14 * norm_sq.sqrt());
            assert_eq!(m.curve_length, Some(shape.curve_length));
            assert_eq!(m.convexity_changes, Some(shape.convexity_changes));
            assert_eq!(m.kinks, Some(shape.kinks.len()));
        }
        // fig1-minimal is non-repellent, fig1-wiggly repellent: ||g_N|| tells them apart.
        let g = |name| {
            metrics(&builtin::model(name).unwrap(), &data, 0)
                .unwrap()
                .null_reg_grad_norm
        };
        assert!(g("fig1-minimal") < 1e-10 && g("fig1-wiggly") > 1.0);
    }

    #[test]
    fn overflowing_metrics_are_not_finite() {
        // Output weights of 1e200: h and reg overflow while θ stays finite.
        let data = builtin::dataset("fig1").unwrap();
        let mut net = builtin::model("fig1-minimal").unwrap();
        let theta: Vec<f64> = net.params().iter().map(|t| t * 1e200).collect();
        net.set_params(&theta).unwrap();
        let m = metrics(&net, &data, 9).unwrap();
        assert!(!m.finite());
        assert!(m.null_reg_grad_norm.is_nan() && m.curve_length.is_none());
    }
}
