//! Long calls: the work runs on a thread of its own while the calling thread, with the
//! GIL released, waits for it and every [`POLL`] takes the GIL back to run Python's
//! signal handlers (`Python::check_signals`). Ctrl-C there sets the run driver's
//! [`CancelToken`]; the run stops at its next stop (writing its checkpoint and results
//! when it has a run directory) and the call raises `KeyboardInterrupt`.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use labelnoise_core::train::CancelToken;
use pyo3::prelude::*;

use crate::errors::{guard, panic_error, Failure};

/// How often the waiting thread looks at Python's signals.
const POLL: Duration = Duration::from_millis(20);

/// Runs `work` on its own thread with the GIL released; Ctrl-C cancels `cancel` (the
/// work then returns early) or, without a token, abandons the work to finish on its own
/// thread (its result is dropped) and raises `KeyboardInterrupt` at once.
pub fn run_blocking<T: Send + 'static>(
    py: Python<'_>,
    cancel: Option<CancelToken>,
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> PyResult<T> {
    let (tx, mut rx) = channel::<Result<T, Failure>>();
    let handle = std::thread::Builder::new()
        .name("labelnoise".into())
        .spawn(move || {
            // The receiver is gone only if the caller gave up on the work.
            let _ = tx.send(guard(work));
        })
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot start a thread: {e}")))?;
    loop {
        // The receiver goes into the GIL-free closure and comes back (it is not Sync).
        let (received, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
        rx = back;
        match received {
            Ok(result) => {
                let _ = py.detach(|| handle.join());
                return result.map_err(PyErr::from);
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    match &cancel {
                        Some(token) => {
                            token.cancel();
                            // The run stops at its next stop and writes what it has.
                            let result = py.detach(move || rx.recv());
                            let _ = py.detach(|| handle.join());
                            return match result {
                                Ok(Err(Failure::Py(e))) => Err(e),
                                _ => Err(interrupt),
                            };
                        }
                        None => return Err(interrupt),
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(panic_error("the worker thread ended without a result"));
            }
        }
    }
}
