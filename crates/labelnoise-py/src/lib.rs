//! `labelnoise._labelnoise`, the extension module of the `labelnoise` Python package
//! (python/labelnoise): the library's networks, analysis, training run driver, settle and
//! experiments, called from Python with NumPy arrays (docs/python.md).
//!
//! Every entry point catches panics (a `RuntimeError` naming the bug, never an unwind
//! into Python), turns the library's errors into `ValueError` (bad input) or `OSError`
//! (a failed write) with the command line's one-line message, and releases the GIL for
//! long work; `train`, `settle` and `reproduce` run on a thread of their own and stop on
//! Ctrl-C ([`blocking`]).
//!
//! Modules, in the order data flows: `errors`, `arrays` (NumPy in and out), `net` (the
//! `Network` class), `inputs` (network and data arguments), `blocking` (long calls),
//! `analysis`, `settle`, `train`, `reproduce`, and `bench` (the Rust-side baselines of
//! python/bench/bench.py).

mod analysis;
mod arrays;
mod bench;
mod blocking;
mod errors;
mod inputs;
mod net;
mod reproduce;
mod settle;
mod train;

use numpy::PyArrayMethods;
use pyo3::prelude::*;

/// x (n, d) and y (n,).
type XY<'py> = (
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray1<f64>>,
);

/// Reads a data set as `Dataset::load` does (docs/formats.md#data): a built-in name
/// (`fig1`), a `.json` or `.csv` file, or a NumPy pair `X.npy,Y.npy`. Returns
/// (x (n, d) float64, y (n,) float64).
#[pyfunction]
fn load_data<'py>(py: Python<'py>, spec: &Bound<'py, PyAny>) -> PyResult<XY<'py>> {
    errors::guard_py(|| {
        let (data, _) = inputs::data(spec, None)?;
        let (n, d) = (data.len(), data.dim());
        let x = numpy::PyArray1::from_slice(py, data.xs()).reshape([n, d])?;
        Ok((x, arrays::vec1(py, data.ys().to_vec())))
    })
}

/// Panics inside the guard every entry point uses: the test suite checks that a panic
/// reaches Python as a `RuntimeError` naming a bug (python/tests/test_signals.py).
#[pyfunction]
fn _panic_for_tests() -> PyResult<()> {
    errors::guard_py(|| panic!("a deliberate panic for the tests"))
}

#[pymodule]
fn _labelnoise(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<net::PyNetwork>()?;
    m.add_class::<analysis::PyAnalysis>()?;
    m.add_class::<settle::PySettled>()?;
    m.add_class::<train::PyRun>()?;
    m.add_function(wrap_pyfunction!(load_data, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(settle::settle, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(reproduce::reproduce, m)?)?;
    m.add_function(wrap_pyfunction!(reproduce::experiments, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_bench_library_loop, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_bench_library_analyze, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_bench_library_forward, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
