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
use super::kernel::{flush, flush_due, LANES};
use super::noise::{NoiseDist, Sampler, TrainRng, MAX_COPIES, SQRT_3};
use super::{Engine, RunStatus, Trainer};

/// Runs per pack: one AVX-512 vector of f64 (two AVX2 vectors).
pub const PACK: usize = 8;

/// The widest network that trains packed: above it the per-step work that packing
/// shares is a small part of a step (measured by the `packed` bench; docs/limits.md).
pub const PACK_MAX_WIDTH: usize = 256;

type Lanes = [f64; PACK];
type Words = [u64; PACK];

/// [`PACK`] xoshiro256++ generators, word k of lane l in `s[k][l]`.
#[derive(Clone, Copy)]
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
    /// state transition); only the lanes in `on` advance.
    #[inline(always)]
    fn next<const MASKED: bool>(&mut self, on: &[bool; PACK]) -> Words {
        let mut out = [0u64; PACK];
        for l in 0..PACK {
            let [s0, s1, s2, s3] = [self.s[0][l], self.s[1][l], self.s[2][l], self.s[3][l]];
            out[l] = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
            let t = s1 << 17;
            let n2 = s2 ^ s0;
            let n3 = s3 ^ s1;
            let n1 = s1 ^ n2;
            let n0 = s0 ^ n3;
            let n2 = n2 ^ t;
            let n3 = n3.rotate_left(45);
            let keep = MASKED && !on[l];
            self.s[0][l] = if keep { s0 } else { n0 };
            self.s[1][l] = if keep { s1 } else { n1 };
            self.s[2][l] = if keep { s2 } else { n2 };
            self.s[3][l] = if keep { s3 } else { n3 };
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
        let mut rare = false;
        for l in 0..PACK {
            let p_lo = (r[l] & 0xffff_ffff) * n;
            let p_hi = (r[l] >> 32) * n;
            hi[l] = (p_hi + (p_lo >> 32)) >> 32;
            lo[l] = (p_hi << 32).wrapping_add(p_lo);
            rare |= lo[l] < n;
        }
        if rare {
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
    /// noise, different n or kinds, or n·K ≥ 2³²). Unused lanes copy lane 0.
    fn new(samplers: &[Sampler]) -> Option<Self> {
        let first = *samplers.first()?;
        let lane = |l: usize| samplers.get(l).copied().unwrap_or(first);
        let small = |n: usize| (n as u64) < (1u64 << 32);
        match first {
            Sampler::Noise { n, dist, .. } if dist != NoiseDist::Gaussian && small(n) => {
                let mut sigma = [0.0; PACK];
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

    /// One sample (i, Z) per lane, drawn as [`Sampler::draw`] draws it.
    #[inline(always)]
    fn draw<const MASKED: bool>(&self, st: &mut Streams, on: &[bool; PACK]) -> (Words, Lanes) {
        match self {
            Draw::Rademacher { n, sigma } => {
                let i = st.index::<MASKED>(*n, on);
                let w = st.next::<MASKED>(on);
                (
                    i,
                    std::array::from_fn(|l| sigma[l] * if w[l] >> 63 == 0 { 1.0 } else { -1.0 }),
                )
            }
            Draw::Uniform { n, sigma } => {
                let i = st.index::<MASKED>(*n, on);
                let w = st.next::<MASKED>(on);
                let z = std::array::from_fn(|l| {
                    let u = (w[l] >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                    sigma[l] * (SQRT_3 * (2.0 * u - 1.0))
                });
                (i, z)
            }
            Draw::Copies { n, count, offsets } => {
                let mut k = st.index::<MASKED>(n * count, on);
                let mut j = [0usize; PACK];
                for l in 0..PACK {
                    while k[l] >= *n {
                        k[l] -= n;
                        j[l] += 1;
                    }
                }
                (
                    k,
                    std::array::from_fn(|l| offsets[l][j[l] & (MAX_COPIES - 1)]),
                )
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
    /// a, b, c of unit j, lane l at `[j][l]`.
    a: Vec<Lanes>,
    b: Vec<Lanes>,
    c: Vec<Lanes>,
}

/// Per-step constants of the pass, per lane.
struct StepLanes {
    x0: Lanes,
    x1: Lanes,
    neg_g: Lanes,
    neg_gx0: Lanes,
}

impl Pack {
    /// Σ_j c_j φ(a_j x + b_j) per lane, summed as `fused::forward_relu` sums it.
    #[inline(always)]
    fn forward(&self, x: &Lanes) -> Lanes {
        let full = self.m - self.m % LANES;
        let mut acc = [[0.0f64; PACK]; RELU_SETS * LANES];
        let mut tail = [0.0f64; PACK];
        for j in 0..self.m {
            let slot = if j < full {
                &mut acc[(j / LANES) % RELU_SETS * LANES + j % LANES]
            } else {
                &mut tail
            };
            for l in 0..PACK {
                let z = self.a[j][l].mul_add(x[l], self.b[j][l]);
                if z > 0.0 {
                    slot[l] = self.c[j][l].mul_add(z, slot[l]);
                }
            }
        }
        total(&acc, full / LANES, &tail, full < self.m)
    }

    /// One step's pass over the units (`fused::pass_relu` per lane): the update at x₀
    /// with g, and, when `NEXT`, the sum for x₁ from the updated units. `MASKED`: lanes
    /// not in `on` are left exactly as they are.
    #[inline(always)]
    fn pass<const NEXT: bool, const FLUSH: bool, const MASKED: bool>(
        &mut self,
        k: &StepLanes,
        thr: f64,
        on: &[bool; PACK],
    ) -> Lanes {
        let m = self.m;
        let full = m - m % LANES;
        let mut acc = [[0.0f64; PACK]; RELU_SETS * LANES];
        let mut tail = [0.0f64; PACK];
        for j in 0..m {
            let slot = if j < full {
                &mut acc[(j / LANES) % RELU_SETS * LANES + j % LANES]
            } else {
                &mut tail
            };
            let (a, b, c) = (&mut self.a[j], &mut self.b[j], &mut self.c[j]);
            for l in 0..PACK {
                let (av, bv, cv) = (a[l], b[l], c[l]);
                let z0 = av.mul_add(k.x0[l], bv);
                let (mut an, mut bn, mut cn) = if z0 > 0.0 {
                    (
                        k.neg_gx0[l].mul_add(cv, av),
                        k.neg_g[l].mul_add(cv, bv),
                        k.neg_g[l].mul_add(z0, cv),
                    )
                } else {
                    (av, bv, cv)
                };
                if FLUSH {
                    an = flush(an, thr);
                    bn = flush(bn, thr);
                    cn = flush(cn, thr);
                }
                if MASKED && !on[l] {
                    (an, bn, cn) = (av, bv, cv);
                }
                a[l] = an;
                b[l] = bn;
                c[l] = cn;
                if NEXT {
                    let z1 = an.mul_add(k.x1[l], bn);
                    if z1 > 0.0 {
                        slot[l] = cn.mul_add(z1, slot[l]);
                    }
                }
            }
        }
        if NEXT {
            total(&acc, full / LANES, &tail, full < m)
        } else {
            [0.0; PACK]
        }
    }
}

/// `fused::relu_total` per lane: per unit lane q the sets (S₀ + S₁) + (S₂ + S₃) (fewer
/// when fewer chunks), the tree ((q₀+q₄)+(q₁+q₅)) + ((q₂+q₆)+(q₃+q₇)), then the tail.
#[inline(always)]
fn total(acc: &[Lanes; RELU_SETS * LANES], chunks: usize, tail: &Lanes, has_tail: bool) -> Lanes {
    std::array::from_fn(|l| {
        let q = |u: usize| match chunks {
            0 | 1 => acc[u][l],
            2 => acc[u][l] + acc[LANES + u][l],
            _ => (acc[u][l] + acc[LANES + u][l]) + (acc[2 * LANES + u][l] + acc[3 * LANES + u][l]),
        };
        let tree = ((q(0) + q(4)) + (q(1) + q(5))) + ((q(2) + q(6)) + (q(3) + q(7)));
        if has_tail {
            tree + tail[l]
        } else {
            tree
        }
    })
}

/// A lane's output bias, skip weight (trainable or frozen; 0 without a skip unit) and 2η.
#[derive(Clone, Copy)]
struct LaneState {
    bout: f64,
    s: f64,
    two_lr: f64,
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

/// h = (sum + b_out) + s x, as `fused::OutputScalars::output`.
#[inline(always)]
fn output(sum: f64, bout: f64, s: f64, x: f64, has_skip: bool) -> f64 {
    (sum + bout) + if has_skip { s * x } else { 0.0 }
}

/// Steps `start+1 ..= end` of the lanes in `live` from `carry` (see the module docs).
/// A lane whose g is not finite stops: `ended[l]` gets the steps done. Unmasked, that
/// returns the step at which to go on masked (nothing of that step done yet); masked, the
/// other lanes go on. `None` when the call is over.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn steps<const MASKED: bool>(
    pack: &mut Pack,
    draw: &Draw,
    st: &mut Streams,
    lanes: &mut [LaneState; PACK],
    live: &mut [bool; PACK],
    ended: &mut [Option<u64>; PACK],
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
    let mut switch = None;
    for done in start..end {
        let g: Lanes = std::array::from_fn(|l| lanes[l].two_lr * ((h[l] - y0[l]) - z0[l]));
        if g.iter()
            .zip(live.iter())
            .any(|(g, on)| *on && !g.is_finite())
        {
            // As a lone run (`fused::Fused::run_relu`), the lane stops before this step.
            for l in 0..PACK {
                if live[l] && !g[l].is_finite() {
                    live[l] = false;
                    ended[l] = Some(done);
                }
            }
            if !live.contains(&true) {
                break;
            }
            if !MASKED {
                switch = Some(done);
                break;
            }
        }
        let fl = flush_due(done + 1, thr);
        let next = done + 1 < end;
        let (mut x1, mut y1, mut z1) = ([0.0; PACK], [0.0; PACK], [0.0; PACK]);
        if next {
            let (i1, z) = draw.draw::<MASKED>(st, live);
            x1 = std::array::from_fn(|l| xs[i1[l] as usize]);
            y1 = std::array::from_fn(|l| ys[i1[l] as usize]);
            z1 = z;
        }
        let k = StepLanes {
            x0,
            x1,
            neg_g: std::array::from_fn(|l| -g[l]),
            neg_gx0: std::array::from_fn(|l| -(g[l] * x0[l])),
        };
        let sum = match (next, fl) {
            (true, false) => pack.pass::<true, false, MASKED>(&k, thr, live),
            (true, true) => pack.pass::<true, true, MASKED>(&k, thr, live),
            (false, false) => pack.pass::<false, false, MASKED>(&k, thr, live),
            (false, true) => pack.pass::<false, true, MASKED>(&k, thr, live),
        };
        for l in 0..PACK {
            if MASKED && !live[l] {
                continue;
            }
            let lane = &mut lanes[l];
            if bout_tr {
                lane.bout -= g[l];
                if fl {
                    lane.bout = flush(lane.bout, thr);
                }
            }
            if s_tr {
                lane.s -= g[l] * x0[l];
                if fl {
                    lane.s = flush(lane.s, thr);
                }
            }
        }
        if next {
            h = std::array::from_fn(|l| output(sum[l], lanes[l].bout, lanes[l].s, x1[l], skip));
            (x0, y0, z0) = (x1, y1, z1);
        }
    }
    *carry = Carry { x0, y0, z0, h };
    switch
}

/// A pack's steps under the instruction set `pulp` picked: the step loop is inlined into
/// `with_simd`, which is compiled per instruction set, so the per-lane loops become
/// vector instructions (AVX-512: one vector per [`Lanes`]).
struct PackOp<'a> {
    pack: &'a mut Pack,
    draw: &'a Draw,
    st: &'a mut Streams,
    lanes: &'a mut [LaneState; PACK],
    live: &'a mut [bool; PACK],
    ended: &'a mut [Option<u64>; PACK],
    data: (&'a [f64], &'a [f64]),
    thr: f64,
    start: u64,
    end: u64,
}

impl pulp::WithSimd for PackOp<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let PackOp {
            pack,
            draw,
            st,
            lanes,
            live,
            ended,
            data,
            thr,
            start,
            end,
        } = self;
        if start >= end {
            return;
        }
        let (xs, ys) = data;
        let (i0, z0) = draw.draw::<true>(st, live);
        let x0: Lanes = std::array::from_fn(|l| xs[i0[l] as usize]);
        let first = pack.forward(&x0);
        let mut carry = Carry {
            x0,
            y0: std::array::from_fn(|l| ys[i0[l] as usize]),
            z0,
            h: std::array::from_fn(|l| {
                output(first[l], lanes[l].bout, lanes[l].s, x0[l], pack.has_skip)
            }),
        };
        let switch = if live.iter().all(|&on| on) {
            steps::<false>(
                pack, draw, st, lanes, live, ended, &mut carry, data, thr, start, end,
            )
        } else {
            Some(start)
        };
        if let Some(at) = switch {
            steps::<true>(
                pack, draw, st, lanes, live, ended, &mut carry, data, thr, at, end,
            );
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
            if members.len() < PACK_MIN_RUNS {
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

/// The fewest runs that train packed; fewer train alone (measured by the `packed`
/// bench: docs/limits.md).
pub const PACK_MIN_RUNS: usize = 2;

fn same_data(a: &Trainer, b: &Trainer) -> bool {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    bits(a.data.xs()) == bits(b.data.xs()) && bits(a.data.ys()) == bits(b.data.ys())
}

/// Trains a group of 2 to [`PACK`] runs with one pack key until `target`; lanes past the
/// group repeat its first run (their results are dropped), so the unmasked pass runs
/// until some run diverges.
fn run_pack(group: &mut [&mut Trainer], target: u64) -> Vec<RunStatus> {
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
        a: vec![[0.0; PACK]; m],
        b: vec![[0.0; PACK]; m],
        c: vec![[0.0; PACK]; m],
    };
    let mut lanes = [LaneState {
        bout: 0.0,
        s: 0.0,
        two_lr: 0.0,
    }; PACK];
    for (l, lane) in lanes.iter_mut().enumerate() {
        let t = &*group[lane_of(l)];
        let theta = &t.theta;
        for j in 0..m {
            pack.a[j][l] = theta[j];
            pack.b[j][l] = theta[m + j];
            pack.c[j][l] = theta[2 * m + j];
        }
        lane.bout = out_bias.map_or(0.0, |k| theta[k]);
        let Engine::Fused(plan) = &t.engine else {
            unreachable!("a pack key needs the fused kernel")
        };
        lane.s = match plan.relu_layout().expect("a relu plan").2 {
            SkipPlan::None => 0.0,
            SkipPlan::Frozen(v) => v,
            SkipPlan::Trainable(k) => theta[k],
        };
        lane.two_lr = 2.0 * t.cfg.lr;
    }
    let mut live = [true; PACK];
    let mut ended = [None; PACK];
    let (xs, ys) = (first.data.xs(), first.data.ys());
    pulp::Arch::new().dispatch(PackOp {
        pack: &mut pack,
        draw: &draw,
        st: &mut st,
        lanes: &mut lanes,
        live: &mut live,
        ended: &mut ended,
        data: (xs, ys),
        thr,
        start,
        end: target,
    });
    let mut status = Vec::with_capacity(group.len());
    for (l, t) in group.iter_mut().enumerate() {
        let theta = &mut t.theta;
        for j in 0..m {
            theta[j] = pack.a[j][l];
            theta[m + j] = pack.b[j][l];
            theta[2 * m + j] = pack.c[j][l];
        }
        if let Some(k) = out_bias {
            theta[k] = lanes[l].bout;
        }
        if let SkipPlan::Trainable(k) = skip {
            theta[k] = lanes[l].s;
        }
        t.rng = TrainRng::from_words(st.lane(l));
        status.push(t.finish_call(target, ended[l]));
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
}
