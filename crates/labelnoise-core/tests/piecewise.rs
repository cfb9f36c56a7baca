//! Property tests of the exact region walk of `labelnoise_core::piecewise` on random deep
//! 1-D relu networks (depth 1-4 hidden layers, widths 1-8, random biases, skip unit and
//! output bias, exact-zero weights, duplicated units, weights on a coarse grid so that
//! crossings coincide and pre-activations vanish identically), against
//! `Network::eval`; plus hand-built examples with known kinks.

use labelnoise_core::piecewise::PiecewiseLinear;
use labelnoise_core::shape::{
    network_shape_report, piecewise_shape_report, shape_report, ReluUnits, ShapeOptions,
};
use labelnoise_core::{Activation, Dataset, Layer, Network, Skip};
use proptest::prelude::*;

/// A random network description: widths, and a stream of raw numbers for the values.
#[derive(Clone, Debug)]
struct Case {
    widths: Vec<usize>,
    hidden_bias: bool,
    output_bias: bool,
    skip: bool,
    /// Weights on the grid {−2, −1.5, ..., 2} instead of continuous.
    grid: bool,
    /// Per layer: which unit (if any) duplicates unit 0.
    duplicate: Vec<Option<usize>>,
    /// Identity instead of relu, per hidden layer.
    identity: Vec<bool>,
    raw: Vec<(f64, bool)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..=8, 1..=4),
        any::<(bool, bool, bool, bool)>(),
        prop::collection::vec(prop::option::of(0usize..8), 4),
        prop::collection::vec(prop::bool::weighted(0.15), 4),
        prop::collection::vec((-1.0f64..1.0, prop::bool::weighted(0.2)), 400),
    )
        .prop_map(
            |(widths, (hb, ob, skip, grid), duplicate, identity, raw)| Case {
                identity: identity[..widths.len()].to_vec(),
                duplicate: duplicate[..widths.len()].to_vec(),
                widths,
                hidden_bias: hb,
                output_bias: ob,
                skip,
                grid,
                raw,
            },
        )
}

impl Case {
    fn build(&self) -> Network {
        let mut k = 0;
        let mut next = || {
            let (u, zero) = self.raw[k % self.raw.len()];
            k += 1;
            if zero {
                0.0
            } else if self.grid {
                (u * 4.0).round() * 0.5
            } else {
                2.0 * u
            }
        };
        let mut layers = Vec::new();
        let mut in_dim = 1;
        for (l, &w) in self.widths.iter().enumerate() {
            let mut weight: Vec<f64> = (0..w * in_dim).map(|_| next()).collect();
            let mut bias: Option<Vec<f64>> =
                self.hidden_bias.then(|| (0..w).map(|_| next()).collect());
            if let Some(d) = self.duplicate[l].filter(|&d| d > 0 && d < w) {
                for c in 0..in_dim {
                    weight[d * in_dim + c] = weight[c];
                }
                if let Some(b) = &mut bias {
                    b[d] = b[0];
                }
            }
            layers.push(Layer {
                in_dim,
                out_dim: w,
                weight,
                bias,
                activation: if self.identity[l] {
                    Activation::Identity
                } else {
                    Activation::Relu
                },
                trainable: true,
            });
            in_dim = w;
        }
        layers.push(Layer {
            in_dim,
            out_dim: 1,
            weight: (0..in_dim).map(|_| next()).collect(),
            bias: self.output_bias.then(|| vec![next()]),
            activation: Activation::Identity,
            trainable: true,
        });
        let skip = self.skip.then(|| Skip {
            weight: vec![next()],
            trainable: true,
        });
        Network::new(1, layers, skip, "proptest").unwrap()
    }
}

/// The network with every weight and bias replaced by its absolute value and every
/// activation by the identity, at |x|: a bound on every term summed in h(x).
fn scale(net: &Network, x: f64) -> f64 {
    let mut a = vec![x.abs()];
    for l in net.layers() {
        a = (0..l.out_dim)
            .map(|o| {
                l.row(o)
                    .iter()
                    .zip(&a)
                    .map(|(w, v)| w.abs() * v)
                    .sum::<f64>()
                    + l.bias.as_ref().map_or(0.0, |b| b[o].abs())
            })
            .collect();
    }
    a[0] + net.skip().map_or(0.0, |s| s.weight[0].abs() * x.abs()) + 1e-300
}

/// Points where the function is checked: breakpoints, region midpoints and a spread.
fn check_points(pw: &PiecewiseLinear) -> Vec<f64> {
    let mut xs: Vec<f64> = (0..=40).map(|k| -5.0 + 0.25 * k as f64).collect();
    for r in pw.regions() {
        match (r.from, r.to) {
            (Some(a), Some(b)) => xs.extend([a, 0.5 * (a + b), b]),
            (Some(a), None) => xs.extend([a, a + 1.0, a + 100.0]),
            (None, Some(b)) => xs.extend([b - 1.0, b - 100.0]),
            (None, None) => {}
        }
    }
    xs
}

/// An interval [u, v] inside region r (the unbounded ones cut at distance 10 + |end|).
fn span(from: Option<f64>, to: Option<f64>) -> (f64, f64) {
    match (from, to) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a + 10.0 + a.abs()),
        (None, Some(b)) => (b - 10.0 - b.abs(), b),
        (None, None) => (-10.0, 10.0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn walk_equals_network_eval(c in case()) {
        let net = c.build();
        let pw = PiecewiseLinear::from_network(&net).unwrap();
        prop_assert_eq!(pw.regions().len(), pw.breakpoints().len() + 1);
        for w in pw.breakpoints().windows(2) {
            prop_assert!(w[0].x < w[1].x, "breakpoints not increasing: {} {}", w[0].x, w[1].x);
        }
        for x in check_points(&pw) {
            let (f, h) = (pw.eval(x), net.eval(&[x]));
            prop_assert!((f - h).abs() <= 1e-12 * scale(&net, x), "x = {x}: walk {f}, net {h}");
        }
    }

    #[test]
    fn slopes_equal_finite_differences_and_jumps_their_differences(c in case()) {
        let net = c.build();
        let pw = PiecewiseLinear::from_network(&net).unwrap();
        let fd_slope = |u: f64, v: f64| {
            let (a, b) = (u + 0.25 * (v - u), v - 0.25 * (v - u));
            let fd = (net.eval(&[b]) - net.eval(&[a])) / (b - a);
            let tol = 1e-10 * scale(&net, 1.0) + 8.0 * f64::EPSILON * scale(&net, u.abs().max(v.abs())) / (b - a);
            (fd, tol)
        };
        for r in pw.regions() {
            let (u, v) = span(r.from, r.to);
            let (fd, tol) = fd_slope(u, v);
            prop_assert!((fd - r.slope).abs() <= tol, "region {:?}: slope {} vs fd {fd} (tol {tol})", (r.from, r.to), r.slope);
        }
        for (k, b) in pw.breakpoints().iter().enumerate() {
            let (l, r) = (&pw.regions()[k], &pw.regions()[k + 1]);
            prop_assert_eq!(b.slope_left, l.slope);
            prop_assert_eq!(b.slope_right, r.slope);
            prop_assert_eq!(b.jump, r.slope - l.slope);
            prop_assert!(!b.switches.is_empty(), "breakpoint at {} switches no unit", b.x);
            // The jump measured by finite differences on both sides.
            let (lu, lv) = span(l.from, l.to);
            let (ru, rv) = span(r.from, r.to);
            let (fl, tl) = fd_slope(lu, lv);
            let (fr, tr) = fd_slope(ru, rv);
            prop_assert!(((fr - fl) - b.jump).abs() <= tl + tr, "jump at {}: {} vs fd {}", b.x, b.jump, fr - fl);
            if !b.kink {
                prop_assert!(b.jump.abs() <= 1e-10 * scale(&net, 1.0), "non-kink at {} jumps {}", b.x, b.jump);
            }
        }
        // The pieces and the shape report's kinks: jump = difference of neighbouring
        // piece slopes, one piece more than kinks.
        let pieces = pw.pieces();
        prop_assert_eq!(pieces.len(), pw.kinks().count() + 1);
        let data = Dataset::new(1, vec![-3.0, -1.0, 0.5, 2.0, 4.0], vec![0.0, 1.0, 0.0, 1.0, 0.0], "t").unwrap();
        let rep = piecewise_shape_report(&pw, &data, &ShapeOptions::default()).unwrap();
        prop_assert_eq!(rep.kinks.len(), pieces.len() - 1);
        for (k, kink) in rep.kinks.iter().enumerate() {
            prop_assert_eq!(kink.jump, pieces[k + 1].slope - pieces[k].slope);
            prop_assert_eq!(Some(kink.x), pieces[k].to);
            prop_assert!(!kink.layer_units.is_empty());
        }
        // Exact curve length against the adaptive one.
        let exact = pw.curve_length(-3.0, 4.0);
        let approx = labelnoise_core::shape::curve_length_of(|x| net.eval(&[x]), -3.0, 4.0, 1e-12);
        prop_assert!((exact - approx).abs() <= 1e-6 * exact, "{exact} vs {approx}");
    }

    #[test]
    fn no_kink_is_missed(c in case()) {
        let net = c.build();
        let pw = PiecewiseLinear::from_network(&net).unwrap();
        for r in pw.regions() {
            let (u, v) = span(r.from, r.to);
            for k in 0..=64 {
                let x = u + (v - u) * k as f64 / 64.0;
                let line = r.slope * x + r.intercept;
                let h = net.eval(&[x]);
                prop_assert!((line - h).abs() <= 1e-12 * scale(&net, x), "region {:?} not linear at {x}: {line} vs {h}", (r.from, r.to));
            }
        }
    }

    #[test]
    fn one_hidden_layer_agrees_with_relu_units(c in case()) {
        let c = Case { widths: c.widths[..1].to_vec(), identity: vec![false], ..c };
        let net = c.build();
        let units = ReluUnits::from_network(&net).unwrap();
        let pw = PiecewiseLinear::from_network(&net).unwrap();
        let mag = scale(&net, 1.0);
        // ReluUnits lists a kink for every live unit (merged), with a jump of 0 when the
        // units there cancel (grid weights do that); the walk counts no kink there.
        let all = units.kinks();
        let cancelled = all.iter().any(|k| k.1.abs() <= 1e-11 * mag);
        let want: Vec<_> = all.into_iter().filter(|k| k.1.abs() > 1e-11 * mag).collect();
        let got: Vec<_> = pw.kinks().collect();
        prop_assert_eq!(want.len(), got.len(), "{:?} vs {:?}", want, got);
        for ((x, jump, us), b) in want.iter().zip(&got) {
            prop_assert_eq!(*x, b.x);
            prop_assert!((jump - b.jump).abs() <= 1e-13 * mag, "{jump} vs {}", b.jump);
            let switched: Vec<usize> = b.switches.iter().filter(|s| {
                let a = units.a[s.unit.unit];
                let cc = units.c[s.unit.unit];
                a != 0.0 && cc != 0.0
            }).map(|s| s.unit.unit).collect();
            prop_assert_eq!(&switched, us);
        }
        let (p, q) = (units.pieces(), pw.pieces());
        if cancelled {
            return Ok(());
        }
        prop_assert_eq!(p.len(), q.len());
        for (a, b) in p.iter().zip(&q) {
            prop_assert_eq!((a.from, a.to), (b.from, b.to));
            prop_assert!((a.slope - b.slope).abs() <= 1e-13 * mag, "{} vs {}", a.slope, b.slope);
        }
        // The two shape reports agree on everything but rounding.
        let data = Dataset::new(1, vec![-3.0, -1.0, 0.0, 1.0, 2.5], vec![0.0, 1.0, 1.0, 1.0, -2.0], "t").unwrap();
        let opts = ShapeOptions::default();
        let r1 = shape_report(&units, &data, &opts).unwrap();
        let r2 = piecewise_shape_report(&pw, &data, &opts).unwrap();
        prop_assert_eq!(r1.convexity_changes, r2.convexity_changes);
        prop_assert_eq!(r1.min_convexity_changes, r2.min_convexity_changes);
        prop_assert_eq!(r1.theorem1, r2.theorem1);
        prop_assert!((r1.curve_length - r2.curve_length).abs() <= 1e-12 * r1.curve_length);
        let lin1: Vec<bool> = r1.colinear_triples.iter().map(|t| t.linear).collect();
        let lin2: Vec<bool> = r2.colinear_triples.iter().map(|t| t.linear).collect();
        prop_assert_eq!(lin1, lin2);
        let r3 = network_shape_report(&net, &data, &opts).unwrap().unwrap();
        prop_assert_eq!(r3, r1);
    }
}

fn relu(in_dim: usize, out_dim: usize, w: &[f64], b: &[f64]) -> Layer {
    Layer {
        in_dim,
        out_dim,
        weight: w.to_vec(),
        bias: Some(b.to_vec()),
        activation: Activation::Relu,
        trainable: true,
    }
}

/// Two hidden layers (depth 3):
/// u0 = relu(x), u1 = relu(−x), u2 = relu(x − 2);
/// v0 = relu(u0 + u1 − 1) = relu(|x| − 1), v1 = relu(u0 − 2 u2 − 1) (a tent on [1, 3]);
/// f = v0 − 2 v1 + 0.5.
fn depth3() -> Network {
    Network::new(
        1,
        vec![
            relu(1, 3, &[1.0, -1.0, 1.0], &[0.0, 0.0, -2.0]),
            relu(3, 2, &[1.0, 1.0, 0.0, 1.0, 0.0, -2.0], &[-1.0, -1.0]),
            Layer {
                in_dim: 2,
                out_dim: 1,
                weight: vec![1.0, -2.0],
                bias: Some(vec![0.5]),
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        None,
        "depth3",
    )
    .unwrap()
}

#[test]
fn hand_built_depth3_has_known_kinks() {
    let net = depth3();
    let pw = PiecewiseLinear::from_network(&net).unwrap();
    // Breakpoints at −1, 0, 1, 2, 3; at 0 u0 and u1 switch but v0 = v1 = 0 on (−1, 1):
    // no kink.
    let bx: Vec<f64> = pw.breakpoints().iter().map(|b| b.x).collect();
    assert_eq!(bx, vec![-1.0, 0.0, 1.0, 2.0, 3.0]);
    let kinks: Vec<(f64, f64)> = pw.kinks().map(|b| (b.x, b.jump)).collect();
    assert_eq!(
        kinks,
        vec![(-1.0, 1.0), (1.0, -1.0), (2.0, 4.0), (3.0, -2.0)]
    );
    assert!(!pw.breakpoints()[1].kink);
    let switched = |k: usize| -> Vec<(usize, usize, bool)> {
        pw.breakpoints()[k]
            .switches
            .iter()
            .map(|s| (s.unit.layer, s.unit.unit, s.on))
            .collect()
    };
    assert_eq!(switched(0), vec![(1, 0, false)]);
    assert_eq!(switched(1), vec![(0, 0, true), (0, 1, false)]);
    assert_eq!(switched(2), vec![(1, 0, true), (1, 1, true)]);
    assert_eq!(switched(3), vec![(0, 2, true)]);
    assert_eq!(switched(4), vec![(1, 1, false)]);
    let slopes: Vec<f64> = pw.pieces().iter().map(|p| p.slope).collect();
    assert_eq!(slopes, vec![-1.0, 0.0, -1.0, 3.0, 1.0]);
    for (x, y) in [
        (-3.0, 2.5),
        (-0.5, 0.5),
        (1.5, 0.0),
        (2.0, -0.5),
        (3.0, 2.5),
        (5.0, 4.5),
    ] {
        assert_eq!(pw.eval(x), y, "f({x})");
        assert_eq!(net.eval(&[x]), y);
    }
    // Curve length on [−2, 4]: slopes −1, 0, −1, 3, 1 over lengths 1, 2, 1, 1, 1.
    let want = 2f64.sqrt() + 2.0 + 2f64.sqrt() + 10f64.sqrt() + 2f64.sqrt();
    assert!((pw.curve_length(-2.0, 4.0) - want).abs() < 1e-14);
    // The shape report: data on f at −2, −0.5, 0.5, 1.5, 2.5, 3.5 has second
    // differences +, −, +, − (three changes, like f); f interpolates.
    let xs = [-2.0, -0.5, 0.5, 1.5, 2.5, 3.5];
    let ys: Vec<f64> = xs.iter().map(|&x| net.eval(&[x])).collect();
    let data = Dataset::new(1, xs.to_vec(), ys, "t").unwrap();
    let r = network_shape_report(&net, &data, &ShapeOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(r.kinks.len(), 4);
    assert_eq!(r.kinks[1].layer_units, vec![[1, 0], [1, 1]]);
    assert_eq!(r.kinks[2].units, vec![2]);
    assert!(r.interpolates);
    assert_eq!(r.convexity_changes, 3);
    assert!(r.min_convexity_changes <= 3);
    assert!((r.curve_length - pw.curve_length(-2.0, 3.5)).abs() < 1e-14);
}

#[test]
fn other_networks_have_no_piecewise_form() {
    let mut net = depth3();
    assert!(PiecewiseLinear::applies_to(&net));
    let mut layers = net.layers().to_vec();
    layers[1].activation = Activation::Tanh;
    net = Network::new(1, layers.clone(), None, "t").unwrap();
    assert!(PiecewiseLinear::from_network(&net).is_none());
    let data = Dataset::new(1, vec![0.0, 1.0], vec![0.0, 1.0], "t").unwrap();
    assert!(network_shape_report(&net, &data, &ShapeOptions::default())
        .unwrap()
        .is_none());
    // All identity: linear, has a piecewise form, but is not a relu network.
    layers[0].activation = Activation::Identity;
    layers[1].activation = Activation::Identity;
    let lin = Network::new(1, layers, None, "t").unwrap();
    assert!(!PiecewiseLinear::applies_to(&lin));
    let pw = PiecewiseLinear::from_network(&lin).unwrap();
    assert_eq!(pw.regions().len(), 1);
    assert!((pw.eval(0.7) - lin.eval(&[0.7])).abs() < 1e-15);
}

/// The bounded walk: the same regions as the full walk when the budget suffices, and a
/// quick `Err(regions walked)` on a random 1→1000→1000→1000 network, whose full walk
/// (tens of thousands of regions, each a pass over 2·10⁶ weights) would take minutes; the
/// shape report is then left out rather than stalling `analyze` or a metrics row.
#[test]
fn a_bounded_walk_gives_up_on_a_wide_deep_network() {
    let net = depth3();
    let full = PiecewiseLinear::from_network(&net).unwrap();
    let weights: usize = net
        .hidden_layers()
        .iter()
        .map(|l| l.weight.len() + l.out_dim)
        .sum();
    let exact = (full.regions().len() * weights) as f64;
    assert_eq!(
        PiecewiseLinear::from_network_within(&net, exact).unwrap(),
        Ok(full.clone())
    );
    assert_eq!(
        PiecewiseLinear::from_network_within(&net, exact - weights as f64).unwrap(),
        Err(full.regions().len() - 1)
    );

    let arch = labelnoise_core::network::Architecture {
        input_dim: 1,
        hidden: vec![1000, 1000, 1000],
        activation: Activation::Relu,
        hidden_bias: true,
        output_bias: true,
        skip: true,
        frozen_layers: vec![],
        frozen_skip: false,
    };
    let wide = labelnoise_core::train::init_network(&arch, 0, 1.0).unwrap();
    let walked =
        PiecewiseLinear::from_network_within(&wide, labelnoise_core::shape::MAX_SHAPE_WORK)
            .unwrap()
            .unwrap_err();
    assert!((1..=501).contains(&walked), "{walked}");
    let data = Dataset::new(1, vec![-1.0, 0.0, 1.0], vec![0.0, 1.0, 0.0], "t").unwrap();
    assert!(network_shape_report(&wide, &data, &ShapeOptions::default())
        .unwrap()
        .is_none());
}
