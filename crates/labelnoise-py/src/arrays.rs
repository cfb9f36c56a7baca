//! Arrays in and out. In: any float or integer NumPy array, or nested lists of numbers;
//! x of shape (n, d) or (n,) (then d = 1), y of shape (n,). A C-contiguous float64
//! array is read in place; anything else goes through `numpy.ascontiguousarray(...,
//! dtype=float64)` once. Out: float64 arrays.

use labelnoise_core::Dataset;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

/// A float64 array that can be read as one C-ordered slice: the caller's own array when
/// it already is one, else a converted copy.
pub struct F64Array<'py> {
    array: Bound<'py, PyArrayDyn<f64>>,
}

impl<'py> F64Array<'py> {
    /// Converts `obj` (named `name` in errors: `x`, `y`, `theta`).
    pub fn new(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
            if a.is_c_contiguous() {
                return Ok(F64Array { array: a.clone() });
            }
        }
        let py = obj.py();
        let np = py.import("numpy")?;
        let ndarray = np.getattr("ndarray")?;
        let is_array = obj.is_instance(&ndarray)?;
        if is_array {
            let kind: String = obj.getattr("dtype")?.getattr("kind")?.extract()?;
            if !matches!(kind.as_str(), "f" | "i" | "u") {
                return Err(PyTypeError::new_err(format!(
                    "{name}: expected a float or integer array, got dtype {}",
                    obj.getattr("dtype")?.str()?
                )));
            }
        } else if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
            return Err(PyTypeError::new_err(format!(
                "{name}: expected a NumPy array or a (nested) list of numbers, got {}",
                obj.get_type().name()?
            )));
        } else if contains_non_number(obj)? {
            return Err(PyTypeError::new_err(format!(
                "{name}: expected numbers, found a value of another type"
            )));
        }
        let converted = np
            .call_method1("ascontiguousarray", (obj, np.getattr("float64")?))
            .map_err(|e| {
                PyValueError::new_err(format!(
                    "{name}: cannot be read as an array of numbers ({})",
                    e.value(py)
                ))
            })?;
        let array = converted.cast_into::<PyArrayDyn<f64>>().map_err(|_| {
            PyTypeError::new_err(format!("{name}: cannot be read as an array of float64"))
        })?;
        Ok(F64Array { array })
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.array.shape().to_vec()
    }

    /// The values in C order (no copy).
    pub fn with_slice<R>(&self, f: impl FnOnce(&[f64]) -> R) -> PyResult<R> {
        let ro = self.array.readonly();
        let s = ro
            .as_slice()
            .map_err(|e| PyValueError::new_err(format!("array: {e}")))?;
        Ok(f(s))
    }
}

/// Whether a nested list holds a leaf that is not an int or a float (a string, say,
/// which NumPy would parse as a number).
fn contains_non_number(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Ok(list) = obj.cast::<PyList>() {
        for item in list.iter() {
            if contains_non_number(&item)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        for item in t.iter() {
            if contains_non_number(&item)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let numbers = obj.py().import("numbers")?.getattr("Real")?;
    Ok(!obj.is_instance(&numbers)? || obj.is_instance_of::<pyo3::types::PyBool>())
}

/// Inputs x as (n, d, values): (n, d) or (n,) with d = 1.
pub fn inputs<'py>(obj: &Bound<'py, PyAny>) -> PyResult<(usize, usize, F64Array<'py>)> {
    let a = F64Array::new(obj, "x")?;
    let (n, d) = match a.shape()[..] {
        [n] => (n, 1),
        [n, d] => (n, d),
        ref other => {
            return Err(PyValueError::new_err(format!(
                "x: must have shape (n, d) or (n,), found {other:?}"
            )))
        }
    };
    Ok((n, d, a))
}

/// A data set from x and y (checked by the library: finite values, matching lengths).
pub fn dataset(x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<Dataset> {
    let (n, d, xa) = inputs(x)?;
    let ya = F64Array::new(y, "y")?;
    match ya.shape()[..] {
        [m] if m == n => {}
        [m] => {
            return Err(PyValueError::new_err(format!(
                "y: has {m} labels but x has {n} points"
            )))
        }
        ref other => {
            return Err(PyValueError::new_err(format!(
                "y: must have shape (n,), found {other:?}"
            )))
        }
    }
    if n == 0 {
        return Err(PyValueError::new_err("y: the data set has no points"));
    }
    let xs = xa.with_slice(<[f64]>::to_vec)?;
    let ys = ya.with_slice(<[f64]>::to_vec)?;
    Dataset::new(d, xs, ys, "arrays").map_err(|e| crate::errors::core_error(&e))
}

/// A 1-D float64 array holding `values`.
pub fn vec1<'py>(py: Python<'py>, values: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, values)
}

/// `json.loads(text)`: a dict (or list) with exactly the numbers of the JSON the command
/// line writes.
pub fn from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}
