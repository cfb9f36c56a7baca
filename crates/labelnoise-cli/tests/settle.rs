//! `labelnoise settle` end to end.

use assert_cmd::Command;
use std::path::Path;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn settles_the_wiggly_model_and_writes_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let assert = labelnoise()
        .args([
            "settle",
            "--model",
            "fig1-wiggly",
            "--data",
            "fig1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("non-repellent"), "{stdout}");
    assert!(stdout.contains("Theorem 1 holds"), "{stdout}");
    for f in [
        "model.json",
        "model.safetensors",
        "trace.csv",
        "summary.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["outcome"]["kind"], "non-repellent");
    assert_eq!(summary["theorem1"], true);
    assert!(summary["end_reg"].as_f64().unwrap() < summary["start_reg"].as_f64().unwrap());
    assert!(summary["wall_seconds"].as_f64().unwrap() >= 0.0);
    let trace = read(&out.join("trace.csv"));
    let mut lines = trace.lines();
    assert!(lines.next().unwrap().starts_with("iteration,event,reg,"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows.len(),
        summary["iterations"].as_u64().unwrap() as usize + 1
    );
    assert!(rows[0].starts_with("0,start,"));

    // The written model is the settled one: analyze certifies it.
    let analyzed = labelnoise()
        .args(["analyze", "--json", "--data", "fig1", "--model"])
        .arg(out.join("model.json"))
        .assert()
        .success();
    let a: serde_json::Value = serde_json::from_slice(&analyzed.get_output().stdout).unwrap();
    assert_eq!(a["verdict"], "non-repellent");
    let safetensors = labelnoise()
        .args(["analyze", "--json", "--data", "fig1", "--model"])
        .arg(out.join("model.safetensors"))
        .assert()
        .success();
    let b: serde_json::Value = serde_json::from_slice(&safetensors.get_output().stdout).unwrap();
    assert_eq!(a["reg"], b["reg"]);
}

#[test]
fn quiet_prints_nothing_and_a_full_directory_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = [
        "settle",
        "--model",
        "fig1-minimal",
        "--data",
        "fig1",
        "--quiet",
    ];
    labelnoise()
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let before = read(&out.join("summary.json"));
    labelnoise()
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--force"));
    assert_eq!(read(&out.join("summary.json")), before);
    labelnoise()
        .args(args)
        .args(["--force", "--no-active-set", "--out"])
        .arg(&out)
        .assert()
        .success();
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad_model = dir.path().join("bad.json");
    std::fs::write(&bad_model, r#"{"input_dim": 1, "layers": [{"weight": [[1.0]], "bias": [0.0], "activation": "relu"}, {"weight": [[NaN]], "bias": [0.0], "activation": "identity"}]}"#).unwrap();
    let two_d = dir.path().join("two_d.json");
    std::fs::write(
        &two_d,
        r#"{"x": [[0.0, 1.0], [1.0, 0.0]], "y": [0.0, 1.0]}"#,
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--model".into(),
                "no-such-model.json".into(),
                "--data".into(),
                "fig1".into(),
            ],
            "no-such-model.json",
        ),
        (
            vec![
                "--model".into(),
                bad_model.display().to_string(),
                "--data".into(),
                "fig1".into(),
            ],
            "bad.json",
        ),
        (
            vec![
                "--model".into(),
                "fig1-minimal".into(),
                "--data".into(),
                two_d.display().to_string(),
            ],
            "two_d.json",
        ),
        (
            vec![
                "--model".into(),
                "fig1-minimal".into(),
                "--data".into(),
                "fig1".into(),
                "--fit-tol".into(),
                "-1".into(),
            ],
            "--fit-tol",
        ),
    ];
    for (k, (args, names)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("out-{k}"));
        let assert = labelnoise()
            .arg("settle")
            .args(&args)
            .arg("--out")
            .arg(&out)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(names), "{names}: {stderr}");
        assert!(!out.exists(), "case {k} wrote {}", out.display());
    }
}

#[test]
fn remedies_are_opt_in_and_their_flags_need_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let base = [
        "settle",
        "--model",
        "fig1-minimal",
        "--data",
        "fig1",
        "--quiet",
    ];
    // A burst flag without --remedies: one line naming the missing flag, nothing written.
    let assert = labelnoise()
        .args(base)
        .args(["--escape-rounds", "2", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("--remedies"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!out.exists());

    let options = |extra: &[&str]| -> serde_json::Value {
        labelnoise()
            .args(base)
            .args(extra)
            .args(["--force", "--out"])
            .arg(&out)
            .assert()
            .success();
        let summary: serde_json::Value =
            serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
        summary["options"].clone()
    };
    let off = options(&[]);
    assert_eq!(off["escape_rounds"], 0);
    assert_eq!(off["smooth_taus"].as_array().unwrap().len(), 0);
    let on = options(&["--remedies"]);
    assert_eq!(on["escape_rounds"], 4);
    assert_eq!(on["smooth_taus"].as_array().unwrap().len(), 3);
    let tuned = options(&["--remedies", "--no-smoothing", "--escape-rounds", "2"]);
    assert_eq!(tuned["escape_rounds"], 2);
    assert_eq!(tuned["smooth_taus"].as_array().unwrap().len(), 0);
}
