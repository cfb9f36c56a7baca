"""Every function and class of the package, and every keyword of `train`."""

import json
import sys
import math
import pickle

import numpy as np
import pytest

import labelnoise as ln


@pytest.fixture(scope="module")
def fig1():
    return ln.load_data("fig1")


def test_load_data_builtin_and_files(tmp_path, fig1):
    x, y = fig1
    assert x.shape == (12, 1) and y.shape == (12,)
    assert x.dtype == np.float64 and y.dtype == np.float64
    (tmp_path / "d.json").write_text(json.dumps({"x": [[0.0, 1.0], [2.0, 3.0]], "y": [1, 2]}))
    xj, yj = ln.load_data(str(tmp_path / "d.json"))
    assert xj.tolist() == [[0.0, 1.0], [2.0, 3.0]] and yj.tolist() == [1.0, 2.0]
    (tmp_path / "d.csv").write_text("x,y\n0.5,1\n1.5,-2\n")
    xc, yc = ln.load_data(tmp_path / "d.csv")
    assert xc.tolist() == [[0.5], [1.5]] and yc.tolist() == [1.0, -2.0]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    xn, yn = ln.load_data(f"{tmp_path / 'x.npy'},{tmp_path / 'y.npy'}")
    assert np.array_equal(xn, x) and np.array_equal(yn, y)
    with pytest.raises(ValueError, match="nope.json"):
        ln.load_data(str(tmp_path / "nope.json"))


def test_network_mlp_call_params(fig1):
    x, y = fig1
    net = ln.Network.mlp(input_dim=1, hidden=[100], activation="relu", skip=True, output_bias=True, seed=0)
    assert net.input_dim == 1 and net.hidden == [100]
    assert net.param_count == 100 + 100 + 100 + 1 + 1
    theta = net.params
    assert theta.shape == (net.param_count,) and theta.dtype == np.float64
    # θ order: layer 0 weight (100), bias (100), output weight (100), bias (1), skip (1).
    layers = net.layers
    assert np.array_equal(theta[:100], layers[0]["weight"].ravel())
    assert np.array_equal(theta[100:200], layers[0]["bias"])
    assert np.array_equal(theta[200:300], layers[1]["weight"].ravel())
    assert theta[300] == layers[1]["bias"][0] and theta[301] == net.skip[0]
    # h by hand.
    w0, b0 = layers[0]["weight"], layers[0]["bias"]
    w1, b1 = layers[1]["weight"], layers[1]["bias"]
    hand = (np.maximum(x @ w0.T + b0, 0) @ w1.T).ravel() + b1[0] + x[:, 0] * net.skip[0]
    out = net(x)
    assert out.shape == (12,) and out.dtype == np.float64
    np.testing.assert_allclose(out, hand, rtol=1e-13, atol=1e-13)
    # params is a copy.
    theta[0] = 123.0
    assert net.params[0] != 123.0
    # Initialisation bounds: U(±1/sqrt(fan_in)).
    assert np.all(np.abs(layers[1]["weight"]) <= 0.1)
    assert np.all(np.abs(layers[0]["weight"]) <= 1.0)
    # Seeds and init_scale.
    assert ln.Network.mlp(1, [100], "relu", skip=True, output_bias=True, seed=0) == net
    assert ln.Network.mlp(1, [100], "relu", skip=True, output_bias=True, seed=1) != net
    scaled = ln.Network.mlp(1, [100], "relu", skip=True, output_bias=True, seed=0, init_scale=2.0)
    np.testing.assert_array_equal(scaled.params, 2.0 * net.params)
    # output_init_scale multiplies the output layer's weights only, as train's does.
    out30 = ln.Network.mlp(1, [100], "relu", skip=True, output_bias=True, seed=0, output_init_scale=30.0)
    a, b = net.layers, out30.layers
    np.testing.assert_array_equal(b[0]["weight"], a[0]["weight"])
    np.testing.assert_array_equal(b[1]["weight"], 30.0 * a[1]["weight"])
    np.testing.assert_array_equal(b[1]["bias"], a[1]["bias"])
    r = ln.train("fig1", hidden=[100], activation="relu", skip=True, output_bias=True,
                 output_init_scale=30.0, lr=1e-3, noise=0.5, steps=1)
    assert r.initial_model == out30
    with pytest.raises(ValueError, match="--output-init-scale"):
        ln.Network.mlp(1, [3], "relu", output_init_scale=-1.0)


def test_with_params_and_frozen(fig1):
    net = ln.Network.mlp(1, [5, 4], "tanh", seed=3, freeze=[0])
    assert not net.layers[0]["trainable"] and net.layers[1]["trainable"]
    p = net.param_count
    assert p == 4 * 5 + 4 + 4 + 0  # layer 1 weight+bias, output weight (no output bias)
    theta = np.arange(p, dtype=np.float64) / p
    net2 = net.with_params(theta)
    np.testing.assert_array_equal(net2.params, theta)
    np.testing.assert_array_equal(net2.layers[0]["weight"], net.layers[0]["weight"])
    with pytest.raises(ValueError, match="theta|params|length|values"):
        net.with_params(np.zeros(p + 1))


def test_save_load_describe_repr_pickle(tmp_path):
    net = ln.Network.mlp(2, [3, 3], "logistic", skip=True, output_bias=True, seed=7, freeze=["skip"])
    for name in ("m.json", "m.safetensors"):
        net.save(tmp_path / name)
        back = ln.Network.load(str(tmp_path / name))
        assert back == net
        np.testing.assert_array_equal(back.params, net.params)
    assert net.describe() == "2 -> 3 logistic -> 3 logistic -> 1 (output bias, frozen skip)"
    assert "2 -> 3 logistic" in repr(net) and "parameters" in repr(net)
    assert pickle.loads(pickle.dumps(net)) == net
    assert ln.Network.load("fig1-minimal").input_dim == 1
    assert ln.Network.from_json(net.to_json()) == net


def test_analyze_fields(fig1):
    x, y = fig1
    net = ln.Network.load("fig1-minimal")
    a = ln.analyze(net, x, y)
    d = a.to_dict()
    assert a.reg == d["reg"] and a.null_reg_grad_norm == d["null_reg_grad_norm"]
    assert a.reg_grad.dtype == np.float64 and a.reg_grad.shape == (net.param_count,)
    assert a.reg_grad.tolist() == d["reg_grad"]
    assert a.gamma.tolist() == d["gamma"]
    assert a.jacobian_rank == d["jacobian_rank"]
    assert a.verdict == d["verdict"] and a.verdict in ("repellent", "non-repellent", "not-interpolating")
    assert a.shape == d["shape"] and isinstance(a.shape, dict)
    assert a.units is None and d.get("units") is None
    assert a.n == 12 and a.params == net.param_count
    # From names too.
    assert ln.analyze("fig1-minimal", "fig1").to_dict() == d
    # Options reach the library.
    loose = ln.analyze(net, x, y, stationarity_tol=1e9)
    assert loose.to_dict()["tolerances"]["stationarity"] == 1e9
    assert "verdict" in repr(a)


def test_analyze_units_tanh_one_point():
    net = ln.Network.mlp(1, [6], "tanh", seed=1, output_bias=True)
    a = ln.analyze(net, [[0.5]], [0.3])
    assert isinstance(a.units, dict) and "classes" in a.units


def test_settle(fig1):
    x, y = fig1
    s = ln.settle(ln.Network.load("fig1-wiggly"), x, y)
    assert s.outcome in ("non-repellent", "constrained-stationary", "kink-on-data-point", "stalled", "max-iterations")
    assert s.reg <= s.start_reg
    assert isinstance(s.model, ln.Network)
    tr = s.trace
    assert tr["reg"].dtype == np.float64 and len(tr["reg"]) == s.iterations + 1
    assert tr["event"][0] == "start"
    assert s.reg == pytest.approx(ln.analyze(s.model, x, y).reg, rel=1e-12)
    assert s.analysis.reg == s.reg
    assert s.to_dict()["outcome"]["kind"] == s.outcome
    one = ln.settle("fig1-wiggly", "fig1", max_iter=1)
    assert one.iterations <= 1


def test_settle_remedies_leave_a_stall_at_a_kink_on_a_data_point():
    # y = |x| at five points: plain SGD from seed 3 leaves a live kink on a data point,
    # where the default settle stops; the remedies (off by default) go lower.
    x = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
    y = np.abs(x[:, 0])
    fit = ln.train(x, y, lr=5e-3, steps=300_000, noise=0.0, hidden=[20], activation="relu",
                   skip=True, output_bias=True, seed=3).model
    plain = ln.settle(fit, x, y)
    assert plain.outcome == "kink-on-data-point"
    d = plain.to_dict()
    assert d["options"]["escape_rounds"] == 0 and d["options"]["smooth_taus"] == []
    assert d["smoothing"] is None and d["escapes"] == []
    cured = ln.settle(fit, x, y, remedies=True)
    d = cured.to_dict()
    assert d["options"]["escape_rounds"] == 4 and len(d["options"]["smooth_taus"]) == 3
    assert d["smoothing"] is not None or d["escapes"]
    assert cured.reg < plain.reg * (1 - 1e-3)
    assert cured.reg == pytest.approx(ln.analyze(cured.model, x, y).reg, rel=1e-12)


def test_settle_out_writes_what_the_cli_writes(tmp_path, cli):
    out = tmp_path / "py"
    s = ln.settle("fig1-wiggly", "fig1", out=out)
    code, _, err = cli("settle", "--model", "fig1-wiggly", "--data", "fig1",
                       "--out", tmp_path / "cli", "--quiet")
    assert code == 0, err
    for name in ("model.json", "model.safetensors", "trace.csv"):
        assert (out / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    a = json.loads((out / "summary.json").read_text())
    b = json.loads((tmp_path / "cli" / "summary.json").read_text())
    a.pop("wall_seconds"), b.pop("wall_seconds")
    assert a == b
    assert a["outcome"]["kind"] == s.outcome and a["end_reg"] == s.reg
    # An existing directory needs force=True; nothing is written without it.
    before = (out / "summary.json").read_bytes()
    with pytest.raises(ValueError, match="out"):
        ln.settle("fig1-wiggly", "fig1", out=out, max_iter=1)
    assert (out / "summary.json").read_bytes() == before
    ln.settle("fig1-wiggly", "fig1", out=out, max_iter=1, force=True)
    assert json.loads((out / "summary.json").read_text())["iterations"] <= 1


def test_train_returns_runs(fig1, tmp_path):
    x, y = fig1
    r = ln.train(x, y, hidden=[16], activation="relu", skip=True, output_bias=True,
                 lr=1e-3, noise=0.5, steps=2000, log_points=20)
    assert isinstance(r, ln.Run)
    m = r.metrics
    assert list(m) == ["step", "train_loss", "reg", "null_reg_grad_norm", "param_norm",
                       "curve_length", "convexity_changes", "kinks"]
    assert all(v.dtype == np.float64 and v.ndim == 1 for v in m.values())
    assert m["step"][0] == 0 and m["step"][-1] == 2000
    assert r.summary["steps"] == 2000 and r.summary["seed"] == 0
    assert r.summary["final_metrics"]["reg"] == m["reg"][-1]
    assert r.dir is None
    assert r.initial_model == ln.Network.mlp(1, [16], "relu", skip=True, output_bias=True, seed=0)
    runs = ln.train(x, y, hidden=[16], activation="relu", lr=1e-3, noise=0.5, steps=500, seeds=3, seed=5)
    assert [q.seed for q in runs] == [5, 6, 7]
    assert runs[0].model != runs[1].model


def test_train_every_keyword(fig1, tmp_path):
    x, y = fig1
    start = ln.Network.mlp(1, [8], "tanh", skip=True, output_bias=True, seed=2)
    seen = []
    out = tmp_path / "run"
    runs = ln.train(
        x, y, net=start, hidden=[8], activation="tanh", skip=True, output_bias=True,
        freeze=[0, "skip"], lr=1e-3, steps=1e3, noise=0.3, noise_dist="uniform", batch=2,
        two_copies=False, explicit_reg=0.01, explicit_reg_sampled=True, init_scale=1.0,
        seed=4, seeds=2, log_points=5, checkpoint_every=500, flush_threshold=1e-140,
        out=out, force=False, progress=lambda seed, step, metrics: seen.append((seed, step, metrics["reg"])),
    )
    assert len(runs) == 2
    for r in runs:
        # Frozen layer 0 and skip did not move.
        np.testing.assert_array_equal(r.model.layers[0]["weight"], start.layers[0]["weight"])
        np.testing.assert_array_equal(r.model.skip, start.skip)
        assert r.dir is not None
    for seed in (4, 5):
        d = out / f"seed-{seed}"
        for f in ("config.json", "data.json", "initial-model.json", "metrics.csv", "model.json",
                  "model.safetensors", "summary.json", "checkpoint.json"):
            assert (d / f).exists(), f
        cfg = json.loads((d / "config.json").read_text())
        t = cfg["train"]
        assert t["noise_dist"] == "uniform" and t["batch"] == 2 and t["explicit_reg"] == 0.01
        assert t["explicit_reg_sampled"] and t["log_points"] == 5 and t["flush_threshold"] == 1e-140
        assert cfg["checkpoint_every"] == 500 and t["seed"] == seed
    assert json.loads((out / "summary.json").read_text())[1]["seed"] == 5
    assert {s for s, _, _ in seen} == {4, 5}
    # The callback saw every metrics row of every seed after the start.
    assert [step for s, step, _ in seen if s == 4] == runs[0].metrics["step"][1:].tolist()
    # Two copies and gaussian noise run too.
    r = ln.train("fig1", hidden=[4], activation="relu", lr=1e-3, steps=200, noise=0.5, two_copies=True)
    assert r.summary["steps"] == 200
    r = ln.train(x, y, hidden=[4], activation="relu", lr=1e-3, steps=200, noise=0.5, noise_dist="gaussian")
    assert r.summary["steps"] == 200
    # An existing directory needs force.
    with pytest.raises(ValueError, match="--out"):
        ln.train(x, y, hidden=[4], activation="relu", lr=1e-3, steps=10, noise=0.5, out=out)
    ln.train(x, y, hidden=[4], activation="relu", lr=1e-3, steps=10, noise=0.5, out=out, force=True)


def test_train_copies(fig1, tmp_path):
    x, y = fig1
    kw = dict(hidden=[8], activation="relu", skip=True, lr=2e-3, steps=3000, seed=3)
    # --two-copies is --copies sigma,-sigma: the same run, bit for bit.
    two = ln.train(x, y, noise=0.4, two_copies=True, **kw)
    listed = ln.train(x, y, noise=0.4, copies=[0.4, -0.4], **kw)
    assert np.array_equal(two.model.params, listed.model.params)
    # Three copies with the same label variance train too, and differ from two copies;
    # noise is unused in copies mode.
    three = ln.train(x, y, noise=0.0, copies=[-0.4 * math.sqrt(1.5), 0.0, 0.4 * math.sqrt(1.5)],
                     out=tmp_path / "three", **kw)
    assert not np.array_equal(three.model.params, two.model.params)
    cfg = json.loads((tmp_path / "three" / "config.json").read_text())
    assert cfg["train"]["copies"] == pytest.approx([-0.4 * math.sqrt(1.5), 0.0, 0.4 * math.sqrt(1.5)])
    with pytest.raises(ValueError, match="--copies"):
        ln.train(x, y, noise=0.4, two_copies=True, copies=[1.0], **kw)
    with pytest.raises(ValueError, match="--copies"):
        ln.train(x, y, noise=0.4, copies=[0.1] * 17, **kw)


def test_progress_bar_draws_with_tqdm(fig1, capsys):
    import tqdm  # installed by scripts/tests/python.sh: the test needs it

    assert tqdm.__version__
    x, y = fig1
    runs = ln.train(x, y, hidden=[4], activation="relu", lr=1e-3, steps=5000, noise=0.5,
                    seeds=2, progress=True)
    assert [r.summary["steps"] for r in runs] == [5000, 5000]
    err = capsys.readouterr().err
    # One tqdm bar per seed, each drawn to its end: "seed 0: 100%|####| 5.00k/5.00k [...]".
    for seed in (0, 1):
        finals = [line for line in err.replace("\r", "\n").splitlines()
                  if line.startswith(f"seed {seed}: 100%")]
        assert finals, err
        assert "5.00k/5.00k" in finals[-1] and "step/s" in finals[-1], finals[-1]


def test_progress_line_without_tqdm(fig1, capsys, monkeypatch):
    # Without tqdm (an import of it fails), a line on stderr per seed.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    x, y = fig1
    r = ln.train(x, y, hidden=[4], activation="relu", lr=1e-3, steps=5000, noise=0.5, progress=True)
    assert r.summary["steps"] == 5000
    err = capsys.readouterr().err
    assert err.endswith("\rseed 0: 5000/5000 steps (100%)\n"), repr(err)


def test_callback_exception_stops_the_run(fig1):
    x, y = fig1

    def boom(seed, step, metrics):
        raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        ln.train(x, y, hidden=[4], activation="relu", lr=1e-3, steps=100000, noise=0.5, progress=boom)


def test_reproduce_quick(tmp_path):
    assert "lemma6" in ln.experiments() and ln.experiments()[-1] == "all"
    summary = ln.reproduce("lemma6", out=tmp_path / "r", quick=True)
    on_disk = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary == on_disk
    assert summary["name"] == "lemma6" and summary["quick"] is True
    assert (tmp_path / "r" / "report.html").exists()
    with pytest.raises(ValueError, match="possible values"):
        ln.reproduce("nope", out=tmp_path / "q")
    assert not (tmp_path / "q").exists()


def test_the_stubs_name_every_public_function_and_class():
    import ast
    import pathlib

    from labelnoise import _labelnoise as ext

    stub = pathlib.Path(__file__).resolve().parents[1] / "labelnoise" / "_labelnoise.pyi"
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    public = {n for n in dir(ext) if not n.startswith("_")}
    assert public == stubbed
    for cls in (ln.Network, ln.Analysis, ln.Settled, ln.Run):
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
        names = {b.name for b in node.body if isinstance(b, ast.FunctionDef)}
        names |= {b.target.id for b in node.body if isinstance(b, ast.AnnAssign)}
        members = {m for m in dir(cls) if not m.startswith("_")}
        assert members == {n for n in names if not n.startswith("_")}, cls.__name__
    assert (stub.parent / "py.typed").exists()
