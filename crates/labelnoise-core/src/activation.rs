//! Activation functions and their first two derivatives.

use serde::{Deserialize, Serialize};

/// An elementwise activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Activation {
    /// max(0, z), with relu'(0) = 0 (the convention of PyTorch and JAX) and relu'' = 0.
    Relu,
    /// tanh(z).
    Tanh,
    /// The logistic sigmoid 1 / (1 + e^(-z)).
    #[cfg_attr(feature = "clap", value(alias = "sigmoid"))]
    Logistic,
    /// z.
    Identity,
}

impl Activation {
    /// All activations, in the order the documentation lists them.
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Logistic,
        Activation::Identity,
    ];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Logistic => "logistic",
            Activation::Identity => "identity",
        }
    }

    /// Parses a name; `sigmoid` is accepted for `logistic`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Activation::Relu),
            "tanh" => Some(Activation::Tanh),
            "logistic" | "sigmoid" => Some(Activation::Logistic),
            "identity" | "linear" => Some(Activation::Identity),
            _ => None,
        }
    }

    /// φ(z).
    #[inline(always)]
    pub fn value(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::Logistic => logistic(z),
            Activation::Identity => z,
        }
    }

    /// φ'(z); relu'(0) = 0.
    #[inline(always)]
    pub fn derivative(self, z: f64) -> f64 {
        self.eval(z).1
    }

    /// (φ(z), φ'(z), φ''(z)) in one evaluation of the transcendental function.
    #[inline(always)]
    pub fn eval(self, z: f64) -> (f64, f64, f64) {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    (z, 1.0, 0.0)
                } else {
                    (0.0, 0.0, 0.0)
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                let d = 1.0 - t * t;
                (t, d, -2.0 * t * d)
            }
            Activation::Logistic => {
                let s = logistic(z);
                let d = s * (1.0 - s);
                (s, d, d * (1.0 - 2.0 * s))
            }
            Activation::Identity => (z, 1.0, 0.0),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// 1 / (1 + e^(-z)), written to avoid overflow of e^(-z) for large negative z.
#[inline(always)]
fn logistic(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_central_differences() {
        for act in Activation::ALL {
            for &z in &[-2.3, -0.7, 0.4, 1.9] {
                let h = 1e-5;
                let (_, d1, d2) = act.eval(z);
                let fd1 = (act.value(z + h) - act.value(z - h)) / (2.0 * h);
                let fd2 = (act.derivative(z + h) - act.derivative(z - h)) / (2.0 * h);
                assert!((d1 - fd1).abs() < 1e-8, "{act} φ' at {z}");
                assert!((d2 - fd2).abs() < 1e-8, "{act} φ'' at {z}");
            }
        }
    }

    #[test]
    fn relu_derivative_at_zero_is_zero() {
        assert_eq!(Activation::Relu.eval(0.0), (0.0, 0.0, 0.0));
    }

    #[test]
    fn names_round_trip() {
        for act in Activation::ALL {
            assert_eq!(Activation::from_name(act.name()), Some(act));
        }
        assert_eq!(Activation::from_name("swish"), None);
    }
}
