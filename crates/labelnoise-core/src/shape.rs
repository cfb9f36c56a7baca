//! The Theorem 1 shape report of 1-D networks with one hidden ReLU layer
//! (docs/conventions.md#theorem-1).
//!
//! With d = 1 and one hidden ReLU layer the network is the piecewise linear function
//! of the paper's §4 (Proposition 4.1):
//!
//! f(x) = Σ_i c_i relu(a_i x + b_i) + s x + b,
//!
//! where a_i, b_i are the hidden layer's weights and biases (b_i = 0 without a bias),
//! c_i the output weights, b the output bias (0 without one) and s the skip weight
//! (0 without a skip unit). Unit i with c_i ≠ 0 and a_i ≠ 0 has its kink (the paper's
//! "intercept", Definition 3) at x = −b_i/a_i, where the slope of f jumps by
//! c_i |a_i|: up for a convex unit (c_i > 0), down for a concave one (c_i < 0).
//!
//! Theorem 1 says that a zero-training-error θ that is non-repellent under SGD with
//! label noise has, on (x_1, x_n), the minimum number of changes of convexity any
//! interpolant of the data needs, and is linear on the span of every three consecutive
//! co-linear data points. [`shape_report`] measures exactly these quantities for a
//! given θ, plus the curve length ∫ sqrt(1 + f'(x)²) dx over [x_1, x_n].
//!
//! Deeper 1-D networks whose hidden layers are relu (or identity) are piecewise linear
//! too, with kinks where any unit of any layer switches and the slope actually jumps;
//! [`crate::piecewise::PiecewiseLinear`] finds them exactly by walking the activation
//! regions, and [`piecewise_shape_report`] measures the same quantities from them (the
//! paper's §1.1 conjecture is that Theorem 1 extends to such networks).
//! [`network_shape_report`] picks the right one for a network. Both share one
//! implementation working from the list of kinks and pieces.
//!
//! [`curve_length_of`] measures the curve length of any 1-D function (tanh networks)
//! by adaptive refinement of chord lengths.

use serde::Serialize;

use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::piecewise::PiecewiseLinear;

/// Kinks closer than `MERGE_TOL · max(1, |x|)` are one kink.
const MERGE_TOL: f64 = 1e-12;

/// A second difference of the data is zero when |Δslope| ≤ `COLINEAR_TOL · max(1, max
/// |slope|)`. Data written in decimal (0.1, 0.3, ...) are not exactly representable in
/// binary, so three points that are co-linear on paper have a second difference of a
/// few ulps; 1e-9 is far above that and far below any bend that is meant.
const COLINEAR_TOL: f64 = 1e-9;

/// The parameters of f(x) = Σ_i c_i relu(a_i x + b_i) + s x + b (paper §4).
///
/// The vectors `a`, `b`, `c` have one entry per hidden unit; should they differ in
/// length, the extra entries of the longer ones are ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct ReluUnits {
    /// a_i, the input weight of unit i.
    pub a: Vec<f64>,
    /// b_i, the bias of unit i.
    pub b: Vec<f64>,
    /// c_i, the output weight of unit i.
    pub c: Vec<f64>,
    /// b, the output bias.
    pub out_bias: f64,
    /// s, the skip weight.
    pub skip: f64,
}

impl ReluUnits {
    /// The units of `net`, or `None` unless `net` has input dimension 1 and exactly one
    /// hidden layer, with the relu activation. Missing biases and a missing skip unit
    /// are 0; frozen or trainable makes no difference to the function.
    pub fn from_network(net: &Network) -> Option<Self> {
        if net.input_dim() != 1 {
            return None;
        }
        let [hidden] = net.hidden_layers() else {
            return None;
        };
        if hidden.activation != Activation::Relu {
            return None;
        }
        let out = net.output_layer();
        Some(ReluUnits {
            a: hidden.weight.clone(),
            b: hidden
                .bias
                .clone()
                .unwrap_or_else(|| vec![0.0; hidden.out_dim]),
            c: out.weight.clone(),
            out_bias: out
                .bias
                .as_ref()
                .and_then(|b| b.first().copied())
                .unwrap_or(0.0),
            skip: net
                .skip()
                .and_then(|s| s.weight.first().copied())
                .unwrap_or(0.0),
        })
    }

    /// The number of hidden units.
    pub fn width(&self) -> usize {
        self.a.len().min(self.b.len()).min(self.c.len())
    }

    /// (i, a_i, b_i, c_i) for every unit.
    fn units(&self) -> impl Iterator<Item = (usize, f64, f64, f64)> + '_ {
        self.a
            .iter()
            .zip(&self.b)
            .zip(&self.c)
            .enumerate()
            .map(|(i, ((&a, &b), &c))| (i, a, b, c))
    }

    /// Units that have a kink: c_i ≠ 0 and a_i ≠ 0.
    fn live_units(&self) -> impl Iterator<Item = (usize, f64, f64, f64)> + '_ {
        self.units().filter(|&(_, a, _, c)| a != 0.0 && c != 0.0)
    }

    /// f(x) = Σ_i c_i relu(a_i x + b_i) + s x + b.
    pub fn eval(&self, x: f64) -> f64 {
        let hidden: f64 = self
            .units()
            .map(|(_, a, b, c)| c * (a * x + b).max(0.0))
            .sum();
        hidden + self.skip * x + self.out_bias
    }

    /// The kinks of f, sorted by x, as (x, slope jump, units).
    ///
    /// Unit i with c_i ≠ 0 and a_i ≠ 0 has a kink at x = −b_i/a_i where the slope
    /// of f jumps by c_i |a_i|. Kinks at the same x (equal within 1e-12 · max(1, |x|))
    /// are merged: their jumps add and the units are listed together (ascending); the
    /// merged kink sits at the smallest of the merged x. A merged jump may be 0 when
    /// units cancel.
    pub fn kinks(&self) -> Vec<(f64, f64, Vec<usize>)> {
        let mut raw: Vec<(f64, f64, usize)> = self
            .live_units()
            // `+ 0.0` turns a kink at −0 into 0.
            .map(|(i, a, b, c)| (-b / a + 0.0, c * a.abs(), i))
            .collect();
        // A total order (ties by unit index), so the unstable sort is deterministic.
        raw.sort_unstable_by(|p, q| p.0.total_cmp(&q.0).then(p.2.cmp(&q.2)));
        let mut merged: Vec<(f64, f64, Vec<usize>)> = Vec::new();
        for (x, jump, i) in raw {
            match merged.last_mut() {
                Some((gx, gjump, units)) if (x - *gx).abs() <= MERGE_TOL * x.abs().max(1.0) => {
                    *gjump += jump;
                    units.push(i);
                }
                _ => merged.push((x, jump, vec![i])),
            }
        }
        for (_, _, units) in &mut merged {
            units.sort_unstable();
        }
        merged
    }

    /// The linear pieces of f over the whole real line, left to right.
    ///
    /// Left of every kink, exactly the units with a_i < 0 are active, so the leftmost
    /// slope is s + Σ_{a_i<0} c_i a_i; each kink then adds its jump. There is one piece
    /// more than there are (merged) kinks; the outer pieces are unbounded (`None`).
    pub fn pieces(&self) -> Vec<Piece> {
        self.pieces_from(&self.kinks())
    }

    /// [`pieces`](Self::pieces) from the merged kinks already computed by
    /// [`kinks`](Self::kinks).
    fn pieces_from(&self, kinks: &[(f64, f64, Vec<usize>)]) -> Vec<Piece> {
        let mut slope = self.skip
            + self
                .live_units()
                .filter(|&(_, a, _, _)| a < 0.0)
                .map(|(_, a, _, c)| c * a)
                .sum::<f64>();
        let mut pieces = Vec::with_capacity(kinks.len() + 1);
        let mut from = None;
        for &(x, jump, _) in kinks {
            pieces.push(Piece {
                from,
                to: Some(x),
                slope,
            });
            slope += jump;
            from = Some(x);
        }
        pieces.push(Piece {
            from,
            to: None,
            slope,
        });
        pieces
    }

    /// The exact curve length ∫_lo^hi sqrt(1 + f'(x)²) dx: the sum over the pieces
    /// of (length of the piece inside [lo, hi]) · sqrt(1 + slope²). 0 when hi ≤ lo.
    pub fn curve_length(&self, lo: f64, hi: f64) -> f64 {
        pieces_curve_length(&self.pieces(), lo, hi)
    }

    /// Parameter error if the units are not all finite or have different lengths.
    fn validate(&self) -> Result<()> {
        if self.a.len() != self.b.len() || self.a.len() != self.c.len() {
            return Err(Error::parameter(
                "units",
                format!(
                    "a, b and c have {}, {} and {} values; they must agree",
                    self.a.len(),
                    self.b.len(),
                    self.c.len()
                ),
            ));
        }
        let all = self.a.iter().chain(&self.b).chain(&self.c);
        if !all
            .chain([&self.out_bias, &self.skip])
            .all(|v| v.is_finite())
        {
            return Err(Error::parameter("units", "a value is not finite"));
        }
        Ok(())
    }
}

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

/// The tolerances of [`shape_report`].
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
}

impl Default for ShapeOptions {
    fn default() -> Self {
        ShapeOptions {
            jump_threshold: 1e-6,
            fit_tol: 1e-6,
            on_point_tol: 1e-9,
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

/// The Theorem 1 shape report of `units` on `data`.
///
/// - Kinks strictly inside (x_1, x_n) are those farther than `on_point_tol · (x_n −
///   x_1)` from both x_1 and x_n. Among them, a jump is significant when it is non-zero
///   and |jump| ≥ `jump_threshold` · (largest |jump| among them); the convexity changes
///   are the sign changes in the sequence of significant jumps.
/// - With slopes m_i = (y_{i+1} − y_i)/(x_{i+1} − x_i) of the x-sorted data, the
///   second differences are m_i − m_{i−1}; one is zero when its magnitude is at most
///   1e-9 · max(1, max_i |m_i|). The minimum number of convexity changes is the number
///   of sign changes of the non-zero second differences; every zero one makes a
///   co-linear triple, which is linear when no significant kink is strictly inside its
///   span (with the same on-point tolerance at its ends).
///
/// Errors: data that are not 1-D ([`Error::Mismatch`]); fewer than two points or a
/// repeated x value, options that are NaN, infinite or negative, or units that are
/// not finite or of different lengths ([`Error::Parameter`]).
pub fn shape_report(units: &ReluUnits, data: &Dataset, opts: &ShapeOptions) -> Result<ShapeReport> {
    check_options(opts)?;
    units.validate()?;
    let kinks = units.kinks();
    let pieces = units.pieces_from(&kinks);
    let kinks = kinks
        .into_iter()
        .map(|(x, jump, units)| Kink {
            x,
            jump,
            layer_units: units.iter().map(|&u| [0, u]).collect(),
            units,
            data_point: None,
        })
        .collect();
    report_from_parts(kinks, pieces, &|x| units.eval(x), data, opts)
}

/// The Theorem 1 shape report of a deep (or shallow) 1-D relu network in its exact
/// piecewise-linear form, with the rules of [`shape_report`].
///
/// The kinks are the breakpoints of `f` where the slope jumps
/// ([`PiecewiseLinear::kinks`]); their jump is the difference of the neighbouring
/// pieces' slopes, their `layer_units` the units that switch there. Breakpoints where
/// units switch but the slope does not change are not kinks. Errors as for
/// [`shape_report`] (without the units).
pub fn piecewise_shape_report(
    f: &PiecewiseLinear,
    data: &Dataset,
    opts: &ShapeOptions,
) -> Result<ShapeReport> {
    check_options(opts)?;
    let pieces = f.pieces();
    let kinks = f
        .kinks()
        .zip(pieces.windows(2))
        .map(|(b, w)| {
            let mut layer_units: Vec<[usize; 2]> = b
                .switches
                .iter()
                .map(|s| [s.unit.layer, s.unit.unit])
                .collect();
            layer_units.sort_unstable();
            Kink {
                x: b.x,
                jump: w[1].slope - w[0].slope,
                units: layer_units
                    .iter()
                    .filter(|lu| lu[0] == 0)
                    .map(|lu| lu[1])
                    .collect(),
                layer_units,
                data_point: None,
            }
        })
        .collect();
    report_from_parts(kinks, pieces, &|x| f.eval(x), data, opts)
}

/// The Theorem 1 shape report of any 1-D network whose hidden layers are relu or
/// identity, with at least one relu layer; `Ok(None)` for other networks.
///
/// One hidden relu layer goes through [`ReluUnits`] and [`shape_report`] (the paper's
/// f(x) = Σ c_i relu(a_i x + b_i) + s x + b, kinks per unit); anything deeper through
/// [`PiecewiseLinear`] and [`piecewise_shape_report`].
pub fn network_shape_report(
    net: &Network,
    data: &Dataset,
    opts: &ShapeOptions,
) -> Result<Option<ShapeReport>> {
    if let Some(units) = ReluUnits::from_network(net) {
        return shape_report(&units, data, opts).map(Some);
    }
    if !PiecewiseLinear::applies_to(net) {
        return Ok(None);
    }
    match PiecewiseLinear::from_network(net) {
        Some(f) => piecewise_shape_report(&f, data, opts).map(Some),
        None => Ok(None),
    }
}

/// Fails on options that are NaN, infinite or negative.
fn check_options(opts: &ShapeOptions) -> Result<()> {
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
fn report_from_parts(
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

    // second[j - 1] is the second difference at the x-sorted point j (1 ≤ j ≤ n − 2),
    // already set to 0 when within the co-linearity tolerance.
    let slopes: Vec<f64> = pts
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
        .collect();
    let zero_tol = COLINEAR_TOL * slopes.iter().fold(1.0f64, |m, s| m.max(s.abs()));
    let second: Vec<f64> = slopes
        .windows(2)
        .map(|w| w[1] - w[0])
        .map(|d| if d.abs() <= zero_tol { 0.0 } else { d })
        .collect();
    let min_convexity_changes = sign_changes(second.iter().copied());

    let colinear_triples = second
        .iter()
        .enumerate()
        .filter(|&(_, &d)| d == 0.0)
        .map(|(k, _)| {
            let (lo, hi) = (xs[k], xs[k + 2]);
            ColinearTriple {
                points: [k, k + 1, k + 2],
                x: [lo, xs[k + 1], hi],
                linear: !kinks
                    .iter()
                    .any(|kink| inside(kink.x, lo, hi) && significant(kink.jump)),
            }
        })
        .collect::<Vec<_>>();

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

/// The exact curve length ∫_lo^hi sqrt(1 + f'(x)²) dx of a piecewise-linear f given by
/// its pieces (left to right, covering [lo, hi]): the sum over the pieces of (length of
/// the piece inside [lo, hi]) · sqrt(1 + slope²). 0 when hi ≤ lo.
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

/// The number of sign changes in a sequence, zeros skipped.
fn sign_changes(values: impl Iterator<Item = f64>) -> usize {
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

/// Uniform intervals that [`curve_length_of`] starts from.
const START_INTERVALS: usize = 1024;
/// Deepest halving of a starting interval in [`curve_length_of`].
const MAX_DEPTH: usize = 20;
/// Most evaluations of f in [`curve_length_of`]; beyond, no interval is split.
const MAX_EVALS: usize = 1 << 22;

/// The curve length ∫_lo^hi sqrt(1 + f'(x)²) dx of any continuous 1-D function, by
/// adaptive refinement of chord lengths (docs/conventions.md#curve-length: "adaptive
/// quadrature on a fine grid").
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
    use crate::network::{Architecture, Layer, Skip};

    fn data(x: &[f64], y: &[f64]) -> Dataset {
        Dataset::new(1, x.to_vec(), y.to_vec(), "test").unwrap()
    }

    fn relu_net(a: &[f64], b: &[f64], c: &[f64], skip: f64, bias: f64) -> Network {
        Network::new(
            1,
            vec![
                Layer {
                    in_dim: 1,
                    out_dim: a.len(),
                    weight: a.to_vec(),
                    bias: Some(b.to_vec()),
                    activation: Activation::Relu,
                    trainable: true,
                },
                Layer {
                    in_dim: a.len(),
                    out_dim: 1,
                    weight: c.to_vec(),
                    bias: Some(vec![bias]),
                    activation: Activation::Identity,
                    trainable: false,
                },
            ],
            Some(Skip {
                weight: vec![skip],
                trainable: true,
            }),
            "test",
        )
        .unwrap()
    }

    /// f(x) = relu(x) + 2 relu(1 − x) − 0.5 relu(2x − 4) + 3 relu(1) + 0·relu(x + 5)
    ///        + 0.25 x + 0.5.
    fn three_units() -> ReluUnits {
        ReluUnits {
            a: vec![1.0, -1.0, 2.0, 0.0, 1.0],
            b: vec![0.0, 1.0, -4.0, 1.0, 5.0],
            c: vec![1.0, 2.0, -0.5, 3.0, 0.0],
            out_bias: 0.5,
            skip: 0.25,
        }
    }

    #[test]
    fn hand_built_units_have_known_kinks_slopes_and_length() {
        let u = three_units();
        // Kinks at 0 (jump 1·1), 1 (jump 2·|−1|), 2 (jump −0.5·2); units 3 (a = 0) and
        // 4 (c = 0) have none.
        assert_eq!(
            u.kinks(),
            vec![
                (0.0, 1.0, vec![0]),
                (1.0, 2.0, vec![1]),
                (2.0, -1.0, vec![2])
            ]
        );
        // Leftmost slope 0.25 + 2·(−1) = −1.75, then −0.75, 1.25, 0.25.
        let slopes: Vec<f64> = u.pieces().iter().map(|p| p.slope).collect();
        assert_eq!(slopes, vec![-1.75, -0.75, 1.25, 0.25]);
        let p = u.pieces();
        assert_eq!((p[0].from, p[0].to), (None, Some(0.0)));
        assert_eq!((p[3].from, p[3].to), (Some(2.0), None));
        // Values by hand: f(−2) = 6 + 3, f(0) = 2.5 + 3, f(1) = 1.75 + 3, f(3) = 3.25 + 3.
        for (x, y) in [(-2.0, 9.0), (0.0, 5.5), (1.0, 4.75), (3.0, 6.25)] {
            assert!((u.eval(x) - y).abs() < 1e-14, "f({x})");
        }
        let len = 0.5 * 4.0625f64.sqrt() + 1.25 + 2.5625f64.sqrt() + 0.5 * 1.0625f64.sqrt();
        assert!((u.curve_length(-0.5, 2.5) - len).abs() < 1e-14);
        assert_eq!(u.curve_length(1.0, 1.0), 0.0);
        // The general routine agrees with the exact one.
        let approx = curve_length_of(|x| u.eval(x), -0.5, 2.5, 1e-12);
        assert!((approx - len).abs() < 1e-8, "{approx} vs {len}");
    }

    #[test]
    fn kinks_at_the_same_x_merge() {
        let u = ReluUnits {
            a: vec![1.0, -2.0, 1.0],
            b: vec![-1.0, 2.0 + 1e-13, 0.0],
            c: vec![1.0, 0.25, -1.0],
            out_bias: 0.0,
            skip: 0.0,
        };
        let k = u.kinks();
        assert_eq!(k.len(), 2);
        assert_eq!(k[1].2, vec![0, 1]);
        assert!((k[1].1 - 1.5).abs() < 1e-15);
    }

    #[test]
    fn tiny_jump_below_threshold_is_ignored() {
        // Jumps +1 at 0.5, −1e-8 at 1.5, +1 at 2.5.
        let u = ReluUnits {
            a: vec![1.0, 1.0, 1.0],
            b: vec![-0.5, -1.5, -2.5],
            c: vec![1.0, -1e-8, 1.0],
            out_bias: 0.0,
            skip: 0.0,
        };
        let xs = [0.0, 1.0, 2.0, 3.0];
        let ys: Vec<f64> = xs.iter().map(|&x| u.eval(x)).collect();
        let d = data(&xs, &ys);
        let r = shape_report(&u, &d, &ShapeOptions::default()).unwrap();
        assert_eq!(r.convexity_changes, 0);
        assert_eq!(r.jump_threshold, 1e-6);
        let strict = ShapeOptions {
            jump_threshold: 0.0,
            ..ShapeOptions::default()
        };
        let r = shape_report(&u, &d, &strict).unwrap();
        assert_eq!(r.convexity_changes, 2);
        // A threshold above 1e-8 but below 1 ignores it again.
        let loose = ShapeOptions {
            jump_threshold: 1e-3,
            ..ShapeOptions::default()
        };
        assert_eq!(shape_report(&u, &d, &loose).unwrap().convexity_changes, 0);
    }

    #[test]
    fn min_convexity_changes_from_second_differences() {
        let zigzag = data(&[0.0, 1.0, 2.0, 3.0, 4.0], &[0.0, 1.0, 0.0, 1.0, 0.0]);
        let u = ReluUnits {
            a: vec![],
            b: vec![],
            c: vec![],
            out_bias: 0.0,
            skip: 0.0,
        };
        let r = shape_report(&u, &zigzag, &ShapeOptions::default()).unwrap();
        assert_eq!(r.min_convexity_changes, 2);
        assert!(r.colinear_triples.is_empty());
        assert!(!r.interpolates);
        assert_eq!(r.max_abs_residual, 1.0);
        // Slopes 0, 0, 1, 1: second differences 0, +1, 0, in shuffled order.
        let bend = data(&[3.0, 0.0, 4.0, 1.0, 2.0], &[1.0, 0.0, 2.0, 0.0, 0.0]);
        let r = shape_report(&u, &bend, &ShapeOptions::default()).unwrap();
        assert_eq!(r.min_convexity_changes, 0);
        let triples: Vec<[usize; 3]> = r.colinear_triples.iter().map(|t| t.points).collect();
        assert_eq!(triples, vec![[0, 1, 2], [2, 3, 4]]);
        assert_eq!(r.colinear_triples[1].x, [2.0, 3.0, 4.0]);
        // f = 0 is linear everywhere but misses y = 1, 2.
        assert!(r.colinear_triples.iter().all(|t| t.linear));
        assert!(!r.theorem1);
        // y = 0.1 + 0.7(x − 0.1) at x = 0.1, 0.4, 0.7 is 0.1, 0.31, 0.52: co-linear in
        // decimal, a few ulps off in binary.
        let decimal = data(&[0.1, 0.4, 0.7], &[0.1, 0.31, 0.52]);
        let r = shape_report(&u, &decimal, &ShapeOptions::default()).unwrap();
        assert_eq!(r.colinear_triples.len(), 1);
    }

    #[test]
    fn opposite_units_between_colinear_points_break_theorem1() {
        // f = relu(x − 0.5) − relu(x − 1.5) − 0.5x vanishes at 0, 1, 2 but bends up at
        // 0.5 and down at 1.5.
        let net = relu_net(&[1.0, 1.0], &[-0.5, -1.5], &[1.0, -1.0], -0.5, 0.0);
        let u = ReluUnits::from_network(&net).unwrap();
        let d = data(&[0.0, 1.0, 2.0], &[0.0, 0.0, 0.0]);
        let r = shape_report(&u, &d, &ShapeOptions::default()).unwrap();
        assert!(r.interpolates);
        assert_eq!(r.max_abs_residual, 0.0);
        assert_eq!(r.convexity_changes, 1);
        assert_eq!(r.min_convexity_changes, 0);
        assert_eq!(r.colinear_triples.len(), 1);
        assert!(!r.colinear_triples[0].linear);
        assert!(!r.theorem1);
        // Slopes −0.5, 0.5, −0.5 on [0, 2].
        let len = 2.0 * 1.25f64.sqrt();
        assert!((r.curve_length - len).abs() < 1e-14);
    }

    /// The fewest-kink interpolant of fig1: kinks at −1.5 (−2), 0 (+1.8), 1.5 (−1.6),
    /// the first from a unit with a negative input weight.
    fn fig1_units() -> ReluUnits {
        ReluUnits {
            // −(−3)/(−2) = −1.5, jump −1·2; −0/0.5 = 0, jump 3.6·0.5; 1.5, jump −1.6.
            a: vec![-2.0, 0.5, 1.0],
            b: vec![-3.0, 0.0, -1.5],
            c: vec![-1.0, 3.6, -1.6],
            // Leftmost slope s + (−1)(−2) = 1.2 needs s = −0.8; left of −1.5,
            // f = 2x + 3 − 0.8x + b = 1.2x + 3 needs b = 0.
            out_bias: 0.0,
            skip: -0.8,
        }
    }

    #[test]
    fn fig1_fewest_kink_interpolant_satisfies_theorem1() {
        let d = crate::builtin::dataset("fig1").unwrap();
        let u = fig1_units();
        let r = shape_report(&u, &d, &ShapeOptions::default()).unwrap();
        assert!(r.interpolates, "residual {}", r.max_abs_residual);
        assert!(r.max_abs_residual < 1e-12);
        let kx: Vec<f64> = r.kinks.iter().map(|k| k.x).collect();
        assert_eq!(kx, vec![-1.5, 0.0, 1.5]);
        assert!(r.kinks.iter().all(|k| k.data_point.is_none()));
        let slopes: Vec<f64> = r.pieces.iter().map(|p| p.slope).collect();
        for (s, want) in slopes.iter().zip([1.2, -0.8, 1.0, -0.6]) {
            assert!((s - want).abs() < 1e-14, "{slopes:?}");
        }
        assert_eq!(r.convexity_changes, 2);
        assert_eq!(r.min_convexity_changes, 2);
        let triples: Vec<[usize; 3]> = r.colinear_triples.iter().map(|t| t.points).collect();
        assert_eq!(triples, vec![[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]);
        assert!(r.colinear_triples.iter().all(|t| t.linear));
        assert!(r.theorem1);
        let len = 1.25 * 2.44f64.sqrt()
            + 1.5 * 1.64f64.sqrt()
            + 1.5 * 2.0f64.sqrt()
            + 1.25 * 1.36f64.sqrt();
        assert!((r.curve_length - len).abs() < 1e-13);
        // A tent relu(x − 0.3) − 2 relu(x − 0.5) + relu(x − 0.7), zero outside
        // (0.3, 0.7), keeps the fit but bends + − + inside the triple at 0.25..1.25.
        let mut bumped = u.clone();
        bumped.a.extend([1.0, 1.0, 1.0]);
        bumped.b.extend([-0.3, -0.5, -0.7]);
        bumped.c.extend([1.0, -2.0, 1.0]);
        let r = shape_report(&bumped, &d, &ShapeOptions::default()).unwrap();
        assert!(r.interpolates);
        assert_eq!(r.convexity_changes, 4);
        assert!(!r.colinear_triples[2].linear);
        assert!(r.colinear_triples[3].linear);
        assert!(!r.theorem1);
    }

    #[test]
    fn kink_on_a_data_point_is_marked_and_on_the_ends_not_inside() {
        // f = relu(x − 1) on data given out of order: x = 1 is sorted index 1.
        let u = ReluUnits {
            a: vec![1.0],
            b: vec![-1.0],
            c: vec![1.0],
            out_bias: 0.0,
            skip: 0.0,
        };
        let d = data(&[2.0, 0.0, 1.0], &[1.0, 0.0, 0.0]);
        let r = shape_report(&u, &d, &ShapeOptions::default()).unwrap();
        assert_eq!(r.kinks.len(), 1);
        assert_eq!(r.kinks[0].data_point, Some(1));
        assert_eq!(r.convexity_changes, 0);
        assert!(r.theorem1);
        // Kinks 1e-11 from the ends (tolerance 1e-9 · 2) are on x_1 and x_n, so not
        // inside: a convex and a concave kink there change nothing.
        let u = ReluUnits {
            a: vec![1.0, 1.0, 1.0],
            b: vec![-1e-11, -1.0, -(2.0 - 1e-11)],
            c: vec![-1.0, 1.0, -1.0],
            out_bias: 0.0,
            skip: 0.0,
        };
        let r = shape_report(&u, &d, &ShapeOptions::default()).unwrap();
        let on: Vec<Option<usize>> = r.kinks.iter().map(|k| k.data_point).collect();
        assert_eq!(on, vec![Some(0), Some(1), Some(2)]);
        assert_eq!(r.convexity_changes, 0);
        // With no on-point tolerance they are inside: − + − is two changes.
        let exact = ShapeOptions {
            on_point_tol: 0.0,
            ..ShapeOptions::default()
        };
        let r = shape_report(&u, &d, &exact).unwrap();
        assert_eq!(r.convexity_changes, 2);
        assert_eq!(r.kinks[0].data_point, None);
    }

    #[test]
    fn from_network_reads_units_and_rejects_other_shapes() {
        let net = relu_net(&[1.0, -2.0], &[0.5, 1.0], &[3.0, 4.0], 0.25, -1.0);
        let u = ReluUnits::from_network(&net).unwrap();
        assert_eq!(u.a, vec![1.0, -2.0]);
        assert_eq!(u.b, vec![0.5, 1.0]);
        assert_eq!(u.c, vec![3.0, 4.0]);
        assert_eq!((u.out_bias, u.skip), (-1.0, 0.25));
        for x in [-1.3, 0.2, 0.9] {
            assert!((u.eval(x) - net.eval(&[x])).abs() < 1e-14);
        }
        let arch = |input_dim, hidden: Vec<usize>, activation, bias: bool| Architecture {
            input_dim,
            hidden,
            activation,
            hidden_bias: bias,
            output_bias: bias,
            skip: false,
            frozen_layers: vec![],
            frozen_skip: false,
        };
        let plain = arch(1, vec![3], Activation::Relu, false)
            .build(|_, _, _| 0.5)
            .unwrap();
        let u = ReluUnits::from_network(&plain).unwrap();
        assert_eq!((u.b.clone(), u.out_bias, u.skip), (vec![0.0; 3], 0.0, 0.0));
        for bad in [
            arch(2, vec![3], Activation::Relu, true),
            arch(1, vec![3, 3], Activation::Relu, true),
            arch(1, vec![3], Activation::Tanh, true),
            arch(1, vec![], Activation::Relu, true),
        ] {
            let net = bad.build(|_, _, _| 0.5).unwrap();
            assert!(
                ReluUnits::from_network(&net).is_none(),
                "{}",
                net.describe()
            );
        }
    }

    #[test]
    fn bad_data_and_options_are_errors() {
        let u = fig1_units();
        let two_d = Dataset::new(2, vec![0.0, 1.0, 2.0, 3.0], vec![0.0, 1.0], "t").unwrap();
        assert!(matches!(
            shape_report(&u, &two_d, &ShapeOptions::default()),
            Err(Error::Mismatch { .. })
        ));
        let one = data(&[1.0], &[0.0]);
        assert!(shape_report(&u, &one, &ShapeOptions::default()).is_err());
        let dup = data(&[1.0, 0.0, 1.0], &[0.0, 0.0, 1.0]);
        let err = shape_report(&u, &dup, &ShapeOptions::default()).unwrap_err();
        assert!(err.to_string().contains("x = 1"), "{err}");
        let ok = data(&[0.0, 1.0], &[0.0, 1.0]);
        for opts in [
            ShapeOptions {
                jump_threshold: f64::NAN,
                ..ShapeOptions::default()
            },
            ShapeOptions {
                fit_tol: -1.0,
                ..ShapeOptions::default()
            },
            ShapeOptions {
                on_point_tol: f64::INFINITY,
                ..ShapeOptions::default()
            },
        ] {
            assert!(matches!(
                shape_report(&u, &ok, &opts),
                Err(Error::Parameter { .. })
            ));
        }
        let mut ragged = u.clone();
        ragged.c.pop();
        assert!(shape_report(&ragged, &ok, &ShapeOptions::default()).is_err());
    }

    #[test]
    fn report_serializes_unbounded_pieces_as_null() {
        let d = crate::builtin::dataset("fig1").unwrap();
        let r = shape_report(&fig1_units(), &d, &ShapeOptions::default()).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["pieces"][0]["from"], serde_json::Value::Null);
        assert_eq!(json["theorem1"], serde_json::Value::Bool(true));
        assert_eq!(json["kinks"].as_array().map(Vec::len), Some(3));
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
