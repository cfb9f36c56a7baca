//! `labelnoise train` and `labelnoise resume`: SGD with label noise (paper eq. 3) from
//! the command line, one or many seeds. The run itself — metrics worker, checkpoints,
//! divergence, the run directory's files — is the library's run driver
//! ([`labelnoise_core::train::run`], [`labelnoise_core::train::run_dir`]); this module
//! turns flags into starting networks and configurations, shows progress bars and
//! prints one line per seed.
//!
//! The files of a run directory: docs/formats.md#run-directories.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use labelnoise_core::files::check_output_dir;
use labelnoise_core::train::run_dir::{seed_dir, write_seed_list, write_seed_summaries};
use labelnoise_core::train::{
    check_memory_together, execute_all, Metrics, Observer, ResumePoint, Run, RunConfig, RunDir,
    RunView,
};
use labelnoise_core::Dataset;

use crate::args::{ResumeArgs, TrainArgs};
use crate::signals::Stop;
use crate::UsageError;

/// A seed's run and where it writes.
struct Job {
    seed: u64,
    run: Run,
}

/// `labelnoise train`.
pub fn run(args: &TrainArgs, command: Vec<String>, out: &mut dyn Write) -> anyhow::Result<()> {
    let data = Dataset::load(&args.data)?;
    if args.seeds == 0 {
        return Err(UsageError("--seeds: must be at least 1".into()).into());
    }
    let root = PathBuf::from(&args.out);
    check_output_dir(&root, "--out", args.force)?;
    // Everything is checked and built before anything is written.
    let spec = args.network_spec();
    let mut jobs = Vec::with_capacity(args.seeds);
    let mut starts = Vec::with_capacity(args.seeds);
    for k in 0..args.seeds as u64 {
        let seed = args
            .seed
            .checked_add(k)
            .ok_or_else(|| UsageError("--seed: too large for --seeds".into()))?;
        let net = spec.build(&data, &args.data, seed)?;
        let train = args.train_config(seed);
        let dir = RunDir::new(if args.seeds > 1 {
            seed_dir(&root, seed)
        } else {
            root.clone()
        });
        let config = RunConfig {
            version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.clone(),
            data: args.data.clone(),
            model: net.describe(),
            init_model: args.init_model.clone(),
            init_scale: args.init_scale,
            output_init_scale: args.output_init_scale,
            train: train.clone(),
            checkpoint_every: args.checkpoint_every,
        };
        let run = Run::new(net.clone(), data.clone(), &train)
            .map_err(|e| match (e, &args.init_model) {
                // A starting model whose weights overflow on the data: bad input in it.
                (labelnoise_core::Error::Parameter { name, message }, Some(file))
                    if name == "model" =>
                {
                    labelnoise_core::Error::invalid(file, "weights", message)
                }
                (e, _) => e,
            })?
            .checkpoint_every(args.checkpoint_every)
            .write_to(dir.clone());
        starts.push((dir, config, net));
        jobs.push(Job { seed, run });
    }
    check_memory_together(&jobs.iter().map(|j| &j.run).collect::<Vec<_>>())?;
    // One writer per run directory, held to the end (a second process is refused).
    let _lock = RunDir::new(&root).lock()?;
    if args.force && root.exists() {
        for (dir, _, _) in &starts {
            if dir.path() != root && dir.path().exists() {
                std::fs::remove_dir_all(dir.path())
                    .with_context(|| format!("{}: cannot clear", dir.path().display()))?;
            }
        }
    }
    for (dir, config, net) in &starts {
        dir.write_start(config, &data, net)?;
    }
    if args.seeds > 1 {
        // Last: a run killed before this line has no seeds.json and is started again.
        write_seed_list(&root, &jobs.iter().map(|j| j.seed).collect::<Vec<_>>())?;
    }
    execute(jobs, &root, args.quiet, out)
}

/// `labelnoise resume DIR`.
pub fn resume(args: &ResumeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let root = PathBuf::from(&args.dir);
    let dirs = RunDir::find(&root)?;
    // Held to the end; also removes the temporary files a killed run left behind.
    let _lock = RunDir::new(&root).lock()?;
    let mut jobs = Vec::new();
    for dir in dirs {
        let run = Run::resume(dir)?;
        tell_resume_point(&run, args.quiet);
        jobs.push(Job {
            seed: run.trainer().config().seed,
            run,
        });
    }
    check_memory_together(&jobs.iter().map(|j| &j.run).collect::<Vec<_>>())?;
    execute(jobs, &root, args.quiet, out)
}

/// One line on stderr saying where a resumed run continues from; a damaged newer
/// checkpoint is reported even with `--quiet`.
fn tell_resume_point(run: &Run, quiet: bool) {
    let dir = run
        .dir()
        .map(|d| d.path().display().to_string())
        .unwrap_or_default();
    match run.resumed_from() {
        Some(ResumePoint::Checkpoint(choice)) => {
            let name = choice
                .file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            if let Some((_, why)) = choice.refused.first() {
                eprintln!(
                    "warning: {why}; resuming from {name} (step {})",
                    choice.step
                );
            } else if !quiet {
                eprintln!("resuming {dir} from {name} (step {})", choice.step);
            }
        }
        Some(ResumePoint::Start) if !quiet => {
            eprintln!("resuming {dir} from the start (it has no checkpoint yet)");
        }
        _ => {}
    }
}

/// A seed's progress bar as a run observer.
struct Bar(ProgressBar);

impl Observer for Bar {
    fn progress(&mut self, run: &RunView<'_>) {
        self.0.set_position(run.step());
    }

    fn metrics(&mut self, row: &Metrics, run: &RunView<'_>) {
        self.0.set_message(format!(
            "{:.3e} steps/s  loss {:.3e}",
            run.steps_per_second(),
            row.train_loss
        ));
    }
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
    let stop = Stop::install()?;
    let mut seeds = Vec::with_capacity(jobs.len());
    let mut runs = Vec::with_capacity(jobs.len());
    for Job { seed, run } in jobs {
        let run = run.cancel_on(stop.token());
        let bar = multi.add(ProgressBar::new(run.trainer().config().steps));
        bar.set_style(style.clone());
        bar.set_prefix(format!("seed {seed}"));
        let dir = run
            .dir()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        seeds.push((seed, dir, bar.clone()));
        runs.push((run, Bar(bar)));
    }
    let results = execute_all(runs);
    let mut diverged = Vec::new();
    let mut summaries = Vec::new();
    for ((seed, dir, bar), result) in seeds.into_iter().zip(results) {
        bar.finish_and_clear();
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
                s.steps,
                dir.display()
            ));
        }
        summaries.push(outcome.summary);
    }
    if summaries.len() > 1 {
        write_seed_summaries(root, &summaries)?;
    }
    let stopped: Vec<u64> = summaries
        .iter()
        .filter(|s| s.cancelled)
        .map(|s| s.steps)
        .collect();
    if !stopped.is_empty() {
        let steps: Vec<String> = stopped.iter().map(u64::to_string).collect();
        if let Some(e) = stop.interrupted(
            format!("stopped training at step {}", steps.join(", ")),
            format!(
                "checkpoint and results so far written; `labelnoise resume {}` continues",
                root.display()
            ),
        ) {
            return Err(e.into());
        }
    }
    if !diverged.is_empty() {
        anyhow::bail!("{}", diverged.join("; "));
    }
    Ok(())
}
