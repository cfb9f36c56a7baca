//! Property tests: every derivative against central finite differences in f64, on random
//! networks of every activation, depth 1-3, with and without skip, biases and frozen
//! layers, d = 1-3, n = 1-15.

mod common;

use common::{central_difference, min_abs_relu_preactivation, rel_err, NetCase, Rng};
use labelnoise_core::derivatives::{forward, gradient, hvp, value_and_gradient, Workspace};
use labelnoise_core::regularizer::{reg, reg_and_gradient, Batch};
use labelnoise_core::{Activation, Network};
use proptest::prelude::*;

fn net_case() -> impl Strategy<Value = NetCase> {
    (
        prop::sample::select(Activation::ALL.to_vec()),
        prop::collection::vec(1usize..=4, 1..=3),
        1usize..=3,
        any::<(bool, bool, bool, bool)>(),
        prop::collection::vec(prop::bool::weighted(0.25), 4),
        1usize..=15,
        any::<u64>(),
    )
        .prop_map(
            |(activation, hidden, input_dim, (hb, ob, skip, fs), frozen, n, seed)| NetCase {
                activation,
                frozen: frozen[..hidden.len() + 1].to_vec(),
                hidden,
                input_dim,
                hidden_bias: hb,
                output_bias: ob,
                skip,
                frozen_skip: fs,
                n,
                seed,
            },
        )
}

/// FD step: central differences have error O(ε²) from truncation and O(u/ε) from
/// rounding; ε = 1e-5 balances them near 1e-10 for these O(1) networks.
const EPS: f64 = 1e-5;
/// Relative agreement demanded (the issue asks for 1e-6).
const TOL: f64 = 1e-6;

fn h_at<'a>(net: &'a Network, x: &[f64]) -> impl Fn(&[f64]) -> f64 + 'a {
    let x = x.to_vec();
    move |theta: &[f64]| net.with_params(theta).unwrap().eval(&x)
}

fn unit(p: usize, j: usize) -> Vec<f64> {
    let mut e = vec![0.0; p];
    e[j] = 1.0;
    e
}

/// Relu networks are smooth only away from kinks: skip cases with a pre-activation
/// closer to 0 than the finite-difference perturbation can move it.
fn smooth_enough(net: &Network, data: &labelnoise_core::Dataset) -> bool {
    min_abs_relu_preactivation(net, data) > 1e-3
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn gradient_matches_finite_differences(case in net_case()) {
        let (net, data) = case.build();
        prop_assume!(smooth_enough(&net, &data));
        let theta = net.params();
        let p = theta.len();
        for i in 0..data.len().min(4) {
            let g = gradient(&net, data.x(i));
            let fd: Vec<f64> = (0..p).map(|j| central_difference(h_at(&net, data.x(i)), &theta, &unit(p, j), EPS)).collect();
            let err = rel_err(&g, &fd, 1e-3);
            prop_assert!(err < TOL, "point {i}: relative error {err:e}");
            // The batched pass gives the same gradient.
            let batch = Batch::new(&net, &data).unwrap();
            let mut gb = vec![0.0; p];
            batch.write_gradient(&net, i, &mut gb);
            prop_assert!(rel_err(&gb, &g, 1e-12) < 1e-12);
        }
    }

    #[test]
    fn hessian_vector_product_matches_finite_differences_of_the_gradient(case in net_case()) {
        let (net, data) = case.build();
        prop_assume!(smooth_enough(&net, &data));
        let theta = net.params();
        let p = theta.len();
        let mut rng = Rng::new(case.seed ^ 7);
        let v: Vec<f64> = (0..p).map(|_| rng.uniform(-1.0, 1.0)).collect();
        for i in 0..data.len().min(4) {
            let hv = hvp(&net, data.x(i), &v);
            let fd: Vec<f64> = (0..p)
                .map(|j| {
                    central_difference(
                        |t: &[f64]| gradient(&net.with_params(t).unwrap(), data.x(i))[j],
                        &theta,
                        &v,
                        EPS,
                    )
                })
                .collect();
            let err = rel_err(&hv, &fd, 1e-3);
            prop_assert!(err < TOL, "point {i}: relative error {err:e}");
        }
    }

    #[test]
    fn reg_is_the_mean_squared_gradient_norm(case in net_case()) {
        let (net, data) = case.build();
        let direct: f64 = (0..data.len())
            .map(|i| gradient(&net, data.x(i)).iter().map(|g| g * g).sum::<f64>())
            .sum::<f64>() / data.len() as f64;
        let r = reg(&net, &data).unwrap();
        prop_assert!((r - direct).abs() <= 1e-12 * direct.max(1.0), "{r} vs {direct}");
    }

    #[test]
    fn reg_gradient_matches_finite_differences_and_hessian_vector_products(case in net_case()) {
        let (net, data) = case.build();
        prop_assume!(smooth_enough(&net, &data));
        let theta = net.params();
        let p = theta.len();
        let (_, g) = reg_and_gradient(&net, &data).unwrap();
        // Against (2/n) Σ_i H_i ∇h_i from the single-point kernels.
        let mut via_hvp = vec![0.0; p];
        for i in 0..data.len() {
            let hv = hvp(&net, data.x(i), &gradient(&net, data.x(i)));
            for (a, b) in via_hvp.iter_mut().zip(&hv) {
                *a += 2.0 / data.len() as f64 * b;
            }
        }
        prop_assert!(rel_err(&g, &via_hvp, 1e-3) < 1e-10);
        // Against central differences of reg itself.
        let reg_at = |t: &[f64]| reg(&net.with_params(t).unwrap(), &data).unwrap();
        let fd: Vec<f64> = (0..p).map(|j| central_difference(reg_at, &theta, &unit(p, j), EPS)).collect();
        let err = rel_err(&g, &fd, 1e-3);
        prop_assert!(err < TOL, "relative error {err:e}");
    }
}

#[test]
fn relu_derivative_at_the_kink_is_zero() {
    // One unit with z = 0 exactly at x = 1: relu'(0) = 0 so the input weight gets no gradient.
    let net = labelnoise_core::model_io::model_from_json(
        r#"{"input_dim": 1, "layers": [
            {"weight": [[1.0]], "bias": [-1.0], "activation": "relu"},
            {"weight": [[2.0]], "bias": null, "activation": "identity"}]}"#,
        "t",
    )
    .unwrap();
    assert_eq!(gradient(&net, &[1.0]), vec![0.0, 0.0, 0.0]);
    assert_eq!(gradient(&net, &[1.5]), vec![2.0 * 1.5, 2.0, 0.5]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The value the derivative kernels return is h(x, θ) itself, by the single-point
    /// kernels and by the batched pass alike.
    #[test]
    fn forward_value_is_the_network_output(case in net_case()) {
        let (net, data) = case.build();
        let mut ws = Workspace::new(&net);
        let mut grad = vec![0.0; net.param_count()];
        let batch = Batch::new(&net, &data).unwrap();
        for i in 0..data.len() {
            let h = net.eval(data.x(i));
            let scale = h.abs().max(1.0);
            prop_assert!((forward(&net, data.x(i), &mut ws) - h).abs() <= 1e-13 * scale);
            prop_assert!((value_and_gradient(&net, data.x(i), &mut ws, &mut grad) - h).abs() <= 1e-13 * scale);
            prop_assert!((batch.outputs()[i] - h).abs() <= 1e-13 * scale);
        }
    }

    /// Column i of Jᵀ is ∇_θ h(x_i, θ), and ||∇h(x_i)||² of the closed form
    /// Σ_l ||δ_l||² (||a_l||² + [bias]) + [skip] ||x_i||² is its squared norm.
    #[test]
    fn jacobian_columns_are_the_point_gradients(case in net_case()) {
        let (net, data) = case.build();
        let p = net.param_count();
        let batch = Batch::new(&net, &data).unwrap();
        let jt = batch.jacobian_transposed(&net);
        let norms = batch.grad_norms_sq(&net);
        for i in 0..data.len() {
            let g = gradient(&net, data.x(i));
            if p > 0 {
                prop_assert!(rel_err(&jt[i * p..(i + 1) * p], &g, 1e-12) < 1e-12);
            }
            let sq: f64 = g.iter().map(|v| v * v).sum();
            prop_assert!((norms[i] - sq).abs() <= 1e-12 * sq.max(1.0), "{} vs {sq}", norms[i]);
        }
    }
}
