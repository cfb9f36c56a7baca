//! `labelnoise.Network`: a multilayer perceptron of the library
//! ([`labelnoise_core::Network`]), evaluated, read and written from Python.

use std::path::Path;

use labelnoise_core::files::write_atomic;
use labelnoise_core::model_io::{load_model_with, model_to_json, model_to_safetensors};
use labelnoise_core::train::{Freeze, NetworkSpec};
use labelnoise_core::{Activation, Layer, Network, Skip};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{inputs, vec1, F64Array};
use crate::errors::{core_error, guard_py};

/// Above this many points `net(x)` releases the GIL while it evaluates.
const RELEASE_GIL_POINTS: usize = 4096;

/// A multilayer perceptron h(x, θ) = W_L σ(… σ(W_0 x + b_0) …) + b_L + s·x with one
/// output (docs/conventions.md#model).
#[pyclass(module = "labelnoise._labelnoise", name = "Network", frozen)]
#[derive(Clone)]
pub struct PyNetwork {
    pub net: Network,
}

impl PyNetwork {
    pub fn new(net: Network) -> Self {
        PyNetwork { net }
    }
}

/// An activation from its name (`relu`, `tanh`, `logistic`/`sigmoid`, `identity`).
pub fn activation(name: &str, what: &str) -> PyResult<Activation> {
    Activation::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{what}: unknown activation {name:?} (relu, tanh, logistic, identity)"
        ))
    })
}

/// What `freeze=` freezes: layer indices and `"skip"`.
pub fn freeze_list(obj: Option<&Bound<'_, PyAny>>) -> PyResult<(Vec<usize>, bool)> {
    let mut layers = Vec::new();
    let mut skip = false;
    let Some(obj) = obj else {
        return Ok((layers, skip));
    };
    let items: Vec<Bound<'_, PyAny>> =
        if obj.is_instance_of::<pyo3::types::PyString>() || obj.extract::<i64>().is_ok() {
            vec![obj.clone()]
        } else {
            obj.try_iter()
                .map_err(|_| {
                    PyTypeError::new_err("freeze: expected a list of layer indices or 'skip'")
                })?
                .collect::<PyResult<_>>()?
        };
    for item in items {
        if let Ok(s) = item.extract::<String>() {
            if s == "skip" {
                skip = true;
                continue;
            }
            return Err(PyValueError::new_err(format!(
                "--freeze: expected a layer index or 'skip', got {s:?}"
            )));
        }
        let k: i64 = item.extract().map_err(|_| {
            PyTypeError::new_err("freeze: expected a list of layer indices or 'skip'")
        })?;
        let k = usize::try_from(k).map_err(|_| {
            PyValueError::new_err(format!(
                "--freeze: expected a layer index or 'skip', got {k}"
            ))
        })?;
        layers.push(k);
    }
    Ok((layers, skip))
}

#[pymethods]
impl PyNetwork {
    /// A network with the project's default initialisation (U(±1/√fan_in) from the
    /// seed's initialisation stream, times `init_scale`, the output layer's weights then
    /// times `output_init_scale`): the network `labelnoise train` starts from with the
    /// same flags and seed.
    #[staticmethod]
    #[pyo3(signature = (input_dim, hidden, activation, *, skip=false, output_bias=false, seed=0, init_scale=1.0, output_init_scale=1.0, freeze=None))]
    #[allow(clippy::too_many_arguments)]
    fn mlp(
        input_dim: usize,
        hidden: Vec<usize>,
        activation: &str,
        skip: bool,
        output_bias: bool,
        seed: u64,
        init_scale: f64,
        output_init_scale: f64,
        freeze: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard_py(|| {
            let act = self::activation(activation, "--activation")?;
            let (frozen_layers, frozen_skip) = freeze_list(freeze)?;
            if input_dim == 0 {
                return Err(PyValueError::new_err("input_dim: must be at least 1"));
            }
            let mut freeze: Vec<Freeze> = frozen_layers.into_iter().map(Freeze::Layer).collect();
            if frozen_skip {
                freeze.push(Freeze::SKIP);
            }
            NetworkSpec {
                hidden,
                activation: Some(act),
                skip,
                output_bias,
                freeze,
                init_scale,
                output_init_scale,
                init_model: None,
            }
            .initial_network(input_dim, seed)
            .map(PyNetwork::new)
            .map_err(|e| core_error(&e))
        })
    }

    /// Reads a model file (`.json` or `.safetensors`, including a PyTorch state_dict
    /// saved with `safetensors.torch.save_file`, whose hidden `activation` is then
    /// needed unless `labelnoise export` wrote it) or a built-in model (`fig1-minimal`,
    /// `fig1-wiggly`).
    #[staticmethod]
    #[pyo3(signature = (path, activation=None))]
    fn load(path: &Bound<'_, PyAny>, activation: Option<&str>) -> PyResult<Self> {
        let path = path_string(path)?;
        guard_py(|| {
            let act = match activation {
                Some(a) => Some(self::activation(a, "--activation")?),
                None => None,
            };
            load_model_with(&path, act)
                .map(PyNetwork::new)
                .map_err(|e| core_error(&e))
        })
    }

    /// A network from its layers: `layers` is a list of (weight (out, in), bias (out,)
    /// or None, activation name, trainable); `skip` the skip weights (d,) or None. The
    /// last layer is the output layer (one unit).
    #[staticmethod]
    #[pyo3(signature = (input_dim, layers, skip=None, skip_trainable=true))]
    fn from_layers(
        input_dim: usize,
        layers: &Bound<'_, PyList>,
        skip: Option<&Bound<'_, PyAny>>,
        skip_trainable: bool,
    ) -> PyResult<Self> {
        guard_py(|| {
            let mut out = Vec::with_capacity(layers.len());
            for (k, item) in layers.iter().enumerate() {
                let (w, b, act, trainable): (
                    Bound<'_, PyAny>,
                    Option<Bound<'_, PyAny>>,
                    String,
                    bool,
                ) = item.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "layers[{k}]: expected (weight, bias or None, activation, trainable)"
                    ))
                })?;
                let w = F64Array::new(&w, &format!("layers[{k}].weight"))?;
                let (out_dim, in_dim) = match w.shape()[..] {
                    [o, i] => (o, i),
                    ref other => {
                        return Err(PyValueError::new_err(format!(
                            "layers[{k}].weight: must have shape (out, in), found {other:?}"
                        )))
                    }
                };
                let bias = match b {
                    Some(b) => {
                        let b = F64Array::new(&b, &format!("layers[{k}].bias"))?;
                        if b.shape() != [out_dim] {
                            return Err(PyValueError::new_err(format!(
                                "layers[{k}].bias: must have shape ({out_dim},), found {:?}",
                                b.shape()
                            )));
                        }
                        Some(b.with_slice(<[f64]>::to_vec)?)
                    }
                    None => None,
                };
                out.push(Layer {
                    in_dim,
                    out_dim,
                    weight: w.with_slice(<[f64]>::to_vec)?,
                    bias,
                    activation: activation(&act, &format!("layers[{k}].activation"))?,
                    trainable,
                });
            }
            let skip = match skip {
                Some(s) => {
                    let s = F64Array::new(s, "skip")?;
                    let weight = s.with_slice(<[f64]>::to_vec)?;
                    Some(Skip {
                        weight,
                        trainable: skip_trainable,
                    })
                }
                None => None,
            };
            Network::new(input_dim, out, skip, "layers")
                .map(PyNetwork::new)
                .map_err(|e| core_error(&e))
        })
    }

    /// h(x) for every row of x ((n, d) or (n,)): a float64 array of shape (n,).
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        guard_py(|| {
            let (n, d, xa) = inputs(x)?;
            check_dim(&self.net, d)?;
            let net = &self.net;
            let values = xa.with_slice(|xs| {
                let eval = || -> Vec<f64> {
                    if n == 0 {
                        return Vec::new();
                    }
                    xs.chunks_exact(d).map(|row| net.eval(row)).collect()
                };
                if n >= RELEASE_GIL_POINTS {
                    py.detach(eval)
                } else {
                    eval()
                }
            })?;
            Ok(vec1(py, values))
        })
    }

    /// θ, the flat parameter vector in the project's order (docs/conventions.md#theta):
    /// trainable parameters only, layers in order (weight row-major, then bias), then the
    /// skip. A copy.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        vec1(py, self.net.params())
    }

    /// A copy of this network with θ replaced.
    fn with_params(&self, theta: &Bound<'_, PyAny>) -> PyResult<Self> {
        guard_py(|| {
            let t = F64Array::new(theta, "theta")?;
            if t.shape().len() != 1 {
                return Err(PyValueError::new_err(format!(
                    "theta: must have shape ({},), found {:?}",
                    self.net.param_count(),
                    t.shape()
                )));
            }
            t.with_slice(|s| self.net.with_params(s))?
                .map(PyNetwork::new)
                .map_err(|e| core_error(&e))
        })
    }

    /// Writes the model: `.safetensors` as safetensors, anything else as model JSON
    /// (docs/formats.md#models), atomically.
    fn save(&self, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = path_string(path)?;
        guard_py(|| {
            let is_st = Path::new(&path)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
            let bytes = if is_st {
                model_to_safetensors(&self.net)
            } else {
                model_to_json(&self.net).into_bytes()
            };
            write_atomic(Path::new(&path), &bytes).map_err(|e| core_error(&e))
        })
    }

    /// The model JSON (docs/formats.md#model-json).
    fn to_json(&self) -> String {
        model_to_json(&self.net)
    }

    /// A description such as `1 -> 100 relu -> 1 (output bias, skip)`.
    fn describe(&self) -> String {
        self.net.describe()
    }

    fn __repr__(&self) -> String {
        format!(
            "Network({}; {} parameters)",
            self.net.describe(),
            self.net.param_count()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyNetwork>()
            .is_ok_and(|o| model_to_json(&o.get().net) == model_to_json(&self.net))
    }

    /// The input dimension d.
    #[getter]
    fn input_dim(&self) -> usize {
        self.net.input_dim()
    }

    /// The hidden widths.
    #[getter]
    fn hidden(&self) -> Vec<usize> {
        self.net.hidden_layers().iter().map(|l| l.out_dim).collect()
    }

    /// The number of trainable parameters p (the length of θ).
    #[getter]
    fn param_count(&self) -> usize {
        self.net.param_count()
    }

    /// The layers as a list of dicts: `weight` (out, in), `bias` (out,) or None,
    /// `activation`, `trainable`; the output layer last.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for l in self.net.layers() {
            let d = PyDict::new(py);
            let rows: Vec<Vec<f64>> = l.weight.chunks(l.in_dim).map(<[f64]>::to_vec).collect();
            d.set_item(
                "weight",
                PyArray2::from_vec2(py, &rows).map_err(|e| PyValueError::new_err(e.to_string()))?,
            )?;
            d.set_item("bias", l.bias.clone().map(|b| vec1(py, b)))?;
            d.set_item("activation", l.activation.name())?;
            d.set_item("trainable", l.trainable)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The skip weights s (d,), or None without a skip unit.
    #[getter]
    fn skip<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        self.net.skip().map(|s| vec1(py, s.weight.clone()))
    }

    /// A `torch.nn.Module` computing exactly h(x) (see `labelnoise.to_torch`).
    #[pyo3(signature = (dtype=None))]
    fn to_torch<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("labelnoise._torch")?
            .call_method1("to_torch", (slf, dtype))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let py = slf.py();
        let f = py.import("labelnoise")?.getattr("_network_from_json")?;
        Ok((f, (model_to_json(&slf.get().net),)))
    }

    /// A network from model JSON text.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        guard_py(|| {
            labelnoise_core::model_io::model_from_json(text, "model JSON")
                .map(PyNetwork::new)
                .map_err(|e| core_error(&e))
        })
    }
}

/// The data's dimension must be the network's.
pub fn check_dim(net: &Network, d: usize) -> PyResult<()> {
    if net.input_dim() != d {
        return Err(PyValueError::new_err(format!(
            "the model takes {}-dimensional inputs but the data are {d}-dimensional",
            net.input_dim()
        )));
    }
    Ok(())
}

/// A path given as `str` or `os.PathLike`.
pub fn path_string(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let fspath = obj
        .py()
        .import("os")?
        .call_method1("fspath", (obj,))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a path (str or os.PathLike), got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
    fspath
        .extract::<String>()
        .map_err(|_| PyTypeError::new_err("expected a str path"))
}
