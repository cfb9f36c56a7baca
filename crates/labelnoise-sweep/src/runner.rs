//! Running a shard of a sweep: each point in its own run directory through the core run
//! driver ([`Run`], [`RunDir`]), several at once, idempotently.
//!
//! A point's state is read from its directory ([`point_state`]): `summary.json` of a run
//! that was not cancelled means done (finished or diverged: skipped); a `config.json`
//! means resumable (continued from its newest valid checkpoint, or from step 0 if it has
//! none, bit-identically either way); anything else starts from scratch. Each point's
//! directory is locked while it runs ([`RunDir::lock`]), so shards run in parallel and a
//! point is never written by two processes. A point whose run fails (not a divergence: an error such as
//! a refused memory estimate or a failed write) gets a `failed.json` with the message and
//! is tried again next time.
//!
//! Workers take the shard's points in decreasing cost from a shared counter, so the
//! longest start first and no worker idles while points remain.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use labelnoise_core::files::write_atomic;
use labelnoise_core::train::run_dir::{CONFIG_FILE, SUMMARY_FILE};
use labelnoise_core::train::{
    CancelToken, Observer, ResumePoint, Run, RunConfig, RunDir, RunView, Summary,
};
use labelnoise_core::Dataset;
use serde_json::Value;

use crate::error::Result;
use crate::shard::{points_of, Shard};
use crate::sweep::{PointRun, Sweep};

/// `failed.json` in a point's directory: why its last attempt failed.
pub const FAILED_FILE: &str = "failed.json";

/// What a point's directory says about it.
#[derive(Clone, Debug, PartialEq)]
pub enum PointState {
    /// Every step done.
    Finished(Box<Summary>),
    /// The run diverged (its last finite state is kept); running again would diverge
    /// again, so it is not rerun.
    Diverged(Box<Summary>),
    /// A checkpoint at this step: the run continues from it.
    Checkpointed(u64),
    /// The last attempt failed with this message.
    Failed(String),
    /// Not started, or started without a checkpoint to continue from.
    NotStarted,
}

impl PointState {
    /// Whether the point needs no more work.
    pub fn is_done(&self) -> bool {
        matches!(self, PointState::Finished(_) | PointState::Diverged(_))
    }
}

/// The state of the point whose run directory is `dir`.
pub fn point_state(dir: &Path) -> PointState {
    if let Ok(text) = std::fs::read_to_string(dir.join(SUMMARY_FILE)) {
        if let Ok(s) = serde_json::from_str::<Summary>(&text) {
            if s.diverged {
                return PointState::Diverged(Box::new(s));
            }
            if !s.cancelled {
                return PointState::Finished(Box::new(s));
            }
        }
    }
    let run = RunDir::new(dir);
    if run.has_checkpoint() && dir.join(CONFIG_FILE).exists() {
        let step = run
            .latest_checkpoint()
            .ok()
            .flatten()
            .map_or(0, |(c, _)| c.trainer.step);
        return PointState::Checkpointed(step);
    }
    if let Ok(text) = std::fs::read_to_string(dir.join(FAILED_FILE)) {
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(text);
        return PointState::Failed(msg);
    }
    PointState::NotStarted
}

/// How a point of this invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PointEnd {
    /// Already done before: not run.
    Skipped,
    /// Ran to its last step (`resumed`: from a checkpoint).
    Finished {
        /// Whether it continued from a checkpoint.
        resumed: bool,
        /// Steps run in this invocation.
        steps: u64,
        /// Training-loop seconds of those steps.
        loop_seconds: f64,
    },
    /// Diverged at this step.
    Diverged(u64),
    /// Stopped on request at this step, with a checkpoint to resume from.
    Cancelled(u64),
    /// Failed with this message.
    Failed(String),
}

/// Progress of [`run_shard`], for a front end that shows it (the library never prints).
/// Called from the worker threads.
pub trait SweepProgress: Sync {
    /// Before the first point: the steps still to do in the shard and its points.
    fn started(&self, _steps_to_do: u64, _points: usize, _already_done: usize) {}
    /// `steps` more SGD steps were done (by some point).
    fn advanced(&self, _steps: u64) {}
    /// Point `index` ended.
    fn point_ended(&self, _index: usize, _end: &PointEnd) {}
}

/// A [`SweepProgress`] that ignores everything.
pub struct NoProgress;

impl SweepProgress for NoProgress {}

/// What [`run_shard`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardReport {
    /// How each of the shard's points ended, by index.
    pub points: BTreeMap<usize, PointEnd>,
    /// Wall time of the whole shard.
    pub wall_seconds: f64,
}

impl ShardReport {
    /// The points that diverged or failed, as one line each.
    pub fn problems(&self) -> Vec<String> {
        self.points
            .iter()
            .filter_map(|(i, e)| match e {
                PointEnd::Diverged(step) => Some(format!("point {i} diverged at step {step}")),
                PointEnd::Failed(m) => Some(format!("point {i} failed: {m}")),
                PointEnd::Cancelled(step) => Some(format!(
                    "point {i} stopped at step {step} (resumable: run the sweep again)"
                )),
                _ => None,
            })
            .collect()
    }

    /// Σ over the points run of their training-loop seconds.
    pub fn loop_seconds(&self) -> f64 {
        self.points
            .values()
            .map(|e| match e {
                PointEnd::Finished { loop_seconds, .. } => *loop_seconds,
                _ => 0.0,
            })
            .sum()
    }

    /// How many points ended in each way: (skipped, finished, resumed, diverged, failed);
    /// cancelled points count as failed.
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0, 0);
        for e in self.points.values() {
            match e {
                PointEnd::Skipped => c.0 += 1,
                PointEnd::Finished { resumed: false, .. } => c.1 += 1,
                PointEnd::Finished { resumed: true, .. } => c.2 += 1,
                PointEnd::Diverged(_) => c.3 += 1,
                PointEnd::Failed(_) | PointEnd::Cancelled(_) => c.4 += 1,
            }
        }
        c
    }
}

/// The `labelnoise train` command line that runs a point by itself (written to its
/// `config.json`).
pub fn train_command(settings: &BTreeMap<String, Value>, out: &Path) -> Vec<String> {
    let mut c = vec!["labelnoise".to_string(), "train".to_string()];
    for (k, v) in settings {
        let flag = format!("--{}", k.replace('_', "-"));
        match v {
            Value::Bool(true) => c.push(flag),
            Value::Bool(false) => {}
            Value::Array(items) => {
                for item in items {
                    c.push(flag.clone());
                    c.push(plain(item));
                }
            }
            other => {
                c.push(flag);
                c.push(plain(other));
            }
        }
    }
    c.push("--out".into());
    c.push(out.display().to_string());
    c
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reports a run's steps to the sweep's progress.
struct Steps<'a> {
    progress: &'a dyn SweepProgress,
    last: u64,
}

impl Observer for Steps<'_> {
    fn progress(&mut self, run: &RunView<'_>) {
        let step = run.step();
        if step > self.last {
            self.progress.advanced(step - self.last);
        }
        self.last = step;
    }
}

/// Runs the points of `shard` that are not done, `jobs` at a time, in `root` (prepared
/// with [`crate::manifest::prepare`]). Setting `cancel` stops the running points at
/// their next stop, with a checkpoint (the next run resumes them), and starts no more.
pub fn run_shard(
    sweep: &Sweep,
    root: &Path,
    shard: Shard,
    jobs: usize,
    progress: &dyn SweepProgress,
    cancel: &CancelToken,
) -> Result<ShardReport> {
    let wall = Instant::now();
    let costs: Vec<f64> = sweep.infos().iter().map(|i| i.cost()).collect();
    let mine = points_of(&costs, shard);
    let mut report = ShardReport::default();
    let mut todo = Vec::new();
    let mut steps_to_do = 0;
    for &i in &mine {
        let dir = root.join(sweep.point(i).dir);
        match point_state(&dir) {
            s if s.is_done() => {
                report.points.insert(i, PointEnd::Skipped);
            }
            PointState::Checkpointed(step) => {
                steps_to_do += sweep.info(i).steps.saturating_sub(step);
                todo.push(i);
            }
            _ => {
                steps_to_do += sweep.info(i).steps;
                todo.push(i);
            }
        }
    }
    progress.started(steps_to_do, mine.len(), report.points.len());
    for (&i, e) in &report.points {
        progress.point_ended(i, e);
    }
    let next = AtomicUsize::new(0);
    let ends = Mutex::new(Vec::new());
    let data_sets = Mutex::new(BTreeMap::<String, Dataset>::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(todo.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = todo.get(k) else { break };
                if cancel.is_cancelled() {
                    break;
                }
                let end = run_point(sweep, root, i, &data_sets, progress, cancel);
                progress.point_ended(i, &end);
                ends.lock().expect("no worker panics").push((i, end));
            });
        }
    });
    report
        .points
        .extend(ends.into_inner().expect("no worker panics"));
    report.wall_seconds = wall.elapsed().as_secs_f64();
    Ok(report)
}

/// Runs (or resumes) point `i`; never fails: a failure is recorded in `failed.json`.
fn run_point(
    sweep: &Sweep,
    root: &Path,
    i: usize,
    data_sets: &Mutex<BTreeMap<String, Dataset>>,
    progress: &dyn SweepProgress,
    cancel: &CancelToken,
) -> PointEnd {
    let point = sweep.point(i);
    let dir = RunDir::new(root.join(&point.dir));
    // One writer per point: another process (a shard started twice) holding it is
    // reported, and nothing is written into its directory.
    let _lock = match dir.lock() {
        Ok(lock) => lock,
        Err(e) => return PointEnd::Failed(e.to_string()),
    };
    let attempt = || -> labelnoise_core::Result<(bool, u64, Summary)> {
        // A point whose starting files are whole continues (from its newest valid
        // checkpoint, or from step 0 if it was stopped before the first).
        let run = if dir.file(CONFIG_FILE).exists() {
            Run::resume(dir.clone())?
        } else {
            let PointRun {
                data: data_name,
                network,
                train,
                checkpoint_every,
            } = sweep.run_of(i);
            let data = {
                let mut cache = data_sets.lock().expect("no worker panics");
                match cache.get(&data_name) {
                    Some(d) => d.clone(),
                    None => {
                        let d = Dataset::load(&data_name)?;
                        cache.insert(data_name.clone(), d.clone());
                        d
                    }
                }
            };
            let net = network.build(&data, &data_name, train.seed)?;
            let config = RunConfig {
                version: env!("CARGO_PKG_VERSION").to_string(),
                command: train_command(&point.settings, dir.path()),
                data: data_name.clone(),
                model: net.describe(),
                init_model: network.init_model.clone(),
                init_scale: network.init_scale,
                output_init_scale: network.output_init_scale,
                train: train.clone(),
                checkpoint_every,
            };
            let run = Run::new(net.clone(), data.clone(), &train)?
                .checkpoint_every(checkpoint_every)
                .write_to(dir.clone());
            let _ = std::fs::remove_file(dir.file(FAILED_FILE));
            dir.write_start(&config, &data, &net)?;
            run
        };
        let resumed = matches!(run.resumed_from(), Some(ResumePoint::Checkpoint(_)));
        let run = run.cancel_on(cancel.clone());
        let start = run.trainer().step();
        let mut observer = Steps {
            progress,
            last: start,
        };
        let outcome = run.execute(&mut observer)?;
        Ok((resumed, start, outcome.summary))
    };
    match attempt() {
        Ok((_, _, s)) if s.diverged => PointEnd::Diverged(s.diverged_at.unwrap_or(s.steps)),
        Ok((_, _, s)) if s.cancelled => PointEnd::Cancelled(s.steps),
        Ok((resumed, start, s)) => {
            let steps = s.steps - start;
            PointEnd::Finished {
                resumed,
                steps,
                loop_seconds: if s.steps_per_second > 0.0 {
                    steps as f64 / s.steps_per_second
                } else {
                    0.0
                },
            }
        }
        Err(e) => {
            let message = e.to_string();
            let body = serde_json::json!({ "error": message });
            let _ = write_atomic(
                &dir.file(FAILED_FILE),
                serde_json::to_string_pretty(&body)
                    .expect("serializes")
                    .as_bytes(),
            );
            PointEnd::Failed(message)
        }
    }
}
