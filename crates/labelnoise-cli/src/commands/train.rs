//! `labelnoise train` and `labelnoise resume`: SGD with label noise (paper eq. 3) from
//! the command line, one or many seeds, writing the run directory of SPEC §3.
//!
//! A run directory holds `config.json` (everything needed to rerun), `data.json` (the
//! data as trained on), `initial-model.json`, `metrics.csv` (at log-spaced steps),
//! `model.json`, `model.safetensors`, `summary.json` and, with `--checkpoint-every`,
//! `checkpoint.json` (θ, the generator state and the metrics so far), from which
//! `labelnoise resume` continues to a result bit-identical to an uninterrupted run.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use labelnoise_core::model_io::{load_model, model_from_json, model_to_json, model_to_safetensors};
use labelnoise_core::train::{
    init_network, log_spaced_steps, metrics, Checkpoint, Metrics, NoiseDist, RunStatus,
    TrainConfig, Trainer,
};
use labelnoise_core::{Activation, Architecture, Dataset, Error, Network};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cli::{ResumeArgs, TrainArgs};
use crate::UsageError;
use labelnoise_core::files::{check_output_dir, write_atomic};

/// What `config.json` holds: everything needed to rerun the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    /// labelnoise version that wrote the run.
    pub version: String,
    /// The command line.
    pub command: Vec<String>,
    /// `--data` as given (the data themselves are in `data.json`).
    pub data: String,
    /// The starting network's architecture, in words (the network is `initial-model.json`).
    pub model: String,
    /// `--init-model`, if given.
    pub init_model: Option<String>,
    /// `--init-scale`.
    pub init_scale: f64,
    /// The SGD configuration, including the seed.
    pub train: TrainConfig,
    /// `--checkpoint-every` (0: no checkpoints).
    pub checkpoint_every: u64,
}

/// What `checkpoint.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CheckpointFile {
    trainer: Checkpoint,
    metrics: Vec<Metrics>,
}

/// What `summary.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Steps done (the step of the last finite state if the run diverged).
    pub steps: u64,
    /// Whether the run diverged.
    pub diverged: bool,
    /// The step at which divergence was detected.
    pub diverged_at: Option<u64>,
    /// The kernel that ran the steps (`fused` or `general`).
    pub kernel: String,
    /// SGD steps per second of training-loop time (metrics and writing excluded).
    pub steps_per_second: f64,
    /// Wall time of the whole run in seconds (metrics and writing included).
    pub wall_seconds: f64,
    /// The metrics of the final model.
    pub final_metrics: Metrics,
}

/// The starting network the flags describe.
fn starting_network(args: &TrainArgs, data: &Dataset, seed: u64) -> anyhow::Result<Network> {
    let frozen_skip = args.freeze.iter().any(|f| f == "skip");
    let mut frozen_layers = Vec::new();
    for f in args.freeze.iter().filter(|f| *f != "skip") {
        let k: usize = f.parse().map_err(|_| {
            UsageError(format!(
                "--freeze: expected a layer index or 'skip', got {f:?}"
            ))
        })?;
        frozen_layers.push(k);
    }
    let net = if let Some(path) = &args.init_model {
        let mut net = load_model(path)?;
        check_agrees(args, &net, path)?;
        let layers = net.layers().len();
        if let Some(&k) = frozen_layers.iter().find(|&&k| k >= layers) {
            return Err(UsageError(format!(
                "--freeze: layer {k} does not exist (the model has {layers} layers)"
            ))
            .into());
        }
        if frozen_skip && net.skip().is_none() {
            return Err(UsageError(format!("--freeze: {path} has no skip unit")).into());
        }
        let mut layer_list = net.layers().to_vec();
        for &k in &frozen_layers {
            layer_list[k].trainable = false;
        }
        let mut skip = net.skip().cloned();
        if frozen_skip {
            if let Some(s) = &mut skip {
                s.trainable = false;
            }
        }
        net = Network::new(net.input_dim(), layer_list, skip, path)?;
        net
    } else {
        if args.hidden.is_empty() {
            return Err(UsageError(
                "--hidden: give at least one hidden layer width (or --init-model)".into(),
            )
            .into());
        }
        let activation = match &args.activation {
            Some(name) => Activation::from_name(name).ok_or_else(|| {
                UsageError(format!(
                    "--activation: unknown activation {name:?} (relu, tanh, logistic, identity)"
                ))
            })?,
            None => {
                return Err(UsageError("--activation: required without --init-model".into()).into())
            }
        };
        if let Some(&k) = frozen_layers.iter().find(|&&k| k > args.hidden.len()) {
            return Err(UsageError(format!(
                "--freeze: layer {k} does not exist (layers 0..={} with the output layer last)",
                args.hidden.len()
            ))
            .into());
        }
        if frozen_skip && !args.skip {
            return Err(
                UsageError("--freeze: skip given but there is no --skip unit".into()).into(),
            );
        }
        let arch = Architecture {
            input_dim: data.dim(),
            hidden: args.hidden.clone(),
            activation,
            hidden_bias: true,
            output_bias: args.output_bias,
            skip: args.skip,
            frozen_layers,
            frozen_skip,
        };
        init_network(&arch, seed, args.init_scale)?
    };
    if net.input_dim() != data.dim() {
        return Err(Error::Mismatch {
            message: format!(
                "{} and {}: the model takes {}-dimensional inputs but the data are {}-dimensional",
                args.init_model.as_deref().unwrap_or("the architecture"),
                args.data,
                net.input_dim(),
                data.dim()
            ),
        }
        .into());
    }
    Ok(net)
}

/// With `--init-model`, architecture flags that are given must agree with the model.
fn check_agrees(args: &TrainArgs, net: &Network, path: &str) -> anyhow::Result<()> {
    let widths: Vec<usize> = net.hidden_layers().iter().map(|l| l.out_dim).collect();
    if !args.hidden.is_empty() && args.hidden != widths {
        return Err(UsageError(format!(
            "--hidden: {:?} disagrees with {path}, whose hidden widths are {widths:?}",
            args.hidden
        ))
        .into());
    }
    if let Some(name) = &args.activation {
        let act = Activation::from_name(name)
            .ok_or_else(|| UsageError(format!("--activation: unknown activation {name:?}")))?;
        if net.hidden_layers().iter().any(|l| l.activation != act) {
            return Err(UsageError(format!("--activation: {name} disagrees with {path}")).into());
        }
    }
    if args.skip && net.skip().is_none() {
        return Err(UsageError(format!("--skip: {path} has no skip unit")).into());
    }
    if args.output_bias && net.output_layer().bias.is_none() {
        return Err(UsageError(format!("--output-bias: {path} has no output bias")).into());
    }
    Ok(())
}

/// One seed's run, ready to go.
struct Job {
    dir: PathBuf,
    config: RunConfig,
    net: Network,
    data: Dataset,
    resume_from: Option<CheckpointFile>,
    /// Stop as if killed after this step's checkpoint (a testing aid).
    halt_after: Option<u64>,
}

/// The outcome of one seed.
struct Outcome {
    summary: Summary,
    last_good_step: u64,
}

/// `labelnoise train`.
pub fn run(args: &TrainArgs, command: Vec<String>, out: &mut dyn Write) -> anyhow::Result<()> {
    let data = Dataset::load(&args.data)?;
    if args.seeds == 0 {
        return Err(UsageError("--seeds: must be at least 1".into()).into());
    }
    let noise_dist = NoiseDist::from_name(&args.noise_dist).ok_or_else(|| {
        UsageError(format!(
            "--noise-dist: unknown distribution {:?} (rademacher, uniform, gaussian)",
            args.noise_dist
        ))
    })?;
    let root = PathBuf::from(&args.out);
    check_output_dir(&root, "--out", args.force)?;
    let mut jobs = Vec::with_capacity(args.seeds);
    for k in 0..args.seeds as u64 {
        let seed = args
            .seed
            .checked_add(k)
            .ok_or_else(|| UsageError("--seed: too large for --seeds".into()))?;
        let net = starting_network(args, &data, seed)?;
        let train = TrainConfig {
            lr: args.lr,
            steps: args.steps,
            noise: args.noise,
            noise_dist,
            batch: args.batch,
            two_copies: args.two_copies,
            explicit_reg: args.explicit_reg,
            explicit_reg_sampled: args.explicit_reg_sampled,
            seed,
            log_points: args.log_points,
            flush_threshold: args.flush_threshold,
        };
        // Check everything before anything is written.
        train.check(&net, &data)?;
        let dir = if args.seeds > 1 {
            root.join(format!("seed-{seed}"))
        } else {
            root.clone()
        };
        jobs.push(Job {
            dir,
            config: RunConfig {
                version: env!("CARGO_PKG_VERSION").to_string(),
                command: command.clone(),
                data: args.data.clone(),
                model: net.describe(),
                init_model: args.init_model.clone(),
                init_scale: args.init_scale,
                train,
                checkpoint_every: args.checkpoint_every,
            },
            net,
            data: data.clone(),
            resume_from: None,
            halt_after: args.halt_after,
        });
    }
    if args.force && root.exists() {
        for job in &jobs {
            if job.dir != root && job.dir.exists() {
                std::fs::remove_dir_all(&job.dir)
                    .with_context(|| format!("{}: cannot clear", job.dir.display()))?;
            }
        }
    }
    for job in &jobs {
        write_atomic(
            &job.dir.join("config.json"),
            &serde_json::to_vec_pretty(&job.config)?,
        )?;
        write_atomic(&job.dir.join("data.json"), job.data.to_json().as_bytes())?;
        write_atomic(
            &job.dir.join("initial-model.json"),
            model_to_json(&job.net).as_bytes(),
        )?;
    }
    execute(jobs, &root, args.quiet, out)
}

/// `labelnoise resume DIR`.
pub fn resume(args: &ResumeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let root = PathBuf::from(&args.dir);
    let mut dirs = Vec::new();
    if root.join("config.json").exists() {
        dirs.push(root.clone());
    } else {
        let entries = std::fs::read_dir(&root).map_err(|source| Error::Io {
            file: args.dir.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry?.path();
            let is_seed = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"));
            if is_seed && path.join("config.json").exists() {
                dirs.push(path);
            }
        }
        dirs.sort();
        if dirs.is_empty() {
            return Err(UsageError(format!(
                "{}: not a run directory (no config.json)",
                root.display()
            ))
            .into());
        }
    }
    let mut jobs = Vec::new();
    for dir in dirs {
        let read = |name: &str| -> anyhow::Result<String> {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| {
                Error::Io {
                    file: path.display().to_string(),
                    source,
                }
                .into()
            })
        };
        let file = |name: &str| dir.join(name).display().to_string();
        let config: RunConfig = serde_json::from_str(&read("config.json")?).map_err(|e| {
            Error::invalid(
                file("config.json"),
                format!("line {}", e.line()),
                e.to_string(),
            )
        })?;
        let data = Dataset::from_json(&read("data.json")?, &file("data.json"))?;
        let net = model_from_json(&read("initial-model.json")?, &file("initial-model.json"))?;
        let cp_path = dir.join("checkpoint.json");
        if !cp_path.exists() {
            return Err(UsageError(format!(
                "{}: no checkpoint.json to resume from (train with --checkpoint-every N)",
                dir.display()
            ))
            .into());
        }
        let cp: CheckpointFile = serde_json::from_str(&read("checkpoint.json")?).map_err(|e| {
            Error::invalid(
                file("checkpoint.json"),
                format!("line {}", e.line()),
                e.to_string(),
            )
        })?;
        jobs.push(Job {
            dir,
            config,
            net,
            data,
            resume_from: Some(cp),
            halt_after: None,
        });
    }
    let quiet = args.quiet;
    execute(jobs, &root, quiet, out)
}

/// Runs the jobs in parallel (one per seed), prints one line per seed, and fails if any
/// diverged.
fn execute(jobs: Vec<Job>, root: &Path, quiet: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let show = !quiet && std::io::stdout().is_terminal();
    let multi = MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:>8} [{bar:30}] {human_pos}/{human_len} steps  {msg}  ETA {eta}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = jobs
        .iter()
        .map(|job| {
            let bar = multi.add(ProgressBar::new(job.config.train.steps));
            bar.set_style(style.clone());
            bar.set_prefix(format!("seed {}", job.config.train.seed));
            bar
        })
        .collect();
    let results: Vec<(u64, PathBuf, anyhow::Result<Outcome>)> = jobs
        .into_par_iter()
        .zip(bars.into_par_iter())
        .map(|(job, bar)| {
            let seed = job.config.train.seed;
            let dir = job.dir.clone();
            let result = run_job(job, &bar);
            bar.finish_and_clear();
            (seed, dir, result)
        })
        .collect();
    let mut diverged = Vec::new();
    let mut summaries = Vec::new();
    for (seed, dir, result) in results {
        let outcome = result?;
        let s = &outcome.summary;
        if !quiet {
            writeln!(
                out,
                "seed {seed}: {} steps, {:.3e} steps/s ({} kernel), loss {:.3e}, reg {:.6e}{} -> {}",
                s.steps,
                s.steps_per_second,
                s.kernel,
                s.final_metrics.train_loss,
                s.final_metrics.reg,
                s.final_metrics
                    .convexity_changes
                    .map_or(String::new(), |c| format!(", convexity changes {c}")),
                dir.display()
            )?;
        }
        if let Some(step) = s.diverged_at {
            diverged.push(format!(
                "seed {seed} diverged at step {step}; kept the last finite state (step {}) in {}",
                outcome.last_good_step,
                dir.display()
            ));
        }
        summaries.push(outcome.summary);
    }
    if summaries.len() > 1 {
        write_atomic(
            &root.join("summary.json"),
            &serde_json::to_vec_pretty(&summaries)?,
        )?;
    }
    if !diverged.is_empty() {
        anyhow::bail!("{}", diverged.join("; "));
    }
    Ok(())
}

/// The steps at which a run stops its training loop: metric steps, checkpoint steps, and
/// progress updates (about 1000 per run, so the bar moves but the loop is not slowed).
fn stops(total: u64, metric_steps: &[u64], checkpoint_every: u64, start: u64) -> Vec<u64> {
    let mut s: Vec<u64> = metric_steps.to_vec();
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

fn metrics_csv(rows: &[Metrics]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut s = String::from(
        "step,train_loss,reg,null_reg_grad_norm,param_norm,curve_length,convexity_changes,kinks\n",
    );
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

/// The memory that metrics snapshots waiting for a run's worker thread may hold (each
/// is two copies of θ: the network sent and the checkpoint kept).
const PENDING_BYTES: usize = 64 << 20;

/// The most metrics snapshots that may wait for the worker thread of a run with `p`
/// parameters: as many as fit in [`PENDING_BYTES`], at least 8. Log-spaced metrics steps
/// crowd the start of a run (of 2e6 steps, about half of the default 200 fall in the first 2000), so a
/// small bound would stall training there until the worker caught up; with room for all of
/// them, training runs on and the worker finishes them on the other core.
fn max_pending(p: usize) -> usize {
    (PENDING_BYTES / (2 * std::mem::size_of::<f64>() * p.max(1))).max(8)
}

/// The training side of a run's metrics worker: the checkpoints of the metrics steps
/// sent and not yet answered, oldest first, and the last state whose metrics were
/// finite.
struct MetricsPipe {
    results: std::sync::mpsc::Receiver<labelnoise_core::Result<Metrics>>,
    pending: std::collections::VecDeque<Checkpoint>,
    confirmed: Checkpoint,
}

impl MetricsPipe {
    /// Takes the answers that are ready, and waits for more until at most `keep` are
    /// pending. Finite metrics go to `rows` (and `shown`); the first non-finite one
    /// (a diverging run) stops it and its step is returned.
    fn receive(
        &mut self,
        rows: &mut Vec<Metrics>,
        keep: usize,
        mut shown: impl FnMut(&Metrics),
    ) -> anyhow::Result<Option<u64>> {
        while let Some(checkpoint) = self.pending.front() {
            let answer = if self.pending.len() > keep {
                self.results.recv().ok()
            } else {
                self.results.try_recv().ok()
            };
            let Some(m) = answer else {
                // Not ready (or, impossibly, the worker is gone: then the blocking
                // receive fails too and the run ends with the rows it has).
                if self.pending.len() > keep {
                    anyhow::bail!("the metrics worker stopped");
                }
                break;
            };
            let m = m?;
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

fn run_job(job: Job, bar: &ProgressBar) -> anyhow::Result<Outcome> {
    let wall = Instant::now();
    let Job {
        dir,
        config,
        net,
        data,
        resume_from,
        halt_after,
    } = job;
    let cfg = config.train.clone();
    let (mut trainer, mut rows) = match resume_from {
        Some(cp) => (
            Trainer::resume(net.clone(), data.clone(), cp.trainer)?,
            cp.metrics,
        ),
        None => (
            Trainer::new(net.clone(), data.clone(), cfg.check(&net, &data)?),
            Vec::new(),
        ),
    };
    let metric_steps = log_spaced_steps(cfg.steps, cfg.log_points);
    let max_pending = max_pending(net.param_count());
    if rows.is_empty() && metric_steps.first() == Some(&0) && trainer.step() == 0 {
        rows.push(metrics(&trainer.network(), &data, 0)?);
    }
    bar.set_position(trainer.step());
    let mut train_seconds = 0.0;
    let mut steps_run = 0u64;
    let mut last_good = trainer.checkpoint();
    let mut diverged_at = None;
    // Metrics are computed on a worker thread beside the training loop (they cost a QR
    // of the p x n Jacobian and the shape report, comparable to thousands of steps), so
    // with a free core they cost the run no time. Results come back in step order;
    // `pipe` holds the checkpoints of the steps still waiting.
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (to_worker, jobs) = std::sync::mpsc::channel::<(u64, Network)>();
        let (to_main, results) = std::sync::mpsc::channel();
        let data = &data;
        scope.spawn(move || {
            for (step, net) in jobs {
                if to_main.send(metrics(&net, data, step)).is_err() {
                    break;
                }
            }
        });
        let mut pipe = MetricsPipe {
            results,
            pending: std::collections::VecDeque::new(),
            confirmed: trainer.checkpoint(),
        };
        for stop in stops(
            cfg.steps,
            &metric_steps,
            config.checkpoint_every,
            trainer.step(),
        ) {
            let before = trainer.step();
            let t = Instant::now();
            let status = trainer.run_until(stop);
            train_seconds += t.elapsed().as_secs_f64();
            steps_run += trainer.step() - before;
            if let RunStatus::Diverged { step } = status {
                diverged_at = Some(step);
                break;
            }
            last_good = trainer.checkpoint();
            if metric_steps.binary_search(&stop).is_ok() {
                // A send fails only if the worker is gone, which it is not before `pipe`.
                to_worker.send((stop, trainer.network())).ok();
                pipe.pending.push_back(last_good.clone());
            }
            let checkpoint_due = config.checkpoint_every > 0
                && (stop % config.checkpoint_every == 0 || stop == cfg.steps);
            // Wait for the worker before a checkpoint (its file holds every row so far)
            // and when too many snapshots are waiting (bounded memory, [`max_pending`]).
            let wait = if checkpoint_due { 0 } else { max_pending };
            if let Some(step) = pipe.receive(&mut rows, wait, |m| {
                let rate = steps_run as f64 / train_seconds.max(1e-9);
                bar.set_message(format!("{rate:.3e} steps/s  loss {:.3e}", m.train_loss));
            })? {
                // θ is finite but the loss or reg overflowed: diverged; keep the last
                // state whose metrics were finite.
                diverged_at = Some(step);
                last_good = pipe.confirmed.clone();
                return Ok(());
            }
            if checkpoint_due {
                let file = CheckpointFile {
                    trainer: last_good.clone(),
                    metrics: rows.clone(),
                };
                write_atomic(&dir.join("checkpoint.json"), &serde_json::to_vec(&file)?)?;
                if halt_after == Some(stop) {
                    anyhow::bail!("halted after step {stop} (--halt-after)");
                }
            }
            bar.set_position(stop);
        }
        // The metrics still waiting; one that overflowed ends the run there (also when
        // the trainer diverged later).
        if let Some(step) = pipe.receive(&mut rows, 0, |_| {})? {
            diverged_at = Some(step);
            last_good = pipe.confirmed.clone();
        }
        Ok(())
    })?;
    let final_net = net.with_params(&last_good.theta)?;
    let final_metrics = match rows.last() {
        Some(m) if m.step == last_good.step => m.clone(),
        _ => metrics(&final_net, &data, last_good.step)?,
    };
    write_atomic(&dir.join("metrics.csv"), metrics_csv(&rows).as_bytes())?;
    write_atomic(
        &dir.join("model.json"),
        model_to_json(&final_net).as_bytes(),
    )?;
    write_atomic(
        &dir.join("model.safetensors"),
        &model_to_safetensors(&final_net),
    )?;
    let summary = Summary {
        seed: cfg.seed,
        steps: last_good.step,
        diverged: diverged_at.is_some(),
        diverged_at,
        kernel: format!("{:?}", trainer.kernel()).to_lowercase(),
        steps_per_second: if train_seconds > 0.0 {
            steps_run as f64 / train_seconds
        } else {
            0.0
        },
        wall_seconds: wall.elapsed().as_secs_f64(),
        final_metrics,
    };
    write_atomic(
        &dir.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(Outcome {
        summary,
        last_good_step: last_good.step,
    })
}
