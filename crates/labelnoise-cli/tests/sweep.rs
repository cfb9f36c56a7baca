//! `labelnoise sweep` and `labelnoise collect` end to end: the sweep file's refusals
//! (one line, exit 2, nothing written), the manifest, shards, idempotence, collect's
//! files and exit status, and `--slurm`'s script. What users read is snapshotted.

use std::path::Path;

use assert_cmd::Command;

/// The binary, outside any Slurm array task (a test run inside one would otherwise
/// take a shard from its variables).
fn labelnoise() -> Command {
    let mut c = Command::cargo_bin("labelnoise").unwrap();
    c.env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN");
    c
}

const SMALL: &str = r#"name = "small"
[train]
data = "fig1"
hidden = 8
activation = "relu"
skip = true
output_bias = true
output_init_scale = 3
noise = 0.5
log_points = 50
[zip]
lr = [2e-3, 1e-3]
steps = [1e4, 2e4]
[grid]
seed = { from = 0, count = 2 }
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs `sweep FILE --out OUT` on a bad file: exit 2, one line naming the file and the
/// key, nothing written. Returns the line with the temporary directory removed.
fn refused(text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "bad.toml", text);
    let out = tmp.path().join("out");
    let a = labelnoise()
        .args(["sweep", &file, "--out", out.to_str().unwrap()])
        .assert()
        .code(2);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists(), "nothing written");
    err.replace(&tmp.path().display().to_string(), "[tmp]")
}

#[test]
fn bad_sweep_files_get_one_line_naming_the_key() {
    let cases = [
        (
            "unknown-key",
            SMALL.replace("noise = 0.5", "noise = 0.5\nlearning_rate = 1"),
        ),
        (
            "unequal-zip",
            SMALL.replace("steps = [1e4, 2e4]", "steps = [1e4, 2e4, 4e4]"),
        ),
        (
            "two-sections",
            SMALL.replace("seed = {", "lr = [1e-3]\nseed = {"),
        ),
        (
            "refused-value",
            SMALL.replace("lr = [2e-3, 1e-3]", "lr = [2e-3, 0]"),
        ),
        (
            "refused-width",
            SMALL.replace("hidden = 8", "hidden = [8, 0]"),
        ),
        (
            "not-an-integer",
            SMALL.replace("steps = [1e4, 2e4]", "steps = [1e4, 2.5]"),
        ),
        ("bad-range", SMALL.replace("count = 2", "count = 0")),
        (
            "empty-list",
            SMALL.replace(
                "lr = [2e-3, 1e-3]\nsteps = [1e4, 2e4]",
                "lr = []\nsteps = []",
            ),
        ),
        (
            "unknown-distribution",
            SMALL.replace("noise = 0.5", "noise = 0.5\nnoise_dist = \"cauchy\""),
        ),
        ("missing-required", SMALL.replace("data = \"fig1\"\n", "")),
        ("toml-syntax", SMALL.replace("noise = 0.5", "noise = = 0.5")),
        ("top-level-key", format!("lr = 1\n{SMALL}")),
    ];
    let mut all = String::new();
    for (name, text) in cases {
        all.push_str(&format!("{name}: {}", refused(&text)));
    }
    insta::assert_snapshot!("sweep-refusals", all);
}

#[test]
fn sweep_then_collect_and_a_second_sweep_skips_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "small.toml", SMALL);
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let a = labelnoise()
        .args(["sweep", &file, "--out", out_s, "--jobs", "2"])
        .assert()
        .success();
    let text = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("4 points: 4 finished, 0 resumed, 0 already done"),
        "{text}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["count"], 4);
    assert_eq!(m["swept"], serde_json::json!(["lr", "steps", "seed"]));
    for p in m["points"].as_array().unwrap() {
        let dir = out.join(p["dir"].as_str().unwrap());
        assert!(dir.join("summary.json").exists() && dir.join("metrics.csv").exists());
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["output_init_scale"], 3.0);
        assert_eq!(config["command"][1], "train");
    }
    let a = labelnoise()
        .args(["sweep", &file, "--out", out_s])
        .assert()
        .success();
    let text = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("4 points: 0 finished, 0 resumed, 4 already done"),
        "{text}"
    );
    labelnoise().args(["collect", out_s]).assert().success();
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    insta::assert_snapshot!("results-csv-header", csv.lines().next().unwrap());
    assert_eq!(csv.lines().count(), 5);
    assert!(csv.lines().skip(1).all(|l| l.contains(",finished,")));
    for f in [
        "results.json",
        "report.md",
        "report.html",
        "by-lr.png",
        "by-lr.svg",
        "by-steps.png",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,"), "self-contained");
    // Another sweep into the same directory is refused.
    let other = write(
        tmp.path(),
        "other.toml",
        &SMALL.replace("count = 2", "count = 3"),
    );
    let a = labelnoise()
        .args(["sweep", &other, "--out", out_s])
        .assert()
        .code(2);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains("holds another sweep"), "{err}");
}

#[test]
fn shards_run_disjoint_points_and_collect_lists_the_missing_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "small.toml", SMALL);
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    labelnoise()
        .args(["sweep", &file, "--out", out_s, "--shard", "0/2"])
        .assert()
        .success();
    let a = labelnoise().args(["collect", out_s]).assert().code(1);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("2 of 4 points not finished") && err.contains("missing"),
        "{err}"
    );
    labelnoise()
        .args(["collect", out_s, "--partial"])
        .assert()
        .success();
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.matches(",missing,").count(), 2, "{csv}");
    // The shard comes from Slurm's variables without --shard.
    let a = labelnoise()
        .args(["sweep", &file, "--out", out_s])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .assert()
        .success();
    let text = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(text.contains("shard 1/2: 2 points: 2 finished"), "{text}");
    labelnoise().args(["collect", out_s]).assert().success();
    let e = labelnoise()
        .args(["sweep", &file, "--out", out_s, "--shard", "2/2"])
        .assert()
        .code(2);
    let err = String::from_utf8(e.get_output().stderr.clone()).unwrap();
    insta::assert_snapshot!("shard-refusal", err.trim());
}

#[test]
fn slurm_writes_a_job_array_script() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "small.toml", SMALL);
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let a = labelnoise()
        .current_dir(tmp.path())
        .args([
            "sweep",
            &file,
            "--out",
            out_s,
            "--slurm",
            "--time",
            "00:10:00",
            "--cpus-per-task",
            "1",
            "--max-parallel",
            "2",
            "--tasks",
            "3",
            "--partition",
            "debug",
        ])
        .assert()
        .success();
    let text = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains(&format!("sbatch {out_s}/sweep.sbatch")),
        "{text}"
    );
    assert!(out.join("manifest.json").exists() && out.join("logs").is_dir());
    assert!(!out.join("points").exists(), "nothing runs");
    let script = std::fs::read_to_string(out.join("sweep.sbatch")).unwrap();
    let exe = assert_cmd::cargo::cargo_bin("labelnoise");
    let tmp_real = tmp.path().canonicalize().unwrap();
    let script = script
        .replace(&exe.display().to_string(), "[labelnoise]")
        .replace(&tmp_real.display().to_string(), "[tmp]")
        .replace(&tmp.path().display().to_string(), "[tmp]");
    insta::assert_snapshot!("slurm-script", script);
    let e = labelnoise()
        .args([
            "sweep",
            &file,
            "--out",
            out_s,
            "--slurm",
            "--time",
            "1h",
            "--cpus-per-task",
            "1",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8(e.get_output().stderr.clone()).unwrap();
    assert!(err.starts_with("error: --time: "), "{err}");
}

#[test]
fn help_of_sweep_and_collect() {
    for cmd in ["sweep", "collect"] {
        let out = labelnoise().args([cmd, "--help"]).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        insta::assert_snapshot!(format!("help-{cmd}"), text);
    }
}
