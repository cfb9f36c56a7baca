"""The PyTorch round trip with real torch: from_torch on random nn.Sequential MLPs of
every activation, depth 1-3, f32 and f64; to_torch back; safetensors written by
safetensors.torch read by the command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import labelnoise as ln

ACTS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "logistic": torch.nn.Sigmoid, "identity": torch.nn.Identity}


def sequential(d, widths, act, dtype, bias=True, seed=0):
    torch.manual_seed(seed)
    mods = []
    for w in widths:
        mods += [torch.nn.Linear(d, w, bias=bias, dtype=dtype), ACTS[act]()]
        d = w
    mods.append(torch.nn.Linear(d, 1, bias=bias, dtype=dtype))
    return torch.nn.Sequential(*mods)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_torch_matches_the_module(act, depth, dtype):
    d = 3
    module = sequential(d, [7, 5, 4][:depth], act, dtype, seed=depth)
    net = ln.from_torch(module)
    assert net.hidden == [7, 5, 4][:depth]
    assert all(l["activation"] == (act if k < depth else "identity") for k, l in enumerate(net.layers))
    # Weights widened exactly.
    for layer, lin in zip(net.layers, [m for m in module if isinstance(m, torch.nn.Linear)]):
        np.testing.assert_array_equal(layer["weight"], lin.weight.detach().double().numpy())
    x = np.random.default_rng(depth).normal(size=(50, d))
    expected = module.double()(torch.from_numpy(x)).detach().numpy().ravel()
    np.testing.assert_allclose(net(x), expected, rtol=1e-12, atol=1e-12)
    # And back: to_torch computes net(x) in float64.
    back = net.to_torch()
    assert isinstance(back, torch.nn.Sequential)
    got = back(torch.from_numpy(x)).detach().numpy().ravel()
    np.testing.assert_allclose(got, net(x), rtol=1e-12, atol=1e-12)
    assert ln.from_torch(back) == net
    # A state_dict with the activation given.
    assert ln.from_torch(module.state_dict(), activation=act) == ln.from_torch(module.double())


def test_to_torch_with_skip_unit_and_f32():
    net = ln.Network.mlp(2, [6, 3], "tanh", skip=True, output_bias=True, seed=4)
    m = net.to_torch()
    assert sorted(m.state_dict()) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight",
                                      "net.4.bias", "net.4.weight", "skip.weight"]
    x = np.random.default_rng(0).normal(size=(30, 2))
    np.testing.assert_allclose(m(torch.from_numpy(x)).detach().numpy().ravel(), net(x), rtol=1e-12, atol=1e-12)
    assert ln.from_torch(m) == net
    m32 = net.to_torch(dtype=torch.float32)
    assert m32.net[0].weight.dtype == torch.float32
    got = m32(torch.from_numpy(x).float()).detach().double().numpy().ravel()
    np.testing.assert_allclose(got, net(x), rtol=1e-4, atol=1e-5)


def test_from_torch_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError, match="Dropout is not supported"):
        ln.from_torch(torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.Dropout(), torch.nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="mix activations"):
        ln.from_torch(torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2),
                                          torch.nn.Tanh(), torch.nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="activation: needed"):
        ln.from_torch(sequential(1, [3], "relu", torch.float64).state_dict())
    with pytest.raises(ValueError, match="running_mean: unexpected key"):
        ln.from_torch({"0.weight": torch.zeros(3, 1), "running_mean": torch.zeros(3)}, activation="relu")
    with pytest.raises(ValueError, match="must have 1 output, found 2"):
        ln.from_torch(torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)))
    with pytest.raises(TypeError):
        ln.from_torch(42)


@pytest.mark.parametrize("prefix", ["", "net."])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_state_dict_saved_with_safetensors_is_read_by_the_command_line(cli, tmp_path, prefix, dtype):
    module = sequential(1, [20, 10], "tanh", dtype, seed=1)
    sd = {prefix + k: v for k, v in module.state_dict().items()}
    path = tmp_path / "m.safetensors"
    save_file(sd, str(path))
    code, out, err = cli("analyze", "--model", path, "--data", "fig1", "--json", "--activation", "tanh")
    assert code == 0, err
    x, y = ln.load_data("fig1")
    expected = ln.analyze(ln.from_torch(module), x, y).to_dict()
    assert json.loads(out) == expected
    # Without --activation: a one-line error naming the flag.
    code, _, err = cli("analyze", "--model", path, "--data", "fig1")
    assert code == 2 and err.startswith("error: --activation:")
    assert ln.Network.load(str(path), activation="tanh") == ln.from_torch(module)


def test_export_is_loaded_by_load_state_dict(cli, tmp_path):
    net = ln.Network.mlp(1, [8], "relu", skip=True, output_bias=True, seed=2)
    net.save(tmp_path / "m.json")
    for dtype, flag in ((torch.float64, []), (torch.float32, ["--dtype", "f32"])):
        out = tmp_path / f"t-{dtype}.safetensors"
        code, _, err = cli("export", tmp_path / "m.json", "--torch", "--out", out, *flag)
        assert code == 0, err
        module = net.to_torch(dtype=dtype)
        module.load_state_dict(load_file(str(out)))
        x = np.linspace(-2, 2, 9)[:, None]
        got = module(torch.from_numpy(x).to(dtype)).detach().double().numpy().ravel()
        np.testing.assert_allclose(got, net(x), rtol=1e-6 if dtype == torch.float32 else 1e-13, atol=1e-6)
        # And the command line reads its own export without --activation.
        code, out_json, err = cli("analyze", "--model", out, "--data", "fig1", "--json")
        assert code == 0, err


def test_without_torch_the_error_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import labelnoise as ln\n"
        "net = ln.Network.mlp(1, [3], 'relu')\n"
        "try:\n    net.to_torch()\nexcept ImportError as e:\n    print('HINT', e)\n"
        "try:\n    ln.from_torch({})\nexcept ImportError as e:\n    print('HINT', e)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("HINT labelnoise's PyTorch functions need torch: pip install torch") == 2
