//! Escapes from non-smooth stalls by label-noise SGD bursts (issue 16).
//!
//! Where live ReLU kinks sit on data points, reg jumps by c²(1 + x_i²)/n when a kink
//! crosses x_i, and the smooth descent of [`super`] stops there: pinned
//! ([`Outcome::ConstrainedStationary`]), blocked ([`Outcome::KinkOnDataPoint`]) or
//! [`Outcome::Stalled`]. Label-noise SGD does not stop there: its jitter of size
//! O(√(η σ²)) around M smooths reg over that width, so stacked kinks leave the point
//! together and the function reorganises. An escape round does exactly that, briefly:
//!
//! 1. from the first descent's stall (round 1) or the best end point so far (later
//!    rounds), run label-noise SGD for `escape_time` slow-phase
//!    time units, i.e. ⌈`escape_time` / (η² σ²)⌉ steps with η = `escape_lr` and
//!    σ = `escape_noise` (Rademacher noise, batch 1, seed `escape_seed` + round);
//! 2. descend again from where the burst ended (fit by Gauss–Newton, then the projected
//!    descent with its active set, then the `analyze` certificate);
//! 3. keep that end point when its exact reg is below the best by more than
//!    `escape_gain` (relative), else keep the best.
//!
//! Rounds go on while the best end point is a non-smooth stall, up to `escape_rounds`
//! rounds, and stop after `escape_patience` rounds in a row that gained nothing. A burst
//! that diverges is recorded, its η halved for the next round, and the best point kept.
//! The result is always an end point of a descent with its own certificate and outcome:
//! an escape never turns a stall into a claim it cannot back.

use crate::data::Dataset;
use crate::error::Result;
use crate::network::Network;
use crate::regularizer::reg;
use crate::train::{CancelToken, RunStatus, TrainConfig, Trainer};

use super::options::ValidSettleOptions;
use super::outcome::{EscapeRound, Outcome, SettleResult};

/// SGD steps between two looks at the cancel token.
const CHUNK: u64 = 5_000;

/// Whether `outcome` is a stall at a non-smooth point that a burst may leave.
pub(super) fn is_nonsmooth_stall(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::ConstrainedStationary { .. } | Outcome::KinkOnDataPoint { .. } | Outcome::Stalled
    )
}

/// The number of burst steps for `time` slow-phase units at η = `lr`, σ = `noise`.
pub(super) fn burst_steps(time: f64, lr: f64, noise: f64) -> u64 {
    let steps = (time / (lr * lr * noise * noise)).ceil();
    if steps.is_finite() && steps >= 1.0 {
        steps.min(u64::MAX as f64) as u64
    } else {
        1
    }
}

/// The escape rounds after the first descent `first` (module documentation); `descend`
/// runs one descent from a network.
pub(super) fn escape(
    first: SettleResult,
    stall: &Network,
    data: &Dataset,
    opts: &ValidSettleOptions,
    cancel: &CancelToken,
    descend: impl Fn(&Network) -> Result<SettleResult>,
) -> Result<SettleResult> {
    let start_reg = first.start_reg;
    let smoothing = first.smoothing.clone();
    let (fitted_first, fit_steps) = (first.fitted_first, first.fit_steps);
    let mut best = first;
    let mut rounds: Vec<EscapeRound> = Vec::new();
    let mut lr = opts.escape_lr;
    let mut idle = 0;
    for round in 1..=opts.escape_rounds {
        if cancel.is_cancelled() || !is_nonsmooth_stall(&best.outcome) {
            break;
        }
        if idle >= opts.escape_patience {
            break;
        }
        let steps = burst_steps(opts.escape_time, lr, opts.escape_noise);
        // The first burst leaves from the first descent's stall, the others from the
        // best end point so far (measured: a burst from the stall and the smoothing
        // continuation succeed on different starts, so neither should hide the other).
        let from = if round == 1 { stall } else { &best.network };
        let cfg = TrainConfig {
            lr,
            steps,
            noise: opts.escape_noise,
            seed: opts.escape_seed.wrapping_add(round as u64),
            log_points: 2,
            ..TrainConfig::default()
        }
        .check(from, data)?;
        let mut trainer = Trainer::new(from.clone(), data.clone(), cfg);
        let mut diverged = false;
        while trainer.step() < steps && !cancel.is_cancelled() {
            let next = (trainer.step() + CHUNK).min(steps);
            if let RunStatus::Diverged { .. } = trainer.run_until(next) {
                diverged = true;
                break;
            }
        }
        if cancel.is_cancelled() {
            break;
        }
        if diverged {
            rounds.push(EscapeRound {
                round,
                lr,
                steps: trainer.step(),
                diverged: true,
                burst_reg: None,
                settled_reg: None,
                outcome: None,
                accepted: false,
            });
            lr *= 0.5;
            idle += 1;
            continue;
        }
        let burst = trainer.network();
        let burst_reg = reg(&burst, data).ok().filter(|r| r.is_finite());
        let next = descend(&burst)?;
        if next.outcome == Outcome::Cancelled {
            break;
        }
        let accepted = matches!(
            next.outcome,
            Outcome::NonRepellent
                | Outcome::ConstrainedStationary { .. }
                | Outcome::KinkOnDataPoint { .. }
                | Outcome::Stalled
        ) && next.end_reg < best.end_reg * (1.0 - opts.escape_gain);
        rounds.push(EscapeRound {
            round,
            lr,
            steps,
            diverged: false,
            burst_reg,
            settled_reg: Some(next.end_reg),
            outcome: Some(next.outcome.name().to_string()),
            accepted,
        });
        if accepted {
            best = next;
            idle = 0;
        } else {
            idle += 1;
        }
    }
    best.start_reg = start_reg;
    best.fitted_first = fitted_first;
    best.fit_steps = fit_steps;
    best.escapes = rounds;
    best.smoothing = smoothing;
    if cancel.is_cancelled() {
        // Stopped from outside during a remedy: the best point so far, said as such.
        best.outcome = Outcome::Cancelled;
    }
    Ok(best)
}
