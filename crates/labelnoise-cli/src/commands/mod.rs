//! One module per command.

pub mod analyze;
pub mod explore;
pub mod export;
pub mod reproduce;
pub mod settle;
pub mod sweep;
pub mod train;
