//! A thin Householder QR: A = Q R for a column-major m x c matrix with few columns
//! (c ≤ [`THIN_MAX_COLS`]), unblocked, in place.
//!
//! Reflector j (j < k = min(m, c)) is H_j = I − τ_j v_j v_jᵀ with v_j = (0, …, 0, 1,
//! v_{j+1}, …, v_{m−1}): it maps column j of what is left, x = A[j.., j], onto
//! (β, 0, …, 0) with |β| = ‖x‖ and the sign of β opposite to x_0's, so that no
//! cancellation occurs (τ = (β − x_0)/β, v = x / (x_0 − β) below the diagonal; τ = 0 and
//! H_j = I when x is already zero below its first entry). Then Q = H_0 H_1 ⋯ H_{k−1} and
//! R = the upper trapezoid left in A; v_j is stored below the diagonal, as LAPACK's
//! `dgeqrf` does.
//!
//! Why written here: Jᵀ has one column per data point and one row per parameter, so it
//! is tall and thin (p = 12 290, n = 12 for a width-4096 network on `fig1`). faer's
//! blocked QR is built for large square-ish matrices and spends 2.8–3.5 ms on that shape
//! for every block size; one sweep of dot products and updates over contiguous columns,
//! as here, needs 2 n² p flops and a few passes over Jᵀ. `cargo bench -p labelnoise-core
//! --bench analyze` times both on the same Jᵀ: at p = 30 002, n = 12, 1.4–1.6 ms against
//! faer's 3.9–5.4 ms (2.7–3.3×); at p = 2 · 10⁶, where both are bound by memory, 1.0–1.4×.
//! [`crate::stability::NullSpace`] uses this kernel up to [`THIN_MAX_COLS`] columns and
//! faer's above, where blocking pays.
//!
//! The dot products, updates and norms are [`crate::kernels`]'.
//!
//! Checked by `tests::reconstructs_a_and_q_is_orthogonal` (Q R = A, QᵀQ = I, R upper
//! trapezoidal, for tall, square, wide and rank-deficient matrices) and, through
//! `NullSpace`, by `tests/stability.rs` against a dense SVD.

use crate::kernels::{axpy, dot, norm};

/// The most columns [`ThinQr`] is used for by [`crate::stability::NullSpace`]; wider
/// matrices go to faer's blocked QR.
pub const THIN_MAX_COLS: usize = 64;

/// The factors of A = Q R, with Q kept as its reflectors.
#[derive(Clone, Debug)]
pub struct ThinQr {
    rows: usize,
    cols: usize,
    /// R on and above the diagonal, the reflectors' v below it (column-major).
    a: Vec<f64>,
    /// τ_j of each reflector.
    tau: Vec<f64>,
}

impl ThinQr {
    /// Factors `a`, column-major `rows` x `cols`, in place (consumes it).
    pub fn factor(mut a: Vec<f64>, rows: usize, cols: usize) -> Self {
        assert_eq!(a.len(), rows * cols, "A has the wrong size");
        let mut tau = vec![0.0; rows.min(cols)];
        for (j, t) in tau.iter_mut().enumerate() {
            let (done, rest) = a.split_at_mut((j + 1) * rows);
            let x = &mut done[j * rows + j..];
            *t = make_reflector(x);
            if *t == 0.0 {
                continue;
            }
            for c in rest.chunks_exact_mut(rows) {
                reflect(x, *t, &mut c[j..]);
            }
        }
        ThinQr { rows, cols, a, tau }
    }

    /// k = min(rows, cols): the number of reflectors and of rows of R.
    pub fn k(&self) -> usize {
        self.tau.len()
    }

    /// R[i, j] (zero below the diagonal), for i < k and j < cols.
    pub fn r(&self, i: usize, j: usize) -> f64 {
        assert!(i < self.k() && j < self.cols, "outside R");
        if i <= j {
            self.a[j * self.rows + i]
        } else {
            0.0
        }
    }

    /// v ← Qᵀ v = H_{k−1} ⋯ H_0 v, for v of length `rows`.
    pub fn apply_qt(&self, v: &mut [f64]) {
        assert_eq!(v.len(), self.rows, "vector has the wrong length");
        for j in 0..self.k() {
            self.apply_reflector(j, v);
        }
    }

    /// v ← Q v = H_0 ⋯ H_{k−1} v, for v of length `rows`.
    pub fn apply_q(&self, v: &mut [f64]) {
        assert_eq!(v.len(), self.rows, "vector has the wrong length");
        for j in (0..self.k()).rev() {
            self.apply_reflector(j, v);
        }
    }

    fn apply_reflector(&self, j: usize, v: &mut [f64]) {
        if self.tau[j] != 0.0 {
            let x = &self.a[j * self.rows + j..(j + 1) * self.rows];
            reflect(x, self.tau[j], &mut v[j..]);
        }
    }
}

/// Turns `x` into its reflector in place: x_0 ← β, x_1.. ← v_1..; returns τ.
#[inline(always)]
fn make_reflector(x: &mut [f64]) -> f64 {
    let (head, tail) = x.split_first_mut().expect("a non-empty column");
    // ‖tail‖: the plain sum of squares when it is safely in range (one vectorized
    // pass), else the scaled norm, which neither overflows nor underflows.
    let sum = dot(tail, tail);
    let tail_norm = if sum.is_finite() && sum > 1e-280 {
        sum.sqrt()
    } else {
        norm(tail)
    };
    if tail_norm == 0.0 {
        return 0.0;
    }
    let alpha = *head;
    let beta = -alpha.hypot(tail_norm).copysign(alpha);
    let tau = (beta - alpha) / beta;
    let scale = 1.0 / (alpha - beta);
    for t in tail.iter_mut() {
        *t *= scale;
    }
    *head = beta;
    tau
}

/// c ← (I − τ v vᵀ) c, where v = (1, x_1, x_2, …) (x_0 holds R's entry, not v's 1).
#[inline(always)]
fn reflect(x: &[f64], tau: f64, c: &mut [f64]) {
    let w = c[0] + dot(&x[1..], &c[1..]);
    let tw = tau * w;
    c[0] -= tw;
    axpy(-tw, &x[1..], &mut c[1..]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A uniform draw in [−1, 1) from a 64-bit linear congruential generator: test
    /// matrices without a dependency.
    pub(crate) fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// Q as a dense rows x rows matrix (column-major), by applying Q to the unit vectors.
    fn dense_q(qr: &ThinQr) -> Vec<f64> {
        let m = qr.rows;
        let mut q = vec![0.0; m * m];
        for j in 0..m {
            let col = &mut q[j * m..(j + 1) * m];
            col[j] = 1.0;
            qr.apply_q(col);
        }
        q
    }

    #[test]
    fn reconstructs_a_and_q_is_orthogonal() {
        let mut s = 7u64;
        // Tall, square, wide, one column, a zero matrix, and rank-deficient ones (a
        // repeated column; a column that is zero below the diagonal already).
        let mut cases: Vec<(usize, usize, Vec<f64>)> = vec![];
        for (m, c) in [(40, 6), (9, 9), (5, 8), (17, 1), (1, 3), (33, 12)] {
            cases.push((m, c, (0..m * c).map(|_| lcg(&mut s)).collect()));
        }
        cases.push((6, 3, vec![0.0; 18]));
        let mut repeated: Vec<f64> = (0..30).map(|_| lcg(&mut s)).collect();
        let first: Vec<f64> = repeated[..10].to_vec();
        repeated[20..30].copy_from_slice(&first);
        cases.push((10, 3, repeated));
        let mut upper: Vec<f64> = (0..16).map(|_| lcg(&mut s)).collect();
        upper[1..4].fill(0.0);
        cases.push((4, 4, upper));
        // Huge and tiny entries: the norm must neither overflow nor underflow.
        cases.push((
            5,
            2,
            vec![
                1e300, -2e300, 3e299, 1e300, 5e299, 1e-300, 2e-300, -1e-300, 3e-300, 1e-301,
            ],
        ));
        for (m, c, a) in cases {
            let qr = ThinQr::factor(a.clone(), m, c);
            let k = m.min(c);
            assert_eq!(qr.k(), k);
            let q = dense_q(&qr);
            let scale = a
                .iter()
                .fold(0.0f64, |acc, v| acc.max(v.abs()))
                .max(f64::MIN_POSITIVE);
            for i in 0..m {
                for j in 0..c {
                    // (Q R)[i, j] = Σ_l Q[i, l] R[l, j].
                    let qr_ij: f64 = (0..k).map(|l| q[l * m + i] * qr.r(l, j)).sum();
                    assert!(
                        (qr_ij - a[j * m + i]).abs() <= 1e-13 * scale,
                        "{m}x{c}: (QR)[{i},{j}] = {qr_ij}, A = {}",
                        a[j * m + i]
                    );
                }
                for j in 0..m {
                    let qtq: f64 = (0..m).map(|l| q[i * m + l] * q[j * m + l]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((qtq - want).abs() <= 1e-13, "{m}x{c}: QᵀQ[{i},{j}] = {qtq}");
                }
            }
            // Qᵀ undoes Q.
            let v: Vec<f64> = (0..m).map(|_| lcg(&mut s)).collect();
            let mut w = v.clone();
            qr.apply_q(&mut w);
            qr.apply_qt(&mut w);
            for (x, y) in v.iter().zip(&w) {
                assert!((x - y).abs() <= 1e-14);
            }
        }
    }
}
