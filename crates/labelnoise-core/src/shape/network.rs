//! The Theorem 1 shape report of 1-D ReLU networks of any depth: one hidden layer in
//! closed form ([`ReluUnits`]), deeper ones from the exact region walk
//! ([`PiecewiseLinear`]).

use crate::data::Dataset;
use crate::error::Result;
use crate::network::Network;
use crate::piecewise::PiecewiseLinear;

use super::one_layer::{shape_report, ReluUnits};
use super::report::{check_options, report_from_parts, Kink, ShapeOptions, ShapeReport};

/// The Theorem 1 shape report of a deep (or shallow) 1-D relu network in its exact
/// piecewise-linear form, with the rules of [`shape_report`].
///
/// The kinks are the breakpoints of `f` where the slope jumps
/// ([`PiecewiseLinear::kinks`]); their jump is the difference of the neighbouring
/// pieces' slopes, their `layer_units` the units that switch there. Breakpoints where
/// units switch but the slope does not change are not kinks. Errors as for
/// [`shape_report`] (without the units).
///
/// Paper Theorem 1's quantities, for the §1.1 conjecture on deeper networks; checked by
/// `tests/piecewise.rs::slopes_equal_finite_differences_and_jumps_their_differences`
/// and `tests/piecewise.rs::one_hidden_layer_agrees_with_relu_units`.
pub fn piecewise_shape_report(
    f: &PiecewiseLinear,
    data: &Dataset,
    opts: &ShapeOptions,
) -> Result<ShapeReport> {
    check_options(opts)?;
    let pieces = f.pieces();
    let kinks = f
        .kinks()
        .zip(pieces.windows(2))
        .map(|(b, w)| {
            let mut layer_units: Vec<[usize; 2]> = b
                .switches
                .iter()
                .map(|s| [s.unit.layer, s.unit.unit])
                .collect();
            layer_units.sort_unstable();
            Kink {
                x: b.x,
                jump: w[1].slope - w[0].slope,
                units: layer_units
                    .iter()
                    .filter(|lu| lu[0] == 0)
                    .map(|lu| lu[1])
                    .collect(),
                layer_units,
                data_point: None,
            }
        })
        .collect();
    report_from_parts(kinks, pieces, &|x| f.eval(x), data, opts)
}

/// The Theorem 1 shape report of any 1-D network whose hidden layers are relu or
/// identity, with at least one relu layer; `Ok(None)` for other networks, and for a
/// deep network whose exact walk would cost more than `opts.max_walk_work` (default
/// [`super::MAX_SHAPE_WORK`]; so that a metrics row, `analyze` or a browser frame never stalls
/// on it).
///
/// One hidden relu layer goes through [`ReluUnits`] and [`shape_report`] (the paper's
/// f(x) = Σ c_i relu(a_i x + b_i) + s x + b, kinks per unit); anything deeper through
/// [`PiecewiseLinear`] and [`piecewise_shape_report`]. Checked by
/// `tests/piecewise.rs::one_hidden_layer_agrees_with_relu_units` and
/// `tests/piecewise.rs::hand_built_depth3_has_known_kinks`.
pub fn network_shape_report(
    net: &Network,
    data: &Dataset,
    opts: &ShapeOptions,
) -> Result<Option<ShapeReport>> {
    if let Some(units) = ReluUnits::from_network(net) {
        return shape_report(&units, data, opts).map(Some);
    }
    if !PiecewiseLinear::applies_to(net) {
        return Ok(None);
    }
    match PiecewiseLinear::from_network_within(net, opts.max_walk_work) {
        Some(Ok(f)) => piecewise_shape_report(&f, data, opts).map(Some),
        Some(Err(_)) | None => Ok(None),
    }
}
