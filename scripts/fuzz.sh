#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_PER_TARGET]: build the cargo-fuzz targets of fuzz/ and run
# each for SECONDS_PER_TARGET seconds (default 20), one after the other, starting from
# the committed seed corpus fuzz/corpus/<target>/ (new inputs go to
# fuzz/target/corpus/<target>/, not into the repository). Fails on the first crash,
# panic, timeout (10 s for one input) or out-of-memory (2 GiB); libFuzzer then saves
# the input under fuzz/artifacts/<target>/. docs/fuzzing.md says what each target covers.
#
# Works on the stable toolchain (RUSTC_BOOTSTRAP=1, no sanitizer; the library is safe
# Rust, so the fuzzing looks for panics, hangs and allocations, not memory errors) and
# installs what it needs when missing: a C++ compiler for libFuzzer (apt-get) and
# cargo-fuzz (cargo install --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
case "$secs" in
    '' | *[!0-9]* | 0) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET > 0]" >&2; exit 2 ;;
esac
if ! command -v c++ >/dev/null; then
    echo "== installing a C++ compiler (libFuzzer is C++)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
cd fuzz
start=$(date +%s)
echo "== building the fuzz targets"
cargo fuzz build --sanitizer none
echo "== built in $(($(date +%s) - start)) s"
status=0
summary=""
for target in $(cargo fuzz list); do
    work="target/corpus/$target"
    mkdir -p "$work" "corpus/$target"
    echo "== $target: ${secs} s"
    log="target/fuzz-$target.log"
    if cargo fuzz run --sanitizer none "$target" "$work" "corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
        summary+="$target: ${runs:-?} executions, no crash"$'\n'
    else
        tail -n 40 "$log"
        summary+="$target: FAILED (input saved under fuzz/artifacts/$target/, log $PWD/$log)"$'\n'
        status=1
    fi
done
echo "== summary ($(($(date +%s) - start)) s in all)"
printf '%s' "$summary"
exit "$status"
