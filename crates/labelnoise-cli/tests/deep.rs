//! The deep-network additions end to end: `analyze` reports the Theorem 1 shape of a
//! 1-D relu network with two hidden layers (exact kinks from the region walk), and
//! `reproduce deep` writes its summary, reports and figures.
//!
//! Tests run in debug builds, so `reproduce deep` runs with the hidden `--steps-scale`
//! testing aid; the claims are not expected to hold at that size.

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

#[test]
fn reproduce_deep_writes_its_figures_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deep");
    let assert = labelnoise()
        .args([
            "reproduce",
            "deep",
            "--quick",
            "--steps-scale",
            "2e-3",
            "--out",
        ])
        .arg(&out)
        .assert();
    let code = assert.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1, "exit status {code}");
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = summary["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "region-walk-exact",
            "sgd-runs-fit",
            "noise-lowers-reg",
            "min-convexity-changes",
            "noise-fewer-convexity-changes"
        ]
    );
    // The conjecture is an open question: answered yes or no, never a failure.
    for c in &summary["claims"].as_array().unwrap()[3..] {
        assert_eq!(c["kind"], "question", "{c}");
    }
    for c in &summary["claims"].as_array().unwrap()[..3] {
        assert_eq!(c["kind"], "paper", "{c}");
    }
    let results = &summary["experiments"][0]["results"];
    // Two depths x three methods, three seeds each in the quick setup.
    assert_eq!(results["arms"].as_array().unwrap().len(), 6);
    assert_eq!(results["runs"].as_array().unwrap().len(), 18);
    for r in results["runs"].as_array().unwrap() {
        assert!(r["walk"]["value_error"].as_f64().unwrap() <= 1e-9, "{r}");
    }
    for f in [
        "deep-functions.png",
        "deep-functions.svg",
        "deep-convexity.png",
        "deep-convexity.svg",
        "report.md",
        "report.html",
    ] {
        let bytes = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(bytes.len() > 1000, "{f} is suspiciously small");
    }
}
