//! Co-linear triples (paper Theorem 1): three consecutive data points on one line, on
//! whose span a non-repellent interpolant must be linear.

use serde::Serialize;

/// Three consecutive data points (in x-sorted order) whose second difference is zero.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColinearTriple {
    /// Indices in the data sorted by x: i, i+1, i+2.
    pub points: [usize; 3],
    /// Their x values.
    pub x: [f64; 3],
    /// Whether f is linear on [x_i, x_{i+2}]: no significant kink strictly inside
    /// (a kink on x_i or x_{i+2}, within the on-point tolerance, does not count).
    pub linear: bool,
}

/// The co-linear triples of x-sorted data with inputs `xs` and second differences
/// `second` (from [`super::convexity::second_differences`]: entry k is 0 exactly when
/// points k, k+1, k+2 are co-linear). `kink_inside(lo, hi)` says whether f has a
/// significant kink strictly inside (lo, hi); without one, f is linear on the triple.
pub(super) fn colinear_triples(
    xs: &[f64],
    second: &[f64],
    kink_inside: impl Fn(f64, f64) -> bool,
) -> Vec<ColinearTriple> {
    second
        .iter()
        .enumerate()
        .filter(|&(_, &d)| d == 0.0)
        .map(|(k, _)| {
            let (lo, hi) = (xs[k], xs[k + 2]);
            ColinearTriple {
                points: [k, k + 1, k + 2],
                x: [lo, xs[k + 1], hi],
                linear: !kink_inside(lo, hi),
            }
        })
        .collect()
}
