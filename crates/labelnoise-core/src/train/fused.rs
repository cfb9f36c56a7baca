//! The fused kernel for one hidden layer on 1-D inputs:
//! h(x) = Σ_j c_j φ(a_j x + b_j) + b_out + s x (the paper's Theorem 1 network for relu).
//!
//! Eq. 3 at sample (x₀, y, Z), with g = (2η)·e and e = h(x₀) − y − Z, moves unit j by
//! a_j ← a_j − g (c_j φ'(z_j) x₀), b_j ← b_j − g c_j φ'(z_j), c_j ← c_j − g φ(z_j),
//! z_j = a_j x₀ + b_j; and b_out ← b_out − g, s ← s − g x₀.
//!
//! The sample (x₁, ·, ·) of the *next* step is drawn before this update, so one pass over
//! the units both applies step t's update to unit j and adds unit j's (new) contribution
//! c_j' φ(a_j' x₁ + b_j') to step t+1's output: three loads and three stores per unit and
//! step, instead of a forward pass and an update pass. The generator is still consumed in
//! the order (i₁, Z₁), (i₂, Z₂), …, and the last step of a call draws nothing ahead, so
//! the stream (and any checkpoint) is exactly that of the general path.
//!
//! For relu and identity, φ(z_j) and φ'(z_j) of step t are recomputed from (a_j, b_j, x₀)
//! in the pass (explicit `pulp` vectors); for tanh and logistic they are kept from the
//! previous pass in two buffers, and the pass is three vectorized loops (update,
//! activation by the branch-free functions of [`super::tanh`], output sum).
//!
//! The arithmetic is that of the general path operation for operation (same products,
//! same order; the output sum uses the eight partial sums of [`crate::kernels::dot`]),
//! and nothing is fused into FMAs, so both paths give the same bits. Units go in chunks of
//! eight independent lanes, which the compiler turns into one AVX-512 (or two AVX2)
//! vector per chunk; the instruction set is picked at run time by `pulp` (the caller
//! dispatches), not at build time.

use pulp::Simd;

use crate::activation::Activation;
use crate::network::Network;

use super::noise::TrainRng;
use super::sgd::{flush, flush_due, StepParams};

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
        let (v, d, _) = super::tanh::tanh_eval(z);
        (v, d)
    }
}

impl Act for Logistic {
    const RECOMPUTE: bool = false;
    #[inline(always)]
    fn eval(z: f64) -> (f64, f64) {
        let (v, d, _) = super::tanh::logistic_eval(z);
        (v, d)
    }
}

/// The skip unit as the kernel sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SkipPlan {
    None,
    Frozen(f64),
    Trainable(usize),
}

/// The fused path's plan and buffers.
#[derive(Clone, Debug)]
pub(crate) struct Fused {
    m: usize,
    act: Activation,
    out_bias: Option<usize>,
    skip: SkipPlan,
    phi: Vec<f64>,
    dphi: Vec<f64>,
}

pub(super) const LANES: usize = 8;

/// The eight partial sums combined as [`crate::kernels::dot`] does.
#[inline(always)]
fn combine(acc: &[f64; LANES], tail: f64) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Σ a_j b_j with the eight partial sums of [`crate::kernels::dot`] (lane k of 8 takes
/// the indices ≡ k mod 8, then [`combine`]), in explicit vectors: the same bits as
/// `kernels::dot`, which the compiler vectorizes only partly.
#[inline(always)]
pub(crate) fn dot_simd<S: Simd>(simd: S, a: &[f64], b: &[f64]) -> f64 {
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

/// Σ_j c_j φ(a_j x + b_j), storing φ and φ' when the activation does not recompute.
#[inline(always)]
fn forward<A: Act>(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    phi: &mut [f64],
    dphi: &mut [f64],
    x: f64,
) -> f64 {
    let mut acc = [0.0f64; LANES];
    let m = a.len();
    let full = m - m % LANES;
    for ((((a8, b8), c8), p8), d8) in a[..full]
        .chunks_exact(LANES)
        .zip(b[..full].chunks_exact(LANES))
        .zip(c[..full].chunks_exact(LANES))
        .zip(phi[..full].chunks_exact_mut(LANES))
        .zip(dphi[..full].chunks_exact_mut(LANES))
    {
        for l in 0..LANES {
            let (v, d) = A::eval(a8[l] * x + b8[l]);
            if !A::RECOMPUTE {
                p8[l] = v;
                d8[l] = d;
            }
            acc[l] += c8[l] * v;
        }
    }
    let mut tail = 0.0;
    for j in full..m {
        let (v, d) = A::eval(a[j] * x + b[j]);
        if !A::RECOMPUTE {
            phi[j] = v;
            dphi[j] = d;
        }
        tail += c[j] * v;
    }
    combine(&acc, tail)
}

/// One unit: step t's update at x0 with g, then (if `NEXT`) φ at x1 for step t+1.
/// Returns (c', φ(z1), φ'(z1)).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn unit<A: Act, const NEXT: bool, const FLUSH: bool>(
    a: &mut f64,
    b: &mut f64,
    c: &mut f64,
    p: &mut f64,
    dp: &mut f64,
    x0: f64,
    g: f64,
    x1: f64,
    thr: f64,
) -> f64 {
    let (v0, d0) = if A::RECOMPUTE {
        A::eval(*a * x0 + *b)
    } else {
        (*p, *dp)
    };
    let cd = *c * d0;
    let mut an = *a - g * (cd * x0);
    let mut bn = *b - g * cd;
    let mut cn = *c - g * v0;
    if FLUSH {
        an = flush(an, thr);
        bn = flush(bn, thr);
        cn = flush(cn, thr);
    }
    *a = an;
    *b = bn;
    *c = cn;
    if NEXT {
        let (v1, d1) = A::eval(an * x1 + bn);
        if !A::RECOMPUTE {
            *p = v1;
            *dp = d1;
        }
        cn * v1
    } else {
        0.0
    }
}

/// The fused pass for activations that keep φ, φ' (tanh, logistic): update every unit
/// for step t and return Σ_j c_j' φ(a_j' x1 + b_j') (0 when not `NEXT`).
///
/// Three vectorized loops over the units: the first applies the update with the kept
/// φ(z_j), φ'(z_j) and leaves z_j' = a_j' x1 + b_j' in `phi`; the second evaluates the
/// activation (for tanh the branch-free [`super::tanh::tanh`]); the third is the output
/// sum, [`dot_simd`]. The arithmetic is that of [`unit`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pass<S: Simd, A: Act, const NEXT: bool, const FLUSH: bool>(
    simd: S,
    a: &mut [f64],
    b: &mut [f64],
    c: &mut [f64],
    phi: &mut [f64],
    dphi: &mut [f64],
    x0: f64,
    g: f64,
    x1: f64,
    thr: f64,
) -> f64 {
    debug_assert!(!A::RECOMPUTE);
    for ((((aj, bj), cj), pj), &dj) in a
        .iter_mut()
        .zip(b.iter_mut())
        .zip(c.iter_mut())
        .zip(phi.iter_mut())
        .zip(dphi.iter())
    {
        let cd = *cj * dj;
        let mut an = *aj - g * (cd * x0);
        let mut bn = *bj - g * cd;
        let mut cn = *cj - g * *pj;
        if FLUSH {
            an = flush(an, thr);
            bn = flush(bn, thr);
            cn = flush(cn, thr);
        }
        *aj = an;
        *bj = bn;
        *cj = cn;
        if NEXT {
            *pj = an * x1 + bn;
        }
    }
    if !NEXT {
        return 0.0;
    }
    for (pj, dj) in phi.iter_mut().zip(dphi.iter_mut()) {
        let (v, d) = A::eval(*pj);
        *pj = v;
        *dj = d;
    }
    // The same eight partial sums as `combine`.
    dot_simd(simd, c, phi)
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

/// [`forward`] in vector form: the eight partial sums of `dot` live in 8 / lanes vectors.
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

/// [`pass`] in vector form, for activations that recompute φ.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pass_simd<S: Simd, A: SimdAct, const NEXT: bool, const FLUSH: bool>(
    simd: S,
    a: &mut [f64],
    b: &mut [f64],
    c: &mut [f64],
    x0: f64,
    g: f64,
    x1: f64,
    thr: f64,
) -> f64 {
    let group = LANES / S::F64_LANES;
    let m = a.len();
    let full = m - m % LANES;
    let mut acc = [0.0f64; LANES];
    {
        let (accv, _) = S::as_mut_simd_f64s(&mut acc);
        let (av, _) = S::as_mut_simd_f64s(&mut a[..full]);
        let (bv, _) = S::as_mut_simd_f64s(&mut b[..full]);
        let (cv, _) = S::as_mut_simd_f64s(&mut c[..full]);
        let (x0v, gv, x1v, thrv) = (
            simd.splat_f64s(x0),
            simd.splat_f64s(g),
            simd.splat_f64s(x1),
            simd.splat_f64s(thr),
        );
        for ((a8, b8), c8) in av
            .chunks_exact_mut(group)
            .zip(bv.chunks_exact_mut(group))
            .zip(cv.chunks_exact_mut(group))
        {
            for k in 0..group {
                let (a, b, c) = (a8[k], b8[k], c8[k]);
                let (v0, d0) = A::eval_simd(simd, simd.add_f64s(simd.mul_f64s(a, x0v), b));
                let cd = simd.mul_f64s(c, d0);
                let mut an = simd.sub_f64s(a, simd.mul_f64s(gv, simd.mul_f64s(cd, x0v)));
                let mut bn = simd.sub_f64s(b, simd.mul_f64s(gv, cd));
                let mut cn = simd.sub_f64s(c, simd.mul_f64s(gv, v0));
                if FLUSH {
                    an = flush_simd(simd, an, thrv);
                    bn = flush_simd(simd, bn, thrv);
                    cn = flush_simd(simd, cn, thrv);
                }
                a8[k] = an;
                b8[k] = bn;
                c8[k] = cn;
                if NEXT {
                    let (v1, _) = A::eval_simd(simd, simd.add_f64s(simd.mul_f64s(an, x1v), bn));
                    accv[k] = simd.add_f64s(accv[k], simd.mul_f64s(cn, v1));
                }
            }
        }
    }
    let mut tail = 0.0;
    let (mut p, mut dp) = (0.0, 0.0);
    for j in full..m {
        let (aj, bj, cj) = (&mut a[j], &mut b[j], &mut c[j]);
        let t = unit::<A, NEXT, FLUSH>(aj, bj, cj, &mut p, &mut dp, x0, g, x1, thr);
        if NEXT {
            tail += t;
        }
    }
    combine(&acc, tail)
}

impl Fused {
    /// The fused plan for `net`, or `None` when the network is not one trainable hidden
    /// layer with biases on 1-D inputs and a trainable output layer.
    pub(crate) fn plan(net: &Network) -> Option<Self> {
        if net.input_dim() != 1 {
            return None;
        }
        let [hidden] = net.hidden_layers() else {
            return None;
        };
        let m = hidden.out_dim;
        let slots = net.slots();
        if slots[0].weight != Some(0) || slots[0].bias != Some(m) || slots[1].weight != Some(2 * m)
        {
            return None;
        }
        let out_bias = slots[1].bias;
        let skip = match (net.skip(), net.skip_slot()) {
            (None, _) => SkipPlan::None,
            (Some(_), Some(at)) => SkipPlan::Trainable(at),
            (Some(s), None) => SkipPlan::Frozen(s.weight[0]),
        };
        let expected = 3 * m
            + usize::from(out_bias.is_some())
            + usize::from(matches!(skip, SkipPlan::Trainable(_)));
        if expected != net.param_count() {
            return None;
        }
        Some(Fused {
            m,
            act: hidden.activation,
            out_bias,
            skip,
            phi: vec![0.0; m],
            dphi: vec![0.0; m],
        })
    }

    /// Runs steps `start+1 ..= end` (batch 1, no explicit regularization). `Err(k)` when
    /// the residual after `k` steps is not finite.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run<S: Simd>(
        &mut self,
        simd: S,
        theta: &mut [f64],
        xs: &[f64],
        ys: &[f64],
        rng: &mut TrainRng,
        sp: &StepParams,
        start: u64,
        end: u64,
    ) -> Result<(), u64> {
        match self.act {
            Activation::Relu => {
                self.run_act::<S, Relu, true>(simd, theta, xs, ys, rng, sp, start, end)
            }
            Activation::Identity => {
                self.run_act::<S, Ident, true>(simd, theta, xs, ys, rng, sp, start, end)
            }
            Activation::Tanh => {
                self.run_act::<S, Tanh, false>(simd, theta, xs, ys, rng, sp, start, end)
            }
            Activation::Logistic => {
                self.run_act::<S, Logistic, false>(simd, theta, xs, ys, rng, sp, start, end)
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn run_act<S: Simd, A: MaybeSimd, const VECTOR: bool>(
        &mut self,
        simd: S,
        theta: &mut [f64],
        xs: &[f64],
        ys: &[f64],
        rng: &mut TrainRng,
        sp: &StepParams,
        start: u64,
        end: u64,
    ) -> Result<(), u64> {
        if start >= end {
            return Ok(());
        }
        let m = self.m;
        let two_lr = 2.0 * sp.lr;
        let thr = sp.threshold;
        let (a, rest) = theta.split_at_mut(m);
        let (b, rest) = rest.split_at_mut(m);
        let (c, rest) = rest.split_at_mut(m);
        let base = 3 * m;
        let mut bout = self.out_bias.map_or(0.0, |k| rest[k - base]);
        let (mut s, s_trainable) = match self.skip {
            SkipPlan::None => (0.0, false),
            SkipPlan::Frozen(v) => (v, false),
            SkipPlan::Trainable(k) => (rest[k - base], true),
        };
        let has_skip = self.skip != SkipPlan::None;
        let skip_term = |s: f64, x: f64| if has_skip { s * x } else { 0.0 };
        let (phi, dphi) = (&mut self.phi[..], &mut self.dphi[..]);

        let (mut i0, mut z0) = sp.sampler.draw(rng);
        let mut x0 = xs[i0];
        let first = if VECTOR {
            A::forward_vec(simd, a, b, c, x0)
        } else {
            forward::<A>(a, b, c, phi, dphi, x0)
        };
        let mut h = (first + bout) + skip_term(s, x0);
        let mut result = Ok(());
        for done in start..end {
            let e = (h - ys[i0]) - z0;
            if !e.is_finite() {
                result = Err(done);
                break;
            }
            let g = two_lr * e;
            let fl = flush_due(done + 1, thr);
            let next = done + 1 < end;
            let (mut i1, mut z1, mut x1) = (0, 0.0, 0.0);
            if next {
                (i1, z1) = sp.sampler.draw(rng);
                x1 = xs[i1];
            }
            let sum = if VECTOR {
                match (next, fl) {
                    (true, false) => A::pass_vec::<S, true, false>(simd, a, b, c, x0, g, x1, thr),
                    (true, true) => A::pass_vec::<S, true, true>(simd, a, b, c, x0, g, x1, thr),
                    (false, false) => A::pass_vec::<S, false, false>(simd, a, b, c, x0, g, x1, thr),
                    (false, true) => A::pass_vec::<S, false, true>(simd, a, b, c, x0, g, x1, thr),
                }
            } else {
                match (next, fl) {
                    (true, false) => {
                        pass::<S, A, true, false>(simd, a, b, c, phi, dphi, x0, g, x1, thr)
                    }
                    (true, true) => {
                        pass::<S, A, true, true>(simd, a, b, c, phi, dphi, x0, g, x1, thr)
                    }
                    (false, false) => {
                        pass::<S, A, false, false>(simd, a, b, c, phi, dphi, x0, g, x1, thr)
                    }
                    (false, true) => {
                        pass::<S, A, false, true>(simd, a, b, c, phi, dphi, x0, g, x1, thr)
                    }
                }
            };
            if self.out_bias.is_some() {
                bout -= g;
                if fl {
                    bout = flush(bout, thr);
                }
            }
            if s_trainable {
                s -= g * x0;
                if fl {
                    s = flush(s, thr);
                }
            }
            if next {
                h = (sum + bout) + skip_term(s, x1);
                (i0, z0, x0) = (i1, z1, x1);
            }
        }
        if let Some(k) = self.out_bias {
            rest[k - base] = bout;
        }
        if let SkipPlan::Trainable(k) = self.skip {
            rest[k - base] = s;
        }
        result
    }
}

/// Dispatch between the vector kernels (relu, identity) and the scalar ones (tanh,
/// logistic) without duplicating the step loop.
trait MaybeSimd: Act {
    fn forward_vec<S: Simd>(simd: S, a: &[f64], b: &[f64], c: &[f64], x: f64) -> f64;
    #[allow(clippy::too_many_arguments)]
    fn pass_vec<S: Simd, const NEXT: bool, const FLUSH: bool>(
        simd: S,
        a: &mut [f64],
        b: &mut [f64],
        c: &mut [f64],
        x0: f64,
        g: f64,
        x1: f64,
        thr: f64,
    ) -> f64;
}

macro_rules! vector_act {
    ($($t:ty),*) => {$(
        impl MaybeSimd for $t {
            #[inline(always)]
            fn forward_vec<S: Simd>(simd: S, a: &[f64], b: &[f64], c: &[f64], x: f64) -> f64 {
                forward_simd::<S, Self>(simd, a, b, c, x)
            }
            #[inline(always)]
            fn pass_vec<S: Simd, const NEXT: bool, const FLUSH: bool>(
                simd: S,
                a: &mut [f64],
                b: &mut [f64],
                c: &mut [f64],
                x0: f64,
                g: f64,
                x1: f64,
                thr: f64,
            ) -> f64 {
                pass_simd::<S, Self, NEXT, FLUSH>(simd, a, b, c, x0, g, x1, thr)
            }
        }
    )*};
}

macro_rules! scalar_act {
    ($($t:ty),*) => {$(
        impl MaybeSimd for $t {
            #[inline(always)]
            fn forward_vec<S: Simd>(_: S, _: &[f64], _: &[f64], _: &[f64], _: f64) -> f64 {
                unreachable!("scalar activations use the scalar kernel")
            }
            #[inline(always)]
            fn pass_vec<S: Simd, const NEXT: bool, const FLUSH: bool>(
                _: S,
                _: &mut [f64],
                _: &mut [f64],
                _: &mut [f64],
                _: f64,
                _: f64,
                _: f64,
                _: f64,
            ) -> f64 {
                unreachable!("scalar activations use the scalar kernel")
            }
        }
    )*};
}

vector_act!(Relu, Ident);
scalar_act!(Tanh, Logistic);
