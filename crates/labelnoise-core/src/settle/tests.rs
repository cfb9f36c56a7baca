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
