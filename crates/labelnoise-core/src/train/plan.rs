//! Where the parameters of a network sit for a step on the flat θ: each block (weights,
//! biases, skip weight) is either a range of θ (trainable) or a range of a store of the
//! frozen values, copied once. The general step ([`super::sgd`]) and the exact ∇reg
//! term of explicit regularization ([`super::explicit`]) both walk this plan.

use crate::activation::Activation;
use crate::network::Network;

/// Where a block of parameters lives: in θ (trainable) or in the frozen store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Src {
    Theta(usize),
    Frozen(usize),
}

#[derive(Clone, Debug)]
pub(super) struct LayerPlan {
    pub(super) in_dim: usize,
    pub(super) out_dim: usize,
    pub(super) act: Activation,
    pub(super) w: Src,
    pub(super) b: Option<Src>,
}

/// The structure of a network with its frozen values, for steps on a flat θ.
#[derive(Clone, Debug)]
pub struct SgdModel {
    pub(super) input_dim: usize,
    pub(super) layers: Vec<LayerPlan>,
    pub(super) skip: Option<Src>,
    pub(super) frozen: Vec<f64>,
    pub(super) params: usize,
    /// The first layer has input width 1 and is trainable (its update is fused into the
    /// backward step of the second layer).
    pub(super) column_first: bool,
    /// One hidden column layer feeding the output layer: the one-sweep kernels of
    /// [`super::column`].
    pub(super) column_row: Option<ColumnRow>,
}

/// Where the blocks of a column-then-output network sit (see [`super::column`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct ColumnRow {
    pub(super) m: usize,
    pub(super) act: Activation,
    /// The hidden weights in θ.
    pub(super) w: usize,
    /// The hidden biases in θ (`None`: no hidden biases).
    pub(super) b: Option<usize>,
    /// The output weights: in θ, or frozen.
    pub(super) c: Src,
    pub(super) out_bias: Option<Src>,
}

impl SgdModel {
    /// The plan of `net`: where every block sits in θ, the frozen values copied.
    pub fn new(net: &Network) -> Self {
        let mut frozen = Vec::new();
        let mut store = |v: &[f64]| {
            let at = frozen.len();
            frozen.extend_from_slice(v);
            Src::Frozen(at)
        };
        let mut layers = Vec::with_capacity(net.layers().len());
        for (layer, slot) in net.layers().iter().zip(net.slots()) {
            let w = match slot.weight {
                Some(at) => Src::Theta(at),
                None => store(&layer.weight),
            };
            let b = match (&layer.bias, slot.bias) {
                (None, _) => None,
                (Some(_), Some(at)) => Some(Src::Theta(at)),
                (Some(b), None) => Some(store(b)),
            };
            layers.push(LayerPlan {
                in_dim: layer.in_dim,
                out_dim: layer.out_dim,
                act: layer.activation,
                w,
                b,
            });
        }
        let skip = net.skip().map(|s| match net.skip_slot() {
            Some(at) => Src::Theta(at),
            None => store(&s.weight),
        });
        let column_first =
            layers.len() > 1 && layers[0].in_dim == 1 && matches!(layers[0].w, Src::Theta(_));
        let column_row = match (column_first, &layers[..]) {
            (true, [first, out]) => match (first.w, first.b) {
                (Src::Theta(w), None | Some(Src::Theta(_)))
                    if out.act == Activation::Identity && out.out_dim == 1 =>
                {
                    let b = match first.b {
                        Some(Src::Theta(at)) => Some(at),
                        _ => None,
                    };
                    // The column kernel splits θ as w < b < c.
                    let c_after = match out.w {
                        Src::Theta(c) => c >= b.unwrap_or(w) + first.out_dim,
                        Src::Frozen(_) => true,
                    };
                    (b.is_none_or(|b| b >= w + first.out_dim) && c_after).then_some(ColumnRow {
                        m: first.out_dim,
                        act: first.act,
                        w,
                        b,
                        c: out.w,
                        out_bias: out.b,
                    })
                }
                _ => None,
            },
            _ => None,
        };
        SgdModel {
            column_first,
            column_row,
            input_dim: net.input_dim(),
            layers,
            skip,
            frozen,
            params: net.param_count(),
        }
    }

    /// p, the length of θ.
    pub fn param_count(&self) -> usize {
        self.params
    }

    /// The layers' plan.
    pub(super) fn plan(&self) -> &[LayerPlan] {
        &self.layers
    }

    /// The column-then-output plan, if the network has that shape.
    pub(super) fn column_row(&self) -> Option<ColumnRow> {
        self.column_row
    }

    /// d, the input dimension.
    pub(super) fn input_dim(&self) -> usize {
        self.input_dim
    }

    #[inline(always)]
    pub(super) fn block<'a>(&'a self, theta: &'a [f64], src: Src, len: usize) -> &'a [f64] {
        match src {
            Src::Theta(at) => &theta[at..at + len],
            Src::Frozen(at) => &self.frozen[at..at + len],
        }
    }
}
