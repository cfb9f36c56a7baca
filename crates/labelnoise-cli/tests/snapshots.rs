//! Snapshot tests of what users read: every command's `--help`, `analyze`'s table and
//! JSON on the built-in models, and `settle`'s summary. A change to any of them shows up
//! as a diff of a file under `tests/snapshots/` that a reviewer accepts or rejects
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test` and `git diff`).
//!
//! Numbers are rounded before they are compared: the linear algebra may differ in the
//! last bits between CPUs (SIMD widths), and values at the level of the tolerances
//! (||g_N|| ~ 1e-14 at a stationary point) are noise. Timings and paths are redacted.

use assert_cmd::Command;
use serde_json::Value;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

fn stdout(args: &[&str]) -> String {
    let out = labelnoise().args(args).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// Rounds every float to `digits` significant digits, and sets those below `floor` in
/// magnitude to 0.
fn rounded(v: &Value, digits: i32, floor: f64) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            if x.abs() < floor {
                return Value::from(0.0);
            }
            let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
            Value::from((x * scale).round() / scale)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| rounded(x, digits, floor)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), rounded(x, digits, floor)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Filters for tables: numbers printed in exponent form below 1e-8 become `[tiny]`.
fn table_filters() -> Vec<(&'static str, &'static str)> {
    vec![(r"-?\d\.\d+e-(9|[1-9]\d)\b", "[tiny]")]
}

#[test]
fn help_of_every_command() {
    for cmd in [
        "",
        "analyze",
        "train",
        "resume",
        "settle",
        "reproduce",
        "explore",
        "export",
    ] {
        let args: Vec<&str> = if cmd.is_empty() {
            vec!["--help"]
        } else {
            vec![cmd, "--help"]
        };
        let name = if cmd.is_empty() { "labelnoise" } else { cmd };
        insta::assert_snapshot!(format!("help-{name}"), stdout(&args));
    }
}

#[test]
fn analyze_tables_of_the_builtin_models() {
    for model in ["fig1-minimal", "fig1-wiggly"] {
        let table = stdout(&["analyze", "--model", model, "--data", "fig1"]);
        insta::with_settings!({filters => table_filters()}, {
            insta::assert_snapshot!(format!("analyze-table-{model}"), table);
        });
    }
}

#[test]
fn analyze_json_of_the_builtin_models() {
    for model in ["fig1-minimal", "fig1-wiggly"] {
        let json: Value = serde_json::from_str(&stdout(&[
            "analyze", "--model", model, "--data", "fig1", "--json",
        ]))
        .unwrap();
        insta::assert_json_snapshot!(format!("analyze-json-{model}"), rounded(&json, 6, 1e-8));
    }
}

#[test]
fn settle_summary_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("settled");
    let text = stdout(&[
        "settle",
        "--model",
        "fig1-wiggly",
        "--data",
        "fig1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let mut filters = table_filters();
    filters.push((r"\d+\.\d+ s; wrote .*", "[seconds] s; wrote [DIR]"));
    filters.push((r"\|\|g_N\|\| \d\.\d+e-\d+", "||g_N|| [below tolerance]"));
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("settle-lines", text);
    });
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The quantities the stopping rule decides on are below their tolerance; their
    // exact values are noise.
    assert!(summary["null_reg_grad_norm"].as_f64().unwrap() < 1e-5);
    assert!(summary["max_abs_residual"].as_f64().unwrap() < 1e-6);
    insta::assert_json_snapshot!("settle-summary", rounded(&summary, 5, 1e-4), {
        ".version" => "[version]",
        ".wall_seconds" => "[seconds]",
        ".null_reg_grad_norm" => "[below tolerance]",
        ".pinned_null_reg_grad_norm" => "[below tolerance]",
        ".max_abs_residual" => "[below tolerance]",
        ".analysis.null_reg_grad" => "[noise at the tolerance]",
        ".analysis.null_reg_grad_norm" => "[below tolerance]",
        ".analysis.max_abs_residual" => "[below tolerance]",
        ".analysis.train_loss" => "[below tolerance]",
    });
}
