//! Runs a list of experiments into an output directory: `summary.json` (every claim with
//! a boolean `pass`, and every experiment's numbers), `report.md` (figures linked),
//! `report.html` (one self-contained page) and each figure as `NAME.png` and `NAME.svg`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use labelnoise_core::files::write_atomic;
use serde_json::json;

use crate::plot::render;
use crate::report::{html, markdown, RenderedFigure, Section};
use crate::{Claim, ClaimKind, Error, Experiment, Options, ValidOptions};

/// Progress of [`run_experiments`], for a caller that shows it (the library never
/// prints).
pub trait Progress {
    /// Experiment `name` starts.
    fn started(&mut self, name: &str, opts: &Options);
    /// Experiment `name` finished after `wall_seconds`, its figures drawn, with these
    /// claims. An error (say, printing to a closed pipe) stops the run before anything
    /// more is written, and [`run_experiments`] returns it.
    fn finished(&mut self, name: &str, claims: &[Claim], wall_seconds: f64) -> std::io::Result<()>;
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&mut self, _: &str, _: &Options) {}
    fn finished(&mut self, _: &str, _: &[Claim], _: f64) -> std::io::Result<()> {
        Ok(())
    }
}

/// What [`run_experiments`] found and wrote.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Whether every claim of the paper passed (open questions answered "no" do not
    /// fail).
    pub pass: bool,
    /// Total wall time in seconds.
    pub wall_seconds: f64,
    /// The failing paper claims, as `experiment/claim`.
    pub failed: Vec<String>,
    /// How many open questions were answered "no".
    pub answered_no: usize,
    /// The markdown report.
    pub report_md: PathBuf,
    /// The HTML report.
    pub report_html: PathBuf,
}

/// Runs `experiments` in order with `opts` and writes everything into `dir` (created if
/// missing; files of the same names are replaced atomically, so check the directory
/// first, e.g. with [`labelnoise_core::files::check_output_dir`]). `label` names the run
/// in the reports' title (`labelnoise reproduce LABEL`): an experiment's name, or `all`.
///
/// An experiment's error stops the run and is returned; nothing is written for it.
pub fn run_experiments(
    label: &str,
    experiments: &[&dyn Experiment],
    opts: &ValidOptions,
    dir: &Path,
    progress: &mut dyn Progress,
) -> crate::Result<RunSummary> {
    std::fs::create_dir_all(dir).map_err(|source| labelnoise_core::Error::Write {
        file: dir.display().to_string(),
        source,
    })?;
    let start = Instant::now();
    let mut sections = Vec::new();
    let mut results = Vec::new();
    for exp in experiments {
        let name = exp.name();
        if opts.cancel().is_cancelled() {
            return Err(labelnoise_core::Error::Cancelled.into());
        }
        progress.started(name, opts);
        let t = Instant::now();
        let report = exp.run(opts)?;
        let wall = t.elapsed().as_secs_f64();
        let mut figures = Vec::new();
        for f in report.figures {
            let (png, _svg) = render(&f.figure, dir)?;
            figures.push(RenderedFigure {
                name: f.figure.name,
                caption: f.caption,
                png,
            });
        }
        let section = Section {
            name: name.to_string(),
            title: report.title,
            wall_seconds: wall,
            intro: report.intro,
            claims: report.claims,
            figures,
            notes: report.notes,
        };
        progress
            .finished(name, &section.claims, wall)
            .map_err(Error::Progress)?;
        results.push(json!({
            "experiment": name,
            "pass": section.pass(),
            "wall_seconds": wall,
            "claims": section.claims,
            "results": report.results,
        }));
        sections.push(section);
    }
    let total = start.elapsed().as_secs_f64();
    let pass = sections.iter().all(Section::pass);
    let summary = json!({
        "name": label,
        "version": env!("CARGO_PKG_VERSION"),
        "quick": opts.quick,
        "steps_scale": opts.steps_scale,
        "pass": pass,
        "wall_seconds": total,
        "claims": sections.iter().flat_map(|s| s.claims.iter().map(move |c| json!({
            "experiment": s.name, "name": c.name, "kind": c.kind, "expectation": c.expectation,
            "measured": c.measured, "pass": c.pass}))).collect::<Vec<_>>(),
        "experiments": results,
    });
    let mut text = serde_json::to_string_pretty(&summary)?;
    text.push('\n');
    write_atomic(&dir.join("summary.json"), text.as_bytes())?;
    let title = format!(
        "labelnoise reproduce {label}{}",
        if opts.quick { " --quick" } else { "" }
    );
    let header = header(label, opts, total);
    let report_md = dir.join("report.md");
    let report_html = dir.join("report.html");
    write_atomic(&report_md, markdown(&title, &header, &sections).as_bytes())?;
    write_atomic(&report_html, html(&title, &header, &sections).as_bytes())?;
    let answered_no = sections
        .iter()
        .flat_map(|s| &s.claims)
        .filter(|c| c.kind == ClaimKind::Question && !c.pass)
        .count();
    let failed = sections
        .iter()
        .flat_map(|s| {
            s.claims
                .iter()
                .filter(|c| c.fails())
                .map(move |c| format!("{}/{}", s.name, c.name))
        })
        .collect();
    Ok(RunSummary {
        pass,
        wall_seconds: total,
        failed,
        answered_no,
        report_md,
        report_html,
    })
}

/// The paragraphs at the top of both reports.
fn header(label: &str, opts: &Options, total: f64) -> Vec<String> {
    let mut h = vec![format!(
        "Blanc, Gupta, Valiant, Valiant, \"Implicit regularization for deep neural networks driven \
         by an Ornstein-Uhlenbeck like process\", reproduced by labelnoise {} (`labelnoise reproduce {}{}`). \
         Total wall time {total:.1} s. Every number below is in `summary.json`; every run is \
         reproducible from its seed. A claim of the paper (or a guarantee of this \
         implementation) is PASS or FAIL; an open question the paper points at (a conjecture, \
         or a goal beyond it) is answered YES or NO, and a NO is a result, not a failure.",
        env!("CARGO_PKG_VERSION"),
        label,
        if opts.quick { " --quick" } else { "" }
    )];
    if opts.steps_scale != 1.0 {
        h.push(format!(
            "Step counts were multiplied by {} (a testing aid): these are not the documented runs.",
            opts.steps_scale
        ));
    }
    h
}
