//! Real kills: `labelnoise train`, `train --seeds 3` and `labelnoise sweep` are started as
//! child processes and SIGKILLed at seeded random moments (some before the run's files
//! are written, many during checkpoint writes: the checkpoint period is small), then
//! continued (`resume DIR`, or the same `sweep` command again), killed again, and so on;
//! at the end their results are byte for byte those of an uninterrupted run.
//!
//! Only kills that hit a running process count (a process that had already exited, as
//! its exit status shows, does not); each test asserts at least 10.

#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills that must hit a running process, per test.
const KILLS: usize = 10;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labelnoise"));
    c.env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN");
    c
}

/// SplitMix64: the kill moments, reproducible from the test's seed.
struct Moments(u64);

impl Moments {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

const TRAIN: &[&str] = &[
    "train",
    "--data",
    "fig1",
    "--hidden",
    "8",
    "--activation",
    "relu",
    "--skip",
    "--output-bias",
    "--lr",
    "1e-3",
    "--noise",
    "0.5",
    "--steps",
    "3e4",
    "--log-points",
    "30",
    "--checkpoint-every",
    "500",
    "--quiet",
];

fn run_to_end(args: &[String]) {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// What happened to the processes of [`kill_and_continue`].
#[derive(Debug, Default)]
struct Tally {
    /// Kills that hit a running process (before the run's end: the first process that
    /// is not killed ends the run).
    hits: usize,
    /// Of those, kills that left a temporary file behind: a write cut short (most are
    /// checkpoint writes, the bulk of what a run with a small period writes).
    mid_write: usize,
    /// Restarts with `train --force` because the kill came before the run's starting
    /// files were whole (nothing to resume yet).
    restarts: usize,
    /// Processes started in all.
    processes: usize,
    /// Runs done from scratch to their end, each checked against the uninterrupted one
    /// (a new one is started while fewer than [`KILLS`] kills have hit).
    rounds: usize,
}

/// Starts `first`, kills it at a random moment in [0, `span`/10) (later as kills go on;
/// squared, so that many
/// fall in the first few milliseconds: before the starting files are whole, or in the
/// first checkpoint), and goes on with the command `next()` returns (with whether it is
/// a restart from scratch), killing each in the same way, until a process ends by itself:
/// the run is complete, and `check` compares its results with the uninterrupted run's.
/// While fewer than [`KILLS`] kills have hit, the directories are removed and it all
/// starts again.
fn kill_and_continue(
    seed: u64,
    span: Duration,
    first: Vec<String>,
    dirs: &[PathBuf],
    next: impl Fn() -> (Vec<String>, bool),
    check: impl Fn(),
) -> Tally {
    let mut moments = Moments(seed);
    let mut tally = Tally::default();
    while tally.hits < KILLS {
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        kill_until_done(&mut moments, span, first.clone(), dirs, &next, &mut tally);
        check();
        tally.rounds += 1;
    }
    tally
}

fn kill_until_done(
    moments: &mut Moments,
    span: Duration,
    first: Vec<String>,
    dirs: &[PathBuf],
    next: &impl Fn() -> (Vec<String>, bool),
    tally: &mut Tally,
) {
    let mut args = first;
    // Grows by 5% per kill, so that a run that is killed before it gets anywhere (a
    // sweep's processes start slowly) still ends.
    let mut scale = 0.1;
    loop {
        tally.processes += 1;
        assert!(tally.processes < 1000, "the run never ends: {tally:?}");
        let delay = span.mul_f64(moments.next_unit().powi(2) * scale);
        scale *= 1.05;
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        // A process that exited just before the kill has its own exit status.
        if output.status.signal() != Some(SIGKILL) {
            assert!(
                output.status.success(),
                "{args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            break;
        }
        tally.hits += 1;
        if dirs.iter().map(|d| temporaries(d)).sum::<usize>() > 0 {
            tally.mid_write += 1;
        }
        let (again, restart) = next();
        tally.restarts += usize::from(restart);
        args = again;
    }
    for d in dirs {
        assert_eq!(temporaries(d), 0, "temporary files left: {:?}", listing(d));
        assert!(!d.join(".lock").exists(), "{}: lock left", d.display());
    }
}

const SIGKILL: i32 = 9;

/// Every path under `dir`, for failure messages.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        all.push(e.path());
        if e.path().is_dir() {
            all.extend(listing(&e.path()));
        }
    }
    all
}

/// Temporary files of interrupted atomic writes under `dir` (recursively).
fn temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() {
                temporaries(&e.path())
            } else {
                usize::from(name.starts_with('.') && name.contains(".tmp-"))
            }
        })
        .sum()
}

fn same_bytes(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// How long an uninterrupted run of `args` takes.
fn timed(args: &[String]) -> Duration {
    let t = Instant::now();
    run_to_end(args);
    t.elapsed()
}

#[test]
fn a_run_killed_again_and_again_ends_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let with_out = |out: &Path| {
        let mut a = strings(TRAIN);
        a.extend(["--out".into(), out.display().to_string()]);
        a
    };
    let span = timed(&with_out(&whole));
    let first = with_out(&killed);
    let next = || {
        if killed.join("config.json").exists() {
            (
                strings(&["resume", killed.to_str().unwrap(), "--quiet"]),
                false,
            )
        } else {
            let mut again = first.clone();
            again.push("--force".into());
            (again, true)
        }
    };
    let check = || {
        for f in ["model.json", "metrics.csv", "model.safetensors"] {
            same_bytes(&whole.join(f), &killed.join(f));
        }
    };
    let tally = kill_and_continue(
        14,
        span,
        first.clone(),
        std::slice::from_ref(&killed),
        next,
        check,
    );
    eprintln!("single seed: {tally:?}");
    assert!(tally.hits >= KILLS, "{tally:?}");
}

#[test]
fn a_run_of_three_seeds_killed_again_and_again_ends_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let with_out = |out: &Path| {
        let mut a = strings(TRAIN);
        a.extend([
            "--seeds".into(),
            "3".into(),
            "--out".into(),
            out.display().to_string(),
        ]);
        a
    };
    let span = timed(&with_out(&whole));
    let first = with_out(&killed);
    let next = || {
        if killed.join("seeds.json").exists() {
            (
                strings(&["resume", killed.to_str().unwrap(), "--quiet"]),
                false,
            )
        } else {
            let mut again = first.clone();
            again.push("--force".into());
            (again, true)
        }
    };
    let check = || {
        for seed in 0..3 {
            for f in ["model.json", "metrics.csv"] {
                let f = format!("seed-{seed}/{f}");
                same_bytes(&whole.join(&f), &killed.join(&f));
            }
        }
        let seeds: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(killed.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(seeds.len(), 3);
    };
    let tally = kill_and_continue(
        15,
        span,
        first.clone(),
        std::slice::from_ref(&killed),
        next,
        check,
    );
    eprintln!("three seeds: {tally:?}");
    assert!(tally.hits >= KILLS, "{tally:?}");
}

const SWEEP: &str = r#"name = "killed"
[train]
data = "fig1"
hidden = 8
activation = "relu"
skip = true
output_bias = true
output_init_scale = 3
noise = 0.5
log_points = 30
checkpoint_every = 500
[zip]
lr = [2e-3, 1e-3]
steps = [1e4, 2e4]
[grid]
seed = { from = 0, count = 2 }
"#;

/// results.csv without its timing columns (the last two: wall time and speed differ from
/// run to run).
fn results_without_timing(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.rsplitn(3, ',').nth(2).unwrap_or("").to_string() + "\n")
        .collect()
}

#[test]
fn a_sweep_killed_again_and_again_collects_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("killed.toml");
    std::fs::write(&file, SWEEP).unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let sweep = |out: &Path| {
        strings(&[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            "2",
            "--quiet",
        ])
    };
    let span = timed(&sweep(&whole));
    let again = sweep(&killed);
    run_to_end(&strings(&["collect", whole.to_str().unwrap(), "--quiet"]));
    let check = || {
        run_to_end(&strings(&["collect", killed.to_str().unwrap(), "--quiet"]));
        let (a, b) = (
            results_without_timing(&whole.join("results.csv")),
            results_without_timing(&killed.join("results.csv")),
        );
        assert_eq!(a, b);
        assert_eq!(a.lines().count(), 5, "{a}");
        for point in std::fs::read_dir(whole.join("points")).unwrap().flatten() {
            let name = point.file_name();
            for f in ["model.json", "metrics.csv"] {
                same_bytes(
                    &point.path().join(f),
                    &killed.join("points").join(&name).join(f),
                );
            }
        }
    };
    let tally = kill_and_continue(
        16,
        span,
        again.clone(),
        std::slice::from_ref(&killed),
        || (again.clone(), false),
        check,
    );
    eprintln!("sweep: {tally:?}");
    assert!(tally.hits >= KILLS, "{tally:?}");
}
