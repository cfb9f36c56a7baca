#!/usr/bin/env bash
# The real one-node Slurm test of `labelnoise sweep --slurm` (issue 12), run by
# scripts/test-all.sh and CI as root on a fresh machine.
#
# It installs Debian's slurmctld, slurmd, slurm-client and munge when missing, starts a
# one-node cluster on this machine (a munge key, a slurm.conf with this host's name and
# core count, SlurmUser=root, ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
# state and spool directories in a temporary folder; munged, slurmctld and slurmd started
# here and stopped at the end by their process ids, also on failure), then:
#   1. runs a 16-point sweep locally without shards and collects it (the reference);
#   2. submits the job array written by `sweep --slurm --submit`, waits for it (time
#      limit), collects, and compares results.csv with the reference (timing columns
#      aside);
#   3. submits it again into a fresh directory, scancels one array task mid-run, checks
#      that the sweep is then incomplete, re-submits the same script, and checks that the
#      sweep completes, equals the reference, and that the points finished before the
#      cancel were not redone (their files untouched).
# If the cluster cannot start, the test fails (it never skips). The last line is
# "RESULT slurm: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
passed=0
failed=0
pids=()
tmp=""

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }

cleanup() {
    if [ -n "$tmp" ] && [ -f "$tmp/slurm.conf" ] && command -v scancel >/dev/null; then
        SLURM_CONF="$tmp/slurm.conf" timeout 10 scancel --user=root >/dev/null 2>&1 || true
        sleep 1
    fi
    # Stop the daemons this script started, by process id, newest first.
    for ((k = ${#pids[@]} - 1; k >= 0; k--)); do
        kill "${pids[k]}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ -n "$tmp" ] && [ "$failed" -eq 0 ]; then rm -rf "$tmp"; fi
    [ -n "$tmp" ] && [ -d "$tmp" ] && echo "kept $tmp for inspection"
    echo "RESULT slurm: $passed passed, $failed failed"
}
trap 'cleanup; [ "$failed" -eq 0 ]; exit $?' EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# --- install -----------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q slurmctld slurmd slurm-client munge; } >/tmp/labelnoise-slurm-apt.log 2>&1; then
        tail -20 /tmp/labelnoise-slurm-apt.log
        fail "install slurm and munge"
        exit 1
    fi
fi
pass "slurm and munge installed ($(slurmd -V))"

# --- the binary ----------------------------------------------------------------
if ! cargo build -q -p labelnoise-cli; then
    fail "build labelnoise"
    exit 1
fi
bin="$root/target/debug/labelnoise"

# --- the cluster ---------------------------------------------------------------
tmp=$(mktemp -d /tmp/labelnoise-slurm.XXXXXX)
chmod 700 "$tmp"
host=$(hostname -s)
cpus=$(nproc)
port=$((20000 + RANDOM % 20000))
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/munge"
chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"
munged --force --foreground --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.sock" \
    --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" \
    --seed-file="$tmp/munge/munged.seed" >"$tmp/munge/munged.out" 2>&1 &
pids+=($!)
cat >"$tmp/slurm.conf" <<CONF
ClusterName=labelnoise
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.sock
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MaxArraySize=1001
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"
for _ in $(seq 50); do [ -S "$tmp/munge/munge.sock" ] && break; sleep 0.1; done
if munge -n -S "$tmp/munge/munge.sock" | unmunge -S "$tmp/munge/munge.sock" >/dev/null 2>&1; then
    pass "munged runs"
else
    cat "$tmp/munge/munged.log" 2>/dev/null | tail -5
    fail "munged runs"
    exit 1
fi
slurmctld -D -f "$tmp/slurm.conf" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$tmp/slurm.conf" -N "$host" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)
up=""
for _ in $(seq 120); do
    state=$(timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null | head -1)
    if [ "$state" = "idle" ]; then up=1; break; fi
    sleep 0.5
done
if [ -n "$up" ]; then
    pass "one-node cluster up ($host, $cpus CPUs, port $port)"
else
    echo "sinfo: $(timeout 5 sinfo 2>&1 | tail -2)"
    tail -5 "$tmp/slurmctld.log" "$tmp/slurmd.log" "$tmp/slurmctld.out" "$tmp/slurmd.out" 2>/dev/null
    fail "one-node cluster up"
    exit 1
fi

# --- the sweep -----------------------------------------------------------------
cat >"$tmp/sweep.toml" <<'TOML'
name = "slurm-test"
description = "16 points of a few seconds each (packed 4 to a task: one task runs for seconds)"
[train]
data = "fig1"
hidden = 8
activation = "relu"
skip = true
output_bias = true
output_init_scale = 3
noise = 0.5
steps = 2e7
checkpoint_every = 2.5e6
[grid]
lr = [2e-3, 1e-3]
seed = { from = 0, count = 8 }
TOML
cd "$tmp"

# Waits for job $1 to leave the queue, at most $2 seconds; fails without a job id.
wait_job() {
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    local t=0
    while [ -n "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; do
        sleep 1
        t=$((t + 1))
        if [ "$t" -ge "$2" ]; then return 1; fi
    done
}
# results.csv without its last two columns (wall_seconds, steps_per_second).
untimed() { awk -F, -v OFS=, '{NF -= 2; print}' "$1"; }

start=$(date +%s)
if "$bin" sweep sweep.toml --out local --jobs 2 --quiet && "$bin" collect local --quiet; then
    pass "local sweep and collect ($(($(date +%s) - start)) s)"
else
    fail "local sweep and collect"
fi

start=$(date +%s)
job=$("$bin" sweep sweep.toml --out array --slurm --time 00:10:00 --cpus-per-task 1 --tasks 4 --submit)
if [[ "$job" =~ ^[0-9]+$ ]]; then pass "sweep --slurm --submit printed job id $job"; else fail "sweep --slurm --submit" "$job"; job=""; fi
if wait_job "$job" 600; then pass "array job $job done ($(($(date +%s) - start)) s)"; else fail "array job $job done within 600 s"; fi
logs=$(ls array/logs/ 2>/dev/null | grep -c "^${job}_[0-3]\.err$")
[ "$logs" -eq 4 ] && pass "4 task logs in array/logs" || fail "4 task logs in array/logs" "found $logs"
if "$bin" collect array --quiet; then pass "collect of the array's sweep"; else fail "collect of the array's sweep"; fi
if [ -f array/results.csv ] && diff <(untimed local/results.csv) <(untimed array/results.csv) >/dev/null; then
    pass "results.csv of the Slurm array equals the local one (timing columns aside)"
else
    fail "results.csv of the Slurm array equals the local one"
    diff <(untimed local/results.csv) <(untimed array/results.csv) | head -5
fi

# Cancel one task mid-run, then re-submit.
start=$(date +%s)
job=$("$bin" sweep sweep.toml --out cancel --slurm --time 00:10:00 --cpus-per-task 1 --tasks 4 --max-parallel 1 --submit)
# A point in progress: a checkpoint and no summary yet. A task trains its points packed in
# vector lanes, so they finish together; the victim must be a task whose points are
# still in progress (after an earlier task finished some), not one that is finishing.
in_progress() {
    local c
    for c in $(find cancel/points -name checkpoint.json 2>/dev/null); do
        [ -f "$(dirname "$c")/summary.json" ] || return 0
    done
    return 1
}
victim=""
for _ in $(seq 600); do
    running=$(squeue -h -j "$job" -t R -o %i 2>/dev/null | head -1)
    done_now=$(find cancel/points -name summary.json 2>/dev/null | wc -l)
    if [ -n "$running" ] && [ "$done_now" -ge 1 ] && in_progress; then victim=$running; break; fi
    sleep 0.2
done
if [ -n "$victim" ]; then
    scancel "$victim"
    pass "scancel of array task $victim after $done_now finished points"
else
    fail "found a running array task to cancel"
fi
wait_job "$job" 600 || fail "cancelled array job done within 600 s"
# Fingerprints of the points finished before re-submitting: their files must not change.
# A point the cancelled task was running has a summary too, marked cancelled (scancel
# sends SIGTERM, and labelnoise checkpoints the running point before it exits): it is
# not finished, and the re-submitted task continues it.
finished_before=$(find cancel/points -name summary.json -exec grep -l '"cancelled": false' {} + | sort)
stopped=$(find cancel/points -name summary.json -exec grep -l '"cancelled": true' {} + | wc -l)
echo "   (points stopped by scancel's SIGTERM with a checkpoint: $stopped)"
fingerprint() { for f in $finished_before; do d=$(dirname "$f"); stat -c '%n %Y %s' "$d"/summary.json "$d"/model.json "$d"/metrics.csv; sha256sum "$d"/model.json; done; }
before=$(fingerprint)
n_before=$(echo "$finished_before" | grep -c summary.json)
if [ -z "$victim" ] || [ "$n_before" -lt 1 ]; then
    fail "the cancelled sweep is incomplete" "no task cancelled or no point finished before"
elif "$bin" collect cancel --quiet 2>/dev/null; then
    fail "the cancelled sweep is incomplete" "collect exited 0"
else
    pass "the cancelled sweep is incomplete ($n_before of 16 points finished; collect exits 1)"
fi
sleep 1 # so that a rewritten file would show a newer modification time
job2=$(sbatch --parsable cancel/sweep.sbatch 2>&1 | cut -d';' -f1)
if wait_job "$job2" 600; then pass "re-submitted array $job2 done ($(($(date +%s) - start)) s for cancel and re-submit)"; else fail "re-submitted array done within 600 s"; fi
if "$bin" collect cancel --quiet; then pass "collect after re-submitting"; else fail "collect after re-submitting"; fi
if [ -f cancel/results.csv ] && diff <(untimed local/results.csv) <(untimed cancel/results.csv) >/dev/null; then
    pass "results.csv after cancel and re-submit equals the local one"
else
    fail "results.csv after cancel and re-submit equals the local one"
fi
after=$(fingerprint)
if [ "$n_before" -ge 1 ] && [ "$before" = "$after" ]; then
    pass "the $n_before points finished before re-submitting were not redone (files untouched)"
else
    fail "finished points untouched"
    diff <(echo "$before") <(echo "$after") | head -5
fi
skipped=$(cat cancel/logs/"${job2}"_*.err 2>/dev/null | grep -c "already done")
if [ "$n_before" -ge 1 ] && [ "$skipped" -eq "$n_before" ]; then
    pass "the re-submitted tasks logged $skipped points as already done"
else
    fail "the re-submitted tasks skipped the finished points" "logged $skipped, expected $n_before"
fi
