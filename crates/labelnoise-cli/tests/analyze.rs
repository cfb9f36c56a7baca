//! `labelnoise analyze` end to end: output keys, and every kind of bad input of
//! docs/cli.md#exit-status (one-line error naming file and field, exit status 2, nothing on
//! stdout).

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

const MODEL_1D: &str = r#"{"input_dim": 1, "layers": [
  {"weight": [[1.0], [-0.5]], "bias": [0.1, 0.3], "activation": "relu", "trainable": true},
  {"weight": [[0.7, -1.2]], "bias": [0.05], "activation": "identity"}],
 "skip": {"weight": [[0.2]]}}"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn json_output_has_the_spec_keys() {
    let out = labelnoise()
        .args([
            "analyze",
            "--model",
            "fig1-wiggly",
            "--data",
            "fig1",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for key in [
        "n",
        "params",
        "train_loss",
        "max_abs_residual",
        "reg",
        "reg_grad",
        "reg_grad_norm",
        "null_reg_grad_norm",
        "jacobian_rank",
        "gamma",
        "verdict",
        "nonsmooth",
        "shape",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    for key in [
        "kinks",
        "convexity_changes",
        "min_convexity_changes",
        "colinear_triples",
        "curve_length",
        "theorem1",
    ] {
        assert!(v["shape"].get(key).is_some(), "missing shape key {key}");
    }
    assert_eq!(v["verdict"], "repellent");
    assert_eq!(v["n"], 12);
    assert_eq!(
        v["reg_grad"].as_array().unwrap().len(),
        v["params"].as_u64().unwrap() as usize
    );
    assert_eq!(v["shape"]["theorem1"], false);
    assert!(v.get("units").is_none());
}

#[test]
fn table_output_and_files_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "m.json", MODEL_1D);
    let data = write(dir.path(), "d.csv", "x,y\n-1,0.5\n0,0.2\n1.5,1.0\n");
    labelnoise()
        .args(["analyze", "--model", &model, "--data", &data])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("verdict").and(predicate::str::contains("not-interpolating")),
        )
        .stdout(predicate::str::contains("Theorem 1 shape"));
}

#[test]
fn one_point_tanh_network_reports_units() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(
        dir.path(),
        "m.json",
        r#"{"input_dim": 2, "layers": [
          {"weight": [[1.0, 0.5], [-0.3, 0.2], [0.0, 0.0]], "bias": null, "activation": "tanh"},
          {"weight": [[0.7, -1.2, 0.0]], "bias": null, "activation": "identity"}]}"#,
    );
    let data = write(dir.path(), "d.json", r#"{"x": [[0.4, -0.2]], "y": [0.1]}"#);
    let out = labelnoise()
        .args(["analyze", "--model", &model, "--data", &data, "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["units"]["dead"].as_array().unwrap().len(), 1);
    assert_eq!(v["units"]["classes"].as_array().unwrap().len(), 2);
    assert!(v.get("shape").is_none());
}

/// Runs analyze, expects exit 2, empty stdout and a one-line stderr containing `needles`.
fn bad(args: &[&str], needles: &[&str]) {
    let assert = labelnoise().args(args).assert().code(2).stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    }
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "m.json", MODEL_1D);
    let data = write(
        dir.path(),
        "d.json",
        r#"{"x": [[0.0], [1.0]], "y": [0.0, 1.0]}"#,
    );
    // Missing files.
    let missing = dir.path().join("nope.json");
    let missing = missing.to_str().unwrap();
    bad(
        &["analyze", "--model", missing, "--data", &data],
        &[missing],
    );
    bad(
        &["analyze", "--model", &model, "--data", missing],
        &[missing],
    );
    // Malformed JSON.
    let m = write(
        dir.path(),
        "broken.json",
        "{\"input_dim\": 1, \"layers\": [",
    );
    bad(
        &["analyze", "--model", &m, "--data", &data],
        &["broken.json", "line 1"],
    );
    // Infinite value in a model; NaN in data.
    let m = write(
        dir.path(),
        "inf.json",
        &MODEL_1D.replace("0.7, -1.2", "0.7, 1e999"),
    );
    bad(&["analyze", "--model", &m, "--data", &data], &["inf.json"]);
    let d = write(dir.path(), "nan.csv", "x,y\n0,NaN\n1,2\n");
    bad(
        &["analyze", "--model", &model, "--data", &d],
        &["nan.csv", "line 2, column y", "not finite"],
    );
    // Shape mismatch inside the model.
    let m = write(
        dir.path(),
        "shape.json",
        &MODEL_1D.replace("[[0.7, -1.2]]", "[[0.7, -1.2, 3.0]]"),
    );
    bad(
        &["analyze", "--model", &m, "--data", &data],
        &["shape.json", "layers[1].weight", "3 columns"],
    );
    // Unknown activation.
    let m = write(
        dir.path(),
        "act.json",
        &MODEL_1D.replace("\"relu\"", "\"swish\""),
    );
    bad(
        &["analyze", "--model", &m, "--data", &data],
        &["act.json", "layers[0].activation", "swish"],
    );
    // Zero width.
    let m = write(
        dir.path(),
        "zero.json",
        r#"{"input_dim": 1, "layers": [{"weight": [], "bias": [], "activation": "relu"}, {"weight": [[]], "activation": "identity"}]}"#,
    );
    bad(
        &["analyze", "--model", &m, "--data", &data],
        &["zero.json", "layers[0].weight"],
    );
    // Data of the wrong dimension for the model.
    let d = write(dir.path(), "d2.json", r#"{"x": [[0.0, 1.0]], "y": [0.0]}"#);
    bad(
        &["analyze", "--model", &model, "--data", &d],
        &["m.json", "d2.json", "dimensional"],
    );
    // Ragged data; labels and points disagree.
    let d = write(
        dir.path(),
        "ragged.json",
        r#"{"x": [[0.0], [1.0, 2.0]], "y": [0.0, 1.0]}"#,
    );
    bad(
        &["analyze", "--model", &model, "--data", &d],
        &["ragged.json", "x[1]"],
    );
    let d = write(
        dir.path(),
        "count.json",
        r#"{"x": [[0.0], [1.0]], "y": [0.0]}"#,
    );
    bad(
        &["analyze", "--model", &model, "--data", &d],
        &["count.json", "y"],
    );
    // Nonsense tolerances.
    bad(
        &[
            "analyze",
            "--model",
            &model,
            "--data",
            &data,
            "--fit-tol",
            "-1",
        ],
        &["--fit-tol"],
    );
    bad(
        &[
            "analyze",
            "--model",
            &model,
            "--data",
            &data,
            "--unit-tol",
            "NaN",
        ],
        &["--unit-tol"],
    );
    // Unknown option, missing option.
    bad(
        &["analyze", "--model", &model, "--data", &data, "--bogus"],
        &["--bogus"],
    );
    bad(&["analyze", "--data", &data], &["--model"]);
}

#[test]
fn help_works_for_every_command() {
    labelnoise()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("analyze"));
    labelnoise()
        .args(["analyze", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--stationarity-tol"));
}

#[test]
fn safetensors_models_load() {
    let dir = tempfile::tempdir().unwrap();
    let net = labelnoise_core::builtin::model("fig1-minimal").unwrap();
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, labelnoise_core::model_io::model_to_safetensors(&net)).unwrap();
    labelnoise()
        .args([
            "analyze",
            "--model",
            path.to_str().unwrap(),
            "--data",
            "fig1",
            "--json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"verdict\":\"non-repellent\""));
}

/// A little-endian f8 NPY file (format 1.0) of the given shape.
fn write_npy(dir: &Path, name: &str, shape: &str, values: &[f64]) -> String {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn npy_pairs_give_the_same_analysis_as_the_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let x = labelnoise_core::builtin::FIG1_X;
    let y = labelnoise_core::builtin::FIG1_Y;
    let xs = write_npy(dir.path(), "x.npy", "(12, 1)", &x);
    let ys = write_npy(dir.path(), "y.npy", "(12,)", &y);
    let run = |data: &str| -> serde_json::Value {
        let out = labelnoise()
            .args([
                "analyze",
                "--model",
                "fig1-wiggly",
                "--data",
                data,
                "--json",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let a = run(&format!("{xs},{ys}"));
    let b = run("fig1");
    assert_eq!(a["reg"], b["reg"]);
    assert_eq!(a["null_reg_grad_norm"], b["null_reg_grad_norm"]);
    // A y file with the wrong number of labels: exit 2, naming the file and field.
    let short = write_npy(dir.path(), "short.npy", "(11,)", &y[..11]);
    labelnoise()
        .args([
            "analyze",
            "--model",
            "fig1-wiggly",
            "--data",
            &format!("{xs},{short}"),
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("short.npy: shape:"));
}

#[test]
fn one_point_relu_data_get_everything_but_the_shape_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "one.json", r#"{"x": [[0.5]], "y": [1.0]}"#);
    let out = labelnoise()
        .args([
            "analyze",
            "--model",
            "fig1-minimal",
            "--data",
            &data,
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["n"], 1);
    assert!(v["reg"].as_f64().unwrap() > 0.0);
    assert_eq!(v["reg_grad"].as_array().unwrap().len(), 11);
    assert_eq!(v["jacobian_rank"], 1);
    assert!(v["verdict"].is_string());
    assert!(v.get("shape").is_none());
    assert!(
        v["shape_not_applicable"]
            .as_str()
            .unwrap()
            .contains("at least two points"),
        "{v}"
    );
    labelnoise()
        .args(["analyze", "--model", "fig1-minimal", "--data", &data])
        .assert()
        .success()
        .stdout(predicate::str::contains("not applicable"));
}

#[test]
fn work_that_cannot_fit_in_memory_is_refused_before_allocating() {
    // A 1-D network of width 10^11 (about 4 TiB of parameters).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let assert = labelnoise()
        .args(["train", "--data", "fig1", "--hidden", "100000000000"])
        .args(["--activation", "relu", "--lr", "1e-3", "--noise", "0.5"])
        .args(["--steps", "10", "--out", out.to_str().unwrap()])
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--hidden: the network needs about")
            && stderr.contains("TiB of memory")
            && stderr.contains("is available"),
        "{stderr}"
    );
    assert!(!out.exists());

    // analyze: 200 000 points and a width-100 000 network: the n x p Jacobian alone
    // would take about 480 GB (with its SVD, 1.6 TiB).
    let xs: Vec<String> = (0..200_000)
        .map(|i| format!("{},0\n", i as f64 * 1e-5))
        .collect();
    let data = write(dir.path(), "big.csv", &format!("x,y\n{}", xs.concat()));
    let width = 100_000;
    let row = |v: f64| vec![format!("[{v}]"); width].join(",");
    let model = format!(
        r#"{{"input_dim": 1, "layers": [
          {{"weight": [{}], "bias": [{}], "activation": "relu"}},
          {{"weight": [[{}]], "bias": null, "activation": "identity"}}]}}"#,
        row(1.0),
        vec!["0.5"; width].join(","),
        vec!["0.1"; width].join(",")
    );
    let model = write(dir.path(), "wide.json", &model);
    let assert = labelnoise()
        .args(["analyze", "--model", &model, "--data", &data])
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("analyze: the analysis of 300000 parameters on 200000 points"),
        "{stderr}"
    );
}
