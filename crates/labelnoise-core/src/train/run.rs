//! The run driver: one SGD run from a checked configuration to its result, the way every
//! front end (the command line's `train` and `resume`, the Python package, the browser
//! page) runs one.
//!
//! A [`Run`] steps its [`Trainer`] in chunks up to the next *stop* — a log-spaced metrics
//! step ([`log_spaced_steps`]), a checkpoint step, or one of about 1000 progress steps —
//! and between chunks:
//! - sends the network at each metrics step to a worker thread that computes its
//!   [`Metrics`] beside the training loop (they cost a QR factorization of the p x n
//!   Jacobian and the shape report, comparable to thousands of steps; with a free core
//!   they cost the run no time). Rows come back in step order; at most [`max_pending`]
//!   snapshots wait, so memory stays bounded;
//! - writes `checkpoint.json` to its [`RunDir`] every `checkpoint_every` steps, after
//!   waiting for the worker so the file holds every row up to its step; [`Run::resume`]
//!   continues from it to a result bit-identical to an uninterrupted run;
//! - stops on divergence — a non-finite residual or θ ([`RunStatus::Diverged`]), or a
//!   metrics row whose loss or reg overflowed although θ is finite — keeping the last
//!   state whose metrics were finite;
//! - stops on request when its [`CancelToken`] is set (it then writes a checkpoint, so
//!   the run can be resumed, and the results so far);
//! - reports progress to an [`Observer`] (a progress bar, a Python callback, a browser
//!   frame stream).
//!
//! The driver writes files only when given a [`RunDir`]; without one a run lives in
//! memory and its [`RunOutcome`] holds everything.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use super::metrics::{metrics, Metrics};
use super::outcome::{RunOutcome, Summary};
use super::packed::PACK;
use super::run_dir::{CheckpointChoice, CheckpointFile, RunDir};
use super::schedule::log_spaced_steps;
use super::{Checkpoint, RunStatus, TrainConfig, Trainer};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;

/// A flag a front end sets to stop a run at its next stop (within about a thousandth of
/// the run, and at most a few milliseconds of training at the usual sizes). Cheap to
/// clone; all clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every run holding this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The shared flag itself, for code that can only set an `AtomicBool` — a signal
    /// handler (`signal_hook::flag::register`) sets it without locks or allocation.
    /// Storing `true` in it is [`cancel`](Self::cancel).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// What a run is doing, as an [`Observer`] sees it.
pub struct RunView<'a> {
    trainer: &'a Trainer,
    total: u64,
    steps_per_second: f64,
    seconds: f64,
}

impl RunView<'_> {
    /// Seconds spent in the training loop so far in this call to [`Run::execute`]
    /// (metrics, checkpoints and observers not counted).
    pub fn training_seconds(&self) -> f64 {
        self.seconds
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.trainer.step()
    }

    /// Steps the run will do in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// SGD steps per second of training-loop time so far (metrics and writing excluded);
    /// 0 before the first chunk.
    pub fn steps_per_second(&self) -> f64 {
        self.steps_per_second
    }

    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.trainer.config().seed
    }

    /// θ now (no copy).
    pub fn params(&self) -> &[f64] {
        self.trainer.params()
    }

    /// The network now (a copy).
    pub fn network(&self) -> Network {
        self.trainer.network()
    }
}

/// Receives a run's progress. Every method has an empty default, so an observer
/// implements only what it shows.
pub trait Observer {
    /// After every chunk of steps (about 1000 per run, plus the metrics and checkpoint
    /// steps), and once before the first.
    fn progress(&mut self, _run: &RunView<'_>) {}

    /// A metrics row, in step order, as soon as the worker thread has it.
    fn metrics(&mut self, _row: &Metrics, _run: &RunView<'_>) {}

    /// After `checkpoint.json` was written for step `step`.
    fn checkpoint_saved(&mut self, _step: u64) {}

    /// At each step given to [`Run::pause_at`], with the training loop stopped there:
    /// `run.network()` is the network at exactly that step (for measurements a front
    /// end or an experiment takes itself).
    fn paused(&mut self, _run: &RunView<'_>) {}
}

/// A borrowed observer observes as its owner would: [`execute_all`] takes its observers
/// by value, and a caller that reads what they gathered afterwards hands it `&mut` ones.
impl<O: Observer + ?Sized> Observer for &mut O {
    fn progress(&mut self, run: &RunView<'_>) {
        (**self).progress(run);
    }

    fn metrics(&mut self, row: &Metrics, run: &RunView<'_>) {
        (**self).metrics(row, run);
    }

    fn checkpoint_saved(&mut self, step: u64) {
        (**self).checkpoint_saved(step);
    }

    fn paused(&mut self, run: &RunView<'_>) {
        (**self).paused(run);
    }
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Where [`Run::resume`] continues a run from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumePoint {
    /// The run directory had no checkpoint (the run was stopped before its first one):
    /// the run starts again from step 0, from its `config.json` and
    /// `initial-model.json`.
    Start,
    /// This checkpoint (the newest valid one).
    Checkpoint(CheckpointChoice),
}

/// One SGD run, ready to go: the starting network, the data, the trainer, and what to
/// do besides training (checkpoints, a run directory, a cancel flag).
pub struct Run {
    initial: Network,
    data: Dataset,
    trainer: Trainer,
    rows: Vec<Metrics>,
    checkpoint_every: u64,
    dir: Option<RunDir>,
    cancel: Vec<CancelToken>,
    pauses: Vec<u64>,
    resumed: Option<ResumePoint>,
}

impl Run {
    /// A run of `config` from `net` on `data`; checks the configuration (errors name
    /// the command-line flag).
    pub fn new(net: Network, data: Dataset, config: &TrainConfig) -> Result<Self> {
        let checked = config.check(&net, &data)?;
        check_memory(&net, &data, config.log_points)?;
        check_finite_start(&net, &data)?;
        Ok(Run {
            trainer: Trainer::new(net.clone(), data.clone(), checked),
            initial: net,
            data,
            rows: Vec::new(),
            checkpoint_every: 0,
            dir: None,
            cancel: Vec::new(),
            pauses: Vec::new(),
            resumed: None,
        })
    }

    /// Continues a run from `checkpoint`: `initial` is the run's starting network (its
    /// structure and frozen values), `data` its data.
    pub fn from_checkpoint(
        initial: Network,
        data: Dataset,
        checkpoint: CheckpointFile,
    ) -> Result<Self> {
        let trainer = Trainer::resume(initial.clone(), data.clone(), checkpoint.trainer)?;
        if let Some(row) = checkpoint.metrics.iter().find(|m| m.step > trainer.step()) {
            return Err(Error::invalid(
                "checkpoint.json",
                "metrics",
                format!(
                    "a row at step {} after the checkpoint's step {}",
                    row.step,
                    trainer.step()
                ),
            ));
        }
        Ok(Run {
            initial,
            data,
            trainer,
            rows: checkpoint.metrics,
            checkpoint_every: 0,
            dir: None,
            cancel: Vec::new(),
            pauses: Vec::new(),
            resumed: None,
        })
    }

    /// Continues the run in `dir` from its newest valid checkpoint
    /// ([`RunDir::latest_checkpoint`]), or from step 0 when it has none, with the
    /// checkpoint period of its `config.json`, writing to the same directory. Either way
    /// the result is bit-identical to an uninterrupted run. [`resumed_from`](Self::resumed_from)
    /// says which. Fails naming the file when the only checkpoints are damaged.
    pub fn resume(dir: RunDir) -> Result<Self> {
        let config = dir.read_config()?;
        let data = dir.read_data()?;
        let initial = dir.read_initial_model()?;
        let (run, point) = match dir.latest_checkpoint()? {
            Some((checkpoint, choice)) => (
                Self::from_checkpoint(initial, data, checkpoint)?,
                ResumePoint::Checkpoint(choice),
            ),
            None => (Self::new(initial, data, &config.train)?, ResumePoint::Start),
        };
        let mut run = run.checkpoint_every(config.checkpoint_every).write_to(dir);
        run.resumed = Some(point);
        Ok(run)
    }

    /// Where a run made by [`resume`](Self::resume) continues from (`None` for other
    /// runs).
    pub fn resumed_from(&self) -> Option<&ResumePoint> {
        self.resumed.as_ref()
    }

    /// Writes `checkpoint.json` every `n` steps and at the last step (0: never; a run
    /// directory is needed, see [`write_to`](Self::write_to)).
    pub fn checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoint_every = n;
        self
    }

    /// Writes checkpoints and, at the end, the results into `dir` (see
    /// [`RunDir::write_outcome`]). The files a run needs first (`config.json`, …) are
    /// the caller's: [`RunDir::write_start`].
    pub fn write_to(mut self, dir: RunDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Also stops the training loop at these steps and calls [`Observer::paused`] there
    /// (step 0 included, before the first step). Steps past the last are ignored.
    pub fn pause_at(mut self, steps: impl IntoIterator<Item = u64>) -> Self {
        self.pauses.extend(steps);
        self.pauses.sort_unstable();
        self.pauses.dedup();
        self
    }

    /// Stops the run when `token` is set. May be given more than once: any one of the
    /// tokens stops it (an experiment's own stop on a failed measurement, and the user's
    /// Ctrl-C).
    pub fn cancel_on(mut self, token: CancelToken) -> Self {
        self.cancel.push(token);
        self
    }

    /// The trainer (its configuration, step and kernel).
    pub fn trainer(&self) -> &Trainer {
        &self.trainer
    }

    /// The starting network.
    pub fn initial_network(&self) -> &Network {
        &self.initial
    }

    /// The data set it trains on.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The run directory, if any.
    pub fn dir(&self) -> Option<&RunDir> {
        self.dir.as_ref()
    }

    /// Runs to the last step (or divergence, or cancellation) and returns the result,
    /// having written it to the run directory if there is one.
    pub fn execute(self, observer: &mut dyn Observer) -> Result<RunOutcome> {
        execute_in_lockstep(vec![(self, observer)])
            .pop()
            .expect("one result per run")
    }

    /// Whether this run could train packed in vector lanes beside other runs
    /// (`super::packed`, "What packs": the fused relu kernel at width at most
    /// `PACK_MAX_WIDTH`, Rademacher or uniform noise or copies, not diverged). A run for
    /// which this is false is in a group of its own in [`lockstep_groups`], so a caller
    /// that plans groups of many runs need not keep it.
    pub fn can_pack(&self) -> bool {
        self.trainer.pack_width().is_some()
    }

    /// The bytes this run needs while it executes ([`memory_estimate`] of its network,
    /// data and metrics rows); [`Run::new`] refused it if they do not fit alone.
    pub fn memory_estimate(&self) -> u128 {
        memory_estimate(&self.initial, &self.data, self.trainer.config().log_points)
    }

    /// What must agree for runs to go through their stops together
    /// ([`execute_all`]): the step they start from, their length, metrics steps, pauses
    /// and checkpoint period.
    fn schedule(&self) -> (u64, u64, usize, &[u64], u64) {
        let c = self.trainer.config();
        (
            self.trainer.step(),
            c.steps,
            c.log_points,
            &self.pauses,
            self.checkpoint_every,
        )
    }
}

/// One run inside [`execute_in_lockstep`]: its parts, its observer and where it is.
struct Lane<'o> {
    initial: Network,
    data: Dataset,
    trainer: Trainer,
    rows: Vec<Metrics>,
    checkpoint_every: u64,
    dir: Option<RunDir>,
    cancel: Vec<CancelToken>,
    pauses: Vec<u64>,
    observer: &'o mut dyn Observer,
    clock: Clock,
    last_good: Checkpoint,
    diverged_at: Option<u64>,
    cancelled: bool,
    /// The run stopped before the last stop (diverged, cancelled, or failed).
    stopped: bool,
    /// Its metrics worker reported an overflow: nothing more to receive.
    overflowed: bool,
    error: Option<Error>,
}

impl Lane<'_> {
    /// Writes `checkpoint.json` with the rows so far and `state`, if there is a run
    /// directory.
    fn save(&self, state: &Checkpoint) -> Result<()> {
        if let Some(dir) = &self.dir {
            dir.write_checkpoint(&CheckpointFile {
                trainer: state.clone(),
                metrics: self.rows.clone(),
            })?;
        }
        Ok(())
    }

    /// Everything a lane does between two chunks (module docs): metrics to the worker,
    /// rows back, divergence, checkpoint, pause, progress. `Ok(false)` when the run stops
    /// here.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` needs Rust 1.87; the MSRV is 1.85.
    fn after_chunk(
        &mut self,
        stop: u64,
        status: RunStatus,
        metric_steps: &[u64],
        total: u64,
        max_pending: usize,
        to_worker: &std::sync::mpsc::Sender<(u64, Network)>,
        pipe: &mut MetricsPipe,
    ) -> Result<bool> {
        if let RunStatus::Diverged { step } = status {
            self.diverged_at = Some(step);
            return Ok(false);
        }
        self.trainer.checkpoint_into(&mut self.last_good);
        if metric_steps.binary_search(&stop).is_ok() {
            // A send fails only if the worker is gone, which it is not before `pipe` is
            // dropped.
            to_worker.send((stop, self.trainer.network())).ok();
            pipe.pending.push_back(self.last_good.clone());
        }
        let checkpoint_due = self.dir.is_some()
            && self.checkpoint_every > 0
            && (stop % self.checkpoint_every == 0 || stop == total);
        // Wait for the worker before a checkpoint (its file holds every row so far) and
        // when too many snapshots are waiting (bounded memory).
        let wait = if checkpoint_due { 0 } else { max_pending };
        let view = self.clock.view(&self.trainer, total);
        let observer = &mut *self.observer;
        if let Some(step) = pipe.receive(&mut self.rows, wait, |m| observer.metrics(m, &view))? {
            // θ is finite but the loss or reg overflowed: diverged; keep the last state
            // whose metrics were finite.
            self.diverged_at = Some(step);
            self.last_good = pipe.confirmed.clone();
            self.overflowed = true;
            return Ok(false);
        }
        if checkpoint_due {
            self.save(&self.last_good)?;
            self.observer.checkpoint_saved(stop);
        }
        if self.pauses.binary_search(&stop).is_ok() {
            self.observer.paused(&view);
        }
        self.observer.progress(&view);
        Ok(true)
    }
}

/// Runs with one schedule ([`Run::schedule`]) to their ends together: at every stop the
/// trainers of the runs still going advance by [`Trainer::run_together`] (packed in
/// vector lanes where they can be, `super::packed`; the same bits as alone), then each
/// run does its own work between chunks, exactly as a run alone. Each run has its own
/// metrics worker thread; one that stops (diverges, is cancelled, fails to write) leaves
/// the others going. A chunk's training time is shared equally among the runs in it
/// (their steps per second). Results in the order given.
fn execute_in_lockstep(runs: Vec<(Run, &mut dyn Observer)>) -> Vec<Result<RunOutcome>> {
    let wall = Instant::now();
    let Some((first, _)) = runs.first() else {
        return Vec::new();
    };
    let total = first.trainer.config().steps;
    let metric_steps = log_spaced_steps(total, first.trainer.config().log_points);
    let start = first.trainer.step();
    let stops = stops(
        total,
        &metric_steps,
        &first.pauses,
        first.checkpoint_every,
        start,
    );
    let mut lanes: Vec<Lane<'_>> = Vec::with_capacity(runs.len());
    for (run, observer) in runs {
        let Run {
            initial,
            data,
            trainer,
            mut rows,
            checkpoint_every,
            dir,
            cancel,
            pauses,
            resumed: _,
        } = run;
        let mut error = None;
        if rows.is_empty() && metric_steps.first() == Some(&0) && trainer.step() == 0 {
            match metrics(&trainer.network(), &data, 0) {
                Ok(m) => rows.push(m),
                Err(e) => error = Some(e),
            }
        }
        let clock = Clock::default();
        if error.is_none() {
            observer.progress(&clock.view(&trainer, total));
            if trainer.step() == 0 && pauses.first() == Some(&0) {
                observer.paused(&clock.view(&trainer, total));
            }
        }
        lanes.push(Lane {
            last_good: trainer.checkpoint(),
            stopped: error.is_some(),
            initial,
            data,
            trainer,
            rows,
            checkpoint_every,
            dir,
            cancel,
            pauses,
            observer,
            clock,
            diverged_at: None,
            cancelled: false,
            overflowed: false,
            error,
        });
    }
    let max_pending = lanes
        .iter()
        .map(|l| max_pending(l.initial.param_count()))
        .min()
        .unwrap_or(8);
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(lanes.len());
        let mut pipes = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            let (to_worker, jobs) = std::sync::mpsc::channel::<(u64, Network)>();
            let (to_main, results) = std::sync::mpsc::channel();
            let data = lane.data.clone();
            scope.spawn(move || {
                for (step, net) in jobs {
                    if to_main.send(metrics(&net, &data, step)).is_err() {
                        break;
                    }
                }
            });
            senders.push(to_worker);
            pipes.push(MetricsPipe {
                results,
                pending: VecDeque::new(),
                confirmed: lane.trainer.checkpoint(),
            });
        }
        for &stop in &stops {
            for lane in lanes.iter_mut().filter(|l| !l.stopped) {
                if lane.cancel.iter().any(CancelToken::is_cancelled) {
                    lane.cancelled = true;
                    lane.stopped = true;
                }
            }
            let going: Vec<usize> = (0..lanes.len()).filter(|&k| !lanes[k].stopped).collect();
            if going.is_empty() {
                break;
            }
            let before: Vec<u64> = going.iter().map(|&k| lanes[k].trainer.step()).collect();
            let t = Instant::now();
            let status = {
                let mut trainers: Vec<&mut Trainer> = lanes
                    .iter_mut()
                    .filter(|l| !l.stopped)
                    .map(|l| &mut l.trainer)
                    .collect();
                if let [one] = &mut trainers[..] {
                    vec![one.run_until(stop)]
                } else {
                    Trainer::run_together(&mut trainers, stop)
                }
            };
            let share = t.elapsed().as_secs_f64() / going.len() as f64;
            for ((&k, status), before) in going.iter().zip(status).zip(before) {
                let lane = &mut lanes[k];
                lane.clock.add(lane.trainer.step() - before, share);
                let next = lane.after_chunk(
                    stop,
                    status,
                    &metric_steps,
                    total,
                    max_pending,
                    &senders[k],
                    &mut pipes[k],
                );
                match next {
                    Ok(true) => {}
                    Ok(false) => lane.stopped = true,
                    Err(e) => {
                        lane.error = Some(e);
                        lane.stopped = true;
                    }
                }
            }
        }
        // The metrics still waiting; one that overflowed ends the run there (also when
        // the trainer diverged later).
        for (lane, pipe) in lanes.iter_mut().zip(&mut pipes) {
            if lane.error.is_some() || lane.overflowed {
                continue;
            }
            let view = lane.clock.view(&lane.trainer, total);
            let observer = &mut *lane.observer;
            match pipe.receive(&mut lane.rows, 0, |m| observer.metrics(m, &view)) {
                Ok(Some(step)) => {
                    lane.diverged_at = Some(step);
                    lane.last_good = pipe.confirmed.clone();
                }
                Ok(None) if lane.cancelled => match lane.save(&lane.last_good) {
                    Ok(()) => lane.observer.checkpoint_saved(lane.last_good.step),
                    Err(e) => lane.error = Some(e),
                },
                Ok(None) => {}
                Err(e) => lane.error = Some(e),
            }
        }
        drop(senders);
    });
    let seconds = wall.elapsed().as_secs_f64();
    let ends: Vec<LaneEnd> = lanes.into_iter().map(LaneEnd::from).collect();
    if ends.len() == 1 {
        return ends.into_iter().map(|end| finish(end, seconds)).collect();
    }
    // Each run writes its files (each one synced to disk) on its own thread: their waits
    // for the disk overlap.
    std::thread::scope(|scope| {
        let writers: Vec<_> = ends
            .into_iter()
            .map(|end| scope.spawn(move || finish(end, seconds)))
            .collect();
        writers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// What [`finish`] needs of a [`Lane`] (all of it but its observer).
struct LaneEnd {
    initial: Network,
    data: Dataset,
    trainer: Trainer,
    rows: Vec<Metrics>,
    dir: Option<RunDir>,
    last_good: Checkpoint,
    diverged_at: Option<u64>,
    cancelled: bool,
    clock: Clock,
    error: Option<Error>,
}

impl From<Lane<'_>> for LaneEnd {
    fn from(lane: Lane<'_>) -> Self {
        LaneEnd {
            initial: lane.initial,
            data: lane.data,
            trainer: lane.trainer,
            rows: lane.rows,
            dir: lane.dir,
            last_good: lane.last_good,
            diverged_at: lane.diverged_at,
            cancelled: lane.cancelled,
            clock: lane.clock,
            error: lane.error,
        }
    }
}

/// A lane's [`RunOutcome`] (written to its run directory, if any), or its error.
fn finish(lane: LaneEnd, wall_seconds: f64) -> Result<RunOutcome> {
    let LaneEnd {
        initial,
        data,
        trainer,
        rows,
        dir,
        last_good,
        diverged_at,
        cancelled,
        clock,
        error,
    } = lane;
    if let Some(e) = error {
        return Err(e);
    }
    let network = initial.with_params(&last_good.theta)?;
    let final_metrics = match rows.last() {
        Some(m) if m.step == last_good.step => m.clone(),
        _ => metrics(&network, &data, last_good.step)?,
    };
    let summary = Summary {
        seed: trainer.config().seed,
        steps: last_good.step,
        diverged: diverged_at.is_some(),
        diverged_at,
        cancelled: cancelled && diverged_at.is_none(),
        kernel: format!("{:?}", trainer.kernel()).to_lowercase(),
        steps_per_second: clock.steps_per_second(),
        wall_seconds,
        final_metrics,
    };
    let outcome = RunOutcome {
        network,
        metrics: rows,
        summary,
        checkpoint: last_good,
    };
    if let Some(dir) = &dir {
        dir.write_outcome(&outcome)?;
    }
    Ok(outcome)
}

/// The bytes a run of `net` on `data` that records `log_points` metrics rows needs
/// besides the network itself, roughly: θ in the trainer, its template and the final
/// network, the step kernel's work space (a few vectors of length p), the metrics
/// snapshots that may wait for the worker thread (two copies of θ each, at most
/// [`max_pending`] of them and never more than there are rows) and the metrics worker's
/// n x p Jacobian with its factorization.
pub fn memory_estimate(net: &Network, data: &Dataset, log_points: usize) -> u128 {
    let p = net.param_count();
    let n = data.len() as u128;
    let pending = max_pending(p).min(log_points.saturating_add(2)) as u128 * 2 * p as u128;
    crate::memory::F64_BYTES * (8 * p as u128 + 3 * n * p as u128 + pending)
}

/// Refuses a starting network whose loss or reg on the data already overflow (weights
/// near the largest f64): training it would record infinite or NaN metrics from the
/// first step. (A run that overflows later is a divergence, see [`super::Ending`].)
fn check_finite_start(net: &Network, data: &Dataset) -> Result<()> {
    let batch = crate::regularizer::Batch::new(net, data)?;
    let loss: f64 = batch
        .outputs()
        .iter()
        .zip(data.ys())
        .map(|(h, y)| (h - y) * (h - y))
        .sum();
    let reg: f64 = batch.grad_norms_sq(net).iter().sum();
    if !(loss.is_finite() && reg.is_finite()) {
        return Err(Error::parameter(
            "model",
            format!(
                "the starting network's loss or reg overflows on the data (loss {}, reg {}): its weights are too large",
                loss / data.len() as f64,
                reg / data.len() as f64
            ),
        ));
    }
    Ok(())
}

/// Refuses a run that cannot fit in memory (see [`crate::memory`]).
fn check_memory(net: &Network, data: &Dataset, log_points: usize) -> Result<()> {
    crate::memory::check_fits(
        "train",
        &format!(
            "a run of {} parameters on {} points",
            net.param_count(),
            data.len()
        ),
        memory_estimate(net, data, log_points),
    )
}

/// The memory that runs executed together by [`execute_all`] need at once: the tasks are
/// the groups of [`lockstep_groups`] (a pack of lanes holds all its runs at once), rayon
/// runs at most one task per thread, so it is the sum of the `threads` largest groups'
/// [`Run::memory_estimate`]s.
pub fn memory_together(runs: &[&Run], threads: usize) -> u128 {
    let groups = lockstep_groups(runs, threads.max(1));
    let each: Vec<u128> = groups
        .iter()
        .map(|g| g.iter().map(|&k| runs[k].memory_estimate()).sum())
        .collect();
    sum_of_largest(each, threads)
}

/// The sum of the `k` largest of `bytes` (at least one): the memory of the tasks that
/// `k` workers may run at once.
pub fn sum_of_largest(mut bytes: Vec<u128>, k: usize) -> u128 {
    bytes.sort_unstable_by(|a, b| b.cmp(a));
    bytes.iter().take(k.max(1)).sum()
}

/// Refuses runs that [`execute_all`] could not hold in memory at once ([`Run::new`]
/// checks each run alone): call it after building the runs, before writing anything.
/// Even on one thread several runs may be held at once, in a pack of lanes.
///
/// Checked by `tests::memory_together_sums_the_largest_concurrent_runs` and
/// `::runs_of_one_schedule_that_pack_form_groups_of_at_most_a_pack`.
pub fn check_memory_together(runs: &[&Run]) -> Result<()> {
    if runs.len() <= 1 {
        return Ok(());
    }
    // The thread count execute_all groups and runs with.
    let threads = rayon::current_num_threads();
    crate::memory::check_fits(
        "train",
        &match threads.min(runs.len()) {
            1 => format!("training {} runs on one thread", runs.len()),
            t => format!("training {} runs on {t} threads", runs.len()),
        },
        memory_together(runs, threads),
    )
}

/// Runs several runs in parallel, each with its own observer; results in the order
/// given. Runs that can train packed in vector lanes (`super::packed`: the fused relu
/// kernel at width ≤ `PACK_MAX_WIDTH`, one data set and shape, Rademacher or uniform noise
/// or copies) and share a schedule go in groups of up to `PACK` through
/// [`execute_in_lockstep`]; every group or lone run is one rayon task. Each run's results
/// are bit-identical to running it alone.
pub fn execute_all<O: Observer + Send>(runs: Vec<(Run, O)>) -> Vec<Result<RunOutcome>> {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let groups = lockstep_groups(&runs.iter().map(|(r, _)| r).collect::<Vec<_>>(), threads);
    let mut slots: Vec<Option<(Run, O)>> = runs.into_iter().map(Some).collect();
    let tasks: Vec<Vec<(usize, Run, O)>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|&k| {
                    let (run, observer) = slots[k].take().expect("each run in one group");
                    (k, run, observer)
                })
                .collect()
        })
        .collect();
    let mut results: Vec<(usize, Result<RunOutcome>)> = tasks
        .into_par_iter()
        .flat_map_iter(|task| {
            let (order, (runs, mut observers)): (Vec<usize>, (Vec<Run>, Vec<O>)) =
                task.into_iter().map(|(k, r, o)| (k, (r, o))).unzip();
            let pairs: Vec<(Run, &mut dyn Observer)> = runs
                .into_iter()
                .zip(observers.iter_mut().map(|o| o as &mut dyn Observer))
                .collect();
            let out = execute_in_lockstep(pairs);
            order.into_iter().zip(out).collect::<Vec<_>>()
        })
        .collect();
    results.sort_by_key(|(k, _)| *k);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Runs these runs on the calling thread: in lockstep (packed in vector lanes) those that
/// can go together — one schedule, packing together, up to [`PACK`] per group, when that
/// is faster on one thread ([`lockstep_groups`] with one thread) — and the others one
/// after another. Each run keeps its own observer, run directory, checkpoints,
/// divergence and cancellation, and its results are bit-identical to running it alone;
/// one run that fails or stops leaves the others going. Results in the order given.
///
/// For a front end that plans its own tasks (the sweep runner: [`lockstep_groups`] with
/// its number of workers, then one call per task after preparing each run's directory).
pub fn execute_together(runs: Vec<(Run, &mut dyn Observer)>) -> Vec<Result<RunOutcome>> {
    let groups = lockstep_groups(&runs.iter().map(|(r, _)| r).collect::<Vec<_>>(), 1);
    let mut slots: Vec<Option<(Run, &mut dyn Observer)>> = runs.into_iter().map(Some).collect();
    let mut results: Vec<Option<Result<RunOutcome>>> = slots.iter().map(|_| None).collect();
    for group in groups {
        let pairs = group
            .iter()
            .map(|&k| slots[k].take().expect("each run in one group"))
            .collect();
        for (k, outcome) in group.into_iter().zip(execute_in_lockstep(pairs)) {
            results[k] = Some(outcome);
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("one result per run"))
        .collect()
}

/// The groups [`execute_all`] runs in lockstep, with `threads` threads running groups at
/// once: indices into `runs`, each group in increasing order, the groups in the order of
/// their first runs. Runs of one schedule (start step, length, metrics steps, pauses,
/// checkpoint period) that pack together ([`Run::can_pack`], same data and shape) form a
/// family; a family of K runs goes in groups of up to [`PACK`] when packing is faster with
/// this many threads ([`worth_packing`](super::packed::worth_packing)), else one run per
/// group, as does every run that packs with nothing. Give the groups to
/// [`execute_together`].
pub fn lockstep_groups(runs: &[&Run], threads: usize) -> Vec<Vec<usize>> {
    let mut families: Vec<Vec<usize>> = Vec::new();
    for (k, run) in runs.iter().enumerate() {
        let joins = families.iter_mut().find(|f| {
            let first = runs[f[0]];
            first.schedule() == run.schedule() && first.trainer.packs_with(&run.trainer)
        });
        match joins {
            Some(f) => f.push(k),
            None => families.push(vec![k]),
        }
    }
    let mut groups = Vec::new();
    for family in families {
        let width = runs[family[0]].trainer.pack_width().unwrap_or(usize::MAX);
        if super::packed::worth_packing(width, family.len(), threads) {
            groups.extend(family.chunks(PACK).map(<[usize]>::to_vec));
        } else {
            groups.extend(family.into_iter().map(|k| vec![k]));
        }
    }
    groups.sort_by_key(|g| g[0]);
    groups
}

/// Training-loop time and steps, for the steps-per-second figure.
#[derive(Default)]
struct Clock {
    steps: u64,
    seconds: f64,
}

impl Clock {
    fn add(&mut self, steps: u64, seconds: f64) {
        self.steps += steps;
        self.seconds += seconds;
    }

    fn steps_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.steps as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn view<'a>(&self, trainer: &'a Trainer, total: u64) -> RunView<'a> {
        RunView {
            trainer,
            total,
            steps_per_second: self.steps as f64 / self.seconds.max(1e-9),
            seconds: self.seconds,
        }
    }
}

/// The steps at which a run stops its training loop: metrics steps, pauses, checkpoint
/// steps, and progress updates (about 1000 per run, so a bar moves and a cancel is seen
/// soon, but the loop is not slowed), after `start`. Where the loop stops does not change
/// the result: [`Trainer::run_until`] gives the same bits however a run is cut.
fn stops(
    total: u64,
    metric_steps: &[u64],
    pauses: &[u64],
    checkpoint_every: u64,
    start: u64,
) -> Vec<u64> {
    let mut s: Vec<u64> = metric_steps.to_vec();
    s.extend_from_slice(pauses);
    if let Some(count) = total.checked_div(checkpoint_every) {
        s.extend((1..=count).map(|k| k * checkpoint_every));
    }
    let chunk = (total / 1000).max(10_000);
    s.extend((1..=total / chunk).map(|k| k * chunk));
    s.push(total);
    s.retain(|&t| t > start && t <= total);
    s.sort_unstable();
    s.dedup();
    s
}

/// The memory that metrics snapshots waiting for a run's worker thread may hold (each
/// is two copies of θ: the network sent and the checkpoint kept).
const PENDING_BYTES: usize = 64 << 20;

/// The most metrics snapshots that may wait for the worker thread of a run with `p`
/// parameters: as many as fit in [`PENDING_BYTES`], at least 8. Log-spaced metrics
/// steps crowd the start of a run (of 2e6 steps, about half of the default 200 fall in
/// the first 2000), so a small bound would stall training there until the worker caught
/// up; with room for all of them, training runs on and the worker finishes them on the
/// other core.
pub fn max_pending(p: usize) -> usize {
    (PENDING_BYTES / (2 * std::mem::size_of::<f64>() * p.max(1))).max(8)
}

/// The training side of a run's metrics worker: the checkpoints of the metrics steps
/// sent and not yet answered, oldest first, and the last state whose metrics were
/// finite.
struct MetricsPipe {
    results: Receiver<Result<Metrics>>,
    pending: VecDeque<Checkpoint>,
    confirmed: Checkpoint,
}

impl MetricsPipe {
    /// Takes the answers that are ready, and waits for more until at most `keep` are
    /// pending. Finite metrics go to `rows` (and `shown`); the first non-finite one (a
    /// diverging run) stops it and its step is returned.
    fn receive(
        &mut self,
        rows: &mut Vec<Metrics>,
        keep: usize,
        mut shown: impl FnMut(&Metrics),
    ) -> Result<Option<u64>> {
        while let Some(checkpoint) = self.pending.front() {
            let answer = if self.pending.len() > keep {
                self.results.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                self.results.try_recv()
            };
            let m = match answer {
                Ok(m) => m?,
                Err(TryRecvError::Empty) => break,
                // The worker is gone only if computing metrics panicked; the scope
                // re-raises that panic when it joins the worker.
                Err(TryRecvError::Disconnected) => break,
            };
            debug_assert_eq!(m.step, checkpoint.step);
            if !m.finite() {
                return Ok(Some(m.step));
            }
            shown(&m);
            rows.push(m);
            self.confirmed = self.pending.pop_front().expect("front exists");
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_cover_metrics_checkpoints_and_the_end() {
        let metric = log_spaced_steps(100_000, 10);
        let s = stops(100_000, &metric, &[12_345, 200_000], 30_000, 0);
        assert!(s.contains(&12_345));
        assert!(!s.contains(&200_000));
        for m in metric.iter().filter(|&&m| m > 0) {
            assert!(s.contains(m), "{m}");
        }
        for c in [30_000, 60_000, 90_000, 100_000] {
            assert!(s.contains(&c), "{c}");
        }
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s.last(), Some(&100_000));
        let later = stops(100_000, &metric, &[], 30_000, 60_000);
        assert!(later.iter().all(|&t| t > 60_000));
        assert_eq!(later[0], 70_000);
    }

    #[test]
    fn memory_together_sums_the_largest_concurrent_runs() {
        use crate::train::NetworkSpec;
        use crate::Activation;
        let data = Dataset::load("fig1").unwrap();
        let run = |width: usize| {
            let spec = NetworkSpec {
                hidden: vec![width],
                activation: Some(Activation::Relu),
                output_bias: true,
                ..NetworkSpec::default()
            };
            let net = spec.build(&data, "fig1", 0).unwrap();
            Run::new(net, data.clone(), &TrainConfig::default()).unwrap()
        };
        let (small, middle, large) = (run(4), run(40), run(400));
        let each = |r: &Run| r.memory_estimate();
        // Run::new's defaults: 200 metrics rows, so at most 202 pending snapshots.
        let p = large.initial.param_count() as u128;
        let n = data.len() as u128;
        assert_eq!(each(&large), 8 * (8 * p + 3 * n * p + 202 * 2 * p));
        let runs = [&small, &large, &middle];
        assert_eq!(memory_together(&runs, 1), each(&large));
        assert_eq!(memory_together(&runs, 2), each(&large) + each(&middle));
        assert_eq!(
            memory_together(&runs, 8),
            each(&large) + each(&middle) + each(&small)
        );
        // One run alone is never refused here: Run::new checked it.
        assert!(check_memory_together(&[&large]).is_ok());
    }

    #[test]
    fn runs_of_one_schedule_that_pack_form_groups_of_at_most_a_pack() {
        use crate::{builtin, Activation, Architecture};
        let data = builtin::dataset("fig1").unwrap();
        let run = |m: usize, act: Activation, steps: u64, seed: u64| {
            let arch = Architecture::shallow(m, act);
            let net = crate::train::init_network(&arch, seed, 1.0).unwrap();
            let cfg = TrainConfig {
                steps,
                seed,
                ..TrainConfig::default()
            };
            Run::new(net, data.clone(), &cfg).unwrap()
        };
        let mut runs = vec![];
        for seed in 0..10 {
            runs.push(run(16, Activation::Relu, 1000, seed));
        }
        runs.push(run(16, Activation::Tanh, 1000, 0));
        runs.push(run(16, Activation::Relu, 2000, 0));
        runs.push(run(32, Activation::Relu, 1000, 0));
        runs.push(run(16, Activation::Relu, 1000, 10).pause_at([500]));
        let refs: Vec<&Run> = runs.iter().collect();
        // Width 16 packs even for one thread's worth of runs; two width-32 runs do not.
        assert!(crate::train::packed::worth_packing(16, 8, 2));
        assert!(!crate::train::packed::worth_packing(32, 2, 2));
        assert!(!crate::train::packed::worth_packing(
            crate::train::packed::PACK_MAX_WIDTH + 1,
            8,
            1
        ));
        assert_eq!(
            lockstep_groups(&refs, 2),
            vec![
                (0..8).collect::<Vec<_>>(),
                vec![8, 9],
                vec![10],
                vec![11],
                vec![12],
                vec![13]
            ]
        );
        // A pack holds all its runs at once: on one thread, the first pack of eight
        // width-16 runs is the largest task, larger than the lone width-32 run.
        let pack: u128 = refs[..8].iter().map(|r| r.memory_estimate()).sum();
        assert!(pack > refs[12].memory_estimate());
        assert_eq!(memory_together(&refs, 1), pack);
    }

    #[test]
    fn pending_bound_grows_with_small_networks() {
        assert_eq!(max_pending(usize::MAX / 64), 8);
        assert_eq!(max_pending(1 << 20), 8);
        assert_eq!(max_pending(301), (64 << 20) / (16 * 301));
    }
}
