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
//!
//! Built-in models, usable wherever a model file is expected (all 1 -> m relu -> 1 with
//! output bias and skip, the paper's Theorem 1 network):
//! - `fig1-minimal`: the fewest-kink interpolant of `fig1`, three units with kinks at
//!   −1.5, 0 and 1.5, each rescaled (c/α, αa, αb) to the balanced α that minimizes its
//!   share of reg. A non-repellent point: Theorem 1 holds and g_N = 0.
//! - `fig1-wiggly`: the same function plus a tent of three units between the co-linear
//!   points 0.75 and 1.25 (kinks of opposite convexity between co-linear points, the
//!   configuration of the paper's appendix A). It still interpolates `fig1`, but it has
//!   four changes of convexity where two suffice: repellent, and Theorem 1 fails.

use crate::activation::Activation;
use crate::data::Dataset;
use crate::network::{Layer, Network, Skip};

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

/// The names of the built-in models.
pub const MODELS: &[&str] = &["fig1-minimal", "fig1-wiggly"];

/// A built-in model by name, or `None` if there is no such built-in.
pub fn model(name: &str) -> Option<Network> {
    // Kinks and slope jumps of the fewest-kink interpolant of fig1.
    let mut units: Vec<(f64, f64)> = vec![(-1.5, -2.0), (0.0, 1.8), (1.5, -1.6)];
    let (skip, bias) = (1.2, 3.0);
    match name {
        "fig1-minimal" => {}
        "fig1-wiggly" => {
            // A tent (+1, −2, +1 at 0.85, 1.0, 1.15) is zero outside (0.85, 1.15), so
            // it leaves every data point in place; its middle unit is concave between
            // two convex ones, inside the co-linear run 0.25, 0.75, 1.25.
            units.extend([(0.85, 1.0), (1.0, -2.0), (1.15, 1.0)]);
        }
        _ => return None,
    }
    let data = dataset("fig1").expect("fig1 exists");
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    for &(k, jump) in &units {
        // Unit active to the right of its kink: relu(α(x − k)) with slope jump c·α.
        // Balanced α minimizes α² S + (jump/α)² T (see the `fig1-minimal` doc).
        let s: f64 = data.xs().iter().map(|x| (x - k).max(0.0).powi(2)).sum();
        let t: f64 = data
            .xs()
            .iter()
            .filter(|&&x| x > k)
            .map(|x| 1.0 + x * x)
            .sum();
        let alpha = (jump * jump * t / s).powf(0.25);
        a.push(alpha);
        b.push(-alpha * k);
        c.push(jump / alpha);
    }
    let m = units.len();
    let net = Network::new(
        1,
        vec![
            Layer {
                in_dim: 1,
                out_dim: m,
                weight: a,
                bias: Some(b),
                activation: Activation::Relu,
                trainable: true,
            },
            Layer {
                in_dim: m,
                out_dim: 1,
                weight: c,
                bias: Some(vec![bias]),
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        Some(Skip {
            weight: vec![skip],
            trainable: true,
        }),
        name,
    )
    .expect("built-in models are valid");
    Some(net)
}

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
        let data = dataset("fig1").unwrap();
        for name in MODELS {
            let net = model(name).unwrap();
            for i in 0..data.len() {
                assert!(
                    (net.eval(data.x(i)) - data.y(i)).abs() < 1e-12,
                    "{name} misses point {i}"
                );
            }
        }
        assert!(model("nope").is_none());
        assert!(dataset("nope").is_none());
    }
}
