//! The page's preset data sets, taken from the library so the page never carries
//! numbers of its own: `fig1` (the core crate's built-in), `v8` (the `settle`
//! experiment's y = |x| at eight points) and `tent`, defined here.

use serde::Serialize;

use labelnoise_core::builtin;
use labelnoise_core::Dataset;
use labelnoise_experiments::settle_vs_sgd::v8_data;

/// The x values of `tent`: eight points, two on each side of every bend.
pub const TENT_X: [f64; 8] = [-1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75];

/// `tent`: y = max(0, 1 − |x|) at [`TENT_X`]. The bends at −1, 0 and 1 lie strictly
/// between data points, so the fewest-kink interpolant has three kinks (convex,
/// concave, convex: two changes of convexity), none on a data point.
pub fn tent_data() -> Dataset {
    Dataset::new(
        1,
        TENT_X.to_vec(),
        TENT_X.iter().map(|x| (1.0 - x.abs()).max(0.0)).collect(),
        "tent",
    )
    .expect("tent is a valid data set")
}

/// One preset, as sent to the page.
#[derive(Clone, Debug, Serialize)]
pub struct Preset {
    /// Its name.
    pub name: &'static str,
    /// What it is, in a few words.
    pub about: &'static str,
    /// (x, y) pairs.
    pub points: Vec<[f64; 2]>,
}

fn points_of(data: &Dataset) -> Vec<[f64; 2]> {
    (0..data.len()).map(|i| [data.x(i)[0], data.y(i)]).collect()
}

/// Every preset, `fig1` first (the page's default).
pub fn presets() -> Vec<Preset> {
    let fig1 = builtin::dataset("fig1").expect("fig1 is built in");
    vec![
        Preset {
            name: "fig1",
            about: "the paper's Figure 1 shape: four co-linear runs, two convexity changes",
            points: points_of(&fig1),
        },
        Preset {
            name: "v8",
            about: "y = |x| at eight points: one convex kink",
            points: points_of(&v8_data()),
        },
        Preset {
            name: "tent",
            about: "y = max(0, 1 - |x|) at eight points: three kinks",
            points: points_of(&tent_data()),
        },
    ]
}

/// The points of the preset `name`.
pub fn preset_points(name: &str) -> Option<Vec<[f64; 2]>> {
    presets()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelnoise_core::shape::{shape_report, ReluUnits, ShapeOptions};

    #[test]
    fn presets_pass_the_message_checks_and_tent_needs_two_changes() {
        for p in presets() {
            crate::protocol::check_points(&p.points).unwrap();
        }
        // The fewest-kink interpolant of tent (kinks at −1, 0, 1) fits and has two
        // convexity changes, the minimum.
        let net = labelnoise_core::Network::new(
            1,
            vec![
                labelnoise_core::Layer {
                    in_dim: 1,
                    out_dim: 3,
                    weight: vec![1.0, 1.0, 1.0],
                    bias: Some(vec![1.0, 0.0, -1.0]),
                    activation: labelnoise_core::Activation::Relu,
                    trainable: true,
                },
                labelnoise_core::Layer {
                    in_dim: 3,
                    out_dim: 1,
                    weight: vec![1.0, -2.0, 1.0],
                    bias: None,
                    activation: labelnoise_core::Activation::Identity,
                    trainable: true,
                },
            ],
            None,
            "tent-minimal",
        )
        .unwrap();
        let report = shape_report(
            &ReluUnits::from_network(&net).unwrap(),
            &tent_data(),
            &ShapeOptions::default(),
        )
        .unwrap();
        assert!(report.interpolates);
        assert_eq!(report.min_convexity_changes, 2);
        assert!(report.theorem1);
        assert_eq!(preset_points("fig1").unwrap().len(), 12);
        assert!(preset_points("nope").is_none());
    }
}
