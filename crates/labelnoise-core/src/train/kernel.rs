//! What every step kernel of [`super`] shares: the run's step parameters (with the
//! sampler of (i, Z)), the subnormal guard ([`flush`], [`FLUSH_EVERY`]), the activations
//! as the kernels evaluate them ([`Act`], [`SimdAct`]) and the vector helpers
//! ([`dot_simd`], [`forward_simd`], [`flush_simd`]).
//!
//! The general step (`sgd`), its one-sweep column kernels (`column`) and explicit
//! regularization term (`explicit`), and the fused kernel (`fused`) import these from
//! here and nothing from each other's internals or from the parent module, so the
//! kernels form no import cycle. Moving them here changed no operation: every kernel
//! performs the same floating-point operations in the same order as before.

use pulp::Simd;

use super::noise::Sampler;
use super::tanh::{logistic_eval, tanh_eval};

/// The subnormal guard runs after every step whose count of steps done is a multiple
/// of this.
pub const FLUSH_EVERY: u64 = 64;

/// What a run of steps needs besides θ and the generator.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepParams {
    pub sampler: Sampler,
    pub lr: f64,
    pub batch: usize,
    pub explicit_reg: f64,
    pub explicit_sampled: bool,
    pub threshold: f64,
}

/// Whether the subnormal guard runs after the step that brings the count to `done`.
#[inline(always)]
#[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` needs Rust 1.87; the MSRV is 1.85.
pub(super) fn flush_due(done: u64, threshold: f64) -> bool {
    threshold > 0.0 && done % FLUSH_EVERY == 0
}

/// `v`, or exactly 0 when |v| < `threshold`: the subnormal guard on one parameter.
#[inline(always)]
pub(super) fn flush(v: f64, threshold: f64) -> f64 {
    if v.abs() < threshold {
        0.0
    } else {
        v
    }
}

/// A unit activation as the kernel needs it: (φ(z), φ'(z)).
pub(super) trait Act {
    /// Whether φ, φ' at step t are recomputed (cheap φ) rather than kept from the last pass.
    const RECOMPUTE: bool;
    fn eval(z: f64) -> (f64, f64);
}

pub(super) struct Relu;
pub(super) struct Ident;
pub(super) struct Tanh;
pub(super) struct Logistic;

impl Act for Relu {
    const RECOMPUTE: bool = true;
    #[inline(always)]
    fn eval(z: f64) -> (f64, f64) {
        // Activation::Relu.eval, without φ''.
        if z > 0.0 {
            (z, 1.0)
        } else {
            (0.0, 0.0)
        }
    }
}

impl Act for Ident {
    const RECOMPUTE: bool = true;
    #[inline(always)]
    fn eval(z: f64) -> (f64, f64) {
        (z, 1.0)
    }
}

impl Act for Tanh {
    const RECOMPUTE: bool = false;
    #[inline(always)]
    fn eval(z: f64) -> (f64, f64) {
        let (v, d, _) = tanh_eval(z);
        (v, d)
    }
}

impl Act for Logistic {
    const RECOMPUTE: bool = false;
    #[inline(always)]
    fn eval(z: f64) -> (f64, f64) {
        let (v, d, _) = logistic_eval(z);
        (v, d)
    }
}

/// The width of the partial sums of [`crate::kernels::dot`], and of a chunk of the
/// vector kernels.
pub(super) const LANES: usize = 8;

/// The eight partial sums combined as [`crate::kernels::dot`] does.
#[inline(always)]
pub(super) fn combine(acc: &[f64; LANES], tail: f64) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Σ a_j b_j with the eight partial sums of [`crate::kernels::dot`] (lane k of 8 takes
/// the indices ≡ k mod 8, then [`combine`]), in explicit vectors: the same bits as
/// `kernels::dot`, which the compiler vectorizes only partly.
#[inline(always)]
pub(super) fn dot_simd<S: Simd>(simd: S, a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let full = n - n % LANES;
    let group = LANES / S::F64_LANES;
    let mut acc = [0.0f64; LANES];
    {
        let (accv, _) = S::as_mut_simd_f64s(&mut acc);
        let (av, _) = S::as_simd_f64s(&a[..full]);
        let (bv, _) = S::as_simd_f64s(&b[..full]);
        for (a8, b8) in av.chunks_exact(group).zip(bv.chunks_exact(group)) {
            for k in 0..group {
                accv[k] = simd.add_f64s(accv[k], simd.mul_f64s(a8[k], b8[k]));
            }
        }
    }
    let mut tail = 0.0;
    for j in full..n {
        tail += a[j] * b[j];
    }
    combine(&acc, tail)
}

/// An activation with a vector form (relu and identity, which the fused kernel
/// recomputes); the vector code does per lane exactly what [`Act::eval`] does.
pub(super) trait SimdAct: Act {
    fn eval_simd<S: Simd>(simd: S, z: S::f64s) -> (S::f64s, S::f64s);
}

impl SimdAct for Relu {
    #[inline(always)]
    fn eval_simd<S: Simd>(simd: S, z: S::f64s) -> (S::f64s, S::f64s) {
        let zero = simd.splat_f64s(0.0);
        let pos = simd.greater_than_f64s(z, zero);
        (
            simd.select_f64s(pos, z, zero),
            simd.select_f64s(pos, simd.splat_f64s(1.0), zero),
        )
    }
}

impl SimdAct for Ident {
    #[inline(always)]
    fn eval_simd<S: Simd>(simd: S, z: S::f64s) -> (S::f64s, S::f64s) {
        (z, simd.splat_f64s(1.0))
    }
}

/// `flush` per lane.
#[inline(always)]
pub(super) fn flush_simd<S: Simd>(simd: S, v: S::f64s, thr: S::f64s) -> S::f64s {
    let tiny = simd.less_than_f64s(simd.abs_f64s(v), thr);
    simd.select_f64s(tiny, simd.splat_f64s(0.0), v)
}

/// Σ_j c_j φ(a_j x + b_j) for relu or identity units, the forward pass of the fused and
/// column kernels in vector form: the eight partial sums of `dot` live in 8 / lanes
/// vectors.
#[inline(always)]
pub(super) fn forward_simd<S: Simd, A: SimdAct>(
    simd: S,
    a: &[f64],
    b: &[f64],
    c: &[f64],
    x: f64,
) -> f64 {
    let group = LANES / S::F64_LANES;
    let m = a.len();
    let full = m - m % LANES;
    let mut acc = [0.0f64; LANES];
    {
        let (accv, _) = S::as_mut_simd_f64s(&mut acc);
        let (av, _) = S::as_simd_f64s(&a[..full]);
        let (bv, _) = S::as_simd_f64s(&b[..full]);
        let (cv, _) = S::as_simd_f64s(&c[..full]);
        let xv = simd.splat_f64s(x);
        for ((a8, b8), c8) in av
            .chunks_exact(group)
            .zip(bv.chunks_exact(group))
            .zip(cv.chunks_exact(group))
        {
            for k in 0..group {
                let z = simd.add_f64s(simd.mul_f64s(a8[k], xv), b8[k]);
                let (v, _) = A::eval_simd(simd, z);
                accv[k] = simd.add_f64s(accv[k], simd.mul_f64s(c8[k], v));
            }
        }
    }
    let mut tail = 0.0;
    for j in full..m {
        tail += c[j] * A::eval(a[j] * x + b[j]).0;
    }
    combine(&acc, tail)
}
