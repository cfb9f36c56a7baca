//! One hidden ReLU layer on 1-D inputs in closed form (paper §4, Proposition 4.1):
//! f(x) = Σ_i c_i relu(a_i x + b_i) + s x + b, its kinks at −b_i/a_i with slope jumps
//! c_i |a_i|, its pieces, and its Theorem 1 shape report.

use crate::activation::Activation;
use crate::curve::{pieces_curve_length, Piece};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;

use super::report::{check_options, report_from_parts, Kink, ShapeOptions, ShapeReport};

/// Kinks closer than `MERGE_TOL · max(1, |x|)` are one kink.
const MERGE_TOL: f64 = 1e-12;

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

    /// f(x) = Σ_i c_i relu(a_i x + b_i) + s x + b (paper §4, Proposition 4.1); checked by
    /// `shape::tests::from_network_reads_units_and_rejects_other_shapes`.
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
    /// units cancel. The kinks are the paper's intercepts (Definition 3, §4); checked by
    /// `shape::tests::hand_built_units_have_known_kinks_slopes_and_length`,
    /// `shape::tests::kinks_at_the_same_x_merge` and
    /// `tests/piecewise.rs::one_hidden_layer_agrees_with_relu_units`.
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
    /// Checked by `shape::tests::hand_built_units_have_known_kinks_slopes_and_length`
    /// and `tests/piecewise.rs::one_hidden_layer_agrees_with_relu_units`.
    pub fn pieces(&self) -> Vec<Piece> {
        self.pieces_from(&self.kinks())
    }

    /// [`pieces`](Self::pieces) from the merged kinks already computed by
    /// [`kinks`](Self::kinks).
    pub(super) fn pieces_from(&self, kinks: &[(f64, f64, Vec<usize>)]) -> Vec<Piece> {
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
    /// Checked by `shape::tests::hand_built_units_have_known_kinks_slopes_and_length`.
    pub fn curve_length(&self, lo: f64, hi: f64) -> f64 {
        pieces_curve_length(&self.pieces(), lo, hi)
    }

    /// Parameter error if the units are not all finite or have different lengths.
    pub(super) fn validate(&self) -> Result<()> {
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
///
/// The quantities are those of paper Theorem 1; checked by
/// `shape::tests::fig1_fewest_kink_interpolant_satisfies_theorem1`,
/// `shape::tests::opposite_units_between_colinear_points_break_theorem1` and
/// `shape::tests::min_convexity_changes_from_second_differences`.
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
