//! The active set: pins that hold a ReLU kink on the inactive side of a data point.
//!
//! A pin is the equality z_u(x_j) = −m for a live unit u and a point x_j (m a few
//! rounding units of the size of z); its row ∂z_u(x_j)/∂θ joins J in the projection
//! onto the tangent space and in the retraction (see [`super`] for when pins are set
//! and released).

use crate::activation::Activation;
use crate::error::Result;
use crate::kernels::{dot, norm};
use crate::stability::NullSpace;

use super::context::{Ctx, Point};
use super::outcome::KinkAtPoint;

/// Pinning moves kinks that are already within `kink_snap_tol` of their points onto
/// them; the move is accepted when reg rises by at most `PIN_RISE` · |reg| (or the
/// step slack, if larger). Larger rises mean the fit does not let the kinks sit there.
pub const PIN_RISE: f64 = 1e-8;

/// A pin is released when ⟨∇z, g⟩ > `RELEASE_TOL` · ||∇z|| ||g|| (clearly away).
const RELEASE_TOL: f64 = 1e-8;

/// A pinned kink: the constraint z_{layer,unit}(x_point) = −margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pin {
    pub(super) layer: usize,
    pub(super) unit: usize,
    pub(super) point: usize,
}

impl Ctx<'_> {
    /// [Jᵀ | Cᵀ]: the p x (n + pins) matrix, column-major, whose columns are ∇h(x_i) and
    /// ∇z for every pin.
    pub(super) fn augmented_jt(&self, pt: &Point, pins: &[Pin]) -> Vec<f64> {
        let mut jt = pt.batch.jacobian_transposed(&pt.net);
        for &p in pins {
            jt.extend(self.preactivation_gradient(pt, p));
        }
        jt
    }

    /// g = P ∇reg, P the projector onto the null space of [J; C] (the rank rule of docs/conventions.md#spectrum).
    pub(super) fn project(&self, pt: &Point, pins: &[Pin], grad: &[f64]) -> Result<Vec<f64>> {
        let p = pt.theta.len();
        let m = self.data.len() + pins.len();
        let (ns, _) =
            NullSpace::from_jacobian_transposed_blocked(self.augmented_jt(pt, pins), p, m)?;
        Ok(ns.project_null_space(grad))
    }

    /// The pins to keep: all but those whose kink the gradient projected without them
    /// would clearly move away from their point (⟨∇z, g⟩ > 0, so a step along −g lowers
    /// z), and those of units no longer live there.
    pub(super) fn still_blocking(
        &self,
        pt: &Point,
        pins: &[Pin],
        grad: &[f64],
    ) -> Result<Vec<Pin>> {
        let mut keep = Vec::with_capacity(pins.len());
        for (k, &pin) in pins.iter().enumerate() {
            let others: Vec<Pin> = pins
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != k)
                .map(|(_, &q)| q)
                .collect();
            let g = self.project(pt, &others, grad)?;
            let dz = self.preactivation_gradient(pt, pin);
            // A pin whose row lies in the row space of the others (the fit alone holds
            // the kink on the point to first order) gives ⟨∇z, g⟩ = 0 up to rounding:
            // keep it, it still guards the retraction.
            let away = dot(&dz, &g) > RELEASE_TOL * norm(&dz) * norm(&g);
            if self.is_live(pt, pin) && !away {
                keep.push(pin);
            }
        }
        Ok(keep)
    }

    /// Whether every pinned point is still on its unit's inactive side (z ≤ 0, as
    /// relu'(0) = 0).
    pub(super) fn pins_hold(&self, pt: &Point, pins: &[Pin]) -> bool {
        pins.iter().all(|&p| self.preactivation(pt, p) <= 0.0)
    }

    /// z of the pin's unit at its point.
    pub(super) fn preactivation(&self, pt: &Point, p: Pin) -> f64 {
        let layer = &pt.net.layers()[p.layer];
        let input = pt.batch.activations(p.layer).col(p.point);
        dot(layer.row(p.unit), input) + layer.bias.as_ref().map_or(0.0, |b| b[p.unit])
    }

    /// The size against which z is measured: |w| · span for 1-D inputs and one hidden
    /// layer (so z / scale is the signed distance to the kink over x_n − x_1), else
    /// ||w|| ||a|| + |b| (as in [`crate::analysis::nonsmooth_units`]).
    pub(super) fn scale(&self, pt: &Point, p: Pin) -> f64 {
        let layer = &pt.net.layers()[p.layer];
        let w = layer.row(p.unit);
        if self.one_d_shallow {
            w[0].abs() * self.span
        } else {
            let input = pt.batch.activations(p.layer).col(p.point);
            norm(w) * norm(input) + layer.bias.as_ref().map_or(0.0, |b| b[p.unit].abs())
        }
    }

    /// z / scale: the signed relative distance of the point from the kink (< 0:
    /// inactive side). +∞ for a unit without a kink (scale 0).
    pub(super) fn offset(&self, pt: &Point, p: Pin) -> f64 {
        let s = self.scale(pt, p);
        if s > 0.0 {
            self.preactivation(pt, p) / s
        } else {
            f64::INFINITY
        }
    }

    /// The pinned margin m: z is held at −m, m = `pin_margin` · (||w|| ||a|| + |b|).
    pub(super) fn margin(&self, pt: &Point, p: Pin) -> f64 {
        let layer = &pt.net.layers()[p.layer];
        let input = pt.batch.activations(p.layer).col(p.point);
        let size = norm(layer.row(p.unit)) * norm(input)
            + layer.bias.as_ref().map_or(0.0, |b| b[p.unit].abs());
        self.opts.pin_margin * size
    }

    /// Whether the unit's output reaches h at the point (∂h/∂a ≠ 0 there).
    pub(super) fn is_live(&self, pt: &Point, p: Pin) -> bool {
        pt.batch.sensitivities(p.layer + 1).col(p.point)[p.unit] != 0.0
    }

    /// Every (ReLU unit, point) with the point on the unit's inactive side (z ≤ 0), a
    /// kink (scale > 0), the unit live there, and not pinned: the kinks a step could push
    /// across a point with a jump of reg.
    pub(super) fn inactive_live_pairs(&self, pt: &Point, pins: &[Pin]) -> Vec<Pin> {
        let mut out = Vec::new();
        for (layer, l) in pt.net.hidden_layers().iter().enumerate() {
            if l.activation != Activation::Relu {
                continue;
            }
            for point in 0..self.data.len() {
                for unit in 0..l.out_dim {
                    let p = Pin { layer, unit, point };
                    if pins.contains(&p) || !self.is_live(pt, p) {
                        continue;
                    }
                    if self.scale(pt, p) > 0.0 && self.preactivation(pt, p) <= 0.0 {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// The live kinks within `kink_snap_tol` of a point on its inactive side, unpinned.
    pub(super) fn near_inactive(&self, pt: &Point, pins: &[Pin]) -> Vec<Pin> {
        self.inactive_live_pairs(pt, pins)
            .into_iter()
            .filter(|p| {
                let off = self.offset(pt, *p);
                off <= 0.0 && -off <= self.opts.kink_snap_tol
            })
            .collect()
    }

    /// ∂z_{layer,unit}(x_point)/∂θ, by a backward pass from that unit.
    pub(super) fn preactivation_gradient(&self, pt: &Point, p: Pin) -> Vec<f64> {
        let net = &pt.net;
        let layers = net.layers();
        let slots = net.slots();
        let mut out = vec![0.0; pt.theta.len()];
        let layer = &layers[p.layer];
        let input = pt.batch.activations(p.layer).col(p.point);
        if let Some(w) = slots[p.layer].weight {
            let at = w + p.unit * layer.in_dim;
            out[at..at + layer.in_dim].copy_from_slice(input);
        }
        if let Some(b) = slots[p.layer].bias {
            out[b + p.unit] = 1.0;
        }
        // s = ∂z/∂a_l, then through z_k = W_k a_k + b_k, a_{k+1} = φ(z_k).
        let mut s: Vec<f64> = layer.row(p.unit).to_vec();
        for k in (0..p.layer).rev() {
            let lk = &layers[k];
            let input = pt.batch.activations(k).col(p.point);
            let delta: Vec<f64> = (0..lk.out_dim)
                .map(|o| {
                    let z = dot(lk.row(o), input) + lk.bias.as_ref().map_or(0.0, |b| b[o]);
                    lk.activation.eval(z).1 * s[o]
                })
                .collect();
            if let Some(w) = slots[k].weight {
                for (o, &d) in delta.iter().enumerate() {
                    let at = w + o * lk.in_dim;
                    for (slot, &a) in out[at..at + lk.in_dim].iter_mut().zip(input) {
                        *slot = d * a;
                    }
                }
            }
            if let Some(b) = slots[k].bias {
                out[b..b + lk.out_dim].copy_from_slice(&delta);
            }
            let mut next = vec![0.0; lk.in_dim];
            for (o, &d) in delta.iter().enumerate() {
                crate::kernels::axpy(d, lk.row(o), &mut next);
            }
            s = next;
        }
        out
    }

    /// The pin as reported in an [`super::Outcome`].
    pub(super) fn describe(&self, pt: &Point, p: Pin) -> KinkAtPoint {
        KinkAtPoint {
            layer: p.layer,
            unit: p.unit,
            point: p.point,
            x: self.data.x(p.point).to_vec(),
            z: self.preactivation(pt, p),
        }
    }
}
