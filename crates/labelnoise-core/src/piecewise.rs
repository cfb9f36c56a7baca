//! The exact piecewise-linear structure of 1-D ReLU networks of any depth.
//!
//! # The maths
//!
//! Let the network have input dimension d = 1 and hidden layers whose activations are all
//! relu or identity (docs/conventions.md#model: z_l = W_l a_{l−1} + b_l, a_l = act_l(z_l), a_0 = x,
//! h = W_out a_L + b_out + s·x). Fix an *activation pattern*: for every relu unit, whether
//! it is active (a = z) or not (a = 0). Under a fixed pattern every layer is affine, so by
//! induction every pre-activation and activation is an affine function of x:
//!
//! - a_0 = 1·x + 0, i.e. A_0 = (1), B_0 = (0);
//! - z_l = α_l x + β_l with α_l = W_l A_{l−1}, β_l = W_l B_{l−1} + b_l;
//! - a_l = D_l z_l, with D_l = diag(pattern) for relu layers and the identity otherwise,
//!   so A_l = D_l α_l, B_l = D_l β_l;
//! - f(x) = (W_out A_L + s) x + (W_out B_L + b_out).
//!
//! The pattern is constant on maximal intervals (the *regions*). [`PiecewiseLinear`] walks
//! them from left to right, never by sampling:
//!
//! 1. Left of everything (x → −∞) a relu unit with z = α x + β is active iff α < 0, or
//!    α = 0 and β > 0. The pattern is decided layer by layer, because α, β of layer l
//!    depend on the pattern of layers < l.
//! 2. Within the region that starts at t, a unit of the pattern can only change state
//!    where its own affine z crosses zero: an active unit with α < 0 or an inactive one
//!    with α > 0, at x = −β/α > t. (Every z of the pattern is valid up to the first such
//!    crossing of *any* unit, since deeper units only see earlier units through the
//!    pattern.) The next breakpoint t' is the smallest of these crossings; without one,
//!    the region extends to +∞.
//! 3. At t' the pattern just right of t' is recomputed layer by layer: a unit is active
//!    iff z(t') > 0, or z(t') = 0 and α > 0 (α in the new pattern). A unit with
//!    α = β = 0 is identically zero on the region (all its inputs are off, for example):
//!    it is inactive, which is also what relu'(0) = 0 says. Several units crossing at
//!    the same t', in the same or in different layers, are all switched there.
//!
//! "= 0" is decided up to rounding: every α, β is accompanied by the same sum over
//! absolute values (|W| |A|, |W| |B| + |b|), the scale of its rounding error, and a
//! value within [`ZERO_TOL`] of its scale counts as 0. Crossings closer than that (about
//! 1e-11 relative) are therefore one breakpoint.
//!
//! A breakpoint is a *kink* when the slope of f actually jumps there: the difference of
//! the slopes of the two neighbouring regions exceeds [`KINK_TOL`] times the scale of
//! those slopes. A unit can switch without f bending (its downstream weights are zero,
//! or its effect cancels with another unit, or it is identically zero on one side);
//! such breakpoints are region boundaries, not kinks. The *pieces* are the maximal
//! intervals between kinks, on each of which f is linear; the outer two are unbounded.
//!
//! For one hidden layer this is the paper's §4 picture (see
//! [`crate::shape::ReluUnits`]): unit i switches at −b_i/a_i and the slope jumps by
//! c_i |a_i|.

use serde::Serialize;

use crate::activation::Activation;
use crate::curve::{pieces_curve_length, Piece};
use crate::network::Network;

/// A pre-activation z = α x + β counts as zero at x when |z| ≤ `ZERO_TOL` · (|α|_abs |x| +
/// |β|_abs), its scale computed with absolute values; a slope α counts as zero when
/// |α| ≤ `ZERO_TOL` · |α|_abs.
pub const ZERO_TOL: f64 = 1e-11;

/// A breakpoint is a kink when |slope jump| > `KINK_TOL` · (the larger slope scale of its
/// two neighbouring regions, computed with absolute values).
pub const KINK_TOL: f64 = 1e-11;

/// A hidden unit: layer (0-based, hidden layers only) and index within the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct UnitRef {
    /// Hidden layer, 0-based.
    pub layer: usize,
    /// Unit within the layer.
    pub unit: usize,
}

/// One unit changing state at a breakpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// The unit.
    pub unit: UnitRef,
    /// `true` when it turns on (inactive left, active right).
    pub on: bool,
}

/// A boundary between two regions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breakpoint {
    /// Where.
    pub x: f64,
    /// Slope of f on the region to the left.
    pub slope_left: f64,
    /// Slope of f on the region to the right.
    pub slope_right: f64,
    /// `slope_right − slope_left`.
    pub jump: f64,
    /// Whether the slope jumps here (see the module documentation).
    pub kink: bool,
    /// The units that change state here, sorted by (layer, unit).
    pub switches: Vec<Switch>,
}

/// A maximal interval of constant activation pattern, on which f(x) = slope·x + intercept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Region {
    /// Left end, `None` for −∞.
    pub from: Option<f64>,
    /// Right end, `None` for +∞.
    pub to: Option<f64>,
    /// f' on the region.
    pub slope: f64,
    /// f(0) of the affine function f is on this region.
    pub intercept: f64,
    /// The same slope summed over absolute values (the scale of its rounding error).
    pub slope_scale: f64,
    /// Number of active relu units.
    pub active: usize,
}

/// The exact piecewise-linear form of a 1-D relu network (module documentation).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PiecewiseLinear {
    regions: Vec<Region>,
    breakpoints: Vec<Breakpoint>,
}

/// One hidden or output layer, as the walk needs it.
struct Lin<'a> {
    in_dim: usize,
    out_dim: usize,
    weight: &'a [f64],
    bias: Option<&'a [f64]>,
    relu: bool,
}

/// α, β and their absolute-value scales for every unit of a layer.
#[derive(Clone, Default)]
struct LayerForms {
    alpha: Vec<f64>,
    beta: Vec<f64>,
    m_alpha: Vec<f64>,
    m_beta: Vec<f64>,
    active: Vec<bool>,
}

/// The state of one region: the forms of every hidden layer and f's affine form.
struct State {
    layers: Vec<LayerForms>,
    slope: f64,
    intercept: f64,
    slope_scale: f64,
}

struct Walker<'a> {
    hidden: Vec<Lin<'a>>,
    out: Lin<'a>,
    skip: f64,
}

impl Walker<'_> {
    /// The pattern just right of `t` (`None`: −∞), decided layer by layer.
    fn state_at(&self, t: Option<f64>) -> State {
        let (mut a, mut b, mut ma, mut mb) = (vec![1.0], vec![0.0], vec![1.0], vec![0.0]);
        let mut layers = Vec::with_capacity(self.hidden.len());
        for layer in &self.hidden {
            let mut f = LayerForms::default();
            for u in 0..layer.out_dim {
                let (al, be, mal, mbe) = form(layer, u, &a, &b, &ma, &mb);
                let on = !layer.relu || active_right_of(t, al, be, mal, mbe);
                f.alpha.push(al);
                f.beta.push(be);
                f.m_alpha.push(mal);
                f.m_beta.push(mbe);
                f.active.push(on);
            }
            let keep = |v: &[f64]| -> Vec<f64> {
                v.iter()
                    .zip(&f.active)
                    .map(|(&x, &on)| if on { x } else { 0.0 })
                    .collect()
            };
            (a, b, ma, mb) = (
                keep(&f.alpha),
                keep(&f.beta),
                keep(&f.m_alpha),
                keep(&f.m_beta),
            );
            layers.push(f);
        }
        let (al, be, mal, _) = form(&self.out, 0, &a, &b, &ma, &mb);
        State {
            layers,
            slope: al + self.skip,
            intercept: be,
            slope_scale: mal + self.skip.abs(),
        }
    }

    /// The smallest crossing beyond `t` of a unit of the pattern of `s`.
    fn next_crossing(&self, s: &State, t: Option<f64>) -> Option<f64> {
        let mut best: Option<f64> = None;
        for (layer, f) in self.hidden.iter().zip(&s.layers) {
            if !layer.relu {
                continue;
            }
            for u in 0..layer.out_dim {
                let al = f.alpha[u];
                if al.abs() <= ZERO_TOL * f.m_alpha[u] {
                    continue;
                }
                if f.active[u] != (al < 0.0) {
                    continue;
                }
                // `+ 0.0` turns a crossing at −0 into 0.
                let r = -f.beta[u] / al + 0.0;
                if r.is_finite() && t.is_none_or(|t| r > t) && best.is_none_or(|b| r < b) {
                    best = Some(r);
                }
            }
        }
        best
    }
}

/// The walk's view of a layer, `None` unless relu or identity.
fn lin_of(l: &crate::network::Layer) -> Option<Lin<'_>> {
    let relu = match l.activation {
        Activation::Relu => true,
        Activation::Identity => false,
        _ => return None,
    };
    Some(Lin {
        in_dim: l.in_dim,
        out_dim: l.out_dim,
        weight: &l.weight,
        bias: l.bias.as_deref(),
        relu,
    })
}

/// α = W_u·A, β = W_u·B + b_u and their scales |W_u|·|A|, |W_u|·|B| + |b_u|.
fn form(
    layer: &Lin<'_>,
    u: usize,
    a: &[f64],
    b: &[f64],
    ma: &[f64],
    mb: &[f64],
) -> (f64, f64, f64, f64) {
    let row = &layer.weight[u * layer.in_dim..(u + 1) * layer.in_dim];
    let bias = layer.bias.map_or(0.0, |v| v[u]);
    let (mut al, mut be, mut mal, mut mbe) = (0.0, bias, 0.0, bias.abs());
    for (k, &w) in row.iter().enumerate() {
        al += w * a[k];
        be += w * b[k];
        mal += w.abs() * ma[k];
        mbe += w.abs() * mb[k];
    }
    (al, be, mal, mbe)
}

/// Whether z = α x + β is positive just right of `t` (for `None`: as x → −∞).
fn active_right_of(t: Option<f64>, al: f64, be: f64, mal: f64, mbe: f64) -> bool {
    let al = if al.abs() <= ZERO_TOL * mal { 0.0 } else { al };
    match t {
        None => {
            if al != 0.0 {
                al < 0.0
            } else {
                be > ZERO_TOL * mbe
            }
        }
        Some(t) => {
            let z = al * t + be;
            let tol = ZERO_TOL * (mal * t.abs() + mbe);
            if z > tol {
                true
            } else if z < -tol {
                false
            } else {
                al > 0.0
            }
        }
    }
}

impl PiecewiseLinear {
    /// The piecewise-linear form of `net`, or `None` unless `net` has input dimension 1
    /// and every hidden layer is relu or identity. Missing biases and a missing skip unit
    /// are 0; frozen or trainable makes no difference to the function.
    ///
    /// The walk costs about one pass over the hidden weights per region, and a deep
    /// wide network can have very many regions (a random 1→1000→1000→1000 network has
    /// tens of thousands): see [`from_network_within`](Self::from_network_within) for a
    /// bounded walk.
    pub fn from_network(net: &Network) -> Option<Self> {
        Self::from_network_within(net, f64::INFINITY).and_then(Result::ok)
    }

    /// [`from_network`](Self::from_network) that gives up once the walk has cost more
    /// than `max_work` (regions walked × weights of the hidden layers): `Some(Err(n))`
    /// then, where `n` is the number of regions walked when it stopped. Checked by
    /// `tests/piecewise.rs::a_bounded_walk_gives_up_on_a_wide_deep_network`.
    pub fn from_network_within(net: &Network, max_work: f64) -> Option<Result<Self, usize>> {
        if net.input_dim() != 1 {
            return None;
        }
        let lin = lin_of;
        let hidden = net
            .hidden_layers()
            .iter()
            .map(lin)
            .collect::<Option<Vec<_>>>()?;
        let out = lin(net.output_layer())?;
        let skip = net
            .skip()
            .and_then(|s| s.weight.first().copied())
            .unwrap_or(0.0);
        let weights: usize = hidden.iter().map(|l| l.weight.len() + l.out_dim).sum();
        let max_regions = max_work / weights.max(1) as f64;
        Some(Self::walk(&Walker { hidden, out, skip }, max_regions))
    }

    /// Whether `net` is a network [`from_network`](Self::from_network) accepts that has
    /// at least one relu layer (a "1-D relu network").
    pub fn applies_to(net: &Network) -> bool {
        net.input_dim() == 1
            && net
                .hidden_layers()
                .iter()
                .all(|l| matches!(l.activation, Activation::Relu | Activation::Identity))
            && net
                .hidden_layers()
                .iter()
                .any(|l| l.activation == Activation::Relu)
    }

    fn walk(w: &Walker<'_>, max_regions: f64) -> Result<Self, usize> {
        let mut regions = Vec::new();
        let mut breakpoints = Vec::new();
        let mut t = None;
        let mut state = w.state_at(None);
        loop {
            let next = w.next_crossing(&state, t);
            regions.push(Region {
                from: t,
                to: next,
                slope: state.slope,
                intercept: state.intercept,
                slope_scale: state.slope_scale,
                active: state
                    .layers
                    .iter()
                    .zip(&w.hidden)
                    .filter(|(_, l)| l.relu)
                    .map(|(f, _)| f.active.iter().filter(|&&on| on).count())
                    .sum(),
            });
            let Some(x) = next else { break };
            if regions.len() as f64 >= max_regions {
                return Err(regions.len());
            }
            let new = w.state_at(Some(x));
            let mut switches = Vec::new();
            for (layer, (old, now)) in state.layers.iter().zip(&new.layers).enumerate() {
                for (unit, (&o, &n)) in old.active.iter().zip(&now.active).enumerate() {
                    if o != n {
                        switches.push(Switch {
                            unit: UnitRef { layer, unit },
                            on: n,
                        });
                    }
                }
            }
            let jump = new.slope - state.slope;
            let scale = new.slope_scale.max(state.slope_scale);
            breakpoints.push(Breakpoint {
                x,
                slope_left: state.slope,
                slope_right: new.slope,
                jump,
                kink: jump.abs() > KINK_TOL * scale,
                switches,
            });
            state = new;
            t = Some(x);
        }
        Ok(PiecewiseLinear {
            regions,
            breakpoints,
        })
    }

    /// The regions (maximal intervals of constant activation pattern), left to right.
    /// There is one more region than there are breakpoints.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The boundaries between regions, left to right: every x where a unit switches.
    pub fn breakpoints(&self) -> &[Breakpoint] {
        &self.breakpoints
    }

    /// The breakpoints where the slope jumps, left to right.
    pub fn kinks(&self) -> impl Iterator<Item = &Breakpoint> + '_ {
        self.breakpoints.iter().filter(|b| b.kink)
    }

    /// The maximal linear pieces of f (regions merged across breakpoints that are not
    /// kinks), left to right; the outer two are unbounded. Each piece has the slope of
    /// its leftmost region (the regions it merges agree up to rounding), and there is
    /// one more piece than there are kinks.
    pub fn pieces(&self) -> Vec<Piece> {
        let mut pieces = Vec::with_capacity(self.regions.len());
        let mut current = Piece {
            from: None,
            to: None,
            slope: self.regions[0].slope,
        };
        for (b, right) in self.breakpoints.iter().zip(&self.regions[1..]) {
            if b.kink {
                current.to = Some(b.x);
                pieces.push(current);
                current = Piece {
                    from: Some(b.x),
                    to: None,
                    slope: right.slope,
                };
            }
        }
        pieces.push(current);
        pieces
    }

    /// The index of the region containing `x` (at a breakpoint, the region to its left).
    pub fn region_index(&self, x: f64) -> usize {
        self.breakpoints.partition_point(|b| b.x < x)
    }

    /// f(x), from the affine form of the region containing x.
    pub fn eval(&self, x: f64) -> f64 {
        let r = &self.regions[self.region_index(x)];
        r.slope * x + r.intercept
    }

    /// f'(x) inside a region; at a breakpoint, the slope to its left.
    pub fn slope_at(&self, x: f64) -> f64 {
        self.regions[self.region_index(x)].slope
    }

    /// The exact curve length ∫_lo^hi sqrt(1 + f'(x)²) dx (0 when hi ≤ lo), the curve
    /// length of the Theorem 1 report, summed over [`Self::pieces`] by
    /// [`pieces_curve_length`]. Checked against the adaptive [`crate::curve::curve_length_of`]
    /// by `tests/piecewise.rs::slopes_equal_finite_differences_and_jumps_their_differences`.
    pub fn curve_length(&self, lo: f64, hi: f64) -> f64 {
        pieces_curve_length(&self.pieces(), lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Layer, Skip};

    fn layer(
        in_dim: usize,
        out_dim: usize,
        w: &[f64],
        b: Option<&[f64]>,
        act: Activation,
    ) -> Layer {
        Layer {
            in_dim,
            out_dim,
            weight: w.to_vec(),
            bias: b.map(<[f64]>::to_vec),
            activation: act,
            trainable: true,
        }
    }

    #[test]
    fn identically_zero_unit_and_coinciding_crossings() {
        // Layer 1: relu(x), relu(−x), relu(x) (duplicate). Layer 2: unit 0 = relu(u0 −
        // u1) = relu(x), unit 1 = relu(−u0) ≡ 0 (inputs ≥ 0), unit 2 = relu(u0 + u2 − 1)
        // = relu(2x − 1). Output: u0' + u1' + 3 u2' + 0.5 x.
        let net = Network::new(
            1,
            vec![
                layer(1, 3, &[1.0, -1.0, 1.0], None, Activation::Relu),
                layer(
                    3,
                    3,
                    &[1.0, -1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
                    Some(&[0.0, 0.0, -1.0]),
                    Activation::Relu,
                ),
                layer(3, 1, &[1.0, 1.0, 3.0], None, Activation::Identity),
            ],
            Some(Skip {
                weight: vec![0.5],
                trainable: true,
            }),
            "t",
        )
        .unwrap();
        let pw = PiecewiseLinear::from_network(&net).unwrap();
        let xs: Vec<f64> = pw.breakpoints().iter().map(|b| b.x).collect();
        assert_eq!(xs, vec![0.0, 0.5]);
        let k: Vec<f64> = pw.kinks().map(|b| b.x).collect();
        assert_eq!(k, vec![0.0, 0.5]);
        let slopes: Vec<f64> = pw.pieces().iter().map(|p| p.slope).collect();
        assert_eq!(slopes, vec![0.5, 1.5, 7.5]);
        // At 0: layer-1 units 0, 1 (off), 2 and layer-2 unit 0 switch; unit (1, 1)
        // never does.
        let sw: Vec<(usize, usize, bool)> = pw.breakpoints()[0]
            .switches
            .iter()
            .map(|s| (s.unit.layer, s.unit.unit, s.on))
            .collect();
        assert_eq!(
            sw,
            vec![(0, 0, true), (0, 1, false), (0, 2, true), (1, 0, true)]
        );
        for x in [-2.0, -0.1, 0.0, 0.3, 0.5, 0.7, 4.0] {
            assert!((pw.eval(x) - net.eval(&[x])).abs() < 1e-14, "{x}");
        }
    }
}
