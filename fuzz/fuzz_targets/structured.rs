//! Random valid networks and data (built with `arbitrary`, small sizes) through the
//! science and the run driver: `analysis::analyze`, `settle::settle` (a few
//! iterations) and one short `train::Run` (the run driver the command line, Python and
//! the browser use). Weights and data are mostly moderate numbers; some inputs take raw
//! f64 bit patterns (huge, tiny, subnormal values) to reach overflow. Any of these may
//! return an error; none may panic, hang or return a NaN where it reports success.
#![no_main]
use arbitrary::{Arbitrary, Unstructured};
use labelnoise_core::analysis::{analyze, AnalyzeOptions};
use labelnoise_core::settle::{settle, SettleOptions};
use labelnoise_core::train::{NoiseDist, Run, Silent, TrainConfig};
use labelnoise_core::{Activation, Dataset, Layer, Network, Skip};
use libfuzzer_sys::fuzz_target;

/// A number: usually k/64 for a small integer k, sometimes any f64 bit pattern.
fn number(u: &mut Unstructured<'_>) -> arbitrary::Result<f64> {
    if u.ratio(1, 16)? {
        Ok(f64::from_bits(u64::arbitrary(u)?))
    } else {
        Ok(f64::from(i16::arbitrary(u)?) / 64.0)
    }
}

fn numbers(u: &mut Unstructured<'_>, n: usize) -> arbitrary::Result<Vec<f64>> {
    (0..n).map(|_| number(u)).collect()
}

#[derive(Debug)]
struct Case {
    net: Network,
    data: Dataset,
    config: TrainConfig,
    settle_iter: usize,
    fit_iter: usize,
}

fn case(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Case>> {
    let dim = u.int_in_range(1..=2)?;
    let depth = u.int_in_range(1..=2)?;
    let activation = *u.choose(&[
        Activation::Relu,
        Activation::Tanh,
        Activation::Logistic,
        Activation::Identity,
    ])?;
    let mut layers = Vec::new();
    let mut in_dim = dim;
    for l in 0..=depth {
        let out_dim = if l == depth {
            1
        } else {
            u.int_in_range(1..=4)?
        };
        let weight = numbers(u, in_dim * out_dim)?;
        let bias = if bool::arbitrary(u)? {
            Some(numbers(u, out_dim)?)
        } else {
            None
        };
        layers.push(Layer {
            in_dim,
            out_dim,
            weight,
            bias,
            activation: if l == depth {
                Activation::Identity
            } else {
                activation
            },
            trainable: l == depth || u.ratio(7, 8)?,
        });
        in_dim = out_dim;
    }
    let skip = if bool::arbitrary(u)? {
        Some(Skip {
            weight: numbers(u, dim)?,
            trainable: bool::arbitrary(u)?,
        })
    } else {
        None
    };
    let Ok(net) = Network::new(dim, layers, skip, "fuzz") else {
        return Ok(None);
    };
    let n = u.int_in_range(1..=5)?;
    let Ok(data) = Dataset::new(dim, numbers(u, n * dim)?, numbers(u, n)?, "fuzz") else {
        return Ok(None);
    };
    let config = TrainConfig {
        lr: *u.choose(&[1e-3, 1e-2, 0.1, 1.0, 10.0, 1e3, 1e300])?,
        steps: u.int_in_range(1..=16)?,
        noise: *u.choose(&[0.0, 0.1, 1.0, 1e300])?,
        noise_dist: *u.choose(&[
            NoiseDist::Rademacher,
            NoiseDist::Uniform,
            NoiseDist::Gaussian,
        ])?,
        batch: u.int_in_range(1..=n)?,
        two_copies: u.ratio(1, 4)?,
        explicit_reg: *u.choose(&[0.0, 0.0, 0.1, 1e300])?,
        explicit_reg_sampled: bool::arbitrary(u)?,
        seed: u64::arbitrary(u)?,
        log_points: u.int_in_range(2..=4)?,
        ..TrainConfig::default()
    };
    Ok(Some(Case {
        net,
        data,
        config,
        settle_iter: u.int_in_range(1..=4)?,
        fit_iter: u.int_in_range(1..=4)?,
    }))
}

fn not_nan(what: &str, v: f64, case: &Case) {
    assert!(!v.is_nan(), "{what} is NaN for {case:?}");
}

fuzz_target!(|bytes: &[u8]| {
    let mut u = Unstructured::new(bytes);
    let Ok(Some(case)) = case(&mut u) else {
        return;
    };
    // `LABELNOISE_FUZZ_SHOW=1 .../structured FILE` prints the decoded case (to turn a
    // crashing input into a readable regression test).
    static SHOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *SHOW.get_or_init(|| std::env::var_os("LABELNOISE_FUZZ_SHOW").is_some()) {
        eprintln!("{case:#?}");
    }
    if let Ok(a) = analyze(&case.net, &case.data, &AnalyzeOptions::default()) {
        not_nan("train_loss", a.train_loss, &case);
        not_nan("reg", a.reg, &case);
        not_nan("null_reg_grad_norm", a.null_reg_grad_norm, &case);
    }
    let opts = SettleOptions {
        max_iter: case.settle_iter,
        max_fit_iter: case.fit_iter,
        ..SettleOptions::default()
    };
    if let Ok(r) = settle(&case.net, &case.data, &opts) {
        not_nan("settle end_reg", r.end_reg, &case);
    }
    if let Ok(run) = Run::new(case.net.clone(), case.data.clone(), &case.config) {
        if let Ok(outcome) = run.execute(&mut Silent) {
            for p in outcome.network.params() {
                assert!(p.is_finite(), "a trained network holds {p} for {case:?}");
            }
        }
    }
});
