//! The experiments of `labelnoise reproduce`: each runs the training the paper describes,
//! measures what the paper claims, and returns serializable results with [`Claim`]s.
//!
//! - [`fig1`]: Figure 1, the functions of 5 plain-SGD and 10 label-noise runs.
//! - [`fig2`]: Figure 2, loss, curve length and convexity changes against iteration.
//! - [`one_layer`]: only the output layer trainable: reg is constant and label noise does
//!   not simplify the function (the remark under Figure 1), against the two-layer net.
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
//! Every run is reproducible from its seed (the initialisation and the SGD draws both
//! derive from it); seeds run in parallel with rayon. The library does no printing; the
//! command line draws the figures and writes the reports.

pub mod common;
pub mod deep;
pub mod explicit;
pub mod fig1;
pub mod fig2;
pub mod generalization;
pub mod lemma5;
pub mod lemma6;
pub mod one_layer;
pub mod settle_vs_sgd;
pub mod theorem1;
pub mod theorem3;

use serde::Serialize;

use crate::error::{Error, Result};

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
    /// Multiplies every step count (a testing aid; 1 for the documented runs).
    pub steps_scale: f64,
}

impl Options {
    /// Checks the step scale.
    pub fn check(&self) -> Result<()> {
        if !(self.steps_scale.is_finite() && self.steps_scale > 0.0) {
            return Err(Error::parameter(
                "--steps-scale",
                format!("must be positive and finite, got {}", self.steps_scale),
            ));
        }
        Ok(())
    }
}

/// Every experiment, in the order `all` runs them: the paper's own figures, theorems and
/// lemmas, then the experiments beyond it. (Their open questions, [`ClaimKind::Question`],
/// are answered yes or no and never fail `all`.)
pub const ALL: &[&str] = &[
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
    "settle",
];

/// Every experiment that exists (the same as [`ALL`]).
pub const NAMES: &[&str] = ALL;

/// The result of one experiment.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// `fig1`.
    Fig1(fig1::Fig1),
    /// `fig2`.
    Fig2(fig2::Fig2),
    /// `one-layer`.
    OneLayer(one_layer::OneLayer),
    /// `theorem1`.
    Theorem1(theorem1::Theorem1),
    /// `theorem3`.
    Theorem3(theorem3::Theorem3),
    /// `lemma5`.
    Lemma5(lemma5::Lemma5),
    /// `lemma6`.
    Lemma6(lemma6::Lemma6),
    /// `explicit`.
    Explicit(explicit::Explicit),
    /// `generalization`.
    Generalization(generalization::Generalization),
    /// `deep`.
    Deep(deep::Deep),
    /// `settle`.
    Settle(settle_vs_sgd::SettleVsSgd),
}

impl Outcome {
    /// The experiment's name.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Fig1(_) => "fig1",
            Outcome::Fig2(_) => "fig2",
            Outcome::OneLayer(_) => "one-layer",
            Outcome::Theorem1(_) => "theorem1",
            Outcome::Theorem3(_) => "theorem3",
            Outcome::Lemma5(_) => "lemma5",
            Outcome::Lemma6(_) => "lemma6",
            Outcome::Explicit(_) => "explicit",
            Outcome::Generalization(_) => "generalization",
            Outcome::Deep(_) => "deep",
            Outcome::Settle(_) => "settle",
        }
    }

    /// Its claims.
    pub fn claims(&self) -> &[Claim] {
        match self {
            Outcome::Fig1(r) => &r.claims,
            Outcome::Fig2(r) => &r.claims,
            Outcome::OneLayer(r) => &r.claims,
            Outcome::Theorem1(r) => &r.claims,
            Outcome::Theorem3(r) => &r.claims,
            Outcome::Lemma5(r) => &r.claims,
            Outcome::Lemma6(r) => &r.claims,
            Outcome::Explicit(r) => &r.claims,
            Outcome::Generalization(r) => &r.claims,
            Outcome::Deep(r) => &r.claims,
            Outcome::Settle(r) => &r.claims,
        }
    }
}

/// Runs the experiment `name` (one of [`NAMES`]); an unknown name is an
/// [`Error::Parameter`] naming `NAME`.
pub fn run(name: &str, opts: &Options) -> Result<Outcome> {
    opts.check()?;
    Ok(match name {
        "fig1" => Outcome::Fig1(fig1::run(opts)?),
        "fig2" => Outcome::Fig2(fig2::run(opts)?),
        "one-layer" => Outcome::OneLayer(one_layer::run(opts)?),
        "theorem1" => Outcome::Theorem1(theorem1::run(opts)?),
        "theorem3" => Outcome::Theorem3(theorem3::run(opts)?),
        "lemma5" => Outcome::Lemma5(lemma5::run(opts)?),
        "lemma6" => Outcome::Lemma6(lemma6::run(opts)?),
        "explicit" => Outcome::Explicit(explicit::run(opts)?),
        "generalization" => Outcome::Generalization(generalization::run(opts)?),
        "deep" => Outcome::Deep(deep::run(opts)?),
        "settle" => Outcome::Settle(settle_vs_sgd::run(opts)?),
        _ => {
            return Err(Error::parameter(
                "NAME",
                format!("unknown experiment {name:?}; known: {}", NAMES.join(", ")),
            ))
        }
    })
}

/// The built-in `fig1` data set.
pub(crate) fn fig1_data() -> crate::Dataset {
    crate::builtin::dataset("fig1").expect("fig1 is built in")
}
