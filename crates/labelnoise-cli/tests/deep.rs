//! The deep-network additions end to end: `analyze` reports the Theorem 1 shape of a
//! 1-D relu network with two hidden layers (exact kinks from the region walk). The
//! `deep` experiment's files are tested in `labelnoise-experiments` (tests/runs.rs).

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

/// u = relu(x), relu(−x), relu(x − 2); v = relu(u0 + u1 − 1), relu(u0 − 2 u2 − 1);
/// f = v0 − 2 v1 + 0.5: kinks at −1 (+1), 1 (−1), 2 (+4), 3 (−2); at 0 the first layer
/// switches without a kink.
const DEPTH3: &str = r#"{"input_dim": 1, "layers": [
  {"weight": [[1.0], [-1.0], [1.0]], "bias": [0.0, 0.0, -2.0], "activation": "relu"},
  {"weight": [[1.0, 1.0, 0.0], [1.0, 0.0, -2.0]], "bias": [-1.0, -1.0], "activation": "relu"},
  {"weight": [[1.0, -2.0]], "bias": [0.5], "activation": "identity"}]}"#;

#[test]
fn analyze_reports_the_shape_of_a_depth3_relu_network() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "m.json", DEPTH3);
    // f at −2, −0.5, 0.5, 1.5, 2.5, 3.5.
    let data = write(
        dir.path(),
        "d.json",
        r#"{"x": [[-2.0], [-0.5], [0.5], [1.5], [2.5], [3.5]], "y": [1.5, 0.5, 0.5, 0.0, 1.0, 3.0]}"#,
    );
    let out = labelnoise()
        .args(["analyze", "--model", &model, "--data", &data, "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let shape = &v["shape"];
    let kinks: Vec<(f64, f64)> = shape["kinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["x"].as_f64().unwrap(), k["jump"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        kinks,
        vec![(-1.0, 1.0), (1.0, -1.0), (2.0, 4.0), (3.0, -2.0)]
    );
    assert_eq!(
        shape["kinks"][1]["layer_units"],
        serde_json::json!([[1, 0], [1, 1]])
    );
    assert_eq!(shape["convexity_changes"], 3);
    assert_eq!(shape["kinks_inside"], 4);
    assert_eq!(shape["interpolates"], true);
    assert!(shape["curve_length"].as_f64().unwrap() > 5.5);
    // The table form has the shape too.
    let text = labelnoise()
        .args(["analyze", "--model", &model, "--data", &data])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&text).contains("Theorem 1 shape"));
}
