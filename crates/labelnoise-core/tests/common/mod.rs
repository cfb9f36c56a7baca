//! Shared helpers for the integration tests: deterministic random networks and data.
#![allow(dead_code)]

use labelnoise_core::{Activation, Architecture, Dataset, Network};

/// SplitMix64: a tiny deterministic generator, so test cases are reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A random network description, as proptest generates it.
#[derive(Clone, Debug)]
pub struct NetCase {
    pub activation: Activation,
    pub hidden: Vec<usize>,
    pub input_dim: usize,
    pub hidden_bias: bool,
    pub output_bias: bool,
    pub skip: bool,
    pub frozen: Vec<bool>,
    pub frozen_skip: bool,
    pub n: usize,
    pub seed: u64,
}

impl NetCase {
    pub fn build(&self) -> (Network, Dataset) {
        let mut rng = Rng::new(self.seed);
        let frozen_layers = self
            .frozen
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(l, _)| l)
            .collect();
        let net = Architecture {
            input_dim: self.input_dim,
            hidden: self.hidden.clone(),
            activation: self.activation,
            hidden_bias: self.hidden_bias,
            output_bias: self.output_bias,
            skip: self.skip,
            frozen_layers,
            frozen_skip: self.frozen_skip,
        }
        .build(|_, fan_in, _| rng.uniform(-1.5, 1.5) / (fan_in as f64).sqrt().max(1.0) * 1.5)
        .unwrap();
        let x: Vec<f64> = (0..self.n * self.input_dim)
            .map(|_| rng.uniform(-2.0, 2.0))
            .collect();
        let y: Vec<f64> = (0..self.n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let data = Dataset::new(self.input_dim, x, y, "test").unwrap();
        (net, data)
    }
}

/// The smallest |z| over all relu pre-activations at all data points (∞ without relu).
pub fn min_abs_relu_preactivation(net: &Network, data: &Dataset) -> f64 {
    let mut ws = labelnoise_core::derivatives::Workspace::new(net);
    let mut m = f64::INFINITY;
    for i in 0..data.len() {
        labelnoise_core::derivatives::forward(net, data.x(i), &mut ws);
        for (l, layer) in net.hidden_layers().iter().enumerate() {
            if layer.activation == Activation::Relu {
                for &z in ws.preactivation(l) {
                    m = m.min(z.abs());
                }
            }
        }
    }
    m
}

/// Central finite difference of f along direction v at θ, step eps.
pub fn central_difference(f: impl Fn(&[f64]) -> f64, theta: &[f64], v: &[f64], eps: f64) -> f64 {
    let plus: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t + eps * d).collect();
    let minus: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t - eps * d).collect();
    (f(&plus) - f(&minus)) / (2.0 * eps)
}

/// max_j |a_j − b_j| / max(‖b‖∞, floor).
pub fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Paper eq. 3 on one SGD step with label noise from `net` over many seeds (`after`: θ
/// after the step, one per seed): the mean and the per-coordinate second moment of the
/// update Δ must match E[Δ] = −(2η/n) Σ_i r_i ∇h_i and
/// E[Δ_k²] = (4η²/n) Σ_i (r_i² + σ²)(∇h_i)_k², r_i = h(x_i) − y_i, within five standard
/// errors (the fourth moment bounds the error of the second). Used by
/// `tests/train.rs::update_moments_match_eq3` and
/// `tests/packed.rs::packed_update_moments_match_eq3`.
pub fn assert_update_moments_match_eq3(
    net: &Network,
    data: &Dataset,
    lr: f64,
    sigma: f64,
    after: &[Vec<f64>],
    label: &str,
) {
    let n = data.len();
    let theta0 = net.params();
    let p = theta0.len();
    let grads: Vec<Vec<f64>> = (0..n)
        .map(|i| labelnoise_core::derivatives::gradient(net, data.x(i)))
        .collect();
    let res: Vec<f64> = (0..n).map(|i| net.eval(data.x(i)) - data.y(i)).collect();
    let k = after.len() as f64;
    let (mut s1, mut s2) = (vec![0.0; p], vec![0.0; p]);
    for theta in after {
        for j in 0..p {
            let d = theta[j] - theta0[j];
            s1[j] += d;
            s2[j] += d * d;
        }
    }
    for j in 0..p {
        let mean_want = -(2.0 * lr / n as f64) * (0..n).map(|i| res[i] * grads[i][j]).sum::<f64>();
        let m2_want = (4.0 * lr * lr / n as f64)
            * (0..n)
                .map(|i| (res[i] * res[i] + sigma * sigma) * grads[i][j].powi(2))
                .sum::<f64>();
        let (mean, m2) = (s1[j] / k, s2[j] / k);
        let sd = (m2 - mean * mean).max(0.0).sqrt();
        let tol_mean = 5.0 * sd / k.sqrt() + 1e-15;
        let tol_m2 = 5.0 * m2 * 3.0 / k.sqrt() + 1e-15;
        assert!(
            (mean - mean_want).abs() <= tol_mean,
            "{label} θ_{j}: mean {mean} vs {mean_want} (±{tol_mean})"
        );
        assert!(
            (m2 - m2_want).abs() <= tol_m2,
            "{label} θ_{j}: E Δ² {m2} vs {m2_want} (±{tol_m2})"
        );
    }
}

/// The `config.json` of a test run on the built-in `fig1` data (version and command
/// "test"), as the command line would write it for `net` trained with `train`.
pub fn fig1_run_config(
    net: &Network,
    train: &labelnoise_core::train::TrainConfig,
    checkpoint_every: u64,
) -> labelnoise_core::train::RunConfig {
    labelnoise_core::train::RunConfig {
        version: "test".into(),
        command: vec!["test".into()],
        data: "fig1".into(),
        model: net.describe(),
        init_model: None,
        init_scale: 1.0,
        output_init_scale: 1.0,
        train: train.clone(),
        checkpoint_every,
    }
}
