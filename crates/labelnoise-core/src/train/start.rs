//! The starting network of a run, described the way `labelnoise train` takes it.
//!
//! [`NetworkSpec`] is the unchecked description (plain data, serializable, the fields
//! named after the command-line flags): either an architecture to initialise with a
//! seed, or a model to start from (`init_model`). [`NetworkSpec::build`] checks it
//! against the data and makes the network. Every front end (the command line's `train`,
//! sweeps, the Python package, the browser page) goes through it, so a description means
//! the same network everywhere and is refused with the same message everywhere.
//!
//! Initialisation (docs/conventions.md#initialisation): the default scheme of
//! [`init_network`] scaled by `init_scale`, then the output layer's weights (not its
//! bias) multiplied by `output_init_scale`. The Figure 1 experiment uses
//! `output_init_scale = 30` so that random initial functions are visibly wiggly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::init::{init_network, DEFAULT_INIT_SCALE};
use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model_io::load_model;
use crate::network::{Architecture, Network};

/// What `--freeze` freezes: a layer or the skip unit. Frozen parameters are not in θ
/// and never move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Freeze {
    /// Layer K (0 = the first hidden layer; the output layer is K = number of hidden
    /// layers). Written as the integer K.
    Layer(usize),
    /// The skip unit. Written as the string `"skip"`.
    Skip(SkipWord),
}

/// The word `skip`, the only string [`Freeze`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkipWord {
    /// `"skip"`.
    #[serde(rename = "skip")]
    Skip,
}

impl Freeze {
    /// The skip unit.
    pub const SKIP: Freeze = Freeze::Skip(SkipWord::Skip);
}

impl FromStr for Freeze {
    type Err = String;

    /// A layer index or `skip`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "skip" {
            return Ok(Freeze::SKIP);
        }
        s.parse()
            .map(Freeze::Layer)
            .map_err(|_| format!("expected a layer index or 'skip', got {s:?}"))
    }
}

impl fmt::Display for Freeze {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Freeze::Layer(k) => write!(f, "{k}"),
            Freeze::Skip(_) => f.write_str("skip"),
        }
    }
}

/// The default output-layer weight multiplier (`--output-init-scale`): none.
pub const DEFAULT_OUTPUT_INIT_SCALE: f64 = 1.0;

/// How a run's starting network is made (module documentation). Field names follow the
/// command-line flags of `labelnoise train`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// Hidden layer widths (`--hidden`, repeated), at least one without `init_model`.
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers (`--activation`), required without `init_model`.
    pub activation: Option<Activation>,
    /// A linear skip unit from the input to the output (`--skip`).
    pub skip: bool,
    /// A bias on the output layer (`--output-bias`).
    pub output_bias: bool,
    /// Layers (and the skip unit) that do not train (`--freeze`).
    pub freeze: Vec<Freeze>,
    /// Multiplier of the default initialisation (`--init-scale`), finite and ≥ 0.
    pub init_scale: f64,
    /// Multiplier of the output layer's weights after initialisation
    /// (`--output-init-scale`), finite and ≥ 0.
    pub output_init_scale: f64,
    /// Start from this model file or built-in model instead (`--init-model`); the
    /// architecture fields given must then agree with it, and the scales must be left
    /// at their defaults.
    pub init_model: Option<String>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            hidden: Vec::new(),
            activation: None,
            skip: false,
            output_bias: false,
            freeze: Vec::new(),
            init_scale: DEFAULT_INIT_SCALE,
            output_init_scale: DEFAULT_OUTPUT_INIT_SCALE,
            init_model: None,
        }
    }
}

impl NetworkSpec {
    /// The frozen layer indices and whether the skip unit is frozen.
    fn frozen(&self) -> (Vec<usize>, bool) {
        let layers = self
            .freeze
            .iter()
            .filter_map(|f| match f {
                Freeze::Layer(k) => Some(*k),
                Freeze::Skip(_) => None,
            })
            .collect();
        (layers, self.freeze.contains(&Freeze::SKIP))
    }

    /// The starting network for run `seed` on `data` (called `data_name` in messages).
    ///
    /// Errors name the flag, as `labelnoise train` prints them: `--hidden: give at least
    /// one hidden layer width (or --init-model)`, `--freeze: layer 3 does not exist ...`,
    /// a model for other input dimensions than the data's, and so on.
    ///
    /// Checked by `tests::initialises_as_init_network_with_output_scale`,
    /// `tests::init_model_must_agree`, `tests::refusals_name_the_flag`.
    pub fn build(&self, data: &Dataset, data_name: &str, seed: u64) -> Result<Network> {
        let (frozen_layers, frozen_skip) = self.frozen();
        self.check_output_init_scale()?;
        let net = if let Some(path) = &self.init_model {
            self.check_scales(path)?;
            self.freeze_given(load_model(path)?, path, &frozen_layers, frozen_skip)?
        } else {
            self.initialise(data.dim(), seed, frozen_layers, frozen_skip)?
        };
        self.check_dim(&net, data, data_name)?;
        Ok(net)
    }

    /// The network that [`build`](Self::build) initialises for run `seed` when no model
    /// is given, for `input_dim`-dimensional inputs and without data to check against
    /// (`init_model` is ignored): Python's `Network.mlp`. The same checks and messages as
    /// `build`.
    ///
    /// Checked by `tests::initial_network_is_what_build_starts_from`.
    pub fn initial_network(&self, input_dim: usize, seed: u64) -> Result<Network> {
        let (frozen_layers, frozen_skip) = self.frozen();
        self.check_output_init_scale()?;
        self.initialise(input_dim, seed, frozen_layers, frozen_skip)
    }

    fn check_output_init_scale(&self) -> Result<()> {
        if self.output_init_scale.is_finite() && self.output_init_scale >= 0.0 {
            Ok(())
        } else {
            Err(Error::parameter(
                "--output-init-scale",
                format!("must be finite and ≥ 0, got {}", self.output_init_scale),
            ))
        }
    }

    /// The starting network when the model to start from is given in memory (the
    /// Python package's `net=`) instead of as a file: what [`build`](Self::build) does
    /// with `init_model`, with `name` naming the model in messages (`init_model` itself
    /// is ignored).
    ///
    /// Checked by `tests::build_from_equals_build_with_init_model`.
    pub fn build_from(
        &self,
        net: Network,
        name: &str,
        data: &Dataset,
        data_name: &str,
    ) -> Result<Network> {
        let (frozen_layers, frozen_skip) = self.frozen();
        self.check_scales(name)?;
        let net = self.freeze_given(net, name, &frozen_layers, frozen_skip)?;
        self.check_dim(&net, data, data_name)?;
        Ok(net)
    }

    /// The model's input dimension must be the data's.
    fn check_dim(&self, net: &Network, data: &Dataset, data_name: &str) -> Result<()> {
        if net.input_dim() != data.dim() {
            return Err(Error::Mismatch {
                message: format!(
                    "{} and {data_name}: the model takes {}-dimensional inputs but the data are {}-dimensional",
                    self.init_model.as_deref().unwrap_or("the architecture"),
                    net.input_dim(),
                    data.dim()
                ),
            });
        }
        Ok(())
    }

    /// A new network of the described architecture, initialised with `seed`.
    fn initialise(
        &self,
        input_dim: usize,
        seed: u64,
        frozen_layers: Vec<usize>,
        frozen_skip: bool,
    ) -> Result<Network> {
        if self.hidden.is_empty() {
            return Err(Error::parameter(
                "--hidden",
                "give at least one hidden layer width (or --init-model)",
            ));
        }
        let Some(activation) = self.activation else {
            return Err(Error::parameter(
                "--activation",
                "required without --init-model",
            ));
        };
        if let Some(&k) = frozen_layers.iter().find(|&&k| k > self.hidden.len()) {
            return Err(Error::parameter(
                "--freeze",
                format!(
                    "layer {k} does not exist (layers 0..={} with the output layer last)",
                    self.hidden.len()
                ),
            ));
        }
        if frozen_skip && !self.skip {
            return Err(Error::parameter(
                "--freeze",
                "skip given but there is no --skip unit",
            ));
        }
        let arch = Architecture {
            input_dim,
            hidden: self.hidden.clone(),
            activation,
            hidden_bias: true,
            output_bias: self.output_bias,
            skip: self.skip,
            frozen_layers,
            frozen_skip,
        };
        let net = init_network(&arch, seed, self.init_scale)?;
        if self.output_init_scale == DEFAULT_OUTPUT_INIT_SCALE {
            return Ok(net);
        }
        let mut layers = net.layers().to_vec();
        let output = layers.last_mut().expect("a network has an output layer");
        for w in &mut output.weight {
            *w *= self.output_init_scale;
        }
        Network::new(net.input_dim(), layers, net.skip().cloned(), "init")
    }

    /// With a model to start from, the initialisation scales must be left at their
    /// defaults.
    fn check_scales(&self, path: &str) -> Result<()> {
        if self.init_scale != DEFAULT_INIT_SCALE {
            return Err(Error::parameter(
                "--init-scale",
                format!("does not apply with --init-model {path}"),
            ));
        }
        if self.output_init_scale != DEFAULT_OUTPUT_INIT_SCALE {
            return Err(Error::parameter(
                "--output-init-scale",
                format!("does not apply with --init-model {path}"),
            ));
        }
        Ok(())
    }

    /// The model `net` (read from `path`) with the freezes applied, after checking that
    /// the architecture fields given agree with it.
    fn freeze_given(
        &self,
        net: Network,
        path: &str,
        frozen_layers: &[usize],
        frozen_skip: bool,
    ) -> Result<Network> {
        self.check_agrees(&net, path)?;
        let layers = net.layers().len();
        if let Some(&k) = frozen_layers.iter().find(|&&k| k >= layers) {
            return Err(Error::parameter(
                "--freeze",
                format!("layer {k} does not exist (the model has {layers} layers)"),
            ));
        }
        if frozen_skip && net.skip().is_none() {
            return Err(Error::parameter(
                "--freeze",
                format!("{path} has no skip unit"),
            ));
        }
        let mut layer_list = net.layers().to_vec();
        for &k in frozen_layers {
            layer_list[k].trainable = false;
        }
        let mut skip = net.skip().cloned();
        if frozen_skip {
            if let Some(s) = &mut skip {
                s.trainable = false;
            }
        }
        Network::new(net.input_dim(), layer_list, skip, path)
    }

    /// With `init_model`, architecture fields that are given must agree with the model.
    fn check_agrees(&self, net: &Network, path: &str) -> Result<()> {
        let widths: Vec<usize> = net.hidden_layers().iter().map(|l| l.out_dim).collect();
        if !self.hidden.is_empty() && self.hidden != widths {
            return Err(Error::parameter(
                "--hidden",
                format!(
                    "{:?} disagrees with {path}, whose hidden widths are {widths:?}",
                    self.hidden
                ),
            ));
        }
        if let Some(act) = self.activation {
            if net.hidden_layers().iter().any(|l| l.activation != act) {
                return Err(Error::parameter(
                    "--activation",
                    format!("{} disagrees with {path}", act.name()),
                ));
            }
        }
        if self.skip && net.skip().is_none() {
            return Err(Error::parameter(
                "--skip",
                format!("{path} has no skip unit"),
            ));
        }
        if self.output_bias && net.output_layer().bias.is_none() {
            return Err(Error::parameter(
                "--output-bias",
                format!("{path} has no output bias"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    fn fig1() -> Dataset {
        Dataset::load("fig1").unwrap()
    }

    fn spec() -> NetworkSpec {
        NetworkSpec {
            hidden: vec![16],
            activation: Some(Activation::Relu),
            skip: true,
            output_bias: true,
            ..NetworkSpec::default()
        }
    }

    #[test]
    fn initialises_as_init_network_with_output_scale() {
        let data = fig1();
        let plain = spec().build(&data, "fig1", 7).unwrap();
        let arch = Architecture::shallow(16, Activation::Relu);
        let reference = init_network(&arch, 7, 1.0).unwrap();
        assert_eq!(plain.params(), reference.params());
        let scaled = NetworkSpec {
            output_init_scale: 30.0,
            ..spec()
        }
        .build(&data, "fig1", 7)
        .unwrap();
        // Only the output weights change, each by exactly the factor 30.
        let (a, b) = (plain.layers(), scaled.layers());
        assert_eq!(a[0], b[0]);
        for (w, v) in a[1].weight.iter().zip(&b[1].weight) {
            assert_eq!(*v, 30.0 * w);
        }
        assert_eq!(a[1].bias, b[1].bias);
        assert_eq!(plain.skip(), scaled.skip());
    }

    #[test]
    fn initial_network_is_what_build_starts_from() {
        let data = fig1();
        let spec = NetworkSpec {
            output_init_scale: 30.0,
            freeze: vec![Freeze::Layer(0)],
            ..spec()
        };
        assert_eq!(
            spec.initial_network(1, 3).unwrap(),
            spec.build(&data, "fig1", 3).unwrap()
        );
        let e = NetworkSpec {
            output_init_scale: f64::NAN,
            ..spec.clone()
        }
        .initial_network(1, 3)
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("--output-init-scale: must be finite"), "{e}");
    }

    #[test]
    fn init_model_must_agree() {
        let data = fig1();
        let from = NetworkSpec {
            init_model: Some("fig1-minimal".into()),
            freeze: vec![Freeze::Layer(0)],
            ..NetworkSpec::default()
        };
        let net = from.build(&data, "fig1", 0).unwrap();
        let reference = builtin::model("fig1-minimal").unwrap();
        assert!(!net.layers()[0].trainable);
        assert_eq!(net.layers()[1].weight, reference.layers()[1].weight);
        let wrong = NetworkSpec {
            hidden: vec![3, 3],
            ..from.clone()
        };
        let e = wrong.build(&data, "fig1", 0).unwrap_err().to_string();
        assert!(
            e.starts_with("--hidden: [3, 3] disagrees with fig1-minimal"),
            "{e}"
        );
        let scaled = NetworkSpec {
            init_scale: 2.0,
            ..from
        };
        let e = scaled.build(&data, "fig1", 0).unwrap_err().to_string();
        assert!(e.starts_with("--init-scale: does not apply"), "{e}");
    }

    #[test]
    fn refusals_name_the_flag() {
        let data = fig1();
        let cases: Vec<(NetworkSpec, &str)> = vec![
            (NetworkSpec::default(), "--hidden: give at least one"),
            (
                NetworkSpec {
                    activation: None,
                    ..spec()
                },
                "--activation: required",
            ),
            (
                NetworkSpec {
                    freeze: vec![Freeze::Layer(2)],
                    ..spec()
                },
                "--freeze: layer 2 does not exist",
            ),
            (
                NetworkSpec {
                    freeze: vec![Freeze::SKIP],
                    skip: false,
                    ..spec()
                },
                "--freeze: skip given",
            ),
            (
                NetworkSpec {
                    output_init_scale: f64::NAN,
                    ..spec()
                },
                "--output-init-scale: must be finite",
            ),
            (
                NetworkSpec {
                    init_scale: -1.0,
                    ..spec()
                },
                "--init-scale: must be finite",
            ),
        ];
        for (s, start) in cases {
            let e = s.build(&data, "fig1", 0).unwrap_err().to_string();
            assert!(e.starts_with(start), "{e} should start with {start}");
        }
    }

    #[test]
    fn freeze_reads_and_writes_indices_and_skip() {
        assert_eq!("skip".parse::<Freeze>(), Ok(Freeze::SKIP));
        assert_eq!("2".parse::<Freeze>(), Ok(Freeze::Layer(2)));
        assert!("two".parse::<Freeze>().is_err());
        let json = serde_json::to_string(&vec![Freeze::Layer(1), Freeze::SKIP]).unwrap();
        assert_eq!(json, r#"[1,"skip"]"#);
        let back: Vec<Freeze> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vec![Freeze::Layer(1), Freeze::SKIP]);
        assert!(serde_json::from_str::<Freeze>(r#""skipp""#).is_err());
        let spec: std::result::Result<NetworkSpec, _> =
            serde_json::from_str(r#"{"hidden":[4],"widht":3}"#);
        assert!(spec.unwrap_err().to_string().contains("widht"));
    }

    #[test]
    fn build_from_equals_build_with_init_model() {
        let data = fig1();
        let spec = NetworkSpec {
            freeze: vec![Freeze::Layer(0)],
            init_model: Some("fig1-minimal".into()),
            ..NetworkSpec::default()
        };
        let from_file = spec.build(&data, "fig1", 3).unwrap();
        let model = builtin::model("fig1-minimal").unwrap();
        let given = spec
            .build_from(model.clone(), "fig1-minimal", &data, "fig1")
            .unwrap();
        assert_eq!(given, from_file);
        let bad = NetworkSpec {
            hidden: vec![5],
            ..spec.clone()
        };
        assert_eq!(
            bad.build_from(model.clone(), "the given network", &data, "fig1")
                .unwrap_err()
                .to_string(),
            bad.build(&data, "fig1", 3)
                .unwrap_err()
                .to_string()
                .replace("fig1-minimal", "the given network")
        );
        let scaled = NetworkSpec {
            init_scale: 2.0,
            ..spec
        };
        assert!(scaled
            .build_from(model, "m", &data, "fig1")
            .unwrap_err()
            .to_string()
            .starts_with("--init-scale: does not apply"));
    }
}
