//! SIGTERM and SIGINT stop `train`, `resume`, `sweep` and `reproduce` gracefully: the runs write a
//! checkpoint and their results so far, the command says so in one line and exits with
//! 128 + the signal's number (see `src/signals.rs`). That a run resumed from such a
//! checkpoint ends bit-identical to an uninterrupted one is
//! `tests/train.rs::resume_after_a_stop_is_bit_identical` (the same cancel path).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn labelnoise() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("labelnoise"))
}

/// Waits until `path` exists (the command has started its run), then a little longer.
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited before writing {}: {status}", path.display());
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// Sends `signal` (`TERM`, `INT`) to the child and returns its exit code and stderr.
fn signal_and_wait(mut child: Child, signal: &str) -> (i32, String) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still running 60 s after SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("exited, not killed by the signal"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sigterm_and_sigint_stop_train_and_resume_with_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let child = labelnoise()
        .args([
            "train",
            "--data",
            "fig1",
            "--hidden",
            "16",
            "--activation",
            "relu",
            "--skip",
            "--output-bias",
            "--lr",
            "1e-3",
            "--noise",
            "0.5",
            "--steps",
            "1e12",
            "--quiet",
            "--out",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    wait_for(&dir.join("config.json"), &mut child);
    let (code, stderr) = signal_and_wait(child, "TERM");
    assert_eq!(code, 143, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: stopped training at step ")
            && stderr.contains("by SIGTERM")
            && stderr.contains(&format!("`labelnoise resume {}` continues", dir.display())),
        "{stderr}"
    );
    let summary = json(&dir.join("summary.json"));
    let steps = summary["steps"].as_u64().unwrap();
    assert_eq!(summary["cancelled"], true);
    assert!(steps > 0 && steps < 1_000_000_000_000);
    let checkpoint = json(&dir.join("checkpoint.json"));
    assert_eq!(checkpoint["state"]["trainer"]["step"].as_u64(), Some(steps));

    // `resume` continues from it, and stops the same way on SIGINT (Ctrl-C).
    let mut child = labelnoise()
        .args(["resume", "--quiet"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&dir.join("summary.json"));
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none());
    let (code, stderr) = signal_and_wait(child, "INT");
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("by SIGINT"), "{stderr}");
    assert!(mtime(&dir.join("summary.json")) > before);
    let resumed = json(&dir.join("summary.json"));
    assert_eq!(resumed["cancelled"], true);
    assert!(resumed["steps"].as_u64().unwrap() > steps, "{resumed}");
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn sigterm_stops_a_sweep_with_its_points_checkpointed() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("long.toml");
    std::fs::write(
        &file,
        r#"name = "long"
[train]
data = "fig1"
hidden = [16]
activation = "relu"
lr = 1e-3
noise = 0.5
steps = 1e12
[grid]
seed = { from = 0, count = 2 }
"#,
    )
    .unwrap();
    let root = tmp.path().join("sweep");
    let mut child = labelnoise()
        .arg("sweep")
        .arg(&file)
        .args(["--jobs", "2", "--quiet", "--out"])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both points started: each has its config.json.
    let start = Instant::now();
    let points = loop {
        let dirs: Vec<_> = std::fs::read_dir(root.join("points"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        if dirs.len() == 2 && dirs.iter().all(|d| d.join("config.json").exists()) {
            break dirs;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep exited early"
        );
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300));
    let (code, stderr) = signal_and_wait(child, "TERM");
    assert_eq!(code, 143, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: stopped the sweep (2 running points checkpointed) by SIGTERM"),
        "{stderr}"
    );
    for p in points {
        assert!(p.join("checkpoint.json").exists(), "{}", p.display());
        assert_eq!(json(&p.join("summary.json"))["cancelled"], true);
    }
}

/// `reproduce` stops within a moment of SIGINT or SIGTERM (the experiments' runs stop at
/// their next stop), exits with 130 or 143, and writes no report.
#[test]
fn sigint_and_sigterm_stop_reproduce_without_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    for (signal, status) in [("INT", 130), ("TERM", 143)] {
        let out = tmp.path().join(format!("r-{signal}"));
        let mut child = labelnoise()
            .args(["reproduce", "all", "--quick", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The lock file appears once the directory is checked and the run has started.
        wait_for(&out.join(".lock"), &mut child);
        let sent = Instant::now();
        let (code, stderr) = signal_and_wait(child, signal);
        let after = sent.elapsed().as_secs_f64();
        assert_eq!(code, status, "{stderr}");
        assert!(
            stderr.contains(&format!("stopped reproduce by SIG{signal}"))
                && stderr.contains("no report written"),
            "{stderr}"
        );
        assert!(!out.join("summary.json").exists() && !out.join("report.md").exists());
        eprintln!("reproduce all --quick: exit {code} {after:.2} s after SIG{signal}");
    }
}
