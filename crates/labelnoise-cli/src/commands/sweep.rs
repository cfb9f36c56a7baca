//! `labelnoise sweep FILE --out DIR` and `labelnoise collect DIR`: many training runs
//! from one sweep file, on this machine or as a Slurm job array, and their results in
//! one table, figures and a report. The sweep itself — the file, its points, shards,
//! idempotent runs, measures, figures — is the `labelnoise-sweep` crate; this module
//! turns flags into its calls, shows one progress bar and prints a few lines.
//! docs/sweeps.md describes both commands.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use labelnoise_sweep::collect::{collect, write_results, Status};
use labelnoise_sweep::figures::write_report;
use labelnoise_sweep::slurm::{script, SlurmOptions, DEFAULT_MAX_TASKS};
use labelnoise_sweep::{
    manifest, plan_shard, run_planned, PointEnd, Shard, SweepError, SweepFile, SweepProgress,
};

use crate::signals::Stop;
use crate::UsageError;

/// `labelnoise sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file (TOML; docs/sweeps.md).
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The sweep directory: manifest.json, points/<index>-<hash>/, results.
    #[arg(long, value_name = "DIR")]
    pub out: String,
    /// Run only shard I of N (zero-based; cost-balanced, deterministic). Inside a Slurm
    /// array task without --shard, the shard is SLURM_ARRAY_TASK_ID of
    /// SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Workers: points, or packs of up to 8 small points training together in vector
    /// lanes, run at once [default: the number of cores].
    #[arg(long, value_name = "K")]
    pub jobs: Option<usize>,
    /// Write DIR/sweep.sbatch, a Slurm job array running the sweep, instead of running it.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: each task's time limit (HH:MM:SS, D-HH:MM:SS, ...).
    #[arg(long, value_name = "T", requires = "slurm")]
    pub time: Option<String>,
    /// With --slurm: CPUs per task (points run at once in a task).
    #[arg(long, value_name = "C", requires = "slurm")]
    pub cpus_per_task: Option<usize>,
    /// With --slurm: the partition.
    #[arg(long, value_name = "P", requires = "slurm")]
    pub partition: Option<String>,
    /// With --slurm: the most array tasks running at once.
    #[arg(long, value_name = "K", requires = "slurm")]
    pub max_parallel: Option<usize>,
    /// With --slurm: the number of array tasks [default: one per point, at most 1000].
    #[arg(long, value_name = "N", requires = "slurm")]
    pub tasks: Option<usize>,
    /// With --slurm: submit the array with sbatch and print the job id.
    #[arg(long, requires = "slurm")]
    pub submit: bool,
    /// No progress bar and no per-point lines.
    #[arg(long)]
    pub quiet: bool,
}

/// `labelnoise collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The sweep directory (written by `labelnoise sweep`).
    #[arg(value_name = "DIR")]
    pub dir: String,
    /// Exit 0 even if some points are missing, incomplete, failed or diverged (they
    /// are listed either way).
    #[arg(long)]
    pub partial: bool,
    /// Print only problems.
    #[arg(long)]
    pub quiet: bool,
}

/// A sweep error as the command line reports it: bad input exits 2, the rest 1.
fn cli_error(e: SweepError) -> anyhow::Error {
    match e {
        SweepError::Core(core) => core.into(),
        e if e.is_bad_input() => UsageError(e.to_string()).into(),
        e => anyhow::anyhow!("{e}"),
    }
}

/// The overall progress bar, and one line per point off a terminal.
struct Bar {
    bar: ProgressBar,
    lines: bool,
}

impl SweepProgress for Bar {
    fn started(&self, steps: u64, points: usize, done: usize) {
        self.bar.set_length(steps);
        self.bar
            .set_message(format!("{points} points, {done} already done"));
    }

    fn advanced(&self, steps: u64) {
        self.bar.inc(steps);
    }

    fn point_ended(&self, index: usize, end: &PointEnd) {
        if self.lines {
            let what = match end {
                PointEnd::Skipped => "already done".to_string(),
                PointEnd::Finished { resumed, steps, .. } => format!(
                    "{} ({steps} steps)",
                    if *resumed {
                        "resumed and finished"
                    } else {
                        "finished"
                    }
                ),
                PointEnd::Diverged(s) => format!("diverged at step {s}"),
                PointEnd::Failed(m) => format!("failed: {m}"),
                PointEnd::Cancelled(s) => format!("stopped at step {s}"),
            };
            // Progress lines go to stderr (Slurm's task log), as the bar does.
            eprintln!("point {index}: {what}");
        }
    }
}

/// `labelnoise sweep`.
pub fn run(args: &SweepArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let file = PathBuf::from(&args.file);
    let sweep = SweepFile::read(&file)
        .and_then(|f| f.check())
        .map_err(cli_error)?;
    let root = PathBuf::from(&args.out);
    if args.jobs == Some(0) {
        return Err(UsageError("--jobs: must be at least 1".into()).into());
    }
    if args.slurm {
        if args.shard.is_some() {
            return Err(UsageError(
                "--shard: not with --slurm (each array task takes its own shard)".into(),
            )
            .into());
        }
        return slurm(args, &sweep, &file, &root, out);
    }
    let shard = match &args.shard {
        Some(s) => Shard::parse(s).map_err(cli_error)?,
        None => Shard::from_slurm(|k| std::env::var(k).ok())
            .map_err(cli_error)?
            .unwrap_or(Shard::ALL),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Planning writes nothing, and refuses points that cannot fit in memory at once.
    let plan = plan_shard(&sweep, &root, shard, jobs).map_err(cli_error)?;
    manifest::prepare(&root, &sweep).map_err(cli_error)?;
    let show = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        None,
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} steps  {msg}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{} {shard}", sweep.definition.name));
    let progress = Bar {
        bar: bar.clone(),
        lines: !args.quiet && !show,
    };
    let stop = Stop::install()?;
    let report = run_planned(&sweep, &root, plan, &progress, &stop.token());
    bar.finish_and_clear();
    let (skipped, finished, resumed, diverged, failed) = report.counts();
    if !args.quiet {
        writeln!(
            out,
            "sweep {} shard {shard}: {} points: {finished} finished, {resumed} resumed, {skipped} already done, \
             {diverged} diverged, {failed} failed; {jobs} at a time, wall {:.1} s, training loops {:.1} s -> {}",
            sweep.definition.name,
            report.points.len(),
            report.wall_seconds,
            report.loop_seconds(),
            root.display()
        )?;
    }
    let stopped = report
        .points
        .values()
        .filter(|e| matches!(e, labelnoise_sweep::PointEnd::Cancelled(_)))
        .count();
    if let Some(e) = stop.interrupted(
        format!("stopped the sweep ({stopped} running points checkpointed)"),
        "run the same `labelnoise sweep` command again to continue".to_string(),
    ) {
        return Err(e.into());
    }
    let problems = report.problems();
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// `labelnoise sweep --slurm`: writes the manifest and DIR/sweep.sbatch; submits it with
/// `--submit`.
fn slurm(
    args: &SweepArgs,
    sweep: &labelnoise_sweep::Sweep,
    file: &Path,
    root: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (Some(time), Some(cpus)) = (&args.time, args.cpus_per_task) else {
        return Err(UsageError("--slurm: needs --time T and --cpus-per-task C".into()).into());
    };
    let opts = SlurmOptions {
        time: time.clone(),
        cpus_per_task: cpus,
        partition: args.partition.clone(),
        max_parallel: args.max_parallel,
        tasks: args.tasks.unwrap_or(sweep.len().min(DEFAULT_MAX_TASKS)),
    };
    opts.check().map_err(cli_error)?;
    let cwd = std::env::current_dir()?;
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    let exe = std::env::current_exe()?;
    let text = script(
        &sweep.definition.name,
        &exe,
        &cwd,
        &abs(file),
        &abs(root),
        &opts,
    )
    .map_err(cli_error)?;
    manifest::prepare(root, sweep).map_err(cli_error)?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| labelnoise_core::Error::Write {
        file: logs.display().to_string(),
        source,
    })?;
    let path = root.join("sweep.sbatch");
    labelnoise_core::files::write_atomic(&path, text.as_bytes())?;
    if !args.submit {
        writeln!(
            out,
            "wrote {} ({} array tasks for {} points); submit it with:\nsbatch {}",
            path.display(),
            opts.tasks,
            sweep.len(),
            path.display()
        )?;
        return Ok(());
    }
    let output = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| anyhow::anyhow!("sbatch: cannot run it: {e}"))?;
    if !output.status.success() {
        anyhow::bail!(
            "sbatch {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
                .trim()
                .replace('\n', " ")
        );
    }
    let id = String::from_utf8_lossy(&output.stdout);
    let id = id.trim().split(';').next().unwrap_or("").to_string();
    writeln!(out, "{id}")?;
    Ok(())
}

/// `labelnoise collect`.
pub fn collect_cmd(args: &CollectArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let root = PathBuf::from(&args.dir);
    let m = manifest::read(&root).map_err(cli_error)?;
    let results = collect(&root, &m).map_err(cli_error)?;
    write_results(&root, &results).map_err(cli_error)?;
    let report = write_report(&root, &m.definition, &results).map_err(cli_error)?;
    let count = |s: Status| results.rows.iter().filter(|r| r.status == s).count();
    if !args.quiet {
        writeln!(
            out,
            "{}: {} points, {} finished; wrote results.csv, results.json, report.md, report.html{}",
            m.definition.name,
            results.count,
            count(Status::Finished),
            if report.figures.is_empty() {
                String::new()
            } else {
                format!(
                    ", figures {}",
                    report
                        .figures
                        .iter()
                        .map(|f| format!("{f}.png/.svg"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        )?;
        for f in &report.fits {
            if f.measure == "time_to_simplify" {
                let mut s = f.seed_exponents.clone();
                s.sort_by(f64::total_cmp);
                writeln!(
                    out,
                    "time to simplify ~ {}^{:.3}{}{}",
                    f.setting,
                    f.exponent,
                    if f.series.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", f.series)
                    },
                    if s.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (per seed: {} fits from {:.3} to {:.3})",
                            s.len(),
                            s[0],
                            s[s.len() - 1]
                        )
                    }
                )?;
            }
        }
    }
    let unfinished = results.unfinished();
    if !unfinished.is_empty() {
        let list: Vec<String> = unfinished
            .iter()
            .map(|r| format!("{} {}", r.dir, r.status.name()))
            .collect();
        let text = format!(
            "{} of {} points not finished: {}",
            unfinished.len(),
            results.count,
            list.join(", ")
        );
        if args.partial {
            writeln!(out, "{text}")?;
        } else {
            anyhow::bail!("{text} (collect --partial to accept)");
        }
    }
    Ok(())
}
