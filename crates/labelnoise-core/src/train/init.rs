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
/// scaled by `init_scale` (`--init-scale`, finite and ≥ 0).
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
        Architecture {
            input_dim: 1,
            hidden: vec![64],
            activation: Activation::Relu,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen_layers: vec![],
            frozen_skip: false,
        }
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
}
