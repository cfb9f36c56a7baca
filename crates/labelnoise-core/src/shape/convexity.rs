//! Changes of convexity (paper Theorem 1): of f, the sign changes of its significant
//! slope jumps; of the data, the sign changes of their second differences, the fewest
//! any interpolant of the data can have on (x_1, x_n).

/// A second difference of the data is zero when |Δslope| ≤ `COLINEAR_TOL · max(1, max
/// |slope|)`. Data written in decimal (0.1, 0.3, ...) are not exactly representable in
/// binary, so three points that are co-linear on paper have a second difference of a
/// few ulps; 1e-9 is far above that and far below any bend that is meant.
const COLINEAR_TOL: f64 = 1e-9;

/// The second differences of x-sorted 1-D data `pts` = (x_i, y_i): with slopes
/// m_i = (y_{i+1} − y_i)/(x_{i+1} − x_i), entry j − 1 is m_j − m_{j−1}, the second
/// difference at the sorted point j (1 ≤ j ≤ n − 2), set to exactly 0 when within
/// [`COLINEAR_TOL`] · max(1, max_i |m_i|). The data need at least as many changes of
/// convexity as these have sign changes, and a zero marks three co-linear points.
pub(super) fn second_differences(pts: &[(f64, f64)]) -> Vec<f64> {
    let slopes: Vec<f64> = pts
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
        .collect();
    let zero_tol = COLINEAR_TOL * slopes.iter().fold(1.0f64, |m, s| m.max(s.abs()));
    slopes
        .windows(2)
        .map(|w| w[1] - w[0])
        .map(|d| if d.abs() <= zero_tol { 0.0 } else { d })
        .collect()
}

/// The number of sign changes in a sequence, zeros skipped.
pub(super) fn sign_changes(values: impl Iterator<Item = f64>) -> usize {
    let mut last = 0.0f64;
    let mut changes = 0;
    for v in values.filter(|&v| v != 0.0) {
        if last != 0.0 && (v > 0.0) != (last > 0.0) {
            changes += 1;
        }
        last = v;
    }
    changes
}
