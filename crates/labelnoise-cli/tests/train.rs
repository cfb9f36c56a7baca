//! `labelnoise train` and `labelnoise resume` end to end.

use assert_cmd::Command;
use std::path::Path;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

const BASE: &[&str] = &[
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
    "2e4",
    "--log-points",
    "20",
    "--quiet",
];

fn train(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    labelnoise()
        .args(BASE)
        .args(["--out", out.to_str().unwrap()])
        .args(extra)
        .assert()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn writes_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, &[]).success();
    for f in [
        "config.json",
        "metrics.csv",
        "model.json",
        "model.safetensors",
        "summary.json",
        "data.json",
        "initial-model.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["steps"], 20000);
    assert!(summary["steps_per_second"].as_f64().unwrap() > 0.0);
    let config: serde_json::Value = serde_json::from_str(&read(&out.join("config.json"))).unwrap();
    assert_eq!(config["train"]["lr"], 1e-3);
    assert!(config["version"].is_string());
    let csv = read(&out.join("metrics.csv"));
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("step,train_loss,reg,null_reg_grad_norm,param_norm,curve_length"));
    assert!(csv.lines().count() >= 15);
    // Rows in step order, one per step, the last at the end; the metrics (computed on a
    // worker thread) are those of the final model.
    let steps: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert_eq!(steps.last(), Some(&20000));
    let last: Vec<f64> = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .take(5)
        .map(|v| v.parse().unwrap())
        .collect();
    let net =
        labelnoise_core::model_io::model_from_json(&read(&out.join("model.json")), "model.json")
            .unwrap();
    let data = labelnoise_core::builtin::dataset("fig1").unwrap();
    let m = labelnoise_core::train::metrics(&net, &data, 20000).unwrap();
    assert_eq!(
        last[1..],
        [m.train_loss, m.reg, m.null_reg_grad_norm, m.param_norm]
    );
    // The final model reads back and analyzes.
    labelnoise()
        .args([
            "analyze",
            "--model",
            out.join("model.safetensors").to_str().unwrap(),
            "--data",
            "fig1",
            "--json",
        ])
        .assert()
        .success();
}

#[test]
fn a_seed_gives_bit_identical_results_whatever_the_number_of_seeds_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    train(&single, &["--seed", "1"]).success();
    let many = dir.path().join("many");
    labelnoise()
        .env("RAYON_NUM_THREADS", "2")
        .args(BASE)
        .args([
            "--out",
            many.to_str().unwrap(),
            "--seed",
            "0",
            "--seeds",
            "3",
        ])
        .assert()
        .success();
    let one_thread = dir.path().join("one-thread");
    labelnoise()
        .env("RAYON_NUM_THREADS", "1")
        .args(BASE)
        .args([
            "--out",
            one_thread.to_str().unwrap(),
            "--seed",
            "0",
            "--seeds",
            "3",
        ])
        .assert()
        .success();
    let a = read(&single.join("model.json"));
    assert_eq!(a, read(&many.join("seed-1/model.json")));
    assert_eq!(a, read(&one_thread.join("seed-1/model.json")));
    assert_ne!(a, read(&many.join("seed-0/model.json")));
    assert!(many.join("summary.json").exists());
}

/// Stops its run (through the library's cancel flag) right after the checkpoint at
/// `at` is written, as a user pressing Ctrl-C or a front end's stop button would.
struct StopAfter {
    at: u64,
    token: labelnoise_core::train::CancelToken,
}

impl labelnoise_core::train::Observer for StopAfter {
    fn checkpoint_saved(&mut self, step: u64) {
        if step == self.at {
            self.token.cancel();
        }
    }
}

#[test]
fn resume_after_a_stop_is_bit_identical() {
    use labelnoise_core::train::{CancelToken, Run, RunDir};
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    train(&whole, &["--checkpoint-every", "5000"]).success();
    // The same run, started from the same files and stopped after its second checkpoint.
    let stopped = dir.path().join("stopped");
    std::fs::create_dir(&stopped).unwrap();
    for f in ["config.json", "data.json", "initial-model.json"] {
        std::fs::copy(whole.join(f), stopped.join(f)).unwrap();
    }
    let run_dir = RunDir::new(&stopped);
    let config = run_dir.read_config().unwrap();
    let token = CancelToken::new();
    let outcome = Run::new(
        run_dir.read_initial_model().unwrap(),
        run_dir.read_data().unwrap(),
        &config.train,
    )
    .unwrap()
    .checkpoint_every(config.checkpoint_every)
    .write_to(run_dir.clone())
    .cancel_on(token.clone())
    .execute(&mut StopAfter { at: 10_000, token })
    .unwrap();
    assert!(outcome.summary.cancelled);
    assert_eq!(outcome.summary.steps, 10_000);
    assert_ne!(
        read(&whole.join("model.json")),
        read(&stopped.join("model.json"))
    );
    labelnoise()
        .args(["resume", stopped.to_str().unwrap(), "--quiet"])
        .assert()
        .success();
    assert_eq!(
        read(&whole.join("model.json")),
        read(&stopped.join("model.json"))
    );
    assert_eq!(
        read(&whole.join("metrics.csv")),
        read(&stopped.join("metrics.csv"))
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(&stopped.join("summary.json"))).unwrap();
    assert_eq!(summary["cancelled"], false);
    assert_eq!(summary["steps"], 20_000);
}

#[test]
fn copies_runs_resume_and_two_copies_is_copies_plus_minus_sigma() {
    use labelnoise_core::train::{CancelToken, Run, RunDir};
    let dir = tempfile::tempdir().unwrap();
    // --two-copies (σ = 0.5 in BASE) and --copies 0.5,-0.5: the same model, bit for bit.
    let two = dir.path().join("two");
    let listed = dir.path().join("listed");
    train(&two, &["--two-copies"]).success();
    train(&listed, &["--copies", "0.5,-0.5"]).success();
    assert_eq!(
        read(&two.join("model.json")),
        read(&listed.join("model.json"))
    );
    let config: serde_json::Value =
        serde_json::from_str(&read(&listed.join("config.json"))).unwrap();
    assert_eq!(config["train"]["copies"], serde_json::json!([0.5, -0.5]));
    // Three copies: written to config.json, and resumed bit for bit from a checkpoint.
    let whole = dir.path().join("whole");
    train(
        &whole,
        &["--copies", "-0.3,0,0.9", "--checkpoint-every", "5000"],
    )
    .success();
    assert_ne!(
        read(&whole.join("model.json")),
        read(&two.join("model.json"))
    );
    let stopped = dir.path().join("stopped");
    std::fs::create_dir(&stopped).unwrap();
    for f in ["config.json", "data.json", "initial-model.json"] {
        std::fs::copy(whole.join(f), stopped.join(f)).unwrap();
    }
    let run_dir = RunDir::new(&stopped);
    let config = run_dir.read_config().unwrap();
    assert_eq!(config.train.copies, [-0.3, 0.0, 0.9]);
    let token = CancelToken::new();
    Run::new(
        run_dir.read_initial_model().unwrap(),
        run_dir.read_data().unwrap(),
        &config.train,
    )
    .unwrap()
    .checkpoint_every(config.checkpoint_every)
    .write_to(run_dir.clone())
    .cancel_on(token.clone())
    .execute(&mut StopAfter { at: 10_000, token })
    .unwrap();
    labelnoise()
        .args(["resume", stopped.to_str().unwrap(), "--quiet"])
        .assert()
        .success();
    assert_eq!(
        read(&whole.join("model.json")),
        read(&stopped.join("model.json"))
    );
}

#[test]
fn resume_of_a_missing_directory_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let assert = labelnoise()
        .args(["resume", missing.to_str().unwrap()])
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-run"), "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}

#[test]
fn divergence_stops_keeps_the_last_finite_state_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let assert = labelnoise()
        .args([
            "train",
            "--data",
            "fig1",
            "--hidden",
            "16",
            "--activation",
            "relu",
            "--lr",
            "5",
            "--noise",
            "0.5",
        ])
        .args(["--steps", "1e5", "--quiet", "--out", out.to_str().unwrap()])
        .assert()
        .failure();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("diverged at step"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1);
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["diverged"], true);
    // The kept model is finite (the reader rejects non-finite values).
    labelnoise_core::model_io::model_from_json(&read(&out.join("model.json")), "model.json")
        .unwrap();
    assert!(summary["steps"].as_u64().unwrap() < summary["diverged_at"].as_u64().unwrap());
}

#[test]
fn overflowing_loss_with_finite_parameters_is_divergence() {
    // Width 1024 at η = 4e-3 grows by ~3x per step: θ stays finite for a while after the
    // loss, reg and the Jacobian's squares overflow. That is divergence too (not a
    // linear-algebra error), detected at the next metrics step.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let assert = labelnoise()
        .args(["train", "--data", "fig1", "--hidden", "1024"])
        .args(["--activation", "relu", "--skip", "--output-bias"])
        .args(["--lr", "4e-3", "--noise", "0.5", "--steps", "300"])
        .args([
            "--log-points",
            "300",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("diverged at step"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1);
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["diverged"], true);
    assert!(summary["final_metrics"]["train_loss"]
        .as_f64()
        .unwrap()
        .is_finite());
    let csv = read(&out.join("metrics.csv"));
    assert!(!csv.contains("inf") && !csv.contains("NaN"), "{csv}");
}

fn bad(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let assert = labelnoise()
        .args(args)
        .args(["--out", out.to_str().unwrap(), "--quiet"])
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!out.exists(), "wrote {}", out.display());
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let arch = ["--data", "fig1", "--hidden", "8", "--activation", "relu"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["train"];
        v.extend_from_slice(&arch);
        v.extend_from_slice(extra);
        v
    };
    bad(
        &with(&[
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
            "--output-init-scale",
            "-3",
        ]),
        "--output-init-scale: must be finite and ≥ 0",
    );
    bad(
        &with(&["--lr", "-1", "--noise", "0.5", "--steps", "10"]),
        "--lr",
    );
    bad(
        &with(&["--lr", "NaN", "--noise", "0.5", "--steps", "10"]),
        "--lr",
    );
    bad(
        &with(&["--lr", "0.01", "--noise", "-0.5", "--steps", "10"]),
        "--noise",
    );
    bad(
        &with(&["--lr", "0.01", "--noise", "0.5", "--steps", "1.5"]),
        "--steps",
    );
    bad(
        &with(&[
            "--lr", "0.01", "--noise", "0.5", "--steps", "10", "--batch", "0",
        ]),
        "--batch",
    );
    bad(
        &with(&[
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
            "--explicit-reg-sampled",
        ]),
        "--explicit-reg-sampled",
    );
    for copies in [
        &["--copies", "0.5", "--two-copies"][..],
        &["--copies", "0.1,nan"],
        &["--copies", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"],
    ] {
        let mut args = with(&["--lr", "0.01", "--noise", "0.5", "--steps", "10"]);
        args.extend_from_slice(copies);
        bad(&args, "--copies");
    }
    bad(
        &with(&[
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
            "--noise-dist",
            "cauchy",
        ]),
        "--noise-dist",
    );
    bad(
        &with(&[
            "--lr", "0.01", "--noise", "0.5", "--steps", "10", "--freeze", "5",
        ]),
        "--freeze",
    );
    bad(
        &[
            "train",
            "--data",
            "fig1",
            "--hidden",
            "0",
            "--activation",
            "relu",
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
        ],
        "--hidden",
    );
    bad(
        &[
            "train",
            "--data",
            "fig1",
            "--hidden",
            "4",
            "--activation",
            "swish",
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
        ],
        "swish",
    );
    bad(
        &[
            "train",
            "--data",
            "no-such-file.json",
            "--hidden",
            "4",
            "--activation",
            "relu",
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
        ],
        "no-such-file.json",
    );
    bad(
        &[
            "train",
            "--data",
            "fig1",
            "--init-model",
            "fig1-minimal",
            "--hidden",
            "5",
            "--lr",
            "0.01",
            "--noise",
            "0.5",
            "--steps",
            "10",
        ],
        "--hidden",
    );
}

#[test]
fn a_non_empty_output_directory_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("precious.txt"), "keep me").unwrap();
    let assert = train(&out, &[]).code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(!out.join("model.json").exists());
    train(&out, &["--force"]).success();
    assert!(out.join("model.json").exists());
}

#[test]
fn init_model_starts_from_the_given_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    labelnoise()
        .args([
            "train",
            "--data",
            "fig1",
            "--init-model",
            "fig1-minimal",
            "--lr",
            "1e-3",
            "--noise",
            "0",
        ])
        .args(["--steps", "100", "--quiet", "--out", out.to_str().unwrap()])
        .assert()
        .success();
    // σ = 0 from an exact interpolant: every residual is ~0, so θ barely moves.
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert!(summary["final_metrics"]["train_loss"].as_f64().unwrap() < 1e-20);
}

#[test]
fn output_init_scale_multiplies_the_output_weights_only() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let scaled = dir.path().join("scaled");
    train(&plain, &[]).success();
    train(&scaled, &["--output-init-scale", "30"]).success();
    let model = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&read(&dir.join("initial-model.json"))).unwrap()
    };
    let (a, b) = (model(&plain), model(&scaled));
    assert_eq!(
        a["layers"][0], b["layers"][0],
        "hidden layer must not change"
    );
    assert_eq!(a["layers"][1]["bias"], b["layers"][1]["bias"]);
    assert_eq!(a["skip"], b["skip"]);
    let flat = |v: &serde_json::Value| -> Vec<f64> {
        v["layers"][1]["weight"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    let (wa, wb) = (flat(&a), flat(&b));
    assert_eq!(wa.len(), 16);
    for (x, y) in wa.iter().zip(&wb) {
        assert_eq!(*y, 30.0 * x);
    }
    let config: serde_json::Value =
        serde_json::from_str(&read(&scaled.join("config.json"))).unwrap();
    assert_eq!(config["output_init_scale"], 30.0);
}
