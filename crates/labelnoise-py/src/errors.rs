//! Errors across the boundary: the library's errors become Python exceptions carrying
//! the one line the command line prints, and a Rust panic becomes a `RuntimeError` that
//! names it a bug instead of unwinding into Python.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// Why a call into the library failed.
pub enum Failure {
    /// A library error (bad input, a failed write, ...).
    Core(labelnoise_core::Error),
    /// An error of the experiments crate (or anything else the library returns through
    /// `anyhow`).
    Other(anyhow::Error),
    /// A Python exception (from a callback, or a type error found before the call).
    Py(PyErr),
    /// The run was cancelled by Ctrl-C.
    Interrupted,
    /// A panic, with its message.
    Panic(String),
}

impl From<labelnoise_core::Error> for Failure {
    fn from(e: labelnoise_core::Error) -> Self {
        match e {
            labelnoise_core::Error::Cancelled => Failure::Interrupted,
            e => Failure::Core(e),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<labelnoise_core::Error>() {
            Ok(core) => Failure::from(core),
            Err(other) => Failure::Other(other),
        }
    }
}

impl From<labelnoise_experiments::Error> for Failure {
    fn from(e: labelnoise_experiments::Error) -> Self {
        match e {
            labelnoise_experiments::Error::Core(core) => Failure::from(core),
            other => Failure::Other(anyhow::Error::new(other)),
        }
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

/// The exception for a library error: `OSError` for a failed write (not the caller's
/// input), `ValueError` for everything else (bad input, as the command line's exit
/// status 2). The message is the command line's one line, without `error: `.
pub fn core_error(e: &labelnoise_core::Error) -> PyErr {
    let line = one_line(&e.to_string());
    match e {
        labelnoise_core::Error::Write { .. } => PyOSError::new_err(line),
        _ => PyValueError::new_err(line),
    }
}

/// The first line of a message.
fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        match f {
            Failure::Core(e) => core_error(&e),
            Failure::Other(e) => {
                // The command line's rendering: causes joined with ": ".
                let mut text = String::new();
                for cause in e.chain() {
                    let part = cause.to_string();
                    if !text.contains(&part) {
                        if !text.is_empty() {
                            text.push_str(": ");
                        }
                        text.push_str(&part);
                    }
                }
                let is_io = e
                    .chain()
                    .any(|c| c.downcast_ref::<std::io::Error>().is_some());
                if is_io {
                    PyOSError::new_err(one_line(&text))
                } else {
                    PyRuntimeError::new_err(one_line(&text))
                }
            }
            Failure::Py(e) => e,
            Failure::Interrupted => PyKeyboardInterrupt::new_err(()),
            Failure::Panic(msg) => panic_error(&msg),
        }
    }
}

/// The `RuntimeError` for a panic.
pub fn panic_error(msg: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "labelnoise internal error (a bug; please report it with the call that caused it): {msg}"
    ))
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs `f`, turning a panic into [`Failure::Panic`].
pub fn guard<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Failure::Panic(panic_message(payload.as_ref()))),
    }
}

/// [`guard`] for a function that returns a Python result.
pub fn guard_py<T>(f: impl FnOnce() -> pyo3::PyResult<T>) -> pyo3::PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_error(&panic_message(payload.as_ref()))),
    }
}
