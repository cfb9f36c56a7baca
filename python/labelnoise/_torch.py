"""The PyTorch round trip: ``from_torch`` and ``Network.to_torch``.

A labelnoise network without a skip unit is exactly an ``nn.Sequential`` of
``nn.Linear`` layers with an activation module after each hidden one; with a skip unit
it is ``LabelnoiseMLP``: that Sequential (``net``) plus ``skip``, an ``nn.Linear(d, 1,
bias=False)`` added to the output. torch is optional: these functions import it when
called and raise ImportError with an install hint without it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._labelnoise import Network

_INSTALL_HINT = (
    "labelnoise's PyTorch functions need torch: pip install torch "
    "(the CPU wheel is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)

# Activation modules and the labelnoise names.
_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "logistic", "Identity": "identity"}


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return torch


def _module(torch: Any, name: str) -> Any:
    nn = torch.nn
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "identity": nn.Identity}[name]()


def _array(t: Any) -> np.ndarray:
    # f32 widens to f64 exactly.
    return t.detach().cpu().numpy().astype(np.float64)


def _from_sequential(torch: Any, seq: Any, activation: Optional[str], skip: Any) -> Network:
    linears: List[Any] = []
    acts: List[Optional[str]] = []
    for k, m in enumerate(seq):
        if isinstance(m, torch.nn.Linear):
            linears.append(m)
            acts.append(None)
        elif type(m).__name__ in _ACTIVATIONS:
            if not linears or acts[-1] is not None:
                raise ValueError(
                    f"module {k}: an activation ({type(m).__name__}) must follow an nn.Linear"
                )
            acts[-1] = _ACTIVATIONS[type(m).__name__]
        else:
            raise ValueError(
                f"module {k}: {type(m).__name__} is not supported "
                "(nn.Linear, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity)"
            )
    if not linears:
        raise ValueError("the module has no nn.Linear layer")
    if acts[-1] not in (None, "identity"):
        raise ValueError("the output layer must not be followed by an activation")
    hidden_acts = {a if a is not None else "identity" for a in acts[:-1]}
    if len(hidden_acts) > 1:
        raise ValueError(f"the hidden layers mix activations {sorted(hidden_acts)}")
    if activation is not None and hidden_acts and hidden_acts != {activation}:
        raise ValueError(f"activation={activation!r} disagrees with the module's {hidden_acts.pop()}")
    layers = []
    for k, lin in enumerate(linears):
        act = "identity" if k == len(linears) - 1 else (acts[k] or "identity")
        bias = None if lin.bias is None else _array(lin.bias)
        layers.append((_array(lin.weight), bias, act, True))
    skip_w = None if skip is None else _array(skip.weight).reshape(-1)
    return Network.from_layers(linears[0].in_features, layers, skip_w)


_KEY = re.compile(r"^(.*?)(\d+)\.(weight|bias)$")


def _from_state_dict(sd: Dict[str, Any], activation: Optional[str]) -> Network:
    if activation is None:
        raise ValueError("activation: needed to read a state_dict (relu, tanh, logistic, identity)")
    skip = None
    layers: Dict[int, Dict[str, Any]] = {}
    prefixes = set()
    for key, t in sd.items():
        if key == "skip.weight" or key.endswith(".skip.weight"):
            skip = t
            continue
        m = _KEY.match(key)
        if m is None:
            raise ValueError(f"{key}: unexpected key (expected [prefix.]INDEX.weight or .bias)")
        prefixes.add(m.group(1))
        layers.setdefault(int(m.group(2)), {})[m.group(3)] = t
    if len(prefixes) > 1:
        raise ValueError(f"keys have different prefixes: {sorted(prefixes)}")
    if not layers:
        raise ValueError("the state_dict has no layer weights")
    order = sorted(layers)
    out = []
    for i, idx in enumerate(order):
        entry = layers[idx]
        if "weight" not in entry:
            raise ValueError(f"{idx}.bias: has no {idx}.weight")
        w = _array(entry["weight"])
        b = None if "bias" not in entry else _array(entry["bias"])
        act = "identity" if i == len(order) - 1 else activation
        out.append((w, b, act, True))
    d = out[0][0].shape[1] if out[0][0].ndim == 2 else 0
    skip_w = None if skip is None else _array(skip).reshape(-1)
    return Network.from_layers(d, out, skip_w)


def from_torch(module_or_state_dict: Any, activation: Optional[str] = None) -> Network:
    """A labelnoise Network from a PyTorch model.

    Accepts an ``nn.Sequential`` of ``nn.Linear`` and activation modules (``nn.ReLU``,
    ``nn.Tanh``, ``nn.Sigmoid``, ``nn.Identity``; the activation is read from the
    modules), a module made by ``Network.to_torch`` (skip unit included), or a
    state_dict (keys ``0.weight``, ``0.bias``, ``2.weight``, ..., with or without a
    common prefix, layers ordered by index; give ``activation``). f32 weights are
    widened to f64 exactly.
    """
    torch = _torch()
    if activation is not None and activation not in ("relu", "tanh", "logistic", "sigmoid", "identity"):
        raise ValueError(f"activation: unknown activation {activation!r} (relu, tanh, logistic, identity)")
    if activation == "sigmoid":
        activation = "logistic"
    if isinstance(module_or_state_dict, torch.nn.Sequential):
        return _from_sequential(torch, module_or_state_dict, activation, None)
    if isinstance(module_or_state_dict, torch.nn.Module):
        net = getattr(module_or_state_dict, "net", None)
        skip = getattr(module_or_state_dict, "skip", None)
        if isinstance(net, torch.nn.Sequential):
            return _from_sequential(torch, net, activation, skip)
        raise ValueError(
            f"{type(module_or_state_dict).__name__}: expected an nn.Sequential of nn.Linear and activations"
        )
    if isinstance(module_or_state_dict, dict):
        return _from_state_dict(module_or_state_dict, activation)
    raise TypeError(
        f"expected an nn.Sequential, a labelnoise torch module or a state_dict, got {type(module_or_state_dict).__name__}"
    )


def _build(torch: Any, net: Network, dtype: Any) -> Any:
    nn = torch.nn
    layers = net.layers
    modules: List[Any] = []
    for k, layer in enumerate(layers):
        w = layer["weight"]
        lin = nn.Linear(w.shape[1], w.shape[0], bias=layer["bias"] is not None, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            if layer["bias"] is not None:
                lin.bias.copy_(torch.from_numpy(layer["bias"]))
        lin.weight.requires_grad_(layer["trainable"])
        if lin.bias is not None:
            lin.bias.requires_grad_(layer["trainable"])
        modules.append(lin)
        if k < len(layers) - 1:
            modules.append(_module(torch, layer["activation"]))
    seq = nn.Sequential(*modules)
    if net.skip is None:
        return seq
    skip = nn.Linear(net.input_dim, 1, bias=False, dtype=dtype)
    with torch.no_grad():
        skip.weight.copy_(torch.from_numpy(net.skip.reshape(1, -1)))
    return _skip_module_class(torch)(seq, skip)


_SKIP_CLASS: Any = None


def _skip_module_class(torch: Any) -> Any:
    global _SKIP_CLASS
    if _SKIP_CLASS is None:

        class LabelnoiseMLP(torch.nn.Module):
            """h(x) = net(x) + skip(x): an MLP with a linear skip unit."""

            def __init__(self, net: Any, skip: Any) -> None:
                super().__init__()
                self.net = net
                self.skip = skip

            def forward(self, x: Any) -> Any:
                return self.net(x) + self.skip(x)

        _SKIP_CLASS = LabelnoiseMLP
    return _SKIP_CLASS


def to_torch(net: Network, dtype: Any = None) -> Any:
    """A torch module computing h(x) (outputs of shape (n, 1) for inputs (n, d)).

    Without a skip unit an ``nn.Sequential`` (state_dict keys ``0.weight``, ...);
    with one a ``LabelnoiseMLP`` (keys ``net.0.weight``, ..., ``skip.weight``).
    ``dtype`` defaults to ``torch.float64``.
    """
    torch = _torch()
    return _build(torch, net, torch.float64 if dtype is None else dtype)
