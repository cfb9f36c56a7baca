//! `labelnoise.reproduce`: an experiment of the paper (or all of them) into a directory,
//! as `labelnoise reproduce` runs it ([`labelnoise_experiments::run_experiments`]).

use std::path::PathBuf;

use labelnoise_core::files::{check_output_dir, DirLock};
use labelnoise_core::train::CancelToken;
use labelnoise_experiments::{find, run_experiments, Experiment, NoProgress, Options, REGISTRY};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::from_json;
use crate::blocking::run_blocking;
use crate::errors::{core_error, guard_py, Failure};
use crate::net::path_string;

/// The experiments' names, in the registry's order, then `all`.
#[pyfunction]
pub fn experiments() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .map(|e| e.name())
        .chain(std::iter::once("all"))
        .collect()
}

/// `labelnoise.reproduce(name, out, quick=False, force=False)`: runs the experiment,
/// writes its figures, `summary.json`, `report.md` and `report.html` into `out`, and
/// returns the content of `summary.json` (every claim with its numbers and `pass`).
#[pyfunction]
#[pyo3(signature = (name, out, *, quick=false, force=false))]
pub fn reproduce(
    py: Python<'_>,
    name: &str,
    out: &Bound<'_, PyAny>,
    quick: bool,
    force: bool,
) -> PyResult<Py<PyAny>> {
    guard_py(|| {
        let list: Vec<&'static dyn Experiment> = match find(name) {
            Some(e) => vec![e],
            None if name == "all" => REGISTRY.to_vec(),
            None => {
                return Err(PyValueError::new_err(format!(
                    "invalid value '{name}' for '<NAME>' [possible values: {}]",
                    experiments().join(", ")
                )))
            }
        };
        let dir = PathBuf::from(path_string(out)?);
        check_output_dir(&dir, "--out", force).map_err(|e| core_error(&e))?;
        // One writer per output directory, held until the report is written.
        let lock = DirLock::acquire(&dir).map_err(|e| core_error(&e))?;
        let label = name.to_string();
        let cancel = CancelToken::new();
        let opts = Options::new(quick)
            .check()
            .map_err(|e| core_error(&e))?
            .cancel_on(cancel.clone());
        let run_dir = dir.clone();
        // Ctrl-C cancels the token: the experiment running stops at its runs' next stop
        // and nothing more is written.
        run_blocking(py, Some(cancel), move || {
            let _lock = lock;
            run_experiments(&label, &list, &opts, &run_dir, &mut NoProgress)
                .map(|_| ())
                .map_err(Failure::from)
        })?;
        let text = std::fs::read_to_string(dir.join("summary.json")).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!(
                "{}: {e}",
                dir.join("summary.json").display()
            ))
        })?;
        Ok(from_json(py, &text)?.unbind())
    })
}
