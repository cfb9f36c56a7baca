//! SIGINT (Ctrl-C) and SIGTERM (what Slurm sends at a job's time limit, `KillWait`
//! seconds before SIGKILL) stop the work gracefully: the handler only sets the run
//! driver's [`CancelToken`], every run stops at its next stop and writes its checkpoint
//! and results so far, and the command exits with status 128 + the signal's number
//! (130, 143), as shells report a command killed by it. `labelnoise resume DIR` (or the
//! same `labelnoise sweep` command) then continues bit-identically.
//!
//! A second SIGINT or SIGTERM while the first is being handled ends the process at once
//! (status 1), for a user who does not want to wait for the checkpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use labelnoise_core::train::CancelToken;
use signal_hook::consts::{SIGINT, SIGTERM};

/// The signals a command listens to, and which one arrived.
pub struct Stop {
    token: CancelToken,
    which: Arc<AtomicUsize>,
}

/// A command stopped by a signal, after writing what it had (exit status 128 + signal).
#[derive(Debug, thiserror::Error)]
#[error("{what} by {name}; {next}")]
pub struct Interrupted {
    /// The signal's number.
    pub signal: i32,
    /// `SIGINT` or `SIGTERM`.
    pub name: &'static str,
    /// What was stopped (`stopped training at step 1200`).
    pub what: String,
    /// How to continue.
    pub next: String,
}

impl Interrupted {
    /// The exit status: 128 + the signal's number.
    pub fn status(&self) -> u8 {
        (128 + self.signal).clamp(0, 255) as u8
    }
}

impl Stop {
    /// Installs the handlers (once per process is enough; installing again adds
    /// handlers that set the new token too).
    pub fn install() -> anyhow::Result<Stop> {
        let token = CancelToken::new();
        let which = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it runs before the flag is set: with the flag
            // already set (a second signal), exit at once.
            signal_hook::flag::register_conditional_shutdown(sig, 1, token.flag())?;
            signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize)?;
            signal_hook::flag::register(sig, token.flag())?;
        }
        Ok(Stop { token, which })
    }

    /// The token the runs stop on.
    pub fn token(&self) -> CancelToken {
        self.token.clone()
    }

    /// The signal that arrived, if one did: its number and name.
    pub fn received(&self) -> Option<(i32, &'static str)> {
        match self.which.load(Ordering::Relaxed) as i32 {
            0 => None,
            SIGINT => Some((SIGINT, "SIGINT")),
            SIGTERM => Some((SIGTERM, "SIGTERM")),
            other => Some((other, "a signal")),
        }
    }

    /// The error to end the command with when a signal arrived.
    pub fn interrupted(&self, what: String, next: String) -> Option<Interrupted> {
        self.received().map(|(signal, name)| Interrupted {
            signal,
            name,
            what,
            next,
        })
    }
}
