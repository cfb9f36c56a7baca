"""Shared fixtures: the `labelnoise` binary the test script built (LABELNOISE_BIN, else
target/release or target/debug), and a runner that returns its exit status, stdout and
stderr."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _binary():
    env = os.environ.get("LABELNOISE_BIN")
    if env:
        return pathlib.Path(env)
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "labelnoise"
        if p.exists():
            return p
    pytest.fail("no labelnoise binary: build it (cargo build -p labelnoise-cli) or set LABELNOISE_BIN")


@pytest.fixture(scope="session")
def cli():
    binary = _binary()

    def run(*args, cwd=None):
        p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, cwd=cwd)
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.fixture(scope="session")
def root():
    return ROOT
