//! `labelnoise.train`: SGD with label noise through the library's run driver
//! ([`labelnoise_core::train::run`]), one or many seeds in parallel, optionally into the
//! run directory `labelnoise train --out` writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use labelnoise_core::files::check_output_dir;
use labelnoise_core::train::run_dir::{
    seed_dir, write_seed_list, write_seed_summaries, METRICS_COLUMNS,
};
use labelnoise_core::train::start::{Freeze, NetworkSpec};
use labelnoise_core::train::{
    execute_all, whole_steps, CancelToken, Metrics, NoiseDist, Observer, Run, RunConfig, RunDir,
    RunOutcome, RunView, TrainConfig,
};
use labelnoise_core::Network;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{from_json, vec1};
use crate::blocking::run_blocking;
use crate::errors::{core_error, guard_py, Failure};
use crate::net::{path_string, PyNetwork};

/// One finished (or diverged, or cancelled) run.
#[pyclass(module = "labelnoise._labelnoise", name = "Run", frozen)]
pub struct PyRun {
    outcome: RunOutcome,
    initial: Network,
    dir: Option<PathBuf>,
}

/// A metric as a float (NaN where it is not defined for the network).
fn column(rows: &[Metrics], name: &str) -> Vec<f64> {
    rows.iter()
        .map(|m| match name {
            "step" => m.step as f64,
            "train_loss" => m.train_loss,
            "reg" => m.reg,
            "null_reg_grad_norm" => m.null_reg_grad_norm,
            "param_norm" => m.param_norm,
            "curve_length" => m.curve_length.unwrap_or(f64::NAN),
            "convexity_changes" => m.convexity_changes.map_or(f64::NAN, |v| v as f64),
            "kinks" => m.kinks.map_or(f64::NAN, |v| v as f64),
            _ => f64::NAN,
        })
        .collect()
}

/// One metrics row as a dict (None where a metric is not defined).
fn row_dict<'py>(py: Python<'py>, m: &Metrics) -> PyResult<Bound<'py, PyDict>> {
    let text = serde_json::to_string(m)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(from_json(py, &text)?.cast_into::<PyDict>()?)
}

#[pymethods]
impl PyRun {
    /// The final network (the last finite state if the run diverged).
    #[getter]
    fn model(&self) -> PyNetwork {
        PyNetwork::new(self.outcome.network.clone())
    }
    /// The starting network.
    #[getter]
    fn initial_model(&self) -> PyNetwork {
        PyNetwork::new(self.initial.clone())
    }
    /// The columns of `metrics.csv` as 1-D float64 arrays (NaN in empty cells).
    #[getter]
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for name in METRICS_COLUMNS {
            d.set_item(name, vec1(py, column(&self.outcome.metrics, name)))?;
        }
        Ok(d)
    }
    /// `summary.json` as a dict.
    #[getter]
    fn summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = serde_json::to_string(&self.outcome.summary)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(from_json(py, &text)?.unbind())
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.outcome.summary.seed
    }
    /// The run directory, or None when the run was not written (`out=None`).
    #[getter]
    fn dir(&self) -> Option<String> {
        self.dir.as_ref().map(|d| d.display().to_string())
    }
    fn __repr__(&self) -> String {
        let s = &self.outcome.summary;
        format!(
            "Run(seed={}, steps={}, loss={:e}, reg={:e}{})",
            s.seed,
            s.steps,
            s.final_metrics.train_loss,
            s.final_metrics.reg,
            if s.diverged {
                ", diverged"
            } else if s.cancelled {
                ", cancelled"
            } else {
                ""
            }
        )
    }
}

/// Reports a run's progress to Python callables, with the GIL taken for each call.
/// An exception in a callable stops every run (through the shared token) and is raised
/// by `train`.
struct PyObserver {
    progress: Option<Py<PyAny>>,
    callback: Option<Py<PyAny>>,
    error: Arc<Mutex<Option<PyErr>>>,
    cancel: CancelToken,
}

impl PyObserver {
    fn fail(&self, e: PyErr) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        self.cancel.cancel();
    }
}

impl Observer for PyObserver {
    fn progress(&mut self, run: &RunView<'_>) {
        if let Some(f) = &self.progress {
            if let Err(e) = Python::attach(|py| f.call1(py, (run.seed(), run.step(), run.total())))
            {
                self.fail(e);
            }
        }
    }

    fn metrics(&mut self, row: &Metrics, run: &RunView<'_>) {
        if let Some(f) = &self.callback {
            let r = Python::attach(|py| -> PyResult<()> {
                f.call1(py, (run.seed(), row.step, row_dict(py, row)?))?;
                Ok(())
            });
            if let Err(e) = r {
                self.fail(e);
            }
        }
    }
}

/// A step count: an int, or a float with no fractional part (`4e6`).
fn steps_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    if let Ok(v) = obj.extract::<u64>() {
        return Ok(v);
    }
    if let Ok(v) = obj.extract::<f64>() {
        return whole_steps(v).ok_or_else(|| {
            PyValueError::new_err(format!(
                "--{name}: expected a whole number of steps such as 1e6, got {v}"
            ))
        });
    }
    Err(PyTypeError::new_err(format!(
        "{}: expected an int, got {}",
        name.replace('-', "_"),
        obj.get_type().name()?
    )))
}

/// The engine behind `labelnoise.train` (the Python wrapper adds `progress=True`).
#[pyfunction]
#[pyo3(signature = (
    x, y=None, *, lr, steps, noise, hidden=None, activation=None, skip=false,
    output_bias=false, freeze=None, noise_dist="rademacher", batch=1, two_copies=false,
    copies=None, explicit_reg=0.0, explicit_reg_sampled=false, init_scale=1.0, output_init_scale=1.0,
    net=None, seed=0,
    seeds=1, log_points=None, checkpoint_every=None, flush_threshold=None, out=None,
    force=false, progress=None, callback=None
))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: Option<&Bound<'_, PyAny>>,
    lr: f64,
    steps: &Bound<'_, PyAny>,
    noise: f64,
    hidden: Option<Vec<usize>>,
    activation: Option<&str>,
    skip: bool,
    output_bias: bool,
    freeze: Option<&Bound<'_, PyAny>>,
    noise_dist: &str,
    batch: usize,
    two_copies: bool,
    copies: Option<Vec<f64>>,
    explicit_reg: f64,
    explicit_reg_sampled: bool,
    init_scale: f64,
    output_init_scale: f64,
    net: Option<&Bound<'_, PyAny>>,
    seed: u64,
    seeds: usize,
    log_points: Option<usize>,
    checkpoint_every: Option<&Bound<'_, PyAny>>,
    flush_threshold: Option<f64>,
    out: Option<&Bound<'_, PyAny>>,
    force: bool,
    progress: Option<Py<PyAny>>,
    callback: Option<Py<PyAny>>,
) -> PyResult<Vec<PyRun>> {
    guard_py(|| {
        let steps = steps_arg(steps, "steps")?;
        let checkpoint_every = match checkpoint_every {
            Some(c) => steps_arg(c, "checkpoint-every")?,
            None => 0,
        };
        let noise_dist = NoiseDist::from_name(noise_dist).ok_or_else(|| {
            PyValueError::new_err(format!(
                "--noise-dist: unknown distribution {noise_dist:?} (rademacher, uniform, gaussian)"
            ))
        })?;
        let (data, data_name) = crate::inputs::data(x, y)?;
        if seeds == 0 {
            return Err(PyValueError::new_err("--seeds: must be at least 1"));
        }
        if checkpoint_every > 0 && out.is_none() {
            return Err(PyValueError::new_err(
                "checkpoint_every: needs out= (checkpoints are written to the run directory)",
            ));
        }
        let (frozen_layers, frozen_skip) = crate::net::freeze_list(freeze)?;
        let mut freeze: Vec<Freeze> = frozen_layers.into_iter().map(Freeze::Layer).collect();
        if frozen_skip {
            freeze.push(Freeze::SKIP);
        }
        // A path goes to the library as `init_model`; a Network object is passed in
        // memory (`NetworkSpec::build_from`).
        let (init, init_name) = match net {
            Some(n) if n.is_instance_of::<PyNetwork>() => (
                Some(n.cast::<PyNetwork>()?.get().net.clone()),
                Some("the given network".to_string()),
            ),
            Some(n) => (None, Some(path_string(n)?)),
            None => (None, None),
        };
        let activation = match activation {
            Some(a) => Some(crate::net::activation(a, "--activation")?),
            None => None,
        };
        let spec = NetworkSpec {
            hidden: hidden.unwrap_or_default(),
            activation,
            skip,
            output_bias,
            freeze,
            init_scale,
            output_init_scale,
            init_model: if init.is_none() {
                init_name.clone()
            } else {
                None
            },
        };
        let build = |seed: u64| -> PyResult<Network> {
            match &init {
                Some(given) => spec.build_from(
                    given.clone(),
                    init_name.as_deref().unwrap_or("the given network"),
                    &data,
                    &data_name,
                ),
                None => spec.build(&data, &data_name, seed),
            }
            .map_err(|e| core_error(&e))
        };
        let defaults = TrainConfig::default();
        let root = match out {
            Some(o) => {
                let root = PathBuf::from(path_string(o)?);
                check_output_dir(&root, "--out", force).map_err(|e| core_error(&e))?;
                Some(root)
            }
            None => None,
        };
        // Everything is checked and built before anything is written.
        let cancel = CancelToken::new();
        let error = Arc::new(Mutex::new(None));
        let mut jobs = Vec::with_capacity(seeds);
        let mut starts = Vec::with_capacity(seeds);
        for k in 0..seeds as u64 {
            let seed = seed
                .checked_add(k)
                .ok_or_else(|| PyValueError::new_err("--seed: too large for --seeds"))?;
            let net = build(seed)?;
            let config = TrainConfig {
                lr,
                steps,
                noise,
                noise_dist,
                batch,
                two_copies,
                copies: copies.clone().unwrap_or_default(),
                explicit_reg,
                explicit_reg_sampled,
                seed,
                log_points: log_points.unwrap_or(defaults.log_points),
                flush_threshold: flush_threshold.unwrap_or(defaults.flush_threshold),
            };
            let mut run = Run::new(net.clone(), data.clone(), &config)
                .map_err(|e| core_error(&e))?
                .cancel_on(cancel.clone());
            let dir = root.as_ref().map(|root| {
                RunDir::new(if seeds > 1 {
                    seed_dir(root, seed)
                } else {
                    root.clone()
                })
            });
            if let Some(dir) = &dir {
                run = run.checkpoint_every(checkpoint_every).write_to(dir.clone());
                let run_config = RunConfig {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    command: vec!["labelnoise.train".to_string()],
                    data: data_name.clone(),
                    model: net.describe(),
                    init_model: spec.init_model.clone(),
                    init_scale,
                    output_init_scale,
                    train: config.clone(),
                    checkpoint_every,
                };
                starts.push((dir.clone(), run_config, net.clone()));
            }
            let observer = PyObserver {
                progress: progress.as_ref().map(|p| p.clone_ref(py)),
                callback: callback.as_ref().map(|c| c.clone_ref(py)),
                error: error.clone(),
                cancel: cancel.clone(),
            };
            jobs.push((run, observer, net, dir.map(|d| d.path().to_path_buf())));
        }
        // One writer per run directory, held until the run's files are written.
        let lock = root
            .as_ref()
            .map(|root| RunDir::new(root).lock())
            .transpose()
            .map_err(|e| core_error(&e))?;
        if let Some(root) = &root {
            if force && root.exists() {
                for (dir, _, _) in &starts {
                    if dir.path() != root && dir.path().exists() {
                        std::fs::remove_dir_all(dir.path()).map_err(|e| {
                            pyo3::exceptions::PyOSError::new_err(format!(
                                "{}: cannot clear: {e}",
                                dir.path().display()
                            ))
                        })?;
                    }
                }
            }
            for (dir, config, net) in &starts {
                dir.write_start(config, &data, net)
                    .map_err(|e| core_error(&e))?;
            }
            if seeds > 1 {
                let list: Vec<u64> = jobs
                    .iter()
                    .map(|(run, ..)| run.trainer().config().seed)
                    .collect();
                write_seed_list(root, &list).map_err(|e| core_error(&e))?;
            }
        }
        let mut meta = Vec::with_capacity(jobs.len());
        let mut runs = Vec::with_capacity(jobs.len());
        for (run, observer, net, dir) in jobs {
            meta.push((net, dir));
            runs.push((run, observer));
        }
        let root_for_summaries = root.clone();
        let outcomes = run_blocking(py, Some(cancel.clone()), move || {
            let _lock = lock;
            let results = execute_all(runs);
            let mut outcomes = Vec::with_capacity(results.len());
            for r in results {
                outcomes.push(r?);
            }
            if let Some(root) = &root_for_summaries {
                if outcomes.len() > 1 {
                    let summaries: Vec<_> = outcomes.iter().map(|o| o.summary.clone()).collect();
                    write_seed_summaries(root, &summaries)?;
                }
            }
            Ok::<_, Failure>(outcomes)
        });
        if let Some(e) = error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        let outcomes = outcomes?;
        Ok(outcomes
            .into_iter()
            .zip(meta)
            .map(|(outcome, (initial, dir))| PyRun {
                outcome,
                initial,
                dir,
            })
            .collect())
    })
}
