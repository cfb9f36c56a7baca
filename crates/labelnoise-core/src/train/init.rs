//! Initial networks.
//!
//! The default scheme is PyTorch's for `torch.nn.Linear`: every weight and bias of a
//! layer with fan-in k is drawn from U(−1/√k, 1/√k) (the skip unit counts as a linear
//! layer from the d inputs, fan-in d), then multiplied by `init_scale`. It is what most
//! independent implementations of the paper's experiments start from, it keeps the
//! output O(1) at any width, and it needs nothing but uniform draws. A uniform value is
//! bound · (2u − 1) with u = (w >> 11)·2⁻⁵³ from one 64-bit draw w.
//!
//! The draws come from the run's initialisation stream
//! ([`TrainRng::init_stream`](super::noise::TrainRng::init_stream)), in θ order over all
//! parameters (frozen ones too, see [`Architecture::build`]), so the initial network
//! depends only on the architecture, the seed and the scale, and the SGD draws do not
//! depend on how many numbers the initialisation took.

use crate::error::{Error, Result};
use crate::network::{Architecture, Network};

use super::noise::TrainRng;

/// The default initialisation scale (`--init-scale`): PyTorch's bounds unchanged.
pub const DEFAULT_INIT_SCALE: f64 = 1.0;

/// A network of shape `arch` with the default initialisation (module documentation),
/// scaled by `init_scale` (`--init-scale`, finite and ≥ 0): every parameter of a layer
/// with fan-in k is `init_scale` · U(−1/√k, 1/√k) (docs/conventions.md#initialisation).
///
/// Checked by `tests::bounds_scale_and_reproducibility` and, value by value against the
/// initialisation stream, by `tests::draws_follow_theta_order_from_the_init_stream`.
pub fn init_network(arch: &Architecture, seed: u64, init_scale: f64) -> Result<Network> {
    if !(init_scale.is_finite() && init_scale >= 0.0) {
        return Err(Error::parameter(
            "--init-scale",
            format!("must be finite and ≥ 0, got {init_scale}"),
        ));
    }
    if let Some(l) = arch.hidden.iter().position(|&w| w == 0) {
        return Err(Error::parameter(
            "--hidden",
            format!("layer {} has width 0; widths must be at least 1", l + 1),
        ));
    }
    let mut rng = TrainRng::init_stream(seed);
    arch.build(|_, fan_in, _| {
        let bound = init_scale / (fan_in.max(1) as f64).sqrt();
        bound * (2.0 * rng.unit_f64() - 1.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;

    fn arch() -> Architecture {
        Architecture::shallow(64, Activation::Relu)
    }

    #[test]
    fn bounds_scale_and_reproducibility() {
        let a = init_network(&arch(), 5, 1.0).unwrap();
        let b = init_network(&arch(), 5, 1.0).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, init_network(&arch(), 6, 1.0).unwrap());
        // Hidden layer: fan-in 1, bound 1; output layer: fan-in 64, bound 1/8.
        assert!(a.layers()[0].weight.iter().all(|w| w.abs() <= 1.0));
        assert!(a.layers()[1].weight.iter().all(|w| w.abs() <= 0.125));
        assert!(a.layers()[1].weight.iter().any(|w| w.abs() > 0.1));
        let s = init_network(&arch(), 5, 0.5).unwrap();
        for (x, y) in s.params().iter().zip(a.params()) {
            assert!((x - 0.5 * y).abs() < 1e-16);
        }
        assert!(init_network(&arch(), 5, -1.0)
            .unwrap_err()
            .to_string()
            .contains("--init-scale"));
        let mut zero = arch();
        zero.hidden = vec![0];
        assert!(init_network(&zero, 5, 1.0).is_err());
    }

    #[test]
    fn draws_follow_theta_order_from_the_init_stream() {
        // d = 2, one hidden layer of 3 (frozen: drawn all the same), output bias, skip.
        let arch = Architecture {
            input_dim: 2,
            hidden: vec![3],
            activation: Activation::Tanh,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen_layers: vec![0],
            frozen_skip: false,
        };
        let scale = 0.7;
        let net = init_network(&arch, 42, scale).unwrap();
        let mut rng = TrainRng::init_stream(42);
        let mut next = |fan_in: f64| scale / fan_in.sqrt() * (2.0 * rng.unit_f64() - 1.0);
        // Layer 0 (fan-in 2): 3 x 2 weights row-major, then 3 biases.
        let w0: Vec<f64> = (0..6).map(|_| next(2.0)).collect();
        let b0: Vec<f64> = (0..3).map(|_| next(2.0)).collect();
        // Output layer (fan-in 3): 3 weights, 1 bias; skip (fan-in d = 2): 2 weights.
        let w1: Vec<f64> = (0..3).map(|_| next(3.0)).collect();
        let b1: Vec<f64> = (0..1).map(|_| next(3.0)).collect();
        let s: Vec<f64> = (0..2).map(|_| next(2.0)).collect();
        assert_eq!(net.layers()[0].weight, w0);
        assert_eq!(net.layers()[0].bias.as_deref(), Some(&b0[..]));
        assert_eq!(net.layers()[1].weight, w1);
        assert_eq!(net.layers()[1].bias.as_deref(), Some(&b1[..]));
        assert_eq!(net.skip().unwrap().weight, s);
        // The frozen layer is out of θ: θ = output weights, output bias, skip.
        assert_eq!(net.params(), [w1, b1, s].concat());
    }
}
