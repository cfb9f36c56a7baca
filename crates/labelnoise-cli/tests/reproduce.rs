//! `labelnoise reproduce` through the binary: what the command line itself must do.
//! The files each experiment writes are tested in `labelnoise-experiments`
//! (tests/runs.rs) at tiny step scales; here one experiment runs at its documented quick
//! size, end to end, and must pass.

use assert_cmd::Command;
use labelnoise_experiments::REGISTRY;
use std::path::Path;

fn labelnoise() -> Command {
    Command::cargo_bin("labelnoise").unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// `lemma6 --quick` takes about 5 s in a debug build and passes every claim.
#[test]
fn lemma6_quick_passes_every_claim_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lemma6");
    let assert = labelnoise()
        .args(["reproduce", "lemma6", "--quick", "--out"])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    // One line per claim, then the verdict.
    assert_eq!(
        lines[..3],
        [
            "lemma6: PASS drift-direction",
            "lemma6: PASS drift-size",
            "lemma6: PASS eta-squared"
        ],
        "{stdout}"
    );
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[3].starts_with("lemma6: all claims pass in ")
            && lines[3].ends_with(&format!("wrote {}", out.join("report.html").display())),
        "{stdout}"
    );
    assert!(stderr_of(&assert).is_empty(), "{}", stderr_of(&assert));

    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["name"], "lemma6");
    assert_eq!(summary["pass"], true);
    assert_eq!(summary["quick"], true);
    // The command line always runs the documented step counts.
    assert_eq!(summary["steps_scale"].as_f64(), Some(1.0));
    assert!(summary["claims"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["pass"] == true));
    let png = std::fs::read(out.join("lemma6.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(read(&out.join("lemma6.svg")).contains("<text"));
    let md = read(&out.join("report.md"));
    assert!(md.contains("## `lemma6`: ") && md.contains("| `drift-size` | **PASS** |"));
    assert!(!md.contains("testing aid"), "{md}");
    assert!(read(&out.join("report.html")).contains("data:image/png;base64,"));

    // A second run into the same, now non-empty, directory is refused: exit 2, one line
    // naming the directory and the flag, nothing changed.
    let before = read(&out.join("summary.json"));
    let assert = labelnoise()
        .args(["reproduce", "lemma6", "--quick", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--out"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(assert.get_output().stdout.is_empty());
    assert_eq!(read(&out.join("summary.json")), before);
}

#[test]
fn an_existing_directory_is_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("taken");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let assert = labelnoise()
        .args(["reproduce", "theorem3", "--quick", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("taken"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(read(&out.join("keep.txt")), "mine");
}

#[test]
fn an_unknown_experiment_exits_2_with_one_line_listing_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nope");
    let assert = labelnoise()
        .args(["reproduce", "no-such-figure", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no-such-figure"), "{stderr}");
    for e in REGISTRY {
        assert!(stderr.contains(e.name()), "{} missing: {stderr}", e.name());
    }
    assert!(stderr.contains("all"), "{stderr}");
    assert!(assert.get_output().stdout.is_empty());
    assert!(!out.exists());
}

#[test]
fn help_lists_every_experiment_with_its_description() {
    let assert = labelnoise()
        .args(["reproduce", "--help"])
        .assert()
        .success();
    let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    // clap pads the names into a column and may wrap long lines (to the terminal's
    // width when it knows it): compare with every run of whitespace as one space.
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut from = 0;
    for (name, description) in REGISTRY
        .iter()
        .map(|e| (e.name(), e.description()))
        .chain([("all", "Every experiment above, in this order")])
    {
        let entry = format!("- {name}: {description}");
        let entry = entry.split_whitespace().collect::<Vec<_>>().join(" ");
        // Listed, in the registry's order.
        let at = flat[from..]
            .find(&entry)
            .unwrap_or_else(|| panic!("{entry:?} not listed in order:\n{help}"));
        from += at + entry.len();
    }
    // The step scale is a library testing aid, not a flag.
    assert!(!help.contains("steps-scale"), "{help}");
}

#[test]
fn the_step_scale_is_not_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let assert = labelnoise()
        .args(["reproduce", "fig1", "--steps-scale", "1e-3", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--steps-scale"), "{stderr}");
    assert!(!out.exists());
}
