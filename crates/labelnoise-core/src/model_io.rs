//! Model files (docs/formats.md#models): JSON and safetensors. Functions here turn bytes
//! into networks and back; reading and writing files is the caller's business, except for
//! [`load_model`], which reads a path.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::data::{json_field, number};
use crate::error::{Error, Result};
use crate::network::{Layer, Network, Skip};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    input_dim: usize,
    layers: Vec<LayerFile>,
    #[serde(default)]
    skip: Option<SkipFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    weight: Vec<Vec<serde_json::Value>>,
    #[serde(default)]
    bias: Option<Vec<serde_json::Value>>,
    activation: String,
    #[serde(default = "yes")]
    trainable: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipFile {
    weight: Vec<Vec<serde_json::Value>>,
    #[serde(default = "yes")]
    trainable: bool,
}

fn yes() -> bool {
    true
}

fn matrix(
    rows: &[Vec<serde_json::Value>],
    origin: &str,
    field: &str,
) -> Result<(usize, usize, Vec<f64>)> {
    let ncols = rows.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(rows.len() * ncols);
    for (i, row) in rows.iter().enumerate() {
        if row.len() != ncols {
            return Err(Error::invalid(
                origin,
                format!("{field}[{i}]"),
                format!("has {} values, row 0 has {ncols}", row.len()),
            ));
        }
        for (j, v) in row.iter().enumerate() {
            out.push(number(v, origin, &format!("{field}[{i}][{j}]"))?);
        }
    }
    Ok((rows.len(), ncols, out))
}

/// Parses the model JSON format of docs/formats.md#model-json.
pub fn model_from_json(text: &str, origin: &str) -> Result<Network> {
    let file: ModelFile = serde_json::from_str(text).map_err(|e| {
        Error::invalid(origin, json_field(&e), format!("malformed model JSON: {e}"))
    })?;
    let mut layers = Vec::with_capacity(file.layers.len());
    let mut in_dim = file.input_dim;
    for (k, lf) in file.layers.iter().enumerate() {
        let field = format!("layers[{k}].weight");
        let (out_dim, cols, weight) = matrix(&lf.weight, origin, &field)?;
        if out_dim == 0 {
            return Err(Error::invalid(origin, field, "width must be at least 1"));
        }
        if cols != in_dim {
            return Err(Error::invalid(
                origin,
                field,
                format!("has {cols} columns but its input has width {in_dim}"),
            ));
        }
        let bias = match &lf.bias {
            None => None,
            Some(b) => Some(
                b.iter()
                    .enumerate()
                    .map(|(i, v)| number(v, origin, &format!("layers[{k}].bias[{i}]")))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let activation = Activation::from_name(&lf.activation).ok_or_else(|| {
            Error::invalid(
                origin,
                format!("layers[{k}].activation"),
                format!(
                    "unknown activation {:?} (relu, tanh, logistic, identity)",
                    lf.activation
                ),
            )
        })?;
        layers.push(Layer {
            in_dim,
            out_dim,
            weight,
            bias,
            activation,
            trainable: lf.trainable,
        });
        in_dim = out_dim;
    }
    let skip = match &file.skip {
        None => None,
        Some(s) => {
            let (rows, cols, weight) = matrix(&s.weight, origin, "skip.weight")?;
            if rows != 1 || cols != file.input_dim {
                return Err(Error::invalid(
                    origin,
                    "skip.weight",
                    format!("must be 1 x {}, found {rows} x {cols}", file.input_dim),
                ));
            }
            Some(Skip {
                weight,
                trainable: s.trainable,
            })
        }
    };
    Network::new(file.input_dim, layers, skip, origin)
}

fn rows_of(values: &[f64], ncols: usize) -> Vec<Vec<serde_json::Value>> {
    values
        .chunks(ncols.max(1))
        .map(|r| r.iter().map(|&v| serde_json::Value::from(v)).collect())
        .collect()
}

/// The model JSON of docs/formats.md#model-json (pretty-printed; values round-trip exactly).
pub fn model_to_json(net: &Network) -> String {
    let file = ModelFile {
        input_dim: net.input_dim(),
        layers: net
            .layers()
            .iter()
            .map(|l| LayerFile {
                weight: rows_of(&l.weight, l.in_dim),
                bias: l
                    .bias
                    .as_ref()
                    .map(|b| b.iter().map(|&v| v.into()).collect()),
                activation: l.activation.name().to_string(),
                trainable: l.trainable,
            })
            .collect(),
        skip: net.skip().map(|s| SkipFile {
            weight: rows_of(&s.weight, s.weight.len()),
            trainable: s.trainable,
        }),
    };
    serde_json::to_string_pretty(&file).expect("a model always serializes")
}

/// The architecture stored in the safetensors metadata under `architecture`.
#[derive(Serialize, Deserialize)]
struct ArchitectureMeta {
    input_dim: usize,
    layers: Vec<LayerMeta>,
    skip: Option<SkipMeta>,
}

#[derive(Serialize, Deserialize)]
struct LayerMeta {
    in_dim: usize,
    out_dim: usize,
    activation: String,
    bias: bool,
    trainable: bool,
}

#[derive(Serialize, Deserialize)]
struct SkipMeta {
    trainable: bool,
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The model as safetensors bytes: F64 tensors `layers.K.weight` (out x in),
/// `layers.K.bias` (out), `skip.weight` (1 x d), and the architecture as JSON in the
/// metadata key `architecture` (with `format` = `labelnoise-mlp`).
pub fn model_to_safetensors(net: &Network) -> Vec<u8> {
    let meta = ArchitectureMeta {
        input_dim: net.input_dim(),
        layers: net
            .layers()
            .iter()
            .map(|l| LayerMeta {
                in_dim: l.in_dim,
                out_dim: l.out_dim,
                activation: l.activation.name().to_string(),
                bias: l.bias.is_some(),
                trainable: l.trainable,
            })
            .collect(),
        skip: net.skip().map(|s| SkipMeta {
            trainable: s.trainable,
        }),
    };
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (k, l) in net.layers().iter().enumerate() {
        buffers.push((
            format!("layers.{k}.weight"),
            vec![l.out_dim, l.in_dim],
            f64_bytes(&l.weight),
        ));
        if let Some(b) = &l.bias {
            buffers.push((format!("layers.{k}.bias"), vec![l.out_dim], f64_bytes(b)));
        }
    }
    if let Some(s) = net.skip() {
        buffers.push((
            "skip.weight".to_string(),
            vec![1, s.weight.len()],
            f64_bytes(&s.weight),
        ));
    }
    let views: Vec<(String, TensorView<'_>)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(Dtype::F64, shape.clone(), bytes)
                .expect("shape and byte count agree");
            (name.clone(), view)
        })
        .collect();
    let metadata = HashMap::from([
        ("format".to_string(), "labelnoise-mlp".to_string()),
        (
            "architecture".to_string(),
            serde_json::to_string(&meta).expect("metadata serializes"),
        ),
    ]);
    canonical_header(
        safetensors::serialize(views, Some(metadata)).expect("a model always serializes"),
    )
}

/// `bytes` (a safetensors file) with its JSON header's keys in sorted order, so that the
/// same network always gives the same bytes. The `safetensors` crate takes the metadata
/// as a `HashMap` and writes it in that map's (per-process random) iteration order; JSON
/// key order carries no meaning in the format, and the tensor offsets are unchanged, so
/// only the header is rewritten (padded with spaces to a multiple of 8 bytes, as the
/// crate pads it). Checked by `tests::safetensors_bytes_do_not_depend_on_the_process`.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    // serde_json's map is a BTreeMap (no `preserve_order`): parsing sorts the keys.
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).expect("the crate writes a JSON header");
    let mut text = serde_json::to_vec(&header).expect("JSON serializes");
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

fn tensor(st: &SafeTensors<'_>, name: &str, shape: &[usize], origin: &str) -> Result<Vec<f64>> {
    let view = st
        .tensor(name)
        .map_err(|e| Error::invalid(origin, name, format!("missing or unreadable tensor: {e}")))?;
    if view.shape() != shape {
        return Err(Error::invalid(
            origin,
            name,
            format!(
                "has shape {:?}, the architecture says {shape:?}",
                view.shape()
            ),
        ));
    }
    let values: Vec<f64> = match view.dtype() {
        Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")))
            .collect(),
        Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4 bytes")) as f64)
            .collect(),
        other => {
            return Err(Error::invalid(
                origin,
                name,
                format!("dtype {other:?} is not supported (F64 or F32)"),
            ))
        }
    };
    Ok(values)
}

/// Reads a model written by [`model_to_safetensors`] (F32 tensors are widened to f64),
/// or a PyTorch `nn.Sequential` state_dict (see [`model_from_safetensors_with`]).
pub fn model_from_safetensors(bytes: &[u8], origin: &str) -> Result<Network> {
    model_from_safetensors_with(bytes, origin, None)
}

/// Reads a safetensors model: labelnoise's own (metadata `architecture`), or, without
/// that metadata, the state_dict of a PyTorch `nn.Sequential` of `nn.Linear` layers and
/// activations as `safetensors.torch.save_file` writes it (tensor names `0.weight`,
/// `0.bias`, `2.weight`, ..., with or without a common prefix such as `net.`, plus an
/// optional `skip.weight` of shape (1, d); layers ordered by index; shapes checked
/// against each other; the last layer has one output and no activation). The hidden
/// layers' activation is `activation`, else the file's metadata key `activation`
/// (which `labelnoise export --torch` writes); F32 tensors are widened to f64 exactly.
pub fn model_from_safetensors_with(
    bytes: &[u8],
    origin: &str,
    activation: Option<Activation>,
) -> Result<Network> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::invalid(origin, "header", format!("not a safetensors file: {e}")))?;
    let Some(arch_json) = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("architecture"))
    else {
        let meta_activation = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("activation"))
            .cloned();
        return torch_model(bytes, origin, activation, meta_activation.as_deref());
    };
    let meta: ArchitectureMeta = serde_json::from_str(arch_json)
        .map_err(|e| Error::invalid(origin, "metadata.architecture", format!("malformed: {e}")))?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::invalid(origin, "header", format!("not a safetensors file: {e}")))?;
    let mut layers = Vec::with_capacity(meta.layers.len());
    for (k, lm) in meta.layers.iter().enumerate() {
        let activation = Activation::from_name(&lm.activation).ok_or_else(|| {
            Error::invalid(
                origin,
                format!("metadata.architecture.layers[{k}].activation"),
                format!("unknown activation {:?}", lm.activation),
            )
        })?;
        let weight = tensor(
            &st,
            &format!("layers.{k}.weight"),
            &[lm.out_dim, lm.in_dim],
            origin,
        )?;
        let bias = if lm.bias {
            Some(tensor(
                &st,
                &format!("layers.{k}.bias"),
                &[lm.out_dim],
                origin,
            )?)
        } else {
            None
        };
        layers.push(Layer {
            in_dim: lm.in_dim,
            out_dim: lm.out_dim,
            weight,
            bias,
            activation,
            trainable: lm.trainable,
        });
    }
    let skip = match &meta.skip {
        Some(sm) => Some(Skip {
            weight: tensor(&st, "skip.weight", &[1, meta.input_dim], origin)?,
            trainable: sm.trainable,
        }),
        None => None,
    };
    Network::new(meta.input_dim, layers, skip, origin)
}

/// A PyTorch-style tensor name: `[prefix]INDEX.weight` or `[prefix]INDEX.bias`.
fn torch_name(name: &str) -> Option<(&str, usize, bool)> {
    let (rest, is_bias) = if let Some(r) = name.strip_suffix(".weight") {
        (r, false)
    } else {
        (name.strip_suffix(".bias")?, true)
    };
    let digits = rest.len() - rest.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (prefix, index) = rest.split_at(rest.len() - digits);
    if !(prefix.is_empty() || prefix.ends_with('.')) {
        return None;
    }
    Some((prefix, index.parse().ok()?, is_bias))
}

/// A 2-D or 1-D tensor's values (F64 or F32) and shape, by name.
fn tensor_any(st: &SafeTensors<'_>, name: &str, origin: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let view = st
        .tensor(name)
        .map_err(|e| Error::invalid(origin, name, format!("unreadable tensor: {e}")))?;
    let shape = view.shape().to_vec();
    Ok((shape.clone(), tensor(st, name, &shape, origin)?))
}

/// The PyTorch state_dict reader of [`model_from_safetensors_with`].
fn torch_model(
    bytes: &[u8],
    origin: &str,
    activation: Option<Activation>,
    meta_activation: Option<&str>,
) -> Result<Network> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::invalid(origin, "header", format!("not a safetensors file: {e}")))?;
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let mut prefix: Option<String> = None;
    let mut layers: std::collections::BTreeMap<usize, (Option<String>, Option<String>)> =
        Default::default();
    let mut skip_name = None;
    for name in &names {
        if name == "skip.weight" || name.ends_with(".skip.weight") {
            skip_name = Some(name.clone());
            continue;
        }
        let unexpected = || {
            Error::invalid(
                origin,
                name.as_str(),
                "unexpected tensor name: neither a labelnoise model (no metadata \
                 architecture) nor a PyTorch nn.Sequential state_dict (0.weight, 0.bias, \
                 2.weight, ...)",
            )
        };
        let (p, index, is_bias) = torch_name(name).ok_or_else(unexpected)?;
        match &prefix {
            Some(q) if q != p => {
                return Err(Error::invalid(
                    origin,
                    name.as_str(),
                    format!("unexpected tensor name: the other layers' names start with {q:?}"),
                ))
            }
            _ => prefix = Some(p.to_string()),
        }
        let slot = layers.entry(index).or_default();
        if is_bias {
            slot.1 = Some(name.clone());
        } else {
            slot.0 = Some(name.clone());
        }
    }
    if layers.is_empty() {
        return Err(Error::invalid(
            origin,
            "tensors",
            "no layer weights (0.weight, ...)",
        ));
    }
    let hidden_activation = match (activation, meta_activation) {
        (Some(a), _) => Some(a),
        (None, Some(name)) => Some(Activation::from_name(name).ok_or_else(|| {
            Error::invalid(
                origin,
                "metadata.activation",
                format!("unknown activation {name:?}"),
            )
        })?),
        (None, None) => None,
    };
    let count = layers.len();
    let mut out = Vec::with_capacity(count);
    let mut input_dim = 0;
    for (k, (index, (weight, bias))) in layers.into_iter().enumerate() {
        let p = prefix.as_deref().unwrap_or("");
        let weight_name = weight.ok_or_else(|| {
            Error::invalid(
                origin,
                format!("{p}{index}.bias"),
                format!("has no {p}{index}.weight"),
            )
        })?;
        let (shape, w) = tensor_any(&st, &weight_name, origin)?;
        let [out_dim, in_dim] = shape[..] else {
            return Err(Error::invalid(
                origin,
                weight_name,
                format!("has shape {shape:?}, expected (out, in)"),
            ));
        };
        if k == 0 {
            input_dim = in_dim;
        } else {
            let prev: &Layer = &out[k - 1];
            if in_dim != prev.out_dim {
                return Err(Error::invalid(
                    origin,
                    weight_name,
                    format!(
                        "has {in_dim} inputs but the layer before has {} outputs",
                        prev.out_dim
                    ),
                ));
            }
        }
        let is_output = k + 1 == count;
        if is_output && out_dim != 1 {
            return Err(Error::invalid(
                origin,
                weight_name,
                format!("the last layer has {out_dim} outputs; a labelnoise network has one"),
            ));
        }
        let b = match bias {
            Some(name) => {
                let (bshape, b) = tensor_any(&st, &name, origin)?;
                if bshape != [out_dim] {
                    return Err(Error::invalid(
                        origin,
                        name,
                        format!("has shape {bshape:?}, expected [{out_dim}]"),
                    ));
                }
                Some(b)
            }
            None => None,
        };
        let act = if is_output {
            Activation::Identity
        } else {
            hidden_activation.ok_or_else(|| {
                Error::parameter(
                    "--activation",
                    format!(
                        "{origin} is a PyTorch state_dict without labelnoise metadata: give \
                         the hidden layers' activation"
                    ),
                )
            })?
        };
        out.push(Layer {
            in_dim,
            out_dim,
            weight: w,
            bias: b,
            activation: act,
            trainable: true,
        });
    }
    let skip = match skip_name {
        Some(name) => {
            let (shape, w) = tensor_any(&st, &name, origin)?;
            if shape != [1, input_dim] {
                return Err(Error::invalid(
                    origin,
                    name,
                    format!("has shape {shape:?}, expected [1, {input_dim}]"),
                ));
            }
            Some(Skip {
                weight: w,
                trainable: true,
            })
        }
        None => None,
    };
    Network::new(input_dim, out, skip, origin)
}

/// The precision of exported tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchDtype {
    /// float64 (exact).
    F64,
    /// float32 (rounded to nearest).
    F32,
}

/// The network as the safetensors file `safetensors.torch.save_file` writes for the
/// module `labelnoise.Network.to_torch` builds: without a skip unit an `nn.Sequential`
/// (`0.weight`, `0.bias`, `2.weight`, ...: linear layer k at index 2k, activations
/// between them), with one `net.0.weight`, ..., `skip.weight` (1 x d). The metadata holds
/// `format` = `pt` and the hidden `activation`, so [`model_from_safetensors`] reads it
/// back without being told. Frozen flags are not kept (a state_dict has none).
pub fn model_to_torch_safetensors(net: &Network, dtype: TorchDtype) -> Vec<u8> {
    let prefix = if net.skip().is_some() { "net." } else { "" };
    let encode = |values: &[f64]| -> Vec<u8> {
        match dtype {
            TorchDtype::F64 => f64_bytes(values),
            TorchDtype::F32 => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
        }
    };
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (k, l) in net.layers().iter().enumerate() {
        buffers.push((
            format!("{prefix}{}.weight", 2 * k),
            vec![l.out_dim, l.in_dim],
            encode(&l.weight),
        ));
        if let Some(b) = &l.bias {
            buffers.push((
                format!("{prefix}{}.bias", 2 * k),
                vec![l.out_dim],
                encode(b),
            ));
        }
    }
    if let Some(s) = net.skip() {
        buffers.push((
            "skip.weight".to_string(),
            vec![1, s.weight.len()],
            encode(&s.weight),
        ));
    }
    let st_dtype = match dtype {
        TorchDtype::F64 => Dtype::F64,
        TorchDtype::F32 => Dtype::F32,
    };
    let views: Vec<(String, TensorView<'_>)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(st_dtype, shape.clone(), bytes)
                .expect("shape and byte count agree");
            (name.clone(), view)
        })
        .collect();
    let activation = net
        .hidden_layers()
        .first()
        .map_or("identity", |l| l.activation.name());
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("activation".to_string(), activation.to_string()),
    ]);
    canonical_header(
        safetensors::serialize(views, Some(metadata)).expect("a model always serializes"),
    )
}

/// Reads a model from a built-in name (see [`crate::builtin`]) or a path:
/// `.safetensors` as safetensors, anything else as JSON.
pub fn load_model(path: &str) -> Result<Network> {
    load_model_with(path, None)
}

/// [`load_model`], with the hidden activation for a PyTorch state_dict in safetensors
/// (`--activation`; see [`model_from_safetensors_with`]).
pub fn load_model_with(path: &str, activation: Option<Activation>) -> Result<Network> {
    if let Some(net) = crate::builtin::model(path) {
        return Ok(net);
    }
    let is_st = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    let io = |source| Error::Io {
        file: path.to_string(),
        source,
    };
    crate::memory::check_file_fits("--model", Path::new(path))?;
    if is_st {
        let bytes = std::fs::read(path).map_err(io)?;
        model_from_safetensors_with(&bytes, path, activation)
    } else {
        let text = std::fs::read_to_string(path).map_err(io)?;
        model_from_json(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Architecture;

    fn net() -> Network {
        let mut k = 0.0f64;
        Architecture {
            input_dim: 2,
            hidden: vec![3, 2],
            activation: Activation::Logistic,
            hidden_bias: true,
            output_bias: false,
            skip: true,
            frozen_layers: vec![0],
            frozen_skip: true,
        }
        .build(|_, _, _| {
            k += 1.0;
            (k * 0.731).sin() / 3.0
        })
        .unwrap()
    }

    #[test]
    fn json_round_trips_exactly() {
        let n = net();
        let back = model_from_json(&model_to_json(&n), "m.json").unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn safetensors_bytes_do_not_depend_on_the_process() {
        // Each HashMap gets its own random hash keys, so without the canonical header
        // two serializations in one process already differ in metadata order.
        let n = net();
        for write in [
            model_to_safetensors as fn(&Network) -> Vec<u8>,
            |n: &Network| model_to_torch_safetensors(n, TorchDtype::F32),
        ] {
            let first = write(&n);
            for _ in 0..20 {
                assert_eq!(write(&n), first);
            }
            let len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
            assert!(len.is_multiple_of(8));
            let header = std::str::from_utf8(&first[8..8 + len]).unwrap().trim_end();
            let value: serde_json::Value = serde_json::from_str(header).unwrap();
            let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
            let meta = value["__metadata__"].as_object().unwrap();
            // Sorted in the text as in the parsed map.
            let positions: Vec<usize> = keys
                .iter()
                .map(|k| header.find(&format!("\"{k}\":")).unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{header}");
            let meta_keys: Vec<usize> = meta
                .keys()
                .map(|k| header.find(&format!("\"{k}\":")).unwrap())
                .collect();
            assert!(meta_keys.windows(2).all(|w| w[0] < w[1]), "{header}");
        }
        let back = model_from_safetensors(&model_to_safetensors(&n), "m.safetensors").unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn safetensors_round_trips_exactly() {
        let n = net();
        let back = model_from_safetensors(&model_to_safetensors(&n), "m.safetensors").unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn json_errors_name_file_and_field() {
        let text = r#"{"input_dim": 1, "layers": [
            {"weight": [[1.0], [2.0]], "bias": [0, 0], "activation": "softplus"},
            {"weight": [[1.0, 2.0]], "bias": null, "activation": "identity"}]}"#;
        let e = model_from_json(text, "m.json").unwrap_err().to_string();
        assert!(
            e.starts_with("m.json: layers[0].activation: unknown activation"),
            "{e}"
        );
        let text = r#"{"input_dim": 1, "layers": [
            {"weight": [[1.0], [2.0]], "bias": [0, 0], "activation": "relu"},
            {"weight": [[1.0, 2.0, 3.0]], "bias": null, "activation": "identity"}]}"#;
        let e = model_from_json(text, "m.json").unwrap_err().to_string();
        assert!(
            e.starts_with("m.json: layers[1].weight: has 3 columns"),
            "{e}"
        );
        let e = model_from_json("{", "m.json").unwrap_err().to_string();
        assert!(
            e.starts_with("m.json: line 1, column 1: malformed model JSON"),
            "{e}"
        );
        let e = model_from_json(
            r#"{"input_dim": 1, "layers": [{"weight": [[1e999]], "activation": "identity"}]}"#,
            "m.json",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("m.json: "), "{e}");
    }

    /// Safetensors bytes with these F64 tensors and metadata.
    fn st(tensors: &[(&str, Vec<usize>, Vec<f64>)], meta: Option<(&str, &str)>) -> Vec<u8> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|(n, s, v)| (n.to_string(), s.clone(), f64_bytes(v)))
            .collect();
        let views: Vec<(String, TensorView<'_>)> = bytes
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let meta = meta.map(|(k, v)| HashMap::from([(k.to_string(), v.to_string())]));
        safetensors::serialize(views, meta).unwrap()
    }

    #[test]
    fn torch_export_round_trips_with_and_without_skip() {
        let with_skip = net();
        let bytes = model_to_torch_safetensors(&with_skip, TorchDtype::F64);
        let back = model_from_safetensors(&bytes, "t.safetensors").unwrap();
        let thaw = |n: &Network| {
            let layers = n
                .layers()
                .iter()
                .cloned()
                .map(|mut l| {
                    l.trainable = true;
                    l
                })
                .collect();
            let skip = n.skip().cloned().map(|mut s| {
                s.trainable = true;
                s
            });
            Network::new(n.input_dim(), layers, skip, "x").unwrap()
        };
        assert_eq!(back, thaw(&with_skip));
        let names: Vec<String> = SafeTensors::deserialize(&bytes)
            .unwrap()
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        for name in [
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.4.weight",
            "skip.weight",
        ] {
            assert!(names.contains(&name.to_string()), "{names:?}");
        }
        let f32_bytes = model_to_torch_safetensors(&with_skip, TorchDtype::F32);
        let back32 = model_from_safetensors(&f32_bytes, "t.safetensors").unwrap();
        let rounded: Vec<f64> = thaw(&with_skip)
            .params()
            .iter()
            .map(|&v| v as f32 as f64)
            .collect();
        assert_eq!(back32.params(), rounded);
    }

    #[test]
    fn torch_state_dicts_are_read_by_index_with_a_prefix() {
        // nn.Sequential(Linear(1, 2), ReLU(), Linear(2, 1)) under a prefix "model.".
        let bytes = st(
            &[
                ("model.0.weight", vec![2, 1], vec![1.0, -1.0]),
                ("model.0.bias", vec![2], vec![0.5, 0.25]),
                ("model.2.weight", vec![1, 2], vec![3.0, 4.0]),
                ("model.2.bias", vec![1], vec![-2.0]),
            ],
            Some(("format", "pt")),
        );
        let e = model_from_safetensors(&bytes, "s.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--activation: s.safetensors is a PyTorch state_dict"),
            "{e}"
        );
        let n =
            model_from_safetensors_with(&bytes, "s.safetensors", Some(Activation::Relu)).unwrap();
        assert_eq!(n.eval(&[2.0]), 3.0 * 2.5 + 4.0 * 0.0 - 2.0);
        assert_eq!(n.layers()[0].activation, Activation::Relu);
        // Ordered by index, not by name (10 sorts before 2).
        let deep = st(
            &[
                ("2.weight", vec![3, 2], vec![0.0; 6]),
                ("0.weight", vec![2, 1], vec![0.0; 2]),
                ("10.weight", vec![1, 3], vec![1.0; 3]),
            ],
            None,
        );
        let n =
            model_from_safetensors_with(&deep, "d.safetensors", Some(Activation::Tanh)).unwrap();
        assert_eq!(
            n.layers().iter().map(|l| l.out_dim).collect::<Vec<_>>(),
            vec![2, 3, 1]
        );
    }

    #[test]
    fn bad_torch_files_name_the_key() {
        let unexpected = st(
            &[
                ("0.weight", vec![1, 1], vec![1.0]),
                ("running_mean", vec![1], vec![0.0]),
            ],
            None,
        );
        let e = model_from_safetensors_with(&unexpected, "u.safetensors", Some(Activation::Relu))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("u.safetensors: running_mean: unexpected tensor name"),
            "{e}"
        );
        let shapes = st(
            &[
                ("0.weight", vec![2, 1], vec![1.0; 2]),
                ("2.weight", vec![1, 3], vec![1.0; 3]),
            ],
            None,
        );
        let e = model_from_safetensors_with(&shapes, "s.safetensors", Some(Activation::Relu))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.safetensors: 2.weight: has 3 inputs but the layer before has 2"),
            "{e}"
        );
        let prefixes = st(
            &[
                ("a.0.weight", vec![2, 1], vec![1.0; 2]),
                ("b.2.weight", vec![1, 2], vec![1.0; 2]),
            ],
            None,
        );
        let e = model_from_safetensors_with(&prefixes, "p.safetensors", Some(Activation::Relu))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.safetensors: b.2.weight: unexpected tensor name"),
            "{e}"
        );
        let wide = st(&[("0.weight", vec![2, 1], vec![1.0; 2])], None);
        let e = model_from_safetensors(&wide, "w.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("w.safetensors: 0.weight: the last layer has 2 outputs"),
            "{e}"
        );
    }
}
