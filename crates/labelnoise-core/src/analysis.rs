//! Everything `labelnoise analyze` reports about one network on one data set: the fit,
//! reg (eq. 1) and its gradient, the spectrum γ, the projected gradient g_N and the
//! Theorem 2 verdict, the non-smooth points of reg, and where they apply the Theorem 1
//! shape report and the Theorem 3 unit classes.

use serde::Serialize;

use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::norm;
use crate::network::Network;
use crate::regularizer::Batch;
use crate::shape::{network_shape_report, ShapeOptions, ShapeReport};
use crate::stability::{verdict, NullSpace, Tolerances, Verdict};
use crate::units::{unit_report, UnitOptions, UnitReport};

/// Options of [`analyze`]; every field has a documented default.
#[derive(Clone, Debug, Default)]
pub struct AnalyzeOptions {
    /// Fit and stationarity tolerances of the verdict.
    pub tolerances: Tolerances,
    /// Options of the Theorem 1 shape report (also used for kinks on data points).
    pub shape: ShapeOptions,
    /// Options of the Theorem 3 unit classes.
    pub units: UnitOptions,
}

impl AnalyzeOptions {
    /// Checks every tolerance (finite, ≥ 0), naming the option, and returns the checked
    /// options that [`analyze_checked`] takes.
    pub fn check(&self) -> Result<ValidAnalyzeOptions> {
        self.tolerances.check()?;
        for (name, v) in [
            ("--jump-threshold", self.shape.jump_threshold),
            ("--kink-tol", self.shape.on_point_tol),
            ("--unit-tol", self.units.tol),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::parameter(
                    name,
                    format!("must be a finite number ≥ 0, got {v}"),
                ));
            }
        }
        Ok(ValidAnalyzeOptions(self.clone()))
    }
}

/// [`AnalyzeOptions`] that passed [`AnalyzeOptions::check`]: the only options
/// [`analyze_checked`] accepts (the unchecked → `check()` → checked pattern of
/// [`TrainConfig`](crate::train::TrainConfig)).
#[derive(Clone, Debug)]
pub struct ValidAnalyzeOptions(AnalyzeOptions);

impl std::ops::Deref for ValidAnalyzeOptions {
    type Target = AnalyzeOptions;
    fn deref(&self) -> &AnalyzeOptions {
        &self.0
    }
}

/// A live ReLU unit whose pre-activation is zero (within tolerance) at a data point:
/// reg is not differentiable there, so Theorem 2's smoothness assumption fails.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NonsmoothUnit {
    /// Hidden layer (0-based).
    pub layer: usize,
    /// Unit within the layer.
    pub unit: usize,
    /// Data point (index in the data as given).
    pub point: usize,
    /// The pre-activation z at that point.
    pub z: f64,
}

/// The result of [`analyze`]; its JSON form is the output of `labelnoise analyze --json`.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// The architecture, in words.
    pub model: String,
    /// Number of data points.
    pub n: usize,
    /// p, the number of trainable parameters.
    pub params: usize,
    /// (1/n) Σ_i (h(x_i) − y_i)².
    pub train_loss: f64,
    /// max_i |h(x_i) − y_i|.
    pub max_abs_residual: f64,
    /// reg(θ) = (1/n) Σ_i ||∇_θ h(x_i, θ)||² (paper eq. 1).
    pub reg: f64,
    /// ∇reg(θ), flat, θ order.
    pub reg_grad: Vec<f64>,
    /// ||∇reg||.
    pub reg_grad_norm: f64,
    /// ||g_N|| = ||P_N ∇reg||, the gradient of reg within the zero-error manifold.
    pub null_reg_grad_norm: f64,
    /// g_N itself, flat, θ order.
    pub null_reg_grad: Vec<f64>,
    /// Numerical rank of J.
    pub jacobian_rank: usize,
    /// The rank tolerance max(n, p) · ε · σ_max.
    pub rank_tolerance: f64,
    /// All min(n, p) singular values of J, descending.
    pub singular_values: Vec<f64>,
    /// γ: the nonzero eigenvalues of (1/n) JᵀJ, descending.
    pub gamma: Vec<f64>,
    /// The Theorem 2 verdict.
    pub verdict: Verdict,
    /// The tolerances used for the verdict.
    pub tolerances: Tolerances,
    /// Live ReLU units with a kink on a data point (empty if none).
    pub nonsmooth: Vec<NonsmoothUnit>,
    /// Theorem 1 shape report, for 1-D ReLU networks of any depth (hidden layers relu or
    /// identity, at least one relu): exact kinks from the region walk of
    /// [`crate::piecewise`] for deeper networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeReport>,
    /// Why there is no shape report for a network that would have one: the data do not
    /// allow it (fewer than two points, or an x value twice: convexity changes and
    /// co-linear triples are defined between distinct consecutive points).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape_not_applicable: Option<String>,
    /// Theorem 3 unit classes, for one-hidden-layer tanh/logistic networks on one point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<UnitReport>,
}

/// Analyzes `net` on `data`. Memory: Jᵀ (8·n·p bytes) plus a few vectors of length p.
///
/// Computes the fit ((1/n) Σ r_i² and max |r_i|), reg and ∇reg (paper eq. 1), the
/// spectrum γ of (1/n)JᵀJ (§2.2), g_N = P_N ∇reg and the Theorem 2 verdict, the
/// non-smooth points of reg, the Theorem 1 shape report and the Theorem 3 unit classes
/// (docs/conventions.md). Each part is checked where it is computed (see
/// [`crate::regularizer`], [`crate::stability`], [`crate::shape`], [`crate::units`]);
/// the assembly by `tests::analyze_reports_the_fit_and_the_projection` and, end to end,
/// by `cli/tests/analyze.rs::json_output_has_the_spec_keys`.
///
/// Checks `opts` first; a caller that analyzes many networks with the same options checks
/// them once and calls [`analyze_checked`].
pub fn analyze(net: &Network, data: &Dataset, opts: &AnalyzeOptions) -> Result<Analysis> {
    analyze_checked(net, data, &opts.check()?)
}

/// [`analyze`] with options already checked. Refuses (before allocating) an analysis
/// whose n x p Jacobian and its factorization cannot fit in memory.
pub fn analyze_checked(
    net: &Network,
    data: &Dataset,
    opts: &ValidAnalyzeOptions,
) -> Result<Analysis> {
    let (n, p) = (data.len() as u128, net.param_count() as u128);
    crate::memory::check_fits(
        "analyze",
        &format!("the analysis of {p} parameters on {n} points (the n x p Jacobian, its SVD)"),
        crate::memory::F64_BYTES * (3 * n * p + n * n + 10 * p),
    )?;
    let batch = Batch::new(net, data)?;
    if let Some(i) = batch.outputs().iter().position(|h| !h.is_finite()) {
        return Err(Error::parameter(
            "model",
            format!(
                "the network's output on data point {i} is not finite ({}): its weights overflow",
                batch.outputs()[i]
            ),
        ));
    }
    let n = data.len();
    let p = net.param_count();
    let residuals: Vec<f64> = batch
        .outputs()
        .iter()
        .zip(data.ys())
        .map(|(h, y)| h - y)
        .collect();
    let train_loss = residuals.iter().map(|r| r * r).sum::<f64>() / n as f64;
    let max_abs_residual = residuals.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let reg = batch.grad_norms_sq(net).iter().sum::<f64>() / n as f64;
    let reg_grad = batch.reg_gradient(net);
    // Outputs can be finite while the squares, the gradients or ∇reg overflow (weights
    // near the largest f64): refuse rather than report infinities and NaN.
    if !(train_loss.is_finite() && reg.is_finite() && reg_grad.iter().all(|v| v.is_finite())) {
        return Err(Error::parameter(
            "model",
            format!(
                "the loss, reg or its gradient overflows on the data (loss {train_loss}, reg {reg}): its weights are too large"
            ),
        ));
    }
    let (null_space, spectrum) =
        NullSpace::from_jacobian_transposed(batch.jacobian_transposed(net), p, n)?;
    let null_reg_grad = null_space.project_null_space(&reg_grad);
    drop(null_space);
    let reg_grad_norm = norm(&reg_grad);
    let null_reg_grad_norm = norm(&null_reg_grad);
    // The shape report's only errors named `data` are its preconditions on the data
    // (two or more points, distinct x); everything else in the analysis exists there.
    let (shape, shape_not_applicable) = match network_shape_report(net, data, &opts.shape) {
        Ok(shape) => (shape, None),
        Err(Error::Parameter { name, message }) if name == "data" => (None, Some(message)),
        Err(e) => return Err(e),
    };
    let units = unit_report(net, data, &opts.units)?;
    Ok(Analysis {
        model: net.describe(),
        n,
        params: p,
        train_loss,
        max_abs_residual,
        reg,
        reg_grad,
        reg_grad_norm,
        null_reg_grad_norm,
        null_reg_grad,
        jacobian_rank: spectrum.rank,
        rank_tolerance: spectrum.rank_tolerance,
        singular_values: spectrum.singular_values,
        gamma: spectrum.gamma,
        verdict: verdict(
            max_abs_residual,
            reg_grad_norm,
            null_reg_grad_norm,
            &opts.tolerances,
        ),
        tolerances: opts.tolerances,
        nonsmooth: nonsmooth_units(net, data, &batch, opts.shape.on_point_tol),
        shape,
        shape_not_applicable,
        units,
    })
}

/// Live ReLU units with z = 0 (within tolerance) at a data point.
///
/// A unit is live at a point when ∂h/∂a (its output's effect on h) is nonzero there;
/// for one hidden layer that is c_i ≠ 0. "z = 0 within tolerance": for 1-D inputs and one
/// hidden layer, the kink −b_i/a_i lies within `tol`·(x_max − x_min) of the point
/// (docs/conventions.md#nonsmooth); otherwise |z| ≤ `tol` · (||w_u|| ||a|| + |b_u|), the
/// size of the terms summed.
///
/// Checked by `tests::nonsmooth_units_are_live_kinks_on_data_points`.
pub fn nonsmooth_units(
    net: &Network,
    data: &Dataset,
    batch: &Batch,
    tol: f64,
) -> Vec<NonsmoothUnit> {
    let mut out = Vec::new();
    let hidden = net.hidden_layers();
    let one_d_shallow = net.input_dim() == 1 && hidden.len() == 1;
    let span = {
        let xs = data.xs();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        hi - lo
    };
    for (l, layer) in hidden.iter().enumerate() {
        if layer.activation != Activation::Relu {
            continue;
        }
        let a = batch.activations(l);
        let sens = batch.sensitivities(l + 1);
        for i in 0..data.len() {
            let input = a.col(i);
            for u in 0..layer.out_dim {
                if sens.col(i)[u] == 0.0 {
                    continue;
                }
                let w = layer.row(u);
                let b = layer.bias.as_ref().map_or(0.0, |b| b[u]);
                let z = crate::kernels::dot(w, input) + b;
                let bound = if one_d_shallow {
                    w[0].abs() * tol * span
                } else {
                    tol * (norm(w) * norm(input) + b.abs())
                };
                if z.abs() <= bound {
                    out.push(NonsmoothUnit {
                        layer: l,
                        unit: u,
                        point: i,
                        z,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Layer, Skip};

    /// f(x) = Σ_i c_i relu(a_i x + b_i) + s x, one hidden layer, no output bias.
    fn relu_net(a: &[f64], b: &[f64], c: &[f64], s: f64) -> Network {
        Network::new(
            1,
            vec![
                Layer {
                    in_dim: 1,
                    out_dim: a.len(),
                    weight: a.to_vec(),
                    bias: Some(b.to_vec()),
                    activation: Activation::Relu,
                    trainable: true,
                },
                Layer {
                    in_dim: a.len(),
                    out_dim: 1,
                    weight: c.to_vec(),
                    bias: None,
                    activation: Activation::Identity,
                    trainable: true,
                },
            ],
            Some(Skip {
                weight: vec![s],
                trainable: true,
            }),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn nonsmooth_units_are_live_kinks_on_data_points() {
        let xs = vec![-1.0, 0.0, 1.0, 2.0];
        let data = Dataset::new(1, xs, vec![0.0; 4], "test").unwrap();
        // Unit 0: kink at x = 1 (point 2), live (c = 2). Unit 1: kink at x = 0 (point 1)
        // but dead (c = 0). Unit 2: kink at x = 0.5, between points. Unit 3: kink at
        // x = 2 + 1e-12 · 2, within kink_tol · (x_max − x_min) = 3e-9 of point 3.
        let net = relu_net(
            &[1.0, 1.0, 1.0, -2.0],
            &[-1.0, 0.0, -0.5, 4.0 + 4e-12],
            &[2.0, 0.0, 1.0, 1.0],
            0.3,
        );
        let batch = Batch::new(&net, &data).unwrap();
        let found = nonsmooth_units(&net, &data, &batch, 1e-9);
        let at: Vec<(usize, usize)> = found.iter().map(|u| (u.unit, u.point)).collect();
        assert_eq!(at, vec![(0, 2), (3, 3)]);
        assert!(found.iter().all(|u| u.layer == 0 && u.z.abs() <= 1e-10));
        // With a tolerance of 0 only the exact kink remains.
        let exact = nonsmooth_units(&net, &data, &batch, 0.0);
        assert_eq!(exact.len(), 1);
        assert_eq!((exact[0].unit, exact[0].point, exact[0].z), (0, 2, 0.0));
        // analyze reports the same units.
        let a = analyze(&net, &data, &AnalyzeOptions::default()).unwrap();
        assert_eq!(a.nonsmooth, found);
    }

    #[test]
    fn analyze_reports_the_fit_and_the_projection() {
        let data = crate::builtin::dataset("fig1").unwrap();
        let net = crate::builtin::model("fig1-wiggly").unwrap();
        // Move the output bias by 0.01: every residual is 0.01.
        let mut theta = net.params();
        theta[net.slots()[1].bias.unwrap()] += 0.01;
        let shifted = net.with_params(&theta).unwrap();
        let a = analyze(&shifted, &data, &AnalyzeOptions::default()).unwrap();
        assert!((a.train_loss - 1e-4).abs() < 1e-15);
        assert!((a.max_abs_residual - 0.01).abs() < 1e-14);
        assert_eq!(a.verdict, Verdict::NotInterpolating);
        // g_N is ∇reg minus its component in the row space of J: J g_N = 0, and
        // ∇reg − g_N is a combination of the rows ∇h_i (orthogonal to g_N).
        let a = analyze(&net, &data, &AnalyzeOptions::default()).unwrap();
        let batch = Batch::new(&net, &data).unwrap();
        let p = net.param_count();
        let jt = batch.jacobian_transposed(&net);
        let scale = a.reg_grad_norm.max(1.0);
        for col in jt.chunks_exact(p) {
            let jg: f64 = col.iter().zip(&a.null_reg_grad).map(|(u, v)| u * v).sum();
            assert!(jg.abs() <= 1e-10 * scale, "J g_N = {jg}");
        }
        let row: Vec<f64> = a
            .reg_grad
            .iter()
            .zip(&a.null_reg_grad)
            .map(|(g, n)| g - n)
            .collect();
        let cross: f64 = row.iter().zip(&a.null_reg_grad).map(|(u, v)| u * v).sum();
        assert!(cross.abs() <= 1e-10 * scale * scale);
        assert!((norm(&a.null_reg_grad) - a.null_reg_grad_norm).abs() <= 1e-14 * scale);
        assert_eq!(a.verdict, Verdict::Repellent);
        assert_eq!(a.gamma.len(), a.jacobian_rank);
        assert!(a.nonsmooth.is_empty());
    }
}
