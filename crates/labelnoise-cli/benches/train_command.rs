//! The `train` command against the library loop it drives:
//! `cargo bench -p labelnoise-cli --bench train_command`.
//!
//! For the workload (the 12 `fig1` points, one hidden relu layer of width m with
//! output bias and skip, rademacher σ = 0.5, η = 1e-3, batch 1) it times
//! - the library loop: `Trainer::run_until` over all the steps, nothing else;
//! - `labelnoise train ... --quiet` as a process: start-up, metrics at the default 200
//!   log-spaced steps (reg, the null-space projection, the shape), and writing the run
//!   directory, all included;
//!
//! and prints both, the command's overhead ratio, and the command's own time split
//! (its summary's training-only steps/s), for a short and a 10x longer run per width (the
//! command's costs are mostly per run, not per step). Best of three rounds, library and
//! command alternating. Then `--seeds K` for K = 1, 2, 4, … up to the number of cores:
//! aggregate steps/s against K = 1 (best of three). The machines are shared, so only
//! ratios from the same run mean much. `LABELNOISE_BENCH_SCALE=0.1` shortens it.

use std::process::Command;
use std::time::Instant;

use labelnoise_core::train::{init_network, TrainConfig, Trainer};
use labelnoise_core::{builtin, Activation, Architecture};

/// The core bench's initialisation: PyTorch's default times min(1, 16/√m) (unscaled,
/// m = 4096 diverges at η = 1e-3).
fn init_scale(m: usize) -> f64 {
    (16.0 / (m as f64).sqrt()).min(1.0)
}

fn scale() -> f64 {
    std::env::var("LABELNOISE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// Seconds for `steps` steps of the library loop (one timing).
fn library(m: usize, steps: u64) -> f64 {
    let arch = Architecture::shallow(m, Activation::Relu);
    let data = builtin::dataset("fig1").expect("built-in");
    let net = init_network(&arch, 0, init_scale(m)).expect("net");
    let cfg = TrainConfig {
        lr: 1e-3,
        noise: 0.5,
        steps,
        ..TrainConfig::default()
    };
    let valid = cfg.check(&net, &data).expect("valid config");
    let mut t = Trainer::new(net, data, valid);
    let start = Instant::now();
    t.run_until(steps);
    let s = start.elapsed().as_secs_f64();
    std::hint::black_box(t.params());
    s
}

/// Seconds of the whole `labelnoise train` process, and its summary's training-only
/// steps/s (one run).
fn command(m: usize, steps: u64, dir: &std::path::Path) -> (f64, f64) {
    {
        let start = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_labelnoise"))
            .args(["train", "--data", "fig1", "--hidden", &m.to_string()])
            .args(["--activation", "relu", "--skip", "--output-bias"])
            .args(["--lr", "1e-3", "--noise", "0.5", "--seed", "0"])
            .args(["--init-scale", &init_scale(m).to_string()])
            .args(["--steps", &steps.to_string(), "--quiet", "--force", "--out"])
            .arg(dir)
            .status()
            .expect("run labelnoise");
        let s = start.elapsed().as_secs_f64();
        assert!(status.success(), "labelnoise train failed");
        let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary");
        let summary: serde_json::Value = serde_json::from_str(&text).expect("json");
        let rate = summary["steps_per_second"]
            .as_f64()
            .expect("steps_per_second");
        (s, rate)
    }
}

/// Rounds of the overhead table.
const ROUNDS: usize = 3;

fn main() {
    let sc = scale();
    let dir = std::env::temp_dir().join(format!("labelnoise-bench-cmd-{}", std::process::id()));
    println!("`labelnoise train` (whole process: metrics at 200 log-spaced steps, files written) against the library loop, best of {ROUNDS} interleaved rounds");
    println!(
        "{:>6} {:>10} {:>12} {:>12} {:>16} {:>22}",
        "m", "steps", "library (s)", "command (s)", "command/library", "command training ns/step"
    );
    for &(m, steps) in &[
        (16usize, 5_000_000u64),
        (16, 50_000_000),
        (256, 2_000_000),
        (256, 20_000_000),
        (4096, 200_000),
        (4096, 2_000_000),
    ] {
        let steps = ((steps as f64 * sc) as u64).max(1000);
        // Library and command alternate, so a slow spell of the shared machine hits both.
        let (mut lib, mut cmd, mut rate) = (f64::INFINITY, f64::INFINITY, 0.0);
        for _ in 0..ROUNDS {
            lib = lib.min(library(m, steps));
            let (c, r) = command(m, steps, &dir);
            if c < cmd {
                (cmd, rate) = (c, r);
            }
        }
        println!(
            "{:>6} {:>10} {:>12.3} {:>12.3} {:>16.3} {:>22.1}",
            m,
            steps,
            lib,
            cmd,
            cmd / lib,
            1e9 / rate
        );
    }

    // Several seeds: K runs of the same length in parallel (rayon, one run per thread);
    // throughput is K x steps / wall time of the whole command.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (m, steps) = (256usize, ((20_000_000.0 * sc) as u64).max(1000));
    println!();
    println!("--seeds K at m = {m}, {steps} steps per seed ({cores} cores): aggregate throughput");
    println!(
        "{:>4} {:>10} {:>14} {:>12}",
        "K", "wall (s)", "steps/s", "x (K = 1)"
    );
    let mut base = None;
    let mut k = 1;
    while k <= cores.max(2) {
        let wall = seeds_wall(m, steps, k, &dir);
        let rate = (k as u64 * steps) as f64 / wall;
        let b = *base.get_or_insert(rate);
        println!("{k:>4} {wall:>10.3} {rate:>14.3e} {:>12.2}", rate / b);
        k *= 2;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Wall seconds of `labelnoise train --seeds k` (best of three).
fn seeds_wall(m: usize, steps: u64, k: usize, dir: &std::path::Path) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_labelnoise"))
                .args(["train", "--data", "fig1", "--hidden", &m.to_string()])
                .args(["--activation", "relu", "--skip", "--output-bias"])
                .args(["--lr", "1e-3", "--noise", "0.5", "--seed", "0"])
                .args(["--init-scale", &init_scale(m).to_string()])
                .args(["--seeds", &k.to_string()])
                .args(["--steps", &steps.to_string(), "--quiet", "--force", "--out"])
                .arg(dir)
                .status()
                .expect("run labelnoise");
            assert!(status.success(), "labelnoise train failed");
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
