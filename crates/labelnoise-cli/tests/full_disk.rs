//! Full disks: `train`, `settle`, `reproduce` and `sweep` write into a 64 KiB tmpfs that
//! a filler file has left k pages of, for many k. Each either succeeds or fails with one
//! line (no stack trace), a non-zero exit status, no file under a final name that does
//! not read back whole, no temporary file left, and the checkpoints written before intact;
//! once the filler is removed, `resume` (or the same sweep again) completes, and a run's
//! results are byte for byte those of an uninterrupted run elsewhere.
//!
//! The mounts need root, which CI has: the test fails (never skips) when `mount` fails.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;

use labelnoise_core::model_io::model_from_safetensors;
use labelnoise_core::train::RunDir;

const PAGE: usize = 4096;
const SIZE: usize = 64 * 1024;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labelnoise"));
    c.env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN");
    c
}

/// A 64 KiB tmpfs, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn new(dir: PathBuf) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={}k", SIZE / 1024),
                "tmpfs",
            ])
            .arg(&dir)
            .output()
            .expect("mount: not found (install util-linux/mount)");
        assert!(
            out.status.success(),
            "mount -t tmpfs failed (this test needs root, which CI has): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    /// Fills all but `free_pages` pages with a file `filler`.
    fn leave_free(&self, free_pages: usize) {
        let bytes = SIZE.saturating_sub(free_pages * PAGE);
        std::fs::write(self.dir.join("filler"), vec![0u8; bytes]).unwrap();
    }

    fn free_all(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }

    /// Remounts with `kib` KiB (a sweep's four points need more than 64).
    fn resize(&self, kib: usize) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k")])
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount of {} failed", self.dir.display());
    }

    /// Empties the file system for the next case.
    fn clear(&self) {
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if e.path().is_dir() {
                std::fs::remove_dir_all(e.path()).unwrap();
            } else {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// (exit code, stderr) of the binary with `args`.
fn run(args: &[String]) -> (i32, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A failed command's stderr: one line per failure, no panic, no stack trace, and a
/// full disk named.
fn check_failure(case: &str, code: i32, err: &str, one_line: bool) {
    assert_ne!(code, 0, "{case}");
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{case}: {err}"
    );
    if one_line {
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
    }
    assert!(err.contains("No space left on device"), "{case}: {err}");
}

/// Every file under `dir` reads back whole: no temporary or lock file is left, and each
/// file under a final name parses as what its name says; a run directory's newest
/// checkpoint is valid.
fn check_whole(case: &str, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    if dir.join("config.json").exists() {
        if let Err(e) = RunDir::new(dir).latest_checkpoint() {
            panic!("{case}: {}: {e}", dir.display());
        }
        if let Ok(Some((_, choice))) = RunDir::new(dir).latest_checkpoint() {
            assert!(choice.refused.is_empty(), "{case}: {choice:?}");
        }
    }
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            check_whole(case, &path);
            continue;
        }
        assert!(
            !(name.starts_with('.') && name.contains(".tmp-")) && name != ".lock",
            "{case}: left behind: {}",
            path.display()
        );
        let bytes = std::fs::read(&path).unwrap();
        let whole = match path.extension().and_then(|x| x.to_str()).unwrap_or("") {
            "json" => serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
            "csv" | "md" | "sbatch" => !bytes.is_empty() && bytes.ends_with(b"\n"),
            "safetensors" => model_from_safetensors(&bytes, &name).is_ok(),
            "png" => bytes.starts_with(b"\x89PNG") && bytes.ends_with(b"IEND\xaeB`\x82"),
            "svg" => String::from_utf8_lossy(&bytes)
                .trim_end()
                .ends_with("</svg>"),
            "html" => String::from_utf8_lossy(&bytes)
                .trim_end()
                .ends_with("</html>"),
            _ => !bytes.is_empty(),
        };
        assert!(whole, "{case}: {} is not whole", path.display());
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

fn train(out: &Path) -> Vec<String> {
    let mut a = strings(TRAIN);
    a.extend(["--out".into(), out.display().to_string()]);
    a
}

fn same(a: &Path, b: &Path, file: &str, case: &str) {
    assert!(
        std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap(),
        "{case}: {file} differs"
    );
}

#[test]
fn train_and_settle_on_a_full_disk_fail_cleanly_and_resume_bit_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let (code, err) = run(&train(&whole));
    assert_eq!(code, 0, "{err}");
    let fs = Tmpfs::new(tmp.path().join("tiny"));
    let mut failures = Vec::new();
    for free in 0..=14 {
        let case = format!("train with {free} free pages");
        fs.clear();
        fs.leave_free(free);
        let out = fs.dir.join("run");
        let (code, err) = run(&train(&out));
        if code != 0 {
            check_failure(&case, code, &err, true);
            failures.push(format!("{case}: {}", err.trim()));
        }
        check_whole(&case, &out);
        fs.free_all();
        let again = if out.join("config.json").exists() {
            strings(&["resume", out.to_str().unwrap(), "--quiet"])
        } else {
            let mut a = train(&out);
            a.push("--force".into());
            a
        };
        let (code, err) = run(&again);
        assert_eq!(code, 0, "{case}, then with space: {err}");
        for f in ["model.json", "metrics.csv", "model.safetensors"] {
            same(&whole, &out, f, &case);
        }
    }
    for free in [0, 1, 2, 3, 4] {
        let case = format!("settle with {free} free pages");
        fs.clear();
        fs.leave_free(free);
        let out = fs.dir.join("settled");
        let (code, err) = run(&strings(&[
            "settle",
            "--model",
            whole.join("model.json").to_str().unwrap(),
            "--data",
            "fig1",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]));
        if code != 0 {
            check_failure(&case, code, &err, true);
            failures.push(format!("{case}: {}", err.trim()));
        }
        check_whole(&case, &out);
    }
    for f in &failures {
        eprintln!("{f}");
    }
    // Most cases must really have hit the full disk.
    assert!(failures.len() >= 12, "{failures:#?}");
}

#[test]
fn reproduce_on_a_full_disk_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Tmpfs::new(tmp.path().join("tiny"));
    let out = fs.dir.join("lemma6");
    let (code, err) = run(&strings(&[
        "reproduce",
        "lemma6",
        "--quick",
        "--out",
        out.to_str().unwrap(),
    ]));
    let case = "reproduce lemma6 --quick on 64 KiB";
    check_failure(case, code, &err, true);
    eprintln!("{case}: {}", err.trim());
    check_whole(case, &out);
}

const SWEEP: &str = r#"name = "full"
[train]
data = "fig1"
hidden = 8
activation = "relu"
skip = true
output_bias = true
output_init_scale = 3
noise = 0.5
log_points = 30
checkpoint_every = 2000
[zip]
lr = [2e-3, 1e-3]
steps = [1e4, 2e4]
[grid]
seed = { from = 0, count = 2 }
"#;

#[test]
fn a_sweep_on_a_full_disk_fails_cleanly_and_finishes_once_there_is_space() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("full.toml");
    std::fs::write(&file, SWEEP).unwrap();
    let whole = tmp.path().join("whole");
    let sweep = |out: &Path| {
        strings(&[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
    };
    let (code, err) = run(&sweep(&whole));
    assert_eq!(code, 0, "{err}");
    let fs = Tmpfs::new(tmp.path().join("tiny"));
    let mut failures = 0;
    for free in [0, 1, 2, 4, 6, 8, 10] {
        let case = format!("sweep with {free} free pages");
        fs.clear();
        fs.resize(SIZE / 1024);
        fs.leave_free(free);
        let out = fs.dir.join("sweep");
        let (code, err) = run(&sweep(&out));
        if code != 0 {
            // The failed points joined in one line.
            check_failure(&case, code, &err, true);
            failures += 1;
            eprintln!("{case}: {}", err.lines().next().unwrap_or(""));
        }
        check_whole(&case, &out);
        fs.free_all();
        fs.resize(4096);
        let (code, err) = run(&sweep(&out));
        assert_eq!(code, 0, "{case}, then with space: {err}");
        for point in std::fs::read_dir(whole.join("points")).unwrap().flatten() {
            let name = point.file_name();
            for f in ["model.json", "metrics.csv"] {
                same(
                    &point.path(),
                    &out.join("points").join(&name),
                    f,
                    &format!("{case}: {}", name.to_string_lossy()),
                );
            }
        }
    }
    assert!(failures >= 5, "{failures}");
}
