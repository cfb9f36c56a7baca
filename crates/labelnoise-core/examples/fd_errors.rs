//! `cargo run --release -p labelnoise-core --example fd_errors`: the worst relative
//! disagreement between the exact derivatives and central finite differences over many
//! random networks (every activation, depth 1-3, d 1-3, n 1-15, random skip, biases and
//! frozen layers), per activation. The property tests assert these stay below 1e-6;
//! this prints the figures themselves.

use labelnoise_core::derivatives::{gradient, hvp};
use labelnoise_core::regularizer::{reg, reg_and_gradient};
use labelnoise_core::{Activation, Architecture, Dataset, Network};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn fd(f: impl Fn(&[f64]) -> f64, theta: &[f64], v: &[f64], eps: f64) -> f64 {
    let p: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t + eps * d).collect();
    let m: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t - eps * d).collect();
    (f(&p) - f(&m)) / (2.0 * eps)
}

fn min_relu_z(net: &Network, data: &Dataset) -> f64 {
    let mut ws = labelnoise_core::derivatives::Workspace::new(net);
    let mut m = f64::INFINITY;
    for i in 0..data.len() {
        labelnoise_core::derivatives::forward(net, data.x(i), &mut ws);
        for (l, layer) in net.hidden_layers().iter().enumerate() {
            if layer.activation == Activation::Relu {
                m = ws.preactivation(l).iter().fold(m, |a, z| a.min(z.abs()));
            }
        }
    }
    m
}

fn main() {
    let eps = 1e-5;
    let cases = 300;
    println!("{cases} random networks per activation, central differences with ε = {eps:e}");
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>12}",
        "activation", "grad h", "H v", "reg", "grad reg"
    );
    let mut rng = Rng(42);
    for act in Activation::ALL {
        let mut worst = [0.0f64; 4];
        let mut done = 0;
        while done < cases {
            let depth = 1 + rng.below(3);
            let d = 1 + rng.below(3);
            let n = 1 + rng.below(15);
            let hidden: Vec<usize> = (0..depth).map(|_| 1 + rng.below(4)).collect();
            let frozen_layers = (0..=depth).filter(|_| rng.below(4) == 0).collect();
            let arch = Architecture {
                input_dim: d,
                hidden,
                activation: act,
                hidden_bias: rng.below(2) == 0,
                output_bias: rng.below(2) == 0,
                skip: rng.below(2) == 0,
                frozen_layers,
                frozen_skip: rng.below(4) == 0,
            };
            let net = arch
                .build(|_, fan_in, _| rng.uniform(-1.5, 1.5) / (fan_in as f64).sqrt())
                .unwrap();
            let x: Vec<f64> = (0..n * d).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let data = Dataset::new(d, x, y, "fd").unwrap();
            if min_relu_z(&net, &data) < 1e-3 || net.param_count() == 0 {
                continue;
            }
            done += 1;
            let theta = net.params();
            let p = theta.len();
            let unit = |j: usize| {
                let mut e = vec![0.0; p];
                e[j] = 1.0;
                e
            };
            let v: Vec<f64> = (0..p).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let x0 = data.x(0).to_vec();
            let h = |t: &[f64]| net.with_params(t).unwrap().eval(&x0);
            let g = gradient(&net, &x0);
            let g_fd: Vec<f64> = (0..p).map(|j| fd(h, &theta, &unit(j), eps)).collect();
            worst[0] = worst[0].max(rel_err(&g, &g_fd));
            let hv = hvp(&net, &x0, &v);
            let hv_fd: Vec<f64> = (0..p)
                .map(|j| {
                    fd(
                        |t: &[f64]| gradient(&net.with_params(t).unwrap(), &x0)[j],
                        &theta,
                        &v,
                        eps,
                    )
                })
                .collect();
            worst[1] = worst[1].max(rel_err(&hv, &hv_fd));
            let direct: f64 = (0..n)
                .map(|i| gradient(&net, data.x(i)).iter().map(|a| a * a).sum::<f64>())
                .sum::<f64>()
                / n as f64;
            let r = reg(&net, &data).unwrap();
            worst[2] = worst[2].max((r - direct).abs() / direct.max(1e-3));
            let (_, gr) = reg_and_gradient(&net, &data).unwrap();
            let gr_fd: Vec<f64> = (0..p)
                .map(|j| {
                    fd(
                        |t: &[f64]| reg(&net.with_params(t).unwrap(), &data).unwrap(),
                        &theta,
                        &unit(j),
                        eps,
                    )
                })
                .collect();
            worst[3] = worst[3].max(rel_err(&gr, &gr_fd));
        }
        println!(
            "{:<10} {:>12.2e} {:>12.2e} {:>12.2e} {:>12.2e}",
            act.name(),
            worst[0],
            worst[1],
            worst[2],
            worst[3]
        );
    }
    println!("(grad h, H v, grad reg: max_j |exact - fd| / max(max_j |fd|, 1e-3); reg: against Σ||∇h_i||²/n)");
}
