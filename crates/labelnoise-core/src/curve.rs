//! Piecewise-linear functions of one variable and curve lengths.
//!
//! A 1-D ReLU network is piecewise linear (paper §4, Proposition 4.1); [`Piece`] is one
//! of its linear pieces, [`pieces_curve_length`] the exact curve length
//! ∫ sqrt(1 + f'(x)²) dx of such a function, and [`curve_length_of`] the curve length of
//! any continuous 1-D function (tanh networks) by adaptive refinement of chords. Both
//! the closed form of one hidden layer ([`crate::shape`]) and the region walk of deeper
//! networks ([`crate::piecewise`]) produce [`Piece`]s.

use serde::Serialize;

/// One linear piece of f: slope `slope` on (from, to); `None` is −∞ resp. +∞.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Piece {
    /// Left end, `None` for −∞.
    pub from: Option<f64>,
    /// Right end, `None` for +∞.
    pub to: Option<f64>,
    /// f' on the piece.
    pub slope: f64,
}

/// The exact curve length ∫_lo^hi sqrt(1 + f'(x)²) dx of a piecewise-linear f given by
/// its pieces (left to right, covering [lo, hi]): the sum over the pieces of (length of
/// the piece inside [lo, hi]) · sqrt(1 + slope²). 0 when hi ≤ lo.
///
/// This is the curve length of Theorem 1's shape report (paper §4, where f is piecewise
/// linear); checked by `shape::tests::hand_built_units_have_known_kinks_slopes_and_length`
/// and by `curve::tests::pieces_curve_length_sums_the_pieces_inside`.
pub fn pieces_curve_length(pieces: &[Piece], lo: f64, hi: f64) -> f64 {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return 0.0;
    }
    pieces
        .iter()
        .map(|p| {
            let from = p.from.map_or(lo, |f| f.max(lo));
            let to = p.to.map_or(hi, |t| t.min(hi));
            if to > from {
                (to - from) * p.slope.hypot(1.0)
            } else {
                0.0
            }
        })
        .sum()
}

/// Uniform intervals that [`curve_length_of`] starts from.
const START_INTERVALS: usize = 1024;
/// Deepest halving of a starting interval in [`curve_length_of`].
const MAX_DEPTH: usize = 20;
/// Most evaluations of f in [`curve_length_of`]; beyond, no interval is split.
const MAX_EVALS: usize = 1 << 22;

/// The curve length ∫_lo^hi sqrt(1 + f'(x)²) dx of any continuous 1-D function, by
/// adaptive refinement of chord lengths (docs/conventions.md#curve-length: "adaptive quadrature on a fine
/// grid").
///
/// [lo, hi] is cut into 1024 equal intervals. An interval [u, v] with midpoint m is
/// halved while its two-chord length |(m, f(m)) − (u, f(u))| + |(v, f(v)) − (m, f(m))|
/// differs from its one-chord length |(v, f(v)) − (u, f(u))| by more than `rel_tol`
/// times the two-chord length; an accepted interval contributes its two-chord length.
/// For smooth f the chord error shrinks fourfold per halving, so the result is a
/// polyline length within about `rel_tol`/3 of the truth, from below. Refinement stops
/// at 20 halvings of a starting interval, and, to bound the work on functions that
/// never settle, once f has been evaluated 2²² times (intervals are refined level by
/// level, so the budget is spread evenly). A NaN or negative `rel_tol` is taken as 0:
/// refine to those limits. Returns 0 when hi ≤ lo.
///
/// Used for the curve length of tanh and logistic networks in the Theorem 1 report of
/// the experiments; checked by `curve::tests::curve_length_of_known_curves`.
pub fn curve_length_of(f: impl Fn(f64) -> f64, lo: f64, hi: f64, rel_tol: f64) -> f64 {
    // Also catches NaN ends.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return 0.0;
    }
    let tol = if rel_tol > 0.0 { rel_tol } else { 0.0 };
    let chord = |u: f64, fu: f64, v: f64, fv: f64| (v - u).hypot(fv - fu);
    let step = (hi - lo) / START_INTERVALS as f64;
    let grid: Vec<(f64, f64)> = (0..=START_INTERVALS)
        .map(|k| {
            let x = if k == START_INTERVALS {
                hi
            } else {
                lo + k as f64 * step
            };
            (x, f(x))
        })
        .collect();
    let mut evals = grid.len();
    // Intervals of the current level as (u, f(u), v, f(v)).
    let mut level: Vec<(f64, f64, f64, f64)> = grid
        .windows(2)
        .map(|w| (w[0].0, w[0].1, w[1].0, w[1].1))
        .collect();
    let mut total = 0.0;
    for depth in 0..=MAX_DEPTH {
        let mut next = Vec::new();
        for (u, fu, v, fv) in level {
            let m = 0.5 * (u + v);
            let fm = f(m);
            evals += 1;
            let coarse = chord(u, fu, v, fv);
            let fine = chord(u, fu, m, fm) + chord(m, fm, v, fv);
            let settled = (fine - coarse).abs() <= tol * fine;
            if settled || depth == MAX_DEPTH || evals >= MAX_EVALS {
                total += fine;
            } else {
                next.push((u, fu, m, fm));
                next.push((m, fm, v, fv));
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_curve_length_sums_the_pieces_inside() {
        // f = −x on (−∞, 0), 2x on (0, 1), 2 on (1, ∞); over [−1, 3]: sqrt(2) + sqrt(5) + 2.
        let pieces = [
            Piece {
                from: None,
                to: Some(0.0),
                slope: -1.0,
            },
            Piece {
                from: Some(0.0),
                to: Some(1.0),
                slope: 2.0,
            },
            Piece {
                from: Some(1.0),
                to: None,
                slope: 0.0,
            },
        ];
        let want = 2f64.sqrt() + 5f64.sqrt() + 2.0;
        let got = pieces_curve_length(&pieces, -1.0, 3.0);
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        // Clipped to one piece, and empty for hi ≤ lo.
        assert!((pieces_curve_length(&pieces, 0.25, 0.75) - 0.5 * 5f64.sqrt()).abs() < 1e-15);
        assert_eq!(pieces_curve_length(&pieces, 1.0, 1.0), 0.0);
        assert_eq!(pieces_curve_length(&pieces, f64::NAN, 1.0), 0.0);
    }

    #[test]
    fn curve_length_of_known_curves() {
        // A line y = 2x + 1 on [−1, 2]: 3 · sqrt(5).
        let line = curve_length_of(|x| 2.0 * x + 1.0, -1.0, 2.0, 1e-10);
        assert!((line - 3.0 * 5.0f64.sqrt()).abs() < 1e-12, "{line}");
        // y = x² on [0, 1]: (2 sqrt(5) + asinh(2)) / 4.
        let want = (2.0 * 5.0f64.sqrt() + 2.0f64.asinh()) / 4.0;
        let got = curve_length_of(|x| x * x, 0.0, 1.0, 1e-10);
        assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
        // Looser tolerances are less accurate but never longer than the curve.
        let rough = curve_length_of(|x| x * x, 0.0, 1.0, 1e-3);
        assert!(rough <= want && want - rough < 1e-5, "{rough}");
        // A quarter circle of radius 1 on [0, 0.9]: asin(0.9).
        let arc = curve_length_of(|x| (1.0 - x * x).sqrt(), 0.0, 0.9, 1e-10);
        assert!((arc - 0.9f64.asin()).abs() < 1e-8, "{arc}");
        assert_eq!(curve_length_of(|x| x, 1.0, 0.0, 1e-6), 0.0);
        assert_eq!(curve_length_of(|x| x, f64::NAN, 0.0, 1e-6), 0.0);
    }
}
