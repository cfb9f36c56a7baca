//! # labelnoise-sweep
//!
//! Sweeps of training runs: one TOML file describes many `labelnoise train` runs (a
//! grid of learning rates, noise levels, widths, data sets, seeds, ...), and this crate
//! expands, checks, shards, runs and collects them. The front ends are
//! `labelnoise sweep` and `labelnoise collect` (docs/sweeps.md).
//!
//! Modules in the order data flows (a module only imports modules listed before it):
//!
//! - [`error`]: [`SweepError`], the crate's one error type.
//! - [`keys`]: the keys a sweep file may set (the options of `labelnoise train`), their
//!   kinds, and the normalization of their values.
//! - [`definition`]: [`Definition`], the fixed settings, `[zip]` and `[grid]` lists,
//!   and the expansion of a point index into its settings; the settings hash.
//! - [`file`](mod@file): [`SweepFile`], the sweep file as written (TOML).
//! - [`sweep`]: [`SweepFile::check`] → [`Sweep`]: every point checked the way `train`
//!   checks its flags, with its directory and estimated cost.
//! - [`shard`]: [`Shard`], the deterministic cost-balanced share of one worker.
//! - [`manifest`]: `manifest.json`, written before any point runs.
//! - [`runner`]: [`run_shard`] ([`plan_shard`], then [`run_planned`]), the points of a
//!   shard run in parallel and idempotently.
//! - [`collect`]: one row of measures per point, `results.csv` and `results.json`.
//! - [`figures`]: the measures against each numeric swept setting (median and IQR over
//!   seeds, fitted exponents), `report.md` and `report.html`.
//! - [`slurm`]: the job-array script of `--slurm`.

pub mod collect;
pub mod definition;
pub mod error;
pub mod figures;
pub mod file;
pub mod keys;
pub mod manifest;
pub mod runner;
pub mod shard;
pub mod slurm;
pub mod sweep;

pub use definition::Definition;
pub use error::{Result, SweepError};
pub use file::SweepFile;
pub use runner::{
    plan_shard, run_planned, run_shard, NoProgress, PointEnd, ShardPlan, ShardReport, SweepProgress,
};
pub use shard::Shard;
pub use sweep::{Point, Sweep};
