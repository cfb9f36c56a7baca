//! The general path's kernel for a network whose first layer is a trainable column (1-D
//! input) feeding the output layer directly: h(x) = Σ_j c_j φ(w_j x + b_j) + b_out + s·x,
//! with or without hidden biases, with the output layer trainable or frozen.
//!
//! The layer-by-layer step of [`super::sgd`] stores a_1 and φ'(z_0), reloads them for the
//! backward sweep, accumulates g_1 = W_1ᵀ δ_1 in a buffer and reloads it for the first
//! layer's update: about eighteen loads and stores per unit, where the arithmetic needs
//! six. Here the forward pass is one sweep (w, b, c → Σ_j c_j φ(z_j)) and the update is
//! one sweep (w, b, c → w', b', c'), with φ(z_j), φ'(z_j) recomputed for relu and identity
//! and kept from the forward pass for tanh and logistic (where the activation costs more
//! than the memory traffic).
//!
//! The arithmetic is that of the layer-by-layer step (and of [`super::fused`] for
//! identity, tanh and logistic) operation for operation: z_j = w_j x + b_j (w_j x + 0
//! without hidden biases), the output sum in the eight partial sums of
//! [`crate::kernels::dot`], and with δ_1 = 1: c_j ← c_j − g φ(z_j),
//! w_j ← w_j − g ((c_j φ'(z_j)) x), b_j ← b_j − g (c_j φ'(z_j)). So the parameters are
//! bit-identical to the layer-by-layer step (the fused relu pass uses FMAs instead).

use pulp::Simd;

use crate::activation::Activation;

use super::kernel::{
    dot_simd, flush, flush_simd, forward_simd, Act, Ident, Logistic, Relu, SimdAct, Tanh, LANES,
};

/// Σ_j c_j φ(w_j x + b_j) in the order of [`super::fused::dot_simd`]; for tanh and
/// logistic, φ(z_j) and φ'(z_j) are stored in `phi`, `dphi` for [`update`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn hidden_sum<S: Simd>(
    simd: S,
    act: Activation,
    w: &[f64],
    b: &[f64],
    c: &[f64],
    x: f64,
    phi: &mut [f64],
    dphi: &mut [f64],
) -> f64 {
    match act {
        Activation::Relu => forward_simd::<S, Relu>(simd, w, b, c, x),
        Activation::Identity => forward_simd::<S, Ident>(simd, w, b, c, x),
        Activation::Tanh => forward_kept::<S, Tanh>(simd, w, b, c, x, phi, dphi),
        Activation::Logistic => forward_kept::<S, Logistic>(simd, w, b, c, x, phi, dphi),
    }
}

/// [`hidden_sum`] for tanh and logistic in three vectorizable loops (z, then φ and φ' in
/// place, then [`dot_simd`]), as the fused kernel's pass.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_kept<S: Simd, A: Act>(
    simd: S,
    w: &[f64],
    b: &[f64],
    c: &[f64],
    x: f64,
    phi: &mut [f64],
    dphi: &mut [f64],
) -> f64 {
    for ((p, &wj), &bj) in phi.iter_mut().zip(w).zip(b) {
        *p = wj * x + bj;
    }
    for (p, d) in phi.iter_mut().zip(dphi.iter_mut()) {
        let (v, f1) = A::eval(*p);
        *p = v;
        *d = f1;
    }
    dot_simd(simd, c, phi)
}

/// Step t's update of every unit at x0 with g: w, and b when `BIAS`, and c when `TRAIN_C`.
/// Without `BIAS`, `b` must hold zeros (z = w x + 0, as the layer-by-layer step computes);
/// it is not written. Without `TRAIN_C`, `c` holds the frozen output weights and is not
/// written.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn update<S: Simd, const FLUSH: bool, const BIAS: bool, const TRAIN_C: bool>(
    simd: S,
    act: Activation,
    w: &mut [f64],
    b: &mut [f64],
    c: &mut [f64],
    phi: &[f64],
    dphi: &[f64],
    x0: f64,
    g: f64,
    thr: f64,
) {
    match act {
        Activation::Relu => {
            update_simd::<S, Relu, FLUSH, BIAS, TRAIN_C>(simd, w, b, c, x0, g, thr);
        }
        Activation::Identity => {
            update_simd::<S, Ident, FLUSH, BIAS, TRAIN_C>(simd, w, b, c, x0, g, thr);
        }
        Activation::Tanh => update_kept::<FLUSH, BIAS, TRAIN_C>(w, b, c, phi, dphi, x0, g, thr),
        Activation::Logistic => update_kept::<FLUSH, BIAS, TRAIN_C>(w, b, c, phi, dphi, x0, g, thr),
    }
}

/// One unit from kept or recomputed (φ, φ').
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn unit<const FLUSH: bool, const BIAS: bool, const TRAIN_C: bool>(
    w: &mut f64,
    b: &mut f64,
    c: &mut f64,
    v0: f64,
    d0: f64,
    x0: f64,
    g: f64,
    thr: f64,
) {
    let cd = *c * d0;
    let wn = *w - g * (cd * x0);
    *w = if FLUSH { flush(wn, thr) } else { wn };
    if BIAS {
        let bn = *b - g * cd;
        *b = if FLUSH { flush(bn, thr) } else { bn };
    }
    if TRAIN_C {
        let cn = *c - g * v0;
        *c = if FLUSH { flush(cn, thr) } else { cn };
    }
}

/// [`update`] for tanh and logistic, with φ, φ' of the forward pass (vectorized by the
/// compiler).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn update_kept<const FLUSH: bool, const BIAS: bool, const TRAIN_C: bool>(
    w: &mut [f64],
    b: &mut [f64],
    c: &mut [f64],
    phi: &[f64],
    dphi: &[f64],
    x0: f64,
    g: f64,
    thr: f64,
) {
    for ((((wj, bj), cj), &v0), &d0) in w
        .iter_mut()
        .zip(b.iter_mut())
        .zip(c.iter_mut())
        .zip(phi)
        .zip(dphi)
    {
        unit::<FLUSH, BIAS, TRAIN_C>(wj, bj, cj, v0, d0, x0, g, thr);
    }
}

/// [`update`] for relu and identity in explicit vectors, φ and φ' recomputed.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn update_simd<S: Simd, A: SimdAct, const FLUSH: bool, const BIAS: bool, const TRAIN_C: bool>(
    simd: S,
    w: &mut [f64],
    b: &mut [f64],
    c: &mut [f64],
    x0: f64,
    g: f64,
    thr: f64,
) {
    let m = w.len();
    let full = m - m % LANES;
    {
        let (wv, _) = S::as_mut_simd_f64s(&mut w[..full]);
        let (bv, _) = S::as_mut_simd_f64s(&mut b[..full]);
        let (cv, _) = S::as_mut_simd_f64s(&mut c[..full]);
        let (x0v, gv, thrv) = (
            simd.splat_f64s(x0),
            simd.splat_f64s(g),
            simd.splat_f64s(thr),
        );
        for ((wk, bk), ck) in wv.iter_mut().zip(bv.iter_mut()).zip(cv.iter_mut()) {
            let (w, b, c) = (*wk, *bk, *ck);
            let (v0, d0) = A::eval_simd(simd, simd.add_f64s(simd.mul_f64s(w, x0v), b));
            let cd = simd.mul_f64s(c, d0);
            let mut wn = simd.sub_f64s(w, simd.mul_f64s(gv, simd.mul_f64s(cd, x0v)));
            if FLUSH {
                wn = flush_simd(simd, wn, thrv);
            }
            *wk = wn;
            if BIAS {
                let mut bn = simd.sub_f64s(b, simd.mul_f64s(gv, cd));
                if FLUSH {
                    bn = flush_simd(simd, bn, thrv);
                }
                *bk = bn;
            }
            if TRAIN_C {
                let mut cn = simd.sub_f64s(c, simd.mul_f64s(gv, v0));
                if FLUSH {
                    cn = flush_simd(simd, cn, thrv);
                }
                *ck = cn;
            }
        }
    }
    for j in full..m {
        let (v0, d0) = A::eval(w[j] * x0 + b[j]);
        unit::<FLUSH, BIAS, TRAIN_C>(&mut w[j], &mut b[j], &mut c[j], v0, d0, x0, g, thr);
    }
}
