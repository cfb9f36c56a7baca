//! The paper's own constructions and formulas, as tests.

mod common;

use common::{NetCase, Rng};
use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::derivatives::gradient;
use labelnoise_core::regularizer::{reg, reg_and_gradient, Batch};
use labelnoise_core::stability::{NullSpace, Verdict};
use labelnoise_core::{Activation, Dataset, Layer, Network, Skip};

/// f(x) = Σ_i c_i relu(a_i x + b_i) + s x + b as a network (the paper's Theorem 1 form).
fn relu_net(a: &[f64], b: &[f64], c: &[f64], s: f64, bias: f64) -> Network {
    let m = a.len();
    Network::new(
        1,
        vec![
            Layer {
                in_dim: 1,
                out_dim: m,
                weight: a.to_vec(),
                bias: Some(b.to_vec()),
                activation: Activation::Relu,
                trainable: true,
            },
            Layer {
                in_dim: m,
                out_dim: 1,
                weight: c.to_vec(),
                bias: Some(vec![bias]),
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        Some(Skip {
            weight: vec![s],
            trainable: true,
        }),
        "test",
    )
    .unwrap()
}

/// The data set whose labels are the network's own outputs: the network interpolates it.
fn own_labels(net: &Network, x: Vec<f64>, d: usize) -> Dataset {
    let y = x.chunks(d).map(|xi| net.eval(xi)).collect();
    Dataset::new(d, x, y, "test").unwrap()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// θ layout of `relu_net` with m units: a (m), b (m), c (m), output bias, skip.
fn theta(a: &[f64], b: &[f64], c: &[f64], s: f64, bias: f64) -> Vec<f64> {
    [a, b, c, &[bias], &[s]].concat()
}

/// Appendix A, case 1 (a_1 > 0, c_1 < 0, a_2 > 0, c_2 > 0): a concave unit with its kink
/// k_1 < x_0 and a convex unit with its kink k_2 > x_0, between three co-linear points.
/// The paper's perturbation keeps every training output and lowers reg by Θ(ε); the
/// point is repellent and violates Theorem 1.
#[test]
fn appendix_a_case_1_perturbation_keeps_the_fit_and_lowers_reg() {
    // f = -relu(x - 0.5) + relu(x - 1.5) + 0.5 x interpolates (0,0), (1,0), (2,0).
    let (a, b, c, s, bias) = ([1.0, 1.0], [-0.5, -1.5], [-1.0, 1.0], 0.5, 0.0);
    let net = relu_net(&a, &b, &c, s, bias);
    let data = Dataset::new(
        1,
        vec![0.0, 1.0, 2.0],
        vec![0.0, 0.0, 0.0],
        "three co-linear points",
    )
    .unwrap();
    let x0 = 1.0;
    let r0 = reg(&net, &data).unwrap();
    let mut drops = Vec::new();
    for &eps in &[1e-2, 1e-3, 1e-4] {
        let a1 = a[0] * (1.0 - eps);
        let b1 = b[0] + x0 * a[0] * eps;
        let a2 = a[1] - c[0] / c[1] * (a1 - a[0]);
        let b2 = b[1] - c[0] / c[1] * (b1 - b[0]);
        let moved = relu_net(&[a1, a2], &[b1, b2], &c, s, bias);
        for i in 0..3 {
            assert!(
                (moved.eval(data.x(i)) - data.y(i)).abs() < 1e-12,
                "ε = {eps}: output {i} moved"
            );
        }
        let drop = r0 - reg(&moved, &data).unwrap();
        assert!(drop > 0.0, "ε = {eps}: reg did not fall");
        drops.push(drop / eps);
    }
    // Θ(ε): the decrease per unit ε tends to a positive constant.
    assert!((drops[1] - drops[2]).abs() < 0.01 * drops[2], "{drops:?}");
    // The perturbation direction is in ker J and reg's directional derivative along it is
    // negative, so g_N ≠ 0: the analysis calls the point repellent.
    let dir = {
        let eps = 1e-7;
        let a1 = a[0] * (1.0 - eps);
        let b1 = b[0] + x0 * a[0] * eps;
        let a2 = a[1] - c[0] / c[1] * (a1 - a[0]);
        let b2 = b[1] - c[0] / c[1] * (b1 - b[0]);
        let t0 = theta(&a, &b, &c, s, bias);
        let t1 = theta(&[a1, a2], &[b1, b2], &c, s, bias);
        t1.iter()
            .zip(&t0)
            .map(|(p, q)| (p - q) / eps)
            .collect::<Vec<_>>()
    };
    for i in 0..3 {
        assert!(dot(&gradient(&net, data.x(i)), &dir).abs() < 1e-6);
    }
    let (_, g) = reg_and_gradient(&net, &data).unwrap();
    assert!(dot(&g, &dir) < -0.1);
    let report = analyze(&net, &data, &AnalyzeOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Repellent);
    assert!(report.null_reg_grad_norm > 0.1);
    let shape = report.shape.unwrap();
    assert!(!shape.theorem1);
    assert_eq!(
        (shape.convexity_changes, shape.min_convexity_changes),
        (1, 0)
    );
    assert!(!shape.colinear_triples[0].linear);
}

/// Rescaling a ReLU unit, (c/α, αa, αb), leaves f unchanged but changes its share of reg,
/// (1/n)(α² S + c² T / α²) with S = Σ_j relu(a x_j + b)², T = Σ_j (1 + x_j²)[a x_j + b > 0].
/// An unbalanced unit is repellent; at α⁴ = c² T / S reg is stationary along the rescaling.
#[test]
fn rescaling_a_relu_unit_keeps_f_and_only_the_balanced_scale_is_stationary() {
    let xs = vec![-1.0, -0.3, 0.4, 1.1, 2.0];
    let (a, b, c): (f64, f64, f64) = (0.8, 0.5, 2.0);
    let active: Vec<f64> = xs.iter().map(|x| (a * x + b).max(0.0)).collect();
    let s_sum: f64 = active.iter().map(|z| z * z).sum();
    let t_sum: f64 = xs
        .iter()
        .zip(&active)
        .filter(|(_, z)| **z > 0.0)
        .map(|(x, _)| 1.0 + x * x)
        .sum();
    let unit = |alpha: f64| {
        relu_net(
            &[alpha * a, 0.3],
            &[alpha * b, -0.2],
            &[c / alpha, -0.7],
            0.1,
            0.2,
        )
    };
    let data = own_labels(&unit(1.0), xs.clone(), 1);
    let n = xs.len() as f64;
    // f does not change; reg follows the closed form.
    let base = reg(&unit(1.0), &data).unwrap() - (s_sum + c * c * t_sum) / n;
    for &alpha in &[0.5, 1.0, 1.7] {
        let net = unit(alpha);
        for i in 0..data.len() {
            assert!((net.eval(data.x(i)) - data.y(i)).abs() < 1e-12);
        }
        let expected = base + (alpha * alpha * s_sum + c * c * t_sum / (alpha * alpha)) / n;
        assert!((reg(&net, &data).unwrap() - expected).abs() < 1e-12);
    }
    // The rescaling direction at α: d/dα (c/α, αa, αb) = (−c/α², a, b), in θ order.
    let direction = |alpha: f64| {
        let mut v = vec![0.0; 8];
        v[0] = a;
        v[2] = b;
        v[4] = -c / (alpha * alpha);
        v
    };
    // Unbalanced (α = 1): the directional derivative is (2/n)(S − c² T) ≠ 0 → repellent.
    let (_, g) = reg_and_gradient(&unit(1.0), &data).unwrap();
    assert!((dot(&g, &direction(1.0)) - 2.0 / n * (s_sum - c * c * t_sum)).abs() < 1e-10);
    assert_eq!(
        analyze(&unit(1.0), &data, &AnalyzeOptions::default())
            .unwrap()
            .verdict,
        Verdict::Repellent
    );
    // Balanced: stationary along the rescaling (reg is minimal there along the family).
    let star = (c * c * t_sum / s_sum).powf(0.25);
    let (_, g) = reg_and_gradient(&unit(star), &data).unwrap();
    assert!(dot(&g, &direction(star)).abs() < 1e-10);
    let r_star = reg(&unit(star), &data).unwrap();
    for &k in &[0.9, 1.1] {
        assert!(reg(&unit(star * k), &data).unwrap() > r_star);
    }
}

/// f = Σ_i c_i σ(w_iᵀ x) on one point, no biases (appendix B's network).
fn one_point_net(act: Activation, w: &[Vec<f64>], c: &[f64]) -> Network {
    let d = w[0].len();
    Network::new(
        d,
        vec![
            Layer {
                in_dim: d,
                out_dim: w.len(),
                weight: w.concat(),
                bias: None,
                activation: act,
                trainable: true,
            },
            Layer {
                in_dim: w.len(),
                out_dim: 1,
                weight: c.to_vec(),
                bias: None,
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        None,
        "test",
    )
    .unwrap()
}

/// w with σ(wᵀx) = h: w = x · σ⁻¹(h) / ||x||².
fn weight_for(act: Activation, x: &[f64], h: f64) -> Vec<f64> {
    let pre = match act {
        Activation::Tanh => h.atanh(),
        Activation::Logistic => (h / (1.0 - h)).ln(),
        _ => unreachable!(),
    };
    let nx2: f64 = x.iter().map(|v| v * v).sum();
    x.iter().map(|v| v * pre / nx2).collect()
}

/// Appendix B, eqs. 17 and 19: reg of a one-point network in closed form.
#[test]
fn appendix_b_regularizer_formulas() {
    let x = vec![0.6, -1.1, 0.4];
    let nx2: f64 = x.iter().map(|v| v * v).sum();
    let mut rng = Rng::new(5);
    for act in [Activation::Logistic, Activation::Tanh] {
        let w: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..3).map(|_| rng.uniform(-1.0, 1.0)).collect())
            .collect();
        let c: Vec<f64> = (0..4).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let net = one_point_net(act, &w, &c);
        let data = own_labels(&net, x.clone(), 3);
        let formula: f64 = w
            .iter()
            .zip(&c)
            .map(|(wi, ci)| {
                let h = act.value(dot(wi, &x));
                let dh = match act {
                    Activation::Logistic => h * (1.0 - h),
                    _ => 1.0 - h * h,
                };
                h * h + ci * ci * dh * dh * nx2
            })
            .sum();
        assert!((reg(&net, &data).unwrap() - formula).abs() < 1e-12, "{act}");
    }
}

/// Appendix B: a one-point network with three live classes is repellent; one class at
/// the stationary activation of eq. 18 (logistic) or eq. 20 (tanh), plus dead units for
/// tanh, is non-repellent.
#[test]
fn appendix_b_three_classes_are_repellent_and_the_stationary_class_is_not() {
    let x = vec![0.5, 1.0, -0.7];
    let nx2: f64 = x.iter().map(|v| v * v).sum();
    for act in [Activation::Tanh, Activation::Logistic] {
        // Three live classes.
        let hs = [0.3, 0.6, 0.45];
        let cs = [1.0, -0.5, 2.0];
        let w: Vec<Vec<f64>> = hs.iter().map(|&h| weight_for(act, &x, h)).collect();
        let net = one_point_net(act, &w, &cs);
        let data = own_labels(&net, x.clone(), 3);
        let report = analyze(&net, &data, &AnalyzeOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Repellent, "{act}");
        let units = report.units.expect("one hidden layer on one point");
        assert_eq!(units.classes.len(), 3);
        assert!(!units.theorem3);

        // One class at the stationary activation for output o per unit.
        let o: f64 = 0.8;
        let (h, mut w, mut c) = match act {
            Activation::Tanh => {
                let h = (o * o * nx2 / (o * o * nx2 + 1.0)).sqrt().sqrt(); // eq. 20
                (
                    h,
                    vec![
                        weight_for(act, &x, h),
                        weight_for(act, &x, h),
                        weight_for(act, &x, -h),
                    ],
                    vec![o / h, o / h, -o / h],
                )
            }
            _ => {
                let h = o * o * nx2 / (1.0 + o * o * nx2); // eq. 18
                (h, vec![weight_for(act, &x, h); 3], vec![o / h; 3])
            }
        };
        assert!(h > 0.0);
        if act == Activation::Tanh {
            // A dead unit: c = 0 and wᵀx = 0, so h = 0.
            w.push(vec![1.0, -0.5, 0.0]);
            c.push(0.0);
        }
        let net = one_point_net(act, &w, &c);
        let data = own_labels(&net, x.clone(), 3);
        let report = analyze(&net, &data, &AnalyzeOptions::default()).unwrap();
        assert!(
            report.null_reg_grad_norm < 1e-10,
            "{act}: ||g_N|| = {:e}",
            report.null_reg_grad_norm
        );
        assert_eq!(report.verdict, Verdict::NonRepellent, "{act}");
        let units = report.units.unwrap();
        assert!(units.theorem3, "{act}");
        // Off the stationary activation (same outputs, other split of o into c·h): repellent.
        let h2 = h * 0.7;
        let signs: Vec<f64> = if act == Activation::Tanh {
            vec![1.0, 1.0, -1.0]
        } else {
            vec![1.0; 3]
        };
        let w2: Vec<Vec<f64>> = signs.iter().map(|s| weight_for(act, &x, s * h2)).collect();
        let c2: Vec<f64> = signs.iter().map(|s| o / (s * h2)).collect();
        let net2 = one_point_net(act, &w2, &c2);
        assert!((net2.eval(&x) - net.eval(&x)).abs() < 1e-12);
        let report2 = analyze(
            &net2,
            &own_labels(&net2, x.clone(), 3),
            &AnalyzeOptions::default(),
        )
        .unwrap();
        assert_eq!(report2.verdict, Verdict::Repellent, "{act}");
    }
}

/// The remark after Theorem 3: with only the output layer trainable, reg does not depend
/// on the trainable parameters, so ∇reg = 0 and label noise has nothing to descend.
#[test]
fn only_output_layer_trainable_gives_zero_reg_gradient() {
    for act in Activation::ALL {
        let case = NetCase {
            activation: act,
            hidden: vec![7],
            input_dim: 2,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen: vec![true, false],
            frozen_skip: false,
            n: 9,
            seed: 11,
        };
        let (net, data) = case.build();
        let (r, g) = reg_and_gradient(&net, &data).unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{act}: {g:?}");
        let theta: Vec<f64> = net.params().iter().map(|t| t * 3.0 - 1.0).collect();
        let r2 = reg(&net.with_params(&theta).unwrap(), &data).unwrap();
        assert!((r - r2).abs() < 1e-12 * r.max(1.0), "{act}");
    }
}

/// Proposition 4.1's closed form: n·reg = Σ_{i,j} R_ij + Σ_j (1 + x_j²) with
/// R_ij = relu(a_i x_j + b_i)² + c_i² (1 + x_j²) [a_i x_j + b_i > 0].
#[test]
fn proposition_4_1_regularizer_formula() {
    let mut rng = Rng::new(3);
    for _ in 0..20 {
        let m = 6;
        let a: Vec<f64> = (0..m).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let b: Vec<f64> = (0..m).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let c: Vec<f64> = (0..m).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let net = relu_net(&a, &b, &c, rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        let xs: Vec<f64> = (0..10).map(|_| rng.uniform(-3.0, 3.0)).collect();
        let data = own_labels(&net, xs.clone(), 1);
        let mut total = 0.0;
        for &x in &xs {
            total += 1.0 + x * x;
            for i in 0..m {
                let z = a[i] * x + b[i];
                if z > 0.0 {
                    total += z * z + c[i] * c[i] * (1.0 + x * x);
                }
            }
        }
        assert!((reg(&net, &data).unwrap() * xs.len() as f64 - total).abs() < 1e-10);
    }
}

/// Lemma 5/6 setting: the γ of the analysis are the eigenvalues of (1/n) JᵀJ — checked
/// against (1/n) JJᵀ formed densely, which has the same nonzero eigenvalues.
#[test]
fn gamma_are_the_eigenvalues_of_the_gram_matrix() {
    let case = NetCase {
        activation: Activation::Tanh,
        hidden: vec![5, 4],
        input_dim: 2,
        hidden_bias: true,
        output_bias: true,
        skip: false,
        frozen: vec![false; 3],
        frozen_skip: false,
        n: 6,
        seed: 99,
    };
    let (net, data) = case.build();
    let p = net.param_count();
    let n = data.len();
    let jt = Batch::new(&net, &data).unwrap().jacobian_transposed(&net);
    let gram = faer::Mat::<f64>::from_fn(n, n, |i, k| {
        dot(&jt[i * p..(i + 1) * p], &jt[k * p..(k + 1) * p]) / n as f64
    });
    let mut eig: Vec<f64> = gram.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
    eig.sort_by(|a, b| b.total_cmp(a));
    let (_, spectrum) = NullSpace::from_jacobian_transposed(jt, p, n).unwrap();
    assert_eq!(spectrum.gamma.len(), n);
    for (g, e) in spectrum.gamma.iter().zip(&eig) {
        assert!((g - e).abs() < 1e-12 * eig[0]);
    }
}
