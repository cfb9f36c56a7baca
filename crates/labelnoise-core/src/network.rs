//! Multilayer perceptrons and the flat parameter vector θ (docs/conventions.md#theta).
//!
//! Hidden layers l = 1..L compute z_l = W_l a_{l-1} + b_l, a_l = act_l(z_l), a_0 = x.
//! The last layer of [`Network::layers`] is the output layer: one output, identity
//! activation, optional bias. An optional skip unit adds s·x to the output:
//! h(x, θ) = W_out a_L + b_out + s·x.
//!
//! θ holds the trainable parameters only, in this order: layers in order, each layer's
//! weight row-major (out x in, as `torch.nn.Linear` stores it), then its bias; then the
//! skip weight. A frozen layer (or skip) contributes nothing to θ.

use crate::activation::Activation;
use crate::error::{Error, Result};

/// One fully connected layer, z = W a + b, followed by an activation.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Width of the input.
    pub in_dim: usize,
    /// Width of the output.
    pub out_dim: usize,
    /// W, row-major, `out_dim * in_dim` values.
    pub weight: Vec<f64>,
    /// b, `out_dim` values, or no bias at all.
    pub bias: Option<Vec<f64>>,
    /// The activation applied to z.
    pub activation: Activation,
    /// Whether W and b are part of θ.
    pub trainable: bool,
}

impl Layer {
    /// Number of parameters this layer puts into θ (0 when frozen).
    pub fn trainable_count(&self) -> usize {
        if self.trainable {
            self.weight.len() + self.bias.as_ref().map_or(0, Vec::len)
        } else {
            0
        }
    }

    /// Row `o` of W.
    #[inline]
    pub fn row(&self, o: usize) -> &[f64] {
        &self.weight[o * self.in_dim..(o + 1) * self.in_dim]
    }
}

/// The linear skip unit s·x from the input straight to the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Skip {
    /// s, `input_dim` values.
    pub weight: Vec<f64>,
    /// Whether s is part of θ.
    pub trainable: bool,
}

/// Where one layer's parameters sit in θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSlots {
    /// Offset of W in θ (row-major), if the layer is trainable.
    pub weight: Option<usize>,
    /// Offset of b in θ, if the layer is trainable and has a bias.
    pub bias: Option<usize>,
}

/// A validated multilayer perceptron with one scalar output.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    input_dim: usize,
    layers: Vec<Layer>,
    skip: Option<Skip>,
    slots: Vec<LayerSlots>,
    skip_slot: Option<usize>,
    param_count: usize,
}

/// The shape of a network without its values: what `train` builds from flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    /// d, the input dimension.
    pub input_dim: usize,
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Activation of every hidden layer.
    pub activation: Activation,
    /// Whether hidden layers have biases.
    pub hidden_bias: bool,
    /// Whether the output layer has a bias.
    pub output_bias: bool,
    /// Whether there is a skip unit.
    pub skip: bool,
    /// Indices of frozen layers (0-based; the output layer is `hidden.len()`).
    pub frozen_layers: Vec<usize>,
    /// Whether the skip unit is frozen.
    pub frozen_skip: bool,
}

impl Architecture {
    /// One hidden layer of `width` units with biases on 1-D inputs, an output bias and a
    /// trainable skip unit, nothing frozen: the network of the paper's Theorem 1 and of
    /// most experiments, tests and benches.
    pub fn shallow(width: usize, activation: Activation) -> Self {
        Architecture {
            input_dim: 1,
            hidden: vec![width],
            activation,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen_layers: vec![],
            frozen_skip: false,
        }
    }

    /// The number of parameters (trainable or not) of a network of this shape, without
    /// overflow for any widths.
    pub fn param_count_u128(&self) -> u128 {
        let mut count: u128 = 0;
        let mut in_dim = self.input_dim as u128;
        for (l, &out) in self.hidden.iter().chain(std::iter::once(&1)).enumerate() {
            let out = out as u128;
            let bias = if l == self.hidden.len() {
                self.output_bias
            } else {
                self.hidden_bias
            };
            count += in_dim * out + if bias { out } else { 0 };
            in_dim = out;
        }
        count + if self.skip { self.input_dim as u128 } else { 0 }
    }

    /// Builds a network of this shape, drawing every weight and bias from `draw`, which
    /// is called with (layer index, fan-in, is_bias) in θ order over *all* parameters
    /// (frozen ones too): layers in order, weight row-major then bias, then the skip.
    /// This order is what makes an initialisation depend on the seed alone
    /// (docs/conventions.md#initialisation).
    ///
    /// Checked by `tests::theta_order_is_layers_then_skip_and_skips_frozen` and
    /// `train::init::tests::draws_follow_theta_order_from_the_init_stream`.
    pub fn build(&self, mut draw: impl FnMut(usize, usize, bool) -> f64) -> Result<Network> {
        // The parameters and the network's own copy of them while it is assembled.
        crate::memory::check_fits(
            "--hidden",
            "the network",
            2 * crate::memory::F64_BYTES * self.param_count_u128(),
        )?;
        let mut layers = Vec::with_capacity(self.hidden.len() + 1);
        let mut in_dim = self.input_dim;
        let widths = self.hidden.iter().copied().chain(std::iter::once(1));
        for (l, out_dim) in widths.enumerate() {
            let is_output = l == self.hidden.len();
            let weight = (0..out_dim * in_dim)
                .map(|_| draw(l, in_dim, false))
                .collect();
            let has_bias = if is_output {
                self.output_bias
            } else {
                self.hidden_bias
            };
            let bias = has_bias.then(|| (0..out_dim).map(|_| draw(l, in_dim, true)).collect());
            layers.push(Layer {
                in_dim,
                out_dim,
                weight,
                bias,
                activation: if is_output {
                    Activation::Identity
                } else {
                    self.activation
                },
                trainable: !self.frozen_layers.contains(&l),
            });
            in_dim = out_dim;
        }
        let skip = self.skip.then(|| Skip {
            weight: (0..self.input_dim)
                .map(|_| draw(self.hidden.len() + 1, self.input_dim, false))
                .collect(),
            trainable: !self.frozen_skip,
        });
        Network::new(self.input_dim, layers, skip, "architecture")
    }
}

impl Network {
    /// Checks and assembles a network. `origin` names where the values came from (a file
    /// or a built-in) for error messages.
    pub fn new(
        input_dim: usize,
        layers: Vec<Layer>,
        skip: Option<Skip>,
        origin: &str,
    ) -> Result<Self> {
        if input_dim == 0 {
            return Err(Error::invalid(origin, "input_dim", "must be at least 1"));
        }
        if layers.is_empty() {
            return Err(Error::invalid(
                origin,
                "layers",
                "needs at least the output layer",
            ));
        }
        let mut expected_in = input_dim;
        for (k, layer) in layers.iter().enumerate() {
            let field = |f: &str| format!("layers[{k}].{f}");
            if layer.out_dim == 0 {
                return Err(Error::invalid(
                    origin,
                    field("weight"),
                    "width must be at least 1",
                ));
            }
            if layer.in_dim != expected_in {
                return Err(Error::invalid(
                    origin,
                    field("weight"),
                    format!(
                        "has {} columns but its input has width {expected_in}",
                        layer.in_dim
                    ),
                ));
            }
            if layer.weight.len() != layer.in_dim * layer.out_dim {
                return Err(Error::invalid(
                    origin,
                    field("weight"),
                    format!(
                        "has {} values, expected {} x {}",
                        layer.weight.len(),
                        layer.out_dim,
                        layer.in_dim
                    ),
                ));
            }
            if let Some(i) = layer.weight.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    origin,
                    format!(
                        "layers[{k}].weight[{}][{}]",
                        i / layer.in_dim,
                        i % layer.in_dim
                    ),
                    format!("is not finite ({})", layer.weight[i]),
                ));
            }
            if let Some(bias) = &layer.bias {
                if bias.len() != layer.out_dim {
                    return Err(Error::invalid(
                        origin,
                        field("bias"),
                        format!("has {} values, expected {}", bias.len(), layer.out_dim),
                    ));
                }
                if let Some(i) = bias.iter().position(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        origin,
                        format!("layers[{k}].bias[{i}]"),
                        format!("is not finite ({})", bias[i]),
                    ));
                }
            }
            expected_in = layer.out_dim;
        }
        let last = layers.len() - 1;
        if layers[last].out_dim != 1 {
            return Err(Error::invalid(
                origin,
                format!("layers[{last}].weight"),
                format!(
                    "the output layer must have 1 output, found {}",
                    layers[last].out_dim
                ),
            ));
        }
        if layers[last].activation != Activation::Identity {
            return Err(Error::invalid(
                origin,
                format!("layers[{last}].activation"),
                format!(
                    "the output layer must be identity, found {}",
                    layers[last].activation
                ),
            ));
        }
        if let Some(skip) = &skip {
            if skip.weight.len() != input_dim {
                return Err(Error::invalid(
                    origin,
                    "skip.weight",
                    format!("has {} values, expected {input_dim}", skip.weight.len()),
                ));
            }
            if let Some(i) = skip.weight.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    origin,
                    format!("skip.weight[0][{i}]"),
                    format!("is not finite ({})", skip.weight[i]),
                ));
            }
        }
        let mut offset = 0;
        let mut slots = Vec::with_capacity(layers.len());
        for layer in &layers {
            let mut slot = LayerSlots {
                weight: None,
                bias: None,
            };
            if layer.trainable {
                slot.weight = Some(offset);
                offset += layer.weight.len();
                if let Some(b) = &layer.bias {
                    slot.bias = Some(offset);
                    offset += b.len();
                }
            }
            slots.push(slot);
        }
        let skip_slot = match &skip {
            Some(s) if s.trainable => {
                let at = offset;
                offset += s.weight.len();
                Some(at)
            }
            _ => None,
        };
        Ok(Network {
            input_dim,
            layers,
            skip,
            slots,
            skip_slot,
            param_count: offset,
        })
    }

    /// d, the input dimension.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// The layers, the output layer last.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The hidden layers (all but the output layer).
    pub fn hidden_layers(&self) -> &[Layer] {
        &self.layers[..self.layers.len() - 1]
    }

    /// The output layer.
    pub fn output_layer(&self) -> &Layer {
        &self.layers[self.layers.len() - 1]
    }

    /// The skip unit, if any.
    pub fn skip(&self) -> Option<&Skip> {
        self.skip.as_ref()
    }

    /// Where each layer's parameters sit in θ.
    pub fn slots(&self) -> &[LayerSlots] {
        &self.slots
    }

    /// Where the skip weight sits in θ, if it is trainable.
    pub fn skip_slot(&self) -> Option<usize> {
        self.skip_slot
    }

    /// p = len(θ), the number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// The widest layer input or output, a bound for workspace sizes.
    pub fn max_width(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.in_dim.max(l.out_dim))
            .max()
            .unwrap_or(1)
    }

    /// θ, the flat vector of trainable parameters, in the order of
    /// docs/conventions.md#theta (layers in order, weight row-major then bias, then the
    /// skip; frozen parts left out): the θ of paper eqs. 1 and 3.
    ///
    /// Checked by `tests::theta_order_is_layers_then_skip_and_skips_frozen`.
    pub fn params(&self) -> Vec<f64> {
        let mut theta = Vec::with_capacity(self.param_count);
        for layer in &self.layers {
            if layer.trainable {
                theta.extend_from_slice(&layer.weight);
                if let Some(b) = &layer.bias {
                    theta.extend_from_slice(b);
                }
            }
        }
        if let Some(s) = &self.skip {
            if s.trainable {
                theta.extend_from_slice(&s.weight);
            }
        }
        theta
    }

    /// Replaces θ. Fails (and changes nothing) if `theta` has the wrong length or a
    /// value that is not finite. The inverse of [`params`](Self::params).
    ///
    /// Checked by `tests::theta_order_is_layers_then_skip_and_skips_frozen` and
    /// `tests::rejects_bad_shapes_and_values`.
    pub fn set_params(&mut self, theta: &[f64]) -> Result<()> {
        if theta.len() != self.param_count {
            return Err(Error::parameter(
                "theta",
                format!(
                    "has {} values, the network has {}",
                    theta.len(),
                    self.param_count
                ),
            ));
        }
        if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::parameter(
                "theta",
                format!("value {i} is not finite ({})", theta[i]),
            ));
        }
        self.set_params_unchecked(theta);
        Ok(())
    }

    /// Replaces θ without checking finiteness. `theta.len()` must equal
    /// [`param_count`](Self::param_count) (a panic otherwise is a bug in the caller).
    pub fn set_params_unchecked(&mut self, theta: &[f64]) {
        assert_eq!(theta.len(), self.param_count, "θ has the wrong length");
        let mut at = 0;
        for layer in &mut self.layers {
            if layer.trainable {
                let n = layer.weight.len();
                layer.weight.copy_from_slice(&theta[at..at + n]);
                at += n;
                if let Some(b) = &mut layer.bias {
                    let n = b.len();
                    b.copy_from_slice(&theta[at..at + n]);
                    at += n;
                }
            }
        }
        if let Some(s) = &mut self.skip {
            if s.trainable {
                let n = s.weight.len();
                s.weight.copy_from_slice(&theta[at..at + n]);
            }
        }
    }

    /// A copy of this network with θ replaced.
    pub fn with_params(&self, theta: &[f64]) -> Result<Network> {
        let mut net = self.clone();
        net.set_params(theta)?;
        Ok(net)
    }

    /// h(x, θ) = W_out a_L + b_out + s·x for one input (docs/conventions.md#model, the
    /// hypothesis h of the paper's §2.1); allocates. The derivative kernels in
    /// [`crate::derivatives`] evaluate h without allocating.
    ///
    /// Checked by `tests::eval_matches_hand_computation`.
    pub fn eval(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.input_dim, "input has the wrong dimension");
        let mut a = x.to_vec();
        for layer in &self.layers {
            let mut next = vec![0.0; layer.out_dim];
            for (o, out) in next.iter_mut().enumerate() {
                let z = crate::kernels::dot(layer.row(o), &a)
                    + layer.bias.as_ref().map_or(0.0, |b| b[o]);
                *out = layer.activation.value(z);
            }
            a = next;
        }
        a[0] + self.skip_term(x)
    }

    /// s·x, or 0 without a skip unit.
    #[inline]
    pub fn skip_term(&self, x: &[f64]) -> f64 {
        self.skip
            .as_ref()
            .map_or(0.0, |s| crate::kernels::dot(&s.weight, x))
    }

    /// A description such as `1 -> 100 relu -> 1 (+bias, +skip)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}", self.input_dim);
        for layer in self.hidden_layers() {
            s.push_str(&format!(" -> {} {}", layer.out_dim, layer.activation));
            if !layer.trainable {
                s.push_str(" (frozen)");
            }
        }
        s.push_str(" -> 1");
        let mut extras = Vec::new();
        if self.output_layer().bias.is_some() {
            extras.push("output bias");
        }
        if !self.output_layer().trainable {
            extras.push("output frozen");
        }
        match &self.skip {
            Some(s) if s.trainable => extras.push("skip"),
            Some(_) => extras.push("frozen skip"),
            None => {}
        }
        if !extras.is_empty() {
            s.push_str(&format!(" ({})", extras.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch() -> Architecture {
        Architecture {
            input_dim: 2,
            hidden: vec![3, 2],
            activation: Activation::Tanh,
            hidden_bias: true,
            output_bias: true,
            skip: true,
            frozen_layers: vec![1],
            frozen_skip: false,
        }
    }

    #[test]
    fn theta_order_is_layers_then_skip_and_skips_frozen() {
        let mut k = 0.0;
        let net = arch()
            .build(|_, _, _| {
                k += 1.0;
                k
            })
            .unwrap();
        // layer 0: 6 weights + 3 biases; layer 1 frozen (6 + 2); output: 2 + 1; skip 2.
        assert_eq!(net.param_count(), 9 + 3 + 2);
        let theta = net.params();
        assert_eq!(&theta[..9], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        assert_eq!(&theta[9..12], &[18., 19., 20.]);
        assert_eq!(&theta[12..], &[21., 22.]);
        assert_eq!(net.slots()[1].weight, None);
        assert_eq!(net.skip_slot(), Some(12));
        let mut net2 = net.clone();
        let shifted: Vec<f64> = theta.iter().map(|t| t + 0.5).collect();
        net2.set_params(&shifted).unwrap();
        assert_eq!(net2.params(), shifted);
        assert_eq!(net2.layers()[1], net.layers()[1]);
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        let mut net = arch().build(|_, _, _| 0.1).unwrap();
        assert!(net.set_params(&[0.0; 3]).is_err());
        let mut bad = vec![0.0; net.param_count()];
        bad[4] = f64::NAN;
        assert!(net.set_params(&bad).is_err());
        let mut layers = net.layers().to_vec();
        layers[2].activation = Activation::Relu;
        let err = Network::new(2, layers, None, "m.json").unwrap_err();
        assert!(err.to_string().contains("layers[2].activation"), "{err}");
        let mut layers = net.layers().to_vec();
        layers[0].weight[3] = f64::INFINITY;
        let err = Network::new(2, layers, None, "m.json").unwrap_err();
        assert!(err.to_string().contains("layers[0].weight[1][1]"), "{err}");
    }

    #[test]
    fn eval_matches_hand_computation() {
        let net = Network::new(
            1,
            vec![
                Layer {
                    in_dim: 1,
                    out_dim: 2,
                    weight: vec![1.0, -2.0],
                    bias: Some(vec![0.5, 1.0]),
                    activation: Activation::Relu,
                    trainable: true,
                },
                Layer {
                    in_dim: 2,
                    out_dim: 1,
                    weight: vec![3.0, 4.0],
                    bias: Some(vec![-1.0]),
                    activation: Activation::Identity,
                    trainable: true,
                },
            ],
            Some(Skip {
                weight: vec![0.25],
                trainable: true,
            }),
            "test",
        )
        .unwrap();
        // x = 0.2: relu(0.7) = 0.7, relu(0.6) = 0.6; 3*0.7 + 4*0.6 - 1 + 0.05
        assert!((net.eval(&[0.2]) - (2.1 + 2.4 - 1.0 + 0.05)).abs() < 1e-15);
    }
}
