//! Packed training (`train::packed`): runs trained side by side in vector lanes by
//! `Trainer::run_together` end bit-identical to the same runs trained alone by
//! `Trainer::run_until` — θ, generator, step count and status — for every sampler that
//! packs, with skip and output bias on and off, frozen skip, lanes at different η and σ,
//! diverging lanes, resumes from checkpoints, calls in chunks, and groups that mix runs
//! that cannot share a pack. And one packed update has the moments of paper eq. 3.

mod common;

use labelnoise_core::train::packed::{PACK, PACK_MAX_WIDTH};
use labelnoise_core::train::{
    init_network, Kernel, NoiseDist, RunStatus, TrainConfig, TrainRng, Trainer,
};
use labelnoise_core::{builtin, Activation, Architecture, Dataset, Network};

fn net(
    m: usize,
    act: Activation,
    skip: bool,
    out_bias: bool,
    frozen_skip: bool,
    seed: u64,
) -> Network {
    let arch = Architecture {
        output_bias: out_bias,
        skip,
        frozen_skip,
        ..Architecture::shallow(m, act)
    };
    init_network(&arch, seed, 1.0).unwrap()
}

fn fig1() -> Dataset {
    builtin::dataset("fig1").unwrap()
}

/// Everything a run's future depends on: θ's bits, the generator, the step, the status.
#[derive(Debug, PartialEq)]
struct State {
    theta: Vec<u64>,
    rng: TrainRng,
    step: u64,
    status: Vec<RunStatus>,
}

fn state(t: &Trainer, status: Vec<RunStatus>) -> State {
    let cp = t.checkpoint();
    State {
        theta: cp.theta.iter().map(|v| v.to_bits()).collect(),
        rng: cp.rng,
        step: cp.step,
        status,
    }
}

/// Trains `runs` alone and together through the same chunk ends and compares.
fn check(what: &str, runs: &[(Network, Dataset, TrainConfig)], chunks: &[u64]) {
    let make = || -> Vec<Trainer> {
        runs.iter()
            .map(|(n, d, c)| Trainer::new(n.clone(), d.clone(), c.check(n, d).unwrap()))
            .collect()
    };
    let (mut alone, mut together) = (make(), make());
    let mut alone_status = vec![vec![]; runs.len()];
    let mut together_status = vec![vec![]; runs.len()];
    for &end in chunks {
        for (t, s) in alone.iter_mut().zip(&mut alone_status) {
            s.push(t.run_until(end));
        }
        let mut refs: Vec<&mut Trainer> = together.iter_mut().collect();
        for (s, st) in Trainer::run_together(&mut refs, end)
            .into_iter()
            .zip(&mut together_status)
        {
            st.push(s);
        }
    }
    for (k, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(
            state(a, alone_status[k].clone()),
            state(t, together_status[k].clone()),
            "{what}: run {k} differs packed"
        );
    }
}

/// A sampler's name and the configuration of seed s.
type Scheme = (&'static str, Box<dyn Fn(u64) -> TrainConfig>);

fn cfg(seed: u64, lr: f64, noise: f64, dist: NoiseDist) -> TrainConfig {
    TrainConfig {
        seed,
        lr,
        noise,
        noise_dist: dist,
        steps: 10_000,
        ..TrainConfig::default()
    }
}

#[test]
fn packed_runs_match_lone_runs_for_every_shape_and_sampler() {
    let data = fig1();
    for m in [1, 5, 8, 16, 17, 33, 64] {
        for (skip, out_bias, frozen_skip) in [
            (true, true, false),
            (false, false, false),
            (true, false, false),
            (false, true, false),
            (true, true, true),
        ] {
            let samplers: [Scheme; 4] = [
                (
                    "rademacher",
                    Box::new(|s| {
                        cfg(
                            s,
                            1e-3 * (1.0 + s as f64 / 4.0),
                            0.2 * s as f64,
                            NoiseDist::Rademacher,
                        )
                    }),
                ),
                (
                    "uniform",
                    Box::new(|s| cfg(s, 2e-3, 0.1 + 0.1 * s as f64, NoiseDist::Uniform)),
                ),
                (
                    "copies",
                    Box::new(|s| TrainConfig {
                        copies: vec![0.1 * s as f64, -0.3, 0.7],
                        ..cfg(s, 1e-3, 0.0, NoiseDist::Rademacher)
                    }),
                ),
                (
                    "two copies",
                    Box::new(|s| TrainConfig {
                        two_copies: true,
                        ..cfg(s, 1e-3, 0.5, NoiseDist::Rademacher)
                    }),
                ),
            ];
            for (name, make) in &samplers {
                let runs: Vec<_> = (0..PACK as u64)
                    .map(|s| {
                        (
                            net(m, Activation::Relu, skip, out_bias, frozen_skip, 100 + s),
                            data.clone(),
                            make(s),
                        )
                    })
                    .collect();
                check(
                    &format!("m {m} skip {skip} bias {out_bias} frozen {frozen_skip} {name}"),
                    &runs,
                    &[1, 2, 130, 700],
                );
            }
        }
    }
}

#[test]
fn partial_packs_and_mixed_groups_match_lone_runs() {
    let data = fig1();
    let r = |m: usize, act: Activation, seed: u64, c: TrainConfig| {
        (net(m, act, true, true, false, seed), data.clone(), c)
    };
    let rad = |s: u64| cfg(s, 1e-3, 0.5, NoiseDist::Rademacher);
    let mut runs = vec![];
    // 11 compatible runs (a pack of 8 and one of 3), interleaved with runs that train
    // alone: another width, tanh, Gaussian noise, a run too wide to pack, and a uniform
    // run (another pack key, a pack of one).
    for s in 0..11 {
        runs.push(r(16, Activation::Relu, s, rad(s)));
        match s {
            2 => runs.push(r(20, Activation::Relu, s, rad(s))),
            4 => runs.push(r(16, Activation::Tanh, s, rad(s))),
            6 => runs.push(r(
                16,
                Activation::Relu,
                s,
                cfg(s, 1e-3, 0.5, NoiseDist::Gaussian),
            )),
            8 => runs.push(r(PACK_MAX_WIDTH + 1, Activation::Relu, s, rad(s))),
            9 => runs.push(r(
                16,
                Activation::Relu,
                s,
                cfg(s, 1e-3, 0.5, NoiseDist::Uniform),
            )),
            _ => {}
        }
    }
    check("mixed", &runs, &[300, 301, 2000]);
    // Two runs only; and one.
    check("two", &runs[..2], &[500]);
    check("one", &runs[..1], &[500]);
}

#[test]
fn lanes_that_diverge_stop_alone_and_the_others_go_on() {
    let data = fig1();
    // Larger η diverge sooner; lanes 0, 3 and 6 keep a small one.
    let runs: Vec<_> = (0..PACK as u64)
        .map(|s| {
            let lr = if s % 3 == 0 {
                1e-3
            } else {
                0.05 * (1.0 + s as f64)
            };
            (
                net(16, Activation::Relu, true, true, false, s),
                data.clone(),
                cfg(s, lr, 1.0, NoiseDist::Rademacher),
            )
        })
        .collect();
    // Confirm that the lanes do diverge, at different steps, and some do not.
    let mut steps = vec![];
    for (n, d, c) in &runs {
        let mut t = Trainer::new(n.clone(), d.clone(), c.check(n, d).unwrap());
        steps.push(t.run_until(5000));
    }
    let diverged: Vec<u64> = steps
        .iter()
        .filter_map(|s| match s {
            RunStatus::Diverged { step } => Some(*step),
            RunStatus::Ok => None,
        })
        .collect();
    assert!(diverged.len() >= 3 && diverged.len() < PACK, "{steps:?}");
    assert!(diverged.iter().any(|&s| s != diverged[0]), "{steps:?}");
    check("diverging", &runs, &[1000, 5000, 6000]);
}

#[test]
fn packed_runs_resume_from_checkpoints_bit_for_bit() {
    let data = fig1();
    let runs: Vec<_> = (0..5u64)
        .map(|s| {
            (
                net(24, Activation::Relu, true, true, false, s),
                data.clone(),
                cfg(s, 2e-3, 0.5, NoiseDist::Rademacher),
            )
        })
        .collect();
    let mut straight: Vec<Trainer> = runs
        .iter()
        .map(|(n, d, c)| Trainer::new(n.clone(), d.clone(), c.check(n, d).unwrap()))
        .collect();
    {
        let mut refs: Vec<&mut Trainer> = straight.iter_mut().collect();
        Trainer::run_together(&mut refs, 777);
    }
    let mut resumed: Vec<Trainer> = straight
        .iter()
        .zip(&runs)
        .map(|(t, (n, d, _))| Trainer::resume(n.clone(), d.clone(), t.checkpoint()).unwrap())
        .collect();
    assert!(resumed.iter().all(|t| t.kernel() == Kernel::Fused));
    // One resumed run goes on alone, the rest packed; the straight ones all packed.
    resumed[0].run_until(3000);
    {
        let mut refs: Vec<&mut Trainer> = resumed[1..].iter_mut().collect();
        Trainer::run_together(&mut refs, 3000);
        let mut refs: Vec<&mut Trainer> = straight.iter_mut().collect();
        Trainer::run_together(&mut refs, 3000);
    }
    for (k, (a, b)) in straight.iter().zip(&resumed).enumerate() {
        assert_eq!(a.checkpoint(), b.checkpoint(), "run {k}");
    }
}

/// The moments test of `tests/train.rs` (`update_moments_match_eq3`) on packed updates:
/// one step from θ over many seeds has the moments of paper eq. 3
/// (`common::assert_update_moments_match_eq3`).
#[test]
fn packed_update_moments_match_eq3() {
    let data = Dataset::new(1, vec![-1.0, 0.3, 1.2], vec![0.5, -0.2, 0.9], "three").unwrap();
    let net = net(3, Activation::Relu, true, true, false, 5);
    let (lr, sigma) = (0.01, 0.5);
    for dist in [NoiseDist::Rademacher, NoiseDist::Uniform] {
        let mut trainers: Vec<Trainer> = (0..20_000u64)
            .map(|seed| {
                let c = cfg(seed, lr, sigma, dist);
                Trainer::new(net.clone(), data.clone(), c.check(&net, &data).unwrap())
            })
            .collect();
        let mut refs: Vec<&mut Trainer> = trainers.iter_mut().collect();
        Trainer::run_together(&mut refs, 1);
        let after: Vec<Vec<f64>> = trainers.iter().map(|t| t.params().to_vec()).collect();
        common::assert_update_moments_match_eq3(&net, &data, lr, sigma, &after, &dist.to_string());
    }
}
