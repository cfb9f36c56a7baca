//! `labelnoise explore`: a local web page that runs plain SGD and SGD with label noise
//! side by side, live, on data the user edits (docs/explore.md).
//!
//! Modules in the order data flows: [`error`] (the crate's error enum), [`protocol`]
//! (the WebSocket messages and their checks), [`presets`] (the built-in data sets the
//! page offers), [`session`] (one browser session's pair of runs, stepped through the
//! library's `Trainer`), [`assets`] (the embedded page) and [`server`] (axum: HTTP,
//! WebSocket, the session limit). Like the other library crates it never prints.

pub mod assets;
pub mod error;
pub mod presets;
pub mod protocol;
pub mod server;
pub mod session;

pub use error::{Error, Result};
pub use server::{serve, Explorer, DEFAULT_PORT, MAX_SESSIONS};
