"""labelnoise: SGD with label noise and its implicit regularizer, from Python.

The engine is the Rust library of this repository (the extension module
``labelnoise._labelnoise``); this package adds the Python-side helpers: progress bars,
and the PyTorch round trip (``from_torch``, ``Network.to_torch``). See docs/python.md.

    import labelnoise as ln
    x, y = ln.load_data("fig1")
    run = ln.train(x, y, hidden=[100], activation="relu", skip=True, output_bias=True,
                   lr=5e-4, noise=1.0, steps=100_000)
    ln.analyze(run.model, x, y).verdict
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, List, Optional, Union

from ._labelnoise import (
    Analysis,
    Network,
    Run,
    Settled,
    __version__,
    analyze,
    experiments,
    load_data,
    reproduce,
    settle,
)
from ._labelnoise import train as _train
from ._torch import from_torch

__all__ = [
    "Analysis",
    "Network",
    "Run",
    "Settled",
    "__version__",
    "analyze",
    "experiments",
    "from_torch",
    "load_data",
    "reproduce",
    "settle",
    "train",
]


def _network_from_json(text: str) -> Network:
    """Unpickles a Network (see ``Network.__reduce__``)."""
    return Network.from_json(text)


class _Bars:
    """One progress bar per seed: tqdm when installed, else a line on stderr."""

    def __init__(self) -> None:
        try:
            import tqdm  # noqa: F401

            self._tqdm: Any = tqdm.tqdm
        except ImportError:
            self._tqdm = None
        self._bars: Dict[int, Any] = {}
        self._last: Dict[int, float] = {}

    def __call__(self, seed: int, step: int, total: int) -> None:
        if self._tqdm is not None:
            bar = self._bars.get(seed)
            if bar is None:
                bar = self._tqdm(
                    total=total,
                    desc=f"seed {seed}",
                    unit="step",
                    unit_scale=True,
                    position=len(self._bars),
                    leave=True,
                )
                self._bars[seed] = bar
            bar.update(step - bar.n)
            return
        now = time.monotonic()
        if step < total and now - self._last.get(seed, 0.0) < 0.5:
            return
        self._last[seed] = now
        pct = 100.0 * step / total if total else 100.0
        sys.stderr.write(f"\rseed {seed}: {step}/{total} steps ({pct:.0f}%)")
        if step >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def train(
    x: Any,
    y: Any = None,
    *,
    lr: float,
    steps: Union[int, float],
    noise: float,
    progress: Union[bool, Callable[[int, int, Dict[str, Any]], Any]] = False,
    **kwargs: Any,
) -> Union[Run, List[Run]]:
    """SGD with label noise (paper eq. 3) through the library's run driver.

    Every keyword of ``labelnoise train`` has its keyword here (``hidden``,
    ``activation``, ``skip``, ``output_bias``, ``freeze``, ``noise_dist``, ``batch``,
    ``two_copies``, ``copies`` (a list of label offsets), ``explicit_reg``, ``explicit_reg_sampled``, ``init_scale``,
    ``output_init_scale``, ``net`` (``--init-model``), ``seed``, ``seeds``, ``log_points``,
    ``checkpoint_every``, ``flush_threshold``, ``out``, ``force``). ``x`` and ``y`` are
    arrays, or ``x`` is a data set name or path and ``y`` is left out.

    ``progress=True`` shows a progress bar per seed (tqdm when installed, else a line on
    stderr); ``progress=f`` calls ``f(seed, step, metrics)`` at every metrics point.

    Returns a ``Run`` when ``seeds`` is 1 (the default), else a list of ``Run`` in seed
    order. Ctrl-C stops every seed and raises ``KeyboardInterrupt``; a run directory
    (``out=``) then holds a checkpoint and the results so far.
    """
    bars = None
    if progress is True:
        bars = _Bars()
        kwargs["progress"] = bars
    elif callable(progress):
        kwargs["callback"] = progress
    elif progress is not False and progress is not None:
        raise TypeError("progress: expected True, False or a callable(seed, step, metrics)")
    try:
        runs = _train(x, y, lr=lr, steps=steps, noise=noise, **kwargs)
    finally:
        if bars is not None:
            bars.close()
    if kwargs.get("seeds", 1) == 1:
        return runs[0]
    return runs
