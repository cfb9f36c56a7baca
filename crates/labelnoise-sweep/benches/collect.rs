//! `collect` on 10⁴ points (issue 12's target: under 10 s, memory independent of the
//! number of metrics rows).
//!
//! The points are synthetic: one real point is trained (width 100 relu on fig1, skip and
//! output bias, label noise, to an interpolating network) and its run directory is
//! hard-linked into every point directory of a 10⁴-point sweep (the seeds 0..10⁴ of the
//! same settings). Collect then measures each point as it measures real ones (projection
//! onto the zero-loss manifold, analyze, Theorem 1 shape, time to simplify from
//! metrics.csv).
//!
//! Printed, in one run (the machines are shared, so ratios matter more than seconds):
//! - the wall time of `manifest::read` + `collect` + `write_results` over all points;
//! - the CPU time collect used (user + system), which shared machines disturb less than
//!   the wall time: divided by the cores, the wall time on an idle machine;
//! - the baseline: the same per-point measurement (`collect::measure`) of the one real
//!   point, repeated sequentially, times the point count divided by rayon's threads;
//!   the ratio says what reading many directories, the manifest and the results cost on
//!   top of the measurements themselves.
//!
//! `LABELNOISE_BENCH_POINTS` sets the point count (default 10000).
//! Run: `cargo bench -p labelnoise-sweep --bench collect`.

use std::path::Path;
use std::time::Instant;

use labelnoise_sweep::collect::{collect, measure, write_results};
use labelnoise_sweep::{manifest, run_shard, NoProgress, Shard, SweepFile};

fn sweep_text(points: usize) -> String {
    format!(
        r#"name = "collect-bench"
[train]
data = "fig1"
hidden = [100]
activation = "relu"
skip = true
output_bias = true
noise = 0.5
lr = 2e-3
steps = 200000
[grid]
seed = {{ from = 0, count = {points} }}
"#
    )
}

fn checked(text: &str) -> labelnoise_sweep::Sweep {
    SweepFile::parse(text, "bench.toml")
        .and_then(|f| f.check())
        .expect("a valid sweep")
}

fn main() {
    let points: usize = std::env::var("LABELNOISE_BENCH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir().expect("a temporary directory");

    // One real point: the first point of a one-point sweep.
    let one_root = tmp.path().join("one");
    let one = checked(&sweep_text(1));
    manifest::prepare(&one_root, &one).expect("prepare");
    let token = labelnoise_core::train::CancelToken::new();
    run_shard(
        &one,
        &one_root,
        Shard::new(0, 1).unwrap(),
        1,
        &NoProgress,
        &token,
    )
    .expect("the point runs");
    let source = one_root.join(one.point(0).dir);

    // The big sweep: every point directory hard-links the real point's files.
    let root = tmp.path().join("big");
    let big = checked(&sweep_text(points));
    manifest::prepare(&root, &big).expect("prepare");
    let files: Vec<_> = std::fs::read_dir(&source)
        .expect("the point directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.is_file())
        .collect();
    for i in 0..points {
        let dir = root.join(big.point(i).dir);
        std::fs::create_dir_all(&dir).expect("a point directory");
        for f in &files {
            std::fs::hard_link(f, dir.join(f.file_name().unwrap())).expect("a hard link");
        }
    }
    let rows = metrics_rows(&source);

    // Baseline: the measurement alone, sequentially, on the one real point.
    let reps = 200.min(points);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("summary.json")).unwrap())
            .unwrap();
    let loss = summary["final_metrics"]["train_loss"].as_f64().unwrap();
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(measure(&source, loss).expect("measure"));
    }
    let per_point = t.elapsed().as_secs_f64() / reps as f64;
    let threads = rayon::current_num_threads();
    let baseline = per_point * points as f64 / threads as f64;

    let t = Instant::now();
    let cpu0 = cpu_seconds();
    let m = manifest::read(&root).expect("the manifest");
    let results = collect(&root, &m).expect("collect");
    write_results(&root, &results).expect("write");
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(results.rows.len(), points);
    assert!(results.unfinished().is_empty());
    let projected = results.rows[0]
        .measures
        .as_ref()
        .unwrap()
        .projected_residual;

    println!("collect on {points} synthetic points (width 100 relu on fig1, {rows} metrics rows each, projected residual {projected:.1e}), {threads} threads");
    println!("{:>28} {:>10}", "", "seconds");
    println!("{:>28} {:>10.3}", "collect (read + measure + write)", wall);
    println!(
        "{:>28} {:>10.3}   ({:.3} ms per point x {points} / {threads} threads)",
        "baseline (measure alone)",
        baseline,
        per_point * 1e3
    );
    println!("{:>28} {:>10.3}", "collect / baseline", wall / baseline);
    println!(
        "{:>28} {:>10.3}   ({:.3} ms per point; on {threads} idle cores: {:.1} s)",
        "collect CPU (user + system)",
        cpu,
        cpu / points as f64 * 1e3,
        cpu / threads as f64
    );
    println!("{:>28} {:>10.0}", "points per second", points as f64 / wall);
}

/// User + system CPU seconds of this process so far (Linux: /proc/self/stat, fields 14
/// and 15, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the parenthesis: field 3 is index 0, so utime (14) is 11 and stime (15) 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn metrics_rows(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}
