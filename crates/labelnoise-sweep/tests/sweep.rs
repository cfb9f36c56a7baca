//! The sweep crate end to end on small sweeps: checking, expansion, shards, idempotent
//! and resumable runs, collect.

use std::path::Path;
use std::sync::atomic::Ordering;

use labelnoise_core::train::CancelToken;
use labelnoise_sweep::collect::{collect, results_csv, Status};
use labelnoise_sweep::manifest;
use labelnoise_sweep::{run_shard, NoProgress, PointEnd, Shard, SweepFile, SweepProgress};

const SMALL: &str = r#"
name = "small"
[train]
data = "fig1"
hidden = 6
activation = "relu"
skip = true
output_bias = true
noise = 0.5
output_init_scale = 3
checkpoint_every = 10000
[zip]
lr = [2e-3, 1e-3]
steps = [2e4, 4e4]
[grid]
seed = { from = 3, count = 2 }
"#;

fn check(text: &str) -> Result<labelnoise_sweep::Sweep, String> {
    SweepFile::parse(text, "s.toml")
        .and_then(|f| f.check())
        .map_err(|e| e.to_string())
}

#[test]
fn values_train_would_refuse_are_refused_with_trains_message_and_their_place() {
    let e = check(&SMALL.replace("lr = [2e-3, 1e-3]", "lr = [2e-3, -1]")).unwrap_err();
    assert_eq!(
        e,
        "s.toml: [zip].lr[1]: must be positive and finite, got -1"
    );
    let e = check(&SMALL.replace("hidden = 6", "hidden = 6\nfreeze = [\"skip\", 3]")).unwrap_err();
    assert!(
        e.starts_with("s.toml: [train].freeze: layer 3 does not exist"),
        "{e}"
    );
    let e =
        check(&SMALL.replace("activation = \"relu\"", "activation = \"softplus\"")).unwrap_err();
    assert!(
        e.starts_with("s.toml: [train].activation: unknown variant `softplus`"),
        "{e}"
    );
    let e = check(&SMALL.replace(
        "seed = { from = 3, count = 2 }",
        "seed = [0, 1]\nbatch = [1, 0]",
    ))
    .unwrap_err();
    assert_eq!(e, "s.toml: [grid].batch[1]: must be at least 1, got 0");
    let e = check(&SMALL.replace("data = \"fig1\"", "data = \"no-such.json\"")).unwrap_err();
    assert!(e.starts_with("s.toml: [train].data: no-such.json: "), "{e}");
    let e = check(&SMALL.replace("noise = 0.5\n", "")).unwrap_err();
    assert!(e.starts_with("s.toml: noise: required"), "{e}");
}

#[test]
fn points_have_stable_directories_settings_and_costs() {
    let s = check(SMALL).unwrap();
    assert_eq!(s.len(), 4);
    let p = s.point(3);
    assert_eq!(p.settings["lr"], serde_json::json!(1e-3));
    assert_eq!(p.settings["seed"], serde_json::json!(4));
    assert!(
        p.dir.starts_with("points/3-") && p.dir.len() == "points/3-".len() + 8,
        "{}",
        p.dir
    );
    // 1 -> 6 relu -> 1 with output bias and skip: 6 + 6 + 6 + 1 + 1 = 20 parameters.
    assert_eq!(s.info(3).params, 20);
    assert_eq!(p.cost, 4e4 * 20.0);
    assert_eq!(
        check(SMALL).unwrap().point(3),
        p,
        "the same file gives the same points"
    );
}

fn run_all(text: &str, dir: &Path, shard: Shard) -> labelnoise_sweep::ShardReport {
    let s = check(text).unwrap();
    manifest::prepare(dir, &s).unwrap();
    run_shard(&s, dir, shard, 2, &NoProgress, &CancelToken::new()).unwrap()
}

/// Asserts that two sweep directories hold the same files, byte for byte (timings and
/// the files that name their directory aside).
fn same_files(a: &Path, b: &Path) {
    let (fa, fb) = (files_of(a), files_of(b));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&fa), names(&fb));
    for (x, y) in fa.iter().zip(&fb) {
        assert!(x.1 == y.1, "{} differs", x.0);
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let name = entry.strip_prefix(dir).unwrap().display().to_string();
        if name.ends_with("summary.json")
            || name.contains("results")
            || name.starts_with("report")
            || name.ends_with(".png")
            || name.ends_with(".svg")
            || name.ends_with("config.json")
            || name.ends_with(".safetensors")
        {
            // Timings; config.json names its directory; the safetensors header's
            // metadata comes from a HashMap, whose order varies between writes (the
            // same network is in model.json).
            continue;
        }
        out.push((name, std::fs::read(&entry).unwrap()));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn shards_together_equal_the_whole_sweep_and_a_second_run_does_nothing() {
    let whole = tempfile::tempdir().unwrap();
    let parts = tempfile::tempdir().unwrap();
    let r = run_all(SMALL, whole.path(), Shard::ALL);
    assert_eq!(r.counts(), (0, 4, 0, 0, 0));
    let a = run_all(SMALL, parts.path(), Shard::new(0, 3).unwrap());
    let b = run_all(SMALL, parts.path(), Shard::new(1, 3).unwrap());
    let c = run_all(SMALL, parts.path(), Shard::new(2, 3).unwrap());
    let mut indices: Vec<usize> = [&a, &b, &c]
        .iter()
        .flat_map(|r| r.points.keys().copied())
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2, 3]);
    same_files(whole.path(), parts.path());
    let mtimes = |d: &Path| -> Vec<_> {
        walk(d)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
            .collect()
    };
    let before = mtimes(whole.path());
    let again = run_all(SMALL, whole.path(), Shard::ALL);
    assert_eq!(again.counts(), (4, 0, 0, 0, 0));
    assert_eq!(mtimes(whole.path()), before, "finished points untouched");
    let m = manifest::read(whole.path()).unwrap();
    let r1 = collect(whole.path(), &m).unwrap();
    let r2 = collect(parts.path(), &manifest::read(parts.path()).unwrap()).unwrap();
    let strip = |s: String| -> Vec<String> {
        s.lines()
            .map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(strip(results_csv(&r1)), strip(results_csv(&r2)));
    assert!(r1.rows.iter().all(|r| r.status == Status::Finished));
}

/// Cancels the sweep at its n-th progress report (the third field).
struct CancelAfter(CancelToken, std::sync::atomic::AtomicUsize, usize);

impl SweepProgress for CancelAfter {
    fn advanced(&self, _steps: u64) {
        if self.1.fetch_add(1, Ordering::Relaxed) + 1 == self.2 {
            self.0.cancel();
        }
    }
}

/// Prepares `dir` for `s` and runs it with `jobs` workers, cancelled at the `reports`-th
/// progress report.
fn run_stopped(
    s: &labelnoise_sweep::Sweep,
    dir: &Path,
    jobs: usize,
    reports: usize,
) -> labelnoise_sweep::ShardReport {
    manifest::prepare(dir, s).unwrap();
    let token = CancelToken::new();
    let progress = CancelAfter(
        token.clone(),
        std::sync::atomic::AtomicUsize::new(0),
        reports,
    );
    run_shard(s, dir, Shard::ALL, jobs, &progress, &token).unwrap()
}

/// Runs `s` in `dir` again, to the end, with two workers.
fn run_again(s: &labelnoise_sweep::Sweep, dir: &Path) -> labelnoise_sweep::ShardReport {
    run_shard(s, dir, Shard::ALL, 2, &NoProgress, &CancelToken::new()).unwrap()
}

#[test]
fn a_stopped_point_resumes_to_the_same_bits() {
    let text = SMALL.replace("steps = [2e4, 4e4]", "steps = [6e4, 8e4]");
    let s = check(&text).unwrap();
    let stopped = tempfile::tempdir().unwrap();
    // One worker, stopped at its first report: one point stopped, the rest not started.
    let first = run_stopped(&s, stopped.path(), 1, 1);
    assert!(
        first
            .points
            .values()
            .any(|e| matches!(e, PointEnd::Cancelled(_))),
        "{first:?}"
    );
    let m = manifest::read(stopped.path()).unwrap();
    let partial = collect(stopped.path(), &m).unwrap();
    assert!(
        partial.unfinished().len() >= 3,
        "one stopped, the rest not started"
    );
    let second = run_again(&s, stopped.path());
    assert_eq!(second.counts().2, 1, "one point resumed: {second:?}");
    let whole = tempfile::tempdir().unwrap();
    run_all(&text, whole.path(), Shard::ALL);
    same_files(whole.path(), stopped.path());
}

/// Six seeds of a width-8 relu network with Rademacher label noise and batch 1: points
/// that pack, so two workers train them together in the lanes of one pack.
const SEEDS: &str = r#"
name = "seeds"
[train]
data = "fig1"
hidden = 8
activation = "relu"
skip = true
output_bias = true
noise = 0.5
lr = 2e-3
steps = 3e4
output_init_scale = 3
checkpoint_every = 10000
[grid]
seed = { from = 0, count = 6 }
"#;

/// Each point of `text` run by itself (one shard per point, so no point has company).
fn run_one_at_a_time(text: &str, dir: &Path) {
    let n = check(text).unwrap().len();
    for k in 0..n {
        let r = run_all(text, dir, Shard::new(k, n).unwrap());
        assert_eq!(r.points.len(), 1);
    }
}

/// `summary.json` of every point, timing fields removed.
fn summaries(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        if entry.file_name().unwrap() == "summary.json" {
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
            let fields = v.as_object_mut().unwrap();
            assert!(fields.remove("wall_seconds").is_some());
            assert!(fields.remove("steps_per_second").is_some());
            let name = entry.strip_prefix(dir).unwrap().display().to_string();
            out.push((name, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn points_trained_together_in_lanes_equal_points_trained_alone() {
    let packed = tempfile::tempdir().unwrap();
    let alone = tempfile::tempdir().unwrap();
    let r = run_all(SEEDS, packed.path(), Shard::ALL);
    assert_eq!(r.counts(), (0, 6, 0, 0, 0), "{r:?}");
    assert!(r.loop_seconds() > 0.0);
    run_one_at_a_time(SEEDS, alone.path());
    same_files(packed.path(), alone.path());
    let (a, b) = (summaries(packed.path()), summaries(alone.path()));
    assert_eq!(a.len(), 6);
    assert_eq!(a, b);
    // The models themselves (same_files compares them too; say so plainly).
    for (name, _) in &a {
        let model = |d: &Path| std::fs::read(d.join(name).with_file_name("model.json")).unwrap();
        assert_eq!(model(packed.path()), model(alone.path()), "{name}");
    }
}

#[test]
fn a_point_of_a_pack_that_cannot_start_leaves_the_others_running() {
    let s = check(SEEDS).unwrap();
    let root = tempfile::tempdir().unwrap();
    manifest::prepare(root.path(), &s).unwrap();
    let dir = |i: usize| root.path().join(s.point(i).dir);
    // Point 2 is held by someone else; point 3 cannot be prepared (its data.json is a
    // directory, so writing the file fails).
    let held = labelnoise_core::train::RunDir::new(dir(2)).lock().unwrap();
    std::fs::create_dir_all(dir(3).join("data.json")).unwrap();
    let r = run_again(&s, root.path());
    assert_eq!(r.counts(), (0, 4, 0, 0, 2), "{r:?}");
    assert!(
        matches!(&r.points[&2], PointEnd::Failed(m) if m.contains("in use by process")),
        "{:?}",
        r.points[&2]
    );
    assert!(
        !dir(2).join("failed.json").exists(),
        "nothing written into a held point"
    );
    assert!(matches!(&r.points[&3], PointEnd::Failed(m) if m.contains("data.json")));
    assert!(dir(3).join("failed.json").exists());
    for i in [0, 1, 4, 5] {
        assert!(dir(i).join("summary.json").exists(), "point {i}");
    }
    drop(held);
    std::fs::remove_dir(dir(3).join("data.json")).unwrap();
    let r = run_again(&s, root.path());
    assert_eq!(r.counts(), (4, 2, 0, 0, 0), "{r:?}");
    assert!(!dir(3).join("failed.json").exists());
    let alone = tempfile::tempdir().unwrap();
    run_one_at_a_time(SEEDS, alone.path());
    same_files(root.path(), alone.path());
    assert_eq!(summaries(root.path()), summaries(alone.path()));
}

#[test]
fn a_stopped_pack_resumes_to_the_same_bits() {
    let text = SEEDS.replace("steps = 3e4", "steps = 6e4");
    let s = check(&text).unwrap();
    let stopped = tempfile::tempdir().unwrap();
    // Six lanes report every chunk: after 20 reports every lane is past its start.
    let first = run_stopped(&s, stopped.path(), 2, 20);
    assert_eq!(first.points.len(), 6);
    assert!(
        first
            .points
            .values()
            .all(|e| matches!(e, PointEnd::Cancelled(step) if *step > 0 && *step < 60_000)),
        "every point of the pack stopped with a checkpoint: {first:?}"
    );
    let second = run_again(&s, stopped.path());
    assert_eq!(
        second.counts(),
        (0, 0, 6, 0, 0),
        "all six resumed: {second:?}"
    );
    let alone = tempfile::tempdir().unwrap();
    run_one_at_a_time(&text, alone.path());
    same_files(stopped.path(), alone.path());
    assert_eq!(summaries(stopped.path()), summaries(alone.path()));
}
