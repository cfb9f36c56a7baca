//! Errors the user caused on the command line. They live in their own module so that the
//! commands, which raise them, and [`crate::run`], which dispatches to the commands, do
//! not import each other.

/// An error the user caused (bad input, bad option): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
