//! The implicit regularizer of paper eq. 1, its gradient, and the Jacobian J, computed
//! for all n training points at once.
//!
//! reg(θ) = (1/n) Σ_i ||∇_θ h(x_i, θ)||², ∇reg(θ) = (2/n) Σ_i H_i ∇_θ h(x_i, θ).
//!
//! Every quantity of the single-point kernels in [`crate::derivatives`] becomes a matrix
//! with one column per point, so each layer costs a few matrix products with n columns
//! (faer's matmul) instead of n matrix-vector products that each re-read W.
//!
//! ∇reg uses the structure of the direction v_i = ∇h_i: its weight block for layer l is
//! the rank-one matrix δ_l a_lᵀ (point i's own values), so in the R-operator of
//! [`crate::derivatives`] the terms V_l a_l = δ_l ||a_l||² and V_lᵀ δ_l = a_l ||δ_l||² need
//! no pass over the parameters. Only W R{a}, Wᵀ R{δ} and the final outer products
//! (H_i v_i)_{W_l} = R{δ_l} a_lᵀ + δ_l R{a_l}ᵀ remain, and the sum over i of those outer
//! products is again one matrix product. Memory: O(Σ widths · n) besides the output.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par};

use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;

/// A dense column-major matrix with one column per data point.
#[derive(Clone, Debug)]
pub struct Columns {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Columns {
    fn zeros(rows: usize, cols: usize) -> Self {
        Columns {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Number of rows (units).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Column `i` (the values for data point i).
    #[inline]
    pub fn col(&self, i: usize) -> &[f64] {
        &self.data[i * self.rows..(i + 1) * self.rows]
    }

    fn view(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.data, self.rows, self.cols)
    }

    fn view_mut(&mut self) -> MatMut<'_, f64> {
        MatMut::from_column_major_slice_mut(&mut self.data, self.rows, self.cols)
    }
}

fn weight_view(w: &[f64], rows: usize, cols: usize) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(w, rows, cols)
}

/// The forward and backward pass of a network over every point of a data set: for
/// layer l, the input activations a_l, pre-activations z_l, φ'(z_l), φ''(z_l),
/// δ_l = ∂h/∂z_l and g_l = ∂h/∂a_l, each with one column per point.
#[derive(Clone, Debug)]
pub struct Batch {
    n: usize,
    a: Vec<Columns>,
    d1: Vec<Columns>,
    d2: Vec<Columns>,
    delta: Vec<Columns>,
    g: Vec<Columns>,
    outputs: Vec<f64>,
}

/// Checks that the network and the data set fit together.
pub fn check_compatible(net: &Network, data: &Dataset) -> Result<()> {
    if net.input_dim() != data.dim() {
        return Err(Error::Mismatch {
            message: format!(
                "the model takes {}-dimensional inputs but the data are {}-dimensional",
                net.input_dim(),
                data.dim()
            ),
        });
    }
    Ok(())
}

/// φ(z + b), φ'(z + b), φ''(z + b) of every pre-activation of a layer (column-major,
/// `out_dim` rows, `bias` per row), with the activation's match taken once per layer
/// rather than per entry.
fn activate(
    act: Activation,
    z: &[f64],
    bias: Option<&[f64]>,
    out_dim: usize,
    out: [&mut [f64]; 3],
) {
    #[inline(always)]
    fn fill(
        f: impl Fn(f64) -> (f64, f64, f64),
        z: &[f64],
        bias: Option<&[f64]>,
        out_dim: usize,
        [v, d1, d2]: [&mut [f64]; 3],
    ) {
        let cols = z
            .chunks_exact(out_dim)
            .zip(v.chunks_exact_mut(out_dim))
            .zip(d1.chunks_exact_mut(out_dim))
            .zip(d2.chunks_exact_mut(out_dim));
        for (((z, v), d1), d2) in cols {
            for o in 0..out_dim {
                let (a, b, c) = f(z[o] + bias.map_or(0.0, |b| b[o]));
                v[o] = a;
                d1[o] = b;
                d2[o] = c;
            }
        }
    }
    match act {
        Activation::Relu => fill(|z| Activation::Relu.eval(z), z, bias, out_dim, out),
        Activation::Tanh => fill(|z| Activation::Tanh.eval(z), z, bias, out_dim, out),
        Activation::Logistic => fill(|z| Activation::Logistic.eval(z), z, bias, out_dim, out),
        Activation::Identity => fill(|z| Activation::Identity.eval(z), z, bias, out_dim, out),
    }
}

impl Batch {
    /// Runs the forward and backward passes of `net` on every point of `data`: h(x_i, θ)
    /// and the per-point δ_l, g_l from which ∇h_i, J, reg and ∇reg follow.
    ///
    /// Checked by `tests/derivatives.rs::forward_value_is_the_network_output` (outputs)
    /// and `::gradient_matches_finite_differences` (per-point gradients).
    pub fn new(net: &Network, data: &Dataset) -> Result<Self> {
        check_compatible(net, data)?;
        let n = data.len();
        let layers = net.layers();
        let mut a = Vec::with_capacity(layers.len() + 1);
        let mut x = Columns::zeros(net.input_dim(), n);
        x.data.copy_from_slice(data.xs());
        a.push(x);
        let (mut d1, mut d2) = (Vec::new(), Vec::new());
        for (l, layer) in layers.iter().enumerate() {
            let mut z = Columns::zeros(layer.out_dim, n);
            matmul(
                z.view_mut(),
                Accum::Replace,
                weight_view(&layer.weight, layer.out_dim, layer.in_dim),
                a[l].view(),
                1.0,
                Par::Seq,
            );
            let mut act = Columns::zeros(layer.out_dim, n);
            let mut e1 = Columns::zeros(layer.out_dim, n);
            let mut e2 = Columns::zeros(layer.out_dim, n);
            activate(
                layer.activation,
                &z.data,
                layer.bias.as_deref(),
                layer.out_dim,
                [&mut act.data, &mut e1.data, &mut e2.data],
            );
            a.push(act);
            d1.push(e1);
            d2.push(e2);
        }
        let last = layers.len() - 1;
        let outputs: Vec<f64> = (0..n)
            .map(|i| a[last + 1].data[i] + net.skip_term(data.x(i)))
            .collect();
        a.pop();
        // Backward: δ_{L-1} = 1, g_l = W_lᵀ δ_l, δ_{l-1} = φ'(z_{l-1}) ⊙ g_l.
        let mut delta: Vec<Columns> = layers
            .iter()
            .map(|l| Columns::zeros(l.out_dim, n))
            .collect();
        let mut g: Vec<Columns> = layers.iter().map(|l| Columns::zeros(l.in_dim, n)).collect();
        delta[last].data.fill(1.0);
        for l in (1..=last).rev() {
            let layer = &layers[l];
            matmul(
                g[l].view_mut(),
                Accum::Replace,
                weight_view(&layer.weight, layer.out_dim, layer.in_dim).transpose(),
                delta[l].view(),
                1.0,
                Par::Seq,
            );
            let (lo, _) = delta.split_at_mut(l);
            for ((d, &gv), &f1) in lo[l - 1]
                .data
                .iter_mut()
                .zip(&g[l].data)
                .zip(&d1[l - 1].data)
            {
                *d = gv * f1;
            }
        }
        Ok(Batch {
            n,
            a,
            d1,
            d2,
            delta,
            g,
            outputs,
        })
    }

    /// n, the number of points.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false (a data set has at least one point).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// h(x_i, θ) for every point.
    pub fn outputs(&self) -> &[f64] {
        &self.outputs
    }

    /// The input activations a_l of layer l (a_0 = x), one column per point.
    pub fn activations(&self, layer: usize) -> &Columns {
        &self.a[layer]
    }

    /// δ_l = ∂h/∂z_l, one column per point.
    pub fn deltas(&self, layer: usize) -> &Columns {
        &self.delta[layer]
    }

    /// ∂h/∂a_l (defined for l ≥ 1), one column per point.
    pub fn sensitivities(&self, layer: usize) -> &Columns {
        &self.g[layer]
    }

    /// ||∇_θ h(x_i, θ)||² for every point, in closed form:
    /// Σ_{trainable l} ||δ_l||² (||a_l||² + [l has a bias]) + [skip trainable] ||x_i||²,
    /// the summands of paper eq. 1.
    ///
    /// Checked against the squared norm of [`crate::derivatives::gradient`] by
    /// `tests/derivatives.rs::jacobian_columns_are_the_point_gradients`.
    pub fn grad_norms_sq(&self, net: &Network) -> Vec<f64> {
        (0..self.n)
            .map(|i| {
                let mut s = 0.0;
                for (l, slot) in net.slots().iter().enumerate() {
                    if slot.weight.is_some() {
                        let bias = if slot.bias.is_some() { 1.0 } else { 0.0 };
                        s += crate::kernels::norm_sq(self.delta[l].col(i))
                            * (crate::kernels::norm_sq(self.a[l].col(i)) + bias);
                    }
                }
                if net.skip_slot().is_some() {
                    s += crate::kernels::norm_sq(self.a[0].col(i));
                }
                s
            })
            .collect()
    }

    /// Writes ∇_θ h(x_i, θ) (θ order) into `out`, which has length p.
    ///
    /// Checked by `tests/derivatives.rs::gradient_matches_finite_differences`.
    pub fn write_gradient(&self, net: &Network, i: usize, out: &mut [f64]) {
        assert_eq!(
            out.len(),
            net.param_count(),
            "gradient buffer has the wrong length"
        );
        for (l, (layer, slot)) in net.layers().iter().zip(net.slots()).enumerate() {
            let delta = self.delta[l].col(i);
            let a = self.a[l].col(i);
            if let Some(w) = slot.weight {
                let block = &mut out[w..w + layer.weight.len()];
                for (row, &d) in block.chunks_exact_mut(layer.in_dim).zip(delta) {
                    for (r, &av) in row.iter_mut().zip(a) {
                        *r = d * av;
                    }
                }
            }
            if let Some(b) = slot.bias {
                out[b..b + layer.out_dim].copy_from_slice(delta);
            }
        }
        if let Some(s) = net.skip_slot() {
            out[s..s + net.input_dim()].copy_from_slice(self.a[0].col(i));
        }
    }

    /// Jᵀ, the p x n matrix whose column i is ∇_θ h(x_i, θ), column-major (p·n values):
    /// the transpose of the Jacobian J of Theorem 2 (docs/conventions.md#jacobian).
    ///
    /// Checked by `tests/derivatives.rs::jacobian_columns_are_the_point_gradients`.
    pub fn jacobian_transposed(&self, net: &Network) -> Vec<f64> {
        let p = net.param_count();
        let mut jt = vec![0.0; p * self.n];
        if p > 0 {
            for (i, col) in jt.chunks_exact_mut(p).enumerate() {
                self.write_gradient(net, i, col);
            }
        }
        jt
    }

    /// ∇reg(θ) = (2/n) Σ_i H_i ∇h_i, exactly (see the module documentation): the gradient
    /// of the implicit regularizer of paper eq. 1, whose projection g_N decides Theorem 2
    /// and drives the drift of Lemma 6.
    ///
    /// Checked against central finite differences of [`reg`] and against n
    /// Hessian-vector products by
    /// `tests/derivatives.rs::reg_gradient_matches_finite_differences_and_hessian_vector_products`;
    /// zero when only the output layer is trainable (h linear in θ) by
    /// `tests/paper.rs::only_output_layer_trainable_gives_zero_reg_gradient`.
    pub fn reg_gradient(&self, net: &Network) -> Vec<f64> {
        let layers = net.layers();
        let slots = net.slots();
        let n = self.n;
        let last = layers.len() - 1;
        let mut grad = vec![0.0; net.param_count()];
        // R-forward: R{a_0} = 0, R{z_l} = W_l R{a_l} + [trainable] δ_l (||a_l||² + [bias]).
        let mut ra: Vec<Columns> = Vec::with_capacity(layers.len());
        let mut rz: Vec<Columns> = Vec::with_capacity(layers.len());
        ra.push(Columns::zeros(net.input_dim(), n));
        for (l, (layer, slot)) in layers.iter().zip(slots).enumerate() {
            let mut z = Columns::zeros(layer.out_dim, n);
            if l > 0 {
                matmul(
                    z.view_mut(),
                    Accum::Replace,
                    weight_view(&layer.weight, layer.out_dim, layer.in_dim),
                    ra[l].view(),
                    1.0,
                    Par::Seq,
                );
            }
            if slot.weight.is_some() {
                let bias = if slot.bias.is_some() { 1.0 } else { 0.0 };
                for i in 0..n {
                    let scale = crate::kernels::norm_sq(self.a[l].col(i)) + bias;
                    let zc = &mut z.data[i * layer.out_dim..(i + 1) * layer.out_dim];
                    crate::kernels::axpy(scale, self.delta[l].col(i), zc);
                }
            }
            let mut next = Columns::zeros(layer.out_dim, n);
            for ((r, &zv), &f1) in next.data.iter_mut().zip(&z.data).zip(&self.d1[l].data) {
                *r = f1 * zv;
            }
            rz.push(z);
            ra.push(next);
        }
        // R-backward: R{δ_{L-1}} = 0, R{g_l} = W_lᵀ R{δ_l} + [trainable] a_l ||δ_l||²,
        // R{δ_{l-1}} = φ'(z_{l-1}) ⊙ R{g_l} + φ''(z_{l-1}) ⊙ g_l ⊙ R{z_{l-1}}.
        let mut rdelta: Vec<Columns> = layers
            .iter()
            .map(|l| Columns::zeros(l.out_dim, n))
            .collect();
        for l in (1..=last).rev() {
            let layer = &layers[l];
            let mut rg = Columns::zeros(layer.in_dim, n);
            matmul(
                rg.view_mut(),
                Accum::Replace,
                weight_view(&layer.weight, layer.out_dim, layer.in_dim).transpose(),
                rdelta[l].view(),
                1.0,
                Par::Seq,
            );
            if slots[l].weight.is_some() {
                for i in 0..n {
                    let scale = crate::kernels::norm_sq(self.delta[l].col(i));
                    let gc = &mut rg.data[i * layer.in_dim..(i + 1) * layer.in_dim];
                    crate::kernels::axpy(scale, self.a[l].col(i), gc);
                }
            }
            let (lo, _) = rdelta.split_at_mut(l);
            let target = &mut lo[l - 1].data;
            let (f1, f2) = (&self.d1[l - 1].data, &self.d2[l - 1].data);
            let (gv, rzv) = (&self.g[l].data, &rz[l - 1].data);
            for k in 0..target.len() {
                target[k] = f1[k] * rg.data[k] + f2[k] * gv[k] * rzv[k];
            }
        }
        // (2/n) Σ_i: W_l block = R{δ_l} a_lᵀ + δ_l R{a_l}ᵀ, b_l block = R{δ_l}.
        let scale = 2.0 / n as f64;
        for (l, (layer, slot)) in layers.iter().zip(slots).enumerate() {
            if let Some(w) = slot.weight {
                let mut block = MatMut::from_row_major_slice_mut(
                    &mut grad[w..w + layer.weight.len()],
                    layer.out_dim,
                    layer.in_dim,
                );
                matmul(
                    block.rb_mut(),
                    Accum::Replace,
                    rdelta[l].view(),
                    self.a[l].view().transpose(),
                    scale,
                    Par::Seq,
                );
                matmul(
                    block,
                    Accum::Add,
                    self.delta[l].view(),
                    ra[l].view().transpose(),
                    scale,
                    Par::Seq,
                );
            }
            if let Some(b) = slot.bias {
                for i in 0..n {
                    crate::kernels::axpy(scale, rdelta[l].col(i), &mut grad[b..b + layer.out_dim]);
                }
            }
        }
        grad
    }
}

/// reg(θ) = (1/n) Σ_i ||∇_θ h(x_i, θ)||² (paper eq. 1).
///
/// Checked against the mean squared norm of [`crate::derivatives::gradient`] by
/// `tests/derivatives.rs::reg_is_the_mean_squared_gradient_norm`, and against the closed
/// form of the Theorem 1 network, (1 + x²) + Σ_{i: z_i > 0} [z_i² + c_i²(1 + x²)] per
/// point x (the paper's proof of Proposition 4.1), by
/// `tests/paper.rs::proposition_4_1_regularizer_formula`.
pub fn reg(net: &Network, data: &Dataset) -> Result<f64> {
    let batch = Batch::new(net, data)?;
    Ok(mean(&batch.grad_norms_sq(net)))
}

/// (reg(θ), ∇reg(θ)): paper eq. 1 and its gradient (2/n) Σ_i H_i ∇h_i.
///
/// Checked by
/// `tests/derivatives.rs::reg_gradient_matches_finite_differences_and_hessian_vector_products`.
pub fn reg_and_gradient(net: &Network, data: &Dataset) -> Result<(f64, Vec<f64>)> {
    let batch = Batch::new(net, data)?;
    Ok((mean(&batch.grad_norms_sq(net)), batch.reg_gradient(net)))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}
