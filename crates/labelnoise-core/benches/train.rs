//! SGD step throughput: `cargo bench -p labelnoise-core --bench train`.
//!
//! Prints ns/step (best of three timings) for the paper's workload — the 12 `fig1`
//! points, one hidden relu layer of width m with output bias and skip, rademacher
//! σ = 0.5, η = 1e-3, batch 1 — on the fused kernel, the general path, a plain Rust
//! two-pass loop, a plain C two-pass loop built with `cc -O3 -march=native`, and a
//! hand-tuned one-sweep AVX-512 C loop built with `cc -O3 -mavx512f -mfma` (the C loops
//! are skipped when no C compiler is found, the AVX-512 one also on CPUs without it); then a dying-units run (most units at ~1e-305) with and
//! without the subnormal guard, a depth-3 width-256 tanh network on the general path
//! with its achieved GFLOP/s, and the step with explicit regularization (exact ∇reg over
//! all 12 points) on the `reproduce explicit` network against a plain step.
//! `LABELNOISE_BENCH_SCALE=0.1` shortens every run.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use labelnoise_core::train::{init_network, Kernel, TrainConfig, TrainRng, Trainer};
use labelnoise_core::{builtin, Activation, Architecture, Dataset, Network};

fn arch(hidden: Vec<usize>, act: Activation) -> Architecture {
    Architecture {
        input_dim: 1,
        hidden,
        activation: act,
        hidden_bias: true,
        output_bias: true,
        skip: true,
        frozen_layers: vec![],
        frozen_skip: false,
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        lr: 1e-3,
        noise: 0.5,
        steps: u64::MAX,
        ..TrainConfig::default()
    }
}

/// PyTorch's default initialisation times min(1, 16/√m): at m = 4096 the unscaled
/// network has ||∇h||² ≈ 2000 and η = 1e-3 diverges (2η||∇h||² > 2).
fn init_scale(m: usize) -> f64 {
    (16.0 / (m as f64).sqrt()).min(1.0)
}

fn scale() -> f64 {
    std::env::var("LABELNOISE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// Best-of-three ns/step of `steps` steps, after a warm-up of steps/10.
fn time_trainer(
    net: &Network,
    data: &Dataset,
    cfg: &TrainConfig,
    kernel: Kernel,
    steps: u64,
) -> f64 {
    time_trainer_reps(net, data, cfg, kernel, steps, 3)
}

/// Best of `reps` timings of [`time_trainer`]'s kind.
fn time_trainer_reps(
    net: &Network,
    data: &Dataset,
    cfg: &TrainConfig,
    kernel: Kernel,
    steps: u64,
    reps: usize,
) -> f64 {
    let valid = cfg.check(net, data).expect("valid config");
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let mut t = Trainer::with_kernel(net.clone(), data.clone(), valid.clone(), kernel)
            .expect("kernel applies");
        t.run_until(steps / 10);
        let start = Instant::now();
        let status = t.run_until(steps / 10 + steps);
        let ns = start.elapsed().as_nanos() as f64 / steps as f64;
        black_box(t.params());
        assert_eq!(status, labelnoise_core::train::RunStatus::Ok);
        best = best.min(ns);
    }
    best
}

/// The plain Rust yardstick: the same arithmetic as a straightforward two-pass loop
/// (forward, then update), compiled for the baseline target like any crate.
fn time_plain_rust(net: &Network, data: &Dataset, steps: u64, reps: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let layers = net.layers();
        let (mut a, mut b) = (layers[0].weight.clone(), layers[0].bias.clone().unwrap());
        let mut c = layers[1].weight.clone();
        let mut bout = layers[1].bias.as_ref().unwrap()[0];
        let mut s = net.skip().unwrap().weight[0];
        let (xs, ys) = (data.xs(), data.ys());
        // Work on slices, as a plain loop would (no Vec header reloads).
        let (a, b, c) = (&mut a[..], &mut b[..], &mut c[..]);
        let mut rng = TrainRng::new(0);
        let (lr, sigma) = (1e-3, 0.5);
        let total = steps + steps / 10;
        let mut start = Instant::now();
        for t in 0..total {
            if t == steps / 10 {
                start = Instant::now();
            }
            let i = rng.index(xs.len());
            let z = sigma * rng.unit_noise(labelnoise_core::train::NoiseDist::Rademacher);
            let x = xs[i];
            let mut h = bout + s * x;
            for j in 0..a.len() {
                h += c[j] * (a[j] * x + b[j]).max(0.0);
            }
            let g = 2.0 * lr * (h - ys[i] - z);
            for j in 0..a.len() {
                let u = a[j] * x + b[j];
                let (r, d) = if u > 0.0 { (u, c[j]) } else { (0.0, 0.0) };
                c[j] -= g * r;
                a[j] -= g * d * x;
                b[j] -= g * d;
            }
            bout -= g;
            s -= g * x;
        }
        let ns = start.elapsed().as_nanos() as f64 / steps as f64;
        black_box((&*a, &*b, &*c, bout, s));
        best = best.min(ns);
    }
    best
}

/// Builds a C yardstick from `benches/{name}.c` with `flags` into a temporary directory;
/// `None` when there is no C compiler or it fails.
fn build_c(name: &str, flags: &[&str]) -> Option<PathBuf> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("benches/{name}.c"));
    let dir = std::env::temp_dir().join(format!("labelnoise-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let exe = dir.join(name);
    let ok = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .arg("-lm")
        .status()
        .ok()?
        .success();
    ok.then_some(exe)
}

/// Whether this CPU runs AVX-512F (the hand-tuned yardstick's instruction set).
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn time_c(exe: &PathBuf, m: usize, steps: u64, reps: usize) -> Option<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let out = Command::new(exe)
            .arg(m.to_string())
            .arg(steps.to_string())
            .arg(init_scale(m).to_string())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        best = best.min(text.split_whitespace().next()?.parse().ok()?);
    }
    Some(best)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1}"))
}

/// Rounds of the main table.
const ROUNDS: usize = 5;

fn main() {
    let data = builtin::dataset("fig1").expect("built-in");
    let sc = scale();
    let c_exe = build_c("yardstick", &["-O3", "-march=native"]);
    let tuned_exe = if has_avx512() {
        build_c("yardstick_avx512", &["-O3", "-mavx512f", "-mfma"])
    } else {
        None
    };
    println!("SGD step throughput, ns/step, best of {ROUNDS} interleaved rounds (fig1, n = 12, relu, bias + skip, rademacher σ = 0.5, η = 1e-3, batch 1, f64)");
    println!("SIMD level chosen at run time: {:?}", pulp::Arch::new());
    if c_exe.is_none() {
        println!("(no C compiler found: C yardsticks skipped)");
    }
    if c_exe.is_some() && tuned_exe.is_none() {
        println!(
            "(no AVX-512F on this CPU or the compiler refused it: hand-tuned C yardstick skipped)"
        );
    }
    println!(
        "C -O3: the plain two-pass loop (benches/yardstick.c, -march=native); C AVX-512: one \
         sweep per step, intrinsics, FMAs (benches/yardstick_avx512.c)"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>12} {:>10} {:>10} {:>12} {:>13} {:>14} {:>12}",
        "m",
        "fused",
        "general",
        "plain Rust",
        "C -O3",
        "C AVX-512",
        "fused/C -O3",
        "fused/AVX-512",
        "general/fused",
        "Rust/fused"
    );
    for &(m, steps) in &[(16usize, 20_000_000u64), (256, 4_000_000), (4096, 400_000)] {
        let steps = ((steps as f64 * sc) as u64).max(1000);
        let net = init_network(&arch(vec![m], Activation::Relu), 0, init_scale(m)).expect("net");
        let cfg = config();
        // Rounds: every variant once per round, best of ROUNDS each, so that a slow spell
        // of the shared machine hits all of them rather than one.
        let (mut fused, mut general, mut plain) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        let (mut c, mut tuned) = (
            c_exe.as_ref().map(|_| f64::INFINITY),
            tuned_exe.as_ref().map(|_| f64::INFINITY),
        );
        for _ in 0..ROUNDS {
            fused = fused.min(time_trainer_reps(
                &net,
                &data,
                &cfg,
                Kernel::Fused,
                steps,
                1,
            ));
            general = general.min(time_trainer_reps(
                &net,
                &data,
                &cfg,
                Kernel::General,
                steps,
                1,
            ));
            plain = plain.min(time_plain_rust(&net, &data, steps, 1));
            let once = |exe: &Option<PathBuf>, best: Option<f64>| {
                let t = exe.as_ref().and_then(|exe| time_c(exe, m, steps, 1));
                best.zip(t).map(|(b, t)| b.min(t))
            };
            c = once(&c_exe, c);
            tuned = once(&tuned_exe, tuned);
        }
        let ratio = |y: Option<f64>| y.map_or("-".into(), |y| format!("{:.2}", fused / y));
        println!(
            "{:>6} {:>10.1} {:>10.1} {:>12.1} {:>10} {:>10} {:>12} {:>13} {:>14.2} {:>12.2}",
            m,
            fused,
            general,
            plain,
            fmt_opt(c),
            fmt_opt(tuned),
            ratio(c),
            ratio(tuned),
            general / fused,
            plain / fused
        );
    }

    // Tanh: the fused kernel keeps φ, φ' of the last pass (one tanh per unit and step).
    println!();
    for &m in &[16usize, 256] {
        let net = init_network(&arch(vec![m], Activation::Tanh), 0, 1.0).expect("net");
        let steps = ((4_000_000.0 / m as f64 * 16.0 * sc / 4.0) as u64).max(1000);
        let fused = time_trainer(&net, &data, &config(), Kernel::Fused, steps);
        let general = time_trainer(&net, &data, &config(), Kernel::General, steps);
        println!("tanh, m = {m:>4}: fused {fused:>8.1} ns/step, general {general:>8.1} ns/step");
    }

    // Label schemes on the fused relu kernel, m = 100 (the Figure 1 width): ratio of each
    // to rademacher label noise, interleaved rounds in this run.
    println!();
    {
        let net = init_network(&arch(vec![100], Activation::Relu), 0, 1.0).expect("net");
        let steps = ((4_000_000.0 * sc) as u64).max(1000);
        let schemes: Vec<(&str, TrainConfig)> = vec![
            ("rademacher", config()),
            (
                "plain (σ = 0)",
                TrainConfig {
                    noise: 0.0,
                    ..config()
                },
            ),
            (
                "uniform",
                TrainConfig {
                    noise_dist: labelnoise_core::train::NoiseDist::Uniform,
                    ..config()
                },
            ),
            (
                "two copies",
                TrainConfig {
                    two_copies: true,
                    ..config()
                },
            ),
            (
                "three copies",
                TrainConfig {
                    copies: vec![-0.6, 0.0, 0.6],
                    ..config()
                },
            ),
        ];
        let mut best = vec![f64::INFINITY; schemes.len()];
        for _ in 0..ROUNDS {
            for (k, (_, cfg)) in schemes.iter().enumerate() {
                best[k] = best[k].min(time_trainer_reps(&net, &data, cfg, Kernel::Fused, steps, 1));
            }
        }
        println!("label schemes, fused relu m = 100 (ns/step; ratio to rademacher in this run):");
        for ((name, _), t) in schemes.iter().zip(&best) {
            println!("  {name:<14} {t:>8.1} ns/step  {:>5.2}x", t / best[0]);
        }
    }

    // Explicit regularization on the `reproduce explicit` network (relu, width 32, skip and
    // output bias): σ = 0, λ = 10 η σ² with σ = 0.5, ∇reg exact over the n = 12 points.
    println!();
    let net = init_network(&arch(vec![32], Activation::Relu), 0, 1.0).expect("net");
    let reg_cfg = TrainConfig {
        noise: 0.0,
        explicit_reg: 10.0 * 1e-3 * 0.25,
        ..config()
    };
    let steps = ((400_000.0 * sc) as u64).max(1000);
    let explicit = time_trainer(&net, &data, &reg_cfg, Kernel::General, steps);
    let steps = ((10_000_000.0 * sc) as u64).max(1000);
    let plain = time_trainer(&net, &data, &config(), Kernel::Fused, steps);
    let plain_general = time_trainer(&net, &data, &config(), Kernel::General, steps);
    println!(
        "explicit-reg step, width 32, n=12: {explicit:.0} ns/step; plain step {plain:.1} ns \
         (fused; general path {plain_general:.1} ns); ratio {:.1}",
        explicit / plain
    );

    // Dying units: 3/4 of the units start at ~1e-305, so products such as g·c·x are subnormal.
    println!();
    println!("Dying units (m = 256, 192 units at ~1e-305), fused kernel, ns/step");
    let m = 256;
    let steps = ((2_000_000.0 * sc) as u64).max(1000);
    let mut net = init_network(&arch(vec![m], Activation::Relu), 0, 1.0).expect("net");
    let mut theta = net.params();
    for j in 64..m {
        for block in 0..3 {
            theta[block * m + j] *= 1e-305;
        }
    }
    net.set_params(&theta).expect("finite");
    let healthy = init_network(&arch(vec![m], Activation::Relu), 0, 1.0).expect("net");
    let on = time_trainer(&net, &data, &config(), Kernel::Fused, steps);
    let off_cfg = TrainConfig {
        flush_threshold: 0.0,
        ..config()
    };
    let off = time_trainer(&net, &data, &off_cfg, Kernel::Fused, steps);
    let base = time_trainer(&healthy, &data, &config(), Kernel::Fused, steps);
    let gen_on = time_trainer(&net, &data, &config(), Kernel::General, steps);
    let gen_off = time_trainer(&net, &data, &off_cfg, Kernel::General, steps);
    println!("  healthy network (no tiny units):           {base:>8.1}");
    println!(
        "  dying units, guard on (1e-150, default):   {on:>8.1}  ({:.2}x healthy)",
        on / base
    );
    println!(
        "  dying units, guard off (threshold 0):      {off:>8.1}  ({:.2}x healthy)",
        off / base
    );
    println!("  general path, guard on / off:              {gen_on:>8.1} / {gen_off:.1}");

    // Depth-3 width-256 tanh on the general path.
    println!();
    let widths = vec![256, 256, 256];
    let net = init_network(&arch(widths.clone(), Activation::Tanh), 0, 1.0).expect("net");
    let steps = ((20_000.0 * sc) as u64).max(100);
    let ns = time_trainer(&net, &data, &config(), Kernel::General, steps);
    // Per weight: forward 2 flops, update 3 (two products, one difference), and 2 more
    // for g_l = W_lᵀ δ_l on every layer but the first.
    let mut flops = 0.0;
    let mut in_dim = 1;
    for (l, &w) in widths.iter().chain(std::iter::once(&1)).enumerate() {
        let weights = (in_dim * w) as f64;
        flops += weights * if l > 0 { 7.0 } else { 5.0 };
        in_dim = w;
    }
    println!(
        "Depth-3 width-256 tanh (p = {}), general path: {:.0} ns/step, {:.2} GFLOP/s ({:.0} flops/step, tanh not counted)",
        net.param_count(),
        ns,
        flops / ns,
        flops
    );
}
