//! Tests of the shape report (one hidden layer in closed form, options, serialization).

use super::*;
use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::Error;
use crate::network::{Architecture, Layer, Network, Skip};

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
    let len =
        1.25 * 2.44f64.sqrt() + 1.5 * 1.64f64.sqrt() + 1.5 * 2.0f64.sqrt() + 1.25 * 1.36f64.sqrt();
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
