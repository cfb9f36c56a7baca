//! # labelnoise-experiments
//!
//! The paper's experiments, behind `labelnoise reproduce`: each runs the training the
//! paper describes, measures what the paper claims, and returns its [`Claim`]s, its
//! numbers (serializable) and its report section (text and figures). [`run_experiments`]
//! runs a list of them into a directory and writes `summary.json`, `report.md`,
//! `report.html` and every figure (PNG and SVG).
//!
//! The experiments, in the order of [`REGISTRY`] (the order `reproduce all` runs them):
//!
//! - [`fig1`]: Figure 1, the functions of 5 plain-SGD and 10 label-noise runs.
//! - [`fig2`]: Figure 2, loss, curve length and convexity changes against iteration.
//! - [`one_layer`] (`one-layer`): only the output layer trainable: reg is constant and
//!   label noise does not simplify the function (the remark under Figure 1), against the
//!   two-layer net.
//! - [`theorem1`]: N runs with and without label noise: how many end satisfying
//!   Theorem 1, and their Theorem 2 verdicts.
//! - [`theorem3`]: tanh and logistic networks on one point: the live unit classes.
//! - [`lemma5`]: the Ornstein-Uhlenbeck variance η σ² in every γ > 0 direction.
//! - [`lemma6`]: the null-space drift −T η² σ² g_N and its η² scaling.
//! - [`explicit`]: plain SGD with an explicit η λ ∇reg term against label noise at the
//!   equivalent λ = η σ² and larger: speed-up to the same reg, and the end points.
//! - [`generalization`]: test error against n on random k-piece targets for plain SGD,
//!   label noise, settle and the interpolant, with log-log slopes.
//! - [`deep`]: depth 3 and 4 ReLU networks: do stable solutions have the fewest
//!   convexity changes (the paper's §1.1 conjecture)?
//! - [`settle_vs_sgd`] (`settle`): settle against long label-noise SGD from the same
//!   starts: reg, function distance, end-point kind, wall time.
//!
//! [`common`] holds what several of them share (the Figure 1 setup, training with
//! snapshots, the projection onto the zero-loss manifold, shape measurements, report
//! text); [`plot`] draws figures and [`report`] writes the markdown and HTML reports.
//!
//! ## Adding an experiment
//!
//! 1. Write one module, `src/NAME.rs`: its `run` (the training and the measurements,
//!    returning [`Claim`]s), its report section, and a unit struct implementing
//!    [`Experiment`] (name, one-line description, and `run` returning a [`Report`]).
//!    Declare it with `pub mod NAME;` below.
//! 2. Add one line to [`REGISTRY`]. The command line's list of names, its `--help` and
//!    `reproduce all` all come from the registry.
//!
//! Every run is reproducible from its seed (the initialisation and the SGD draws both
//! derive from it); seeds run in parallel with rayon. The library never prints: progress
//! goes through the [`Progress`] trait.

pub mod common;
pub mod deep;
pub mod explicit;
pub mod fig1;
pub mod fig2;
pub mod generalization;
pub mod lemma5;
pub mod lemma6;
pub mod one_layer;
pub mod plot;
pub mod report;
mod runner;
pub mod settle_vs_sgd;
pub mod theorem1;
pub mod theorem3;

pub use report::CaptionedFigure;
pub use runner::{run_experiments, NoProgress, Progress, RunSummary};

use serde::Serialize;

use labelnoise_core::error::{Error, Result};

/// What kind of statement a claim measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimKind {
    /// A statement the paper proves or reports, or a guarantee of this implementation: a
    /// failure means the reproduction failed, and `reproduce` exits non-zero.
    Paper,
    /// An open question the paper points at (a conjecture, or a goal beyond it). Either
    /// answer is a result: `pass` says whether the answer is "yes", and a "no" is
    /// reported as such without failing the experiment.
    Question,
}

/// One claim of the paper, measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    /// Short name, unique within the experiment.
    pub name: String,
    /// Whether this is a claim of the paper or an open question.
    pub kind: ClaimKind,
    /// What the paper says (its words or number) and the criterion used here.
    pub expectation: String,
    /// The measured numbers.
    pub measured: serde_json::Value,
    /// Whether the measurement meets the criterion (for a question: whether the answer
    /// is "yes").
    pub pass: bool,
}

impl Claim {
    /// A claim of the paper.
    pub fn new(
        name: &str,
        expectation: impl Into<String>,
        measured: serde_json::Value,
        pass: bool,
    ) -> Self {
        Claim {
            name: name.to_string(),
            kind: ClaimKind::Paper,
            expectation: expectation.into(),
            measured,
            pass,
        }
    }

    /// An open question; `yes` is the measured answer.
    pub fn question(
        name: &str,
        expectation: impl Into<String>,
        measured: serde_json::Value,
        yes: bool,
    ) -> Self {
        Claim {
            kind: ClaimKind::Question,
            ..Claim::new(name, expectation, measured, yes)
        }
    }

    /// Whether this claim fails its experiment: a paper claim that is not met (an open
    /// question answered "no" does not).
    pub fn fails(&self) -> bool {
        self.kind == ClaimKind::Paper && !self.pass
    }

    /// The one-word verdict: PASS / FAIL for paper claims, YES / NO for questions.
    pub fn verdict(&self) -> &'static str {
        match (self.kind, self.pass) {
            (ClaimKind::Paper, true) => "PASS",
            (ClaimKind::Paper, false) => "FAIL",
            (ClaimKind::Question, true) => "YES",
            (ClaimKind::Question, false) => "NO",
        }
    }
}

/// How big a run to do.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Options {
    /// The smaller version (fewer seeds and steps; the same claims).
    pub quick: bool,
    /// Multiplies every step count. 1 runs the documented experiment; anything else is
    /// a testing aid (tests use tiny runs), set only through this library: the claims
    /// are then not expected to hold, and the reports say so.
    pub steps_scale: f64,
}

impl Options {
    /// The documented experiment, full size or quick.
    pub fn new(quick: bool) -> Self {
        Options {
            quick,
            steps_scale: 1.0,
        }
    }

    /// Checks the step scale: positive and finite.
    pub fn check(&self) -> Result<()> {
        if !(self.steps_scale.is_finite() && self.steps_scale > 0.0) {
            return Err(Error::parameter(
                "steps_scale",
                format!("must be positive and finite, got {}", self.steps_scale),
            ));
        }
        Ok(())
    }
}

/// What one experiment returns: its claims, its numbers, and its report section.
#[derive(Clone, Debug)]
pub struct Report {
    /// The section's title.
    pub title: String,
    /// Paragraphs before the claims (markdown: only `code`, no other markup).
    pub intro: Vec<String>,
    /// The claims, in the order the reports list them.
    pub claims: Vec<Claim>,
    /// The figures, drawn into the output directory when the report is written.
    pub figures: Vec<CaptionedFigure>,
    /// Paragraphs after the figures (observations).
    pub notes: Vec<String>,
    /// Every number of the run: the `results` field of the experiment's entry in
    /// `summary.json`.
    pub results: serde_json::Value,
}

/// One experiment of the paper.
pub trait Experiment: Sync {
    /// The name `reproduce` knows it by (`fig1`, `one-layer`, ...).
    fn name(&self) -> &'static str;
    /// One line saying what it checks (shown by `labelnoise reproduce --help`).
    fn description(&self) -> &'static str;
    /// Runs it: training, measurements, claims, and the report section.
    fn run(&self, opts: &Options) -> anyhow::Result<Report>;
}

/// Every experiment, in the order `all` runs them: the paper's own figures, theorems and
/// lemmas, then the experiments beyond it. (Their open questions, [`ClaimKind::Question`],
/// are answered yes or no and never fail `all`.)
pub static REGISTRY: &[&dyn Experiment] = &[
    &fig1::Fig1Experiment,
    &fig2::Fig2Experiment,
    &one_layer::OneLayerExperiment,
    &theorem1::Theorem1Experiment,
    &theorem3::Theorem3Experiment,
    &lemma5::Lemma5Experiment,
    &lemma6::Lemma6Experiment,
    &explicit::ExplicitExperiment,
    &generalization::GeneralizationExperiment,
    &deep::DeepExperiment,
    &settle_vs_sgd::SettleExperiment,
];

/// The experiment called `name` in [`REGISTRY`].
pub fn find(name: &str) -> Option<&'static dyn Experiment> {
    REGISTRY.iter().copied().find(|e| e.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_described() {
        let names: Vec<&str> = REGISTRY.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "fig1",
                "fig2",
                "one-layer",
                "theorem1",
                "theorem3",
                "lemma5",
                "lemma6",
                "explicit",
                "generalization",
                "deep",
                "settle"
            ]
        );
        for e in REGISTRY {
            let d = e.description();
            assert!(!d.is_empty() && !d.contains('\n'), "{}: {d:?}", e.name());
            assert!(std::ptr::addr_eq(find(e.name()).unwrap(), *e));
        }
        assert!(find("all").is_none());
    }

    #[test]
    fn options_check_the_step_scale() {
        assert!(Options::new(true).check().is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let opts = Options {
                quick: true,
                steps_scale: bad,
            };
            let e = opts.check().unwrap_err().to_string();
            assert!(e.contains("steps_scale"), "{e}");
        }
    }
}
