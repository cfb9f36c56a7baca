//! `labelnoise export --torch` end to end, and PyTorch-style safetensors read back by
//! `analyze` (with the metadata export writes, and with `--activation` without it).

use assert_cmd::Command;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

fn analyze_json(model: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = labelnoise()
        .args(["analyze", "--data", "fig1", "--json", "--model"])
        .arg(model)
        .args(extra)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn export_then_analyze_gives_the_same_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.safetensors");
    labelnoise()
        .args(["export", "fig1-wiggly", "--torch", "--quiet", "--out"])
        .arg(&file)
        .assert()
        .success();
    let original = labelnoise()
        .args([
            "analyze",
            "--model",
            "fig1-wiggly",
            "--data",
            "fig1",
            "--json",
        ])
        .assert()
        .success();
    let original: serde_json::Value =
        serde_json::from_slice(&original.get_output().stdout).unwrap();
    let back = analyze_json(&file, &[]);
    assert_eq!(back["reg"], original["reg"]);
    assert_eq!(back["reg_grad"], original["reg_grad"]);
    assert_eq!(back["verdict"], original["verdict"]);
    // An existing file needs --force; f32 rounds.
    labelnoise()
        .args([
            "export",
            "fig1-wiggly",
            "--torch",
            "--dtype",
            "f32",
            "--out",
        ])
        .arg(&file)
        .assert()
        .code(2);
    labelnoise()
        .args([
            "export",
            "fig1-wiggly",
            "--torch",
            "--dtype",
            "f32",
            "--force",
            "--out",
        ])
        .arg(&file)
        .assert()
        .success();
    let back32 = analyze_json(&file, &[]);
    let (a, b) = (
        back32["reg"].as_f64().unwrap(),
        original["reg"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} vs {b}");
}

#[test]
fn export_needs_torch_and_a_readable_model() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.safetensors");
    let out = labelnoise()
        .args(["export", "fig1-minimal", "--out"])
        .arg(&file)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(
        err.trim(),
        "error: --torch: required (the only export format)"
    );
    assert!(!file.exists());
    labelnoise()
        .args(["export", "missing.json", "--torch", "--out"])
        .arg(&file)
        .assert()
        .code(2);
    assert!(!file.exists());
}

#[test]
fn a_file_without_metadata_or_torch_names_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.safetensors");
    // A safetensors file with one tensor named "weights" and no metadata.
    let bytes: Vec<u8> = 1.0f64.to_le_bytes().to_vec();
    let header = r#"{"weights":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]}}"#;
    let mut padded = header.to_string();
    while !padded.len().is_multiple_of(8) {
        padded.push(' ');
    }
    let mut content = (padded.len() as u64).to_le_bytes().to_vec();
    content.extend_from_slice(padded.as_bytes());
    content.extend_from_slice(&bytes);
    std::fs::write(&file, content).unwrap();
    let out = labelnoise()
        .args([
            "analyze",
            "--data",
            "fig1",
            "--activation",
            "relu",
            "--model",
        ])
        .arg(&file)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.starts_with(&format!(
            "error: {}: weights: unexpected tensor name",
            file.display()
        )),
        "{err}"
    );
}
