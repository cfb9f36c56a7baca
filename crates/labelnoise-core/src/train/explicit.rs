//! The explicit-regularization term of a step: ∇reg(θ) = (2/n) Σ_i H_i ∇h_i (paper eq. 1,
//! [`crate::regularizer`]), exactly, for any network of the general path, allocation-free.
//!
//! For each training point the kernel runs forward, backward, R-forward and R-backward
//! along v_i = ∇h_i on the flat θ (frozen blocks from the plan of [`super::sgd`]), in the
//! notation of [`crate::derivatives`]. The direction is never formed: its weight block of
//! layer l is δ_l a_lᵀ, so V_l a_l = δ_l ||a_l||² and V_lᵀ δ_l = a_l ||δ_l||², and with
//! R{a_0} = 0 and R{δ_{L−1}} = 0:
//!
//! R{z_l} = W_l R{a_l} + [trainable] δ_l (||a_l||² + [bias]), R{a_{l+1}} = φ'(z_l) R{z_l};
//! R{g_l} = W_lᵀ R{δ_l} + [trainable] a_l ||δ_l||²,
//! R{δ_{l−1}} = φ'(z_{l−1}) R{g_l} + φ''(z_{l−1}) g_l R{z_{l−1}};
//! (H v)_{W_l} = R{δ_l} a_lᵀ + δ_l R{a_l}ᵀ, (H v)_{b_l} = R{δ_l}, (H v)_skip = 0.
//!
//! Per point that is four sweeps over the weights (W a, Wᵀ δ, W R{a}, Wᵀ R{δ}; the first
//! layer's W R{a} and the last layer's Wᵀ R{δ} vanish) and one accumulation into the
//! step's update buffer, without forming ∇h_i or H_i ∇h_i in θ-sized buffers. Layers of
//! input width 1 (columns) and output width 1 (rows) run as element-wise loops.
//!
//! A network of one trainable hidden column layer feeding the output layer (the paper's
//! 1-D networks, the general path's [`super::column`] shape) takes one vectorized sweep
//! over the units per point instead ([`column_point`]): with m = 32 and n = 12 the whole
//! term costs about 0.3 µs, against 12–22 µs for n calls of
//! [`crate::derivatives::hessian_vector_product`].
//!
//! Relu has φ'(0) = 0 and φ'' = 0 (docs/conventions.md#model); tanh and logistic use the
//! training functions of [`super::tanh`] (within 3 ulps of the C library's, which
//! [`crate::regularizer`] uses). The sum over points is in a different order than
//! [`crate::regularizer`]'s, so the two agree to rounding, not to the bit.

use pulp::Simd;

use crate::activation::Activation;
use crate::data::Dataset;

use super::kernel::dot_simd;
use super::plan::{ColumnRow, SgdModel, Src};

/// Buffers of [`RegKernel::accumulate`], sized for one model.
#[derive(Clone, Debug)]
pub(crate) struct RegKernel {
    /// a_l, l = 0..=L (a_0 = x).
    a: Vec<Vec<f64>>,
    /// φ'(z_l), φ''(z_l).
    d1: Vec<Vec<f64>>,
    d2: Vec<Vec<f64>>,
    /// δ_l = ∂h/∂z_l.
    delta: Vec<Vec<f64>>,
    /// g_l = W_lᵀ δ_l (l ≥ 1; g_0 unused).
    g: Vec<Vec<f64>>,
    /// R{z_l}.
    rz: Vec<Vec<f64>>,
    /// R{a_l}, l = 0..=L.
    ra: Vec<Vec<f64>>,
    /// R{δ_l}.
    rdelta: Vec<Vec<f64>>,
    /// R{g_l} of the layer in progress.
    rg: Vec<f64>,
    /// The one-sweep kernel for a column-then-output network ([`column_point`]).
    column: Option<ColumnRow>,
    /// For that kernel: zeros for absent hidden biases, a copy of frozen output weights,
    /// and scratch rows standing for blocks that are not accumulated.
    zeros: Vec<f64>,
    c_frozen: Vec<f64>,
    scratch_b: Vec<f64>,
    scratch_c: Vec<f64>,
}

impl RegKernel {
    pub(crate) fn new(model: &SgdModel) -> Self {
        let layers = model.plan();
        let mut a = vec![vec![0.0; model.input_dim()]];
        a.extend(layers.iter().map(|l| vec![0.0; l.out_dim]));
        let outs: Vec<Vec<f64>> = layers.iter().map(|l| vec![0.0; l.out_dim]).collect();
        let ins: Vec<Vec<f64>> = layers.iter().map(|l| vec![0.0; l.in_dim]).collect();
        let width = layers.iter().map(|l| l.in_dim).max().unwrap_or(1);
        let column = model.column_row();
        let m = column.map_or(0, |cr| cr.m);
        let c_frozen = match column {
            Some(ColumnRow {
                c: src @ Src::Frozen(_),
                ..
            }) => model.block(&[], src, m).to_vec(),
            _ => Vec::new(),
        };
        RegKernel {
            column,
            zeros: vec![0.0; m],
            c_frozen,
            scratch_b: vec![0.0; m],
            scratch_c: vec![0.0; m],
            ra: a.clone(),
            a,
            d1: outs.clone(),
            d2: outs.clone(),
            delta: outs.clone(),
            g: ins,
            rz: outs.clone(),
            rdelta: outs,
            rg: vec![0.0; width],
        }
    }

    /// acc ← acc + scale · Σ_i H_i ∇h_i over the points `points` of `data` (all of them
    /// for the exact ∇reg; a step's own samples for the sampled estimate), at θ.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn accumulate<S: Simd>(
        &mut self,
        simd: S,
        model: &SgdModel,
        theta: &[f64],
        data: &Dataset,
        points: &[usize],
        scale: f64,
        acc: &mut [f64],
    ) {
        if let Some(cr) = self.column {
            let (b_tr, c_tr) = (cr.b.is_some(), matches!(cr.c, Src::Theta(_)));
            let args = (cr, theta, data, points, scale);
            match (b_tr, c_tr) {
                (true, true) => self.column_all::<true, true>(args, acc),
                (true, false) => self.column_all::<true, false>(args, acc),
                (false, true) => self.column_all::<false, true>(args, acc),
                (false, false) => self.column_all::<false, false>(args, acc),
            }
            return;
        }
        for &i in points {
            self.point(simd, model, theta, data.x(i), scale, acc);
        }
    }

    /// [`accumulate`](Self::accumulate) for a column-then-output network: one sweep over
    /// the units per point ([`column_point`]).
    #[inline(always)]
    fn column_all<const BIAS: bool, const TRAIN_C: bool>(
        &mut self,
        (cr, theta, data, points, scale): (ColumnRow, &[f64], &Dataset, &[usize], f64),
        acc: &mut [f64],
    ) {
        let m = cr.m;
        let w = &theta[cr.w..cr.w + m];
        let b = match cr.b {
            Some(at) => &theta[at..at + m],
            None => &self.zeros[..],
        };
        let c = match cr.c {
            Src::Theta(at) => &theta[at..at + m],
            Src::Frozen(_) => &self.c_frozen[..],
        };
        // Disjoint accumulators, w < b < c in θ.
        let (_, rest) = acc.split_at_mut(cr.w);
        let (acc_w, rest) = rest.split_at_mut(m);
        let (acc_b, rest, after_b) = match cr.b {
            Some(at) => {
                let (_, r) = rest.split_at_mut(at - cr.w - m);
                let (ab, r) = r.split_at_mut(m);
                (ab, r, at + m)
            }
            None => (&mut self.scratch_b[..], rest, cr.w + m),
        };
        let acc_c = match cr.c {
            Src::Theta(at) => &mut rest[at - after_b..at - after_b + m],
            Src::Frozen(_) => &mut self.scratch_c[..],
        };
        let bias0 = if BIAS { 1.0 } else { 0.0 };
        for &i in points {
            let x = data.x(i)[0];
            let args = (w, b, c, x, bias0, scale);
            match cr.act {
                Activation::Relu => column_point::<BIAS, TRAIN_C>(args, acc_w, acc_b, acc_c, |z| {
                    Activation::Relu.eval(z)
                }),
                Activation::Tanh => {
                    column_point::<BIAS, TRAIN_C>(args, acc_w, acc_b, acc_c, super::tanh::tanh_eval)
                }
                Activation::Logistic => column_point::<BIAS, TRAIN_C>(
                    args,
                    acc_w,
                    acc_b,
                    acc_c,
                    super::tanh::logistic_eval,
                ),
                Activation::Identity => {
                    column_point::<BIAS, TRAIN_C>(args, acc_w, acc_b, acc_c, |z| {
                        Activation::Identity.eval(z)
                    })
                }
            }
        }
    }

    /// acc ← acc + scale · H(x) ∇h(x).
    #[inline(always)]
    fn point<S: Simd>(
        &mut self,
        simd: S,
        model: &SgdModel,
        theta: &[f64],
        x: &[f64],
        scale: f64,
        acc: &mut [f64],
    ) {
        let layers = model.plan();
        let last = layers.len() - 1;
        // Forward: z_l = W_l a_l + b_l, a_{l+1} = φ(z_l), with φ', φ''.
        self.a[0].copy_from_slice(x);
        for (l, layer) in layers.iter().enumerate() {
            let w = model.block(theta, layer.w, layer.in_dim * layer.out_dim);
            let b = layer.b.map(|src| model.block(theta, src, layer.out_dim));
            let (before, after) = self.a.split_at_mut(l + 1);
            let (input, out) = (&before[l], &mut after[0]);
            if layer.in_dim == 1 {
                let x0 = input[0];
                match b {
                    Some(b) => {
                        for ((o, &wo), &bo) in out.iter_mut().zip(w).zip(b) {
                            *o = wo * x0 + bo;
                        }
                    }
                    None => {
                        for (o, &wo) in out.iter_mut().zip(w) {
                            *o = wo * x0;
                        }
                    }
                }
            } else {
                for (o, (row, z)) in w.chunks_exact(layer.in_dim).zip(out.iter_mut()).enumerate() {
                    *z = dot_simd(simd, row, input) + b.map_or(0.0, |b| b[o]);
                }
            }
            activate2(layer.act, out, &mut self.d1[l], &mut self.d2[l]);
        }
        // Backward: δ_{L−1} = 1, g_l = W_lᵀ δ_l, δ_{l−1} = φ'(z_{l−1}) g_l.
        self.delta[last][0] = 1.0;
        for l in (1..=last).rev() {
            let layer = &layers[l];
            let w = model.block(theta, layer.w, layer.in_dim * layer.out_dim);
            let g = &mut self.g[l];
            transpose_times(w, &self.delta[l], g);
            let (lo, _) = self.delta.split_at_mut(l);
            for ((d, &gj), &f1) in lo[l - 1].iter_mut().zip(g.iter()).zip(&self.d1[l - 1]) {
                *d = gj * f1;
            }
        }
        // R-forward (R{z_{L−1}} and R{a_L} are not needed).
        self.ra[0].fill(0.0);
        for (l, layer) in layers.iter().enumerate().take(last) {
            let trainable = matches!(layer.w, Src::Theta(_));
            let rz = &mut self.rz[l];
            if l > 0 {
                let w = model.block(theta, layer.w, layer.in_dim * layer.out_dim);
                let ra = &self.ra[l];
                if layer.out_dim == 1 {
                    rz[0] = dot_simd(simd, w, ra);
                } else {
                    for (row, r) in w.chunks_exact(layer.in_dim).zip(rz.iter_mut()) {
                        *r = dot_simd(simd, row, ra);
                    }
                }
            } else {
                rz.fill(0.0);
            }
            if trainable {
                let bias = if layer.b.is_some() { 1.0 } else { 0.0 };
                let k = dot_simd(simd, &self.a[l], &self.a[l]) + bias;
                for (r, &d) in rz.iter_mut().zip(&self.delta[l]) {
                    *r += k * d;
                }
            }
            for ((r, &z), &f1) in self.ra[l + 1].iter_mut().zip(rz.iter()).zip(&self.d1[l]) {
                *r = f1 * z;
            }
        }
        // R-backward.
        self.rdelta[last].fill(0.0);
        for l in (1..=last).rev() {
            let layer = &layers[l];
            let rg = &mut self.rg[..layer.in_dim];
            if l < last {
                let w = model.block(theta, layer.w, layer.in_dim * layer.out_dim);
                transpose_times(w, &self.rdelta[l], rg);
            } else {
                rg.fill(0.0);
            }
            if matches!(layer.w, Src::Theta(_)) {
                let k = dot_simd(simd, &self.delta[l], &self.delta[l]);
                for (r, &a) in rg.iter_mut().zip(&self.a[l]) {
                    *r += k * a;
                }
            }
            let (lo, _) = self.rdelta.split_at_mut(l);
            for ((((rd, &r), &f1), &f2), (&gj, &rzj)) in lo[l - 1]
                .iter_mut()
                .zip(rg.iter())
                .zip(&self.d1[l - 1])
                .zip(&self.d2[l - 1])
                .zip(self.g[l].iter().zip(&self.rz[l - 1]))
            {
                *rd = f1 * r + f2 * gj * rzj;
            }
        }
        // acc += scale · H v: W_l += R{δ_l} a_lᵀ + δ_l R{a_l}ᵀ, b_l += R{δ_l}.
        for (l, layer) in layers.iter().enumerate() {
            let Src::Theta(at) = layer.w else { continue };
            let (n_in, n_out) = (layer.in_dim, layer.out_dim);
            let block = &mut acc[at..at + n_in * n_out];
            let (rd, d, a, ra) = (&self.rdelta[l], &self.delta[l], &self.a[l], &self.ra[l]);
            if l == 0 {
                // R{a_0} = 0.
                if n_in == 1 {
                    let a0 = scale * a[0];
                    for (r, &rdo) in block.iter_mut().zip(rd) {
                        *r += a0 * rdo;
                    }
                } else {
                    for (row, &rdo) in block.chunks_exact_mut(n_in).zip(rd) {
                        let k = scale * rdo;
                        for (r, &aj) in row.iter_mut().zip(a) {
                            *r += k * aj;
                        }
                    }
                }
            } else if l == last {
                // R{δ_{L−1}} = 0, one row.
                let k = scale * d[0];
                for (r, &raj) in block.iter_mut().zip(ra) {
                    *r += k * raj;
                }
            } else {
                for ((row, &rdo), &dlo) in block.chunks_exact_mut(n_in).zip(rd).zip(d) {
                    let (k1, k2) = (scale * rdo, scale * dlo);
                    for ((r, &aj), &raj) in row.iter_mut().zip(a).zip(ra) {
                        *r += k1 * aj + k2 * raj;
                    }
                }
            }
            if let Some(Src::Theta(bat)) = layer.b {
                for (r, &rdo) in acc[bat..bat + n_out].iter_mut().zip(rd) {
                    *r += scale * rdo;
                }
            }
        }
    }
}

/// out ← Wᵀ v for a row-major W with `out.len()` columns.
#[inline(always)]
fn transpose_times(w: &[f64], v: &[f64], out: &mut [f64]) {
    let n_in = out.len();
    if v.len() == 1 {
        let k = v[0];
        for (o, &wj) in out.iter_mut().zip(w) {
            *o = k * wj;
        }
        return;
    }
    out.fill(0.0);
    if n_in == 1 {
        out[0] = crate::kernels::dot(w, v);
        return;
    }
    for (row, &d) in w.chunks_exact(n_in).zip(v) {
        for (o, &wj) in out.iter_mut().zip(row) {
            *o += d * wj;
        }
    }
}

/// z ← φ(z), d1 ← φ'(z), d2 ← φ''(z), with the activation's branch outside the loop.
#[inline(always)]
fn activate2(act: Activation, out: &mut [f64], d1: &mut [f64], d2: &mut [f64]) {
    #[inline(always)]
    fn each(out: &mut [f64], d1: &mut [f64], d2: &mut [f64], f: impl Fn(f64) -> (f64, f64, f64)) {
        for ((v, p), q) in out.iter_mut().zip(d1.iter_mut()).zip(d2.iter_mut()) {
            let (a, f1, f2) = f(*v);
            *v = a;
            *p = f1;
            *q = f2;
        }
    }
    match act {
        Activation::Relu => each(out, d1, d2, |z| Activation::Relu.eval(z)),
        Activation::Tanh => each(out, d1, d2, super::tanh::tanh_eval),
        Activation::Logistic => each(out, d1, d2, super::tanh::logistic_eval),
        Activation::Identity => each(out, d1, d2, |z| Activation::Identity.eval(z)),
    }
}

/// One point of ∇reg for h(x) = Σ_j c_j φ(w_j x + b_j) + b_out + s x: with δ_out = 1,
/// g_1 = c, δ_0 = φ' c, R{z_0} = δ_0 (x² + [bias]), R{a_1} = φ' R{z_0}, R{g_1} = [c
/// trainable] a_1, R{δ_0} = φ' R{g_1} + φ'' c R{z_0}, R{δ_out} = 0; so
/// w += s R{δ_0} x, b += s R{δ_0}, c += s R{a_1}, and nothing for b_out and the skip.
#[inline(always)]
fn column_point<const BIAS: bool, const TRAIN_C: bool>(
    (w, b, c, x, bias0, scale): (&[f64], &[f64], &[f64], f64, f64, f64),
    acc_w: &mut [f64],
    acc_b: &mut [f64],
    acc_c: &mut [f64],
    f: impl Fn(f64) -> (f64, f64, f64),
) {
    let m = w.len();
    let (b, c, acc_w, acc_b, acc_c) = (
        &b[..m],
        &c[..m],
        &mut acc_w[..m],
        &mut acc_b[..m],
        &mut acc_c[..m],
    );
    let k0 = x * x + bias0;
    let sx = scale * x;
    for j in 0..m {
        let cj = c[j];
        let (v, f1, f2) = f(w[j] * x + b[j]);
        let rz0 = (f1 * cj) * k0;
        let rg = if TRAIN_C { v } else { 0.0 };
        let rd0 = f1 * rg + f2 * cj * rz0;
        acc_w[j] += sx * rd0;
        if BIAS {
            acc_b[j] += scale * rd0;
        }
        if TRAIN_C {
            acc_c[j] += scale * (f1 * rz0);
        }
    }
}
