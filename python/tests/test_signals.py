"""Ctrl-C, the GIL and panics: long calls run with the GIL released, stop within half a
second of SIGINT with KeyboardInterrupt (keeping what out= wrote), and a Rust panic
arrives as a RuntimeError."""

import json
import os
import signal
import threading
import time

import pytest

import labelnoise as ln

LONG = dict(hidden=[256], activation="relu", skip=True, output_bias=True, lr=1e-4, noise=0.5,
            steps=10**10)


def interrupt_after(seconds):
    # Python's own handler, whatever the test process inherited: a shell that starts a
    # background job without job control starts it with SIGINT ignored, and Python then
    # leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sent = {}

    def fire():
        sent["t"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(seconds, fire)
    timer.start()
    return timer, sent


@pytest.mark.parametrize("seeds", [1, 2])
def test_sigint_stops_train_within_half_a_second(tmp_path, seeds):
    timer, sent = interrupt_after(1.0)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        ln.train("fig1", out=out, seeds=seeds, checkpoint_every=10**9, **LONG)
    latency = time.monotonic() - sent["t"]
    timer.join()
    assert latency < 0.5, f"KeyboardInterrupt {latency:.3f} s after SIGINT"
    # The run directory holds the cancelled run's results and a checkpoint to resume.
    d = out if seeds == 1 else out / "seed-0"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["cancelled"] is True and 0 < summary["steps"] < 10**10
    assert (d / "checkpoint.json").exists() and (d / "model.json").exists()


def test_sigint_stops_settle_and_reproduce_within_half_a_second(tmp_path):
    net = ln.Network.mlp(1, [3000], "relu", skip=True, output_bias=True, seed=0)
    timer, sent = interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        ln.settle(net, "fig1", max_iter=10**6)
    assert time.monotonic() - sent["t"] < 0.5
    timer.join()
    timer, sent = interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        ln.reproduce("all", out=tmp_path / "r")
    assert time.monotonic() - sent["t"] < 0.5
    timer.join()
    # The experiments stopped too (they are not left training in the background): the
    # process uses next to no CPU in the next second, and no report is written.
    cpu = time.process_time()
    time.sleep(1.0)
    used = time.process_time() - cpu
    assert used < 0.3, f"{used:.2f} s of CPU in the second after Ctrl-C: an experiment still runs"
    assert not (tmp_path / "r" / "summary.json").exists()


def test_other_python_threads_run_during_train():
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    r = ln.train("fig1", **{**LONG, "steps": 3_000_000})
    end = time.monotonic()
    stop.set()
    t.join()
    assert r.summary["steps"] == 3_000_000
    during = [s for s in ticks if start < s < end]
    # With the GIL held the whole call, the thread would not tick at all.
    assert end - start > 0.2
    assert len(during) > 0.25 * (end - start) / 0.001 * 0.1
    gaps = [b - a for a, b in zip(during, during[1:])]
    assert max(gaps, default=0) < 0.2


def test_a_panic_is_a_runtime_error_naming_a_bug():
    with pytest.raises(RuntimeError, match="internal error.*bug"):
        ln._labelnoise._panic_for_tests()
