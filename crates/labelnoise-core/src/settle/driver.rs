//! The descent of [`settle`]: fit, then projected gradient descent on reg along the
//! zero-loss manifold with a retraction and an active set of pinned kinks, then the
//! `analyze` certificate (see [`super`] for the maths).

use crate::analysis::analyze;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::norm;
use crate::network::Network;
use crate::regularizer::check_compatible;
use crate::shape::network_shape_report;
use crate::stability::Verdict;
use crate::train::CancelToken;

use super::context::{first_trial_step, internal, Ctx, Point};
use super::options::{SettleOptions, ValidSettleOptions};
use super::outcome::{Event, KinkAtPoint, Outcome, SettleResult, TraceRow};
use super::pins::{Pin, PIN_RISE};

/// The bytes [`settle`] needs at most, roughly, for p parameters and n points: the
/// current and the trial point (θ, the network and its passes over the data, about
/// 4 n p values each at most), the Jacobian augmented with pinned kinks (at most 2n
/// rows) and its factorization, and the final [`analyze`].
pub fn memory_estimate(net: &Network, data: &Dataset) -> u128 {
    let (n, p) = (data.len() as u128, net.param_count() as u128);
    crate::memory::F64_BYTES * (5 * n * p + 2 * n * n + 14 * p)
}

/// Refuses a settle that cannot fit in memory, before allocating (see [`crate::memory`]).
fn check_memory(net: &Network, data: &Dataset) -> Result<()> {
    crate::memory::check_fits(
        "settle",
        &format!(
            "settling {} parameters on {} points (two points' passes, the n x p Jacobian with pinned kinks, its QR)",
            net.param_count(),
            data.len()
        ),
        memory_estimate(net, data),
    )
}

/// Moves `net` along the zero-loss manifold down reg to a non-repellent point (see the
/// module documentation), or reports where and why it could not.
///
/// Errors: nonsense options ([`Error::Parameter`]), a model and data that do not fit
/// together ([`Error::Mismatch`]), and whatever [`analyze`] reports on the data (e.g.
/// repeated x values for the 1-D shape report). Not converging is an [`Outcome`], not
/// an error.
///
/// The descent is that of paper Lemma 6 (gradient descent on reg in the null space of
/// J, eq. 1), and a `NonRepellent` end point is one of Theorem 2 (g_N = 0), certified
/// by [`analyze`]. Checked by `tests/settle.rs::wiggly_settles_to_the_fewest_kink_interpolant`,
/// `tests/settle.rs::sgd_starts_settle_to_one_reg` and
/// `tests/settle.rs::a_kink_pushed_onto_a_data_point_is_its_own_outcome`.
pub fn settle(net: &Network, data: &Dataset, opts: &SettleOptions) -> Result<SettleResult> {
    settle_with_cancel(net, data, opts, &CancelToken::new())
}

/// [`settle`], stopping at the next descent iteration once `cancel` is cancelled (from
/// another thread: Python's Ctrl-C, a closed browser session). The result is then the
/// point reached, certified by [`analyze`] like any other, with outcome
/// [`Outcome::Cancelled`]. Checked by `tests/settle.rs::a_cancelled_settle_stops_at_once`.
pub fn settle_with_cancel(
    net: &Network,
    data: &Dataset,
    opts: &SettleOptions,
    cancel: &CancelToken,
) -> Result<SettleResult> {
    let opts = &opts.check()?;
    check_compatible(net, data)?;
    check_memory(net, data)?;
    let first = descend(net, data, opts, cancel)?;
    let stall = first.network.clone();
    let first = super::smooth::continuation(first, data, opts, cancel, |from| {
        descend(from, data, opts, cancel)
    })?;
    super::escape::escape(first, &stall, data, opts, cancel, |from| {
        descend(from, data, opts, cancel)
    })
}

/// One descent from `net`: fit, descend, certify (steps 1 to 3 of the module
/// documentation), without escapes.
pub(super) fn descend(
    net: &Network,
    data: &Dataset,
    opts: &ValidSettleOptions,
    cancel: &CancelToken,
) -> Result<SettleResult> {
    let ctx = Ctx::new(net, data, opts, cancel);
    let start = ctx.evaluate(net.params())?.ok_or_else(|| {
        Error::parameter(
            "model",
            "the network's outputs or reg on the data are not finite: its weights overflow",
        )
    })?;
    let start_reg = start.reg;
    let mut trials = 0;

    // 1. Fit.
    let fitted_first = start.max_abs_residual > opts.tolerances.fit;
    let (point, fit_steps) = ctx.gauss_newton(start, &[], opts.max_fit_iter.max(1), true)?;
    if cancel.is_cancelled() || point.max_abs_residual > opts.tolerances.fit {
        let analysis = analyze(&point.net, data, &opts.analyze_options())?;
        return Ok(SettleResult {
            outcome: if cancel.is_cancelled() {
                Outcome::Cancelled
            } else {
                Outcome::FitFailed {
                    max_abs_residual: point.max_abs_residual,
                }
            },
            end_reg: point.reg,
            network: point.net,
            fitted_first,
            fit_steps,
            start_reg,
            iterations: 0,
            trials,
            trace: Vec::new(),
            analysis,
            options: opts.options().clone(),
            escapes: Vec::new(),
            smoothing: None,
        });
    }
    let fit_steps = if fitted_first { fit_steps } else { 0 };

    // 2. Descend.
    let mut pins: Vec<Pin> = Vec::new();
    let mut cur = point;
    let mut grad = cur.batch.reg_gradient(&cur.net);
    let mut g = ctx.project(&cur, &pins, &grad)?;
    let mut trace = vec![ctx.row(0, Event::Start, &cur, &grad, &g, 0.0, 0.0, 0)];
    let mut previous: Option<(Vec<f64>, Vec<f64>)> = None;
    let mut t_prev: Option<f64> = None;
    let mut stop: Option<Outcome> = None;
    let mut iterations = 0;
    while iterations < opts.max_iter {
        if cancel.is_cancelled() {
            stop = Some(Outcome::Cancelled);
            break;
        }
        // Release pins the unconstrained gradient would move away from their point.
        if !pins.is_empty() {
            let before = pins.len();
            pins = ctx.still_blocking(&cur, &pins, &grad)?;
            if pins.len() != before {
                g = ctx.project(&cur, &pins, &grad)?;
                previous = None;
                t_prev = None;
            }
        }
        let g_norm = norm(&g);
        let grad_norm = norm(&grad);
        if g_norm <= opts.tolerances.stationarity * grad_norm.max(1.0) {
            break;
        }
        // Line search along −g, starting from the Barzilai–Borwein step.
        let theta_norm = norm(&cur.theta).max(1.0);
        let mut t = first_trial_step(&cur.theta, &g, previous.as_ref(), t_prev.map(|t| 2.0 * t));
        let slack = opts.slack_ulps * f64::EPSILON * cur.reg.abs();
        let candidates_before = ctx.inactive_live_pairs(&cur, &pins);
        let mut blocking: Vec<Pin> = Vec::new();
        let mut accepted: Option<Point> = None;
        while t * g_norm > f64::EPSILON * theta_norm && !cancel.is_cancelled() {
            trials += 1;
            let trial_theta: Vec<f64> = cur.theta.iter().zip(&g).map(|(a, b)| a - t * b).collect();
            if let Some(trial) = ctx.evaluate(trial_theta)? {
                let (trial, _) = ctx.gauss_newton(trial, &pins, 30, false)?;
                let predicted = t * g_norm * g_norm;
                let ok_reg = trial.reg <= cur.reg - opts.armijo * predicted
                    || (predicted <= 100.0 * slack && trial.reg <= cur.reg + slack);
                let ok_fit =
                    trial.max_abs_residual <= opts.tolerances.fit && ctx.pins_hold(&trial, &pins);
                if ok_reg && ok_fit {
                    accepted = Some(trial);
                    break;
                }
                // Kinks this trial pushed across a data point from its inactive side.
                blocking = candidates_before
                    .iter()
                    .copied()
                    .filter(|p| ctx.preactivation(&trial, *p) > 0.0)
                    .collect();
            }
            t *= 0.5;
        }
        if cancel.is_cancelled() {
            // A trial cut short by the cancel says nothing about the descent.
            stop = Some(Outcome::Cancelled);
            break;
        }
        let step_accepted = accepted.is_some();
        let new_blocking: Vec<Pin> = match &accepted {
            // The line search failed: blame the kinks crossed by its smallest trial, or
            // failing those, the live kinks that sit (nearly) on a point.
            None if blocking.is_empty() => ctx.near_inactive(&cur, &pins),
            None => blocking,
            // With the active set, also a kink that blocked a longer trial and now sits
            // (nearly) on its point: pin it now rather than creep up to it.
            // Without it, such a kink that has crept onto its point (within `kink_tol`,
            // where `analyze` calls it non-smooth) ends the run.
            Some(next) => {
                let tol = if opts.active_set {
                    opts.kink_snap_tol
                } else {
                    opts.kink_tol
                };
                blocking
                    .into_iter()
                    .filter(|p| {
                        let off = ctx.offset(next, *p);
                        off <= 0.0 && -off <= tol
                    })
                    .collect()
            }
        };
        if let Some(next) = accepted {
            let step_norm = distance(&next.theta, &cur.theta);
            previous = Some((cur.theta.clone(), g.clone()));
            t_prev = Some(t);
            cur = next;
            grad = cur.batch.reg_gradient(&cur.net);
            g = ctx.project(&cur, &pins, &grad)?;
            iterations += 1;
            trace.push(ctx.row(
                iterations,
                Event::Step,
                &cur,
                &grad,
                &g,
                t,
                step_norm,
                pins.len(),
            ));
        }
        if new_blocking.is_empty() {
            if step_accepted {
                continue;
            }
            stop = Some(Outcome::Stalled);
            break;
        }
        if !opts.active_set {
            stop = Some(Outcome::KinkOnDataPoint {
                units: new_blocking
                    .iter()
                    .map(|p| ctx.describe(&cur, *p))
                    .collect(),
            });
            break;
        }
        // Pin the blocking kinks on their inactive side, together with every other live
        // kink as near to a point on its inactive side (the retraction onto the new
        // constraints must not push those across), and retract onto the constraints.
        let mut with: Vec<Pin> = pins.clone();
        for p in new_blocking
            .iter()
            .copied()
            .chain(ctx.near_inactive(&cur, &pins))
        {
            if !with.contains(&p) {
                with.push(p);
            }
        }
        let before = cur.theta.clone();
        let (pinned, _) = ctx.gauss_newton(
            ctx.evaluate(cur.theta.clone())?.ok_or_else(internal)?,
            &with,
            30,
            false,
        )?;
        if cancel.is_cancelled() {
            stop = Some(Outcome::Cancelled);
            break;
        }
        let slack = opts.slack_ulps * f64::EPSILON * cur.reg.abs();
        if pinned.max_abs_residual > opts.tolerances.fit
            || !ctx.pins_hold(&pinned, &with)
            || pinned.reg > cur.reg + slack.max(PIN_RISE * cur.reg.abs())
        {
            // The kinks cannot be pinned without breaking the fit or raising reg. After
            // an accepted step, go on (they may come nearer); after a failed line search
            // this is where the descent ends.
            if step_accepted {
                continue;
            }
            stop = Some(Outcome::KinkOnDataPoint {
                units: with.iter().map(|p| ctx.describe(&cur, *p)).collect(),
            });
            break;
        }
        pins = with;
        cur = pinned;
        grad = cur.batch.reg_gradient(&cur.net);
        g = ctx.project(&cur, &pins, &grad)?;
        // The steps that crept up to the kinks say nothing about the steps after.
        previous = None;
        t_prev = None;
        iterations += 1;
        let step_norm = distance(&cur.theta, &before);
        trace.push(ctx.row(
            iterations,
            Event::Pin,
            &cur,
            &grad,
            &g,
            0.0,
            step_norm,
            pins.len(),
        ));
    }

    // 3. Certify.
    let analysis = analyze(&cur.net, data, &opts.analyze_options())?;
    let outcome = match stop {
        Some(o) => o,
        None if iterations >= opts.max_iter
            && norm(&g) > opts.tolerances.stationarity * norm(&grad).max(1.0) =>
        {
            Outcome::MaxIterations
        }
        None if !pins.is_empty() => Outcome::ConstrainedStationary {
            active: pins.iter().map(|p| ctx.describe(&cur, *p)).collect(),
        },
        None if !analysis.nonsmooth.is_empty() => Outcome::KinkOnDataPoint {
            units: analysis
                .nonsmooth
                .iter()
                .map(|u| KinkAtPoint {
                    layer: u.layer,
                    unit: u.unit,
                    point: u.point,
                    x: data.x(u.point).to_vec(),
                    z: u.z,
                })
                .collect(),
        },
        None if analysis.verdict == Verdict::NonRepellent => Outcome::NonRepellent,
        None => Outcome::Stalled,
    };
    Ok(SettleResult {
        outcome,
        end_reg: cur.reg,
        network: cur.net,
        fitted_first,
        fit_steps,
        start_reg,
        iterations,
        trials,
        trace,
        analysis,
        options: opts.options().clone(),
        escapes: Vec::new(),
        smoothing: None,
    })
}

/// ||a − b||.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

impl Ctx<'_> {
    /// The trace row of an accepted move to `pt`.
    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        iteration: usize,
        event: Event,
        pt: &Point,
        grad: &[f64],
        g: &[f64],
        step_size: f64,
        step_norm: f64,
        active: usize,
    ) -> TraceRow {
        // Any 1-D relu network (one hidden layer, or deeper by the exact region walk).
        let shape = network_shape_report(&pt.net, self.data, &self.opts.shape())
            .ok()
            .flatten();
        let curve_length = shape.as_ref().map(|r| r.curve_length);
        let convexity_changes = shape.as_ref().map(|r| r.convexity_changes);
        TraceRow {
            iteration,
            event,
            reg: pt.reg,
            null_reg_grad_norm: norm(g),
            reg_grad_norm: norm(grad),
            max_abs_residual: pt.max_abs_residual,
            step_size,
            step_norm,
            active,
            curve_length,
            convexity_changes,
        }
    }
}
