"""The package against the command line: the same model bits, the same analysis JSON,
the same one-line error messages, nothing written on error."""

import json

import numpy as np
import pytest

import labelnoise as ln


def safe_open_all(path):
    """A safetensors file's metadata and every tensor's dtype, shape and bytes."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    tensors = {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]])
               for k, v in header.items()}
    return meta, tensors


@pytest.mark.parametrize(
    "flags, kwargs",
    [
        (["--hidden", "32", "--activation", "relu", "--skip", "--output-bias", "--lr", "1e-3",
          "--noise", "0.5", "--steps", "3000", "--seed", "3"],
         dict(hidden=[32], activation="relu", skip=True, output_bias=True, lr=1e-3, noise=0.5,
              steps=3000, seed=3)),
        (["--hidden", "6", "--hidden", "5", "--activation", "tanh", "--lr", "1e-2", "--noise", "0.2",
          "--steps", "2000", "--batch", "3", "--noise-dist", "gaussian", "--explicit-reg", "0.1",
          "--freeze", "0", "--init-scale", "0.5", "--log-points", "7"],
         dict(hidden=[6, 5], activation="tanh", lr=1e-2, noise=0.2, steps=2000, batch=3,
              noise_dist="gaussian", explicit_reg=0.1, freeze=[0], init_scale=0.5, log_points=7)),
        (["--hidden", "16", "--activation", "logistic", "--skip", "--lr", "5e-3", "--noise", "0.4",
          "--steps", "1500", "--two-copies", "--seeds", "2", "--seed", "9"],
         dict(hidden=[16], activation="logistic", skip=True, lr=5e-3, noise=0.4, steps=1500,
              two_copies=True, seeds=2, seed=9)),
    ],
)
def test_train_is_bit_identical_to_the_command_line(cli, tmp_path, flags, kwargs):
    code, _, err = cli("train", "--data", "fig1", "--out", tmp_path / "cli", "--quiet", *flags)
    assert code == 0, err
    out = ln.train("fig1", out=tmp_path / "py", **kwargs)
    runs = out if isinstance(out, list) else [out]
    seeds = kwargs.get("seeds", 1)
    for k, r in enumerate(runs):
        sub = f"seed-{kwargs.get('seed', 0) + k}" if seeds > 1 else "."
        # model.safetensors too: labelnoise writes its header with sorted keys.
        for f in ("model.json", "metrics.csv", "initial-model.json", "data.json",
                  "model.safetensors"):
            a = (tmp_path / "cli" / sub / f).read_bytes()
            b = (tmp_path / "py" / sub / f).read_bytes()
            assert a == b, f"{sub}/{f} differs"
        a = safe_open_all(tmp_path / "cli" / sub / "model.safetensors")
        b = safe_open_all(tmp_path / "py" / sub / "model.safetensors")
        assert a == b, f"{sub}/model.safetensors differs"
        cli_model = ln.Network.load(str(tmp_path / "cli" / sub / "model.json"))
        np.testing.assert_array_equal(cli_model.params, r.model.params)
        summary = json.loads((tmp_path / "cli" / sub / "summary.json").read_text())
        assert summary["final_metrics"] == r.summary["final_metrics"]
    # In memory (no out=) gives the same model.
    again = ln.train("fig1", **kwargs)
    again = again if isinstance(again, list) else [again]
    for a, b in zip(again, runs):
        np.testing.assert_array_equal(a.model.params, b.model.params)


@pytest.mark.parametrize("model", ["fig1-minimal", "fig1-wiggly"])
def test_analyze_to_dict_equals_analyze_json(cli, tmp_path, model):
    code, out, err = cli("analyze", "--model", model, "--data", "fig1", "--json")
    assert code == 0, err
    x, y = ln.load_data("fig1")
    assert ln.analyze(ln.Network.load(model), x, y).to_dict() == json.loads(out)


def test_analyze_to_dict_equals_analyze_json_deep_tanh(cli, tmp_path):
    net = ln.Network.mlp(2, [5, 4], "tanh", skip=True, output_bias=True, seed=11)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 2))
    y = rng.normal(size=7)
    net.save(tmp_path / "m.safetensors")
    (tmp_path / "d.json").write_text(json.dumps({"x": x.tolist(), "y": y.tolist()}))
    code, out, err = cli("analyze", "--model", tmp_path / "m.safetensors", "--data", tmp_path / "d.json",
                         "--json", "--unit-tol", "1e-3", "--fit-tol", "1e-5")
    assert code == 0, err
    assert ln.analyze(net, x, y, unit_tol=1e-3, fit_tol=1e-5).to_dict() == json.loads(out)


TRAIN_BASE = {"--data": "fig1", "--hidden": "4", "--activation": "relu", "--lr": "1e-3",
              "--noise": "0.5", "--steps": "100"}
PY_BASE = dict(hidden=[4], activation="relu", lr=1e-3, noise=0.5, steps=100)


@pytest.mark.parametrize(
    "flags, change",
    [
        ({"--lr": "-1"}, dict(lr=-1.0)),
        ({"--lr": "nan"}, dict(lr=float("nan"))),
        ({"--noise": "-0.5"}, dict(noise=-0.5)),
        ({"--batch": "0"}, dict(batch=0)),
        ({"--seeds": "0"}, dict(seeds=0)),
        ({"--log-points": "0"}, dict(log_points=0)),
        ({"--init-scale": "-1"}, dict(init_scale=-1.0)),
        ({"--output-init-scale": "inf"}, dict(output_init_scale=float("inf"))),
        ({"--explicit-reg": "-1"}, dict(explicit_reg=-1.0)),
        ({"--freeze": "5"}, dict(freeze=[5])),
        ({"--freeze": "skip"}, dict(freeze=["skip"])),
        ({"--hidden": "0"}, dict(hidden=[0])),
        ({"--activation": None}, dict(activation=None)),
        ({"--hidden": None}, dict(hidden=None)),
        ({"--flush-threshold": "inf"}, dict(flush_threshold=float("inf"))),
        ({"--init-model": "fig1-minimal", "--hidden": "7"}, dict(net="fig1-minimal", hidden=[7])),
        ({"--init-model": "fig1-minimal", "--hidden": None, "--init-scale": "2"},
         dict(net="fig1-minimal", hidden=None, init_scale=2.0)),
        ({"--init-model": "nope.json"}, dict(net="nope.json")),
        ({"--data": "nope.csv"}, dict()),
    ],
)
def test_bad_train_input_raises_the_command_lines_message(cli, tmp_path, flags, change):
    merged = {**TRAIN_BASE, **flags}
    args = [a for k, v in merged.items() if v is not None for a in (k, v)]
    code, _, err = cli("train", *args, "--out", tmp_path / "cli")
    assert code == 2, err
    message = err.strip().splitlines()[-1]
    assert message.startswith("error: ")
    kwargs = {**PY_BASE, **change}
    data = merged["--data"]
    with pytest.raises(ValueError) as e:
        ln.train(data, out=tmp_path / "py", **kwargs)
    assert str(e.value) == message[len("error: "):]
    assert not (tmp_path / "py").exists()
    assert not (tmp_path / "cli").exists()


def test_bad_data_and_model_messages(cli, tmp_path):
    (tmp_path / "bad.json").write_text('{"x": [[0.0], [1.0]], "y": [1.0]}')
    code, _, err = cli("analyze", "--model", "fig1-minimal", "--data", tmp_path / "bad.json")
    assert code == 2
    with pytest.raises(ValueError) as e:
        ln.analyze("fig1-minimal", str(tmp_path / "bad.json"))
    assert "error: " + str(e.value) == err.strip()
    code, _, err = cli("analyze", "--model", tmp_path / "missing.json", "--data", "fig1")
    with pytest.raises(ValueError) as e:
        ln.analyze(str(tmp_path / "missing.json"), "fig1")
    assert "error: " + str(e.value) == err.strip()
    code, _, err = cli("analyze", "--model", "fig1-minimal", "--data", "fig1", "--fit-tol", "-1")
    with pytest.raises(ValueError) as e:
        ln.analyze("fig1-minimal", "fig1", fit_tol=-1.0)
    assert "error: " + str(e.value) == err.strip()
