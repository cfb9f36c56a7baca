//! Training hyper-parameters: [`TrainConfig`] (plain data, serializable) and its checked
//! form [`ValidTrainConfig`], which is the only thing a [`Trainer`](super::Trainer)
//! accepts (the linfa pattern: `config.check(&net, &data)?`).

use serde::{Deserialize, Serialize};

use super::noise::{NoiseDist, Sampler, MAX_COPIES};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::regularizer::check_compatible;

/// The default subnormal guard: parameters with |θ_k| below this become exactly 0 after
/// every update. 1e-150 is below 2^-498, so the product of any two parameters that
/// survive the guard (≥ 1e-300) is still a normal f64, while a parameter this small
/// changes h by a relative 1e-150 at most.
pub const DEFAULT_FLUSH_THRESHOLD: f64 = 1e-150;

/// How many log-spaced steps get metrics by default: enough for smooth curves on a log
/// axis, few enough that metrics cost a run little (they run on a worker thread).
pub const DEFAULT_LOG_POINTS: usize = 200;

/// A step count written as a number such as `1e6`: the whole number it stands for,
/// or `None` for a negative, fractional, non-finite or too large value. Shared by the
/// front ends that accept `--steps 4e6` (the command line, Python).
///
/// Checked by `tests::whole_steps_accepts_only_whole_numbers`.
pub fn whole_steps(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64).then_some(v as u64)
}

/// Everything that defines an SGD run besides the network and the data
/// (docs/conventions.md#training, paper eq. 3). Field names follow the command-line flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// η, the learning rate (`--lr`), positive.
    pub lr: f64,
    /// T, the number of SGD steps (`--steps`), at least 1.
    pub steps: u64,
    /// σ, the standard deviation of the label noise (`--noise`), ≥ 0; 0 is plain SGD.
    pub noise: f64,
    /// The distribution of the label noise (`--noise-dist`).
    pub noise_dist: NoiseDist,
    /// B, the mini-batch size (`--batch`), at least 1.
    pub batch: usize,
    /// Plain SGD over the 2n points (x_i, y_i ± σ) instead of fresh noise
    /// (`--two-copies`, paper §1.1); `noise_dist` is then unused. Exactly the same run as
    /// `copies = [σ, −σ]`.
    pub two_copies: bool,
    /// Plain SGD over the K·n points (x_i, y_i + c) for every label offset c in this list
    /// (`--copies`, paper §1.1), instead of fresh noise; empty (the default) is off. One
    /// sample is one of the K·n points, uniformly (docs/conventions.md#training); `noise`
    /// and `noise_dist` are then unused. 1 to 16 finite offsets; not with `two_copies`.
    pub copies: Vec<f64>,
    /// λ ≥ 0: add η λ ∇reg(θ) to every update (`--explicit-reg`).
    pub explicit_reg: f64,
    /// Replace the exact ∇reg = (1/n) Σ_i ∇||∇h(x_i)||² of the explicit term by its
    /// unbiased estimate from the step's own samples, (1/B) Σ_{b} ∇||∇h(x_{i_b})||²
    /// (`--explicit-reg-sampled`): B per-point sweeps per step instead of n, no extra
    /// random draws. Off by default (the exact term of docs/conventions.md#training).
    pub explicit_reg_sampled: bool,
    /// The seed of the run's generator (`--seed`).
    pub seed: u64,
    /// How many log-spaced steps get metrics (`--log-points`), at least 2.
    pub log_points: usize,
    /// Subnormal guard (`--flush-threshold`): after every update, trainable parameters
    /// with |θ_k| < this become exactly 0; 0 disables. See [`DEFAULT_FLUSH_THRESHOLD`].
    pub flush_threshold: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lr: 1e-3,
            steps: 100_000,
            noise: 0.5,
            noise_dist: NoiseDist::Rademacher,
            batch: 1,
            two_copies: false,
            copies: Vec::new(),
            explicit_reg: 0.0,
            explicit_reg_sampled: false,
            seed: 0,
            log_points: DEFAULT_LOG_POINTS,
            flush_threshold: DEFAULT_FLUSH_THRESHOLD,
        }
    }
}

/// A [`TrainConfig`] that passed [`TrainConfig::check`] for a network and data set.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidTrainConfig {
    config: TrainConfig,
    input_dim: usize,
    params: usize,
    n: usize,
}

impl std::ops::Deref for ValidTrainConfig {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.config
    }
}

impl ValidTrainConfig {
    /// The checked configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// How samples (i, Z) are drawn.
    pub(crate) fn sampler(&self) -> Sampler {
        if self.config.two_copies {
            Sampler::copies(self.n, &[self.config.noise, -self.config.noise])
        } else if !self.config.copies.is_empty() {
            Sampler::copies(self.n, &self.config.copies)
        } else {
            Sampler::Noise {
                n: self.n,
                sigma: self.config.noise,
                dist: self.config.noise_dist,
            }
        }
    }

    /// Whether `net` and `data` are the ones this configuration was checked against
    /// (as far as shapes go).
    pub(crate) fn matches(&self, net: &Network, data: &Dataset) -> bool {
        self.input_dim == net.input_dim()
            && self.input_dim == data.dim()
            && self.params == net.param_count()
            && self.n == data.len()
    }
}

fn bad(flag: &str, what: &str, got: impl std::fmt::Display) -> Error {
    Error::parameter(flag, format!("{what}, got {got}"))
}

impl TrainConfig {
    /// Checks every field, and that `net` takes inputs of the data's dimension. Errors
    /// name the command-line flag, e.g. `--lr: must be positive and finite, got -1`.
    pub fn check(&self, net: &Network, data: &Dataset) -> Result<ValidTrainConfig> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(bad("--lr", "must be positive and finite", self.lr));
        }
        if self.steps == 0 {
            return Err(bad("--steps", "must be at least 1", self.steps));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(bad("--noise", "must be finite and ≥ 0", self.noise));
        }
        if self.two_copies && !self.copies.is_empty() {
            return Err(Error::parameter(
                "--copies",
                "cannot be combined with --two-copies (which is --copies σ,−σ)",
            ));
        }
        if self.copies.len() > MAX_COPIES {
            return Err(bad(
                "--copies",
                &format!("takes at most {MAX_COPIES} label offsets"),
                self.copies.len(),
            ));
        }
        if let Some(c) = self.copies.iter().find(|c| !c.is_finite()) {
            return Err(bad("--copies", "every label offset must be finite", c));
        }
        if self.batch == 0 {
            return Err(bad("--batch", "must be at least 1", self.batch));
        }
        if !(self.explicit_reg.is_finite() && self.explicit_reg >= 0.0) {
            return Err(bad(
                "--explicit-reg",
                "must be finite and ≥ 0",
                self.explicit_reg,
            ));
        }
        if self.explicit_reg_sampled && self.explicit_reg == 0.0 {
            return Err(Error::parameter(
                "--explicit-reg-sampled",
                "needs --explicit-reg λ > 0 (there is no explicit term to sample)",
            ));
        }
        if self.log_points < 2 {
            return Err(bad(
                "--log-points",
                "must be at least 2 (the first and the last step)",
                self.log_points,
            ));
        }
        if !(self.flush_threshold.is_finite() && self.flush_threshold >= 0.0) {
            return Err(bad(
                "--flush-threshold",
                "must be finite and ≥ 0",
                self.flush_threshold,
            ));
        }
        check_compatible(net, data)?;
        Ok(ValidTrainConfig {
            config: self.clone(),
            input_dim: net.input_dim(),
            params: net.param_count(),
            n: data.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_checked_and_two_copies_is_plus_minus_sigma() {
        let data = crate::builtin::dataset("fig1").unwrap();
        let net = crate::builtin::model("fig1-minimal").unwrap();
        let base = TrainConfig {
            noise: 0.7,
            ..TrainConfig::default()
        };
        let two = TrainConfig {
            two_copies: true,
            ..base.clone()
        };
        let explicit = TrainConfig {
            copies: vec![0.7, -0.7],
            ..base.clone()
        };
        assert_eq!(
            two.check(&net, &data).unwrap().sampler(),
            explicit.check(&net, &data).unwrap().sampler()
        );
        let err = |c: TrainConfig| c.check(&net, &data).unwrap_err().to_string();
        let both = TrainConfig {
            copies: vec![1.0],
            ..two.clone()
        };
        assert!(err(both).contains("--copies"));
        let many = TrainConfig {
            copies: vec![0.0; MAX_COPIES + 1],
            ..base.clone()
        };
        assert!(err(many).contains("--copies: takes at most 16"));
        let nan = TrainConfig {
            copies: vec![0.0, f64::NAN],
            ..base.clone()
        };
        assert!(err(nan).contains("--copies: every label offset must be finite"));
        let max = TrainConfig {
            copies: vec![0.5; MAX_COPIES],
            ..base
        };
        assert!(max.check(&net, &data).is_ok());
    }

    #[test]
    fn whole_steps_accepts_only_whole_numbers() {
        assert_eq!(whole_steps(4e6), Some(4_000_000));
        assert_eq!(whole_steps(0.0), Some(0));
        for bad in [2.5, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            assert_eq!(whole_steps(bad), None, "{bad}");
        }
    }
}
