//! Built-in data sets, usable wherever a data file is expected.
//!
//! `fig1`: twelve 1-D points shaped like the paper's Figure 1. They form four runs of
//! three co-linear points on the lines
//!
//! | points | x                    | line                 |
//! |--------|----------------------|----------------------|
//! | 0-2    | -2.75, -2.25, -1.75  | y = 1.2x + 3.0       |
//! | 3-5    | -1.25, -0.75, -0.25  | y = 1.2 - 0.8(x+1.5) |
//! | 6-8    | 0.25, 0.75, 1.25     | y = x                |
//! | 9-11   | 1.75, 2.25, 2.75     | y = 1.5 - 0.6(x-1.5) |
//!
//! Consecutive lines meet at x = -1.5, 0 and 1.5, strictly between data points, so the
//! simplest interpolant has exactly three kinks, none on a data point (a kink on a
//! data point is a non-smooth point of reg, outside Theorem 2). The bends are concave,
//! convex, concave: the data need two changes of convexity, and every consecutive
//! triple inside a run is co-linear (four triples), so Theorem 1 has something to say
//! on each piece.

use crate::data::Dataset;

/// The names of the built-in data sets.
pub const DATASETS: &[&str] = &["fig1"];

/// The x values of `fig1`.
pub const FIG1_X: [f64; 12] = [
    -2.75, -2.25, -1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75,
];

/// The y values of `fig1`.
pub const FIG1_Y: [f64; 12] = [
    -0.3, 0.3, 0.9, 1.0, 0.6, 0.2, 0.25, 0.75, 1.25, 1.35, 1.05, 0.75,
];

/// A built-in data set by name, or `None` if there is no such built-in.
pub fn dataset(name: &str) -> Option<Dataset> {
    match name {
        "fig1" => Some(
            Dataset::new(1, FIG1_X.to_vec(), FIG1_Y.to_vec(), "fig1")
                .expect("the fig1 built-in is valid"),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fig1_lies_on_the_documented_lines() {
        let lines: [fn(f64) -> f64; 4] = [
            |x| 1.2 * x + 3.0,
            |x| 1.2 - 0.8 * (x + 1.5),
            |x| x,
            |x| 1.5 - 0.6 * (x - 1.5),
        ];
        for i in 0..12 {
            assert!(
                (lines[i / 3](FIG1_X[i]) - FIG1_Y[i]).abs() < 1e-12,
                "point {i}"
            );
        }
        assert!(dataset("fig1").is_some());
        assert!(dataset("nope").is_none());
    }
}
