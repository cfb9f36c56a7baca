//! The arguments every function takes: a network (a `Network` or a model file / built-in
//! name) and data (x and y arrays, or a data file / built-in name in place of x).

use labelnoise_core::model_io::load_model;
use labelnoise_core::{Dataset, Network};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::arrays::dataset;
use crate::errors::core_error;
use crate::net::{path_string, PyNetwork};

/// A network argument: a `Network`, or a path / built-in model name.
/// How a network argument is named in written summaries: its path or built-in name, or
/// `"network"` for a `labelnoise.Network` passed in memory.
pub fn network_name(obj: &Bound<'_, PyAny>) -> String {
    if obj.is_instance_of::<PyNetwork>() {
        return "network".to_string();
    }
    path_string(obj).unwrap_or_else(|_| "network".to_string())
}

pub fn network(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Network> {
    if let Ok(n) = obj.cast::<PyNetwork>() {
        return Ok(n.get().net.clone());
    }
    if obj.is_instance_of::<pyo3::types::PyString>() || obj.hasattr("__fspath__")? {
        let path = path_string(obj)?;
        return load_model(&path).map_err(|e| core_error(&e));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: expected a labelnoise.Network or a model path, got {}",
        obj.get_type().name()?
    )))
}

/// The data arguments: `(x, y)` arrays, or `(name_or_path, None)`. Returns the data set
/// and the name `config.json` records for it.
pub fn data(x: &Bound<'_, PyAny>, y: Option<&Bound<'_, PyAny>>) -> PyResult<(Dataset, String)> {
    let is_path = x.is_instance_of::<pyo3::types::PyString>() || x.hasattr("__fspath__")?;
    match (is_path, y) {
        (true, None) => {
            let spec = path_string(x)?;
            let data = Dataset::load(&spec).map_err(|e| core_error(&e))?;
            Ok((data, spec))
        }
        (true, Some(_)) => Err(PyValueError::new_err(
            "y: give either x and y arrays, or a data set name or path alone",
        )),
        (false, Some(y)) => Ok((dataset(x, y)?, "arrays".to_string())),
        (false, None) => Err(PyTypeError::new_err(
            "y: missing (give x and y arrays, or a data set name or path alone)",
        )),
    }
}
