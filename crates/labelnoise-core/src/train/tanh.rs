//! Branch-free tanh and logistic functions that the compiler vectorizes, for the
//! training kernels.
//!
//! The C library's `tanh` is a call per unit (about 20 ns here) and cannot be vectorized,
//! so for tanh networks it was the whole cost of a step. Training uses instead
//!
//! tanh(x) = sign(x) · (−m) / (2 + m), m = expm1(−2|x|) (|x| capped at 40, where tanh is 1
//! to double precision), with expm1(u) = 2^k (1 + p(r)) − 1, k = round(u / ln 2),
//! r = u − k ln 2 (ln 2 split in two parts, |r| ≤ ln 2 / 2) and p the degree-13 Taylor
//! polynomial of expm1 (truncation error below 1e-17 relative); for k = 0, expm1(u) =
//! p(u) directly, which keeps full relative accuracy near 0. Measured error against the
//! C library: at most 3 units of ε·|tanh x| (2.2 measured on a fine grid, see the tests). NaN gives NaN, ±∞ gives ±1, −0 gives −0.
//! The logistic function uses the same e^u = 2^k (1 + p(r)). Only the training steps use
//! these; analysis and metrics use the C library's functions.

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO, the high part with 32 trailing zero bits (fdlibm's split), so
/// k · LN2_HI is exact for |k| < 2^20.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// 1.5 · 2^52: adding and subtracting it rounds to the nearest integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// expm1(r) for |r| ≤ ln 2 / 2 (and more), Taylor to degree 13, Horner.
#[inline(always)]
fn expm1_poly(r: f64) -> f64 {
    const C: [f64; 13] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
        1.0 / 479001600.0,
        1.0 / 6227020800.0,
        1.0 / 87178291200.0,
    ];
    let mut q = C[12];
    for &c in C[..12].iter().rev() {
        q = q * r + c;
    }
    r + (r * r) * q
}

/// tanh(x), branch-free (see the module documentation).
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let u = -2.0 * x.abs().min(40.0);
    let k = (u * LOG2E + ROUND) - ROUND;
    let r = (u - k * LN2_HI) - k * LN2_LO;
    let p = expm1_poly(r);
    // 2^k for k in [-116, 0], built from its exponent bits.
    let scale = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    let m = if k == 0.0 { p } else { scale * (p + 1.0) - 1.0 };
    let t = (-m / (2.0 + m)).copysign(x);
    if x.is_nan() {
        x
    } else {
        t
    }
}

/// The logistic function 1 / (1 + e^(−z)), branch-free: with e = e^(−|z|) =
/// 2^k (1 + p(r)) (|z| capped at 700, where e is still a normal number),
/// 1 / (1 + e) for z ≥ 0 and e / (1 + e) for z < 0. NaN gives NaN.
#[inline(always)]
pub fn logistic(z: f64) -> f64 {
    let u = -z.abs().min(700.0);
    let k = (u * LOG2E + ROUND) - ROUND;
    let r = (u - k * LN2_HI) - k * LN2_LO;
    let scale = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    let e = scale * (1.0 + expm1_poly(r));
    let s = if z >= 0.0 { 1.0 } else { e } / (1.0 + e);
    if z.is_nan() {
        z
    } else {
        s
    }
}

/// (σ(z), σ(1 − σ), σ(1 − σ)(1 − 2σ)), as [`crate::Activation::eval`].
#[inline(always)]
pub fn logistic_eval(z: f64) -> (f64, f64, f64) {
    let s = logistic(z);
    let d = s * (1.0 - s);
    (s, d, d * (1.0 - 2.0 * s))
}

/// (tanh x, 1 − tanh² x, −2 tanh x (1 − tanh² x)), as [`crate::Activation::eval`].
#[inline(always)]
pub fn tanh_eval(z: f64) -> (f64, f64, f64) {
    let t = tanh(z);
    let d = 1.0 - t * t;
    (t, d, -2.0 * t * d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_c_library_to_a_few_ulps() {
        let mut worst = 0.0f64;
        let mut x = -30.0;
        while x < 30.0 {
            for v in [x, x * 1e-3, x * 1e-9] {
                let (a, b) = (tanh(v), v.tanh());
                let err = (a - b).abs() / (b.abs().max(f64::MIN_POSITIVE) * f64::EPSILON);
                worst = worst.max(err);
            }
            x += 0.000_731;
        }
        assert!(worst <= 3.0, "worst error {worst} ulps");
        assert_eq!(tanh(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh(45.0), 1.0);
        assert!(tanh(f64::NAN).is_nan());
        assert_eq!(tanh(1e-300), 1e-300);
    }

    #[test]
    fn logistic_matches_the_c_library_to_a_few_ulps() {
        let exact = |z: f64| {
            if z >= 0.0 {
                1.0 / (1.0 + (-z).exp())
            } else {
                z.exp() / (1.0 + z.exp())
            }
        };
        let mut worst = 0.0f64;
        let mut z = -700.0;
        while z < 700.0 {
            for v in [z, z * 1e-2, z * 1e-6] {
                let (a, b) = (logistic(v), exact(v));
                worst = worst.max((a - b).abs() / (b * f64::EPSILON));
            }
            z += 0.0173;
        }
        assert!(worst <= 3.0, "worst error {worst} ulps");
        assert_eq!(logistic(0.0), 0.5);
        assert_eq!(logistic(f64::INFINITY), 1.0);
        assert!(logistic(f64::NEG_INFINITY) < 1e-300);
        assert!(logistic(f64::NAN).is_nan());
    }
}
