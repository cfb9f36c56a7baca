//! Training (docs/conventions.md#training, paper eq. 3): hand-computed steps, convergence,
//! moments of the update, two copies, explicit regularization, reproducibility,
//! checkpoints, fused vs general, configuration errors and divergence.

mod common;

use labelnoise_core::regularizer::reg_and_gradient;
use labelnoise_core::train::{
    init_network, metrics, sgd_step, Checkpoint, Kernel, NoiseDist, RunStatus, SgdModel,
    TrainConfig, TrainRng, Trainer,
};
use labelnoise_core::{builtin, Activation, Architecture, Dataset, Layer, Network, Skip};

/// f(x) = 3 relu(x + 0.5) + 4 relu(−2x − 1) − 1 + 0.25 x; at x = 0.2 unit 2 is off.
fn tiny() -> Network {
    Network::new(
        1,
        vec![
            Layer {
                in_dim: 1,
                out_dim: 2,
                weight: vec![1.0, -2.0],
                bias: Some(vec![0.5, -1.0]),
                activation: Activation::Relu,
                trainable: true,
            },
            Layer {
                in_dim: 2,
                out_dim: 1,
                weight: vec![3.0, 4.0],
                bias: Some(vec![-1.0]),
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        Some(Skip {
            weight: vec![0.25],
            trainable: true,
        }),
        "tiny",
    )
    .unwrap()
}

fn one_point(x: f64, y: f64) -> Dataset {
    Dataset::new(1, vec![x], vec![y], "one").unwrap()
}

/// θ after one step of eq. 3 at x = 0.2 with label y and noise z, by hand.
/// θ = (a1, a2, b1, b2, c1, c2, b, s); z1 = 0.7 > 0, z2 = −1.4 < 0.
fn tiny_step_by_hand(y: f64, z: f64, lr: f64) -> Vec<f64> {
    let x = 0.2;
    let h = 3.0 * 0.7 + 4.0 * 0.0 - 1.0 + 0.25 * x;
    let e = h - y - z;
    let grad = [3.0 * x, 0.0, 3.0, 0.0, 0.7, 0.0, 1.0, x];
    let theta = [1.0, -2.0, 0.5, -1.0, 3.0, 4.0, -1.0, 0.25];
    theta
        .iter()
        .zip(grad)
        .map(|(t, g)| t - lr * 2.0 * e * g)
        .collect()
}

fn cfg(lr: f64, noise: f64) -> TrainConfig {
    TrainConfig {
        lr,
        noise,
        steps: 1000,
        ..TrainConfig::default()
    }
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

fn trainer(net: &Network, data: &Dataset, c: &TrainConfig, kernel: Kernel) -> Trainer {
    Trainer::with_kernel(
        net.clone(),
        data.clone(),
        c.check(net, data).unwrap(),
        kernel,
    )
    .unwrap()
}

#[test]
fn one_step_equals_eq3_by_hand() {
    let (y, z, lr) = (0.3, 0.5, 0.01);
    let want = tiny_step_by_hand(y, z, lr);
    // The low-level step with a known sample.
    let net = tiny();
    let model = SgdModel::new(&net);
    let mut ws = model.workspace();
    let mut theta = net.params();
    let e = sgd_step(&model, &mut theta, &[0.2], y, z, lr, 0.0, &mut ws);
    assert!((e - (1.15 - y - z)).abs() < 1e-14);
    assert!(close(&theta, &want, 1e-14), "{theta:?} vs {want:?}");
    // The trainer on one point with rademacher noise: Z = ±σ, both kernels.
    let data = one_point(0.2, y);
    for kernel in [Kernel::Fused, Kernel::General] {
        let mut signs = [false; 2];
        for seed in 0..20 {
            let c = TrainConfig {
                seed,
                ..cfg(lr, 0.5)
            };
            let mut t = trainer(&net, &data, &c, kernel);
            assert_eq!(t.run_until(1), RunStatus::Ok);
            let plus = tiny_step_by_hand(y, 0.5, lr);
            let minus = tiny_step_by_hand(y, -0.5, lr);
            if close(t.params(), &plus, 1e-14) {
                signs[0] = true;
            } else {
                assert!(
                    close(t.params(), &minus, 1e-14),
                    "{kernel:?}: {:?}",
                    t.params()
                );
                signs[1] = true;
            }
        }
        assert_eq!(
            signs,
            [true, true],
            "{kernel:?}: both signs of the noise occur"
        );
    }
}

#[test]
fn plain_sgd_on_the_output_layer_reaches_least_squares() {
    use faer::prelude::*;
    let data0 = builtin::dataset("fig1").unwrap();
    // A frozen hidden layer with kinks at −2, 1, 0, −0.5 and 1.5, inside the data.
    let net = Network::new(
        1,
        vec![
            Layer {
                in_dim: 1,
                out_dim: 5,
                weight: vec![1.0, -1.0, 1.0, -1.0, 1.0],
                bias: Some(vec![2.0, 1.0, 0.0, -0.5, -1.5]),
                activation: Activation::Relu,
                trainable: false,
            },
            Layer {
                in_dim: 5,
                out_dim: 1,
                weight: vec![0.1, -0.2, 0.3, 0.0, 0.05],
                bias: Some(vec![0.0]),
                activation: Activation::Identity,
                trainable: true,
            },
        ],
        Some(Skip {
            weight: vec![0.0],
            trainable: true,
        }),
        "frozen-hidden",
    )
    .unwrap();
    let hidden = &net.layers()[0];
    let features = |x: f64| -> Vec<f64> {
        let mut f: Vec<f64> = (0..5)
            .map(|j| (hidden.weight[j] * x + hidden.bias.as_ref().unwrap()[j]).max(0.0))
            .collect();
        f.push(1.0);
        f.push(x);
        f
    };
    // Labels realizable by the frozen features: the least-squares solution is unique
    // (if the 12 x 7 feature matrix has full rank) and has zero loss, so plain SGD
    // converges to it.
    let w_star = [0.7, -1.1, 0.4, 0.9, -0.3, 0.2, 0.5];
    let ys: Vec<f64> = data0
        .xs()
        .iter()
        .map(|&x| features(x).iter().zip(&w_star).map(|(f, w)| f * w).sum())
        .collect();
    let data = Dataset::new(1, data0.xs().to_vec(), ys.clone(), "realizable").unwrap();
    let f = Mat::<f64>::from_fn(12, 7, |i, j| features(data.xs()[i])[j]);
    let y = Mat::<f64>::from_fn(12, 1, |i, _| ys[i]);
    let ftf = f.transpose() * &f;
    let fty = f.transpose() * &y;
    let w_ls = ftf
        .llt(faer::Side::Lower)
        .expect("full rank features")
        .solve(&fty);
    let c = TrainConfig {
        steps: 3_000_000,
        ..cfg(0.02, 0.0)
    };
    let mut t = trainer(&net, &data, &c, Kernel::General);
    assert_eq!(t.run_until(3_000_000), RunStatus::Ok);
    // θ = (c_1..c_5, b, s).
    let theta = t.params();
    assert_eq!(theta.len(), 7);
    for k in 0..7 {
        assert!(
            (theta[k] - w_ls[(k, 0)]).abs() < 1e-8,
            "θ_{k} = {} vs {}",
            theta[k],
            w_ls[(k, 0)]
        );
    }
}

/// One step from θ for many seeds has the moments of paper eq. 3
/// (`common::assert_update_moments_match_eq3`).
#[test]
fn update_moments_match_eq3() {
    let data = Dataset::new(1, vec![-1.0, 0.3, 1.2], vec![0.5, -0.2, 0.9], "three").unwrap();
    let net = tiny();
    let (lr, sigma) = (0.01, 0.5);
    for dist in NoiseDist::ALL {
        let after: Vec<Vec<f64>> = (0..20_000)
            .map(|seed| {
                let c = TrainConfig {
                    seed,
                    noise_dist: dist,
                    ..cfg(lr, sigma)
                };
                let mut t = trainer(&net, &data, &c, Kernel::General);
                t.run_until(1);
                t.params().to_vec()
            })
            .collect();
        common::assert_update_moments_match_eq3(&net, &data, lr, sigma, &after, &dist.to_string());
    }
}

#[test]
fn two_copies_uses_labels_plus_and_minus_sigma() {
    let (y, lr, sigma) = (0.3, 0.01, 0.25);
    let net = tiny();
    let data = one_point(0.2, y);
    let plus = tiny_step_by_hand(y + sigma, 0.0, lr);
    let minus = tiny_step_by_hand(y - sigma, 0.0, lr);
    for kernel in [Kernel::Fused, Kernel::General] {
        let mut seen = [0usize; 2];
        for seed in 0..200 {
            // The noise distribution is ignored in two-copies mode.
            let c = TrainConfig {
                seed,
                two_copies: true,
                noise_dist: NoiseDist::Gaussian,
                ..cfg(lr, sigma)
            };
            let mut t = trainer(&net, &data, &c, kernel);
            t.run_until(1);
            if close(t.params(), &plus, 1e-14) {
                seen[0] += 1;
            } else {
                assert!(
                    close(t.params(), &minus, 1e-14),
                    "{kernel:?}: {:?}",
                    t.params()
                );
                seen[1] += 1;
            }
        }
        // Binomial(200, 1/2): far inside [60, 140].
        assert!(seen[0] > 60 && seen[1] > 60, "{kernel:?}: {seen:?}");
    }
}

#[test]
fn copies_step_is_eq3_with_the_drawn_copys_label() {
    // K copies of one point: a sample is k = index(K) of the run's stream, and the step
    // is eq. 3 at the label y + c_k with no noise (docs/conventions.md#training).
    let (y, lr) = (0.3, 0.01);
    let offsets = [-0.4, 0.0, 0.4, 1.5];
    let net = tiny();
    let data = one_point(0.2, y);
    for kernel in [Kernel::Fused, Kernel::General] {
        let mut seen = [0usize; 4];
        for seed in 0..200 {
            let c = TrainConfig {
                seed,
                copies: offsets.to_vec(),
                // Neither σ nor the noise distribution matters in copies mode.
                noise: 9.0,
                noise_dist: NoiseDist::Gaussian,
                ..cfg(lr, 0.0)
            };
            let k = TrainRng::new(seed).index(offsets.len());
            seen[k] += 1;
            let want = tiny_step_by_hand(y + offsets[k], 0.0, lr);
            let mut t = trainer(&net, &data, &c, kernel);
            t.run_until(1);
            assert!(
                close(t.params(), &want, 1e-14),
                "{kernel:?} seed {seed}: {:?} vs {want:?}",
                t.params()
            );
        }
        assert!(seen.iter().all(|&s| s > 20), "{seen:?}");
    }
}

#[test]
fn two_copies_is_copies_plus_and_minus_sigma_bit_for_bit() {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for act in [Activation::Relu, Activation::Tanh] {
        for (m, batch) in [(16, 1), (37, 1), (8, 3)] {
            let (net, data) = fig1_net(m, act, 3);
            let sigma = 0.45;
            let two = TrainConfig {
                seed: 6,
                two_copies: true,
                batch,
                ..cfg(0.005, sigma)
            };
            let listed = TrainConfig {
                two_copies: false,
                copies: vec![sigma, -sigma],
                ..two.clone()
            };
            for kernel in [Kernel::Fused, Kernel::General] {
                if batch > 1 && kernel == Kernel::Fused {
                    continue;
                }
                let mut a = trainer(&net, &data, &two, kernel);
                let mut b = trainer(&net, &data, &listed, kernel);
                assert_eq!(a.run_until(500), RunStatus::Ok);
                assert_eq!(b.run_until(500), RunStatus::Ok);
                assert_eq!(bits(a.params()), bits(b.params()), "{act} m={m} {kernel:?}");
            }
        }
    }
}

#[test]
fn explicit_regularization_adds_eta_lambda_grad_reg() {
    let (y, lr, lambda) = (0.3, 0.01, 0.7);
    let net = tiny();
    let data = one_point(0.2, y);
    let (_, grad_reg) = reg_and_gradient(&net, &data).unwrap();
    assert!(grad_reg.iter().any(|g| g.abs() > 1e-3));
    let plain = tiny_step_by_hand(y, 0.0, lr);
    let want: Vec<f64> = plain
        .iter()
        .zip(&grad_reg)
        .map(|(t, g)| t - lr * lambda * g)
        .collect();
    let c = TrainConfig {
        explicit_reg: lambda,
        ..cfg(lr, 0.0)
    };
    let mut t = Trainer::new(net.clone(), data.clone(), c.check(&net, &data).unwrap());
    assert_eq!(t.kernel(), Kernel::General);
    t.run_until(1);
    assert!(
        close(t.params(), &want, 1e-13),
        "{:?} vs {want:?}",
        t.params()
    );
}

#[test]
fn mini_batch_averages_per_sample_updates() {
    let (y, lr, sigma) = (0.3, 0.01, 0.5);
    let net = tiny();
    let data = one_point(0.2, y);
    let plus = tiny_step_by_hand(y, sigma, lr);
    let minus = tiny_step_by_hand(y, -sigma, lr);
    let mid: Vec<f64> = plus
        .iter()
        .zip(&minus)
        .map(|(a, b)| 0.5 * (a + b))
        .collect();
    let mut seen = [0usize; 3];
    for seed in 0..100 {
        let c = TrainConfig {
            seed,
            batch: 2,
            ..cfg(lr, sigma)
        };
        let mut t = Trainer::new(net.clone(), data.clone(), c.check(&net, &data).unwrap());
        assert_eq!(t.kernel(), Kernel::General);
        t.run_until(1);
        let k = [&plus, &mid, &minus]
            .iter()
            .position(|w| close(t.params(), w, 1e-13))
            .unwrap_or_else(|| panic!("{:?}", t.params()));
        seen[k] += 1;
    }
    assert!(seen.iter().all(|&s| s > 5), "{seen:?}");
}

fn fig1_net(m: usize, act: Activation, seed: u64) -> (Network, Dataset) {
    let arch = Architecture::shallow(m, act);
    (
        init_network(&arch, seed, 1.0).unwrap(),
        builtin::dataset("fig1").unwrap(),
    )
}

#[test]
fn same_seed_same_bits_and_checkpoints_resume_exactly() {
    for (act, kernel) in [
        (Activation::Relu, Kernel::Fused),
        (Activation::Tanh, Kernel::Fused),
        (Activation::Relu, Kernel::General),
    ] {
        let (net, data) = fig1_net(37, act, 1);
        let c = TrainConfig {
            seed: 9,
            ..cfg(0.005, 0.5)
        };
        let mut a = trainer(&net, &data, &c, kernel);
        let mut b = trainer(&net, &data, &c, kernel);
        a.run_until(500);
        for target in [1, 2, 100, 333, 500] {
            b.run_until(target);
        }
        assert_eq!(
            a.params(),
            b.params(),
            "{act} {kernel:?}: chunking changes nothing"
        );
        let mut other = trainer(
            &net,
            &data,
            &TrainConfig {
                seed: 10,
                ..c.clone()
            },
            kernel,
        );
        other.run_until(500);
        assert_ne!(a.params(), other.params());
        // Checkpoint at 200, through JSON, then resume to 500.
        let mut c1 = trainer(&net, &data, &c, kernel);
        c1.run_until(200);
        let json = serde_json::to_string(&c1.checkpoint()).unwrap();
        let cp: Checkpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(cp.step, 200);
        assert_eq!(cp.kernel, Some(kernel), "the checkpoint names its kernel");
        let mut resumed = Trainer::resume(net.clone(), data.clone(), cp).unwrap();
        assert_eq!(resumed.step(), 200);
        resumed.run_until(500);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(resumed.params()),
            bits(a.params()),
            "{act} {kernel:?}: resume is exact"
        );
        assert_eq!(resumed.network().params(), a.params());
    }
}

#[test]
fn fused_and_general_kernels_agree() {
    for act in Activation::ALL {
        for (m, two_copies) in [(5, false), (16, false), (61, true)] {
            let (net, data) = fig1_net(m, act, 2);
            let c = TrainConfig {
                seed: 4,
                two_copies,
                ..cfg(0.01, 0.5)
            };
            let mut f = trainer(&net, &data, &c, Kernel::Fused);
            let mut g = trainer(&net, &data, &c, Kernel::General);
            assert_eq!(f.run_until(300), RunStatus::Ok);
            assert_eq!(g.run_until(300), RunStatus::Ok);
            let scale = g.params().iter().fold(0.0f64, |s, v| s.max(v.abs()));
            for (k, (x, y)) in f.params().iter().zip(g.params()).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-12 * scale,
                    "{act} m={m} θ_{k}: {x} vs {y}"
                );
            }
            assert_eq!(f.checkpoint().rng, g.checkpoint().rng, "the same draws");
        }
    }
    // Auto selection.
    let (net, data) = fig1_net(8, Activation::Relu, 0);
    let t = Trainer::new(
        net.clone(),
        data.clone(),
        cfg(0.01, 0.5).check(&net, &data).unwrap(),
    );
    assert_eq!(t.kernel(), Kernel::Fused);
}

#[test]
fn subnormal_guard_flushes_tiny_parameters() {
    let (net, data) = fig1_net(8, Activation::Relu, 0);
    let mut theta = net.params();
    // Unit 0 dead and tiny: a, b, c at 1e-200.
    for k in [0, 8, 16] {
        theta[k] = 1e-200;
    }
    let mut tiny_net = net.clone();
    tiny_net.set_params(&theta).unwrap();
    for kernel in [Kernel::Fused, Kernel::General] {
        let mut on = trainer(&tiny_net, &data, &cfg(0.001, 0.5), kernel);
        on.run_until(64);
        assert_eq!(on.params()[16], 0.0, "{kernel:?}: flushed after step 64");
        let off_cfg = TrainConfig {
            flush_threshold: 0.0,
            ..cfg(0.001, 0.5)
        };
        let mut off = trainer(&tiny_net, &data, &off_cfg, kernel);
        off.run_until(64);
        assert!(off.params()[16] != 0.0, "{kernel:?}: no guard, no flush");
    }
}

#[test]
fn bad_configurations_name_the_flag() {
    let net = tiny();
    let data = one_point(0.2, 0.3);
    let cases: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                lr: -1.0,
                ..TrainConfig::default()
            },
            "--lr: must be positive and finite, got -1",
        ),
        (
            TrainConfig {
                lr: f64::NAN,
                ..TrainConfig::default()
            },
            "--lr",
        ),
        (
            TrainConfig {
                steps: 0,
                ..TrainConfig::default()
            },
            "--steps",
        ),
        (
            TrainConfig {
                noise: -0.1,
                ..TrainConfig::default()
            },
            "--noise",
        ),
        (
            TrainConfig {
                batch: 0,
                ..TrainConfig::default()
            },
            "--batch",
        ),
        (
            TrainConfig {
                explicit_reg: f64::INFINITY,
                ..TrainConfig::default()
            },
            "--explicit-reg",
        ),
        (
            TrainConfig {
                log_points: 1,
                ..TrainConfig::default()
            },
            "--log-points",
        ),
        (
            TrainConfig {
                flush_threshold: -1.0,
                ..TrainConfig::default()
            },
            "--flush-threshold",
        ),
    ];
    for (c, want) in cases {
        let err = c.check(&net, &data).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err} (wanted {want})");
    }
    let two_d = Dataset::new(2, vec![0.1, 0.2], vec![1.0], "two-d").unwrap();
    let err = TrainConfig::default()
        .check(&net, &two_d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1-dimensional") && err.contains("2-dimensional"),
        "{err}"
    );
    // A checkpoint of the wrong length.
    let cp = Checkpoint {
        step: 3,
        theta: vec![0.0; 2],
        rng: labelnoise_core::train::TrainRng::new(0),
        config: TrainConfig::default(),
        kernel: None,
    };
    let err = Trainer::resume(net, data, cp).unwrap_err().to_string();
    assert!(err.contains("checkpoint.theta"), "{err}");
}

#[test]
fn divergence_is_reported_with_its_step() {
    for kernel in [Kernel::Fused, Kernel::General] {
        let (net, data) = fig1_net(16, Activation::Relu, 0);
        let mut t = trainer(&net, &data, &cfg(50.0, 0.5), kernel);
        match t.run_until(10_000) {
            RunStatus::Diverged { step } => {
                assert!(step > 0 && step < 10_000, "{kernel:?}: {step}");
                assert_eq!(t.step(), step);
                assert_eq!(t.run_until(20_000), RunStatus::Diverged { step });
            }
            RunStatus::Ok => panic!("{kernel:?}: η = 50 must diverge"),
        }
    }
}

#[test]
fn metrics_report_loss_reg_and_shape() {
    let (net, data) = fig1_net(16, Activation::Relu, 0);
    let m = metrics(&net, &data, 7).unwrap();
    assert_eq!(m.step, 7);
    let loss = (0..12)
        .map(|i| (net.eval(data.x(i)) - data.y(i)).powi(2))
        .sum::<f64>()
        / 12.0;
    assert!((m.train_loss - loss).abs() < 1e-12);
    assert!(m.reg > 0.0 && m.null_reg_grad_norm >= 0.0 && m.param_norm > 0.0);
    assert!(m.curve_length.unwrap() >= 5.5 && m.kinks.is_some() && m.convexity_changes.is_some());
    let (tanh, _) = fig1_net(4, Activation::Tanh, 0);
    assert_eq!(metrics(&tanh, &data, 0).unwrap().curve_length, None);
}

/// A small deterministic generator for random networks and data (xorshift64*).
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (v >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// Random networks of every shape the general path handles: 1-D and multi-D inputs,
/// depth 1 to 3, with and without biases, frozen layers (first, middle, output), a
/// trainable, frozen or absent skip. The first three have the column-then-output shape
/// of the general path's one-sweep kernels.
fn random_networks(act: Activation, seed: u64) -> Vec<(Network, Dataset)> {
    #[allow(clippy::type_complexity)]
    let shapes: [(usize, &[usize], bool, bool, Option<bool>, &[usize]); 9] = [
        (1, &[7], true, true, Some(false), &[]),
        (1, &[9], false, false, Some(true), &[]),
        (1, &[6], true, true, None, &[1]),
        (1, &[5, 4], true, true, Some(false), &[]),
        (1, &[3, 4, 2], true, false, Some(false), &[0]),
        (2, &[4, 3, 5], true, true, Some(false), &[1]),
        (3, &[4, 3], false, true, Some(true), &[0]),
        (2, &[5], true, false, None, &[]),
        (1, &[4, 6, 3], true, true, Some(false), &[3]),
    ];
    let mut rng = Draws(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    shapes
        .iter()
        .map(|&(d, hidden, hidden_bias, output_bias, skip, frozen)| {
            let arch = Architecture {
                input_dim: d,
                hidden: hidden.to_vec(),
                activation: act,
                hidden_bias,
                output_bias,
                skip: skip.is_some(),
                frozen_layers: frozen.to_vec(),
                frozen_skip: skip == Some(true),
            };
            let net = arch
                .build(|_, fan_in, _| 1.5 * rng.uniform() / (fan_in as f64).sqrt())
                .unwrap();
            let n = 5;
            let x: Vec<f64> = (0..n * d).map(|_| 2.0 * rng.uniform()).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
            (net, Dataset::new(d, x, y, "random").unwrap())
        })
        .collect()
}

/// One step of the general path with explicit regularization (σ = 0, batch 1) equals
/// θ − η (2 e_i ∇h_i + λ ∇reg(θ)) for the sampled i, with ∇reg from the regularizer
/// module and ∇h_i from `derivatives`, to 1e-12 of the update's size; λ = 0 checks the
/// plain step of the same kernels.
#[test]
fn explicit_step_matches_the_regularizer_on_random_networks() {
    use labelnoise_core::derivatives::gradient;
    let lr = 0.01;
    for act in Activation::ALL {
        for (k, (net, data)) in random_networks(act, 3).into_iter().enumerate() {
            let (_, grad_reg) = reg_and_gradient(&net, &data).unwrap();
            let theta = net.params();
            for lambda in [0.7, 0.0] {
                let c = TrainConfig {
                    explicit_reg: lambda,
                    seed: k as u64,
                    ..cfg(lr, 0.0)
                };
                let mut t = trainer(&net, &data, &c, Kernel::General);
                assert_eq!(t.run_until(1), RunStatus::Ok);
                let got = t.params();
                // The candidate of every sample i; the trainer drew one of them.
                let best = (0..data.len())
                    .map(|i| {
                        let e = net.eval(data.x(i)) - data.y(i);
                        let grad = gradient(&net, data.x(i));
                        let want: Vec<f64> = (0..theta.len())
                            .map(|q| theta[q] - lr * (2.0 * e * grad[q] + lambda * grad_reg[q]))
                            .collect();
                        let size = theta
                            .iter()
                            .zip(&want)
                            .fold(0.0f64, |s, (a, b)| s.max((a - b).abs()));
                        let err = got
                            .iter()
                            .zip(&want)
                            .map(|(g, w)| (g - w).abs() - 4.0 * f64::EPSILON * w.abs())
                            .fold(0.0f64, f64::max);
                        (err / size.max(f64::MIN_POSITIVE), size)
                    })
                    .fold((f64::INFINITY, 0.0), |a, b| if b.0 < a.0 { b } else { a });
                assert!(
                    best.0 <= 1e-12 && best.1 > 1e-8,
                    "{act} network {k} λ = {lambda}: relative error {:e} (update size {:e})",
                    best.0,
                    best.1
                );
            }
        }
    }
}

/// The sampled explicit term (`explicit_reg_sampled`): one step (σ = 0, batch 1) equals
/// θ − η (2 e_i ∇h_i + λ ∇||∇h_i||²) for the sampled i, with ∇||∇h_i||² the gradient of
/// reg on the one-point data set {x_i}; on random networks of every activation and on
/// one-hidden-layer 1-D networks (the column kernel). Its mean over i is the exact term.
#[test]
fn sampled_explicit_step_uses_the_steps_own_sample() {
    use labelnoise_core::derivatives::gradient;
    let lr = 0.01;
    let lambda = 0.7;
    for act in Activation::ALL {
        let mut cases = random_networks(act, 3);
        cases.push(fig1_net(7, act, 2));
        for (k, (net, data)) in cases.into_iter().enumerate() {
            let theta = net.params();
            let c = TrainConfig {
                explicit_reg: lambda,
                explicit_reg_sampled: true,
                seed: k as u64,
                ..cfg(lr, 0.0)
            };
            let mut t = trainer(&net, &data, &c, Kernel::General);
            assert_eq!(t.run_until(1), RunStatus::Ok);
            let got = t.params();
            let best = (0..data.len())
                .map(|i| {
                    let e = net.eval(data.x(i)) - data.y(i);
                    let grad = gradient(&net, data.x(i));
                    let single =
                        Dataset::new(data.dim(), data.x(i).to_vec(), vec![data.y(i)], "x_i")
                            .unwrap();
                    let (_, grad_sq) = reg_and_gradient(&net, &single).unwrap();
                    let want: Vec<f64> = (0..theta.len())
                        .map(|q| theta[q] - lr * (2.0 * e * grad[q] + lambda * grad_sq[q]))
                        .collect();
                    let size = theta
                        .iter()
                        .zip(&want)
                        .fold(0.0f64, |s, (a, b)| s.max((a - b).abs()));
                    let err = got
                        .iter()
                        .zip(&want)
                        .map(|(g, w)| (g - w).abs() - 4.0 * f64::EPSILON * w.abs())
                        .fold(0.0f64, f64::max);
                    (err / size.max(f64::MIN_POSITIVE), size)
                })
                .fold((f64::INFINITY, 0.0), |a, b| if b.0 < a.0 { b } else { a });
            assert!(
                best.0 <= 1e-12 && best.1 > 1e-8,
                "{act} network {k}: relative error {:e} (update size {:e})",
                best.0,
                best.1
            );
        }
    }
    // Without an explicit term there is nothing to sample: a named error.
    let (net, data) = fig1_net(4, Activation::Relu, 1);
    let c = TrainConfig {
        explicit_reg_sampled: true,
        ..cfg(lr, 0.0)
    };
    let err = c.check(&net, &data).unwrap_err().to_string();
    assert!(err.contains("--explicit-reg-sampled"), "{err}");
}

/// The general path's one-sweep kernel for column-then-output networks and the fused
/// kernel give the same bits (same products in the same order), guard steps included.
#[test]
fn fused_and_general_kernels_give_the_same_bits() {
    // Not relu: its fused pass uses fused multiply-adds, the general path does not (it
    // agrees to rounding: `fused_and_general_kernels_agree`, and the unit tests of
    // `train::fused`).
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for act in Activation::ALL
        .into_iter()
        .filter(|&a| a != Activation::Relu)
    {
        for (m, two_copies) in [(3, false), (16, false), (37, true), (64, false)] {
            let (net, data) = fig1_net(m, act, 5);
            let c = TrainConfig {
                seed: 8,
                two_copies,
                ..cfg(0.005, 0.5)
            };
            let mut f = trainer(&net, &data, &c, Kernel::Fused);
            let mut g = trainer(&net, &data, &c, Kernel::General);
            for target in [1, 64, 65, 200] {
                assert_eq!(f.run_until(target), RunStatus::Ok);
                assert_eq!(g.run_until(target), RunStatus::Ok);
                assert_eq!(
                    bits(f.params()),
                    bits(g.params()),
                    "{act} m={m} step {target}"
                );
            }
        }
    }
}

/// `checkpoint_into` writes what `checkpoint` returns, whatever the checkpoint held
/// before (another run's state, configuration and kernel).
#[test]
fn checkpoint_into_equals_checkpoint() {
    let data = Dataset::new(1, vec![-1.0, 0.3, 1.2], vec![0.5, -0.2, 0.9], "three").unwrap();
    let net = tiny();
    let mut a = trainer(&net, &data, &cfg(0.01, 0.5), Kernel::General);
    let other = TrainConfig {
        seed: 7,
        noise_dist: NoiseDist::Uniform,
        ..cfg(0.02, 0.1)
    };
    let mut b = trainer(&net, &data, &other, Kernel::Fused);
    a.run_until(10);
    b.run_until(25);
    let mut cp = b.checkpoint();
    a.checkpoint_into(&mut cp);
    assert_eq!(cp, a.checkpoint());
    a.run_until(20);
    a.checkpoint_into(&mut cp);
    assert_eq!(cp, a.checkpoint());
}
