//! Measures `settle` with and without escapes against long label-noise SGD from the same
//! plain fits (issue 16), one line per start:
//! `cargo run -p labelnoise-experiments --example settle_escape -- DATA UNITS SEEDS...`
//! with DATA `sparse12` (width 50, η 2e-3, σ 0.5), `fig1` or `v8` (the `reproduce
//! settle` setup), UNITS the label-noise SGD length in slow-phase units 1/(η²σ²).
//! Settle options come from the environment: ESCAPE_ROUNDS, ESCAPE_LR, ESCAPE_NOISE,
//! ESCAPE_TIME, ESCAPE_PATIENCE.

use std::time::Instant;

use rayon::prelude::*;

use labelnoise_core::settle::{settle, SettleOptions};
use labelnoise_experiments::common::{
    fig1_data, project_to_manifold, train_to_end, train_with_snapshots, Setup,
};
use labelnoise_experiments::settle_vs_sgd::{sparse12_data, sparse12_setup, v8_data};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().cloned().unwrap_or_else(|| "sparse12".into());
    let units: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(20.0);
    let seeds: Vec<u64> = if args.len() > 2 {
        args[2..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![0, 1, 2]
    };
    let (data, mut setup) = match name.as_str() {
        "sparse12" => (sparse12_data(), sparse12_setup(false, 1.0)),
        "fig1" => (fig1_data(), Setup::full()),
        "v8" => (v8_data(), Setup::full()),
        _ => return Err("DATA is sparse12, fig1 or v8".into()),
    };
    setup.noise_steps = (units / setup.drift_rate()).round() as u64;
    let d = SettleOptions::default().with_remedies();
    let opts = SettleOptions {
        escape_rounds: env("ESCAPE_ROUNDS", d.escape_rounds),
        escape_lr: env("ESCAPE_LR", d.escape_lr),
        escape_noise: env("ESCAPE_NOISE", d.escape_noise),
        escape_time: env("ESCAPE_TIME", d.escape_time),
        escape_patience: env("ESCAPE_PATIENCE", d.escape_patience),
        smooth_taus: match std::env::var("SMOOTH_TAUS") {
            Ok(v) if v == "none" => vec![],
            Ok(v) => v.split(',').map(|t| t.parse()).collect::<Result<_, _>>()?,
            Err(_) => d.smooth_taus.clone(),
        },
        ..d.clone()
    };
    let none = SettleOptions {
        escape_rounds: 0,
        smooth_taus: vec![],
        ..d
    };
    let cancel = labelnoise_core::train::CancelToken::new();
    let lines: Vec<String> = seeds
        .par_iter()
        .map(|&seed| -> Result<String, String> {
            let init = setup.init(seed, false).map_err(e)?;
            let plain = train_with_snapshots(
                init,
                &data,
                &setup.config(seed, 0.0, setup.plain_steps),
                &[],
                &cancel,
                |_, _| Ok(()),
            )
            .map_err(e)?;
            let (start, _) = project_to_manifold(&plain, &data, 50, 1e-12).map_err(e)?;
            let t = Instant::now();
            let steps = if std::env::var("NO_SGD").is_ok() { 1 } else { setup.noise_steps };
            let sgd = train_to_end(
                plain,
                &data,
                &setup.config(seed, setup.noise, steps),
                &cancel,
            )
            .map_err(e)?
            .network;
            let sgd_s = t.elapsed().as_secs_f64();
            let (sgd, _) = project_to_manifold(&sgd, &data, 50, 1e-12).map_err(e)?;
            let sgd_reg = labelnoise_core::regularizer::reg(&sgd, &data).map_err(e)?;
            let t = Instant::now();
            let old = if std::env::var("NO_OLD").is_ok() {
                settle(&start, &data, &SettleOptions { max_iter: 1, ..none.clone() }).map_err(e)?
            } else {
                settle(&start, &data, &none).map_err(e)?
            };
            let old_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let new = settle(&start, &data, &opts).map_err(e)?;
            let new_s = t.elapsed().as_secs_f64();
            let rounds: Vec<String> = new
                .escapes
                .iter()
                .map(|r| format!("{:.2}{}", r.settled_reg.unwrap_or(f64::NAN), if r.accepted { "+" } else { "" }))
                .collect();
            Ok(format!(
                "{name} seed {seed}: start {:.3} | SGD {sgd_reg:.3} ({sgd_s:.1} s) | old {:.3} {} ({old_s:.2} s) ratio {:.3} | new {:.3} {} ({new_s:.2} s) ratio {:.3} time ratio {:.1} smooth {} rounds [{}]",
                old.start_reg,
                old.end_reg,
                old.outcome.name(),
                old.end_reg / sgd_reg,
                new.end_reg,
                new.outcome.name(),
                new.end_reg / sgd_reg,
                sgd_s / new_s,
                new.smoothing.as_ref().map_or("-".to_string(), |m| format!(
                    "{:.2}->{:.2}->{:.2} {} steps {}{} final iters {}",
                    m.stalled_reg, m.smoothed_reg, m.settled_reg, m.outcome, m.steps,
                    if m.accepted { "+" } else { "" }, new.iterations
                )),
                rounds.join(" ")
            ))
        })
        .collect::<Result<_, _>>()?;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
