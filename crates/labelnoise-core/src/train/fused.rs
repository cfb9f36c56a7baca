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
//! For identity, φ(z_j) and φ'(z_j) of step t are recomputed from (a_j, b_j, x₀) in the
//! pass (explicit `pulp` vectors); for tanh and logistic they are kept from the previous
//! pass in two buffers, and the pass is three vectorized loops (update, activation by the
//! branch-free functions of [`super::tanh`], output sum). Relu has a pass of its own,
//! below.
//!
//! For identity, tanh and logistic the arithmetic is that of the general path operation
//! for operation (same products, same order; the output sum uses the eight partial sums
//! of [`crate::kernels::dot`]), and nothing is fused into FMAs, so both paths give the
//! same bits. Units go in chunks of eight independent lanes, which the compiler turns
//! into one AVX-512 (or two AVX2) vector per chunk; the instruction set is picked at run
//! time by `pulp` (the caller dispatches), not at build time.
//!
//! # The relu pass
//!
//! Relu, the network of the paper's Theorem 1 and of most experiments, has a pass of its
//! own (`pass_relu`, run by `Fused::run_relu`) that does eq. 3 with fused multiply-adds:
//! 8 vector operations per chunk of eight units where the exact-order pass needs 19 (the
//! hand-tuned AVX-512 loop of `benches/yardstick_avx512.c` needs 9). Per unit, with
//! z_j = fma(a_j, x₀, b_j) and g = 2η e:
//!
//! - where z_j > 0 (φ' = 1): a_j ← fma(−(g x₀), c_j, a_j), b_j ← fma(−g, c_j, b_j),
//!   c_j ← fma(−g, z_j, c_j); where z_j ≤ 0 (φ = φ' = 0) the unit is left exactly as it
//!   is (eq. 3 moves it by g·0). A masked FMA each on AVX-512.
//! - z_j' = fma(a_j', x₁, b_j') for step t+1. Unit j = 8k + l of full chunk k adds into
//!   partial sum S_{k mod 4, l} ← fma(c_j', z_j', S_{k mod 4, l}) where z_j' > 0 (all 32
//!   from +0.0); lane sums s_l = (S_{0,l} + S_{1,l}) + (S_{2,l} + S_{3,l}); the tree
//!   ((s₀+s₄)+(s₁+s₅)) + ((s₂+s₆)+(s₃+s₇)); the units after the last full chunk go into a
//!   tail the same way (from +0.0), added to the tree when m is not a multiple of 8;
//!   h = (sum + b_out) + s x₁.
//!
//! Every product is rounded once instead of twice, so the relu kernel is a little more
//! accurate than the general path and agrees with it to rounding, not bit for bit (the
//! tests bound the difference). Its own bits do not depend on the machine: an FMA is
//! correctly rounded by IEEE 754 on every `pulp` level (the scalar level calls
//! `f64::mul_add`, in software where the CPU has no FMA: slow, but the same bits), the
//! comparisons are explicit (no `max`, whose sign of a zero result is not specified), and
//! the test `relu_pass_bits_do_not_depend_on_simd_level_or_calls` checks scalar, AVX2 and
//! AVX-512 against each other and against one uninterrupted call, with exact zeros, −0.0,
//! tiny units and every sampler. A step whose g is not finite (e finite, 2η e overflowing)
//! stops the call as a divergence before it moves θ (the general path applies it and stops
//! one step later).
//!
//! - **Four partial-sum sets** make the output sum four independent FMA chains instead of
//!   one of m/8 links.
//! - **z_j recomputed** each step, not kept from the last pass: a fourth store per chunk
//!   cost more than the FMA (measured: 94 against 89 ns per step at m = 256, 1.08x at
//!   m = 1024; the pass is bound by its stores).
//! - **Aligned copies.** A call copies a, b, c into a buffer of the plan, 64-byte aligned
//!   and with the arrays never a multiple of 4 KiB apart, runs its steps there and copies
//!   them back (O(m) per call, bit-exact): in θ the blocks are 8m bytes apart and, at
//!   m = 256, the speed depended by 1.5x on where the heap had put θ.
//! - **A loop of its own.** The relu run is a separate function (`run_relu_outlined`,
//!   `simd.vectorize` from a function without target features, so it is not inlined
//!   into the dispatch of every kernel) and is compiled per sampler with `draw` inlined;
//!   otherwise the step's state (h, b_out, s) lived on the stack.
//! - A checkpoint names its kernel ([`super::Checkpoint::kernel`]), so a run resumes on
//!   the kernel it started with.

use pulp::Simd;

use crate::activation::Activation;
use crate::network::Network;

use super::kernel::{
    combine, dot_simd, flush, flush_due, flush_simd, forward_simd, Act, Ident, Logistic, SimdAct,
    StepParams, Tanh, LANES,
};
use super::noise::{copy_of, NoiseDist, Sampler, TrainRng};

/// The skip unit as the kernel sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SkipPlan {
    None,
    Frozen(f64),
    Trainable(usize),
}

/// The output bias and skip weight during a call: read from θ at its start, moved by
/// every step (b_out ← b_out − g, s ← s − g x₀, the guard applied on its steps), and
/// written back at its end.
#[derive(Clone, Copy)]
struct OutputScalars {
    bout: f64,
    s: f64,
    bout_trainable: bool,
    s_trainable: bool,
    has_skip: bool,
}

impl OutputScalars {
    /// h = (sum + b_out) + s x, with sum the hidden units' part.
    #[inline(always)]
    fn output(&self, sum: f64, x: f64) -> f64 {
        (sum + self.bout) + if self.has_skip { self.s * x } else { 0.0 }
    }

    /// One step's update at x0 with g (`flush_now`: a step of the subnormal guard).
    #[inline(always)]
    fn step(&mut self, g: f64, x0: f64, flush_now: bool, thr: f64) {
        if self.bout_trainable {
            self.bout -= g;
            if flush_now {
                self.bout = flush(self.bout, thr);
            }
        }
        if self.s_trainable {
            self.s -= g * x0;
            if flush_now {
                self.s = flush(self.s, thr);
            }
        }
    }
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
    /// Relu: a, b, c during a call, 64-byte aligned (see [`work_stride`]).
    work: Vec<f64>,
}

/// The distance between the arrays in [`Fused::work`]: m rounded up to whole 64-byte
/// lines, plus one line, so that the arrays are never a multiple of 4 KiB apart.
fn work_stride(m: usize) -> usize {
    m.div_ceil(LANES) * LANES + LANES
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

/// The broadcast scalars of one relu pass: −g and −g x0 (negated once, so every update
/// is one fused multiply-add), x0, x1 and the guard's threshold.
#[derive(Clone, Copy)]
struct ReluStep<V> {
    zero: V,
    x0: V,
    neg_g: V,
    neg_gx0: V,
    x1: V,
    thr: V,
}

/// One chunk of [`pass_relu`]: updates a, b, c in place and, when `NEXT`, adds
/// c_j' φ(z_j') to the lanes of `acc`. [`relu_unit`] is the same per unit in scalars; the
/// module docs give the arithmetic.
#[inline(always)]
fn relu_chunk<S: Simd, const NEXT: bool, const FLUSH: bool>(
    simd: S,
    k: ReluStep<S::f64s>,
    a: &mut S::f64s,
    b: &mut S::f64s,
    c: &mut S::f64s,
    acc: &mut S::f64s,
) {
    let (av, bv, cv) = (*a, *b, *c);
    let z0 = simd.mul_add_f64s(av, k.x0, bv);
    let on = simd.greater_than_f64s(z0, k.zero);
    let mut an = simd.select_f64s(on, simd.mul_add_f64s(k.neg_gx0, cv, av), av);
    let mut bn = simd.select_f64s(on, simd.mul_add_f64s(k.neg_g, cv, bv), bv);
    let mut cn = simd.select_f64s(on, simd.mul_add_f64s(k.neg_g, z0, cv), cv);
    if FLUSH {
        an = flush_simd(simd, an, k.thr);
        bn = flush_simd(simd, bn, k.thr);
        cn = flush_simd(simd, cn, k.thr);
    }
    *a = an;
    *b = bn;
    *c = cn;
    if NEXT {
        let z1 = simd.mul_add_f64s(an, k.x1, bn);
        let on1 = simd.greater_than_f64s(z1, k.zero);
        *acc = simd.select_f64s(on1, simd.mul_add_f64s(cn, z1, *acc), *acc);
    }
}

/// [`relu_chunk`] for one unit in scalars (the units after the last full chunk of eight),
/// z_j recomputed. `f64::mul_add` is the correctly rounded fused multiply-add, as is
/// `Simd::mul_add_f64s` on every `pulp` level, so lanes and scalars agree bit for bit.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn relu_unit<const NEXT: bool, const FLUSH: bool>(
    a: &mut f64,
    b: &mut f64,
    c: &mut f64,
    x0: f64,
    neg_g: f64,
    neg_gx0: f64,
    x1: f64,
    thr: f64,
    tail: &mut f64,
) {
    let z0 = a.mul_add(x0, *b);
    let (mut an, mut bn, mut cn) = if z0 > 0.0 {
        (
            neg_gx0.mul_add(*c, *a),
            neg_g.mul_add(*c, *b),
            neg_g.mul_add(z0, *c),
        )
    } else {
        (*a, *b, *c)
    };
    if FLUSH {
        an = flush(an, thr);
        bn = flush(bn, thr);
        cn = flush(cn, thr);
    }
    *a = an;
    *b = bn;
    *c = cn;
    if NEXT {
        let z1 = an.mul_add(x1, bn);
        if z1 > 0.0 {
            *tail = cn.mul_add(z1, *tail);
        }
    }
}

/// Partial-sum sets of the relu output sum: chunk k of eight units adds into set k mod 4,
/// so four independent FMA chains run per step instead of one (with one set, the
/// chain of m/8 dependent FMAs bounded the step at m = 256).
pub(super) const RELU_SETS: usize = 4;

/// The relu output sum from the partial sums and the tail: per lane l, the four sets
/// (S0_l + S1_l) + (S2_l + S3_l); then the tree ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)); plus
/// the tail only when there are units after the last full chunk (m alone decides).
///
/// Sets that no chunk reached hold +0.0, and no partial sum is ever −0.0 (it starts at
/// +0.0 and only FMAs add to it), so adding them changes nothing: with `chunks` full
/// chunks the unused sets are skipped, same bits.
#[inline(always)]
fn relu_total(acc: &[f64; RELU_SETS * LANES], chunks: usize, tail: f64, has_tail: bool) -> f64 {
    let lane = |l: usize| match chunks {
        0 | 1 => acc[l],
        2 => acc[l] + acc[LANES + l],
        _ => (acc[l] + acc[LANES + l]) + (acc[2 * LANES + l] + acc[3 * LANES + l]),
    };
    let tree =
        ((lane(0) + lane(4)) + (lane(1) + lane(5))) + ((lane(2) + lane(6)) + (lane(3) + lane(7)));
    if has_tail {
        tree + tail
    } else {
        tree
    }
}

/// The relu pass: step t's update of every unit at x0 with g and, when `NEXT`, the sum
/// Σ_j c_j' φ(a_j' x1 + b_j') for step t+1 (0 otherwise), in the order of
/// [`forward_relu`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pass_relu<S: Simd, const NEXT: bool, const FLUSH: bool>(
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
    let (neg_g, neg_gx0) = (-g, -(g * x0));
    let mut acc = [0.0f64; RELU_SETS * LANES];
    {
        let (accv, _) = S::as_mut_simd_f64s(&mut acc);
        let (av, _) = S::as_mut_simd_f64s(&mut a[..full]);
        let (bv, _) = S::as_mut_simd_f64s(&mut b[..full]);
        let (cv, _) = S::as_mut_simd_f64s(&mut c[..full]);
        let k = ReluStep {
            zero: simd.splat_f64s(0.0),
            x0: simd.splat_f64s(x0),
            neg_g: simd.splat_f64s(neg_g),
            neg_gx0: simd.splat_f64s(neg_gx0),
            x1: simd.splat_f64s(x1),
            thr: simd.splat_f64s(thr),
        };
        let n = av.len();
        let (bv, cv) = (&mut bv[..n], &mut cv[..n]);
        // Four chunks (one per partial-sum set) per loop iteration, then the 0-3 left;
        // vector i of a round belongs to chunk i / group, so to set i / group.
        let round = RELU_SETS * group;
        let mut a4 = av.chunks_exact_mut(round);
        let mut b4 = bv.chunks_exact_mut(round);
        let mut c4 = cv.chunks_exact_mut(round);
        for ((a, b), c) in (&mut a4).zip(&mut b4).zip(&mut c4) {
            for i in 0..round {
                relu_chunk::<S, NEXT, FLUSH>(
                    simd,
                    k,
                    &mut a[i],
                    &mut b[i],
                    &mut c[i],
                    &mut accv[i],
                );
            }
        }
        let (a, b, c) = (
            a4.into_remainder(),
            b4.into_remainder(),
            c4.into_remainder(),
        );
        // The 0-3 chunks left, with constant indices once unrolled (a variable index into
        // `accv` would keep the partial sums in memory: 10% slower at m = 16).
        let left = a.len() / group;
        for q in 0..RELU_SETS - 1 {
            if q < left {
                for l in 0..group {
                    let i = q * group + l;
                    relu_chunk::<S, NEXT, FLUSH>(
                        simd,
                        k,
                        &mut a[i],
                        &mut b[i],
                        &mut c[i],
                        &mut accv[i],
                    );
                }
            }
        }
    }
    let mut tail = 0.0;
    for j in full..m {
        relu_unit::<NEXT, FLUSH>(
            &mut a[j], &mut b[j], &mut c[j], x0, neg_g, neg_gx0, x1, thr, &mut tail,
        );
    }
    if NEXT {
        relu_total(&acc, full / LANES, tail, full < m)
    } else {
        0.0
    }
}

/// Σ_j c_j φ(a_j x + b_j) for relu as [`pass_relu`] sums it: z_j = fma(a_j, x, b_j); lane l of eight takes the units j ≡ l (mod 8) of the full chunks,
/// acc_l ← fma(c_j, z_j, acc_l) where z_j > 0, from 0; the units after the last full
/// chunk go into a tail the same way; then [`relu_total`].
#[inline(always)]
fn forward_relu<S: Simd>(simd: S, a: &[f64], b: &[f64], c: &[f64], x: f64) -> f64 {
    let group = LANES / S::F64_LANES;
    let m = a.len();
    let full = m - m % LANES;
    let mut acc = [0.0f64; RELU_SETS * LANES];
    {
        let (accv, _) = S::as_mut_simd_f64s(&mut acc);
        let (av, _) = S::as_simd_f64s(&a[..full]);
        let (bv, _) = S::as_simd_f64s(&b[..full]);
        let (cv, _) = S::as_simd_f64s(&c[..full]);
        let (xv, zero) = (simd.splat_f64s(x), simd.splat_f64s(0.0));
        let round = RELU_SETS * group;
        for (i, ((a, b), c)) in av.iter().zip(bv).zip(cv).enumerate() {
            let z = simd.mul_add_f64s(*a, xv, *b);
            let on = simd.greater_than_f64s(z, zero);
            let s = i % round;
            accv[s] = simd.select_f64s(on, simd.mul_add_f64s(*c, z, accv[s]), accv[s]);
        }
    }
    let mut tail = 0.0;
    for j in full..m {
        let zj = a[j].mul_add(x, b[j]);
        if zj > 0.0 {
            tail = c[j].mul_add(zj, tail);
        }
    }
    relu_total(&acc, full / LANES, tail, full < m)
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
            work: if hidden.activation == Activation::Relu {
                vec![0.0; 3 * work_stride(m) + LANES]
            } else {
                Vec::new()
            },
        })
    }

    /// Where a relu plan's parameters sit: (m, the output bias's index in θ, the skip
    /// unit), or `None` for another activation. For the packed kernel (`super::packed`),
    /// which trains several relu runs of one shape side by side.
    pub(crate) fn relu_layout(&self) -> Option<(usize, Option<usize>, SkipPlan)> {
        (self.act == Activation::Relu).then_some((self.m, self.out_bias, self.skip))
    }

    /// The output bias and skip of θ; `rest` is θ after the hidden layer's 3m values.
    fn load_scalars(&self, rest: &[f64]) -> OutputScalars {
        let base = 3 * self.m;
        let (s, s_trainable) = match self.skip {
            SkipPlan::None => (0.0, false),
            SkipPlan::Frozen(v) => (v, false),
            SkipPlan::Trainable(k) => (rest[k - base], true),
        };
        OutputScalars {
            bout: self.out_bias.map_or(0.0, |k| rest[k - base]),
            s,
            bout_trainable: self.out_bias.is_some(),
            s_trainable,
            has_skip: self.skip != SkipPlan::None,
        }
    }

    /// Writes the trainable ones of `sc` back into `rest` (as in [`Self::load_scalars`]).
    fn store_scalars(&self, sc: OutputScalars, rest: &mut [f64]) {
        let base = 3 * self.m;
        if let Some(k) = self.out_bias {
            rest[k - base] = sc.bout;
        }
        if let SkipPlan::Trainable(k) = self.skip {
            rest[k - base] = sc.s;
        }
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
            Activation::Relu => run_relu_outlined(simd, self, theta, xs, ys, rng, sp, start, end),
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

    /// The relu run: the steps with [`pass_relu`] (see the module docs). A step whose
    /// g = 2η e is not finite (e finite, 2η e overflowing) ends the call as a divergence
    /// before it moves θ, like one whose residual is not finite.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn run_relu<S: Simd, D: FnMut(&mut TrainRng) -> (usize, f64)>(
        &mut self,
        simd: S,
        theta: &mut [f64],
        xs: &[f64],
        ys: &[f64],
        rng: &mut TrainRng,
        sp: &StepParams,
        start: u64,
        end: u64,
        mut draw: D,
    ) -> Result<(), u64> {
        if start >= end {
            return Ok(());
        }
        let m = self.m;
        let two_lr = 2.0 * sp.lr;
        let thr = sp.threshold;
        let (ta, rest) = theta.split_at_mut(m);
        let (tb, rest) = rest.split_at_mut(m);
        let (tc, rest) = rest.split_at_mut(m);
        let mut out = self.load_scalars(rest);
        // The steps run on copies of a, b, c in `work`, copied back at the end: there the
        // three arrays are 64-byte aligned and never 4 KiB apart, whatever the address of
        // θ (in θ, a, b, c are 8m bytes apart; at m = 256 the run took 1.5x as long
        // depending on where the heap had put θ).
        let stride = work_stride(m);
        let work = &mut self.work[..];
        let off = work.as_ptr().align_offset(64).min(LANES);
        let (wa, w) = work[off..].split_at_mut(stride);
        let (wb, w) = w.split_at_mut(stride);
        let wc = &mut w[..stride];
        let (a, b, c) = (&mut wa[..m], &mut wb[..m], &mut wc[..m]);
        a.copy_from_slice(ta);
        b.copy_from_slice(tb);
        c.copy_from_slice(tc);
        let (mut i0, mut z0) = draw(rng);
        let mut x0 = xs[i0];
        let mut h = out.output(forward_relu(simd, a, b, c, x0), x0);
        let mut result = Ok(());
        for done in start..end {
            let e = (h - ys[i0]) - z0;
            let g = two_lr * e;
            if !g.is_finite() {
                result = Err(done);
                break;
            }
            let fl = flush_due(done + 1, thr);
            let next = done + 1 < end;
            let (mut i1, mut z1, mut x1) = (0, 0.0, 0.0);
            if next {
                (i1, z1) = draw(rng);
                x1 = xs[i1];
            }
            let sum = match (next, fl) {
                (true, false) => pass_relu::<S, true, false>(simd, a, b, c, x0, g, x1, thr),
                (true, true) => pass_relu::<S, true, true>(simd, a, b, c, x0, g, x1, thr),
                (false, false) => pass_relu::<S, false, false>(simd, a, b, c, x0, g, x1, thr),
                (false, true) => pass_relu::<S, false, true>(simd, a, b, c, x0, g, x1, thr),
            };
            out.step(g, x0, fl, thr);
            if next {
                h = out.output(sum, x1);
                (i0, z0, x0) = (i1, z1, x1);
            }
        }
        ta.copy_from_slice(a);
        tb.copy_from_slice(b);
        tc.copy_from_slice(c);
        self.store_scalars(out, rest);
        result
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
        let mut out = self.load_scalars(rest);
        let (phi, dphi) = (&mut self.phi[..], &mut self.dphi[..]);

        let (mut i0, mut z0) = sp.sampler.draw(rng);
        let mut x0 = xs[i0];
        let first = if VECTOR {
            A::forward_vec(simd, a, b, c, x0)
        } else {
            forward::<A>(a, b, c, phi, dphi, x0)
        };
        let mut h = out.output(first, x0);
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
            out.step(g, x0, fl, thr);
            if next {
                h = out.output(sum, x1);
                (i0, z0, x0) = (i1, z1, x1);
            }
        }
        self.store_scalars(out, rest);
        result
    }
}

/// The masked relu run in a function of its own: `simd.vectorize` from a function
/// without target features cannot be inlined, so the step loop gets its own register
/// allocation instead of sharing one with every other kernel of the fused dispatch
/// (which spilled the step's state to the stack).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn run_relu_outlined<S: Simd>(
    simd: S,
    fused: &mut Fused,
    theta: &mut [f64],
    xs: &[f64],
    ys: &[f64],
    rng: &mut TrainRng,
    sp: &StepParams,
    start: u64,
    end: u64,
) -> Result<(), u64> {
    simd.vectorize(ReluRun {
        fused,
        theta,
        xs,
        ys,
        rng,
        sp,
        start,
        end,
    })
}

struct ReluRun<'a> {
    fused: &'a mut Fused,
    theta: &'a mut [f64],
    xs: &'a [f64],
    ys: &'a [f64],
    rng: &'a mut TrainRng,
    sp: &'a StepParams,
    start: u64,
    end: u64,
}

impl pulp::WithSimd for ReluRun<'_> {
    type Output = Result<(), u64>;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        let ReluRun {
            fused,
            theta,
            xs,
            ys,
            rng,
            sp,
            start,
            end,
        } = self;
        // The loop is compiled per sampler so that it holds no call (a call would spill
        // the step's state to the stack); each closure is exactly `Sampler::draw`.
        match sp.sampler {
            Sampler::Noise {
                n,
                sigma,
                dist: NoiseDist::Rademacher,
            } => fused.run_relu(simd, theta, xs, ys, rng, sp, start, end, |r| {
                let i = r.index(n);
                (i, sigma * r.unit_noise(NoiseDist::Rademacher))
            }),
            Sampler::Copies { n, count, offsets } => {
                fused.run_relu(simd, theta, xs, ys, rng, sp, start, end, |r| {
                    copy_of(r.index(count * n), n, &offsets)
                })
            }
            sampler => fused.run_relu(simd, theta, xs, ys, rng, sp, start, end, |r| {
                sampler.draw(r)
            }),
        }
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

vector_act!(Ident);
scalar_act!(Tanh, Logistic);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{init_network, Kernel, RunStatus, TrainConfig, Trainer};
    use crate::{builtin, Architecture};

    fn relu_net(m: usize, seed: u64, edit: impl Fn(&mut [f64])) -> Network {
        let arch = Architecture::shallow(m, Activation::Relu);
        let mut net = init_network(&arch, seed, 1.0).unwrap();
        let mut theta = net.params();
        edit(&mut theta);
        net.set_params(&theta).unwrap();
        net
    }

    /// The fused kernel under `simd`, run in calls ending at `targets`: θ and the
    /// generator after each call.
    fn fused_run<S: Simd>(
        simd: S,
        net: &Network,
        cfg: &TrainConfig,
        targets: &[u64],
    ) -> Vec<(Vec<u64>, TrainRng)> {
        let data = builtin::dataset("fig1").unwrap();
        let valid = cfg.check(net, &data).unwrap();
        let mut fused = Fused::plan(net).unwrap();
        let mut theta = net.params();
        let mut rng = TrainRng::new(cfg.seed);
        let sp = StepParams {
            sampler: valid.sampler(),
            lr: cfg.lr,
            batch: 1,
            explicit_reg: 0.0,
            explicit_sampled: false,
            threshold: cfg.flush_threshold,
        };
        let mut done = 0;
        let mut out = Vec::new();
        for &target in targets {
            let r = fused.run(
                simd,
                &mut theta,
                data.xs(),
                data.ys(),
                &mut rng,
                &sp,
                done,
                target,
            );
            assert_eq!(r, Ok(()));
            done = target;
            out.push((theta.iter().map(|x| x.to_bits()).collect(), rng.clone()));
        }
        out
    }

    const SCHEDULE: [u64; 9] = [1, 2, 63, 64, 65, 200, 1000, 1001, 3000];

    /// The relu pass under every `pulp` level and split into calls gives the bits of one
    /// scalar call; and it follows the general path (no FMAs) to within rounding.
    fn check_all_levels(net: &Network, cfg: &TrainConfig, what: &str) {
        let whole = fused_run(pulp::Scalar::new(), net, cfg, &[3000]);
        let scalar = fused_run(pulp::Scalar::new(), net, cfg, &SCHEDULE);
        assert_eq!(scalar.last(), whole.last(), "{what}: calls change nothing");
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(v3) = pulp::x86::V3::try_new() {
                let r = v3.vectorize(|| fused_run(v3, net, cfg, &SCHEDULE));
                assert!(r == scalar, "{what}: V3 and scalar bits differ");
            }
            if let Some(v4) = pulp::x86::V4::try_new() {
                let r = v4.vectorize(|| fused_run(v4, net, cfg, &SCHEDULE));
                assert!(r == scalar, "{what}: V4 and scalar bits differ");
            }
        }
        let data = builtin::dataset("fig1").unwrap();
        let valid = cfg.check(net, &data).unwrap();
        let mut general =
            Trainer::with_kernel(net.clone(), data.clone(), valid, Kernel::General).unwrap();
        for (target, (bits, rng)) in SCHEDULE.iter().zip(&scalar) {
            assert_eq!(general.run_until(*target), RunStatus::Ok, "{what}");
            assert_eq!(rng, &general.checkpoint().rng, "{what}: the same draws");
            let want = general.params();
            let scale = want.iter().fold(0.0f64, |s, v| s.max(v.abs()));
            for (k, (b, y)) in bits.iter().zip(want).enumerate() {
                let x = f64::from_bits(*b);
                assert!(
                    (x - y).abs() <= 1e-10 * scale,
                    "{what} step {target} θ_{k}: fused {x} vs general {y}"
                );
            }
        }
    }

    #[test]
    fn relu_pass_bits_do_not_depend_on_simd_level_or_calls() {
        let base = TrainConfig {
            lr: 0.005,
            noise: 0.5,
            seed: 3,
            ..TrainConfig::default()
        };
        let cfgs = [
            ("rademacher", base.clone()),
            (
                "two copies",
                TrainConfig {
                    two_copies: true,
                    ..base.clone()
                },
            ),
            (
                "three copies",
                TrainConfig {
                    copies: vec![-0.6, 0.0, 0.6],
                    ..base.clone()
                },
            ),
            (
                "gaussian",
                TrainConfig {
                    noise_dist: NoiseDist::Gaussian,
                    ..base.clone()
                },
            ),
            (
                "no noise",
                TrainConfig {
                    noise: 0.0,
                    ..base.clone()
                },
            ),
        ];
        for m in [3, 8, 16, 37, 64] {
            // Exact zeros in every block (+0.0 and −0.0 in c; +0.0 in a and b), tiny
            // units for the subnormal guard; then −0.0 in a, b and b_out.
            let zeros = |t: &mut [f64]| {
                t[0] = 0.0;
                t[m + 1] = 0.0;
                t[2 * m] = -0.0;
                t[2 * m + 2] = 0.0;
                for j in (m / 2)..m {
                    t[j] *= 1e-300;
                    t[m + j] *= 1e-300;
                }
            };
            let nets = [
                ("plain", relu_net(m, 5, |_| {})),
                ("zeros", relu_net(m, 6, zeros)),
                ("-0 in a", relu_net(m, 7, |t| t[1] = -0.0)),
                ("-0 in b", relu_net(m, 7, |t| t[m] = -0.0)),
                ("-0 in b_out", relu_net(m, 7, |t| t[3 * m] = -0.0)),
            ];
            for (name, net) in &nets {
                for (cname, cfg) in &cfgs {
                    check_all_levels(net, cfg, &format!("m={m} {name} {cname}"));
                }
            }
        }
    }
}
