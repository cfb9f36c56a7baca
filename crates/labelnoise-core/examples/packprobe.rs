use labelnoise_core::train::{init_network, TrainConfig, Trainer};
use labelnoise_core::{builtin, Activation, Architecture};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let m: usize = args[1].parse().unwrap();
    let packed = args[2] == "p";
    let steps: u64 = args[3].parse().unwrap();
    let arch = Architecture {
        input_dim: 1,
        hidden: vec![m],
        activation: Activation::Relu,
        hidden_bias: true,
        output_bias: true,
        skip: true,
        frozen_layers: vec![],
        frozen_skip: false,
    };
    let data = builtin::dataset("fig1").unwrap();
    let mut ts: Vec<Trainer> = (0..8u64)
        .map(|seed| {
            let net = init_network(&arch, seed, 1.0).unwrap();
            let cfg = TrainConfig {
                lr: 1e-3,
                noise: 0.5,
                seed,
                steps: u64::MAX,
                ..TrainConfig::default()
            };
            let v = cfg.check(&net, &data).unwrap();
            Trainer::new(net, data.clone(), v)
        })
        .collect();
    let t0 = std::time::Instant::now();
    if packed {
        let mut r: Vec<&mut Trainer> = ts.iter_mut().collect();
        Trainer::run_together(&mut r, steps);
    } else {
        for t in &mut ts {
            t.run_until(steps);
        }
    }
    println!(
        "{:.2} ns/seed-step",
        t0.elapsed().as_secs_f64() * 1e9 / (8.0 * steps as f64)
    );
}
