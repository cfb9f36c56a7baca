//! Baselines for the package's benchmark (python/bench/bench.py): the same work as
//! `train`, `analyze` and `net(x)` timed inside Rust, so the benchmark can report the
//! Python call's time as a ratio to the library's own, measured in the same process.

use std::time::Instant;

use labelnoise_core::analysis::{analyze_checked, AnalyzeOptions};
use labelnoise_core::train::{TrainConfig, Trainer};
use pyo3::prelude::*;

use crate::errors::{core_error, guard_py};
use crate::net::PyNetwork;

/// Seconds the library's training loop (`Trainer::run_until`, no run driver, no
/// metrics) takes for `steps` steps of SGD with rademacher label noise σ = `noise`,
/// η = `lr`, seed 0, from `net` on (x, y).
#[pyfunction]
pub fn _bench_library_loop(
    py: Python<'_>,
    net: &PyNetwork,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    lr: f64,
    noise: f64,
    steps: u64,
) -> PyResult<f64> {
    guard_py(|| {
        let data = crate::arrays::dataset(x, y)?;
        let config = TrainConfig {
            lr,
            noise,
            steps,
            ..TrainConfig::default()
        };
        let checked = config.check(&net.net, &data).map_err(|e| core_error(&e))?;
        let mut trainer = Trainer::new(net.net.clone(), data, checked);
        Ok(py.detach(|| {
            let t = Instant::now();
            trainer.run_until(steps);
            t.elapsed().as_secs_f64()
        }))
    })
}

/// Seconds per call of the library's `analyze` on (x, y), the best of `reps`.
#[pyfunction]
pub fn _bench_library_analyze(
    net: &PyNetwork,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    reps: usize,
) -> PyResult<f64> {
    guard_py(|| {
        let data = crate::arrays::dataset(x, y)?;
        let opts = AnalyzeOptions::default()
            .check()
            .map_err(|e| core_error(&e))?;
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let a = analyze_checked(&net.net, &data, &opts).map_err(|e| core_error(&e))?;
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(a);
        }
        Ok(best)
    })
}

/// Seconds per evaluation of h on every row of x ((n, d) float64), the best of `reps`:
/// the loop `net(x)` runs, without the Python call around it.
#[pyfunction]
pub fn _bench_library_forward(net: &PyNetwork, x: &Bound<'_, PyAny>, reps: usize) -> PyResult<f64> {
    guard_py(|| {
        let (_, d, xa) = crate::arrays::inputs(x)?;
        xa.with_slice(|xs| {
            let mut best = f64::INFINITY;
            for _ in 0..reps.max(1) {
                let t = Instant::now();
                let out: Vec<f64> = xs.chunks_exact(d).map(|row| net.net.eval(row)).collect();
                best = best.min(t.elapsed().as_secs_f64());
                std::hint::black_box(out);
            }
            best
        })
    })
}
