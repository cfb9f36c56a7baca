//! Settle from plain-SGD fits of `fig1` (σ = 0; η = 5e-3, 10⁶ steps, seeds 1-5, the
//! default initialisation) and print one line per run:
//! `cargo run --release -p labelnoise-core --example settle_measure -- [WIDTH...]`
//! (default widths 20 and 100; set `NO_ACTIVE_SET=1` to turn the active set off).

use std::time::Instant;

use labelnoise_core::builtin;
use labelnoise_core::settle::{settle, SettleOptions};
use labelnoise_core::train::{init_network, TrainConfig, Trainer};
use labelnoise_core::{Activation, Architecture};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let widths: Vec<usize> = if args.is_empty() {
        vec![20, 100]
    } else {
        args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?
    };
    let active_set = std::env::var("NO_ACTIVE_SET").is_err();
    let data = builtin::dataset("fig1").ok_or("fig1")?;
    println!("width seed fit_loss start_reg end_reg outcome iterations trials seconds null_grad curve_length theorem1");
    for &width in &widths {
        for seed in 1..=5u64 {
            let arch = Architecture::shallow(width, Activation::Relu);
            let net = init_network(&arch, seed, 1.0)?;
            let cfg = TrainConfig {
                lr: 5e-3,
                steps: 1_000_000,
                noise: 0.0,
                seed,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(net.clone(), data.clone(), cfg.check(&net, &data)?);
            trainer.run_until(cfg.steps);
            let fitted = trainer.network();
            let loss = labelnoise_core::train::metrics(&fitted, &data, cfg.steps)?.train_loss;
            let opts = SettleOptions {
                active_set,
                ..SettleOptions::default()
            };
            let t = Instant::now();
            let r = settle(&fitted, &data, &opts)?;
            let secs = t.elapsed().as_secs_f64();
            let shape = r.analysis.shape.as_ref();
            println!(
                "{width} {seed} {loss:.1e} {:.6} {:.9} {} {} {} {secs:.3} {:.2e} {:.6} {}",
                r.start_reg,
                r.end_reg,
                serde_json::to_string(&r.outcome)?,
                r.iterations,
                r.trials,
                r.analysis.null_reg_grad_norm,
                shape.map_or(f64::NAN, |s| s.curve_length),
                shape.is_some_and(|s| s.theorem1),
            );
        }
    }
    Ok(())
}
