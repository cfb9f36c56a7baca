//! Many runs per core: up to [`PACK`] relu runs of one shape trained side by side, one
//! run per vector lane.
//!
//! At small widths one run's fused step ([`super::fused`]) is short, and most of it is
//! per-step work that does not grow with the width: two random draws, the tree that
//! adds up the output, the output bias and skip, and the chain of dependent operations
//! from one step's output to the next step's update. Here lane l of every vector holds
//! run l: its parameters (structure of arrays, `a[j][l]`), its generator, its η and σ.
//! Every operation of a step is done for the [`PACK`] runs at once, so the per-step work
//! is shared and [`PACK`] independent chains overlap.
//!
//! # Same bits as one run at a time
//!
//! Lane l performs exactly the operations of the fused relu kernel on run l, in the same
//! order, with the same roundings: z_j = fma(a_j, x₀, b_j); where z_j > 0,
//! a_j ← fma(−(g x₀), c_j, a_j), b_j ← fma(−g, c_j, b_j), c_j ← fma(−g, z_j, c_j); the
//! subnormal guard every [`FLUSH_EVERY`](super::FLUSH_EVERY) steps; unit j of the first
//! ⌊m/8⌋·8 adds c_j' φ(z_j') into the partial sum of set ⌊j/8⌋ mod 4, lane j mod 8, the
//! rest into a tail, all from +0.0, combined by the same tree; h = (sum + b_out) + s x.
//! The generator is xoshiro256++ stepped in lanes, and the draws are those of
//! [`Sampler::draw`]: Lemire's index (the 128-bit product formed from 32-bit halves,
//! exact for n·K < 2³²; the rare rejection is taken per lane), then the Rademacher sign
//! from the top bit or the uniform value from the top 53 bits, or the copy's offset. So
//! a run's θ, generator state and step count after a packed call are bit-identical to
//! those after [`Trainer::run_until`](super::Trainer::run_until) alone, whatever the
//! other lanes hold, and however runs are grouped (tests: `tests/packed.rs`).
//!
//! A lane whose step has a non-finite g = 2η e stops there, as a lone run does: its θ and
//! generator stay as they are, and the other lanes go on (the masked form of the pass,
//! used only once some lane has stopped or the pack is not full).
//!
//! # What packs
//!
//! Runs on the fused relu kernel (1-D inputs, one relu hidden layer, batch 1, no explicit
//! regularization) with the same width, output bias and skip (trainable or frozen), data,
//! step count, subnormal guard threshold and kind of sampler: Rademacher or uniform noise
//! (any σ per lane) or copies with the same number of offsets (any offsets per lane);
//! η differs freely. Gaussian noise draws by a ziggurat that does not step in lanes, so
//! such runs train one at a time, as do runs on other kernels. See
//! [`Trainer::run_together`].

use pulp::Simd;

use super::fused::{SkipPlan, RELU_SETS};
use super::kernel::{flush_due, flush_simd, LANES};
use super::noise::{NoiseDist, Sampler, TrainRng, MAX_COPIES, SQRT_3};
use super::{Engine, RunStatus, Trainer};

/// Runs per pack: one AVX-512 vector of f64 (two AVX2 vectors).
pub const PACK: usize = 8;

/// The widest network that trains packed: above it the per-step work that packing
/// shares is a small part of a step (measured by the `packed` bench; docs/conventions.md#packed-runs).
pub const PACK_MAX_WIDTH: usize = 128;

/// One f64 per lane, 64-byte aligned so that an AVX-512 load or store of it never
/// splits across cache lines (unaligned, the pass was 2x slower at m = 64).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
struct Lanes([f64; PACK]);

/// Every lane 0.0.
const ZERO: Lanes = Lanes([0.0; PACK]);

impl std::ops::Deref for Lanes {
    type Target = [f64; PACK];
    fn deref(&self) -> &[f64; PACK] {
        &self.0
    }
}

impl std::ops::DerefMut for Lanes {
    fn deref_mut(&mut self) -> &mut [f64; PACK] {
        &mut self.0
    }
}
type Words = [u64; PACK];

/// The lanes `[e(0), …, e(PACK − 1)]` of an expression in `l`, written out in a loop in
/// place: a closure (as `std::array::from_fn` takes) was compiled as a call outside the
/// instruction set of the pack.
macro_rules! lanes {
    ($l:ident => $e:expr) => {{
        let mut out = ZERO;
        for $l in 0..PACK {
            out[$l] = $e;
        }
        out
    }};
}

/// `if keep { old } else { new }` per lane, without a branch.
#[inline(always)]
fn keep_u64(keep: bool, old: u64, new: u64) -> u64 {
    let k = 0u64.wrapping_sub(u64::from(keep));
    (old & k) | (new & !k)
}

/// [`PACK`] xoshiro256++ generators, word k of lane l in `s[k][l]`. The lane loops are
/// plain integer operations without branches, which the compiler turns into vector
/// instructions (`pulp`'s vectors have no 64-bit shifts).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Streams {
    s: [Words; 4],
}

impl Streams {
    fn new(rngs: &[[u64; 4]; PACK]) -> Self {
        Streams {
            s: std::array::from_fn(|k| std::array::from_fn(|l| rngs[l][k])),
        }
    }

    fn lane(&self, l: usize) -> [u64; 4] {
        std::array::from_fn(|k| self.s[k][l])
    }

    /// The next output of every lane (xoshiro256++: rotl(s₀ + s₃, 23) + s₀, then the
    /// state transition); with `MASKED`, only the lanes in `on` advance. One loop per
    /// operation, each a single vector instruction on AVX-512.
    #[inline(always)]
    fn next<const MASKED: bool>(&mut self, on: &[bool; PACK]) -> Words {
        let old = self.s;
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u64; PACK];
        let mut t = [0u64; PACK];
        for l in 0..PACK {
            out[l] = s0[l]
                .wrapping_add(s3[l])
                .rotate_left(23)
                .wrapping_add(s0[l]);
        }
        for l in 0..PACK {
            t[l] = s1[l] << 17;
        }
        for l in 0..PACK {
            s2[l] ^= s0[l];
        }
        for l in 0..PACK {
            s3[l] ^= s1[l];
        }
        for l in 0..PACK {
            s1[l] ^= s2[l];
        }
        for l in 0..PACK {
            s0[l] ^= s3[l];
        }
        for l in 0..PACK {
            s2[l] ^= t[l];
        }
        for w in s3.iter_mut() {
            *w = w.rotate_left(45);
        }
        if MASKED {
            for (k, words) in self.s.iter_mut().enumerate() {
                for l in 0..PACK {
                    words[l] = keep_u64(!on[l], old[k][l], words[l]);
                }
            }
        }
        out
    }

    /// The next output of lane `l` alone (the rare rejection of [`Self::index`]).
    fn next_lane(&mut self, l: usize) -> u64 {
        let mut on = [false; PACK];
        on[l] = true;
        self.next::<true>(&on)[l]
    }

    /// An index uniform on {0, …, n−1} per lane, by Lemire's method exactly as
    /// [`TrainRng::index`]: the high word of the 128-bit product r·n, redrawn while its
    /// low word is below 2⁶⁴ mod n. `n < 2³²`, so r·n = (r_hi n)·2³² + r_lo n with both
    /// 32-bit products exact in 64 bits.
    #[inline(always)]
    fn index<const MASKED: bool>(&mut self, n: u64, on: &[bool; PACK]) -> Words {
        let r = self.next::<MASKED>(on);
        let mut hi = [0u64; PACK];
        let mut lo = [0u64; PACK];
        let mut rare = 0u64;
        for l in 0..PACK {
            let p_lo = (r[l] & 0xffff_ffff) * n;
            let p_hi = (r[l] >> 32) * n;
            hi[l] = (p_hi + (p_lo >> 32)) >> 32;
            lo[l] = (p_hi << 32).wrapping_add(p_lo);
            rare |= u64::from(lo[l] < n);
        }
        if rare != 0 {
            let threshold = n.wrapping_neg() % n;
            for l in 0..PACK {
                if (MASKED && !on[l]) || lo[l] >= n {
                    continue;
                }
                while lo[l] < threshold {
                    let m = u128::from(self.next_lane(l)) * u128::from(n);
                    (lo[l], hi[l]) = (m as u64, (m >> 64) as u64);
                }
            }
        }
        hi
    }
}

/// How the lanes draw (i, Z): [`Sampler`] with the parts that may differ per lane.
// One `Draw` per pack and call, on the stack: the copies' offsets stay inline.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
enum Draw {
    Rademacher {
        n: u64,
        sigma: Lanes,
    },
    Uniform {
        n: u64,
        sigma: Lanes,
    },
    Copies {
        n: u64,
        count: u64,
        offsets: [[f64; MAX_COPIES]; PACK],
    },
}

impl Draw {
    /// The lanes' samplers as one, or `None` when they cannot draw together (Gaussian
    /// noise, different n or kinds, or n·K ≥ 2³²). Missing lanes copy the first.
    fn new(samplers: &[Sampler]) -> Option<Self> {
        let first = *samplers.first()?;
        let lane = |l: usize| samplers.get(l).copied().unwrap_or(first);
        let small = |n: usize| (n as u64) < (1u64 << 32);
        match first {
            Sampler::Noise { n, dist, .. } if dist != NoiseDist::Gaussian && small(n) => {
                let mut sigma = ZERO;
                for (l, s) in sigma.iter_mut().enumerate() {
                    match lane(l) {
                        Sampler::Noise {
                            n: nl,
                            sigma: sl,
                            dist: dl,
                        } if nl == n && dl == dist => *s = sl,
                        _ => return None,
                    }
                }
                let n = n as u64;
                Some(match dist {
                    NoiseDist::Rademacher => Draw::Rademacher { n, sigma },
                    _ => Draw::Uniform { n, sigma },
                })
            }
            Sampler::Copies { n, count, .. } if small(n * count) => {
                let mut offsets = [[0.0; MAX_COPIES]; PACK];
                for (l, o) in offsets.iter_mut().enumerate() {
                    match lane(l) {
                        Sampler::Copies {
                            n: nl,
                            count: kl,
                            offsets: ol,
                        } if nl == n && kl == count => *o = ol,
                        _ => return None,
                    }
                }
                Some(Draw::Copies {
                    n: n as u64,
                    count: count as u64,
                    offsets,
                })
            }
            _ => None,
        }
    }

    /// One sample (i, Z) per lane, drawn as [`Sampler::draw`] draws it: the Rademacher
    /// sign is 1.0 with the top bit of the draw as its sign bit (+1 when it is 0), the
    /// copy j = ⌊k/n⌋ by at most K − 1 masked subtractions.
    #[inline(always)]
    fn draw<const MASKED: bool>(&self, st: &mut Streams, on: &[bool; PACK]) -> (Words, Lanes) {
        match self {
            Draw::Rademacher { n, sigma } => {
                let i = st.index::<MASKED>(*n, on);
                let w = st.next::<MASKED>(on);
                let one = 1.0f64.to_bits();
                let z = lanes!(l => sigma[l] * f64::from_bits(one | (w[l] & (1 << 63))));
                (i, z)
            }
            Draw::Uniform { n, sigma } => {
                let i = st.index::<MASKED>(*n, on);
                let w = st.next::<MASKED>(on);
                let z = lanes!(l => {
                    // (w >> 11) < 2⁵³ converts exactly, as `TrainRng::unit_f64`.
                    let u = ((w[l] >> 11) as i64) as f64 * (1.0 / (1u64 << 53) as f64);
                    sigma[l] * (SQRT_3 * (2.0 * u - 1.0))
                });
                (i, z)
            }
            Draw::Copies { n, count, offsets } => {
                let mut k = st.index::<MASKED>(n * count, on);
                let mut j = [0u64; PACK];
                for _ in 1..*count {
                    for l in 0..PACK {
                        let past = u64::from(k[l] >= *n);
                        k[l] -= n * past;
                        j[l] += past;
                    }
                }
                let z = lanes!(l => offsets[l][j[l] as usize & (MAX_COPIES - 1)]);
                (k, z)
            }
        }
    }
}

/// The shape every run of a pack shares, and its buffers.
struct Pack {
    m: usize,
    /// θ index of the output bias, if any (trainable).
    out_bias: Option<usize>,
    /// θ index of a trainable skip weight.
    skip_at: Option<usize>,
    has_skip: bool,
    /// a, b, c of unit j, lane l at `[j][0][l]`, `[j][1][l]`, `[j][2][l]`: one unit's
    /// three vectors side by side, read and written in one sweep (three arrays of their
    /// own were 1.4x slower at m = 16).
    units: Vec<[Lanes; 3]>,
    /// The output's partial sums, reused by every pass.
    sums: Sums,
}

/// Per-step values of the pass, per lane.
struct StepLanes {
    x0: Lanes,
    x1: Lanes,
    neg_g: Lanes,
    neg_gx0: Lanes,
}

/// The partial sums of the output: set s, unit lane q at `[s · 8 + q]`, then the tail.
type Sums = ([Lanes; RELU_SETS * LANES], Lanes);

/// `fma(a, b, c)` where `on`, else `c`: the masked update of eq. 3 and of the output
/// sum. On AVX-512 (`v4` is given only when `S` is pulp's AVX-512 level) one masked
/// FMA instruction, `vfmadd231pd {k}`; the compiler made an FMA and a blend of the
/// select (11 vector operations per unit instead of 8: 1.3x slower at m = 64).
#[inline(always)]
fn fma_or<S: Simd>(
    simd: S,
    v4: Option<Avx512>,
    on: S::m64s,
    a: S::f64s,
    b: S::f64s,
    c: S::f64s,
) -> S::f64s {
    #[cfg(target_arch = "x86_64")]
    if let Some(v4) = v4 {
        // Only reached with S = V4, whose vectors and masks are these types (the casts
        // check the sizes; in the other instantiations this code is never run).
        use pulp::bytemuck::cast;
        let k: pulp::b8 = cast(on);
        let r = v4
            .avx512f
            ._mm512_mask3_fmadd_pd(cast(a), cast(b), cast(c), k.0);
        return cast(r);
    }
    simd.select_f64s(on, simd.mul_add_f64s(a, b, c), c)
}

/// pulp's AVX-512 level, the only one [`fma_or`] has an instruction of its own for.
#[cfg(target_arch = "x86_64")]
type Avx512 = pulp::x86::V4;
#[cfg(not(target_arch = "x86_64"))]
type Avx512 = std::convert::Infallible;

/// [`Avx512`] when `S` is it (eight f64 lanes on x86-64), else `None`.
#[inline(always)]
fn avx512_of<S: Simd>() -> Option<Avx512> {
    #[cfg(target_arch = "x86_64")]
    if S::F64_LANES == 8 {
        return pulp::x86::V4::try_new();
    }
    None
}

/// c φ(a x + b) per lane added into `sum`, or, when `fresh` (the unit is the first of its
/// partial sum, module docs), stored into it from +0.0: how a unit's output goes into the
/// output's partial sums, in [`Pack::forward`] as in [`UnitStep::unit`].
#[inline(always)]
fn add_unit<S: Simd>(
    simd: S,
    v4: Option<Avx512>,
    unit: &[Lanes; 3],
    x: &Lanes,
    sum: &mut Lanes,
    fresh: bool,
) {
    let zero = simd.splat_f64s(0.0);
    let (xv, _) = S::as_simd_f64s(&x[..]);
    let (sv, _) = S::as_mut_simd_f64s(&mut sum[..]);
    let [a, b, c] = unit;
    let (av, bv, cv) = (
        S::as_simd_f64s(&a[..]).0,
        S::as_simd_f64s(&b[..]).0,
        S::as_simd_f64s(&c[..]).0,
    );
    for q in 0..sv.len() {
        let z = simd.mul_add_f64s(av[q], xv[q], bv[q]);
        let on = simd.greater_than_f64s(z, zero);
        let base = if fresh { zero } else { sv[q] };
        sv[q] = fma_or(simd, v4, on, cv[q], z, base);
    }
}

impl Pack {
    /// Σ_j c_j φ(a_j x + b_j) per lane, summed as `fused::forward_relu` sums it.
    #[inline(always)]
    fn forward<S: Simd>(&self, simd: S, x: &Lanes) -> Lanes {
        // The three loops of `pass`, so that each unit goes into the partial sum it goes
        // into there.
        let m = self.m;
        let full = m - m % LANES;
        let first = full.min(RELU_SETS * LANES);
        let v4 = avx512_of::<S>();
        let mut sums: Sums = ([ZERO; RELU_SETS * LANES], ZERO);
        let (acc, tail) = &mut sums;
        for (unit, sum) in self.units[..first].iter().zip(acc.iter_mut()) {
            add_unit(simd, v4, unit, x, sum, true);
        }
        for (j, unit) in self.units[first..full].iter().enumerate() {
            add_unit(simd, v4, unit, x, &mut acc[j % (RELU_SETS * LANES)], false);
        }
        if let Some((head, rest)) = self.units[full..].split_first() {
            add_unit(simd, v4, head, x, tail, true);
            for unit in rest {
                add_unit(simd, v4, unit, x, tail, false);
            }
        }
        total(simd, &sums, full / LANES, full < m)
    }

    /// One step's pass over the units (`fused::pass_relu` per lane): the update at x₀
    /// with g, and, when `NEXT`, the sum for x₁ from the updated units. `MASKED`: lanes
    /// whose `live` is not positive are left exactly as they are. Three loops, so that
    /// each knows its units' partial sum without a test: the first 32 units of the full
    /// chunks (unit j into sum j, from +0.0), the rest of the full chunks (j mod 32), the
    /// units after them (the tail).
    #[inline(always)]
    fn pass<S: Simd, const NEXT: bool, const FLUSH: bool, const MASKED: bool>(
        &mut self,
        simd: S,
        k: &StepLanes,
        thr: f64,
        live: &Lanes,
    ) -> Lanes {
        let m = self.m;
        let full = m - m % LANES;
        let first = full.min(RELU_SETS * LANES);
        let v = UnitStep::<S> {
            v4: avx512_of::<S>(),
            zero: simd.splat_f64s(0.0),
            thr: simd.splat_f64s(thr),
            x0: S::as_simd_f64s(&k.x0[..]).0,
            x1: S::as_simd_f64s(&k.x1[..]).0,
            neg_g: S::as_simd_f64s(&k.neg_g[..]).0,
            neg_gx0: S::as_simd_f64s(&k.neg_gx0[..]).0,
            live: S::as_simd_f64s(&live[..]).0,
        };
        let (acc, tail) = &mut self.sums;
        for (unit, sum) in self.units[..first].iter_mut().zip(acc.iter_mut()) {
            v.unit::<NEXT, FLUSH, MASKED, true>(simd, unit, sum);
        }
        for (j, unit) in self.units[first..full].iter_mut().enumerate() {
            v.unit::<NEXT, FLUSH, MASKED, false>(simd, unit, &mut acc[j % (RELU_SETS * LANES)]);
        }
        if let Some((head, rest)) = self.units[full..].split_first_mut() {
            v.unit::<NEXT, FLUSH, MASKED, true>(simd, head, tail);
            for unit in rest {
                v.unit::<NEXT, FLUSH, MASKED, false>(simd, unit, tail);
            }
        }
        if NEXT {
            total(simd, &self.sums, full / LANES, full < m)
        } else {
            ZERO
        }
    }
}

/// A step's values as vectors, for [`UnitStep::unit`].
struct UnitStep<'a, S: Simd> {
    v4: Option<Avx512>,
    zero: S::f64s,
    thr: S::f64s,
    x0: &'a [S::f64s],
    x1: &'a [S::f64s],
    neg_g: &'a [S::f64s],
    neg_gx0: &'a [S::f64s],
    live: &'a [S::f64s],
}

impl<S: Simd> UnitStep<'_, S> {
    /// One unit of [`Pack::pass`] in every lane: z = fma(a, x₀, b); where z > 0,
    /// a ← fma(−g x₀, c, a), b ← fma(−g, c, b), c ← fma(−g, z, c); the guard; then, when
    /// `NEXT`, its term of the output sum into `sum` (from +0.0 when `FRESH`).
    #[inline(always)]
    fn unit<const NEXT: bool, const FLUSH: bool, const MASKED: bool, const FRESH: bool>(
        &self,
        simd: S,
        unit: &mut [Lanes; 3],
        sum: &mut Lanes,
    ) {
        let zero = self.zero;
        let [a, b, c] = unit;
        let (av, _) = S::as_mut_simd_f64s(&mut a[..]);
        let (bv, _) = S::as_mut_simd_f64s(&mut b[..]);
        let (cv, _) = S::as_mut_simd_f64s(&mut c[..]);
        let (sv, _) = S::as_mut_simd_f64s(&mut sum[..]);
        for q in 0..sv.len() {
            let (a, b, c) = (av[q], bv[q], cv[q]);
            let z0 = simd.mul_add_f64s(a, self.x0[q], b);
            let on = simd.greater_than_f64s(z0, zero);
            let mut an = fma_or(simd, self.v4, on, self.neg_gx0[q], c, a);
            let mut bn = fma_or(simd, self.v4, on, self.neg_g[q], c, b);
            let mut cn = fma_or(simd, self.v4, on, self.neg_g[q], z0, c);
            if FLUSH {
                an = flush_simd(simd, an, self.thr);
                bn = flush_simd(simd, bn, self.thr);
                cn = flush_simd(simd, cn, self.thr);
            }
            if MASKED {
                let alive = simd.greater_than_f64s(self.live[q], zero);
                an = simd.select_f64s(alive, an, a);
                bn = simd.select_f64s(alive, bn, b);
                cn = simd.select_f64s(alive, cn, c);
            }
            av[q] = an;
            bv[q] = bn;
            cv[q] = cn;
            if NEXT {
                let z1 = simd.mul_add_f64s(an, self.x1[q], bn);
                let on1 = simd.greater_than_f64s(z1, zero);
                let base = if FRESH { zero } else { sv[q] };
                sv[q] = fma_or(simd, self.v4, on1, cn, z1, base);
            }
        }
    }
}

/// `fused::relu_total` per lane: per unit lane q the sets (S₀ + S₁) + (S₂ + S₃) (fewer
/// when fewer chunks), the tree ((q₀+q₄)+(q₁+q₅)) + ((q₂+q₆)+(q₃+q₇)), then the tail.
/// (No closures here or in the other per-step code: a closure was compiled as a call
/// outside the instruction set of the pack.)
#[inline(always)]
fn total<S: Simd>(simd: S, sums: &Sums, chunks: usize, has_tail: bool) -> Lanes {
    let (acc, tail) = sums;
    let mut out = ZERO;
    let (ov, _) = S::as_mut_simd_f64s(&mut out[..]);
    let (tv, _) = S::as_simd_f64s(&tail[..]);
    for (k, o) in ov.iter_mut().enumerate() {
        let mut q = [simd.splat_f64s(0.0); LANES];
        for (u, qu) in q.iter_mut().enumerate() {
            let s0 = S::as_simd_f64s(&acc[u][..]).0[k];
            *qu = match chunks {
                0 | 1 => s0,
                2 => simd.add_f64s(s0, S::as_simd_f64s(&acc[LANES + u][..]).0[k]),
                _ => {
                    let s1 = S::as_simd_f64s(&acc[LANES + u][..]).0[k];
                    let s2 = S::as_simd_f64s(&acc[2 * LANES + u][..]).0[k];
                    let s3 = S::as_simd_f64s(&acc[3 * LANES + u][..]).0[k];
                    simd.add_f64s(simd.add_f64s(s0, s1), simd.add_f64s(s2, s3))
                }
            };
        }
        let left = simd.add_f64s(simd.add_f64s(q[0], q[4]), simd.add_f64s(q[1], q[5]));
        let right = simd.add_f64s(simd.add_f64s(q[2], q[6]), simd.add_f64s(q[3], q[7]));
        let tree = simd.add_f64s(left, right);
        *o = if has_tail {
            simd.add_f64s(tree, tv[k])
        } else {
            tree
        };
    }
    out
}

/// The lanes' output biases, skip weights (trainable or frozen; 0 without a skip unit)
/// and 2η.
#[derive(Clone, Copy)]
struct Scalars {
    bout: Lanes,
    s: Lanes,
    two_lr: Lanes,
}

/// What passes from one step to the next, per lane: the drawn sample (x₀, y₀, Z₀) of the
/// step to do and the output h(x₀) it will use.
#[derive(Clone, Copy)]
struct Carry {
    x0: Lanes,
    y0: Lanes,
    z0: Lanes,
    h: Lanes,
}

/// h = (sum + b_out) + s x per lane, as `fused::OutputScalars::output` (+ 0.0 without
/// a skip unit, as there).
#[inline(always)]
fn output<S: Simd>(simd: S, sum: &Lanes, sc: &Scalars, x: &Lanes, has_skip: bool) -> Lanes {
    let mut out = ZERO;
    let (ov, _) = S::as_mut_simd_f64s(&mut out[..]);
    let (sum, bout) = (S::as_simd_f64s(&sum[..]).0, S::as_simd_f64s(&sc.bout[..]).0);
    let (s, x) = (S::as_simd_f64s(&sc.s[..]).0, S::as_simd_f64s(&x[..]).0);
    for (k, o) in ov.iter_mut().enumerate() {
        let skip = if has_skip {
            simd.mul_f64s(s[k], x[k])
        } else {
            simd.splat_f64s(0.0)
        };
        *o = simd.add_f64s(simd.add_f64s(sum[k], bout[k]), skip);
    }
    out
}

/// The lanes of a pack in a call: which still run (`on`, and `live` = 1.0 or 0.0 for
/// the vector masks) and where those that stopped stopped.
struct Liveness {
    on: [bool; PACK],
    live: Lanes,
    ended: [Option<u64>; PACK],
}

/// Steps `start+1 ..= end` of the live lanes from `carry` (see the module docs). A lane
/// whose g is not finite stops there (`ended`). Unmasked, that returns the step at which
/// to go on masked (nothing of that step done yet); masked, the other lanes go on.
/// `None` when the call is over.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn steps<S: Simd, const MASKED: bool>(
    simd: S,
    pack: &mut Pack,
    draw: &Draw,
    st: &mut Streams,
    sc: &mut Scalars,
    lv: &mut Liveness,
    carry: &mut Carry,
    data: (&[f64], &[f64]),
    thr: f64,
    start: u64,
    end: u64,
) -> Option<u64> {
    let (xs, ys) = data;
    let (bout_tr, s_tr, skip) = (
        pack.out_bias.is_some(),
        pack.skip_at.is_some(),
        pack.has_skip,
    );
    let Carry {
        mut x0,
        mut y0,
        mut z0,
        mut h,
    } = *carry;
    let (zero, inf) = (simd.splat_f64s(0.0), simd.splat_f64s(f64::INFINITY));
    let thr_v = simd.splat_f64s(thr);
    let mut switch = None;
    for done in start..end {
        // g = 2η ((h − y) − Z), and whether a running lane's g is not finite.
        let mut g = ZERO;
        let mut bad = false;
        {
            let (gv, _) = S::as_mut_simd_f64s(&mut g[..]);
            let (t, hv) = (S::as_simd_f64s(&sc.two_lr[..]).0, S::as_simd_f64s(&h[..]).0);
            let (yv, zv) = (S::as_simd_f64s(&y0[..]).0, S::as_simd_f64s(&z0[..]).0);
            let live = S::as_simd_f64s(&lv.live[..]).0;
            for k in 0..gv.len() {
                gv[k] = simd.mul_f64s(t[k], simd.sub_f64s(simd.sub_f64s(hv[k], yv[k]), zv[k]));
                let finite = simd.less_than_f64s(simd.abs_f64s(gv[k]), inf);
                let mut stop = simd.not_m64s(finite);
                if MASKED {
                    stop = simd.and_m64s(stop, simd.greater_than_f64s(live[k], zero));
                }
                bad |= simd.first_true_m64s(stop) < S::F64_LANES;
            }
        }
        if bad {
            // As a lone run (`fused::Fused::run_relu`), the lane stops before this step.
            for l in 0..PACK {
                if lv.on[l] && !g[l].is_finite() {
                    lv.on[l] = false;
                    lv.live[l] = 0.0;
                    lv.ended[l] = Some(done);
                }
            }
            if !lv.on.contains(&true) {
                break;
            }
            if !MASKED {
                switch = Some(done);
                break;
            }
        }
        let fl = flush_due(done + 1, thr);
        let next = done + 1 < end;
        let (mut x1, mut y1, mut z1) = (ZERO, ZERO, ZERO);
        if next {
            let (i1, z) = draw.draw::<MASKED>(st, &lv.on);
            x1 = lanes!(l => xs[i1[l] as usize]);
            y1 = lanes!(l => ys[i1[l] as usize]);
            z1 = z;
        }
        let mut k = StepLanes {
            x0,
            x1,
            neg_g: ZERO,
            neg_gx0: ZERO,
        };
        {
            let (ng, _) = S::as_mut_simd_f64s(&mut k.neg_g[..]);
            let (ngx, _) = S::as_mut_simd_f64s(&mut k.neg_gx0[..]);
            let (gv, xv) = (S::as_simd_f64s(&g[..]).0, S::as_simd_f64s(&x0[..]).0);
            for q in 0..ng.len() {
                ng[q] = simd.neg_f64s(gv[q]);
                ngx[q] = simd.neg_f64s(simd.mul_f64s(gv[q], xv[q]));
            }
        }
        let sum = match (next, fl) {
            (true, false) => pack.pass::<S, true, false, MASKED>(simd, &k, thr, &lv.live),
            (true, true) => pack.pass::<S, true, true, MASKED>(simd, &k, thr, &lv.live),
            (false, false) => pack.pass::<S, false, false, MASKED>(simd, &k, thr, &lv.live),
            (false, true) => pack.pass::<S, false, true, MASKED>(simd, &k, thr, &lv.live),
        };
        // b_out ← b_out − g, s ← s − g x₀, guarded on the guard's steps
        // (`fused::OutputScalars::step`), in lanes still running.
        {
            let (bv, _) = S::as_mut_simd_f64s(&mut sc.bout[..]);
            let (sv, _) = S::as_mut_simd_f64s(&mut sc.s[..]);
            let (gv, xv) = (S::as_simd_f64s(&g[..]).0, S::as_simd_f64s(&x0[..]).0);
            let live = S::as_simd_f64s(&lv.live[..]).0;
            for q in 0..gv.len() {
                let alive = simd.greater_than_f64s(live[q], zero);
                if bout_tr {
                    let mut v = simd.sub_f64s(bv[q], gv[q]);
                    if fl {
                        v = flush_simd(simd, v, thr_v);
                    }
                    bv[q] = if MASKED {
                        simd.select_f64s(alive, v, bv[q])
                    } else {
                        v
                    };
                }
                if s_tr {
                    let mut v = simd.sub_f64s(sv[q], simd.mul_f64s(gv[q], xv[q]));
                    if fl {
                        v = flush_simd(simd, v, thr_v);
                    }
                    sv[q] = if MASKED {
                        simd.select_f64s(alive, v, sv[q])
                    } else {
                        v
                    };
                }
            }
        }
        if next {
            h = output(simd, &sum, sc, &x1, skip);
            (x0, y0, z0) = (x1, y1, z1);
        }
    }
    *carry = Carry { x0, y0, z0, h };
    switch
}

/// A pack's steps under the instruction set `pulp` picked: the step loop is inlined into
/// `with_simd`, which is compiled per instruction set (AVX-512: one vector per
/// [`Lanes`]; AVX2: two).
struct PackOp<'a> {
    pack: &'a mut Pack,
    draw: &'a Draw,
    st: &'a mut Streams,
    sc: &'a mut Scalars,
    lv: &'a mut Liveness,
    data: (&'a [f64], &'a [f64]),
    thr: f64,
    start: u64,
    end: u64,
}

impl pulp::WithSimd for PackOp<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let PackOp {
            pack,
            draw,
            st,
            sc,
            lv,
            data,
            thr,
            start,
            end,
        } = self;
        if start >= end {
            return;
        }
        let (xs, ys) = data;
        let (i0, z0) = draw.draw::<true>(st, &lv.on);
        let x0: Lanes = lanes!(l => xs[i0[l] as usize]);
        let first = pack.forward(simd, &x0);
        let mut carry = Carry {
            x0,
            y0: lanes!(l => ys[i0[l] as usize]),
            z0,
            h: output(simd, &first, sc, &x0, pack.has_skip),
        };
        let switch = if lv.on.iter().all(|&on| on) {
            steps::<S, false>(
                simd, pack, draw, st, sc, lv, &mut carry, data, thr, start, end,
            )
        } else {
            Some(start)
        };
        if let Some(at) = switch {
            steps::<S, true>(simd, pack, draw, st, sc, lv, &mut carry, data, thr, at, end);
        }
    }
}

/// What must agree for runs to share a pack (module docs, "What packs").
#[derive(Clone, Debug, PartialEq)]
struct PackKey {
    m: usize,
    out_bias: Option<usize>,
    skip_at: Option<usize>,
    has_skip: bool,
    step: u64,
    threshold: f64,
    sampler: std::mem::Discriminant<Sampler>,
    dist: Option<NoiseDist>,
    copies: usize,
}

impl Trainer {
    /// The pack key of this run, or `None` when it trains alone (another kernel or
    /// activation, wider than [`PACK_MAX_WIDTH`], Gaussian noise, or diverged).
    fn pack_key(&self) -> Option<PackKey> {
        let Engine::Fused(fused) = &self.engine else {
            return None;
        };
        let (m, out_bias, skip) = fused.relu_layout()?;
        let sampler = self.cfg.sampler();
        Draw::new(&[sampler])?;
        (m <= PACK_MAX_WIDTH && self.diverged.is_none()).then(|| PackKey {
            m,
            out_bias,
            skip_at: match skip {
                SkipPlan::Trainable(at) => Some(at),
                _ => None,
            },
            has_skip: skip != SkipPlan::None,
            step: self.step,
            threshold: self.cfg.flush_threshold,
            sampler: std::mem::discriminant(&sampler),
            dist: match sampler {
                Sampler::Noise { dist, .. } => Some(dist),
                Sampler::Copies { .. } => None,
            },
            copies: match sampler {
                Sampler::Copies { count, .. } => count,
                Sampler::Noise { .. } => 0,
            },
        })
    }

    /// The width of this run's network when it could train packed.
    pub(crate) fn pack_width(&self) -> Option<usize> {
        self.pack_key().map(|k| k.m)
    }

    /// Whether this run and `other` can share a pack now (module docs, "What packs").
    pub(crate) fn packs_with(&self, other: &Trainer) -> bool {
        match (self.pack_key(), other.pack_key()) {
            (Some(a), Some(b)) => a == b && same_data(self, other),
            _ => false,
        }
    }

    /// Runs every trainer until `target_step` steps are done, as
    /// [`run_until`](Self::run_until) on each would, with the same results bit for bit,
    /// but trains runs that can share a pack ([`PACK`] per pack; module docs, "What
    /// packs") side by side in vector lanes: at small widths several times as many
    /// steps per second per core. The statuses are in the order of `trainers`.
    pub fn run_together(trainers: &mut [&mut Trainer], target_step: u64) -> Vec<RunStatus> {
        let keys: Vec<Option<PackKey>> = trainers
            .iter()
            .map(|t| t.pack_key().filter(|_| t.step < target_step))
            .collect();
        let mut status = vec![None; trainers.len()];
        let mut taken = vec![false; trainers.len()];
        for first in 0..trainers.len() {
            if taken[first] {
                continue;
            }
            taken[first] = true;
            let mut members = vec![first];
            if let Some(key) = &keys[first] {
                for other in first + 1..trainers.len() {
                    if members.len() == PACK {
                        break;
                    }
                    if !taken[other]
                        && keys[other].as_ref() == Some(key)
                        && same_data(trainers[first], trainers[other])
                    {
                        taken[other] = true;
                        members.push(other);
                    }
                }
            }
            let width = keys[first].as_ref().map_or(0, |k| k.m);
            if members.len() < 2 || !worth_packing(width, members.len(), 1) {
                for &k in &members {
                    status[k] = Some(trainers[k].run_until(target_step));
                }
                continue;
            }
            let mut group: Vec<&mut Trainer> = Vec::with_capacity(members.len());
            for (k, t) in trainers.iter_mut().enumerate() {
                if members.contains(&k) {
                    group.push(&mut **t);
                }
            }
            let done = run_pack(&mut group, target_step);
            for (&k, s) in members.iter().zip(done) {
                status[k] = Some(s);
            }
        }
        status
            .into_iter()
            .map(|s| s.expect("every run ran"))
            .collect()
    }
}

/// The measured speed of a full pack against its 8 runs trained one at a time on one
/// core (ns per seed-step alone over packed), at widths 1 … [`PACK_MAX_WIDTH`]: from
/// `cargo bench -p labelnoise-core --bench packed` on the shared 2-core AVX-512 machine
/// (docs/conventions.md#packed-runs), rounded down. Between the widths measured, the
/// ratio is interpolated in log m.
const SPEEDUP: [(usize, f64); 7] = [
    (1, 3.7),
    (4, 4.0),
    (8, 4.0),
    (16, 2.6),
    (32, 2.2),
    (64, 1.3),
    (128, 1.0),
];

/// [`SPEEDUP`] at width m.
pub fn pack_speedup(m: usize) -> f64 {
    let m = m.max(1);
    let mut last = SPEEDUP[0];
    for &(w, r) in &SPEEDUP {
        if m <= w {
            if w == last.0 {
                return r;
            }
            let t =
                ((m as f64).ln() - (last.0 as f64).ln()) / ((w as f64).ln() - (last.0 as f64).ln());
            return last.1 + t * (r - last.1);
        }
        last = (w, r);
    }
    last.1
}

/// Whether `runs` runs of width m that can share packs train faster packed than one at a
/// time, with `threads` threads: packed, ⌈runs/8⌉ packs (each as slow as a full one) of
/// which `threads` run at once, each worth [`pack_speedup`] × its share of 8 lanes; alone,
/// `threads` runs at once. Packing must win by 10% (the estimate's error).
pub fn worth_packing(m: usize, runs: usize, threads: usize) -> bool {
    if runs < 2 || m > PACK_MAX_WIDTH {
        return false;
    }
    let packs = runs.div_ceil(PACK);
    let threads = threads.max(1);
    let packed = pack_speedup(m) * runs as f64 / (packs * PACK) as f64 * packs.min(threads) as f64;
    let alone = runs.min(threads) as f64;
    packed > 1.1 * alone
}

/// Whether two runs train on the same data, bit for bit (−0.0 and 0.0 differ, and a NaN
/// equals itself, as the trainers would see them).
fn same_data(a: &Trainer, b: &Trainer) -> bool {
    let same = |u: &[f64], v: &[f64]| {
        u.len() == v.len() && u.iter().zip(v).all(|(x, y)| x.to_bits() == y.to_bits())
    };
    same(a.data.xs(), b.data.xs()) && same(a.data.ys(), b.data.ys())
}

/// Trains a group of 2 to [`PACK`] runs with one pack key until `target`; lanes past the
/// group repeat its first run (their results are dropped), so the unmasked pass runs
/// until some run diverges.
fn run_pack(group: &mut [&mut Trainer], target: u64) -> Vec<RunStatus> {
    run_pack_on(group, target, |op| pulp::Arch::new().dispatch(op))
}

/// [`run_pack`] with the steps run by `run` (the instruction set `pulp` picks, or a given
/// one in the tests).
fn run_pack_on(
    group: &mut [&mut Trainer],
    target: u64,
    run: impl FnOnce(PackOp<'_>),
) -> Vec<RunStatus> {
    let first = &*group[0];
    let Engine::Fused(fused) = &first.engine else {
        unreachable!("a pack key needs the fused kernel")
    };
    let (m, out_bias, skip) = fused.relu_layout().expect("a relu plan");
    let start = first.step;
    let thr = first.cfg.flush_threshold;
    let lane_of = |l: usize| if l < group.len() { l } else { 0 };
    let samplers: Vec<Sampler> = (0..PACK).map(|l| group[lane_of(l)].cfg.sampler()).collect();
    let draw = Draw::new(&samplers).expect("runs of one pack key draw together");
    let mut st = Streams::new(&std::array::from_fn(|l| group[lane_of(l)].rng.words()));
    let mut pack = Pack {
        m,
        out_bias,
        skip_at: match skip {
            SkipPlan::Trainable(at) => Some(at),
            _ => None,
        },
        has_skip: skip != SkipPlan::None,
        units: vec![[ZERO; 3]; m],
        sums: ([ZERO; RELU_SETS * LANES], ZERO),
    };
    let mut sc = Scalars {
        bout: ZERO,
        s: ZERO,
        two_lr: ZERO,
    };
    for l in 0..PACK {
        let t = &*group[lane_of(l)];
        let theta = &t.theta;
        for j in 0..m {
            for (k, block) in pack.units[j].iter_mut().enumerate() {
                block[l] = theta[k * m + j];
            }
        }
        sc.bout[l] = out_bias.map_or(0.0, |k| theta[k]);
        let Engine::Fused(plan) = &t.engine else {
            unreachable!("a pack key needs the fused kernel")
        };
        sc.s[l] = match plan.relu_layout().expect("a relu plan").2 {
            SkipPlan::None => 0.0,
            SkipPlan::Frozen(v) => v,
            SkipPlan::Trainable(k) => theta[k],
        };
        sc.two_lr[l] = 2.0 * t.cfg.lr;
    }
    let mut lv = Liveness {
        on: [true; PACK],
        live: Lanes([1.0; PACK]),
        ended: [None; PACK],
    };
    let (xs, ys) = (first.data.xs(), first.data.ys());
    run(PackOp {
        pack: &mut pack,
        draw: &draw,
        st: &mut st,
        sc: &mut sc,
        lv: &mut lv,
        data: (xs, ys),
        thr,
        start,
        end: target,
    });
    let mut status = Vec::with_capacity(group.len());
    for (l, t) in group.iter_mut().enumerate() {
        let theta = &mut t.theta;
        for j in 0..m {
            for (k, block) in pack.units[j].iter().enumerate() {
                theta[k * m + j] = block[l];
            }
        }
        if let Some(k) = out_bias {
            theta[k] = sc.bout[l];
        }
        if let SkipPlan::Trainable(k) = skip {
            theta[k] = sc.s[l];
        }
        t.rng = TrainRng::from_words(st.lane(l));
        status.push(t.finish_call(target, lv.ended[l]));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(seed: u64) -> [u64; 4] {
        TrainRng::new(seed).words()
    }

    #[test]
    fn words_round_trip_and_lanes_step_as_the_generator() {
        let mut rngs: Vec<TrainRng> = (0..PACK as u64).map(TrainRng::new).collect();
        for r in &rngs {
            assert_eq!(&TrainRng::from_words(r.words()), r);
        }
        let mut st = Streams::new(&std::array::from_fn(|l| words(l as u64)));
        let mut on = [true; PACK];
        on[3] = false;
        for _ in 0..1000 {
            let out = st.next::<true>(&on);
            for l in 0..PACK {
                if on[l] {
                    assert_eq!(out[l], rngs[l].next_u64());
                }
                assert_eq!(st.lane(l), rngs[l].words(), "lane {l}");
            }
        }
    }

    /// Lemire's rejection happens with probability n/2⁶⁴ per draw, so it is forced here:
    /// with s₀ = s₃ = 0 the next output is 0, whose low word 0 is below 2⁶⁴ mod n.
    #[test]
    fn the_rare_rejection_redraws_as_the_generator_does() {
        for n in [3u64, 12, 1000, (1 << 32) - 1] {
            let forced = [0, 0x9e37_79b9_7f4a_7c15, 0x0123_4567_89ab_cdef, 0];
            let mut lane_words: [[u64; 4]; PACK] = std::array::from_fn(|l| words(l as u64));
            lane_words[2] = forced;
            lane_words[5] = forced;
            let mut st = Streams::new(&lane_words);
            let mut rngs: Vec<TrainRng> = lane_words
                .iter()
                .map(|w| TrainRng::from_words(*w))
                .collect();
            let on = [true; PACK];
            for round in 0..50 {
                let got = st.index::<false>(n, &on);
                for l in 0..PACK {
                    assert_eq!(
                        got[l],
                        rngs[l].index(n as usize) as u64,
                        "n {n} lane {l} round {round}"
                    );
                    assert_eq!(st.lane(l), rngs[l].words());
                }
            }
        }
    }

    /// The packed steps give the same bits under every instruction set (scalar, AVX2,
    /// AVX-512 where the CPU has them) and the same as the runs trained alone.
    #[test]
    fn every_instruction_set_gives_the_bits_of_lone_runs() {
        use crate::train::{init_network, TrainConfig};
        use crate::{Activation, Architecture};
        let data = crate::builtin::dataset("fig1").unwrap();
        let make = |m: usize| -> Vec<Trainer> {
            (0..5u64)
                .map(|seed| {
                    let arch = Architecture::shallow(m, Activation::Relu);
                    let net = init_network(&arch, seed, 1.0).unwrap();
                    let cfg = TrainConfig {
                        seed,
                        lr: 1e-3 * (1.0 + seed as f64),
                        noise: 0.3 * seed as f64,
                        ..TrainConfig::default()
                    };
                    let valid = cfg.check(&net, &data).unwrap();
                    Trainer::new(net, data.clone(), valid)
                })
                .collect()
        };
        for m in [3, 16, 45] {
            let mut alone = make(m);
            for t in &mut alone {
                t.run_until(500);
            }
            let want: Vec<_> = alone.iter().map(Trainer::checkpoint).collect();
            let scalar = pulp::Scalar::new();
            type Level = (&'static str, Box<dyn Fn(PackOp<'_>)>);
            let mut levels: Vec<Level> = vec![(
                "scalar",
                Box::new(move |op: PackOp<'_>| pulp::WithSimd::with_simd(op, scalar)),
            )];
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(v3) = pulp::x86::V3::try_new() {
                    levels.push((
                        "avx2",
                        Box::new(move |op: PackOp<'_>| {
                            v3.vectorize(|| pulp::WithSimd::with_simd(op, v3))
                        }),
                    ));
                }
                if let Some(v4) = pulp::x86::V4::try_new() {
                    levels.push((
                        "avx512",
                        Box::new(move |op: PackOp<'_>| {
                            v4.vectorize(|| pulp::WithSimd::with_simd(op, v4))
                        }),
                    ));
                }
            }
            for (name, run) in &levels {
                let mut ts = make(m);
                let mut group: Vec<&mut Trainer> = ts.iter_mut().collect();
                run_pack_on(&mut group, 200, run);
                run_pack_on(&mut group, 500, run);
                let got: Vec<_> = ts.iter().map(Trainer::checkpoint).collect();
                assert_eq!(got, want, "m {m}, {name}");
            }
        }
    }
}
