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
    safetensors::serialize(views, Some(metadata)).expect("a model always serializes")
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

/// Reads a model written by [`model_to_safetensors`] (F32 tensors are widened to f64).
pub fn model_from_safetensors(bytes: &[u8], origin: &str) -> Result<Network> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::invalid(origin, "header", format!("not a safetensors file: {e}")))?;
    let arch_json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("architecture"))
        .ok_or_else(|| Error::invalid(origin, "metadata.architecture", "missing"))?;
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

/// Reads a model from a built-in name (see [`crate::builtin`]) or a path:
/// `.safetensors` as safetensors, anything else as JSON.
pub fn load_model(path: &str) -> Result<Network> {
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
    if is_st {
        let bytes = std::fs::read(path).map_err(io)?;
        model_from_safetensors(&bytes, path)
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
}
