//! What an experiment is: its claims ([`Claim`]), its options, what it returns
//! ([`Report`]) and the [`Experiment`] trait every experiment module implements.

use labelnoise_core::train::CancelToken;
use serde::Serialize;

use crate::plot::Figure;

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

    /// Checks the step scale (positive and finite): the checked options are the only
    /// ones an [`Experiment`] runs with.
    pub fn check(&self) -> Result<ValidOptions> {
        if !(self.steps_scale.is_finite() && self.steps_scale > 0.0) {
            return Err(Error::parameter(
                "steps_scale",
                format!("must be positive and finite, got {}", self.steps_scale),
            ));
        }
        Ok(ValidOptions {
            options: *self,
            cancel: CancelToken::new(),
        })
    }
}

/// [`Options`] that passed [`Options::check`], with the token that stops the experiment.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct ValidOptions {
    options: Options,
    #[serde(skip)]
    cancel: CancelToken,
}

impl ValidOptions {
    /// The same options, stopped by `token`: once it is cancelled every training run and
    /// `settle` of the experiment stops at its next stop and the experiment returns
    /// [`labelnoise_core::Error::Cancelled`] (a front end's Ctrl-C).
    pub fn cancel_on(self, token: CancelToken) -> Self {
        ValidOptions {
            cancel: token,
            ..self
        }
    }

    /// The token that stops the experiment.
    pub fn cancel(&self) -> &CancelToken {
        &self.cancel
    }
}

impl std::ops::Deref for ValidOptions {
    type Target = Options;
    fn deref(&self) -> &Options {
        &self.options
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
    fn run(&self, opts: &ValidOptions) -> crate::Result<Report>;
}

/// A figure an experiment wants drawn, with its caption; [`crate::run_experiments`] draws
/// it (PNG and SVG) into the output directory.
#[derive(Clone, Debug)]
pub struct CaptionedFigure {
    /// The figure; its name is the file stem.
    pub figure: Figure,
    /// The caption under it in the reports.
    pub caption: String,
}
