//! The Theorem 1 shape report (paper Theorem 1, docs/conventions.md#theorem-1): its types, and the core that
//! assembles a report from the kinks and pieces of f, whichever way they were found.

use serde::Serialize;

use crate::curve::{pieces_curve_length, Piece};
use crate::data::Dataset;
use crate::error::{Error, Result};

use super::colinear::{colinear_triples, ColinearTriple};
use super::convexity::{second_differences, sign_changes};

/// One (merged) kink of f.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Kink {
    /// Where the kink is (−b_i/a_i for one hidden layer).
    pub x: f64,
    /// The slope jump (Σ c_i |a_i| over its units for one hidden layer; for deeper
    /// networks the difference of the neighbouring slopes): > 0 convex, < 0 concave.
    pub jump: f64,
    /// The hidden units with their kink here. For deeper networks: the units of the
    /// first hidden layer among `layer_units`.
    pub units: Vec<usize>,
    /// (hidden layer, unit), both 0-based, of every unit that switches here (for one
    /// hidden layer: (0, i) for i in `units`).
    pub layer_units: Vec<[usize; 2]>,
    /// The index, in the data sorted by x, of the data point the kink is on (within
    /// `on_point_tol · (x_n − x_1)`), if any.
    pub data_point: Option<usize>,
}

/// The most work (regions walked × hidden weights, about 1 s) [`network_shape_report`](super::network_shape_report)
/// spends on the exact walk of a deep network ([`crate::piecewise::PiecewiseLinear::from_network_within`]).
/// A 1→100→100→100 network (≈2·10⁴ weights) may have 5·10⁴ regions before the report is
/// left out; a 1→1000→1000→1000 network (2·10⁶ weights) 500, which a random one exceeds.
pub const MAX_SHAPE_WORK: f64 = 1e9;

/// The tolerances of [`shape_report`](super::shape_report).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeOptions {
    /// Jumps with |jump| < `jump_threshold` · (largest |jump| among the kinks strictly
    /// inside (x_1, x_n)) are ignored. Default 1e-6.
    pub jump_threshold: f64,
    /// f interpolates when max_i |f(x_i) − y_i| ≤ `fit_tol` (absolute). Default 1e-6.
    pub fit_tol: f64,
    /// A kink within `on_point_tol` · (x_n − x_1) of a data point is on that point.
    /// Default 1e-9.
    pub on_point_tol: f64,
    /// The most work (regions walked × hidden weights) spent on the exact walk of a
    /// network with several hidden layers before its report is left out
    /// ([`network_shape_report`](super::network_shape_report)). Default
    /// [`MAX_SHAPE_WORK`] = 1e9, about a second.
    pub max_walk_work: f64,
}

impl Default for ShapeOptions {
    fn default() -> Self {
        ShapeOptions {
            jump_threshold: 1e-6,
            fit_tol: 1e-6,
            on_point_tol: 1e-9,
            max_walk_work: MAX_SHAPE_WORK,
        }
    }
}

/// The Theorem 1 shape report (docs/conventions.md#theorem-1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShapeReport {
    /// All kinks of f on the real line, sorted by x.
    pub kinks: Vec<Kink>,
    /// All linear pieces of f on the real line, left to right.
    pub pieces: Vec<Piece>,
    /// Sign changes of the significant slope jumps strictly inside (x_1, x_n).
    pub convexity_changes: usize,
    /// Kinks strictly inside (x_1, x_n) with a significant jump (non-zero and at least
    /// `jump_threshold` · the largest |jump| inside).
    pub kinks_inside: usize,
    /// Sign changes of the non-zero second differences of the data: the fewest
    /// changes of convexity any interpolant of the data has on (x_1, x_n).
    pub min_convexity_changes: usize,
    /// The relative jump threshold used (`ShapeOptions::jump_threshold`).
    pub jump_threshold: f64,
    /// Every three consecutive co-linear data points, and whether f is linear there.
    pub colinear_triples: Vec<ColinearTriple>,
    /// ∫_{x_1}^{x_n} sqrt(1 + f'(x)²) dx, exact.
    pub curve_length: f64,
    /// max_i |f(x_i) − y_i| ≤ `fit_tol`.
    pub interpolates: bool,
    /// max_i |f(x_i) − y_i|.
    pub max_abs_residual: f64,
    /// The verdict: f interpolates, `convexity_changes == min_convexity_changes`, and
    /// f is linear on every co-linear triple.
    pub theorem1: bool,
}

/// Fails on options that are NaN, infinite or negative.
pub(super) fn check_options(opts: &ShapeOptions) -> Result<()> {
    for (name, value) in [
        ("jump_threshold", opts.jump_threshold),
        ("fit_tol", opts.fit_tol),
        ("on_point_tol", opts.on_point_tol),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::parameter(
                name,
                format!("must be a finite number >= 0, found {value}"),
            ));
        }
    }
    Ok(())
}

/// The shared core of the shape reports: everything from the kinks (sorted by x, with
/// `data_point` still to be filled in), the pieces and f.
pub(super) fn report_from_parts(
    kinks: Vec<Kink>,
    pieces: Vec<Piece>,
    f: &dyn Fn(f64) -> f64,
    data: &Dataset,
    opts: &ShapeOptions,
) -> Result<ShapeReport> {
    let Some(pts) = data.sorted_1d() else {
        return Err(Error::Mismatch {
            message: format!(
                "the Theorem 1 shape report needs 1-D data, the data have dimension {}",
                data.dim()
            ),
        });
    };
    if pts.len() < 2 {
        return Err(Error::parameter(
            "data",
            "the Theorem 1 shape report needs at least two points",
        ));
    }
    if let Some(w) = pts.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::parameter(
            "data",
            format!(
                "x = {} appears more than once; the Theorem 1 shape report needs distinct x",
                w[0].0
            ),
        ));
    }
    let xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let n = xs.len();
    let (x1, xn) = (xs[0], xs[n - 1]);
    let on_tol = opts.on_point_tol * (xn - x1);
    // Strictly inside (lo, hi), a kink within the on-point tolerance of an end being on it.
    let inside = |x: f64, lo: f64, hi: f64| x - lo > on_tol && hi - x > on_tol;

    let kinks: Vec<Kink> = kinks
        .into_iter()
        .map(|k| Kink {
            data_point: point_at(&xs, k.x, on_tol),
            ..k
        })
        .collect();

    let largest = kinks
        .iter()
        .filter(|k| inside(k.x, x1, xn))
        .fold(0.0f64, |m, k| m.max(k.jump.abs()));
    let cutoff = opts.jump_threshold * largest;
    let significant = |jump: f64| jump != 0.0 && jump.abs() >= cutoff;
    let inside_jumps: Vec<f64> = kinks
        .iter()
        .filter(|k| inside(k.x, x1, xn) && significant(k.jump))
        .map(|k| k.jump)
        .collect();
    let kinks_inside = inside_jumps.len();
    let convexity_changes = sign_changes(inside_jumps.into_iter());

    let second = second_differences(&pts);
    let min_convexity_changes = sign_changes(second.iter().copied());

    let colinear_triples = colinear_triples(&xs, &second, |lo, hi| {
        kinks
            .iter()
            .any(|kink| inside(kink.x, lo, hi) && significant(kink.jump))
    });

    let max_abs_residual = pts
        .iter()
        .map(|&(x, y)| (f(x) - y).abs())
        .fold(0.0f64, |m, r| if r > m || r.is_nan() { r } else { m });
    let interpolates = max_abs_residual <= opts.fit_tol;
    let theorem1 = interpolates
        && convexity_changes == min_convexity_changes
        && colinear_triples.iter().all(|t| t.linear);

    Ok(ShapeReport {
        curve_length: pieces_curve_length(&pieces, x1, xn),
        pieces,
        kinks,
        convexity_changes,
        kinks_inside,
        min_convexity_changes,
        jump_threshold: opts.jump_threshold,
        colinear_triples,
        interpolates,
        max_abs_residual,
        theorem1,
    })
}

/// The index of the sorted x nearest to `x`, if it is within `tol`.
fn point_at(xs: &[f64], x: f64, tol: f64) -> Option<usize> {
    let right = xs.partition_point(|&p| p < x);
    let candidates = [right.checked_sub(1), (right < xs.len()).then_some(right)];
    candidates
        .into_iter()
        .flatten()
        .map(|j| (j, (xs[j] - x).abs()))
        .filter(|&(_, d)| d <= tol)
        .min_by(|p, q| p.1.total_cmp(&q.1))
        .map(|(j, _)| j)
}
