//! One module per command.

pub mod analyze;
