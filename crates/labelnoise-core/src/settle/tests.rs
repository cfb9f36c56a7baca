//! Tests of the pieces of settle: pin gradients, the Gauss–Newton step, the options.

use super::context::Ctx;
use super::pins::Pin;
use super::*;
use crate::activation::Activation;
use crate::data::Dataset;
use crate::kernels::{dot, norm};
use crate::network::{Architecture, Network};
use crate::train::CancelToken;

fn ctx_for<'a>(net: &'a Network, data: &'a Dataset, opts: &'a ValidSettleOptions) -> Ctx<'a> {
    Ctx {
        template: net,
        data,
        opts,
        span: 1.0,
        one_d_shallow: false,
        floor: 1e-13,
        cancel: &NEVER,
    }
}

/// A token nobody cancels.
static NEVER: std::sync::LazyLock<CancelToken> = std::sync::LazyLock::new(CancelToken::new);

#[test]
fn preactivation_gradient_matches_finite_differences() {
    let arch = Architecture {
        input_dim: 2,
        hidden: vec![3, 2],
        activation: Activation::Tanh,
        hidden_bias: true,
        output_bias: true,
        skip: true,
        frozen_layers: vec![],
        frozen_skip: false,
    };
    let mut k = 0.0;
    let net = arch
        .build(|_, _, _| {
            k += 1.0;
            (k * 0.7f64).sin()
        })
        .unwrap();
    let data = Dataset::new(2, vec![0.3, -0.8, 1.1, 0.4], vec![0.0, 1.0], "t").unwrap();
    let opts = SettleOptions::default().check().unwrap();
    let ctx = ctx_for(&net, &data, &opts);
    let pt = ctx.evaluate(net.params()).unwrap().unwrap();
    for pin in [
        Pin {
            layer: 1,
            unit: 1,
            point: 1,
        },
        Pin {
            layer: 0,
            unit: 2,
            point: 0,
        },
    ] {
        let grad = ctx.preactivation_gradient(&pt, pin);
        let h = 1e-6;
        for i in 0..pt.theta.len() {
            let mut plus = pt.theta.clone();
            plus[i] += h;
            let mut minus = pt.theta.clone();
            minus[i] -= h;
            let zp = ctx.preactivation(&ctx.evaluate(plus).unwrap().unwrap(), pin);
            let zm = ctx.preactivation(&ctx.evaluate(minus).unwrap().unwrap(), pin);
            let fd = (zp - zm) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-7,
                "{pin:?} θ[{i}]: {fd} vs {}",
                grad[i]
            );
        }
    }
}

#[test]
fn gauss_newton_steps_are_minimum_norm() {
    // A = [J; C] with 2 rows and p = 4 columns (Aᵀ column-major, p x 2).
    let at = [1.0, 2.0, 0.0, -1.0, 0.5, 0.0, 3.0, 1.0];
    let solver = MinNorm::new(&at, 4, 2).unwrap();
    let r = [1.0, -2.0];
    let d = solver.solve(&r, 1e-10, 0.0);
    // A d = r.
    for (row, want) in [&at[..4], &at[4..]].into_iter().zip(r) {
        assert!((dot(row, &d) - want).abs() < 1e-12);
    }
    // d lies in the row space of A: d = Aᵀ y for the y solving (A Aᵀ) y = r.
    let (a11, a12, a22) = (
        dot(&at[..4], &at[..4]),
        dot(&at[..4], &at[4..]),
        dot(&at[4..], &at[4..]),
    );
    let det = a11 * a22 - a12 * a12;
    let y = [
        (a22 * r[0] - a12 * r[1]) / det,
        (a11 * r[1] - a12 * r[0]) / det,
    ];
    for k in 0..4 {
        assert!((d[k] - (at[k] * y[0] + at[4 + k] * y[1])).abs() < 1e-12);
    }
    // Damping shrinks the step.
    assert!(norm(&solver.solve(&r, 1e-10, 10.0)) < norm(&d));
}

#[test]
fn options_are_checked() {
    assert!(SettleOptions::default().check().is_ok());
    let bad = SettleOptions {
        pin_margin: 1e-3,
        ..SettleOptions::default()
    };
    assert!(bad.check().unwrap_err().to_string().contains("pin_margin"));
    let bad = SettleOptions {
        armijo: 0.9,
        ..SettleOptions::default()
    };
    assert!(bad.check().unwrap_err().to_string().contains("armijo"));
}

#[test]
fn escape_and_smoothing_options_are_checked() {
    for (bad, name) in [
        (
            SettleOptions {
                escape_lr: 0.0,
                ..SettleOptions::default()
            },
            "--escape-lr",
        ),
        (
            SettleOptions {
                escape_noise: f64::NAN,
                ..SettleOptions::default()
            },
            "--escape-noise",
        ),
        (
            SettleOptions {
                escape_time: 1e12,
                ..SettleOptions::default().with_remedies()
            },
            "--escape-time",
        ),
        (
            SettleOptions {
                smooth_taus: vec![1e-2, 2.0],
                ..SettleOptions::default()
            },
            "smooth_taus",
        ),
        (
            SettleOptions {
                escape_gain: -1.0,
                ..SettleOptions::default()
            },
            "escape_gain",
        ),
    ] {
        assert!(
            bad.check().unwrap_err().to_string().contains(name),
            "{name}"
        );
    }
    // A huge burst is fine when bursts are off (the default).
    assert!(SettleOptions {
        escape_time: 1e12,
        ..SettleOptions::default()
    }
    .check()
    .is_ok());
}

/// A 1-D network with one hidden ReLU layer of the given units (w, b, c), output bias and
/// skip weight.
fn shallow(units: &[(f64, f64, f64)], out_bias: f64, skip: f64) -> Network {
    use crate::network::{Layer, Skip};
    let hidden = Layer {
        in_dim: 1,
        out_dim: units.len(),
        weight: units.iter().map(|u| u.0).collect(),
        bias: Some(units.iter().map(|u| u.1).collect()),
        activation: Activation::Relu,
        trainable: true,
    };
    let out = Layer {
        in_dim: units.len(),
        out_dim: 1,
        weight: units.iter().map(|u| u.2).collect(),
        bias: Some(vec![out_bias]),
        activation: Activation::Identity,
        trainable: true,
    };
    Network::new(
        1,
        vec![hidden, out],
        Some(Skip {
            weight: vec![skip],
            trainable: true,
        }),
        "test",
    )
    .unwrap()
}

#[test]
fn smoothed_reg_gradient_matches_finite_differences() {
    use super::smooth::{smoothed_reg, Shallow};
    let net = shallow(
        &[
            (1.3, -0.2, 0.7),
            (-0.8, 0.5, -1.1),
            (0.4, 0.9, 0.3),
            (-1.7, -0.6, 0.9),
            (2.1, 0.05, -0.4),
        ],
        0.2,
        -0.3,
    );
    let xs = [-1.0, -0.45, 0.0, 0.15, 0.6, 1.0];
    let lay = Shallow::of(&net).unwrap();
    for width in [0.3, 0.05] {
        let (_, grad) = smoothed_reg(&net, lay, &xs, width);
        let theta = net.params();
        let h = 1e-6;
        for i in 0..theta.len() {
            let at = |d: f64| {
                let mut t = theta.clone();
                t[i] += d;
                let mut n = net.clone();
                n.set_params_unchecked(&t);
                smoothed_reg(&n, lay, &xs, width).0
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "width {width}, θ[{i}]: {fd} vs {}",
                grad[i]
            );
        }
    }
    // As the ramp narrows, reg_τ tends to the exact reg (no kink on a point here).
    let data = Dataset::new(1, xs.to_vec(), vec![0.0; xs.len()], "t").unwrap();
    let exact = crate::regularizer::reg(&net, &data).unwrap();
    let (narrow, _) = smoothed_reg(&net, lay, &xs, 1e-9);
    assert!((narrow - exact).abs() < 1e-9 * exact, "{narrow} vs {exact}");
}

/// Twelve points on a zigzag that turns at data points (as `reproduce settle`'s
/// `sparse12`), fitted by plain SGD from a width-20 ReLU network (skip, output bias):
/// many live kinks end up stacked on the turning points.
fn stacked_by_sgd(seed: u64) -> (Network, Dataset) {
    use crate::train::{init_network, TrainConfig, Trainer};
    let xs: Vec<f64> = (0..12).map(|k| -1.1 + 0.2 * k as f64).collect();
    let turns = [
        (0usize, 0.0),
        (2, 0.8),
        (4, 0.0),
        (7, 0.9),
        (9, 0.3),
        (11, 0.8),
    ];
    let ys: Vec<f64> = (0..12)
        .map(|k| {
            let w = turns
                .windows(2)
                .find(|w| k >= w[0].0 && k <= w[1].0)
                .unwrap();
            w[0].1 + (w[1].1 - w[0].1) * (k - w[0].0) as f64 / (w[1].0 - w[0].0) as f64
        })
        .collect();
    let data = Dataset::new(1, xs, ys, "zigzag").unwrap();
    let arch = Architecture {
        input_dim: 1,
        hidden: vec![20],
        activation: Activation::Relu,
        hidden_bias: true,
        output_bias: true,
        skip: true,
        frozen_layers: vec![],
        frozen_skip: false,
    };
    let net = init_network(&arch, seed, 1.0).unwrap();
    let cfg = TrainConfig {
        lr: 5e-3,
        steps: 200_000,
        noise: 0.0,
        seed,
        ..TrainConfig::default()
    }
    .check(&net, &data)
    .unwrap();
    let mut tr = Trainer::new(net, data.clone(), cfg);
    tr.run_until(200_000);
    (tr.network(), data)
}

#[test]
fn stacked_kinks_on_a_point_settle_below_the_old_stall() {
    // Seed 2's plain fit: the settle without remedies stops at reg ≈ 14.0 with kinks on
    // data points; the smoothing continuation takes it to ≈ 5.57 (label-noise SGD from
    // such fits ends near 5.7).
    let (net, data) = stacked_by_sgd(2);
    let old = settle(&net, &data, &SettleOptions::default()).unwrap();
    assert!(
        matches!(
            old.outcome,
            Outcome::ConstrainedStationary { .. } | Outcome::KinkOnDataPoint { .. }
        ),
        "the old settle stalls on kinks on data points: {:?}",
        old.outcome
    );
    assert!(old.smoothing.is_none() && old.escapes.is_empty());
    let new = settle(&net, &data, &SettleOptions::default().with_remedies()).unwrap();
    assert!(
        new.end_reg < 0.7 * old.end_reg,
        "new {} ({}) vs old {} ({})",
        new.end_reg,
        new.outcome.name(),
        old.end_reg,
        old.outcome.name()
    );
    let smoothing = new.smoothing.as_ref().expect("the stall was smoothed");
    assert_eq!(smoothing.stalled_reg, old.end_reg);
    // The end point is certified like any other: it interpolates, its reg is the exact
    // reg of the returned network, and its outcome is the certified one.
    assert!(new.analysis.max_abs_residual <= 1e-6);
    let exact = crate::regularizer::reg(&new.network, &data).unwrap();
    assert!((exact - new.end_reg).abs() <= 1e-12 * exact);
    assert!(matches!(
        new.outcome,
        Outcome::NonRepellent
            | Outcome::ConstrainedStationary { .. }
            | Outcome::KinkOnDataPoint { .. }
    ));
}
