"""Arrays in and out: dtypes, shapes, non-contiguous and integer arrays, lists, bad input."""

import numpy as np
import pytest

import labelnoise as ln

NET = ln.Network.mlp(1, [10], "relu", skip=True, output_bias=True, seed=0)
NET2 = ln.Network.mlp(2, [10], "tanh", output_bias=True, seed=0)


def ref(net, x):
    x = np.asarray(x, dtype=np.float64)
    return net(np.ascontiguousarray(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.int8, np.uint16])
def test_every_numeric_dtype(dtype):
    x = np.arange(-3, 4).astype(dtype)
    out = NET(x)
    assert out.dtype == np.float64 and out.shape == (7,)
    np.testing.assert_array_equal(out, NET(x.astype(np.float64).reshape(-1, 1)))


def test_shapes_lists_and_non_contiguous():
    x = np.linspace(-1, 1, 20)
    assert np.array_equal(NET(x), NET(x.reshape(-1, 1)))
    assert np.array_equal(NET(x.tolist()), NET(x))
    assert np.array_equal(NET([[v] for v in x]), NET(x))
    assert np.array_equal(NET(tuple(x)), NET(x))
    strided = x[::2]
    assert not strided.flags.c_contiguous
    assert np.array_equal(NET(strided), NET(np.ascontiguousarray(strided)))
    x2 = np.random.default_rng(0).normal(size=(2, 9))
    assert np.array_equal(NET2(x2.T), NET2(np.ascontiguousarray(x2.T)))
    fortran = np.asfortranarray(np.random.default_rng(1).normal(size=(9, 2)))
    assert np.array_equal(NET2(fortran), NET2(np.ascontiguousarray(fortran)))
    assert NET(np.zeros((0, 1))).shape == (0,)


def test_analyze_and_train_accept_ints_and_lists():
    x, y = ln.load_data("fig1")
    a = ln.analyze(NET, x, y)
    b = ln.analyze(NET, x.ravel().tolist(), y.tolist())
    assert a.to_dict() == b.to_dict()
    xi = np.arange(6)
    yi = np.array([0, 1, 0, 1, 0, 1])
    r1 = ln.train(xi, yi, hidden=[4], activation="relu", lr=1e-3, noise=0.1, steps=100)
    r2 = ln.train(xi.astype(float)[:, None], yi.astype(float), hidden=[4], activation="relu",
                  lr=1e-3, noise=0.1, steps=100)
    np.testing.assert_array_equal(r1.model.params, r2.model.params)


def test_bad_arrays():
    with pytest.raises(TypeError, match="x: "):
        NET(object())
    with pytest.raises(TypeError, match="x: "):
        NET(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="x: "):
        NET([["1.0"], ["2.0"]])
    with pytest.raises(TypeError, match="x: "):
        NET(np.array([1 + 2j]))
    with pytest.raises(ValueError, match="x: must have shape"):
        NET(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="2-dimensional inputs but the data are 1-dimensional"):
        NET2(np.zeros(3))
    with pytest.raises(ValueError, match="x: cannot be read"):
        NET([[1.0], [2.0, 3.0]])
    x = np.zeros(3)
    with pytest.raises(ValueError, match="y: has 2 labels but x has 3 points"):
        ln.analyze(NET, x, np.zeros(2))
    with pytest.raises(ValueError, match="y: must have shape"):
        ln.analyze(NET, x, np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"arrays: x\[1\]\[0\]: is not finite"):
        ln.analyze(NET, [0.0, float("nan"), 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"y\[2\]: is not finite"):
        ln.analyze(NET, [0.0, 0.5, 1.0], [1.0, 2.0, float("inf")])
    with pytest.raises(ValueError, match="no points"):
        ln.analyze(NET, np.zeros(0), np.zeros(0))
    with pytest.raises(TypeError, match="net: "):
        ln.analyze(42, x, x)
    with pytest.raises(TypeError, match="y: missing"):
        ln.analyze(NET, x)
    with pytest.raises(ValueError, match="--activation: unknown activation"):
        ln.Network.mlp(1, [3], "softplus")
    with pytest.raises(ValueError, match="--noise-dist: unknown"):
        ln.train("fig1", hidden=[3], activation="relu", lr=1e-3, noise=0.1, steps=10, noise_dist="cauchy")
    with pytest.raises(ValueError, match="--steps"):
        ln.train("fig1", hidden=[3], activation="relu", lr=1e-3, noise=0.1, steps=1.5)
    with pytest.raises(TypeError):
        ln.train("fig1", hidden=[3], activation="relu", lr=1e-3, noise=0.1, steps=10, progress="yes")


def test_outputs_are_float64_arrays():
    x, y = ln.load_data("fig1")
    a = ln.analyze(NET, x, y)
    for arr in (a.reg_grad, a.null_reg_grad, a.gamma, a.singular_values, NET.params, NET(x)):
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
