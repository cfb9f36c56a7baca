#!/usr/bin/env bash
# The Python package's tests (docs/python.md): builds the extension into a virtual
# environment under target/ and runs the pytest suite in python/tests/ against the
# `labelnoise` binary built here. Installs what is missing: python3 and its venv module
# (apt-get), then maturin, numpy, pytest, tqdm, safetensors, matplotlib and torch (PyPI;
# torch's Linux wheel brings its CUDA libraries, about 5 GB and 1.5 min here, see
# docs/python.md#tests).
#
# Last line: "RESULT python: N passed, M failed"; exit status non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never
venv=target/venv
log=$(mktemp)
trap 'rm -f "$log"' EXIT

broken() {
    echo "python: $1"
    echo "RESULT python: 0 passed, 1 failed"
    exit 1
}

if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "== python: installing python3 and python3-venv (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev) \
        || broken "cannot install python3 with apt-get"
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "== python: creating $venv"
    python3 -m venv "$venv" || broken "python3 -m venv $venv failed"
    "$venv/bin/python" -m pip install -q --upgrade pip || broken "cannot upgrade pip"
fi
py="$venv/bin/python"
echo "== python: test dependencies (pip)"
start=$(date +%s)
"$py" -m pip install -q maturin numpy pytest tqdm safetensors matplotlib torch \
    || broken "pip install of the test dependencies failed"
echo "   $(( $(date +%s) - start )) s"

echo "== python: building the labelnoise binary (cargo build -p labelnoise-cli)"
cargo build -q -p labelnoise-cli || broken "cargo build -p labelnoise-cli failed"
export LABELNOISE_BIN="$PWD/target/debug/labelnoise"

echo "== python: pip install . (maturin, release build of the extension)"
start=$(date +%s)
"$py" -m pip install -q --force-reinstall --no-deps . || broken "pip install . failed"
echo "   $(( $(date +%s) - start )) s"

echo "== python: pytest python/tests"
( cd python/tests && MPLBACKEND=Agg "../../$py" -m pytest -q -p no:cacheprovider . ) 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# pytest's last line: "N passed, M failed in T s" (with or without "=" around it).
summary=$(grep -E '[0-9]+ (passed|failed|errors?)' "$log" | grep -E ' in [0-9.]+s' | tail -1)
passed=$(echo "$summary" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)
failed=$(echo "$summary" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' || true)
errors=$(echo "$summary" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+' || true)
passed=${passed:-0}
failed=$(( ${failed:-0} + ${errors:-0} ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "RESULT python: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
