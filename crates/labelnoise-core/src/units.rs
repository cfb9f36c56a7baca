//! The Theorem 3 unit classes of 2-layer tanh / logistic networks on one point
//! (docs/conventions.md#theorem-3, paper Appendix B).
//!
//! For a network f(x) = Σ_i c_i σ(w_iᵀx + b_i) with one hidden layer (σ = tanh or the
//! logistic function) trained on a single point x, write h_i = σ(w_iᵀx + b_i) for the
//! value of hidden unit i and o_i = c_i h_i for its share of the output. Theorem 3:
//! at a non-repellent θ there are α_1, β_1, α_2, β_2 such that every unit has
//! (c_i, h_i) = (α_1, β_1), (α_2, β_2), or c_i = h_i = 0; for tanh, α_2 = −α_1 and
//! β_2 = −β_1 (Propositions B.1 and B.2).
//!
//! [`unit_report`] groups the units of a given θ into these classes within a
//! tolerance. [`logistic_stationary_h`] and [`tanh_stationary_h_sq`] are the paper's
//! closed forms (eqs. 18 and 20) of the value h_i that a unit with output o_i takes at
//! a non-repellent point. The output bias and a skip unit, which the paper's network
//! does not have, play no part.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;

/// The tolerance of [`unit_report`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnitOptions {
    /// Values h agree when they differ by at most `tol`; values c when they differ by
    /// at most `tol · max(1, max_i |c_i|)`. Default 1e-3.
    pub tol: f64,
}

impl Default for UnitOptions {
    fn default() -> Self {
        UnitOptions { tol: 1e-3 }
    }
}

/// One class of live units that share (c, h) within the tolerance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitClass {
    /// The mean c_i of the members.
    pub c: f64,
    /// The mean h_i of the members.
    pub h: f64,
    /// The members, ascending.
    pub units: Vec<usize>,
}

/// The Theorem 3 report (docs/conventions.md#theorem-3).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitReport {
    /// The hidden activation, tanh or logistic.
    pub activation: Activation,
    /// The tolerance used (`UnitOptions::tol`).
    pub tolerance: f64,
    /// c_i, the output weight of every hidden unit.
    pub c: Vec<f64>,
    /// h_i = σ(w_iᵀx + b_i) of every hidden unit on the data point.
    pub h: Vec<f64>,
    /// The classes of live units, ordered by their smallest member.
    pub classes: Vec<UnitClass>,
    /// The dead units, c_i = h_i = 0 within the tolerance, ascending.
    pub dead: Vec<usize>,
    /// The verdict: at most two classes, and for tanh with two classes, the class
    /// values are (α, β) and (−α, −β) within the tolerance.
    pub theorem3: bool,
}

/// The Theorem 3 unit classes of `net` on `data`.
///
/// Applies when `net` has exactly one hidden layer, with the tanh or logistic
/// activation, and `data` has exactly one point x; otherwise `Ok(None)`. With
/// scale_c = max(1, max_i |c_i|) and τ = `opts.tol`:
///
/// - unit i is dead when |c_i| ≤ τ·scale_c and |h_i| ≤ τ;
/// - live units i, j are linked when |c_i − c_j| ≤ τ·scale_c and |h_i − h_j| ≤ τ,
///   and the classes are the connected components of this relation (single linkage,
///   so they do not depend on the order of the units); a class's value is the mean
///   (c, h) of its members;
/// - Theorem 3 holds when there are at most two classes and, for tanh with two
///   classes (c', h'), (c'', h''): |c' + c''| ≤ τ·scale_c and |h' + h''| ≤ τ.
///
/// Dead units are not a class, for logistic networks too (there h_i > 0, so a dead
/// unit is one whose h_i is below τ, the limit o_i → 0 of eq. 18).
///
/// This is the classification of Theorem 3 (Propositions B.1 and B.2 of the paper's
/// Appendix B). Checked by `tests::tanh_opposite_pair_with_dead_units_satisfies_theorem3`,
/// `tests::three_live_classes_fail`, `tests::tanh_needs_opposite_classes_logistic_does_not`,
/// `tests::classes_merge_transitively_whatever_the_order` and
/// `tests::other_networks_and_data_are_not_applicable`.
///
/// Errors: a tolerance that is NaN, infinite or negative ([`Error::Parameter`]);
/// data whose dimension is not the network's input dimension ([`Error::Mismatch`]).
pub fn unit_report(
    net: &Network,
    data: &Dataset,
    opts: &UnitOptions,
) -> Result<Option<UnitReport>> {
    let tol = opts.tol;
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(Error::parameter(
            "tol",
            format!("must be a finite number >= 0, found {tol}"),
        ));
    }
    if data.dim() != net.input_dim() {
        return Err(Error::Mismatch {
            message: format!(
                "the network takes {}-D inputs but the data are {}-D",
                net.input_dim(),
                data.dim()
            ),
        });
    }
    let [hidden] = net.hidden_layers() else {
        return Ok(None);
    };
    let activation = hidden.activation;
    if !matches!(activation, Activation::Tanh | Activation::Logistic) || data.len() != 1 {
        return Ok(None);
    }
    let x = data.x(0);
    let h: Vec<f64> = (0..hidden.out_dim)
        .map(|i| {
            let bias = hidden.bias.as_ref().map_or(0.0, |b| b[i]);
            activation.value(crate::kernels::dot(hidden.row(i), x) + bias)
        })
        .collect();
    let c = net.output_layer().weight.clone();
    let tol_c = tol * c.iter().fold(1.0f64, |m, v| m.max(v.abs()));

    let (dead, live): (Vec<usize>, Vec<usize>) =
        (0..h.len()).partition(|&i| c[i].abs() <= tol_c && h[i].abs() <= tol);
    let classes = link(&live, &c, &h, tol_c, tol);
    let theorem3 = match classes.as_slice() {
        [] | [_] => true,
        [p, q] => {
            activation == Activation::Logistic
                || ((p.c + q.c).abs() <= tol_c && (p.h + q.h).abs() <= tol)
        }
        _ => false,
    };
    Ok(Some(UnitReport {
        activation,
        tolerance: tol,
        c,
        h,
        classes,
        dead,
        theorem3,
    }))
}

/// The single-linkage classes of the units `live`: i and j are linked when
/// |c_i − c_j| ≤ `tol_c` and |h_i − h_j| ≤ `tol_h`.
fn link(live: &[usize], c: &[f64], h: &[f64], tol_c: f64, tol_h: f64) -> Vec<UnitClass> {
    // Union-find over positions in `by_c`, the live units sorted by c, so that each
    // unit only needs comparing with the units after it until c is too far off.
    let mut by_c = live.to_vec();
    by_c.sort_by(|&i, &j| c[i].total_cmp(&c[j]));
    let mut parent: Vec<usize> = (0..by_c.len()).collect();
    fn root(parent: &mut [usize], mut k: usize) -> usize {
        while parent[k] != k {
            parent[k] = parent[parent[k]];
            k = parent[k];
        }
        k
    }
    for (p, &i) in by_c.iter().enumerate() {
        for (q, &j) in by_c.iter().enumerate().skip(p + 1) {
            if c[j] - c[i] > tol_c {
                break;
            }
            if (h[j] - h[i]).abs() <= tol_h {
                let (rp, rq) = (root(&mut parent, p), root(&mut parent, q));
                parent[rp.max(rq)] = rp.min(rq);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (p, &i) in by_c.iter().enumerate() {
        let r = root(&mut parent, p);
        groups.entry(r).or_default().push(i);
    }
    let mut classes: Vec<UnitClass> = groups
        .into_values()
        .map(|mut units| {
            units.sort_unstable();
            let n = units.len() as f64;
            UnitClass {
                c: units.iter().map(|&i| c[i]).sum::<f64>() / n,
                h: units.iter().map(|&i| h[i]).sum::<f64>() / n,
                units,
            }
        })
        .collect();
    classes.sort_by_key(|class| class.units[0]);
    classes
}

/// The value h of a logistic unit with output o = c·h at a non-repellent point, eq. 18:
/// h = o²‖x‖² / (1 + o²‖x‖²).
///
/// It is where ∂R/∂h = 2h + 2(h − 1)o²‖x‖² vanishes, R = Σ_i [h_i² + o_i²(1 − h_i)²‖x‖²]
/// being the implicit regularizer at fixed outputs (eq. 17). Tends to 1 as o²‖x‖² → ∞.
///
/// Checked by `tests::closed_forms_of_eqs_18_and_20` (values, and that it zeroes and
/// minimizes eq. 17 along h) and `tests/paper.rs::appendix_b_regularizer_formulas`.
pub fn logistic_stationary_h(o: f64, x_norm: f64) -> f64 {
    let t = (o * x_norm).powi(2);
    if t.is_infinite() {
        1.0
    } else {
        t / (1.0 + t)
    }
}

/// The square h² of the value of a tanh unit with output o = c·h at a non-repellent
/// point, eq. 20: h² = sqrt(o²‖x‖² / (o²‖x‖² + 1)).
///
/// It is where ∂R/∂h = (2h⁴ + 2h⁴o²‖x‖² − 2o²‖x‖²)/h³ vanishes, i.e.
/// h⁴ (1 + o²‖x‖²) = o²‖x‖², R = Σ_i [h_i² + (o_i²/h_i²)(1 − h_i²)²‖x‖²] being the
/// implicit regularizer at fixed outputs (eq. 19). Tends to 1 as o²‖x‖² → ∞.
///
/// Checked by `tests::closed_forms_of_eqs_18_and_20` (values, and that it zeroes and
/// minimizes eq. 19 along h²).
pub fn tanh_stationary_h_sq(o: f64, x_norm: f64) -> f64 {
    logistic_stationary_h(o, x_norm).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Architecture, Layer, Skip};

    /// A network on x = (1, 0) whose unit i has output weight cs[i] and value hs[i]:
    /// its first input weight is σ⁻¹(h_i) (the second multiplies x's zero coordinate).
    fn net(act: Activation, cs: &[f64], hs: &[f64]) -> Network {
        let inverse = |h: f64| match act {
            Activation::Tanh => h.atanh(),
            _ => (h / (1.0 - h)).ln(),
        };
        let weight = hs.iter().flat_map(|&h| [inverse(h), 7.0]).collect();
        Network::new(
            2,
            vec![
                Layer {
                    in_dim: 2,
                    out_dim: hs.len(),
                    weight,
                    bias: None,
                    activation: act,
                    trainable: true,
                },
                Layer {
                    in_dim: hs.len(),
                    out_dim: 1,
                    weight: cs.to_vec(),
                    bias: Some(vec![0.3]),
                    activation: Activation::Identity,
                    trainable: true,
                },
            ],
            Some(Skip {
                weight: vec![1.0, 2.0],
                trainable: false,
            }),
            "test",
        )
        .unwrap()
    }

    fn point() -> Dataset {
        Dataset::new(2, vec![1.0, 0.0], vec![0.5], "test").unwrap()
    }

    fn report(net: &Network) -> UnitReport {
        unit_report(net, &point(), &UnitOptions::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn tanh_opposite_pair_with_dead_units_satisfies_theorem3() {
        let r = report(&net(
            Activation::Tanh,
            &[0.8, -0.8, 0.0, 0.8, 1e-5],
            &[0.5, -0.5, 0.0, 0.5, -2e-4],
        ));
        assert_eq!(r.activation, Activation::Tanh);
        assert_eq!(r.dead, vec![2, 4]);
        assert_eq!(r.classes.len(), 2);
        assert_eq!(r.classes[0].units, vec![0, 3]);
        assert_eq!(r.classes[1].units, vec![1]);
        assert!((r.classes[0].c - 0.8).abs() < 1e-15);
        assert!((r.classes[0].h - 0.5).abs() < 1e-12);
        assert!((r.classes[1].h + 0.5).abs() < 1e-12);
        assert!((r.h[1] + 0.5).abs() < 1e-12);
        assert_eq!(r.c, vec![0.8, -0.8, 0.0, 0.8, 1e-5]);
        assert!(r.theorem3);
        // One class alone holds too.
        assert!(report(&net(Activation::Tanh, &[0.8, 0.8], &[0.5, 0.5])).theorem3);
    }

    #[test]
    fn three_live_classes_fail() {
        let r = report(&net(Activation::Tanh, &[0.8, -0.8, 0.3], &[0.5, -0.5, 0.2]));
        assert_eq!(r.classes.len(), 3);
        assert!(!r.theorem3);
        let r = report(&net(
            Activation::Logistic,
            &[0.8, -0.3, 0.3],
            &[0.5, 0.9, 0.2],
        ));
        assert_eq!(r.classes.len(), 3);
        assert!(!r.theorem3);
    }

    #[test]
    fn tanh_needs_opposite_classes_logistic_does_not() {
        let r = report(&net(Activation::Tanh, &[0.8, -0.8], &[0.5, -0.4]));
        assert_eq!(r.classes.len(), 2);
        assert!(!r.theorem3);
        let r = report(&net(Activation::Tanh, &[0.8, -0.7], &[0.5, -0.5]));
        assert!(!r.theorem3);
        // Within the tolerance counts as opposite.
        let r = report(&net(Activation::Tanh, &[0.8, -0.8005], &[0.5, -0.5004]));
        assert!(r.theorem3);
        let r = report(&net(
            Activation::Logistic,
            &[0.8, -0.3, 0.8],
            &[0.5, 0.9, 0.5],
        ));
        assert_eq!(r.activation, Activation::Logistic);
        assert_eq!(r.classes.len(), 2);
        assert!(r.dead.is_empty());
        assert!(r.theorem3);
    }

    #[test]
    fn classes_merge_transitively_whatever_the_order() {
        // Neighbours differ by 8e-4 in h (≤ 1e-3), the ends by 1.6e-3: one class.
        let hs = [0.5, 0.5008, 0.5016];
        let r = report(&net(Activation::Tanh, &[1.0; 3], &hs));
        assert_eq!(r.classes.len(), 1);
        assert_eq!(r.classes[0].units, vec![0, 1, 2]);
        assert!((r.classes[0].h - 0.5008).abs() < 1e-12);
        let r = report(&net(Activation::Tanh, &[1.0; 3], &[0.5016, 0.5, 0.5008]));
        assert_eq!(r.classes.len(), 1);
        // In c the tolerance scales with max |c| = 2.003: steps of 1.5e-3 link.
        let r = report(&net(Activation::Tanh, &[2.003, 2.0, 2.0015], &[0.5; 3]));
        assert_eq!(r.classes.len(), 1);
        // Without the middle unit the ends are two classes.
        let r = report(&net(Activation::Tanh, &[2.003, 2.0], &[0.5; 2]));
        assert_eq!(r.classes.len(), 2);
        let r = report(&net(Activation::Tanh, &[1.0; 2], &[0.5, 0.5016]));
        assert_eq!(r.classes.len(), 2);
        assert!(!r.theorem3);
    }

    #[test]
    fn other_networks_and_data_are_not_applicable() {
        let arch = |hidden: Vec<usize>, activation| Architecture {
            input_dim: 2,
            hidden,
            activation,
            hidden_bias: true,
            output_bias: false,
            skip: false,
            frozen_layers: vec![],
            frozen_skip: false,
        };
        let opts = UnitOptions::default();
        for (hidden, act) in [
            (vec![3], Activation::Relu),
            (vec![3], Activation::Identity),
            (vec![3, 3], Activation::Tanh),
            (vec![], Activation::Tanh),
        ] {
            let net = arch(hidden, act).build(|_, _, _| 0.5).unwrap();
            assert!(unit_report(&net, &point(), &opts).unwrap().is_none());
        }
        let tanh = arch(vec![3], Activation::Tanh)
            .build(|_, _, _| 0.5)
            .unwrap();
        // With bias: h = tanh(0.5·1 + 0.5·0 + 0.5) = tanh(1).
        let r = unit_report(&tanh, &point(), &opts).unwrap().unwrap();
        assert!((r.h[0] - 1.0f64.tanh()).abs() < 1e-15);
        let two = Dataset::new(2, vec![1.0, 0.0, 0.0, 1.0], vec![0.5, 0.2], "t").unwrap();
        assert!(unit_report(&tanh, &two, &opts).unwrap().is_none());
        let one_d = Dataset::new(1, vec![1.0], vec![0.5], "t").unwrap();
        assert!(matches!(
            unit_report(&tanh, &one_d, &opts),
            Err(Error::Mismatch { .. })
        ));
        for tol in [f64::NAN, -1e-3, f64::INFINITY] {
            assert!(matches!(
                unit_report(&tanh, &point(), &UnitOptions { tol }),
                Err(Error::Parameter { .. })
            ));
        }
    }

    #[test]
    fn report_serializes() {
        let r = report(&net(Activation::Tanh, &[0.8, -0.8], &[0.5, -0.5]));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["activation"], "tanh");
        assert_eq!(json["theorem3"], true);
        assert_eq!(json["classes"][1]["units"][0], 1);
    }

    #[test]
    fn closed_forms_of_eqs_18_and_20() {
        // o‖x‖ = 1: logistic h = 1/2, tanh h² = sqrt(1/2).
        assert_eq!(logistic_stationary_h(1.0, 1.0), 0.5);
        assert_eq!(logistic_stationary_h(-0.5, 2.0), 0.5);
        assert!((tanh_stationary_h_sq(1.0, 1.0) - 0.5f64.sqrt()).abs() < 1e-15);
        // o‖x‖ = 3: logistic 9/10, tanh sqrt(9/10).
        assert!((logistic_stationary_h(1.5, 2.0) - 0.9).abs() < 1e-15);
        assert!((tanh_stationary_h_sq(3.0, 1.0) - 0.9f64.sqrt()).abs() < 1e-15);
        assert_eq!(logistic_stationary_h(0.0, 1.0), 0.0);
        assert_eq!(tanh_stationary_h_sq(0.0, 1.0), 0.0);
        assert_eq!(logistic_stationary_h(1e300, 1e300), 1.0);
        assert_eq!(tanh_stationary_h_sq(1e300, 1e300), 1.0);
        // They zero the h-derivatives of eqs. 17 and 19 at fixed o.
        for &(o, xn) in &[(0.3, 1.0), (-1.7, 0.4), (2.5, 3.0)] {
            let t: f64 = o * o * xn * xn;
            let h = logistic_stationary_h(o, xn);
            assert!((2.0 * h + 2.0 * (h - 1.0) * t).abs() < 1e-12);
            let h2 = tanh_stationary_h_sq(o, xn);
            let h4 = h2 * h2;
            assert!((h4 * (1.0 + t) - t).abs() < 1e-12);
            // ... and are minima of R_i(h) along h at fixed o.
            let r_logistic = |h: f64| h * h + t * (1.0 - h).powi(2);
            let r_tanh = |h2: f64| h2 + t / h2 * (1.0 - h2).powi(2);
            for d in [-1e-3, 1e-3] {
                assert!(r_logistic(h + d) > r_logistic(h));
                assert!(r_tanh(h2 + d) > r_tanh(h2));
            }
        }
    }
}
