//! Checkpoints you can trust and one writer per run directory, end to end: `resume`
//! uses the newest checkpoint whose checksum holds and says which, falls back to
//! `checkpoint.prev.json` when the newer one is damaged, refuses with one line naming the
//! file (exit 2) when none is valid, and ignores the temporary files of a killed write;
//! a second process writing into a run directory in use is refused with one line naming
//! the first one's process id, and the lock of a killed process is taken over.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labelnoise"))
}

fn train_args(out: &Path, steps: &str) -> Vec<String> {
    [
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
        steps,
        "--log-points",
        "20",
        "--checkpoint-every",
        "5000",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// (exit code, stderr)
fn run(args: &[&str]) -> (i32, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A finished run of 20000 steps (checkpoints at 15000 and 20000 on disk) and a copy of
/// it without its results, to resume.
fn finished_and_copy(tmp: &Path) -> (PathBuf, PathBuf) {
    let whole = tmp.join("whole");
    let out = bin().args(train_args(&whole, "2e4")).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let copy = tmp.join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in [
        "config.json",
        "data.json",
        "initial-model.json",
        "checkpoint.json",
        "checkpoint.prev.json",
    ] {
        std::fs::copy(whole.join(f), copy.join(f)).unwrap();
    }
    (whole, copy)
}

fn same(a: &Path, b: &Path, file: &str) {
    assert_eq!(
        std::fs::read(a.join(file)).unwrap(),
        std::fs::read(b.join(file)).unwrap(),
        "{file}"
    );
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    // Inside the state, in a digit of θ or of the generator: still JSON, wrong checksum.
    let at = bytes.len() / 2;
    let at = at + bytes[at..].iter().position(u8::is_ascii_digit).unwrap();
    bytes[at] = if bytes[at] == b'7' { b'3' } else { b'7' };
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
    for (case, damage) in [
        ("flipped byte", flip_a_byte as fn(&Path)),
        ("truncated", truncate),
        ("not JSON", |p: &Path| std::fs::write(p, "hello").unwrap()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (whole, copy) = finished_and_copy(tmp.path());
        damage(&copy.join("checkpoint.json"));
        let (code, err) = run(&["resume", copy.to_str().unwrap(), "--quiet"]);
        assert_eq!(code, 0, "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
        assert!(err.starts_with("warning: "), "{case}: {err}");
        assert!(err.contains("checkpoint.json"), "{case}: {err}");
        assert!(
            err.contains("resuming from checkpoint.prev.json (step 15000)"),
            "{case}: {err}"
        );
        for f in ["model.json", "metrics.csv"] {
            same(&whole, &copy, f);
        }
    }
}

#[test]
fn a_deleted_newest_checkpoint_resumes_from_the_previous_one_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, copy) = finished_and_copy(tmp.path());
    std::fs::remove_file(copy.join("checkpoint.json")).unwrap();
    let (code, err) = run(&["resume", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("from checkpoint.prev.json (step 15000)"),
        "{err}"
    );
    for f in ["model.json", "metrics.csv"] {
        same(&whole, &copy, f);
    }
    // And the newest valid one is said too.
    let (code, err) = run(&["resume", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from checkpoint.json (step 20000)"), "{err}");
}

#[test]
fn no_valid_checkpoint_is_refused_with_one_line_naming_the_file() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 3] = [
        ("both damaged", |dir| {
            flip_a_byte(&dir.join("checkpoint.json"));
            truncate(&dir.join("checkpoint.prev.json"));
        }),
        ("damaged, no previous", |dir| {
            truncate(&dir.join("checkpoint.json"));
            std::fs::remove_file(dir.join("checkpoint.prev.json")).unwrap();
        }),
        ("previous damaged, newest deleted", |dir| {
            std::fs::remove_file(dir.join("checkpoint.json")).unwrap();
            flip_a_byte(&dir.join("checkpoint.prev.json"));
        }),
    ];
    for (case, damage) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (_, copy) = finished_and_copy(tmp.path());
        damage(&copy);
        let before = listing(&copy);
        let (code, err) = run(&["resume", copy.to_str().unwrap()]);
        assert_eq!(code, 2, "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
        assert!(err.starts_with("error: "), "{case}: {err}");
        assert!(err.contains(".json: sha256: "), "{case}: {err}");
        assert!(!err.contains("panicked"), "{case}: {err}");
        assert_eq!(listing(&copy), before, "{case}: nothing written");
    }
}

#[test]
fn a_checkpoint_without_its_checksum_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, copy) = finished_and_copy(tmp.path());
    // The state alone, as written before checkpoints carried a checksum.
    let text = std::fs::read_to_string(copy.join("checkpoint.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["sha256"].as_str().unwrap().len(), 64);
    for f in ["checkpoint.json", "checkpoint.prev.json"] {
        std::fs::write(copy.join(f), value["state"].to_string()).unwrap();
    }
    let (code, err) = run(&["resume", copy.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a labelnoise checkpoint"), "{err}");
}

#[test]
fn a_killed_writes_temporary_file_is_harmless_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, copy) = finished_and_copy(tmp.path());
    let left = copy.join(".checkpoint.json.tmp-999999");
    std::fs::write(&left, "{\"sha256\":\"00").unwrap();
    let (code, err) = run(&["resume", copy.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(!left.exists());
    same(&whole, &copy, "model.json");
}

/// Every file under `dir` with its bytes.
fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    all.sort();
    all
}

/// Waits until `path` exists.
fn wait_for(path: &Path) {
    let t = Instant::now();
    while !path.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "{}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_second_writer_is_refused_and_a_killed_ones_lock_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("busy");
    // A long run without periodic checkpoints: it writes its starting files, then
    // nothing until it ends (it is killed long before).
    let mut long = train_args(&dir, "1e10");
    let at = long.iter().position(|a| a == "--checkpoint-every").unwrap();
    long.drain(at..at + 2);
    let mut first = bin()
        .args(&long)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&dir.join("config.json"));
    let lock = std::fs::read_to_string(dir.join(".lock")).unwrap();
    assert!(lock.starts_with(&format!("{} ", first.id())), "{lock}");
    let before = listing(&dir);
    let d = dir.to_str().unwrap();
    let mut again = train_args(&dir, "2e4");
    again.push("--force".into());
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    for attempt in [vec!["resume", d], again.clone()] {
        let (code, err) = run(&attempt);
        assert_eq!(code, 2, "{attempt:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("in use by process {}", first.id())),
            "{err}"
        );
        assert_eq!(listing(&dir), before, "{attempt:?}: nothing written");
    }
    // SIGKILL: the lock file stays, naming a process that no longer runs.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(dir.join(".lock").exists());
    let (code, err) = run(&again);
    assert_eq!(code, 0, "{err}");
    assert!(dir.join("model.json").exists());
    assert!(!dir.join(".lock").exists());
}
