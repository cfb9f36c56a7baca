//! The retraction onto the zero-loss manifold: minimum-norm Gauss–Newton steps
//! θ ← θ − [J; C]⁺ r that pull a trial point back onto M = {θ : h(x_i, θ) = y_i} (and
//! onto the pinned kinks), moving it as little as possible. [`MinNorm`] is the step
//! itself, public so that other code (the experiments' projection onto M) uses the same
//! one.

use faer::{Mat, MatRef};

use crate::error::{Error, Result};
use crate::kernels::norm;

use super::context::{Ctx, Point};
use super::pins::Pin;

/// Minimum-norm least squares for an m x p system A δ = r with m ≤ p, from the thin
/// SVD Aᵀ = U S Vᵀ (so A = V S Uᵀ and A⁺ r = U S⁺ Vᵀ r): the Gauss–Newton step of the
/// retraction onto the zero-loss manifold M = {θ : h(x_i, θ) = y_i} (paper §2, where
/// Lemma 6 and Theorem 2 live on M). With A = J, the Jacobian of the outputs at the
/// data, and r the residuals h(x_i, θ) − y_i, θ − A⁺ r is the point nearest to θ where
/// the linearized fit holds: the step lies in the row space of J, so it moves θ only
/// across M, never along it. `settle` stacks pin rows C under J (A = [J; C]); the
/// experiments' projection onto M uses it with A = J.
///
/// Checked by `settle::tests::gauss_newton_steps_are_minimum_norm` (A δ = r, δ in
/// the row space of A, damping shrinks δ).
#[derive(Clone, Debug)]
pub struct MinNorm {
    u: Mat<f64>,
    s: Vec<f64>,
    v: Mat<f64>,
}

impl MinNorm {
    /// Factors Aᵀ, given column-major as p x m (column i is row i of A, e.g. ∇_θ h(x_i)
    /// as in [`crate::regularizer::Batch::jacobian_transposed`]). Fails when the SVD
    /// does not converge.
    pub fn new(at: &[f64], p: usize, m: usize) -> Result<Self> {
        let a = MatRef::from_column_major_slice(at, p, m);
        let svd = a.thin_svd().map_err(|e| {
            Error::Linalg(format!(
                "SVD of the Gauss–Newton system did not converge: {e:?}"
            ))
        })?;
        let s = svd.S().column_vector();
        let k = p.min(m);
        Ok(MinNorm {
            u: svd.U().to_owned(),
            s: (0..k).map(|i| s[i]).collect(),
            v: svd.V().to_owned(),
        })
    }

    /// δ = Σ_i u_i f(s_i) (v_iᵀ r): with `lambda` = 0, A⁺ r over the singular values
    /// above `rcond` times the largest (f(s) = 1/s, the others dropped); with a positive
    /// `lambda`, the Levenberg–Marquardt step Aᵀ(A Aᵀ + λI)⁻¹ r (f(s) = s / (s² + λ)).
    /// `r` has length m; δ has length p. A Gauss–Newton step is θ ← θ − δ.
    pub fn solve(&self, r: &[f64], rcond: f64, lambda: f64) -> Vec<f64> {
        let p = self.u.nrows();
        let s_max = self.s.iter().copied().fold(0.0f64, f64::max);
        let mut out = vec![0.0; p];
        for (i, &s) in self.s.iter().enumerate() {
            let f = if lambda > 0.0 {
                s / (s * s + lambda)
            } else if s > rcond * s_max {
                1.0 / s
            } else {
                continue;
            };
            let c: f64 = (0..r.len()).map(|j| self.v[(j, i)] * r[j]).sum::<f64>() * f;
            for (k, o) in out.iter_mut().enumerate() {
                *o += c * self.u[(k, i)];
            }
        }
        out
    }
}

impl MinNorm {
    /// The singular values of A, largest first.
    pub fn singular_values(&self) -> &[f64] {
        &self.s
    }
}

impl Ctx<'_> {
    /// The residual vector of the fit and the pins: r_i = h(x_i) − y_i, then
    /// z_pin + margin_pin.
    pub(super) fn residuals(&self, pt: &Point, pins: &[Pin]) -> Vec<f64> {
        let mut r: Vec<f64> = pt
            .batch
            .outputs()
            .iter()
            .zip(self.data.ys())
            .map(|(h, y)| h - y)
            .collect();
        for &p in pins {
            r.push(self.preactivation(pt, p) + self.margin(pt, p));
        }
        r
    }

    /// Gauss–Newton on the fit (and the pins) from `start`: minimum-norm steps
    /// θ ← θ − [J; C]⁺ r with the `gn_rcond` cutoff until max |r| ≤ the floor or a step
    /// no longer halves ||r||. With `damped`, a step that does not lower ||r|| is
    /// retried as Levenberg–Marquardt with growing λ. Returns the best point and the
    /// number of steps taken.
    pub(super) fn gauss_newton(
        &self,
        start: Point,
        pins: &[Pin],
        max_steps: usize,
        damped: bool,
    ) -> Result<(Point, usize)> {
        let mut cur = start;
        let mut r = self.residuals(&cur, pins);
        let mut r_norm = norm(&r);
        let mut steps = 0;
        while steps < max_steps {
            // On a large network the fit and the retractions take long: they stop when
            // the settle is cancelled (the descent then ends with `Cancelled`).
            if self.cancel.is_cancelled() {
                break;
            }
            let fit = r[..self.data.len()]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            let pins_floor = pins
                .iter()
                .enumerate()
                .all(|(k, &p)| r[self.data.len() + k].abs() <= 0.5 * self.margin(&cur, p));
            if fit <= self.floor && pins_floor {
                break;
            }
            let p = cur.theta.len();
            if p == 0 {
                break;
            }
            let m = r.len();
            let solver = MinNorm::new(&self.augmented_jt(&cur, pins), p, m)?;
            let s_max = solver.s.first().copied().unwrap_or(0.0);
            let lambdas: Vec<f64> = if damped {
                std::iter::once(0.0)
                    .chain((0..6).map(|k| s_max * s_max * 10f64.powi(2 * k - 8)))
                    .collect()
            } else {
                vec![0.0]
            };
            let mut improved = None;
            for lambda in lambdas {
                let delta = solver.solve(&r, self.opts.gn_rcond, lambda);
                let theta: Vec<f64> = cur.theta.iter().zip(&delta).map(|(a, d)| a - d).collect();
                if let Some(next) = self.evaluate(theta)? {
                    let r_next = self.residuals(&next, pins);
                    let n_next = norm(&r_next);
                    if n_next < r_norm {
                        improved = Some((next, r_next, n_next));
                        break;
                    }
                }
            }
            let Some((next, r_next, n_next)) = improved else {
                break;
            };
            steps += 1;
            let halved = n_next <= 0.5 * r_norm;
            cur = next;
            r = r_next;
            r_norm = n_next;
            if !halved && !damped {
                // The rounding floor: further steps only shuffle rounding errors.
                break;
            }
        }
        let cur = self.snap(cur, pins)?;
        Ok((cur, steps))
    }

    /// Rounding, or a pin row that the fit rows already imply (the fit alone holds the
    /// kink on its point to first order, so the least-squares step cannot honour both
    /// exactly), can leave a pinned z a few ulps above 0, where the point counts as
    /// active and reg jumps. Lower such a unit's bias b_u by z + m, which puts z back
    /// at −m and moves h by at most |∂h/∂b_u| (z + m), a few rounding units.
    pub(super) fn snap(&self, pt: Point, pins: &[Pin]) -> Result<Point> {
        let mut theta = pt.theta.clone();
        let mut changed = false;
        for &p in pins {
            let z = self.preactivation(&pt, p);
            let m = self.margin(&pt, p);
            if z > -0.5 * m {
                if let Some(b) = pt.net.slots()[p.layer].bias {
                    let shift = z + m;
                    let at = b + p.unit;
                    // Several pins of one unit: the largest shift serves them all.
                    let lowered = pt.theta[at] - shift;
                    if lowered < theta[at] {
                        theta[at] = lowered;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return Ok(pt);
        }
        Ok(self.evaluate(theta)?.unwrap_or(pt))
    }
}
