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
