//! The run directory: what a training run writes and reads back (documented for users in
//! `docs/formats.md#run-directories`).
//!
//! ```text
//! DIR/config.json          RunConfig: everything needed to rerun (version, command, data,
//!                          starting model, the SGD configuration with its seed)
//! DIR/data.json            the data as trained on (data JSON format)
//! DIR/initial-model.json   the starting network (model JSON format)
//! DIR/checkpoint.json      CheckpointFile: θ, generator state, kernel, metrics so far
//!                          (with --checkpoint-every N, and when a run is cancelled),
//!                          with the SHA-256 of its content
//! DIR/checkpoint.prev.json the checkpoint before it, kept until the new one is in place
//! DIR/metrics.csv          one row per log-spaced step (columns: METRICS_COLUMNS)
//! DIR/model.json           the final network (the last finite state if the run diverged)
//! DIR/model.safetensors    the same network as safetensors
//! DIR/summary.json         Summary: steps, divergence, kernel, speed, final metrics
//! ```
//!
//! With several seeds, each seed has its own `DIR/seed-S/` holding the files above,
//! `DIR/seeds.json` lists the seeds (written once every seed's directory is set up) and
//! `DIR/summary.json` is the list of the seeds' summaries. Every file is written
//! atomically ([`write_atomic`]), `config.json` last of a run's starting files, so a
//! killed run leaves whole files behind: a directory with `config.json` can always be
//! resumed ([`RunDir::latest_checkpoint`] picks the newest checkpoint whose checksum
//! holds, or none: from the start).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::outcome::{RunOutcome, Summary};
use super::{Checkpoint, TrainConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::files::{remove_temporaries, write_atomic, write_atomic_keeping_previous, DirLock};
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
/// `checkpoint.prev.json`: the checkpoint before `checkpoint.json`.
pub const PREVIOUS_CHECKPOINT_FILE: &str = "checkpoint.prev.json";
/// `seeds.json`: the seeds of a run with several (in its root directory).
pub const SEEDS_FILE: &str = "seeds.json";
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

/// Which checkpoint [`RunDir::latest_checkpoint`] chose, for a front end to tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointChoice {
    /// The file read.
    pub file: PathBuf,
    /// Its step.
    pub step: u64,
    /// Newer checkpoint files that were refused, and why (a bad checksum, a truncated
    /// file, not JSON).
    pub refused: Vec<(PathBuf, String)>,
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

    /// Locks the directory for this process ([`DirLock`]; created if missing) and
    /// removes the temporary files a killed writer left in it and in its `seed-*`
    /// directories. Hold the lock while writing into the directory.
    pub fn lock(&self) -> Result<DirLock> {
        let lock = DirLock::acquire(&self.path)?;
        remove_temporaries(&self.path)?;
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let is_seed = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with("seed-"));
                if is_seed && entry.path().is_dir() {
                    remove_temporaries(&entry.path())?;
                }
            }
        }
        Ok(lock)
    }

    /// The path of one of its files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The run directories under `root`: `root` itself when it holds `config.json`,
    /// otherwise the `seed-S` directories its `seeds.json` lists, each of which must hold
    /// a `config.json`. Fails when `root` is not a run directory, or is one whose start
    /// was interrupted (killed before all its starting files were written).
    pub fn find(root: &Path) -> Result<Vec<RunDir>> {
        if root.join(CONFIG_FILE).exists() {
            return Ok(vec![RunDir::new(root)]);
        }
        let name = root.display().to_string();
        // A missing directory: the system's own message ("No such file or directory").
        std::fs::read_dir(root).map_err(|source| Error::Io {
            file: name.clone(),
            source,
        })?;
        let seeds_file = root.join(SEEDS_FILE);
        if !seeds_file.exists() {
            return Err(Error::invalid(
                name,
                CONFIG_FILE,
                "not a run directory, or a run stopped before its files were written \
                 (no config.json or seeds.json; start it again with train --force)",
            ));
        }
        let text = std::fs::read_to_string(&seeds_file).map_err(|source| Error::Io {
            file: seeds_file.display().to_string(),
            source,
        })?;
        let seeds: Vec<u64> = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(seeds_file.display().to_string(), "seeds", e.to_string())
        })?;
        let dirs: Vec<RunDir> = seeds
            .iter()
            .map(|&s| RunDir::new(seed_dir(root, s)))
            .collect();
        if let Some(missing) = dirs.iter().find(|d| !d.file(CONFIG_FILE).exists()) {
            return Err(Error::invalid(
                missing.path().display().to_string(),
                CONFIG_FILE,
                "missing (the directory is not this run's seed)",
            ));
        }
        Ok(dirs)
    }

    /// Writes what a run needs before its first step: `config.json`, `data.json` and
    /// `initial-model.json`.
    pub fn write_start(&self, config: &RunConfig, data: &Dataset, initial: &Network) -> Result<()> {
        // config.json last: its presence says the others are whole.
        write_atomic(&self.file(DATA_FILE), data.to_json().as_bytes())?;
        write_atomic(
            &self.file(INITIAL_MODEL_FILE),
            model_to_json(initial).as_bytes(),
        )?;
        write_atomic(&self.file(CONFIG_FILE), &to_json_pretty(config))
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

    /// Whether `checkpoint.json` or `checkpoint.prev.json` exists (valid or not).
    pub fn has_checkpoint(&self) -> bool {
        self.file(CHECKPOINT_FILE).exists() || self.file(PREVIOUS_CHECKPOINT_FILE).exists()
    }

    /// Reads and checks one checkpoint file (`checkpoint.json` or
    /// `checkpoint.prev.json`): fails naming the file when it is truncated, not JSON, or
    /// its content does not match its checksum.
    pub fn read_checkpoint_file(&self, file: &str) -> Result<CheckpointFile> {
        let bytes = std::fs::read(self.file(file)).map_err(|source| Error::Io {
            file: self.name(file),
            source,
        })?;
        let state =
            checked_state(&bytes).map_err(|why| Error::invalid(self.name(file), "sha256", why))?;
        serde_json::from_slice(state)
            .map_err(|e| Error::invalid(self.name(file), "state", e.to_string()))
    }

    /// The newest checkpoint that reads back whole: `checkpoint.json`, or else
    /// `checkpoint.prev.json` (after a kill between the two renames of a checkpoint
    /// write, or when the newer file was damaged). `None` when there is no checkpoint
    /// file; an error naming the newest file when there are some but none is valid.
    pub fn latest_checkpoint(&self) -> Result<Option<(CheckpointFile, CheckpointChoice)>> {
        let mut refused = Vec::new();
        let mut first_error = None;
        for file in [CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE] {
            if !self.file(file).exists() {
                continue;
            }
            match self.read_checkpoint_file(file) {
                Ok(checkpoint) => {
                    let choice = CheckpointChoice {
                        file: self.file(file),
                        step: checkpoint.trainer.step,
                        refused,
                    };
                    return Ok(Some((checkpoint, choice)));
                }
                Err(e) => {
                    refused.push((self.file(file), e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(None),
            Some(Error::Invalid {
                file,
                field,
                message,
            }) if refused.len() > 1 => Err(Error::Invalid {
                file,
                field,
                message: format!("{message} (and {PREVIOUS_CHECKPOINT_FILE} is not valid either)"),
            }),
            Some(e) => Err(e),
        }
    }

    /// Reads `checkpoint.json` (checked; see [`read_checkpoint_file`](Self::read_checkpoint_file)).
    pub fn read_checkpoint(&self) -> Result<CheckpointFile> {
        self.read_checkpoint_file(CHECKPOINT_FILE)
    }

    /// Writes `checkpoint.json` with the SHA-256 of its content, atomically, after
    /// moving the one before to `checkpoint.prev.json`: a kill or a full disk leaves a
    /// whole, valid checkpoint behind.
    pub fn write_checkpoint(&self, checkpoint: &CheckpointFile) -> Result<()> {
        let state = serde_json::to_vec(checkpoint).expect("checkpoints serialize");
        write_atomic_keeping_previous(
            &self.file(CHECKPOINT_FILE),
            &self.file(PREVIOUS_CHECKPOINT_FILE),
            &checksummed(&state),
        )
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

/// Writes `root/seeds.json`, the list of the seeds of a run with several: call it once
/// every seed's directory has its starting files ([`RunDir::write_start`]), so that
/// [`RunDir::find`] sees all of them or none.
pub fn write_seed_list(root: &Path, seeds: &[u64]) -> Result<()> {
    write_atomic(&root.join(SEEDS_FILE), &to_json_pretty(seeds))
}

/// The start of a checkpoint file, before the 64 hex digits of the SHA-256 of its state.
const CHECKSUM_PREFIX: &[u8] = b"{\"sha256\":\"";
/// Between the checksum and the state.
const STATE_PREFIX: &[u8] = b"\",\"state\":";

/// A checkpoint file's bytes: `{"sha256":"<hex of SHA-256(state)>","state":<state>}`,
/// where `state` is the JSON of a trainer's state. Public for tools that build
/// checkpoints, and for the fuzzer (fuzz/fuzz_targets/checkpoint.rs), which feeds
/// arbitrary states past the checksum this way.
pub fn checksummed(state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(state.len() + 96);
    out.extend_from_slice(CHECKSUM_PREFIX);
    out.extend_from_slice(sha256_hex(state).as_bytes());
    out.extend_from_slice(STATE_PREFIX);
    out.extend_from_slice(state);
    out.extend_from_slice(b"}\n");
    out
}

/// The state inside a checkpoint file's bytes, if the file has the layout of
/// [`checksummed`] and the checksum matches; otherwise what is wrong.
fn checked_state(bytes: &[u8]) -> std::result::Result<&[u8], String> {
    let layout =
        "not a labelnoise checkpoint (expected {\"sha256\":...,\"state\":...}), or truncated";
    let rest = bytes.strip_prefix(CHECKSUM_PREFIX).ok_or(layout)?;
    if rest.len() < 64 {
        return Err(layout.into());
    }
    let (hex, rest) = rest.split_at(64);
    let state = rest
        .strip_prefix(STATE_PREFIX)
        .and_then(|r| r.strip_suffix(b"}\n"))
        .ok_or(layout)?;
    if sha256_hex(state).as_bytes() != hex {
        return Err("checksum does not match the content (the file is damaged)".into());
    }
    Ok(state)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
