//! The run directory: what a training run writes and reads back (documented for users in
//! `docs/formats.md#run-directories`).
//!
//! ```text
//! DIR/config.json          RunConfig: everything needed to rerun (version, command, data,
//!                          starting model, the SGD configuration with its seed)
//! DIR/data.json            the data as trained on (data JSON format)
//! DIR/initial-model.json   the starting network (model JSON format)
//! DIR/checkpoint.json      CheckpointFile: θ, generator state, kernel, metrics so far
//!                          (with --checkpoint-every N, and when a run is cancelled)
//! DIR/metrics.csv          one row per log-spaced step (columns: METRICS_COLUMNS)
//! DIR/model.json           the final network (the last finite state if the run diverged)
//! DIR/model.safetensors    the same network as safetensors
//! DIR/summary.json         Summary: steps, divergence, kernel, speed, final metrics
//! ```
//!
//! With several seeds, each seed has its own `DIR/seed-S/` holding the files above and
//! `DIR/summary.json` is the list of the seeds' summaries. Every file is written
//! atomically ([`write_atomic`]), so a killed run leaves whole files behind and
//! [`RunDir::read_checkpoint`] always reads a complete checkpoint.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::outcome::{RunOutcome, Summary};
use super::{Checkpoint, TrainConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::model_io::{model_from_json, model_to_json, model_to_safetensors};
use crate::network::Network;

/// `config.json`.
pub const CONFIG_FILE: &str = "config.json";
/// `data.json`.
pub const DATA_FILE: &str = "data.json";
/// `initial-model.json`.
pub const INITIAL_MODEL_FILE: &str = "initial-model.json";
/// `checkpoint.json`.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// `metrics.csv`.
pub const METRICS_FILE: &str = "metrics.csv";
/// `model.json`.
pub const MODEL_JSON_FILE: &str = "model.json";
/// `model.safetensors`.
pub const MODEL_SAFETENSORS_FILE: &str = "model.safetensors";
/// `summary.json`.
pub const SUMMARY_FILE: &str = "summary.json";

/// The columns of `metrics.csv`, in order (the fields of [`Metrics`]; empty cells where a
/// metric is not defined for the network).
pub const METRICS_COLUMNS: [&str; 8] = [
    "step",
    "train_loss",
    "reg",
    "null_reg_grad_norm",
    "param_norm",
    "curve_length",
    "convexity_changes",
    "kinks",
];

/// What `config.json` holds: everything needed to rerun the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// labelnoise version that wrote the run.
    pub version: String,
    /// How the run was started (the command line, or the front end's call).
    pub command: Vec<String>,
    /// The data as named by the user (the data themselves are in `data.json`).
    pub data: String,
    /// The starting network's architecture, in words (the network is
    /// `initial-model.json`).
    pub model: String,
    /// The model file the run started from, if any.
    pub init_model: Option<String>,
    /// The initialisation scale.
    pub init_scale: f64,
    /// The output layer's weight multiplier after initialisation (absent in files
    /// written before it existed, which means 1).
    #[serde(default = "default_output_init_scale")]
    pub output_init_scale: f64,
    /// The SGD configuration, including the seed.
    pub train: TrainConfig,
    /// Checkpoint period in steps (0: no periodic checkpoints).
    pub checkpoint_every: u64,
}

fn default_output_init_scale() -> f64 {
    super::start::DEFAULT_OUTPUT_INIT_SCALE
}

/// What `checkpoint.json` holds: the trainer's state and the metrics rows up to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointFile {
    /// θ, the generator, the step, the configuration and the kernel.
    pub trainer: Checkpoint,
    /// The metrics rows recorded up to `trainer.step`.
    pub metrics: Vec<Metrics>,
}

/// A run directory on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (nothing is read or written yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RunDir { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of one of its files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The run directories under `root`: `root` itself when it holds `config.json`,
    /// otherwise its `seed-*` subdirectories that do, in name order. Fails when there is
    /// none.
    pub fn find(root: &Path) -> Result<Vec<RunDir>> {
        if root.join(CONFIG_FILE).exists() {
            return Ok(vec![RunDir::new(root)]);
        }
        let entries = std::fs::read_dir(root).map_err(|source| Error::Io {
            file: root.display().to_string(),
            source,
        })?;
        let mut dirs = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| Error::Io {
                    file: root.display().to_string(),
                    source,
                })?
                .path();
            let is_seed = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"));
            if is_seed && path.join(CONFIG_FILE).exists() {
                dirs.push(RunDir::new(path));
            }
        }
        dirs.sort_by(|a, b| a.path.cmp(&b.path));
        if dirs.is_empty() {
            return Err(Error::invalid(
                root.display().to_string(),
                CONFIG_FILE,
                "not a run directory (no config.json, and no seed-* directories with one)",
            ));
        }
        Ok(dirs)
    }

    /// Writes what a run needs before its first step: `config.json`, `data.json` and
    /// `initial-model.json`.
    pub fn write_start(&self, config: &RunConfig, data: &Dataset, initial: &Network) -> Result<()> {
        write_atomic(&self.file(CONFIG_FILE), &to_json_pretty(config))?;
        write_atomic(&self.file(DATA_FILE), data.to_json().as_bytes())?;
        write_atomic(
            &self.file(INITIAL_MODEL_FILE),
            model_to_json(initial).as_bytes(),
        )
    }

    /// Reads `config.json`.
    pub fn read_config(&self) -> Result<RunConfig> {
        self.read_json(CONFIG_FILE)
    }

    /// Reads `data.json`.
    pub fn read_data(&self) -> Result<Dataset> {
        Dataset::from_json(&self.read_text(DATA_FILE)?, &self.name(DATA_FILE))
    }

    /// Reads `initial-model.json`.
    pub fn read_initial_model(&self) -> Result<Network> {
        model_from_json(
            &self.read_text(INITIAL_MODEL_FILE)?,
            &self.name(INITIAL_MODEL_FILE),
        )
    }

    /// Whether `checkpoint.json` exists.
    pub fn has_checkpoint(&self) -> bool {
        self.file(CHECKPOINT_FILE).exists()
    }

    /// Reads `checkpoint.json`.
    pub fn read_checkpoint(&self) -> Result<CheckpointFile> {
        self.read_json(CHECKPOINT_FILE)
    }

    /// Writes `checkpoint.json` (atomically: a kill leaves the previous one whole).
    pub fn write_checkpoint(&self, checkpoint: &CheckpointFile) -> Result<()> {
        let bytes = serde_json::to_vec(checkpoint).expect("checkpoints serialize");
        write_atomic(&self.file(CHECKPOINT_FILE), &bytes)
    }

    /// Writes a finished (or diverged, or cancelled) run's results: `metrics.csv`,
    /// `model.json`, `model.safetensors` and `summary.json`.
    pub fn write_outcome(&self, outcome: &RunOutcome) -> Result<()> {
        write_atomic(
            &self.file(METRICS_FILE),
            metrics_csv(&outcome.metrics).as_bytes(),
        )?;
        write_atomic(
            &self.file(MODEL_JSON_FILE),
            model_to_json(&outcome.network).as_bytes(),
        )?;
        write_atomic(
            &self.file(MODEL_SAFETENSORS_FILE),
            &model_to_safetensors(&outcome.network),
        )?;
        write_atomic(&self.file(SUMMARY_FILE), &to_json_pretty(&outcome.summary))
    }

    fn name(&self, file: &str) -> String {
        self.file(file).display().to_string()
    }

    fn read_text(&self, file: &str) -> Result<String> {
        std::fs::read_to_string(self.file(file)).map_err(|source| Error::Io {
            file: self.name(file),
            source,
        })
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, file: &str) -> Result<T> {
        serde_json::from_str(&self.read_text(file)?).map_err(|e| {
            Error::invalid(self.name(file), format!("line {}", e.line()), e.to_string())
        })
    }
}

/// Writes the list of several seeds' summaries as `root/summary.json`.
pub fn write_seed_summaries(root: &Path, summaries: &[Summary]) -> Result<()> {
    write_atomic(&root.join(SUMMARY_FILE), &to_json_pretty(&summaries))
}

/// The directory of seed `seed` of a run with several seeds under `root`.
pub fn seed_dir(root: &Path, seed: u64) -> PathBuf {
    root.join(format!("seed-{seed}"))
}

fn to_json_pretty<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("run files serialize")
}

/// `metrics.csv`: a header of [`METRICS_COLUMNS`] and one row per [`Metrics`]; floats in
/// Rust's shortest round-trip form, empty cells for metrics that are not defined.
pub fn metrics_csv(rows: &[Metrics]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut s = METRICS_COLUMNS.join(",");
    s.push('\n');
    for m in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            m.step,
            m.train_loss,
            m.reg,
            m.null_reg_grad_norm,
            m.param_norm,
            opt(m.curve_length.map(|v| v.to_string())),
            opt(m.convexity_changes.map(|v| v.to_string())),
            opt(m.kinks.map(|v| v.to_string())),
        ));
    }
    s
}
