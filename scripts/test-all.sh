#!/usr/bin/env bash
# The project's test command (README.md, second line): the Rust tests, then every
# front end's tests in scripts/tests/*.sh (Python, browser, Slurm), each of which
# installs what it needs (a virtual environment under target/, Debian packages, npm
# packages) when it is missing, so this command works on a fresh machine.
#
# Every part prints one line "RESULT <part>: N passed, M failed"; the last line of
# this script sums them. Exit status: non-zero if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== rust: cargo test --workspace"
cargo test --workspace 2>&1 | tee "$log"
rust_status=${PIPESTATUS[0]}
[ "$rust_status" -eq 0 ] || status=1
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
# A build failure runs no test: count it as one failure so the total cannot look green.
if [ "$rust_status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
results="RESULT rust: $passed passed, $failed failed"
echo "$results"

for part in scripts/tests/*.sh; do
    [ -e "$part" ] || continue
    name=$(basename "$part" .sh)
    echo "== $name: $part"
    bash "$part" 2>&1 | tee "$log"
    part_status=${PIPESTATUS[0]}
    line=$(grep -E "^RESULT $name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
    if [ -z "$line" ]; then
        line="RESULT $name: 0 passed, 1 failed"
        echo "$part printed no RESULT line: counted as one failure"
    fi
    if [ "$part_status" -ne 0 ]; then
        status=1
        # A part that failed without counting a failure (a broken install, say) is one failure.
        if echo "$line" | grep -qE ' 0 failed$'; then line="RESULT $name: $(echo "$line" | grep -Eo '[0-9]+ passed'), 1 failed"; fi
    fi
    results="$results"$'\n'"$line"
done

echo "== summary"
echo "$results"
total_passed=$(echo "$results" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
total_failed=$(echo "$results" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "$total_passed passed, $total_failed failed"
exit "$status"
