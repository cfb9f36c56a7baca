"""The Python package against the library, measured in the same process.

    python python/bench/bench.py            # LABELNOISE_BENCH_SCALE=0.3 shortens it

Reports ratios, never bare timings to compare across machines:
- ln.train (run driver: metrics worker, observers, the Python call) against the
  library's training loop alone (Trainer::run_until), on the train bench's workload:
  fig1, 1 -> m relu -> 1 with output bias and skip, rademacher sigma = 0.5, eta = 1e-3,
  init scale min(1, 16/sqrt(m)), at m = 16, 256, 4096, runs of about 2 s;
- the per-call overhead of ln.analyze and net(x) on the 100-unit Figure 1 network
  beyond the same work timed inside Rust (microseconds: the overhead is itself the
  quantity, measured against the Rust work of the same run);
- net(x) on 10^6 points against the Rust forward pass.
"""

import math
import os
import time

import numpy as np

import labelnoise as ln
from labelnoise import _labelnoise as ext

SCALE = float(os.environ.get("LABELNOISE_BENCH_SCALE", "1"))


def best(f, reps):
    out = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        f()
        out = min(out, time.perf_counter() - t)
    return out


def train_ratio(m, x, y):
    scale = min(1.0, 16.0 / math.sqrt(m))
    net = ln.Network.mlp(1, [m], "relu", skip=True, output_bias=True, seed=0, init_scale=scale)
    # Steps for about 2 s of the library loop.
    probe = ext._bench_library_loop(net, x, y, 1e-3, 0.5, 20_000)
    steps = max(10_000, int(2.0 * SCALE * 20_000 / probe))
    lib, py = math.inf, math.inf
    for _ in range(3):
        lib = min(lib, ext._bench_library_loop(net, x, y, 1e-3, 0.5, steps))
        t = time.perf_counter()
        r = ln.train(x, y, net=net, lr=1e-3, noise=0.5, steps=steps)
        py = min(py, time.perf_counter() - t)
        assert r.summary["steps"] == steps and not r.summary["diverged"]
    return steps, lib, py


def main():
    x, y = ln.load_data("fig1")
    print("ln.train against the library loop (best of 3, same process)")
    print(f"{'m':>6} {'steps':>12} {'library s':>10} {'ln.train s':>10} {'ratio':>7}")
    for m in (16, 256, 4096):
        steps, lib, py = train_ratio(m, x, y)
        print(f"{m:>6} {steps:>12} {lib:>10.3f} {py:>10.3f} {py / lib:>7.3f}")

    net = ln.Network.mlp(1, [100], "relu", skip=True, output_bias=True, seed=0)
    reps = max(20, int(2000 * SCALE))
    rust = ext._bench_library_analyze(net, x, y, reps)
    python = best(lambda: ln.analyze(net, x, y), reps)
    print(f"\nln.analyze, 100-unit fig1 network: {python * 1e6:.1f} us per call, Rust work "
          f"{rust * 1e6:.1f} us, overhead {(python - rust) * 1e6:.1f} us (ratio {python / rust:.3f})")
    x1 = x[:1]
    rust = ext._bench_library_forward(net, x1, reps * 10)
    python = best(lambda: net(x1), reps * 10)
    print(f"net(x), one point: {python * 1e6:.2f} us per call, Rust work {rust * 1e6:.2f} us, "
          f"overhead {(python - rust) * 1e6:.2f} us")
    x12 = x
    rust = ext._bench_library_forward(net, x12, reps * 10)
    python = best(lambda: net(x12), reps * 10)
    print(f"net(x), 12 points: {python * 1e6:.2f} us per call, Rust work {rust * 1e6:.2f} us, "
          f"overhead {(python - rust) * 1e6:.2f} us")
    big = np.random.default_rng(0).uniform(-3, 3, size=(10**6, 1))
    rust = ext._bench_library_forward(net, big, 5)
    python = best(lambda: net(big), 5)
    print(f"net(x), 10^6 points: {python:.4f} s, Rust forward pass {rust:.4f} s, ratio {python / rust:.3f}")


if __name__ == "__main__":
    main()
