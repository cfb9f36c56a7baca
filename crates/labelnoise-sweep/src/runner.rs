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
//! Points that can train together go together (`tasks_of`): the to-do points whose runs
//! share a schedule (start step, length, metrics steps, checkpoint period) and can share a
//! pack of vector lanes (`labelnoise_core::train::packed`: the fused relu kernel at width
//! at most 128, one data set and shape, Rademacher or uniform noise or copies; seeds, η and
//! σ may differ) are grouped by the core's [`lockstep_groups`] for the number of workers,
//! in packs of up to 8 when that is faster, and each pack is one task, run by
//! [`execute_together`] with the same bits per point as alone. Every other point is a task
//! of its own. A task locks and prepares each of its points' directories first; a point
//! that cannot be locked or prepared is reported (and recorded in `failed.json` as today)
//! and the others of its pack run without it.
//!
//! Workers take the tasks in decreasing cost of their first point from a shared counter,
//! so the longest start first and no worker idles while tasks remain.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use labelnoise_core::files::write_atomic;
use labelnoise_core::train::run_dir::{CONFIG_FILE, SUMMARY_FILE};
use labelnoise_core::train::{
    execute_together, lockstep_groups, CancelToken, Observer, ResumePoint, Run, RunConfig, RunDir,
    RunView, Summary,
};
use labelnoise_core::{Dataset, Network};
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

/// What [`plan_shard`] found: the shard's points, those already done, and the tasks
/// that [`run_planned`] gives its workers. Planning reads the point directories and
/// writes nothing.
pub struct ShardPlan {
    jobs: usize,
    /// Every point of the shard.
    points: usize,
    /// The points already done (skipped).
    skipped: BTreeMap<usize, PointEnd>,
    /// The steps still to do.
    steps_to_do: u64,
    /// The tasks in the order the workers take them.
    tasks: Vec<Task>,
    /// The data sets loaded while planning, by name, reused by the workers.
    data_sets: Mutex<BTreeMap<String, Dataset>>,
}

/// One task: points trained together in lockstep (a pack), or one point.
#[derive(Clone, Debug, PartialEq)]
struct Task {
    points: Vec<usize>,
    /// The bytes its runs hold while they execute (the sum of their
    /// [`Run::memory_estimate`]s; 0 for a point whose run cannot be built, which fails).
    bytes: u128,
}

impl ShardPlan {
    /// How many tasks (packs or single points) there are to run.
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }

    /// The memory that the workers need at once: the sum of the `jobs` largest tasks'.
    pub fn memory_at_once(&self) -> u128 {
        self.at_once().0
    }

    /// The `jobs` largest tasks together: their bytes and their number of points.
    fn at_once(&self) -> (u128, usize) {
        let mut sizes: Vec<(u128, usize)> = self
            .tasks
            .iter()
            .map(|t| (t.bytes, t.points.len()))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes
            .iter()
            .take(self.workers())
            .fold((0, 0), |(b, n), t| (b + t.0, n + t.1))
    }

    /// How many workers run tasks: `jobs`, or fewer when there are fewer tasks.
    fn workers(&self) -> usize {
        self.jobs.max(1).min(self.tasks.len().max(1))
    }
}

/// Plans the points of `shard` that are not done for `jobs` workers (each running one
/// point or one pack of points training together) in `root`, and refuses, before
/// anything is written, a plan whose concurrent tasks cannot fit in memory together
/// (each point alone was checked with the sweep file; see `labelnoise_core::memory` and
/// docs/limits.md): the error names `--jobs`. Checked by
/// `tests::a_plan_needs_the_memory_of_its_largest_concurrent_tasks` and the
/// command-line test `limits.rs::sweep_refuses_points_that_cannot_fit_at_once`.
pub fn plan_shard(sweep: &Sweep, root: &Path, shard: Shard, jobs: usize) -> Result<ShardPlan> {
    let costs: Vec<f64> = sweep.infos().iter().map(|i| i.cost()).collect();
    let mine = points_of(&costs, shard);
    let mut skipped = BTreeMap::new();
    let mut todo = Vec::new();
    let mut steps_to_do = 0;
    for &i in &mine {
        let dir = root.join(sweep.point(i).dir);
        match point_state(&dir) {
            s if s.is_done() => {
                skipped.insert(i, PointEnd::Skipped);
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
    let data_sets = Mutex::new(BTreeMap::<String, Dataset>::new());
    let tasks = tasks_of(sweep, root, &todo, jobs, &data_sets);
    let plan = ShardPlan {
        jobs,
        points: mine.len(),
        skipped,
        steps_to_do,
        tasks,
        data_sets,
    };
    // Even one worker may hold several runs at once, in a pack of lanes.
    let workers = plan.workers();
    if !plan.tasks.is_empty() {
        let (bytes, busiest) = plan.at_once();
        labelnoise_core::memory::check_fits(
            "--jobs",
            &format!(
                "running {busiest} point{} at once on {workers} worker{}",
                if busiest == 1 { "" } else { "s" },
                if workers == 1 { "" } else { "s" }
            ),
            bytes,
        )
        .map_err(|e| match e {
            labelnoise_core::Error::Parameter { name, message } => {
                labelnoise_core::Error::parameter(name, format!("{message}; lower --jobs"))
            }
            e => e,
        })?;
    }
    Ok(plan)
}

/// Runs the points of `shard` that are not done, on `jobs` workers (each running one
/// point or one pack of points training together), in `root` (prepared
/// with [`crate::manifest::prepare`]): [`plan_shard`], then [`run_planned`].
pub fn run_shard(
    sweep: &Sweep,
    root: &Path,
    shard: Shard,
    jobs: usize,
    progress: &dyn SweepProgress,
    cancel: &CancelToken,
) -> Result<ShardReport> {
    let plan = plan_shard(sweep, root, shard, jobs)?;
    Ok(run_planned(sweep, root, plan, progress, cancel))
}

/// Runs a shard as [`plan_shard`] planned it, in `root` (prepared with
/// [`crate::manifest::prepare`]). Setting `cancel` stops the running points at their
/// next stop, with a checkpoint (the next run resumes them), and starts no more.
pub fn run_planned(
    sweep: &Sweep,
    root: &Path,
    plan: ShardPlan,
    progress: &dyn SweepProgress,
    cancel: &CancelToken,
) -> ShardReport {
    let wall = Instant::now();
    let mut report = ShardReport {
        points: plan.skipped.clone(),
        ..ShardReport::default()
    };
    progress.started(plan.steps_to_do, plan.points, report.points.len());
    for (&i, e) in &report.points {
        progress.point_ended(i, e);
    }
    let next = AtomicUsize::new(0);
    let ends = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..plan.workers() {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(task) = plan.tasks.get(k) else { break };
                if cancel.is_cancelled() {
                    break;
                }
                let ended = |i: usize, end: PointEnd| {
                    progress.point_ended(i, &end);
                    ends.lock().expect("no worker panics").push((i, end));
                };
                run_task(
                    sweep,
                    root,
                    &task.points,
                    &plan.data_sets,
                    progress,
                    cancel,
                    ended,
                );
            });
        }
    });
    report
        .points
        .extend(ends.into_inner().expect("no worker panics"));
    report.wall_seconds = wall.elapsed().as_secs_f64();
    report
}

/// The bytes of the runs that planning holds before it groups them: at most this much
/// (or one run, if larger) at a time; the points beyond are grouped in a next batch.
const PLANNING_BYTES: u128 = 256 << 20;

/// The tasks the workers take, in the order they take them: groups of the `todo` points
/// (in decreasing cost) that train in lockstep, packed in vector lanes, and single points.
/// Each point's run is built as its directory says now (resumed from its checkpoint, or
/// from the sweep), without writing anything, and those that can pack
/// ([`Run::can_pack`]) are grouped by the core's [`lockstep_groups`] for `jobs` workers;
/// a point whose run cannot pack, or cannot be built (its task then records why), is a
/// task of its own. Each task starts where its first point is in `todo`.
///
/// The runs that can pack are held until they are grouped, in batches of at most
/// [`PLANNING_BYTES`] of network and data, so that planning a sweep of 10⁶ points does
/// not hold 10⁶ runs; a family split between batches only makes one more, partly filled
/// pack per batch.
fn tasks_of(
    sweep: &Sweep,
    root: &Path,
    todo: &[usize],
    jobs: usize,
    data_sets: &Mutex<BTreeMap<String, Dataset>>,
) -> Vec<Task> {
    let mut packable: Vec<(usize, Run)> = Vec::new();
    let mut held: u128 = 0;
    let mut tasks: Vec<(usize, Task)> = Vec::new();
    let group = |packable: &mut Vec<(usize, Run)>, tasks: &mut Vec<(usize, Task)>| {
        let runs: Vec<&Run> = packable.iter().map(|(_, run)| run).collect();
        for group in lockstep_groups(&runs, jobs.max(1)) {
            let at = packable[group[0]].0;
            tasks.push((
                at,
                Task {
                    points: group.iter().map(|&k| todo[packable[k].0]).collect(),
                    bytes: group.iter().map(|&k| packable[k].1.memory_estimate()).sum(),
                },
            ));
        }
        packable.clear();
    };
    for (at, &i) in todo.iter().enumerate() {
        let dir = RunDir::new(root.join(sweep.point(i).dir));
        let run = if dir.file(CONFIG_FILE).exists() {
            Run::resume(dir.clone())
        } else {
            fresh_run(sweep, i, &dir, data_sets).map(|(run, ..)| run)
        };
        match run {
            Ok(run) if run.can_pack() => {
                held += held_bytes(&run);
                packable.push((at, run));
                if held > PLANNING_BYTES {
                    group(&mut packable, &mut tasks);
                    held = 0;
                }
            }
            Ok(run) => tasks.push((
                at,
                Task {
                    points: vec![i],
                    bytes: run.memory_estimate(),
                },
            )),
            Err(_) => tasks.push((
                at,
                Task {
                    points: vec![i],
                    bytes: 0,
                },
            )),
        }
    }
    group(&mut packable, &mut tasks);
    tasks.sort_by_key(|(at, _)| *at);
    tasks.into_iter().map(|(_, task)| task).collect()
}

/// Roughly what a built run holds before it executes: its network (as built, in the
/// trainer and its template: three copies of θ) and its data (in the run and in the
/// trainer: two copies), plus a fixed allowance for the rest.
fn held_bytes(run: &Run) -> u128 {
    let p = run.initial_network().param_count() as u128;
    let data = run.data();
    let values = (data.len() * (data.dim() + 1)) as u128;
    8 * (3 * p + 2 * values) + 4096
}

/// Point `i`'s run built from the sweep (a fresh start in `dir`), with what its
/// directory's starting files are to hold; nothing is written.
fn fresh_run(
    sweep: &Sweep,
    i: usize,
    dir: &RunDir,
    data_sets: &Mutex<BTreeMap<String, Dataset>>,
) -> labelnoise_core::Result<(Run, RunConfig, Dataset, Network)> {
    let point = sweep.point(i);
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
    let run = Run::new(net.clone(), data.clone(), &train)?.checkpoint_every(checkpoint_every);
    Ok((run, config, data, net))
}

/// Prepares point `i`'s directory (which the caller has locked) and returns its run,
/// ready to execute: the run continues from the directory's starting files when they are
/// whole (from its newest valid checkpoint, or from step 0 if it was stopped before the
/// first), else it starts from the sweep and writes them.
fn prepare(
    sweep: &Sweep,
    dir: &RunDir,
    i: usize,
    data_sets: &Mutex<BTreeMap<String, Dataset>>,
) -> labelnoise_core::Result<Run> {
    if dir.file(CONFIG_FILE).exists() {
        return Run::resume(dir.clone());
    }
    let (run, config, data, net) = fresh_run(sweep, i, dir, data_sets)?;
    let _ = std::fs::remove_file(dir.file(FAILED_FILE));
    dir.write_start(&config, &data, &net)?;
    Ok(run.write_to(dir.clone()))
}

/// Records a failed attempt at a point in its `failed.json` (tried again next time).
fn failed(dir: &RunDir, e: &labelnoise_core::Error) -> PointEnd {
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

/// Runs (or resumes) the points of one task, in lockstep where they can train together
/// ([`execute_together`]); never fails: a point that cannot be locked (another process
/// runs it) is reported failed, one whose preparation or run fails gets a `failed.json`,
/// and neither stops the others. `ended` gets each point's end, once, after its
/// directory is unlocked.
fn run_task(
    sweep: &Sweep,
    root: &Path,
    task: &[usize],
    data_sets: &Mutex<BTreeMap<String, Dataset>>,
    progress: &dyn SweepProgress,
    cancel: &CancelToken,
    ended: impl Fn(usize, PointEnd) + Sync,
) {
    let start = |i: usize| {
        let dir = RunDir::new(root.join(sweep.point(i).dir));
        // One writer per point: another process (a shard started twice) holding it is
        // reported, and nothing is written into its directory.
        let lock = match dir.lock() {
            Ok(lock) => lock,
            Err(e) => {
                ended(i, PointEnd::Failed(e.to_string()));
                return None;
            }
        };
        match prepare(sweep, &dir, i, data_sets) {
            Ok(run) => Some((i, dir, lock, run)),
            Err(e) => {
                let end = failed(&dir, &e);
                drop(lock);
                ended(i, end);
                None
            }
        }
    };
    // The points of a pack are prepared on threads of their own, so that the waits of
    // their file writes (each synced to disk) overlap.
    let ready: Vec<_> = if let [i] = task {
        start(*i).into_iter().collect()
    } else {
        std::thread::scope(|scope| {
            let starts: Vec<_> = task
                .iter()
                .map(|&i| scope.spawn(move || start(i)))
                .collect();
            starts
                .into_iter()
                .filter_map(|s| s.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    let mut observers = Vec::with_capacity(ready.len());
    let mut runs = Vec::with_capacity(ready.len());
    let mut points = Vec::with_capacity(ready.len());
    for (i, dir, lock, run) in ready {
        let resumed = matches!(run.resumed_from(), Some(ResumePoint::Checkpoint(_)));
        let start = run.trainer().step();
        observers.push(Steps {
            progress,
            last: start,
        });
        runs.push(run.cancel_on(cancel.clone()));
        points.push((i, dir, lock, resumed, start));
    }
    let outcomes = execute_together(
        runs.into_iter()
            .zip(observers.iter_mut().map(|o| o as &mut dyn Observer))
            .collect(),
    );
    for ((i, dir, lock, resumed, start), outcome) in points.into_iter().zip(outcomes) {
        let end = match outcome {
            Ok(o) => point_end(resumed, start, &o.summary),
            Err(e) => failed(&dir, &e),
        };
        drop(lock);
        ended(i, end);
    }
}

/// How a point whose run returned `s` ended: `resumed` from a checkpoint, having started
/// at step `start`.
fn point_end(resumed: bool, start: u64, s: &Summary) -> PointEnd {
    if s.diverged {
        return PointEnd::Diverged(s.diverged_at.unwrap_or(s.steps));
    }
    if s.cancelled {
        return PointEnd::Cancelled(s.steps);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{manifest, SweepFile};

    fn sweep(text: &str) -> Sweep {
        SweepFile::parse(text, "s.toml")
            .and_then(|f| f.check())
            .unwrap()
    }

    const SEEDS: &str = r#"
[train]
data = "fig1"
hidden = 8
activation = "relu"
output_bias = true
noise = 0.5
lr = 1e-3
steps = 3e4
checkpoint_every = 10000
[grid]
seed = { from = 0, count = 6 }
"#;

    /// Cancels its run at the checkpoint of step 10 000.
    struct StopAtFirstCheckpoint(CancelToken);

    impl Observer for StopAtFirstCheckpoint {
        fn checkpoint_saved(&mut self, step: u64) {
            if step == 10_000 {
                self.0.cancel();
            }
        }
    }

    /// The points of each task.
    fn points(tasks: Vec<Task>) -> Vec<Vec<usize>> {
        tasks.into_iter().map(|t| t.points).collect()
    }

    #[test]
    fn points_that_pack_are_one_task_and_the_others_their_own() {
        let data_sets = Mutex::new(BTreeMap::new());
        let root = tempfile::tempdir().unwrap();
        let s = sweep(SEEDS);
        manifest::prepare(root.path(), &s).unwrap();
        let todo: Vec<usize> = vec![5, 4, 3, 2, 1, 0];
        // Six width-8 runs: one pack is worth it on two workers (4.0 x 6/8 > 2 x 1.1).
        assert_eq!(
            points(tasks_of(&s, root.path(), &todo, 2, &data_sets)),
            vec![todo.clone()]
        );
        // Gaussian noise does not step in lanes; nor does a network wider than 128.
        for (from, to) in [
            ("noise = 0.5", "noise = 0.5\nnoise_dist = \"gaussian\""),
            ("hidden = 8", "hidden = 200"),
        ] {
            let s = sweep(&SEEDS.replace(from, to));
            let singles: Vec<Vec<usize>> = todo.iter().map(|&i| vec![i]).collect();
            assert_eq!(
                points(tasks_of(&s, root.path(), &todo, 2, &data_sets)),
                singles
            );
        }
        // A point resumed from a checkpoint at step 10 000 does not go with fresh ones.
        let dir = RunDir::new(root.path().join(s.point(3).dir));
        let token = CancelToken::new();
        let run = prepare(&s, &dir, 3, &data_sets)
            .unwrap()
            .cancel_on(token.clone());
        let summary = run
            .execute(&mut StopAtFirstCheckpoint(token))
            .unwrap()
            .summary;
        assert!(summary.cancelled && summary.steps == 10_000);
        assert_eq!(point_state(dir.path()), PointState::Checkpointed(10_000));
        assert_eq!(
            points(tasks_of(&s, root.path(), &todo, 2, &data_sets)),
            vec![vec![5, 4, 2, 1, 0], vec![3]]
        );
    }

    #[test]
    fn a_plan_needs_the_memory_of_its_largest_concurrent_tasks() {
        let root = tempfile::tempdir().unwrap();
        let data_sets = Mutex::new(BTreeMap::new());
        let each = |s: &Sweep, i: usize| {
            let dir = RunDir::new(root.path().join(s.point(i).dir));
            fresh_run(s, i, &dir, &data_sets)
                .unwrap()
                .0
                .memory_estimate()
        };
        // Six width-8 seeds are one pack on two workers: it holds all six runs at once.
        let s = sweep(SEEDS);
        let plan = plan_shard(&s, root.path(), Shard::ALL, 2).unwrap();
        assert_eq!(plan.tasks(), 1);
        let six: u128 = (0..6).map(|i| each(&s, i)).sum();
        assert_eq!(plan.memory_at_once(), six);
        // At width 200 each point is a task: two workers run two of them at once, one
        // worker one; all six points have the same size.
        let s = sweep(&SEEDS.replace("hidden = 8", "hidden = 200"));
        let one = each(&s, 0);
        assert!(one > 8 * 3 * 200 * 12);
        for (jobs, at_once) in [(1, one), (2, 2 * one), (8, 6 * one)] {
            let plan = plan_shard(&s, root.path(), Shard::ALL, jobs).unwrap();
            assert_eq!((plan.tasks(), plan.memory_at_once()), (6, at_once));
        }
        // Planning wrote nothing.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
