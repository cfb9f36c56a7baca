//! `labelnoise.settle`: descent on reg along the zero-loss manifold
//! ([`labelnoise_core::settle`]), as `labelnoise settle` runs it.

use std::path::PathBuf;
use std::time::Instant;

use labelnoise_core::files::{check_output_dir, DirLock};
use labelnoise_core::settle::{
    event_name, settle_with_cancel, write_settle_dir, SettleOptions, SettleResult, SettleSummary,
};
use labelnoise_core::train::CancelToken;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::analysis::PyAnalysis;
use crate::arrays::{from_json, vec1};
use crate::blocking::run_blocking;
use crate::errors::{core_error, guard_py};
use crate::net::{check_dim, path_string, PyNetwork};

/// The result of `settle`.
#[pyclass(module = "labelnoise._labelnoise", name = "Settled", frozen)]
pub struct PySettled {
    result: SettleResult,
}

#[pymethods]
impl PySettled {
    /// The end point.
    #[getter]
    fn model(&self) -> PyNetwork {
        PyNetwork::new(self.result.network.clone())
    }
    /// `non-repellent`, `constrained-stationary`, `kink-on-data-point`, `stalled`,
    /// `max-iterations` or `fit-failed`.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.result.outcome.name()
    }
    /// The outcome with its details (pinned kinks, ...), as a dict.
    #[getter]
    fn outcome_detail(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.result.outcome)
    }
    /// reg at the end point.
    #[getter]
    fn reg(&self) -> f64 {
        self.result.end_reg
    }
    /// reg at the start.
    #[getter]
    fn start_reg(&self) -> f64 {
        self.result.start_reg
    }
    #[getter]
    fn iterations(&self) -> usize {
        self.result.iterations
    }
    #[getter]
    fn fitted_first(&self) -> bool {
        self.result.fitted_first
    }
    /// The analysis of the end point.
    #[getter]
    fn analysis(&self) -> PyAnalysis {
        PyAnalysis {
            a: self.result.analysis.clone(),
        }
    }
    /// One entry per column of `trace.csv`: float64 arrays (NaN where a value is not
    /// defined), `event` a list of strings.
    #[getter]
    fn trace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let rows = &self.result.trace;
        let d = PyDict::new(py);
        let col = |f: &dyn Fn(&labelnoise_core::settle::TraceRow) -> f64| {
            vec1(py, rows.iter().map(f).collect())
        };
        d.set_item("iteration", col(&|r| r.iteration as f64))?;
        let events: Vec<&str> = rows.iter().map(|r| event_name(r.event)).collect();
        d.set_item("event", events)?;
        d.set_item("reg", col(&|r| r.reg))?;
        d.set_item("null_reg_grad_norm", col(&|r| r.null_reg_grad_norm))?;
        d.set_item("reg_grad_norm", col(&|r| r.reg_grad_norm))?;
        d.set_item("max_abs_residual", col(&|r| r.max_abs_residual))?;
        d.set_item("step_size", col(&|r| r.step_size))?;
        d.set_item("step_norm", col(&|r| r.step_norm))?;
        d.set_item("active", col(&|r| r.active as f64))?;
        d.set_item("curve_length", col(&|r| r.curve_length.unwrap_or(f64::NAN)))?;
        d.set_item(
            "convexity_changes",
            col(&|r| r.convexity_changes.map_or(f64::NAN, |v| v as f64)),
        )?;
        Ok(d)
    }
    /// Everything but the network, as a dict (the library's serialization of the
    /// result: outcome, start and end reg, trace rows, the end point's analysis,
    /// options).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.result)
    }

    fn __repr__(&self) -> String {
        format!(
            "Settled(outcome={:?}, reg {:e} -> {:e}, {} iterations)",
            self.result.outcome.name(),
            self.result.start_reg,
            self.result.end_reg,
            self.result.iterations
        )
    }
}

fn to_py<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(from_json(py, &text)?.unbind())
}

/// `labelnoise.settle(net, x, y, ...)`.
#[pyfunction]
#[pyo3(signature = (net, x, y=None, *, max_iter=None, fit_tol=None, stationarity_tol=None, active_set=true, remedies=false, out=None, force=false))]
#[allow(clippy::too_many_arguments)]
pub fn settle(
    py: Python<'_>,
    net: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    y: Option<&Bound<'_, PyAny>>,
    max_iter: Option<usize>,
    fit_tol: Option<f64>,
    stationarity_tol: Option<f64>,
    active_set: bool,
    remedies: bool,
    out: Option<&Bound<'_, PyAny>>,
    force: bool,
) -> PyResult<PySettled> {
    guard_py(|| {
        let d = SettleOptions::default();
        let opts = SettleOptions {
            tolerances: labelnoise_core::stability::Tolerances {
                fit: fit_tol.unwrap_or(d.tolerances.fit),
                stationarity: stationarity_tol.unwrap_or(d.tolerances.stationarity),
            },
            max_iter: max_iter.unwrap_or(d.max_iter),
            active_set,
            ..d
        };
        let opts = if remedies { opts.with_remedies() } else { opts };
        opts.check().map_err(|e| core_error(&e))?;
        let model_name = crate::inputs::network_name(net);
        let network = crate::inputs::network(net, "net")?;
        let (data, data_name) = crate::inputs::data(x, y)?;
        check_dim(&network, data.dim())?;
        let dir = match out {
            Some(o) => {
                let dir = PathBuf::from(path_string(o)?);
                check_output_dir(&dir, "out", force).map_err(|e| core_error(&e))?;
                // One writer per output directory, held until the files are written.
                let lock = DirLock::acquire(&dir).map_err(|e| core_error(&e))?;
                Some((dir, lock))
            }
            None => None,
        };
        let wall = Instant::now();
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let result = run_blocking(py, Some(cancel), move || {
            Ok(settle_with_cancel(&network, &data, &opts, &token)?)
        })?;
        // A cancelled settle does not get here: `run_blocking` raises KeyboardInterrupt.
        if let Some((dir, _lock)) = dir {
            let summary = SettleSummary::new(
                &result,
                &model_name,
                &data_name,
                wall.elapsed().as_secs_f64(),
            );
            write_settle_dir(&dir, &summary, &result).map_err(|e| core_error(&e))?;
        }
        Ok(PySettled { result })
    })
}
