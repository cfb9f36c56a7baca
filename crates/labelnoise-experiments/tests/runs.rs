//! Every experiment of the registry, run through [`run_experiments`] at a tiny step
//! scale (tests run in debug builds), checked for what it writes: `summary.json` and its
//! structure, the figures (PNG and SVG with text), and both reports. At these sizes the
//! claims are not expected to hold, so only their form is checked here; the science is
//! checked by `labelnoise reproduce all --quick` in release mode, and one experiment runs
//! at its documented quick size in the command line's tests.

use std::path::Path;

use labelnoise_core::train::CancelToken;
use labelnoise_experiments::{
    find, run_experiments, Claim, NoProgress, Options, Progress, ValidOptions, REGISTRY,
};
use serde_json::Value;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tiny(steps_scale: f64) -> ValidOptions {
    unchecked(steps_scale).check().unwrap()
}

fn unchecked(steps_scale: f64) -> Options {
    Options {
        quick: true,
        steps_scale,
    }
}

/// Runs experiment `name` at `steps_scale` into a fresh directory and checks everything
/// it writes: the claims (named `claims`, in order), the figures (`figures`, file stems)
/// and the reports. Returns the experiment's `results` from `summary.json`.
fn check(name: &str, steps_scale: f64, claims: &[&str], figures: &[&str]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    let exp = find(name).unwrap_or_else(|| panic!("{name} is not in the registry"));
    let opts = tiny(steps_scale);
    let run = run_experiments(name, &[exp], &opts, &dir, &mut NoProgress).unwrap();

    let summary: Value = serde_json::from_str(&read(&dir.join("summary.json"))).unwrap();
    assert_eq!(summary["name"], name);
    assert_eq!(summary["quick"], true);
    assert_eq!(summary["steps_scale"].as_f64(), Some(steps_scale));
    assert!(summary["wall_seconds"].as_f64().unwrap() >= 0.0);
    let listed = summary["claims"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, claims, "{name}: claims");
    let mut failed = Vec::new();
    for c in listed {
        assert_eq!(c["experiment"], name, "{c}");
        let pass = c["pass"]
            .as_bool()
            .unwrap_or_else(|| panic!("claim without a boolean pass: {c}"));
        let kind = c["kind"].as_str().unwrap();
        assert!(kind == "paper" || kind == "question", "{c}");
        assert!(
            c["expectation"].as_str().is_some_and(|s| !s.is_empty()),
            "{c}"
        );
        assert!(c["measured"].is_object(), "{c}");
        if kind == "paper" && !pass {
            failed.push(format!("{name}/{}", c["name"].as_str().unwrap()));
        }
    }
    // The verdicts agree everywhere: summary, per-experiment entry, returned summary.
    assert_eq!(summary["pass"].as_bool(), Some(failed.is_empty()));
    assert_eq!(run.pass, failed.is_empty());
    assert_eq!(run.failed, failed);
    let entry = &summary["experiments"][0];
    assert_eq!(summary["experiments"].as_array().unwrap().len(), 1);
    assert_eq!(entry["experiment"], name);
    assert_eq!(entry["pass"], summary["pass"]);
    let per_experiment: Vec<&str> = entry["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(per_experiment, claims);
    // `results` is the experiment's own result type, claims included.
    let results = entry["results"].clone();
    assert!(results.is_object(), "{name}: results {results}");
    assert_eq!(results["claims"], entry["claims"], "{name}");

    for stem in figures {
        let png = std::fs::read(dir.join(format!("{stem}.png")))
            .unwrap_or_else(|e| panic!("{stem}.png: {e}"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        assert!(png.len() > 1000, "{stem}.png is suspiciously small");
        let svg = read(&dir.join(format!("{stem}.svg")));
        assert!(svg.contains("<svg") && svg.contains("<text"), "{stem}.svg");
    }
    // Nothing else: the figures, the summary and the two reports.
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = figures
        .iter()
        .flat_map(|s| [format!("{s}.png"), format!("{s}.svg")])
        .chain(["report.html", "report.md", "summary.json"].map(String::from))
        .collect();
    expected.sort();
    assert_eq!(written, expected, "{name}: files");

    let md = read(&run.report_md);
    assert!(md.starts_with(&format!("# labelnoise reproduce {name} --quick\n")));
    assert!(md.contains(&format!("## `{name}`: ")), "{name}: section");
    assert!(
        md.contains("a testing aid"),
        "{name}: the step scale is not said"
    );
    assert!(md.contains("| claim | result |"));
    for c in claims {
        assert!(md.contains(&format!("| `{c}` | **")), "{name}: claim {c}");
    }
    for stem in figures {
        assert!(
            md.contains(&format!("]({stem}.png)")),
            "{name}: figure {stem}"
        );
    }
    let html = read(&run.report_html);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        figures.len(),
        "{name}: every figure inline"
    );
    assert!(!html.contains(".png\""), "{name}: figures must be inline");
    results
}

#[test]
fn fig1() {
    let r = check(
        "fig1",
        2e-4,
        &[
            "noise-runs-satisfy-theorem1",
            "plain-runs-keep-extra-kinks",
            "noise-runs-agree",
            "all-runs-fit",
        ],
        &["fig1"],
    );
    assert_eq!(r["plain"].as_array().unwrap().len(), 5);
    assert_eq!(r["noise"].as_array().unwrap().len(), 10);
}

#[test]
fn fig2() {
    check(
        "fig2",
        2e-4,
        &[
            "loss-near-zero-first",
            "noise-keeps-moving-after-fit",
            "plain-stops-where-it-converged",
            "noise-ends-simpler",
            "noise-curve-length",
        ],
        &["fig2", "fig2-functions"],
    );
}

#[test]
fn one_layer() {
    check(
        "one-layer",
        2e-4,
        &[
            "one-layer-reg-constant",
            "one-layer-no-simplification",
            "two-layer-simplifies",
        ],
        &["one-layer"],
    );
}

#[test]
fn theorem1() {
    check(
        "theorem1",
        2e-4,
        &[
            "noise-satisfies-theorem1",
            "plain-does-not",
            "noise-nearer-stationary",
        ],
        &["theorem1"],
    );
}

#[test]
fn theorem3() {
    check(
        "theorem3",
        1e-2,
        &[
            "tanh-two-classes",
            "logistic-two-classes",
            "plain-keeps-many",
            "logistic-toward-eq18",
        ],
        &["theorem3"],
    );
}

#[test]
fn lemma5() {
    check(
        "lemma5",
        1e-2,
        &["variance-eta-sigma2", "cross-terms-vanish"],
        &["lemma5"],
    );
}

#[test]
fn lemma6() {
    check(
        "lemma6",
        1e-3,
        &["drift-direction", "drift-size", "eta-squared"],
        &["lemma6"],
    );
}

#[test]
fn explicit() {
    check(
        "explicit",
        1e-3,
        &[
            "equivalent-rate",
            "acceleration-steps",
            "acceleration-wall",
            "same-end-point",
            "fit-cost",
        ],
        &["explicit"],
    );
}

#[test]
fn generalization() {
    let r = check(
        "generalization",
        1e-2,
        &[
            "label-noise-rate",
            "settle-rate",
            "noise-not-worse-than-plain",
        ],
        &["generalization", "generalization-example"],
    );
    // 3 pieces x 4 sizes x 3 draws; 4 methods x 12 cells; 4 methods x 3 pieces slopes.
    assert_eq!(r["runs"].as_array().unwrap().len(), 36);
    assert_eq!(r["cells"].as_array().unwrap().len(), 48);
    assert_eq!(r["slopes"].as_array().unwrap().len(), 12);
}

#[test]
fn deep() {
    let r = check(
        "deep",
        2e-3,
        &[
            "region-walk-exact",
            "sgd-runs-fit",
            "noise-lowers-reg",
            "min-convexity-changes",
            "noise-fewer-convexity-changes",
        ],
        &["deep-functions", "deep-convexity"],
    );
    // Two depths x three methods, three seeds each in the quick setup.
    assert_eq!(r["arms"].as_array().unwrap().len(), 6);
    assert_eq!(r["runs"].as_array().unwrap().len(), 18);
    for run in r["runs"].as_array().unwrap() {
        assert!(
            run["walk"]["value_error"].as_f64().unwrap() <= 1e-9,
            "{run}"
        );
    }
    // The conjecture is an open question: answered yes or no, never a failure.
    let kinds: Vec<&str> = r["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["paper", "paper", "paper", "question", "question"]);
}

#[test]
fn settle() {
    let r = check(
        "settle",
        1e-2,
        &[
            "faster",
            "reg-not-higher",
            "same-function",
            "within-2pct-of-sgd",
        ],
        &["settle-functions", "settle-comparison"],
    );
    // Four starts on each of fig1 and v8, two on sparse12.
    let pairs = r["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 10);
    let sparse = pairs.iter().filter(|p| p["data"] == "sparse12").count();
    assert_eq!(sparse, 2);
    for p in pairs {
        assert!(p["sgd"]["reg"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["settle"]["kind"].is_string(), "{p}");
        // The remedies start from the default settle's end and keep only lower points.
        let (plain, remedied) = (
            p["settle"]["reg"].as_f64().unwrap(),
            p["remedied"]["reg"].as_f64().unwrap(),
        );
        assert!(remedied > 0.0 && remedied <= plain, "{p}");
        assert!(p["remedy"].is_string(), "{p}");
    }
    assert_eq!(r["sparse12_setup"]["width"], 50);
}

#[test]
fn two_copies() {
    let r = check(
        "two-copies",
        2e-4,
        &[
            "noise-and-copies-simplify",
            "noise-and-copies-same-time",
            "noise-and-copies-same-function",
            "same-variance-same-time",
            "time-scales-as-one-over-variance",
            "unfittable-data-simplifies",
        ],
        &["two-copies"],
    );
    let arms = r["arms"].as_array().unwrap();
    let names: Vec<&str> = arms
        .iter()
        .map(|a| a["scheme"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "label-noise",
            "two-copies",
            "three-copies",
            "uniform-noise",
            "two-copies-half",
            "two-copies-double",
            "unfittable"
        ]
    );
    // The same seeds (initial networks) in every arm, measured at pauses.
    for a in arms {
        let seeds: Vec<u64> = a["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["seed"].as_u64().unwrap())
            .collect();
        assert_eq!(seeds, [1, 2, 3, 4], "{}", a["scheme"]["name"]);
        for x in a["runs"].as_array().unwrap() {
            assert!(!x["points"].as_array().unwrap().is_empty());
        }
    }
    assert_eq!(r["claims"][5]["kind"], "question");
}

/// Records the progress calls.
#[derive(Default)]
struct Log(Vec<String>);

impl Progress for Log {
    fn started(&mut self, name: &str, opts: &Options) {
        self.0.push(format!("start {name} quick={}", opts.quick));
    }
    fn finished(&mut self, name: &str, claims: &[Claim], wall_seconds: f64) -> std::io::Result<()> {
        assert!(wall_seconds >= 0.0);
        self.0.push(format!("end {name} {}", claims.len()));
        Ok(())
    }
}

#[test]
fn several_experiments_share_one_summary_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("two");
    let exps = [find("lemma6").unwrap(), find("theorem3").unwrap()];
    let mut log = Log::default();
    let run = run_experiments("two", &exps, &tiny(1e-3), &dir, &mut log).unwrap();
    assert_eq!(
        log.0,
        [
            "start lemma6 quick=true",
            "end lemma6 3",
            "start theorem3 quick=true",
            "end theorem3 4"
        ]
    );
    let summary: Value = serde_json::from_str(&read(&dir.join("summary.json"))).unwrap();
    let order: Vec<&str> = summary["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["experiment"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["lemma6", "theorem3"]);
    assert_eq!(summary["claims"].as_array().unwrap().len(), 7);
    let md = read(&run.report_md);
    // With more than one experiment the report opens with a table of them.
    assert!(md.contains("| experiment | result | claims passed | wall time (s) |"));
    assert!(
        md.contains("| lemma6 | ") && md.contains("| theorem3 | "),
        "{md}"
    );
    assert!(md.find("## `lemma6`").unwrap() < md.find("## `theorem3`").unwrap());
    let html = read(&run.report_html);
    assert!(html.contains("<a href=\"#lemma6\">") && html.contains("id=\"theorem3\""));
}

#[test]
fn a_bad_step_scale_is_refused_by_check() {
    for bad in [0.0, -1.0, f64::NAN] {
        let err = unchecked(bad).check().unwrap_err().to_string();
        assert!(err.contains("steps_scale"), "{err}");
    }
}

/// Python's Ctrl-C: a token cancelled while `reproduce all --quick` runs (about 90 s of
/// training when left alone) stops it with `Error::Cancelled` at the running runs' next
/// stop, and no summary or report is written.
#[test]
fn a_cancelled_token_stops_every_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("all");
    let token = CancelToken::new();
    let opts = Options::new(true).check().unwrap().cancel_on(token.clone());
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            token.cancel();
        })
    };
    let start = std::time::Instant::now();
    let err = run_experiments("all", REGISTRY, &opts, &dir, &mut NoProgress).unwrap_err();
    let seconds = start.elapsed().as_secs_f64();
    canceller.join().unwrap();
    assert!(
        matches!(
            err,
            labelnoise_experiments::Error::Core(labelnoise_core::Error::Cancelled)
        ),
        "{err}"
    );
    assert!(!dir.join("summary.json").exists() && !dir.join("report.md").exists());
    eprintln!("reproduce all --quick stopped {seconds:.2} s after the start (cancelled at 0.3 s)");
    // Each experiment also stops on its own: a token cancelled before the start.
    for exp in REGISTRY {
        let cancelled = CancelToken::new();
        cancelled.cancel();
        let opts = Options::new(true).check().unwrap().cancel_on(cancelled);
        let err = exp.run(&opts).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("cancelled"), "{}", exp.name());
    }
}

/// What a user reads in `report.md`, for one experiment at a tiny scale: the headings,
/// the claim table, the figure links and the captions. The version and every decimal
/// number (measurements, wall times) are replaced by `VERSION` and `X`, so the snapshot
/// holds the report's form and wording, not the measurements (which the claims check).
#[test]
fn report_text_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lemma6");
    let exp = find("lemma6").unwrap();
    let run = run_experiments("lemma6", &[exp], &tiny(1e-3), &dir, &mut NoProgress).unwrap();
    let md = read(&run.report_md);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"labelnoise \d+\.\d+\.\d+", "labelnoise VERSION");
    settings.add_filter(r"-?\b\d+(\.\d+([eE][-+]?\d+)?|[eE][-+]?\d+)\b", "X");
    settings.add_filter(r"\*\*(PASS|FAIL|YES|NO)\*\*", "**VERDICT**");
    settings.add_filter(r"(?m) — (PASS|FAIL)$", " — VERDICT");
    settings.bind(|| insta::assert_snapshot!("lemma6-report-md", md));
}

/// The same for `two-copies`: its claims, question and figure as a user reads them.
#[test]
fn two_copies_report_text_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("two-copies");
    let exp = find("two-copies").unwrap();
    let run = run_experiments("two-copies", &[exp], &tiny(2e-4), &dir, &mut NoProgress).unwrap();
    let md = read(&run.report_md);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"labelnoise \d+\.\d+\.\d+", "labelnoise VERSION");
    settings.add_filter(r"-?\b\d+(\.\d+([eE][-+]?\d+)?|[eE][-+]?\d+)\b", "X");
    settings.add_filter(r"\*\*(PASS|FAIL|YES|NO)\*\*", "**VERDICT**");
    settings.add_filter(r"(?m) — (PASS|FAIL)$", " — VERDICT");
    settings.add_filter(r"\[[0-9, ]*\]", "[LIST]");
    settings.add_filter(r"\b\d+\b", "N");
    settings.bind(|| insta::assert_snapshot!("two-copies-report-md", md));
}
