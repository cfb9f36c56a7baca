//! The general SGD step of paper eq. 3 for any network, allocation-free.
//!
//! One step at sample (x_i, y_i) with noise Z: e = h(x_i, θ) − y_i − Z and
//! θ ← θ − η · 2e · ∇_θ h(x_i, θ) (docs/conventions.md#training; the loss Σ_i (h − y_i)²
//! has no 1/2 and no 1/n). Here g = (2η)·e and every trainable parameter moves by −g·∂h/∂θ_k.
//!
//! The step works on the flat θ directly. Forward: z_l = W_l a_l + b_l, a_{l+1} = φ_l(z_l);
//! backward: δ_{L−1} = 1, g_l = W_lᵀ δ_l, δ_{l−1} = φ'(z_{l−1}) ⊙ g_l; the gradient of W_l
//! is the rank-one δ_l a_lᵀ, of b_l it is δ_l, of the skip it is x. With batch size 1 the
//! update is applied in place during the backward sweep: row o of W_l is read once to
//! accumulate g_l += δ_l\[o\] · W_l\[o, :\] (old values) and written once with
//! W_l\[o, j\] − g·(δ_l\[o\]·a_l\[j\]). Every quantity is computed from θ before the step, so this
//! is exactly eq. 3. Per step that is two reads and one write of each weight, the minimum
//! for a step that is not fused with the next one (see [`super::fused`]).
//!
//! A network of one trainable hidden column layer (1-D input) feeding the output layer
//! runs the one-sweep kernels of `train::column` instead of the layer-by-layer
//! sweeps (forward w, b, c → h; update w, b, c in one pass), with the same arithmetic.
//!
//! Mini-batches (B > 1) and explicit regularization accumulate the update in a buffer
//! (all gradients at the same θ) and apply it at the end of the step:
//! θ ← θ − [(1/B) Σ_b g_b ∇h(x_{i_b}) + η λ ∇reg(θ)], ∇reg(θ) = (2/n) Σ_i H_i ∇h_i (paper
//! eq. 1), exactly, by the allocation-free kernel of `train::explicit`; with
//! `explicit_reg_sampled` the sum runs over the step's own samples instead,
//! (2/B) Σ_b H_{i_b} ∇h_{i_b}, an unbiased estimate of ∇reg from the same draws.
//!
//! Subnormal guard: on steps where it applies (see [`super::FLUSH_EVERY`]), every updated
//! parameter with |θ_k| < threshold is set to 0 in the same pass.

use crate::activation::Activation;
use crate::data::Dataset;
use pulp::Simd;

use crate::network::Network;

use super::explicit::RegKernel;
use super::kernel::{dot_simd, flush, flush_due, StepParams};
use super::noise::TrainRng;
pub use super::plan::SgdModel;
use super::plan::{ColumnRow, Src};

/// Buffers of [`sgd_step`] and the general path; allocate once, reuse every step.
#[derive(Clone, Debug)]
pub struct SgdWorkspace {
    a: Vec<Vec<f64>>,
    d1: Vec<Vec<f64>>,
    delta: Vec<Vec<f64>>,
    g: Vec<f64>,
    acc: Vec<f64>,
    /// Zeros standing for absent hidden biases in the column kernel.
    zeros: Vec<f64>,
    /// A copy of frozen output weights for the column kernel (never written).
    c_frozen: Vec<f64>,
}

impl SgdModel {
    /// Buffers sized for this model.
    pub fn workspace(&self) -> SgdWorkspace {
        let mut a = vec![vec![0.0; self.input_dim]];
        a.extend(self.layers.iter().map(|l| vec![0.0; l.out_dim]));
        let outs: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; l.out_dim]).collect();
        let width = self
            .layers
            .iter()
            .map(|l| l.in_dim.max(l.out_dim))
            .max()
            .unwrap_or(1);
        let (zeros, c_frozen) = match self.column_row {
            Some(cr) => (
                if cr.b.is_none() {
                    vec![0.0; cr.m]
                } else {
                    Vec::new()
                },
                match cr.c {
                    Src::Frozen(at) => self.frozen[at..at + cr.m].to_vec(),
                    Src::Theta(_) => Vec::new(),
                },
            ),
            None => (Vec::new(), Vec::new()),
        };
        SgdWorkspace {
            a,
            d1: outs.clone(),
            delta: outs,
            g: vec![0.0; width],
            acc: vec![0.0; self.params],
            zeros,
            c_frozen,
        }
    }
}

impl SgdModel {
    /// Forward pass at x: fills the workspace and returns h(x, θ).
    #[inline(always)]
    pub(crate) fn forward<S: Simd>(
        &self,
        simd: S,
        theta: &[f64],
        x: &[f64],
        ws: &mut SgdWorkspace,
    ) -> f64 {
        ws.a[0].copy_from_slice(x);
        if let Some(cr) = self.column_row {
            let w = &theta[cr.w..cr.w + cr.m];
            let b = match cr.b {
                Some(at) => &theta[at..at + cr.m],
                None => &ws.zeros[..],
            };
            let c = self.block(theta, cr.c, cr.m);
            let (phi, dphi) = (&mut ws.a[1], &mut ws.d1[0]);
            let sum = super::column::hidden_sum(simd, cr.act, w, b, c, x[0], phi, dphi);
            let out = sum + cr.out_bias.map_or(0.0, |src| self.block(theta, src, 1)[0]);
            let skip = match self.skip {
                Some(src) => dot_simd(simd, self.block(theta, src, 1), x),
                None => 0.0,
            };
            return out + skip;
        }
        self.forward_layers(simd, theta, x, ws)
    }

    /// The layer-by-layer forward pass: fills a_l and φ'(z_l) of every layer (what
    /// [`backward_accumulate`](Self::backward_accumulate) needs) and returns h(x, θ).
    #[inline(always)]
    fn forward_layers<S: Simd>(
        &self,
        simd: S,
        theta: &[f64],
        x: &[f64],
        ws: &mut SgdWorkspace,
    ) -> f64 {
        ws.a[0].copy_from_slice(x);
        for (l, layer) in self.layers.iter().enumerate() {
            let w = self.block(theta, layer.w, layer.in_dim * layer.out_dim);
            let b = layer.b.map(|src| self.block(theta, src, layer.out_dim));
            let (before, after) = ws.a.split_at_mut(l + 1);
            let input = &before[l];
            let out = &mut after[0];
            if layer.in_dim == 1 {
                // A column: a = φ(w x + b) in one vectorizable pass (dot of length 1 is w x).
                activate_column(layer.act, w, b, input[0], out, &mut ws.d1[l]);
            } else {
                for (o, (row, z)) in w.chunks_exact(layer.in_dim).zip(out.iter_mut()).enumerate() {
                    *z = dot_simd(simd, row, input) + b.map_or(0.0, |b| b[o]);
                }
                activate(layer.act, out, &mut ws.d1[l]);
            }
        }
        let skip = match self.skip {
            Some(src) => dot_simd(simd, self.block(theta, src, self.input_dim), x),
            None => 0.0,
        };
        ws.a[self.layers.len()][0] + skip
    }

    /// After [`forward`](Self::forward): θ ← θ − g ∇h in place (batch size 1), then the
    /// subnormal guard when `FLUSH`.
    #[inline(always)]
    pub(crate) fn backward_update<S: Simd, const FLUSH: bool>(
        &self,
        simd: S,
        theta: &mut [f64],
        ws: &mut SgdWorkspace,
        g: f64,
        threshold: f64,
    ) {
        if let Some(cr) = self.column_row {
            self.column_update::<S, FLUSH>(simd, cr, theta, ws, g, threshold);
            return;
        }
        let last = self.layers.len() - 1;
        ws.delta[last][0] = 1.0;
        for l in (0..=last).rev() {
            let layer = &self.layers[l];
            let (n_in, n_out) = (layer.in_dim, layer.out_dim);
            let gv = &mut ws.g[..n_in];
            if l > 0 {
                gv.fill(0.0);
            }
            let a = &ws.a[l];
            let delta = &ws.delta[l];
            match layer.w {
                Src::Theta(at) if !(l == 0 && n_in == 1) => {
                    let w = &mut theta[at..at + n_in * n_out];
                    for (row, &d) in w.chunks_exact_mut(n_in).zip(delta) {
                        if l > 0 {
                            for ((wj, gj), &aj) in row.iter_mut().zip(gv.iter_mut()).zip(a) {
                                *gj += d * *wj;
                                let v = *wj - g * (d * aj);
                                *wj = if FLUSH { flush(v, threshold) } else { v };
                            }
                        } else {
                            for (wj, &aj) in row.iter_mut().zip(a) {
                                let v = *wj - g * (d * aj);
                                *wj = if FLUSH { flush(v, threshold) } else { v };
                            }
                        }
                    }
                }
                Src::Theta(at) => {
                    // A column: one vectorizable pass.
                    let a0 = a[0];
                    for (wj, &d) in theta[at..at + n_out].iter_mut().zip(delta) {
                        let v = *wj - g * (d * a0);
                        *wj = if FLUSH { flush(v, threshold) } else { v };
                    }
                }
                Src::Frozen(at) => {
                    if l > 0 {
                        let w = &self.frozen[at..at + n_in * n_out];
                        for (row, &d) in w.chunks_exact(n_in).zip(delta) {
                            for (gj, &wj) in gv.iter_mut().zip(row) {
                                *gj += d * wj;
                            }
                        }
                    }
                }
            }
            if let Some(Src::Theta(at)) = layer.b {
                for (bj, &d) in theta[at..at + n_out].iter_mut().zip(delta) {
                    let v = *bj - g * d;
                    *bj = if FLUSH { flush(v, threshold) } else { v };
                }
            }
            if l == 1 && self.column_first {
                // The first layer is a trainable column (1-D input): δ_0 = g_1 ⊙ φ'(z_0)
                // and its update in one pass, without storing δ_0.
                let first = &self.layers[0];
                let Src::Theta(wat) = first.w else {
                    unreachable!("column_first implies a trainable first layer")
                };
                let x0 = ws.a[0][0];
                let d1 = &ws.d1[0];
                let n = first.out_dim;
                match first.b {
                    Some(Src::Theta(bat)) => {
                        let (wv, bv) = theta[wat..].split_at_mut(bat - wat);
                        for (((wj, bj), &gj), &f1) in
                            wv[..n].iter_mut().zip(&mut bv[..n]).zip(gv.iter()).zip(d1)
                        {
                            let d = gj * f1;
                            let v = *wj - g * (d * x0);
                            *wj = if FLUSH { flush(v, threshold) } else { v };
                            let v = *bj - g * d;
                            *bj = if FLUSH { flush(v, threshold) } else { v };
                        }
                    }
                    _ => {
                        for ((wj, &gj), &f1) in
                            theta[wat..wat + n].iter_mut().zip(gv.iter()).zip(d1)
                        {
                            let d = gj * f1;
                            let v = *wj - g * (d * x0);
                            *wj = if FLUSH { flush(v, threshold) } else { v };
                        }
                    }
                }
                break;
            }
            if l > 0 {
                let (lo, _) = ws.delta.split_at_mut(l);
                for ((dj, &gj), &f1) in lo[l - 1].iter_mut().zip(gv.iter()).zip(&ws.d1[l - 1]) {
                    *dj = gj * f1;
                }
            }
        }
        if let Some(Src::Theta(at)) = self.skip {
            for (s, &x) in theta[at..at + self.input_dim].iter_mut().zip(&ws.a[0]) {
                let v = *s - g * x;
                *s = if FLUSH { flush(v, threshold) } else { v };
            }
        }
    }

    /// [`backward_update`](Self::backward_update) for a column-then-output network: one
    /// sweep over the units ([`super::column::update`]), then the output bias and the skip.
    #[inline(always)]
    fn column_update<S: Simd, const FLUSH: bool>(
        &self,
        simd: S,
        cr: ColumnRow,
        theta: &mut [f64],
        ws: &mut SgdWorkspace,
        g: f64,
        threshold: f64,
    ) {
        // δ_out = 1: b_out ← b_out − g·1, s ← s − g·x.
        if let Some(Src::Theta(at)) = cr.out_bias {
            let v = theta[at] - g * 1.0;
            theta[at] = if FLUSH { flush(v, threshold) } else { v };
        }
        if let Some(Src::Theta(at)) = self.skip {
            let v = theta[at] - g * ws.a[0][0];
            theta[at] = if FLUSH { flush(v, threshold) } else { v };
        }
        let m = cr.m;
        let x0 = ws.a[0][0];
        let (phi, dphi) = (&ws.a[1][..], &ws.d1[0][..]);
        let (_, rest) = theta.split_at_mut(cr.w);
        let (w, rest) = rest.split_at_mut(m);
        let (b, rest, after_b) = match cr.b {
            Some(at) => {
                let (_, r) = rest.split_at_mut(at - cr.w - m);
                let (b, r) = r.split_at_mut(m);
                (b, r, at + m)
            }
            None => (&mut ws.zeros[..], rest, cr.w + m),
        };
        let c = match cr.c {
            Src::Theta(at) => &mut rest[at - after_b..at - after_b + m],
            Src::Frozen(_) => &mut ws.c_frozen[..],
        };
        use super::column::update;
        let act = cr.act;
        match (cr.b.is_some(), matches!(cr.c, Src::Theta(_))) {
            (true, true) => {
                update::<S, FLUSH, true, true>(simd, act, w, b, c, phi, dphi, x0, g, threshold)
            }
            (true, false) => {
                update::<S, FLUSH, true, false>(simd, act, w, b, c, phi, dphi, x0, g, threshold)
            }
            (false, true) => {
                update::<S, FLUSH, false, true>(simd, act, w, b, c, phi, dphi, x0, g, threshold)
            }
            (false, false) => {
                update::<S, FLUSH, false, false>(simd, act, w, b, c, phi, dphi, x0, g, threshold)
            }
        }
    }

    /// After [`forward`](Self::forward): acc ← acc + g ∇h (θ unchanged).
    #[inline(always)]
    fn backward_accumulate(&self, theta: &[f64], ws: &mut SgdWorkspace, g: f64) {
        let last = self.layers.len() - 1;
        ws.delta[last][0] = 1.0;
        for l in (0..=last).rev() {
            let layer = &self.layers[l];
            let (n_in, n_out) = (layer.in_dim, layer.out_dim);
            let w = self.block(theta, layer.w, n_in * n_out);
            let gv = &mut ws.g[..n_in];
            if l > 0 {
                gv.fill(0.0);
                for (row, &d) in w.chunks_exact(n_in).zip(&ws.delta[l]) {
                    for (gj, &wj) in gv.iter_mut().zip(row) {
                        *gj += d * wj;
                    }
                }
            }
            if let Src::Theta(at) = layer.w {
                let acc = &mut ws.acc[at..at + n_in * n_out];
                for (row, &d) in acc.chunks_exact_mut(n_in).zip(&ws.delta[l]) {
                    for (r, &aj) in row.iter_mut().zip(&ws.a[l]) {
                        *r += g * (d * aj);
                    }
                }
            }
            if let Some(Src::Theta(at)) = layer.b {
                for (r, &d) in ws.acc[at..at + n_out].iter_mut().zip(&ws.delta[l]) {
                    *r += g * d;
                }
            }
            if l > 0 {
                let (lo, _) = ws.delta.split_at_mut(l);
                for ((dj, &gj), &f1) in lo[l - 1].iter_mut().zip(gv.iter()).zip(&ws.d1[l - 1]) {
                    *dj = gj * f1;
                }
            }
        }
        if let Some(Src::Theta(at)) = self.skip {
            for (r, &x) in ws.acc[at..at + self.input_dim].iter_mut().zip(&ws.a[0]) {
                *r += g * x;
            }
        }
    }
}

/// a ← φ(z), d1 ← φ'(z) in place, with the activation's branch outside the loop.
#[inline(always)]
fn activate(act: Activation, out: &mut [f64], d1: &mut [f64]) {
    #[inline(always)]
    fn each(out: &mut [f64], d1: &mut [f64], f: impl Fn(f64) -> (f64, f64, f64)) {
        for (v, d) in out.iter_mut().zip(d1.iter_mut()) {
            let (a, f1, _) = f(*v);
            *v = a;
            *d = f1;
        }
    }
    match act {
        Activation::Relu => each(out, d1, |z| Activation::Relu.eval(z)),
        Activation::Tanh => each(out, d1, super::tanh::tanh_eval),
        Activation::Logistic => each(out, d1, super::tanh::logistic_eval),
        Activation::Identity => each(out, d1, |z| Activation::Identity.eval(z)),
    }
}

/// a ← φ(w x + b), d1 ← φ'(w x + b) for a layer of input width 1, in one pass.
#[inline(always)]
fn activate_column(
    act: Activation,
    w: &[f64],
    b: Option<&[f64]>,
    x: f64,
    out: &mut [f64],
    d1: &mut [f64],
) {
    #[inline(always)]
    fn each(
        w: &[f64],
        b: Option<&[f64]>,
        x: f64,
        out: &mut [f64],
        d1: &mut [f64],
        f: impl Fn(f64) -> (f64, f64, f64),
    ) {
        match b {
            Some(b) => {
                for (((o, d), &wo), &bo) in out.iter_mut().zip(d1.iter_mut()).zip(w).zip(b) {
                    let (v, f1, _) = f(wo * x + bo);
                    *o = v;
                    *d = f1;
                }
            }
            None => {
                for ((o, d), &wo) in out.iter_mut().zip(d1.iter_mut()).zip(w) {
                    let (v, f1, _) = f(wo * x + 0.0);
                    *o = v;
                    *d = f1;
                }
            }
        }
    }
    match act {
        Activation::Relu => each(w, b, x, out, d1, |z| Activation::Relu.eval(z)),
        Activation::Tanh => each(w, b, x, out, d1, super::tanh::tanh_eval),
        Activation::Logistic => each(w, b, x, out, d1, super::tanh::logistic_eval),
        Activation::Identity => each(w, b, x, out, d1, |z| Activation::Identity.eval(z)),
    }
}

/// One SGD step of eq. 3 at a given sample: e = h(x, θ) − y − z, θ ← θ − η·2e·∇_θ h(x, θ),
/// then |θ_k| < `flush_threshold` → 0 (pass 0 to disable). Returns e. Allocation-free.
///
/// `theta` must have length [`SgdModel::param_count`] and `x` length d (a panic
/// otherwise is a bug in the caller).
#[allow(clippy::too_many_arguments)]
pub fn sgd_step(
    model: &SgdModel,
    theta: &mut [f64],
    x: &[f64],
    y: f64,
    z: f64,
    lr: f64,
    flush_threshold: f64,
    ws: &mut SgdWorkspace,
) -> f64 {
    assert_eq!(theta.len(), model.params, "θ has the wrong length");
    let h = model.forward(pulp::Scalar::new(), theta, x, ws);
    let e = (h - y) - z;
    model.backward_update::<_, true>(
        pulp::Scalar::new(),
        theta,
        ws,
        (2.0 * lr) * e,
        flush_threshold,
    );
    e
}

/// The state of the general path: the plan, buffers, and for explicit regularization a
/// network to evaluate ∇reg.
#[derive(Clone, Debug)]
pub(crate) struct General {
    model: SgdModel,
    ws: SgdWorkspace,
    reg: Option<RegKernel>,
    /// The points of the explicit term: 0..n (exact), or the step's samples (sampled);
    /// sized once, so steps do not allocate.
    points: Vec<usize>,
}

impl General {
    pub(crate) fn new(net: &Network, explicit_reg: f64) -> Self {
        let model = SgdModel::new(net);
        let ws = model.workspace();
        let reg = (explicit_reg > 0.0).then(|| RegKernel::new(&model));
        General {
            model,
            ws,
            reg,
            points: Vec::new(),
        }
    }

    /// Runs steps `start+1 ..= end` (counting steps done). Returns `Err(k)` when the
    /// residual of the step after `k` steps is not finite (θ_k has diverged).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run<S: Simd>(
        &mut self,
        simd: S,
        theta: &mut [f64],
        data: &Dataset,
        rng: &mut TrainRng,
        sp: &StepParams,
        start: u64,
        end: u64,
    ) -> Result<(), u64> {
        let two_lr = 2.0 * sp.lr;
        let simple = sp.batch == 1 && self.reg.is_none();
        for done in start..end {
            let do_flush = flush_due(done + 1, sp.threshold);
            if simple {
                let (i, z) = sp.sampler.draw(rng);
                let h = self.model.forward(simd, theta, data.x(i), &mut self.ws);
                let e = (h - data.y(i)) - z;
                if !e.is_finite() {
                    return Err(done);
                }
                let g = two_lr * e;
                if do_flush {
                    self.model.backward_update::<S, true>(
                        simd,
                        theta,
                        &mut self.ws,
                        g,
                        sp.threshold,
                    );
                } else {
                    self.model.backward_update::<S, false>(
                        simd,
                        theta,
                        &mut self.ws,
                        g,
                        sp.threshold,
                    );
                }
                continue;
            }
            self.ws.acc.fill(0.0);
            let inv_b = 1.0 / sp.batch as f64;
            if sp.explicit_sampled {
                self.points.clear();
            } else if self.points.len() != data.len() {
                self.points = (0..data.len()).collect();
            }
            for _ in 0..sp.batch {
                let (i, z) = sp.sampler.draw(rng);
                if sp.explicit_sampled {
                    self.points.push(i);
                }
                let h = self
                    .model
                    .forward_layers(simd, theta, data.x(i), &mut self.ws);
                let e = (h - data.y(i)) - z;
                if !e.is_finite() {
                    return Err(done);
                }
                self.model
                    .backward_accumulate(theta, &mut self.ws, (two_lr * e) * inv_b);
            }
            if let Some(reg) = &mut self.reg {
                // η λ ∇reg(θ) = η λ (2/n) Σ_i H_i ∇h_i at the θ of this step; sampled:
                // η λ (2/B) Σ_b H_{i_b} ∇h_{i_b} over the step's own samples.
                let scale = sp.lr * sp.explicit_reg * 2.0 / self.points.len() as f64;
                reg.accumulate(
                    simd,
                    &self.model,
                    theta,
                    data,
                    &self.points,
                    scale,
                    &mut self.ws.acc,
                );
            }
            for (t, &u) in theta.iter_mut().zip(&self.ws.acc) {
                let v = *t - u;
                *t = if do_flush { flush(v, sp.threshold) } else { v };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derivatives;
    use crate::network::{Layer, Skip};

    fn net(act: Activation, frozen_hidden: bool) -> Network {
        Network::new(
            2,
            vec![
                Layer {
                    in_dim: 2,
                    out_dim: 3,
                    weight: vec![0.3, -0.2, 0.5, 0.1, -0.4, 0.7],
                    bias: Some(vec![0.1, -0.05, 0.2]),
                    activation: act,
                    trainable: !frozen_hidden,
                },
                Layer {
                    in_dim: 3,
                    out_dim: 2,
                    weight: vec![0.6, -0.3, 0.2, -0.1, 0.8, 0.4],
                    bias: None,
                    activation: act,
                    trainable: true,
                },
                Layer {
                    in_dim: 2,
                    out_dim: 1,
                    weight: vec![1.1, -0.7],
                    bias: Some(vec![0.05]),
                    activation: Activation::Identity,
                    trainable: true,
                },
            ],
            Some(Skip {
                weight: vec![0.3, -0.6],
                trainable: true,
            }),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn step_matches_the_gradient_of_derivatives() {
        for act in Activation::ALL {
            for frozen in [false, true] {
                let net = net(act, frozen);
                let model = SgdModel::new(&net);
                let mut ws = model.workspace();
                let mut theta = net.params();
                let x = [0.4, -0.9];
                let grad = derivatives::gradient(&net, &x);
                let h = net.eval(&x);
                let (y, z, lr) = (0.3, -0.2, 0.01);
                let e = sgd_step(&model, &mut theta, &x, y, z, lr, 0.0, &mut ws);
                assert!((e - (h - y - z)).abs() < 1e-15);
                for (k, (t, (t0, g))) in
                    theta.iter().zip(net.params().iter().zip(&grad)).enumerate()
                {
                    let want = t0 - lr * 2.0 * e * g;
                    assert!(
                        (t - want).abs() < 1e-15,
                        "{act} frozen={frozen} θ_{k}: {t} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn step_on_one_dimensional_inputs_matches_derivatives() {
        // Width 11: one chunk of eight units and a tail, in the column kernel.
        let m = 11;
        let unit = |k: usize, s: f64| ((k as f64 + 1.0) * s).sin();
        for act in Activation::ALL {
            for hidden_bias in [true, false] {
                for frozen_out in [false, true] {
                    let net = Network::new(
                        1,
                        vec![
                            Layer {
                                in_dim: 1,
                                out_dim: m,
                                weight: (0..m).map(|k| unit(k, 1.3)).collect(),
                                bias: hidden_bias.then(|| (0..m).map(|k| unit(k, 0.7)).collect()),
                                activation: act,
                                trainable: true,
                            },
                            Layer {
                                in_dim: m,
                                out_dim: 1,
                                weight: (0..m).map(|k| unit(k, 2.1)).collect(),
                                bias: frozen_out.then(|| vec![0.05]),
                                activation: Activation::Identity,
                                trainable: !frozen_out,
                            },
                        ],
                        hidden_bias.then_some(Skip {
                            weight: vec![0.25],
                            trainable: !frozen_out,
                        }),
                        "test",
                    )
                    .unwrap();
                    let model = SgdModel::new(&net);
                    assert!(model.column_first && model.column_row.is_some());
                    let mut ws = model.workspace();
                    let mut theta = net.params();
                    let grad = derivatives::gradient(&net, &[0.7]);
                    let e = sgd_step(&model, &mut theta, &[0.7], 0.2, 0.1, 0.05, 0.0, &mut ws);
                    assert!((e - (net.eval(&[0.7]) - 0.3)).abs() < 1e-14);
                    for (k, (t, (t0, g))) in
                        theta.iter().zip(net.params().iter().zip(&grad)).enumerate()
                    {
                        assert!(
                            (t - (t0 - 0.1 * e * g)).abs() < 1e-14,
                            "{act} bias={hidden_bias} frozen output={frozen_out} θ_{k}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn accumulate_matches_in_place_update() {
        let net = net(Activation::Tanh, false);
        let model = SgdModel::new(&net);
        let mut ws = model.workspace();
        let theta0 = net.params();
        let x = [0.4, -0.9];
        let mut theta = theta0.clone();
        model.forward(pulp::Scalar::new(), &theta, &x, &mut ws);
        model.backward_update::<_, false>(pulp::Scalar::new(), &mut theta, &mut ws, 0.3, 0.0);
        ws.acc.fill(0.0);
        model.forward_layers(pulp::Scalar::new(), &theta0, &x, &mut ws);
        model.backward_accumulate(&theta0, &mut ws, 0.3);
        for k in 0..theta.len() {
            assert!((theta[k] - (theta0[k] - ws.acc[k])).abs() < 1e-15);
        }
    }

    #[test]
    fn flush_zeroes_tiny_values_only() {
        assert_eq!(flush(1e-160, 1e-150), 0.0);
        assert_eq!(flush(-1e-160, 1e-150), 0.0);
        assert_eq!(flush(1e-140, 1e-150), 1e-140);
        assert_eq!(flush(1e-300, 0.0), 1e-300);
        assert!(flush(f64::NAN, 1e-150).is_nan());
    }
}
