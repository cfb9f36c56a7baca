//! Resource limits (docs/limits.md): every command refuses work that cannot fit in
//! memory before allocating it, with one line giving the estimate and what is
//! available, exit status 2 and nothing written; and values that overflow are bad
//! input or divergence, never a panic or a NaN result.
//!
//! The large cases set `LABELNOISE_MEMORY_LIMIT=24G` (the machine size docs/limits.md
//! quotes), so they are refused the same way on a machine with more memory.

use assert_cmd::Command;
use std::path::Path;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs `cmd`, expects exit status 2, nothing on stdout and one line on stderr that
/// contains every one of `needles` and no panic; returns that line.
fn refused(cmd: &mut Command, needles: &[&str]) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} not in {stderr}");
    }
    stderr
}

/// 200 000 1-D points (CSV) and a relu network of width 20 000 (model JSON): the
/// n x p Jacobian alone would be 200 000 x 60 001 values, about 89 GiB.
fn big_inputs(dir: &Path) -> (String, String) {
    let xs: Vec<String> = (0..200_000)
        .map(|i| format!("{},0\n", i as f64 * 1e-5))
        .collect();
    let data = write(dir, "big.csv", &format!("x,y\n{}", xs.concat()));
    let width = 20_000;
    let model = format!(
        r#"{{"input_dim": 1, "layers": [
          {{"weight": [{}], "bias": [{}], "activation": "relu"}},
          {{"weight": [[{}]], "bias": [0], "activation": "identity"}}]}}"#,
        vec!["[1.0]"; width].join(","),
        vec!["0.5"; width].join(","),
        vec!["0.1"; width].join(",")
    );
    (data, write(dir, "wide.json", &model))
}

#[test]
fn settle_refuses_a_settle_that_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = big_inputs(dir.path());
    let out = dir.path().join("settled");
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "24G")
            .args(["settle", "--model", &model, "--data", &data, "--out"])
            .arg(&out),
        &[
            "settle: settling 60001 parameters on 200000 points",
            "of memory",
            "is available",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn analyze_refuses_an_analysis_that_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = big_inputs(dir.path());
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "24G")
            .args(["analyze", "--model", &model, "--data", &data]),
        &[
            "analyze: the analysis of 60001 parameters on 200000 points",
            "is available",
        ],
    );
}

#[test]
fn train_refuses_huge_hidden_layers_and_huge_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (hidden, needle) in [
        // 10^8 units: 3 x 10^8 parameters fit, the run (n x p metrics Jacobian) does not.
        (
            &["100000000"][..],
            "train: a run of 300000000 parameters on 12 points needs about",
        ),
        // 10^8 x 10^8: the network itself.
        (
            &["100000000", "100000000"][..],
            "--hidden: the network needs about",
        ),
    ] {
        let mut cmd = labelnoise();
        cmd.env("LABELNOISE_MEMORY_LIMIT", "24G");
        cmd.args(["train", "--data", "fig1", "--activation", "relu"]);
        for h in hidden {
            cmd.args(["--hidden", h]);
        }
        cmd.args(["--lr", "1e-3", "--noise", "0.5", "--steps", "10", "--out"])
            .arg(&out);
        refused(&mut cmd, &[needle, "is available"]);
        assert!(!out.exists());
    }
}

#[test]
fn data_and_model_files_too_large_to_read_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "d.csv", "x,y\n0,1\n1,2\n");
    let out = dir.path().join("run");
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "16")
            .args([
                "train",
                "--data",
                &data,
                "--activation",
                "relu",
                "--hidden",
                "2",
            ])
            .args(["--lr", "1e-3", "--noise", "0.5", "--steps", "10", "--out"])
            .arg(&out),
        &[
            "--data: reading",
            "d.csv",
            "needs about",
            "16 B is available",
        ],
    );
    assert!(!out.exists());
    let model = dir.path().join("m.json");
    std::fs::write(&model, "{}").unwrap();
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "4")
            .args(["analyze", "--data", "fig1", "--model"])
            .arg(&model),
        &["--model: reading", "m.json", "4 B is available"],
    );
}

#[test]
fn reproduce_refuses_when_the_memory_limit_is_too_small() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("repro");
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "1K")
            .args(["reproduce", "fig1", "--quick", "--out"])
            .arg(&out),
        &["of memory", "1.000 KiB is available"],
    );
}

#[test]
fn sweep_refuses_a_point_that_cannot_fit_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "huge.toml",
        r#"
[train]
data = "fig1"
activation = "relu"
lr = 1e-3
noise = 0.5
steps = 10
[grid]
hidden = [[4], [100000000, 100000000]]
"#,
    );
    let out = dir.path().join("sweep");
    refused(
        labelnoise()
            .args(["sweep", &file, "--quiet", "--out"])
            .arg(&out),
        &["huge.toml", "needs about", "is available"],
    );
    assert!(!out.exists());
}

#[test]
fn a_bad_memory_limit_is_named() {
    refused(
        labelnoise().env("LABELNOISE_MEMORY_LIMIT", "lots").args([
            "analyze",
            "--model",
            "fig1-wiggly",
            "--data",
            "fig1",
        ]),
        &["LABELNOISE_MEMORY_LIMIT: expected a size such as 8G"],
    );
}

#[test]
fn huge_weights_are_bad_input_or_divergence_never_nan() {
    let dir = tempfile::tempdir().unwrap();
    // Weights near the largest f64: the outputs overflow to infinity.
    let model = write(
        dir.path(),
        "huge.json",
        r#"{"input_dim": 1, "layers": [
          {"weight": [[1e308], [1e308]], "bias": [1e308, 1e308], "activation": "relu"},
          {"weight": [[1e308, 1e308]], "bias": [0], "activation": "identity"}]}"#,
    );
    for cmd in ["analyze", "settle"] {
        let mut c = labelnoise();
        c.args([cmd, "--model", &model, "--data", "fig1"]);
        if cmd == "settle" {
            c.arg("--out").arg(dir.path().join("settled"));
        }
        refused(&mut c, &["huge.json: weights:", "not finite", "overflow"]);
    }
    // Training from it: bad input, refused before the first step.
    let out = dir.path().join("run-huge");
    refused(
        labelnoise()
            .args(["train", "--data", "fig1", "--lr", "1e-3", "--noise", "0.5"])
            .args(["--steps", "100", "--init-model", &model, "--out"])
            .arg(&out),
        &["huge.json: weights:", "overflows"],
    );
    assert!(!out.exists());
    // A step size so large that η · gradient overflows: a divergence, reported, with the
    // last finite state kept and no NaN written.
    let out = dir.path().join("run-lr");
    let output = labelnoise()
        .args(["train", "--data", "fig1", "--lr", "1e300", "--noise", "0.5"])
        .args([
            "--steps",
            "100",
            "--activation",
            "relu",
            "--hidden",
            "8",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("diverged at step 1"), "{stderr}");
    for f in ["model.json", "metrics.csv"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(
            !text.contains("NaN") && !text.contains("inf"),
            "{f}: {text}"
        );
    }
}

#[test]
fn sweep_refuses_points_that_cannot_fit_at_once() {
    // Each point (width 2000 on fig1, p = 6000) needs about 20.5 MiB alone
    // (8 (8 p + 3 n p + 2 p (200 + 2)) bytes): one fits in 30 MiB, two at once do not.
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "wide.toml",
        r#"
[train]
data = "fig1"
hidden = 2000
activation = "relu"
lr = 1e-3
noise = 0.5
steps = 10
[grid]
seed = { from = 0, count = 4 }
"#,
    );
    let out = dir.path().join("sweep");
    let sweep = |jobs: &str| {
        let mut cmd = labelnoise();
        cmd.env("LABELNOISE_MEMORY_LIMIT", "30M")
            .args(["sweep", &file, "--quiet", "--jobs", jobs, "--out"])
            .arg(&out);
        cmd
    };
    refused(
        &mut sweep("2"),
        &[
            "--jobs: running 2 points at once on 2 workers needs about 41.016 MiB",
            "30.000 MiB is available; lower --jobs",
        ],
    );
    assert!(!out.exists());
    sweep("1").assert().success();
    assert_eq!(std::fs::read_dir(out.join("points")).unwrap().count(), 4);
}

#[test]
fn one_worker_training_a_pack_of_lanes_holds_all_its_runs() {
    // Eight width-16 seeds (p = 50 with skip and output bias) train packed in lanes even
    // on one thread or worker, so the eight runs are held at once: about 175 KiB each
    // (8 (8 p + 3 n p + 2 p (200 + 2)) bytes), 1.367 MiB together, over a 1 MiB limit.
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "seeds.toml",
        r#"
[train]
data = "fig1"
hidden = 16
activation = "relu"
skip = true
output_bias = true
lr = 1e-3
noise = 0.5
steps = 10
[grid]
seed = { from = 0, count = 8 }
"#,
    );
    let out = dir.path().join("sweep");
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "1M")
            .args(["sweep", &file, "--quiet", "--jobs", "1", "--out"])
            .arg(&out),
        &[
            "--jobs: running 8 points at once on 1 worker needs about 1.367 MiB",
            "1.000 MiB is available; lower --jobs",
        ],
    );
    assert!(!out.exists());
    let run = dir.path().join("run");
    refused(
        labelnoise()
            .env("LABELNOISE_MEMORY_LIMIT", "1M")
            .env("RAYON_NUM_THREADS", "1")
            .args([
                "train",
                "--data",
                "fig1",
                "--hidden",
                "16",
                "--activation",
                "relu",
            ])
            .args(["--skip", "--output-bias", "--lr", "1e-3", "--noise", "0.5"])
            .args(["--steps", "10", "--seeds", "8", "--out"])
            .arg(&run),
        &["train: training 8 runs on one thread needs about 1.367 MiB"],
    );
    assert!(!run.exists());
}
