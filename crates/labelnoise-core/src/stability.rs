//! Theorem 2: the spectrum of (1/n)JᵀJ, the projector P_N onto the null space of J, the
//! projected gradient g_N = P_N ∇reg, and the stability verdict.
//!
//! Near a zero-error θ*, SGD with label noise is an Ornstein-Uhlenbeck-like process in
//! the directions with γ > 0 (the eigenvalues of (1/n)JᵀJ, paper §2.2) and, in the null
//! space of J, gradient descent on reg at rate η²σ² (Lemma 6). θ* is repellent when
//! g_N ≠ 0, non-repellent when g_N = 0 (Theorem 2).
//!
//! Numerics: Jᵀ (p x n, one column per point) is factored in place by a Householder QR,
//! Jᵀ = Q R (the thin kernel of [`crate::householder`] for n ≤ 64 columns, faer's blocked
//! QR for more); the singular values of J are those of the small k x n factor R
//! (k = min(p, n)), and the row space of J is Q[:, :k] times the left singular vectors
//! of R with nonzero singular values. P_N g = g - Q U_r U_rᵀ Qᵀ g is then applied with
//! two Householder sweeps: backward stable, O(p n) per projection, and no memory beyond
//! Jᵀ itself (forming Gram matrices JJᵀ would square the condition number, and a thin
//! SVD of J would store a second p x n matrix).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder;
use faer::linalg::qr::no_pivoting::factor as qr;
use faer::{Conj, Mat, MatMut, MatRef, Par};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::householder::{ThinQr, THIN_MAX_COLS};

/// The numerical rank rule of docs/conventions.md#spectrum (numpy's `matrix_rank`):
/// singular values above max(n, p) · ε · σ_max count. It decides which eigenvalues of
/// (1/n)JᵀJ are the γ > 0 of the paper's §2.2 and Lemmas 5 and 6.
///
/// Checked by `tests::rank_tolerance_is_numpys_rule` and, against a dense SVD, by
/// `tests/stability.rs::projector_of_random_low_rank_matrices`.
pub fn rank_tolerance(n: usize, p: usize, sigma_max: f64) -> f64 {
    n.max(p) as f64 * f64::EPSILON * sigma_max
}

/// The singular values of J and what follows from them.
#[derive(Clone, Debug, Serialize)]
pub struct Spectrum {
    /// All min(n, p) singular values of J, descending.
    pub singular_values: Vec<f64>,
    /// The numerical rank of J.
    pub rank: usize,
    /// The tolerance the rank used.
    pub rank_tolerance: f64,
    /// γ: the nonzero eigenvalues of (1/n)JᵀJ, descending (σ_i² / n for i < rank).
    pub gamma: Vec<f64>,
}

/// The orthogonal projector onto the null space of J (and onto its row space), kept
/// in factored form.
pub struct NullSpace {
    p: usize,
    k: usize,
    /// Jᵀ = Q R.
    factor: Factor,
    /// U_r: k x r, an orthonormal basis of the column space of R.
    basis: Mat<f64>,
}

/// Jᵀ = Q R, by the thin kernel for few columns (most data sets) or faer's blocked QR.
enum Factor {
    /// [`ThinQr`], for n ≤ [`THIN_MAX_COLS`].
    Thin(ThinQr),
    /// faer: the Householder vectors of Jᵀ, p x n column-major, and their block factor.
    Blocked {
        factored: Vec<f64>,
        householder_factor: Mat<f64>,
    },
}

impl Factor {
    /// Factors Jᵀ (p x n, column-major), k = min(p, n) ≥ 1, by the thin kernel if `thin`.
    fn new(jt: Vec<f64>, p: usize, n: usize, thin: bool) -> Self {
        if thin {
            return Factor::Thin(ThinQr::factor(jt, p, n));
        }
        let k = p.min(n);
        let mut factored = jt;
        let block = qr::recommended_block_size::<f64>(p, n);
        let mut hh = Mat::<f64>::zeros(block, k);
        {
            let a = MatMut::from_column_major_slice_mut(&mut factored, p, n);
            let mut mem = MemBuffer::new(qr::qr_in_place_scratch::<f64>(
                p,
                n,
                block,
                Par::Seq,
                Default::default(),
            ));
            qr::qr_in_place(
                a,
                hh.as_mut(),
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            );
        }
        Factor::Blocked {
            factored,
            householder_factor: hh,
        }
    }

    /// R: the k x n upper trapezoid.
    fn r(&self, p: usize, k: usize, n: usize) -> Mat<f64> {
        match self {
            Factor::Thin(qr) => Mat::<f64>::from_fn(k, n, |i, j| qr.r(i, j)),
            Factor::Blocked { factored, .. } => {
                let a = MatRef::from_column_major_slice(factored, p, n);
                Mat::<f64>::from_fn(k, n, |i, j| if i <= j { a[(i, j)] } else { 0.0 })
            }
        }
    }

    /// v ← Qᵀ v (`transpose`) or v ← Q v.
    fn apply(&self, v: &mut [f64], transpose: bool) {
        match self {
            Factor::Thin(qr) if transpose => qr.apply_qt(v),
            Factor::Thin(qr) => qr.apply_q(v),
            Factor::Blocked {
                factored,
                householder_factor,
            } => {
                let p = v.len();
                let k = householder_factor.ncols();
                let basis = MatRef::from_column_major_slice(factored, p, factored.len() / p);
                let block = householder_factor.nrows();
                let mut mem = MemBuffer::new(
                    householder::apply_block_householder_sequence_transpose_on_the_left_in_place_scratch::<
                        f64,
                    >(p, block, 1)
                    .or(
                        householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<
                            f64,
                        >(p, block, 1),
                    ),
                );
                let v = MatMut::from_column_major_slice_mut(v, p, 1);
                if transpose {
                    householder::apply_block_householder_sequence_transpose_on_the_left_in_place_with_conj(
                        basis.subcols(0, k),
                        householder_factor.as_ref(),
                        Conj::No,
                        v,
                        Par::Seq,
                        MemStack::new(&mut mem),
                    );
                } else {
                    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
                        basis.subcols(0, k),
                        householder_factor.as_ref(),
                        Conj::No,
                        v,
                        Par::Seq,
                        MemStack::new(&mut mem),
                    );
                }
            }
        }
    }
}

impl NullSpace {
    /// Factors Jᵀ, given column-major as p x n (column i = ∇_θ h(x_i, θ)); consumes it.
    ///
    /// Returns the projector and the [`Spectrum`]: the singular values σ_k of J, its rank
    /// by [`rank_tolerance`], and γ_k = σ_k²/n, the nonzero eigenvalues of (1/n)JᵀJ (the
    /// γ of the paper's §2.2, eq. 7, and Lemmas 5 and 6). Checked against a dense SVD by
    /// `tests/stability.rs::projector_of_network_jacobians` and
    /// `::projector_of_random_low_rank_matrices`, and γ against the eigenvalues of the
    /// dense (1/n)JJᵀ by `tests/paper.rs::gamma_are_the_eigenvalues_of_the_gram_matrix`.
    pub fn from_jacobian_transposed(jt: Vec<f64>, p: usize, n: usize) -> Result<(Self, Spectrum)> {
        Self::factored_by(jt, p, n, n <= THIN_MAX_COLS)
    }

    /// [`NullSpace::from_jacobian_transposed`] with faer's blocked QR whatever n: the
    /// factorization `settle`'s projections were tuned with. Its descent follows the
    /// rounding of each projection closely enough that the thin kernel's last bits change
    /// where some tests/settle.rs starts end (a stall becomes non-repellent and back), so
    /// it keeps this one until it is measured again with the other.
    pub(crate) fn from_jacobian_transposed_blocked(
        jt: Vec<f64>,
        p: usize,
        n: usize,
    ) -> Result<(Self, Spectrum)> {
        Self::factored_by(jt, p, n, false)
    }

    fn factored_by(jt: Vec<f64>, p: usize, n: usize, thin: bool) -> Result<(Self, Spectrum)> {
        assert_eq!(jt.len(), p * n, "Jᵀ has the wrong size");
        let k = p.min(n);
        if k == 0 {
            let spectrum = Spectrum {
                singular_values: vec![],
                rank: 0,
                rank_tolerance: 0.0,
                gamma: vec![],
            };
            let ns = NullSpace {
                p,
                k,
                factor: Factor::Thin(ThinQr::factor(jt, p, n)),
                basis: Mat::zeros(0, 0),
            };
            return Ok((ns, spectrum));
        }
        let factor = Factor::new(jt, p, n, thin);
        let r = factor.r(p, k, n);
        let svd = r
            .svd()
            .map_err(|e| Error::Linalg(format!("SVD of the Jacobian did not converge: {e:?}")))?;
        let s = svd.S().column_vector();
        let mut singular_values: Vec<f64> = (0..k).map(|i| s[i]).collect();
        // faer returns them sorted descending; keep that a checked fact.
        singular_values.sort_by(|a, b| b.total_cmp(a));
        let sigma_max = singular_values.first().copied().unwrap_or(0.0);
        let tol = rank_tolerance(n, p, sigma_max);
        let rank = singular_values.iter().filter(|&&s| s > tol).count();
        let u = svd.U();
        let basis = Mat::<f64>::from_fn(k, rank, |i, j| u[(i, j)]);
        let gamma = singular_values[..rank]
            .iter()
            .map(|s| s * s / n as f64)
            .collect();
        Ok((
            NullSpace {
                p,
                k,
                factor,
                basis,
            },
            Spectrum {
                singular_values,
                rank,
                rank_tolerance: tol,
                gamma,
            },
        ))
    }

    /// P_R g: the component of g in the row space of J (the directions that move some
    /// training output to first order; the γ > 0 directions of Lemma 5).
    ///
    /// Checked by `tests/stability.rs::projector_of_network_jacobians` (P_R + P_N = I and
    /// P_R g ⊥ P_N g).
    pub fn project_row_space(&self, g: &[f64]) -> Vec<f64> {
        assert_eq!(g.len(), self.p, "vector has the wrong length");
        let mut out = g.to_vec();
        if self.k == 0 || self.basis.ncols() == 0 {
            out.fill(0.0);
            return out;
        }
        self.factor.apply(&mut out, true);
        // c = (Qᵀ g)[..k]; keep U_r U_rᵀ c, zero the rest.
        let r = self.basis.ncols();
        let mut coeffs = vec![0.0; r];
        for (j, cj) in coeffs.iter_mut().enumerate() {
            *cj = (0..self.k).map(|i| self.basis[(i, j)] * out[i]).sum();
        }
        for (i, oi) in out.iter_mut().enumerate().take(self.k) {
            *oi = (0..r).map(|j| self.basis[(i, j)] * coeffs[j]).sum();
        }
        out[self.k..].fill(0.0);
        self.factor.apply(&mut out, false);
        out
    }

    /// P_N g = g − P_R g: the component of g in the null space of J (the directions that
    /// keep every training output fixed to first order). With g = ∇reg this is g_N, the
    /// gradient of reg along the zero-error manifold whose vanishing is Theorem 2's test,
    /// and −T η² σ² g_N is the drift of Lemma 6.
    ///
    /// Checked by `tests/stability.rs::projector_of_network_jacobians` and
    /// `::projector_of_random_low_rank_matrices` (J P_N g = 0, idempotence) and
    /// `::zero_jacobian_has_rank_zero_and_everything_in_the_null_space`.
    pub fn project_null_space(&self, g: &[f64]) -> Vec<f64> {
        let row = self.project_row_space(g);
        g.iter().zip(&row).map(|(a, b)| a - b).collect()
    }
}

/// The Theorem 2 verdict at θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// max_i |h(x_i) − y_i| exceeds the fit tolerance: Theorem 2 does not apply.
    NotInterpolating,
    /// Zero error and ||g_N|| above the stationarity tolerance: label-noise SGD moves
    /// away from θ and lowers reg (Definition 1).
    Repellent,
    /// Zero error and g_N = 0 within tolerance: label-noise SGD stays near θ
    /// (Definition 2).
    NonRepellent,
}

impl Verdict {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::NotInterpolating => "not-interpolating",
            Verdict::Repellent => "repellent",
            Verdict::NonRepellent => "non-repellent",
        }
    }
}

/// Tolerances of the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerances {
    /// θ interpolates when max_i |h(x_i) − y_i| ≤ fit (default 1e-6).
    pub fit: f64,
    /// θ is stationary when ||g_N|| ≤ stationarity · max(1, ||∇reg||) (default 1e-6).
    pub stationarity: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            fit: 1e-6,
            stationarity: 1e-6,
        }
    }
}

impl Tolerances {
    /// Fails on a NaN or negative tolerance, naming the option.
    pub fn check(&self) -> Result<()> {
        for (name, v) in [
            ("--fit-tol", self.fit),
            ("--stationarity-tol", self.stationarity),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::parameter(
                    name,
                    format!("must be a finite number ≥ 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// The verdict from the residual and gradient norms (docs/conventions.md#verdict), the
/// test of Theorem 2 at a zero-error θ: `not-interpolating` when max_i |h(x_i) − y_i| >
/// `tol.fit` (or is NaN); else `repellent` when ||g_N|| > `tol.stationarity` ·
/// max(1, ||∇reg||) (Definition 1); else `non-repellent` (Definition 2).
///
/// Checked by `tests::verdict_follows_the_documented_rule`.
pub fn verdict(
    max_abs_residual: f64,
    reg_grad_norm: f64,
    null_reg_grad_norm: f64,
    tol: &Tolerances,
) -> Verdict {
    if max_abs_residual > tol.fit || max_abs_residual.is_nan() {
        Verdict::NotInterpolating
    } else if null_reg_grad_norm > tol.stationarity * reg_grad_norm.max(1.0) {
        Verdict::Repellent
    } else {
        Verdict::NonRepellent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::householder::tests::lcg;

    /// A p x n column-major Jᵀ of rank at most r (a product of random p x r and r x n).
    fn low_rank(p: usize, n: usize, r: usize, s: &mut u64) -> Vec<f64> {
        let a: Vec<f64> = (0..p * r).map(|_| lcg(s)).collect();
        let b: Vec<f64> = (0..r * n).map(|_| lcg(s)).collect();
        (0..p * n)
            .map(|idx| {
                let (i, j) = (idx % p, idx / p);
                (0..r).map(|l| a[l * p + i] * b[j * r + l]).sum()
            })
            .collect()
    }

    #[test]
    fn thin_and_blocked_factorizations_give_the_same_projector() {
        let mut s = 3u64;
        // Tall, wide, square, rank-deficient; and n > THIN_MAX_COLS, where
        // `from_jacobian_transposed` itself takes the blocked QR.
        for (p, n, r) in [
            (30, 5, 5),
            (200, 12, 12),
            (200, 12, 7),
            (12, 30, 12),
            (100, 64, 64),
            (70, 70, 40),
            (150, 80, 80),
            (150, 80, 33),
        ] {
            let jt = low_rank(p, n, r, &mut s);
            let (thin, st) = NullSpace::factored_by(jt.clone(), p, n, true).unwrap();
            let (blocked, sb) =
                NullSpace::from_jacobian_transposed_blocked(jt.clone(), p, n).unwrap();
            assert_eq!(st.rank, sb.rank, "{p}x{n} rank {r}");
            assert_eq!(st.rank, r.min(p).min(n), "{p}x{n} rank {r}");
            let top = sb.singular_values[0];
            for (a, b) in st.singular_values.iter().zip(&sb.singular_values) {
                assert!((a - b).abs() <= 1e-12 * top, "{p}x{n}: σ {a} vs {b}");
            }
            let g: Vec<f64> = (0..p).map(|_| lcg(&mut s)).collect();
            let (pt, pb) = (thin.project_null_space(&g), blocked.project_null_space(&g));
            let scale = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            for (a, b) in pt.iter().zip(&pb) {
                assert!((a - b).abs() <= 1e-11 * scale, "{p}x{n}: P_N g {a} vs {b}");
            }
            // J P_N g = 0: every column of Jᵀ is orthogonal to the projection.
            let auto = NullSpace::from_jacobian_transposed(jt.clone(), p, n)
                .unwrap()
                .0;
            let pa = auto.project_null_space(&g);
            for col in jt.chunks_exact(p) {
                let d: f64 = col.iter().zip(&pa).map(|(a, b)| a * b).sum();
                assert!(d.abs() <= 1e-10 * scale * top, "{p}x{n}: J P_N g = {d}");
            }
        }
    }

    #[test]
    fn rank_tolerance_is_numpys_rule() {
        // max(n, p) · ε · σ_max, whichever of n and p is larger.
        assert_eq!(rank_tolerance(12, 11, 2.0), 12.0 * f64::EPSILON * 2.0);
        assert_eq!(rank_tolerance(3, 40, 0.5), 40.0 * f64::EPSILON * 0.5);
        assert_eq!(rank_tolerance(5, 5, 0.0), 0.0);
    }

    #[test]
    fn verdict_follows_the_documented_rule() {
        let tol = Tolerances {
            fit: 1e-6,
            stationarity: 1e-3,
        };
        // The fit decides first, whatever g_N is; a NaN residual does not interpolate.
        assert_eq!(verdict(2e-6, 1.0, 0.0, &tol), Verdict::NotInterpolating);
        assert_eq!(verdict(f64::NAN, 1.0, 0.0, &tol), Verdict::NotInterpolating);
        // At the fit tolerance itself θ interpolates.
        assert_eq!(verdict(1e-6, 1.0, 0.0, &tol), Verdict::NonRepellent);
        // ||∇reg|| ≤ 1: the stationarity test is absolute, ||g_N|| ≤ 1e-3.
        assert_eq!(verdict(0.0, 0.5, 1e-3, &tol), Verdict::NonRepellent);
        assert_eq!(verdict(0.0, 0.5, 1.1e-3, &tol), Verdict::Repellent);
        // ||∇reg|| = 100: relative, ||g_N|| ≤ 1e-3 · 100 = 0.1.
        assert_eq!(verdict(0.0, 100.0, 0.099, &tol), Verdict::NonRepellent);
        assert_eq!(verdict(0.0, 100.0, 0.101, &tol), Verdict::Repellent);
        assert_eq!(Verdict::NonRepellent.name(), "non-repellent");
        assert_eq!(Verdict::NotInterpolating.name(), "not-interpolating");
        assert_eq!(Verdict::Repellent.name(), "repellent");
        assert_eq!(
            Tolerances::default(),
            Tolerances {
                fit: 1e-6,
                stationarity: 1e-6
            }
        );
        let bad = Tolerances {
            fit: -1.0,
            stationarity: 1e-6,
        };
        assert!(bad.check().unwrap_err().to_string().contains("--fit-tol"));
    }
}
