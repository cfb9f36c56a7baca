//! `labelnoise.analyze`: fit, implicit regularizer, Theorem 2 verdict, Theorem 1 and 3
//! reports ([`labelnoise_core::analysis`]), as `labelnoise analyze` computes them.

use labelnoise_core::analysis::{analyze_checked, Analysis, AnalyzeOptions};
use labelnoise_core::shape::ShapeOptions;
use labelnoise_core::stability::Tolerances;
use labelnoise_core::units::UnitOptions;
use labelnoise_core::Error;
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::arrays::{from_json, vec1};
use crate::errors::{core_error, guard_py};

/// The result of `analyze`. Its fields are those of `labelnoise analyze --json`
/// (docs/formats.md); `to_dict()` is that JSON object.
#[pyclass(module = "labelnoise._labelnoise", name = "Analysis", frozen)]
pub struct PyAnalysis {
    pub a: Analysis,
}

fn json<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(from_json(py, &text)?.unbind())
}

#[pymethods]
impl PyAnalysis {
    /// The JSON object of `labelnoise analyze --json`, as a dict.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json(py, &self.a)
    }

    #[getter]
    fn model(&self) -> &str {
        &self.a.model
    }
    #[getter]
    fn n(&self) -> usize {
        self.a.n
    }
    #[getter]
    fn params(&self) -> usize {
        self.a.params
    }
    #[getter]
    fn train_loss(&self) -> f64 {
        self.a.train_loss
    }
    #[getter]
    fn max_abs_residual(&self) -> f64 {
        self.a.max_abs_residual
    }
    #[getter]
    fn reg(&self) -> f64 {
        self.a.reg
    }
    #[getter]
    fn reg_grad<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vec1(py, self.a.reg_grad.clone())
    }
    #[getter]
    fn reg_grad_norm(&self) -> f64 {
        self.a.reg_grad_norm
    }
    #[getter]
    fn null_reg_grad<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vec1(py, self.a.null_reg_grad.clone())
    }
    #[getter]
    fn null_reg_grad_norm(&self) -> f64 {
        self.a.null_reg_grad_norm
    }
    #[getter]
    fn jacobian_rank(&self) -> usize {
        self.a.jacobian_rank
    }
    #[getter]
    fn rank_tolerance(&self) -> f64 {
        self.a.rank_tolerance
    }
    #[getter]
    fn singular_values<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vec1(py, self.a.singular_values.clone())
    }
    #[getter]
    fn gamma<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vec1(py, self.a.gamma.clone())
    }
    /// `not-interpolating`, `repellent` or `non-repellent`.
    #[getter]
    fn verdict(&self) -> &'static str {
        self.a.verdict.name()
    }
    #[getter]
    fn nonsmooth(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json(py, &self.a.nonsmooth)
    }
    /// The Theorem 1 report (1-D relu networks) as a dict, or None.
    #[getter]
    fn shape(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json(py, &self.a.shape)
    }
    #[getter]
    fn shape_not_applicable(&self) -> Option<String> {
        self.a.shape_not_applicable.clone()
    }
    /// The Theorem 3 unit classes (tanh/logistic on one point) as a dict, or None.
    #[getter]
    fn units(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json(py, &self.a.units)
    }

    fn __repr__(&self) -> String {
        format!(
            "Analysis(reg={:e}, null_reg_grad_norm={:e}, jacobian_rank={}, verdict={:?})",
            self.a.reg,
            self.a.null_reg_grad_norm,
            self.a.jacobian_rank,
            self.a.verdict.name()
        )
    }
}

/// The options from the keywords (the command line's flags, same defaults).
pub fn options(
    fit_tol: Option<f64>,
    stationarity_tol: Option<f64>,
    jump_threshold: Option<f64>,
    kink_tol: Option<f64>,
    unit_tol: Option<f64>,
) -> AnalyzeOptions {
    let d = AnalyzeOptions::default();
    let tolerances = Tolerances {
        fit: fit_tol.unwrap_or(d.tolerances.fit),
        stationarity: stationarity_tol.unwrap_or(d.tolerances.stationarity),
    };
    AnalyzeOptions {
        tolerances,
        shape: ShapeOptions {
            jump_threshold: jump_threshold.unwrap_or(d.shape.jump_threshold),
            fit_tol: tolerances.fit,
            on_point_tol: kink_tol.unwrap_or(d.shape.on_point_tol),
            ..d.shape
        },
        units: UnitOptions {
            tol: unit_tol.unwrap_or(d.units.tol),
        },
    }
}

/// `labelnoise.analyze(net, x, y, ...)`.
#[pyfunction]
#[pyo3(signature = (net, x, y=None, *, fit_tol=None, stationarity_tol=None, jump_threshold=None, kink_tol=None, unit_tol=None))]
#[allow(clippy::too_many_arguments)]
pub fn analyze(
    py: Python<'_>,
    net: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    y: Option<&Bound<'_, PyAny>>,
    fit_tol: Option<f64>,
    stationarity_tol: Option<f64>,
    jump_threshold: Option<f64>,
    kink_tol: Option<f64>,
    unit_tol: Option<f64>,
) -> PyResult<PyAnalysis> {
    guard_py(|| {
        let opts = options(
            fit_tol,
            stationarity_tol,
            jump_threshold,
            kink_tol,
            unit_tol,
        )
        .check()
        .map_err(|e| core_error(&e))?;
        let network = crate::inputs::network(net, "net")?;
        let (data, data_name) = crate::inputs::data(x, y)?;
        let model_name = if net.is_instance_of::<crate::net::PyNetwork>() {
            "the model".to_string()
        } else {
            crate::net::path_string(net)?
        };
        let a = py
            .detach(|| crate::errors::guard(|| Ok(analyze_checked(&network, &data, &opts)?)))
            .map_err(|f| match f {
                crate::errors::Failure::Core(Error::Mismatch { message }) => {
                    core_error(&Error::Mismatch {
                        message: format!("{model_name} and {data_name}: {message}"),
                    })
                }
                other => other.into(),
            })?;
        Ok(PyAnalysis { a })
    })
}
