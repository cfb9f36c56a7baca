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
mod error;
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
pub mod two_copies;

pub mod experiment;
mod registry;

pub use error::{Error, Result};
pub use experiment::{
    CaptionedFigure, Claim, ClaimKind, Experiment, Options, Report, ValidOptions,
};
pub use registry::{find, REGISTRY};
pub use runner::{run_experiments, NoProgress, Progress, RunSummary};

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
                "settle",
                "two-copies"
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
