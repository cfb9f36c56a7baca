//! Label-noise distributions and the per-run random number generator.
//!
//! # Generator and seeding
//!
//! Every run owns one [`TrainRng`]: xoshiro256++ (`rand_xoshiro::Xoshiro256PlusPlus`)
//! seeded with `seed_from_u64(seed)` (SplitMix64 expansion of the 64-bit seed into the
//! 256-bit state). The training stream is that generator; the initialisation stream
//! ([`TrainRng::init_stream`]) is the same generator advanced by `long_jump()` (2^192
//! draws), so initial weights and SGD draws never overlap and neither depends on the
//! other. Nothing else (threads, other runs, the CPU) touches a run's stream, so a run's
//! results depend on its seed alone. The state is four `u64` words and serializes
//! exactly, so a checkpoint resumes bit-identically.
//!
//! # Draws per SGD sample (docs/conventions.md#random-draws)
//!
//! Each sample of a step draws, in this order:
//! 1. the index i, uniform on {0, …, n−1}, by Lemire's multiply-and-reject method on one
//!    (rarely more) `u64` — exactly uniform;
//! 2. the unit noise U with E U = 0, E U² = 1, and Z = σ·U:
//!    - `rademacher`: U = ±1 from the top bit of one `u64`;
//!    - `uniform`: U = √3 (2u − 1) with u = (w >> 11)·2⁻⁵³ from one `u64` w, so
//!      U ∈ [−√3, √3);
//!    - `gaussian`: U ~ N(0, 1) by `rand_distr::StandardNormal` (ziggurat).
//!
//! The draws do not depend on σ: σ = 0 consumes the same stream (Z = 0·U = 0), so runs
//! that differ only in σ see the same indices.
//!
//! In copies mode (paper §1.1; `--copies c_0,…,c_{K−1}`) the data set is the K·n points
//! (x_i, y_i + c_j) and a sample is one index k uniform on {0, …, K·n−1} and no noise
//! draw: copy j = ⌊k / n⌋, point i = k − j·n, Z = c_j. As e = h − y_i − Z, the label
//! y_i + c_j is Z = c_j. Two copies (`--two-copies`) is the offsets (+σ, −σ): k < n is
//! the point (x_k, y_k + σ), k ≥ n the point (x_{k−n}, y_{k−n} − σ).

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// The distribution of the label noise Z (zero mean, variance σ²).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum NoiseDist {
    /// Z = ±σ with probability 1/2 each (the paper's assumption of bounded noise).
    #[default]
    Rademacher,
    /// Z uniform on [−σ√3, σ√3].
    Uniform,
    /// Z ~ N(0, σ²): unbounded, outside the paper's assumptions, for comparison.
    #[cfg_attr(feature = "clap", value(alias = "normal"))]
    Gaussian,
}

impl NoiseDist {
    /// All distributions.
    pub const ALL: [NoiseDist; 3] = [
        NoiseDist::Rademacher,
        NoiseDist::Uniform,
        NoiseDist::Gaussian,
    ];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            NoiseDist::Rademacher => "rademacher",
            NoiseDist::Uniform => "uniform",
            NoiseDist::Gaussian => "gaussian",
        }
    }

    /// Parses `rademacher`, `uniform` or `gaussian` (also `normal`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rademacher" => Some(NoiseDist::Rademacher),
            "uniform" => Some(NoiseDist::Uniform),
            "gaussian" | "normal" => Some(NoiseDist::Gaussian),
            _ => None,
        }
    }
}

impl std::fmt::Display for NoiseDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The random number generator of one run (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrainRng(Xoshiro256PlusPlus);

impl TrainRng {
    /// The training stream of `seed`.
    pub fn new(seed: u64) -> Self {
        TrainRng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// The initialisation stream of `seed`: the training stream advanced by 2^192 draws
    /// (docs/conventions.md#random-draws).
    ///
    /// Checked by `tests::streams_are_reproducible_and_independent_of_sigma` and
    /// `super::init::tests::draws_follow_theta_order_from_the_init_stream`.
    pub fn init_stream(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        rng.long_jump();
        TrainRng(rng)
    }

    /// The generator's state as its four 64-bit words (s₀, s₁, s₂, s₃ of xoshiro256++),
    /// for kernels that step several streams side by side (`packed`).
    pub(crate) fn words(&self) -> [u64; 4] {
        let bytes = self.0.state();
        std::array::from_fn(|k| {
            u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().expect("eight bytes"))
        })
    }

    /// The generator whose state is `words` (the inverse of [`Self::words`] for every
    /// state a seed reaches; the all-zero state, which none reaches, is not one).
    pub(crate) fn from_words(words: [u64; 4]) -> Self {
        let mut bytes = [0u8; 32];
        for (k, w) in words.iter().enumerate() {
            bytes[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
        }
        TrainRng(Xoshiro256PlusPlus::from_seed(bytes))
    }

    /// The next 64 random bits.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform f64 in [0, 1) with 53 random bits.
    #[inline(always)]
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An index uniform on {0, …, n−1} (Lemire's method; exact). `n` must be ≥ 1: the
    /// "i uniformly at random, with replacement" of the SGD step of paper eq. 3.
    ///
    /// Checked by `tests::index_is_in_range_and_roughly_uniform` and, bit for bit, by
    /// `tests::draws_follow_the_documented_order`.
    #[inline(always)]
    pub fn index(&mut self, n: usize) -> usize {
        let n = n as u64;
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as usize
    }

    /// A unit-variance, zero-mean noise value U of `dist` (Z = σ·U): the label noise of
    /// the paper's §2.1, with Var\[Z\] = σ² the Var\[e\] of Lemmas 5 and 6.
    ///
    /// Checked by `tests::unit_noise_has_zero_mean_and_unit_variance` and, bit for bit,
    /// by `tests::draws_follow_the_documented_order`.
    #[inline(always)]
    pub fn unit_noise(&mut self, dist: NoiseDist) -> f64 {
        match dist {
            NoiseDist::Rademacher => {
                if self.next_u64() >> 63 == 0 {
                    1.0
                } else {
                    -1.0
                }
            }
            NoiseDist::Uniform => SQRT_3 * (2.0 * self.unit_f64() - 1.0),
            NoiseDist::Gaussian => StandardNormal.sample(&mut self.0),
        }
    }
}

pub(crate) const SQRT_3: f64 = 1.732_050_807_568_877_2;

/// The most label offsets a copies scheme may have (`--copies`): the offsets live inline
/// in the [`Sampler`], which the step kernels copy into registers.
pub const MAX_COPIES: usize = 16;

/// How one SGD sample (i, Z) is drawn: label noise or copies (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// i uniform on the n points, Z = σ·U with U of `dist`.
    Noise {
        /// n.
        n: usize,
        /// σ.
        sigma: f64,
        /// The distribution of U.
        dist: NoiseDist,
    },
    /// Plain SGD over the K·n points (x_i, y_i + c_j), j < K = `count`.
    Copies {
        /// n.
        n: usize,
        /// K, 1 ≤ K ≤ [`MAX_COPIES`].
        count: usize,
        /// c_0, …, c_{K−1} (the rest unused).
        offsets: [f64; MAX_COPIES],
    },
}

impl Sampler {
    /// Draws (i, Z) for one sample of the step of paper eq. 3: the index first, then
    /// (label noise only) the noise; in copies mode (paper §1.1) one index on K·n
    /// points and Z = the copy's offset.
    ///
    /// Checked by `tests::draws_follow_the_documented_order`,
    /// `tests::streams_are_reproducible_and_independent_of_sigma` and
    /// `tests::two_copies_draws_both_signs_of_every_point` and
    /// `tests::copies_draw_every_copy_of_every_point`.
    #[inline(always)]
    pub fn draw(&self, rng: &mut TrainRng) -> (usize, f64) {
        match *self {
            Sampler::Noise { n, sigma, dist } => {
                let i = rng.index(n);
                (i, sigma * rng.unit_noise(dist))
            }
            Sampler::Copies { n, count, offsets } => copy_of(rng.index(count * n), n, &offsets),
        }
    }

    /// The sampler of plain SGD over the copies (x_i, y_i + c) for c in `offsets`
    /// (1 to [`MAX_COPIES`] of them; [`TrainConfig::check`](super::TrainConfig::check)
    /// enforces it), for n points.
    pub(crate) fn copies(n: usize, offsets: &[f64]) -> Sampler {
        let mut inline = [0.0; MAX_COPIES];
        let count = offsets.len().clamp(1, MAX_COPIES);
        inline[..offsets.len().min(MAX_COPIES)]
            .copy_from_slice(&offsets[..offsets.len().min(MAX_COPIES)]);
        Sampler::Copies {
            n,
            count,
            offsets: inline,
        }
    }
}

/// The point and offset of copy index k (k < K·n): j = ⌊k / n⌋, (k − j·n, c_j). K is
/// small, so the division is a few subtractions (for two copies, one comparison, the
/// same as the former dedicated two-copies branch).
#[inline(always)]
pub(crate) fn copy_of(mut k: usize, n: usize, offsets: &[f64; MAX_COPIES]) -> (usize, f64) {
    let mut j = 0;
    while k >= n {
        k -= n;
        j += 1;
    }
    (k, offsets[j & (MAX_COPIES - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_in_range_and_roughly_uniform() {
        let mut rng = TrainRng::new(7);
        let mut counts = [0usize; 12];
        for _ in 0..120_000 {
            counts[rng.index(12)] += 1;
        }
        // Each count is Binomial(120000, 1/12): mean 10000, sd ≈ 96.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 600, "{counts:?}");
        }
        assert_eq!(rng.index(1), 0);
    }

    #[test]
    fn unit_noise_has_zero_mean_and_unit_variance() {
        for dist in NoiseDist::ALL {
            let mut rng = TrainRng::new(3);
            let k = 200_000;
            let (mut s, mut s2) = (0.0, 0.0);
            for _ in 0..k {
                let u = rng.unit_noise(dist);
                if dist == NoiseDist::Uniform {
                    assert!(u.abs() <= SQRT_3);
                }
                s += u;
                s2 += u * u;
            }
            let mean = s / k as f64;
            let var = s2 / k as f64;
            // sd of the mean is 1/sqrt(k) ≈ 0.0022; of the second moment ≤ sqrt(2/k) ≈ 0.0032.
            assert!(mean.abs() < 0.012, "{dist}: mean {mean}");
            assert!((var - 1.0).abs() < 0.02, "{dist}: variance {var}");
        }
    }

    #[test]
    fn streams_are_reproducible_and_independent_of_sigma() {
        let a = Sampler::Noise {
            n: 5,
            sigma: 0.0,
            dist: NoiseDist::Uniform,
        };
        let b = Sampler::Noise {
            n: 5,
            sigma: 0.7,
            dist: NoiseDist::Uniform,
        };
        let (mut ra, mut rb) = (TrainRng::new(11), TrainRng::new(11));
        for _ in 0..100 {
            let (ia, za) = a.draw(&mut ra);
            let (ib, _) = b.draw(&mut rb);
            assert_eq!(ia, ib);
            assert_eq!(za, 0.0);
        }
        assert_ne!(TrainRng::new(11), TrainRng::init_stream(11));
        for name in ["rademacher", "uniform", "gaussian"] {
            assert_eq!(NoiseDist::from_name(name).unwrap().name(), name);
        }
        assert_eq!(NoiseDist::from_name("cauchy"), None);
    }

    #[test]
    fn two_copies_draws_both_signs_of_every_point() {
        let s = Sampler::copies(3, &[0.5, -0.5]);
        let mut rng = TrainRng::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let (i, z) = s.draw(&mut rng);
            assert!(i < 3 && (z == 0.5 || z == -0.5));
            seen.insert((i, z > 0.0));
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn draws_follow_the_documented_order() {
        // Each sample: the index by Lemire's method on one u64, then U from the next u64
        // (rademacher: the top bit; uniform: √3 (2u − 1) with u = (w >> 11)·2⁻⁵³).
        let (n, sigma) = (12usize, 0.3);
        for dist in [NoiseDist::Rademacher, NoiseDist::Uniform] {
            let sampler = Sampler::Noise { n, sigma, dist };
            let mut rng = TrainRng::new(5);
            let mut raw = TrainRng::new(5);
            for _ in 0..1000 {
                let (i, z) = sampler.draw(&mut rng);
                let m = u128::from(raw.next_u64()) * n as u128;
                // Rejections are rare (probability < n/2^64); none happen here.
                assert!((m as u64) >= (n as u64).wrapping_neg() % n as u64);
                assert_eq!(i, (m >> 64) as usize);
                let w = raw.next_u64();
                let u = match dist {
                    NoiseDist::Rademacher => {
                        if w >> 63 == 0 {
                            1.0
                        } else {
                            -1.0
                        }
                    }
                    _ => SQRT_3 * (2.0 * ((w >> 11) as f64 / (1u64 << 53) as f64) - 1.0),
                };
                assert_eq!(z, sigma * u);
            }
            assert_eq!(rng, raw);
        }
        // Two copies: one index on 2n points, no noise draw.
        let sampler = Sampler::copies(3, &[sigma, -sigma]);
        let (mut rng, mut raw) = (TrainRng::new(9), TrainRng::new(9));
        for _ in 0..100 {
            let (i, z) = sampler.draw(&mut rng);
            let k = raw.index(6);
            assert_eq!((i, z), if k < 3 { (k, sigma) } else { (k - 3, -sigma) });
        }
        assert_eq!(rng, raw);
        // K copies: one index on K·n points, copy ⌊k/n⌋, point k mod n, no noise draw.
        let offs = [0.25, -1.0, 0.0, 2.0, 7.5];
        let sampler = Sampler::copies(4, &offs);
        let (mut rng, mut raw) = (TrainRng::new(13), TrainRng::new(13));
        for _ in 0..500 {
            let (i, z) = sampler.draw(&mut rng);
            let k = raw.index(20);
            assert_eq!((i, z), (k % 4, offs[k / 4]));
        }
        assert_eq!(rng, raw);
    }

    #[test]
    fn copies_draw_every_copy_of_every_point() {
        let offs = [-0.3, 0.0, 0.9];
        let s = Sampler::copies(5, &offs);
        let mut rng = TrainRng::new(2);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..15_000 {
            let (i, z) = s.draw(&mut rng);
            let j = offs.iter().position(|&c| c == z).expect("an offset");
            assert!(i < 5);
            *counts.entry((i, j)).or_insert(0usize) += 1;
        }
        // 15 copies, each Binomial(15000, 1/15): mean 1000, sd ≈ 31.
        assert_eq!(counts.len(), 15);
        for c in counts.values() {
            assert!((*c as i64 - 1000).abs() < 200, "{counts:?}");
        }
    }
}
