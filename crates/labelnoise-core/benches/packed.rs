//! Packed training throughput: `cargo bench -p labelnoise-core --bench packed`.
//!
//! Seed-steps per second per core of K runs trained one at a time on the fused relu
//! kernel (`Trainer::run_until` on each) against the same runs trained side by side in
//! vector lanes (`Trainer::run_together`, `train::packed`), both timed in this run on
//! this machine, for the paper's workload: the 12 `fig1` points, one hidden relu layer of
//! width m with output bias and skip, rademacher σ = 0.5, η = 1e-3, batch 1, seeds
//! 0..K. Best of three timings each; the ratio is what the choice of
//! `PACK_MAX_WIDTH` and `PACK_MIN_RUNS` rests on. `LABELNOISE_BENCH_SCALE=0.1`
//! shortens every run.

use std::time::Instant;

use labelnoise_core::train::packed::PACK;
use labelnoise_core::train::{init_network, Kernel, TrainConfig, Trainer};
use labelnoise_core::{builtin, Activation, Architecture};

fn trainers(m: usize, k: usize) -> Vec<Trainer> {
    let arch = Architecture::shallow(m, Activation::Relu);
    let data = builtin::dataset("fig1").expect("built in");
    (0..k as u64)
        .map(|seed| {
            let net = init_network(&arch, seed, 1.0).expect("valid architecture");
            let cfg = TrainConfig {
                lr: 1e-3,
                noise: 0.5,
                seed,
                steps: u64::MAX,
                ..TrainConfig::default()
            };
            let valid = cfg.check(&net, &data).expect("valid config");
            let t = Trainer::new(net, data.clone(), valid);
            assert_eq!(t.kernel(), Kernel::Fused);
            t
        })
        .collect()
}

/// Best of three: ns per seed-step of `steps` steps of k runs, alone or packed.
fn time(m: usize, k: usize, steps: u64, packed: bool) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let mut ts = trainers(m, k);
        let t0 = Instant::now();
        if packed {
            let mut refs: Vec<&mut Trainer> = ts.iter_mut().collect();
            Trainer::run_together(&mut refs, steps);
        } else {
            for t in &mut ts {
                t.run_until(steps);
            }
        }
        let ns = t0.elapsed().as_secs_f64() * 1e9 / (steps as f64 * k as f64);
        best = best.min(ns);
        std::hint::black_box(&ts);
    }
    best
}

fn main() {
    let scale: f64 = std::env::var("LABELNOISE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    println!("packed vs one seed at a time, fused relu kernel, fig1, ns per seed-step (best of 3)");
    println!(
        "{:>6} {:>5} {:>10} {:>10} {:>8} {:>14}",
        "width", "runs", "alone", "packed", "ratio", "packed Msteps/s"
    );
    for m in [1usize, 4, 8, 16, 32, 64, 128, 256, 512] {
        let steps = ((4e6 * 16.0 / (m.max(16) as f64)) * scale).max(1000.0) as u64;
        let runs: &[usize] = if m == 16 || m == 64 {
            &[2, 4, 8]
        } else {
            &[PACK]
        };
        for &k in runs {
            let alone = time(m, k, steps, false);
            let packed = time(m, k, steps, true);
            println!(
                "{m:>6} {k:>5} {alone:>10.2} {packed:>10.2} {:>7.2}x {:>14.1}",
                alone / packed,
                1e3 / packed
            );
        }
    }
}
