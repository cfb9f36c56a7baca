//! Exact derivatives of h(x, θ) in θ: the value, the gradient ∇_θ h by reverse mode,
//! and Hessian-vector products H v by forward-over-reverse (Pearlmutter's R-operator).
//! The p x p Hessian is never formed.
//!
//! Notation (one input x). Layers l = 0..L-1, the last one the output layer:
//! z_l = W_l a_l + b_l, a_{l+1} = φ_l(z_l), a_0 = x, h = z_{L-1} + s·x.
//! Reverse mode: δ_{L-1} = 1, g_l = W_lᵀ δ_l (= ∂h/∂a_l), δ_{l-1} = φ'(z_{l-1}) ⊙ g_l;
//! ∂h/∂W_l = δ_l a_lᵀ, ∂h/∂b_l = δ_l, ∂h/∂s = x.
//! R-operator along v = (V_l, v_l, v_s): R{a_0} = 0,
//! R{z_l} = V_l a_l + W_l R{a_l} + v_l, R{a_{l+1}} = φ'(z_l) ⊙ R{z_l};
//! R{δ_{L-1}} = 0, R{g_l} = V_lᵀ δ_l + W_lᵀ R{δ_l},
//! R{δ_{l-1}} = φ'(z_{l-1}) ⊙ R{g_l} + φ''(z_{l-1}) ⊙ g_l ⊙ R{z_{l-1}};
//! (H v)_{W_l} = R{δ_l} a_lᵀ + δ_l R{a_l}ᵀ, (H v)_{b_l} = R{δ_l}, (H v)_s = 0.
//! For relu, φ'(0) = 0 and φ'' = 0, so these are the exact derivatives wherever no
//! pre-activation is exactly zero.

use crate::kernels::{axpy, dot};
use crate::network::Network;

/// Buffers for the single-point kernels; allocate once per network, reuse for every
/// point and step (the kernels then allocate nothing).
#[derive(Clone, Debug)]
pub struct Workspace {
    a: Vec<Vec<f64>>,
    z: Vec<Vec<f64>>,
    d1: Vec<Vec<f64>>,
    d2: Vec<Vec<f64>>,
    delta: Vec<Vec<f64>>,
    g: Vec<Vec<f64>>,
    rz: Vec<Vec<f64>>,
    ra: Vec<Vec<f64>>,
    rdelta: Vec<Vec<f64>>,
    rg: Vec<f64>,
}

impl Workspace {
    /// Buffers sized for `net`.
    pub fn new(net: &Network) -> Self {
        let layers = net.layers();
        let mut a = vec![vec![0.0; net.input_dim()]];
        a.extend(layers.iter().map(|l| vec![0.0; l.out_dim]));
        let outs = |_: ()| {
            layers
                .iter()
                .map(|l| vec![0.0; l.out_dim])
                .collect::<Vec<_>>()
        };
        let ins = layers
            .iter()
            .map(|l| vec![0.0; l.in_dim])
            .collect::<Vec<_>>();
        Workspace {
            ra: a.clone(),
            a,
            z: outs(()),
            d1: outs(()),
            d2: outs(()),
            delta: outs(()),
            rz: outs(()),
            rdelta: outs(()),
            g: ins,
            rg: vec![0.0; net.max_width()],
        }
    }

    /// ∂h/∂z_l of the last backward pass (one value per unit of layer l).
    pub fn delta(&self, layer: usize) -> &[f64] {
        &self.delta[layer]
    }

    /// The activations a_l of the last forward pass (a_0 = x).
    pub fn activation(&self, layer: usize) -> &[f64] {
        &self.a[layer]
    }

    /// The pre-activations z_l of the last forward pass.
    pub fn preactivation(&self, layer: usize) -> &[f64] {
        &self.z[layer]
    }

    /// ∂h/∂a_l of the last backward pass (defined for l ≥ 1).
    pub fn output_sensitivity(&self, layer: usize) -> &[f64] {
        &self.g[layer]
    }
}

/// Forward pass: stores z_l, a_l, φ'(z_l), φ''(z_l) and returns h(x, θ), the model of
/// docs/conventions.md#model (the h of the paper's §2.1).
///
/// Checked against [`Network::eval`] by
/// `tests/derivatives.rs::forward_value_is_the_network_output`.
pub fn forward(net: &Network, x: &[f64], ws: &mut Workspace) -> f64 {
    ws.a[0].copy_from_slice(x);
    for (l, layer) in net.layers().iter().enumerate() {
        let (before, after) = ws.a.split_at_mut(l + 1);
        let input = &before[l];
        let out = &mut after[0];
        for o in 0..layer.out_dim {
            let z = dot(layer.row(o), input) + layer.bias.as_ref().map_or(0.0, |b| b[o]);
            let (v, d1, d2) = layer.activation.eval(z);
            ws.z[l][o] = z;
            out[o] = v;
            ws.d1[l][o] = d1;
            ws.d2[l][o] = d2;
        }
    }
    ws.a[net.layers().len()][0] + net.skip_term(x)
}

/// Reverse pass after [`forward`]: δ_l = ∂h/∂z_l and g_l = ∂h/∂a_l for every layer
/// (module documentation), with relu'(0) = 0.
///
/// Checked, through [`value_and_gradient`], by
/// `tests/derivatives.rs::gradient_matches_finite_differences`.
pub fn backward(net: &Network, ws: &mut Workspace) {
    let layers = net.layers();
    let last = layers.len() - 1;
    ws.delta[last][0] = 1.0;
    for l in (1..=last).rev() {
        let layer = &layers[l];
        let g = &mut ws.g[l];
        g.fill(0.0);
        for o in 0..layer.out_dim {
            axpy(ws.delta[l][o], layer.row(o), g);
        }
        let (lo, hi) = ws.delta.split_at_mut(l);
        let _ = hi;
        for ((d, &gj), &d1) in lo[l - 1].iter_mut().zip(g.iter()).zip(&ws.d1[l - 1]) {
            *d = gj * d1;
        }
    }
}

/// Writes ∇_θ h(x, θ) into `grad` (length p, θ order) and returns h(x, θ): the gradient
/// in the SGD step of paper eq. 3 and the vector whose squared norm eq. 1 averages.
///
/// Checked against central finite differences by
/// `tests/derivatives.rs::gradient_matches_finite_differences`, and at a relu kink
/// (relu'(0) = 0) by `tests/derivatives.rs::relu_derivative_at_the_kink_is_zero`.
pub fn value_and_gradient(net: &Network, x: &[f64], ws: &mut Workspace, grad: &mut [f64]) -> f64 {
    let h = forward(net, x, ws);
    backward(net, ws);
    write_gradient(net, ws, grad);
    h
}

/// Writes ∇_θ h from the buffers of the last [`forward`] and [`backward`]:
/// ∂h/∂W_l = δ_l a_lᵀ, ∂h/∂b_l = δ_l, ∂h/∂s = x, frozen blocks left out.
///
/// Checked by `tests/derivatives.rs::gradient_matches_finite_differences`.
pub fn write_gradient(net: &Network, ws: &Workspace, grad: &mut [f64]) {
    assert_eq!(
        grad.len(),
        net.param_count(),
        "gradient buffer has the wrong length"
    );
    for (l, (layer, slot)) in net.layers().iter().zip(net.slots()).enumerate() {
        if let Some(w) = slot.weight {
            let block = &mut grad[w..w + layer.weight.len()];
            for (o, row) in block.chunks_exact_mut(layer.in_dim).enumerate() {
                let d = ws.delta[l][o];
                for (r, &a) in row.iter_mut().zip(&ws.a[l]) {
                    *r = d * a;
                }
            }
        }
        if let Some(b) = slot.bias {
            grad[b..b + layer.out_dim].copy_from_slice(&ws.delta[l]);
        }
    }
    if let Some(s) = net.skip_slot() {
        grad[s..s + net.input_dim()].copy_from_slice(&ws.a[0]);
    }
}

/// Writes H(x, θ) v into `out` (the Hessian of h(x, ·) in θ times v; length p) and
/// returns h(x, θ). Exact, by the R-operator; costs about three gradient evaluations.
/// With v = ∇h(x_i) it gives the terms H_i ∇h_i of ∇reg = (2/n) Σ_i H_i ∇h_i (the
/// gradient of paper eq. 1, whose projection drives Lemma 6 and Theorem 2).
///
/// Checked against central finite differences of [`gradient`] by
/// `tests/derivatives.rs::hessian_vector_product_matches_finite_differences_of_the_gradient`.
pub fn hessian_vector_product(
    net: &Network,
    x: &[f64],
    v: &[f64],
    ws: &mut Workspace,
    out: &mut [f64],
) -> f64 {
    assert_eq!(v.len(), net.param_count(), "direction has the wrong length");
    assert_eq!(
        out.len(),
        net.param_count(),
        "output buffer has the wrong length"
    );
    let h = forward(net, x, ws);
    backward(net, ws);
    let layers = net.layers();
    let slots = net.slots();
    let last = layers.len() - 1;
    // R-forward.
    ws.ra[0].fill(0.0);
    for (l, (layer, slot)) in layers.iter().zip(slots).enumerate() {
        for o in 0..layer.out_dim {
            let mut rz = dot(layer.row(o), &ws.ra[l]);
            if let Some(w) = slot.weight {
                let vrow = &v[w + o * layer.in_dim..w + (o + 1) * layer.in_dim];
                rz += dot(vrow, &ws.a[l]);
            }
            if let Some(b) = slot.bias {
                rz += v[b + o];
            }
            ws.rz[l][o] = rz;
            ws.ra[l + 1][o] = ws.d1[l][o] * rz;
        }
    }
    // R-backward.
    ws.rdelta[last][0] = 0.0;
    for l in (1..=last).rev() {
        let layer = &layers[l];
        let rg = &mut ws.rg[..layer.in_dim];
        rg.fill(0.0);
        for o in 0..layer.out_dim {
            axpy(ws.rdelta[l][o], layer.row(o), rg);
            if let Some(w) = slots[l].weight {
                let vrow = &v[w + o * layer.in_dim..w + (o + 1) * layer.in_dim];
                axpy(ws.delta[l][o], vrow, rg);
            }
        }
        let (lo, _) = ws.rdelta.split_at_mut(l);
        for j in 0..layer.in_dim {
            lo[l - 1][j] = ws.d1[l - 1][j] * rg[j] + ws.d2[l - 1][j] * ws.g[l][j] * ws.rz[l - 1][j];
        }
    }
    // Collect H v.
    for (l, (layer, slot)) in layers.iter().zip(slots).enumerate() {
        if let Some(w) = slot.weight {
            let block = &mut out[w..w + layer.weight.len()];
            for (o, row) in block.chunks_exact_mut(layer.in_dim).enumerate() {
                let (rd, d) = (ws.rdelta[l][o], ws.delta[l][o]);
                for ((r, &a), &ra) in row.iter_mut().zip(&ws.a[l]).zip(&ws.ra[l]) {
                    *r = rd * a + d * ra;
                }
            }
        }
        if let Some(b) = slot.bias {
            out[b..b + layer.out_dim].copy_from_slice(&ws.rdelta[l]);
        }
    }
    if let Some(s) = net.skip_slot() {
        out[s..s + net.input_dim()].fill(0.0);
    }
    h
}

/// ∇_θ h(x, θ), allocating. See [`value_and_gradient`] for the allocation-free kernel.
///
/// Checked by `tests/derivatives.rs::gradient_matches_finite_differences`.
pub fn gradient(net: &Network, x: &[f64]) -> Vec<f64> {
    let mut ws = Workspace::new(net);
    let mut grad = vec![0.0; net.param_count()];
    value_and_gradient(net, x, &mut ws, &mut grad);
    grad
}

/// H(x, θ) v, allocating. See [`hessian_vector_product`] for the allocation-free kernel.
///
/// Checked by
/// `tests/derivatives.rs::hessian_vector_product_matches_finite_differences_of_the_gradient`.
pub fn hvp(net: &Network, x: &[f64], v: &[f64]) -> Vec<f64> {
    let mut ws = Workspace::new(net);
    let mut out = vec![0.0; net.param_count()];
    hessian_vector_product(net, x, v, &mut ws, &mut out);
    out
}
