//! `labelnoise reproduce` end to end.
//!
//! Tests run in debug builds, so they use the hidden `--steps-scale` testing aid: every
//! step count is multiplied by it. At these sizes the claims are not expected to hold,
//! so the tests check the files, their structure and the exit status, not the science;
//! `reproduce all --quick` in release mode (the CI job) checks the science.

use assert_cmd::Command;
use std::path::Path;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn writes_summary_reports_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig2");
    let assert = labelnoise()
        .args([
            "reproduce",
            "fig2",
            "--quick",
            "--steps-scale",
            "2e-4",
            "--out",
        ])
        .arg(&out)
        .assert();
    // Exit 0 when every claim passes, 1 (with a one-line error naming the failing
    // claims) when one fails; never a usage error.
    let output = assert.get_output();
    let code = output.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit status {code}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let claims = summary["claims"].as_array().unwrap();
    assert!(claims.len() >= 4, "{claims:?}");
    let mut all_pass = true;
    for c in claims {
        let pass = c["pass"]
            .as_bool()
            .unwrap_or_else(|| panic!("claim without a boolean pass: {c}"));
        all_pass &= pass;
        assert!(
            c["expectation"].as_str().is_some_and(|s| !s.is_empty()),
            "{c}"
        );
        assert!(c["measured"].is_object(), "{c}");
        assert!(c["name"].is_string(), "{c}");
    }
    assert_eq!(summary["pass"].as_bool(), Some(all_pass));
    assert_eq!(code == 0, all_pass);
    if !all_pass {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("claim(s) failed"), "{stderr}");
    }
    let per_experiment = summary["experiments"][0]["claims"].as_array().unwrap();
    assert!(per_experiment.iter().all(|c| c["pass"].is_boolean()));

    for f in [
        "fig2.png",
        "fig2.svg",
        "fig2-functions.png",
        "fig2-functions.svg",
    ] {
        let bytes = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(bytes.len() > 1000, "{f} is suspiciously small");
        if f.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{f}");
        } else {
            let text = String::from_utf8(bytes).unwrap();
            assert!(
                text.contains("<svg") && text.contains("<text"),
                "{f}: no text"
            );
        }
    }
    let md = read(&out.join("report.md"));
    assert!(md.contains("fig2.png") && md.contains("| claim |"), "{md}");
    let html = read(&out.join("report.html"));
    assert!(html.contains("data:image/png;base64,"));
    assert!(!html.contains("src=\"fig2.png\""), "figures must be inline");

    // A second run into the same directory is refused (exit 2) without --force.
    labelnoise()
        .args(["reproduce", "fig2", "--quick", "--out"])
        .arg(&out)
        .assert()
        .code(2);
}

#[test]
fn unknown_experiment_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nope");
    let assert = labelnoise()
        .args(["reproduce", "no-such-figure", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-figure"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn bad_steps_scale_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    labelnoise()
        .args(["reproduce", "fig1", "--steps-scale", "-1", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    assert!(!out.exists());
}

#[test]
fn lemma6_writes_its_figure_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lemma6");
    let assert = labelnoise()
        .args([
            "reproduce",
            "lemma6",
            "--quick",
            "--steps-scale",
            "1e-3",
            "--out",
        ])
        .arg(&out)
        .assert();
    let code = assert.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1, "exit status {code}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let claims = summary["claims"].as_array().unwrap();
    let names: Vec<&str> = claims.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["drift-direction", "drift-size", "eta-squared"]);
    for c in claims {
        assert!(c["pass"].is_boolean() && c["measured"].is_object(), "{c}");
    }
    for f in ["lemma6.png", "lemma6.svg"] {
        let bytes = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(bytes.len() > 1000, "{f} is suspiciously small");
    }
    assert!(read(&out.join("report.md")).contains("lemma6.png"));
}

#[test]
fn explicit_writes_its_figure_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("explicit");
    let assert = labelnoise()
        .args([
            "reproduce",
            "explicit",
            "--quick",
            "--steps-scale",
            "1e-3",
            "--out",
        ])
        .arg(&out)
        .assert();
    let code = assert.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1, "exit status {code}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let claims = summary["claims"].as_array().unwrap();
    let names: Vec<&str> = claims.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "equivalent-rate",
            "acceleration-steps",
            "acceleration-wall",
            "same-end-point",
            "fit-cost"
        ]
    );
    for c in claims {
        assert!(c["pass"].is_boolean() && c["measured"].is_object(), "{c}");
    }
    for f in ["explicit.png", "explicit.svg"] {
        let bytes = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(bytes.len() > 1000, "{f} is suspiciously small");
    }
    assert!(read(&out.join("report.md")).contains("explicit.png"));
}

#[test]
fn generalization_writes_its_figures_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("generalization");
    let assert = labelnoise()
        .args([
            "reproduce",
            "generalization",
            "--quick",
            "--steps-scale",
            "1e-2",
            "--out",
        ])
        .arg(&out)
        .assert();
    let code = assert.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1, "exit status {code}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let claims = summary["claims"].as_array().unwrap();
    let names: Vec<&str> = claims.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "label-noise-rate",
            "settle-rate",
            "noise-not-worse-than-plain"
        ]
    );
    let results = &summary["experiments"][0]["results"];
    // 3 pieces x 4 sizes x 3 draws, four methods each; 4 methods x 12 cells.
    assert_eq!(results["runs"].as_array().unwrap().len(), 36);
    assert_eq!(results["cells"].as_array().unwrap().len(), 48);
    assert_eq!(results["slopes"].as_array().unwrap().len(), 12);
    for f in [
        "generalization.png",
        "generalization.svg",
        "generalization-example.png",
        "generalization-example.svg",
    ] {
        let bytes = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(bytes.len() > 1000, "{f} is suspiciously small");
    }
    assert!(read(&out.join("report.md")).contains("generalization.png"));
}

#[test]
fn settle_writes_its_figures_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("settle");
    let assert = labelnoise()
        .args([
            "reproduce",
            "settle",
            "--quick",
            "--steps-scale",
            "1e-2",
            "--out",
        ])
        .arg(&out)
        .assert();
    let code = assert.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1, "exit status {code}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let claims = summary["claims"].as_array().unwrap();
    let names: Vec<&str> = claims.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["faster", "reg-not-higher", "same-function"]);
    let pairs = summary["experiments"][0]["results"]["pairs"]
        .as_array()
        .unwrap();
    // Four starts on each of the two data sets.
    assert_eq!(pairs.len(), 8);
    for p in pairs {
        assert!(p["sgd"]["reg"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["settle"]["kind"].is_string(), "{p}");
    }
    for f in [
        "settle-functions.png",
        "settle-functions.svg",
        "settle-comparison.png",
        "settle-comparison.svg",
    ] {
        let bytes = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(bytes.len() > 1000, "{f} is suspiciously small");
    }
}
