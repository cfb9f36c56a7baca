//! One module per command.

pub mod analyze;
pub mod train;
