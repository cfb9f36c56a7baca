//! The Theorem 1 shape report of 1-D networks with one hidden ReLU layer (docs/conventions.md#theorem-1).
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
//! by adaptive refinement of chord lengths (it lives in [`crate::curve`], with
//! [`Piece`] and [`pieces_curve_length`], and is re-exported here).
//!
//! Files, one job each:
//! - `one_layer`: [`ReluUnits`], the closed form of one hidden layer (kinks, pieces);
//! - `network`: [`piecewise_shape_report`] and [`network_shape_report`], deeper networks
//!   through the region walk of [`crate::piecewise`];
//! - `report`: the report types and [`shape_report`]'s shared core, which assembles a
//!   report from the kinks and pieces;
//! - `convexity`: changes of convexity of f and the fewest the data need;
//! - `colinear`: the co-linear triples of the data and whether f is linear on them.

mod colinear;
mod convexity;
mod network;
mod one_layer;
mod report;

pub use crate::curve::{curve_length_of, pieces_curve_length, Piece};
pub use colinear::ColinearTriple;
pub use network::{network_shape_report, piecewise_shape_report};
pub use one_layer::{shape_report, ReluUnits};
pub use report::{Kink, ShapeOptions, ShapeReport, MAX_SHAPE_WORK};

#[cfg(test)]
mod tests;
