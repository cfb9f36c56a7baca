//! The one list of experiments: `reproduce`'s names, its help text and `all` come from
//! [`REGISTRY`]. Adding an experiment: one new module, and one line here.

use crate::experiment::Experiment;
use crate::{
    deep, explicit, fig1, fig2, generalization, lemma5, lemma6, one_layer, settle_vs_sgd, theorem1,
    theorem3, two_copies,
};

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
    &two_copies::TwoCopiesExperiment,
];

/// The experiment called `name` in [`REGISTRY`].
pub fn find(name: &str) -> Option<&'static dyn Experiment> {
    REGISTRY.iter().copied().find(|e| e.name() == name)
}
