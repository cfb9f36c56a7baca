//! What a run returns ([`RunOutcome`]) and what its `summary.json` holds ([`Summary`]).

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::Checkpoint;
use crate::network::Network;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    /// Every step was done.
    Finished,
    /// The run diverged; its results are the last finite state.
    Diverged,
    /// A [`CancelToken`](super::run::CancelToken) stopped it; it can be resumed from its checkpoint.
    Cancelled,
}

/// What `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Steps done (the step of the last finite state if the run diverged).
    pub steps: u64,
    /// Whether the run diverged.
    pub diverged: bool,
    /// The step at which divergence was detected.
    pub diverged_at: Option<u64>,
    /// Whether the run was stopped on request before its last step.
    #[serde(default)]
    pub cancelled: bool,
    /// The kernel that ran the steps (`fused` or `general`).
    pub kernel: String,
    /// SGD steps per second of training-loop time (metrics and writing excluded).
    pub steps_per_second: f64,
    /// Wall time of the whole run in seconds (metrics and writing included).
    pub wall_seconds: f64,
    /// The metrics of the final model.
    pub final_metrics: Metrics,
}

impl Summary {
    /// How the run ended.
    pub fn ending(&self) -> Ending {
        if self.diverged {
            Ending::Diverged
        } else if self.cancelled {
            Ending::Cancelled
        } else {
            Ending::Finished
        }
    }
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// The final network: the last finite state if the run diverged.
    pub network: Network,
    /// The metrics rows, in step order (the last one is the final network's when the
    /// run finished).
    pub metrics: Vec<Metrics>,
    /// Steps, speed, divergence and the final metrics.
    pub summary: Summary,
    /// The state of the final network, from which the run can be continued.
    pub checkpoint: Checkpoint,
}
