#!/usr/bin/env bash
# End-to-end test on a real Slurm: starts munged, slurmctld and slurmd on 127.0.0.1 (config, key
# and state in a temporary folder, free ports), submits a sweep of 4 short runs as a job array,
# waits, collects the table and checks every row; then preempts a longer run with
# `scontrol requeue` and checks that it resumed from its checkpoint and completed.
#   tests/slurm/sweep_on_slurm.sh PINN_TRAIN_BINARY
# Exit 77 (ctest: skipped), saying why, only where the daemons cannot start.
set -uo pipefail

BINARY=$(realpath "$1")
SOURCE=$(cd "$(dirname "$0")/../.." && pwd)
CONFIG="$SOURCE/configs/heat_1d.json"
SMALL=(--set points.interior.count=200 --set points.ends.count=10 --set points.start.count=20
       --set network.hidden=[8,8] --set training[1].iterations=100 --set reference.every=500)

fail() {
  echo "FAILED: $*"
  for log in "$WORK"/*.log "$WORK"/sweep*/logs/*; do
    [[ -f $log ]] && { echo "--- $log"; tail -n 30 "$log"; }
  done
  exit 1
}

source "$SOURCE/tests/slurm/start_slurm.sh"

# --- 1. a sweep of 4 runs as a job array ----------------------------------------------------
job=$("$BINARY" sweep "$CONFIG" "${SMALL[@]}" --set training[0].iterations=300 -q \
  --grid 'training[0].lr=1e-3,3e-3' --grid 'network.hidden=[8,8],[12]' \
  -o "$WORK/sweep" --run slurm --time 00:10:00) || fail "sweep --run slurm failed"
[[ $job =~ ^[0-9]+$ ]] || fail "sweep printed '$job', not a job id"
grep -q -- "--array=0-3" "$WORK/sweep/sweep.sbatch" || fail "the job script has no --array=0-3"
echo "submitted job array $job"
wait_for_job "$job" 300
"$BINARY" collect "$WORK/sweep" -q > "$WORK/table.csv" || fail "collect failed"
cat "$WORK/table.csv"
/usr/bin/python3 - "$WORK/table.csv" << 'EOF' || fail "the collected table is wrong"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4, f"{len(rows)} rows"
seen = set()
for row in rows:
    assert row["status"] == "completed", row
    assert int(row["steps"]) == 400, row
    assert math.isfinite(float(row["final_loss"])) and float(row["final_loss"]) < 1, row
    assert 0 < float(row["l2_rel_u"]) < 1, row
    seen.add((row["training[0].lr"], row["network.hidden"]))
assert seen == {("0.001", "[8,8]"), ("0.001", "[12]"), ("0.003", "[8,8]"), ("0.003", "[12]")}, seen
print("collected table: 4 completed rows, every combination once")
EOF

# --- 2. a run preempted with scontrol requeue resumes and completes --------------------------
# Long enough (60000 small Adam steps, about 5 s on a fast 2-core machine, 0.08 ms a step) that
# the requeue lands mid-run however fast the engine gets: 6000 steps once finished before the
# one-second poll saw step 1000.
job=$("$BINARY" sweep "$CONFIG" "${SMALL[@]}" --set training[0].iterations=60000 \
  --set training[0].log_every=1000 --set reference.every=1000 --set checkpoint_every=2000 -q \
  -o "$WORK/sweep_requeue" --run slurm) || fail "the second sweep failed"
log="$WORK/sweep_requeue/logs/${job}_0.out"
for _ in $(seq 600); do
  grep -q "adam 2000/" "$log" 2> /dev/null && break
  sleep 0.2
done
grep -q "adam 2000/" "$log" || fail "the run did not get to step 2000"
requeue_now "${job}_0" 30
echo "requeued ${job}_0 at $(grep -c '^.*adam [0-9]*/' "$log") log lines"
wait_for_job "$job" 400
run="$WORK/sweep_requeue/runs/run-000"
grep -q "interrupted at step" "$log" || fail "the run was not stopped by the requeue"
grep -q "resuming at step" "$log" || fail "the requeued run did not resume from its checkpoint"
/usr/bin/python3 - "$run" << 'EOF' || fail "the requeued run's results are wrong"
import csv, json, sys
summary = json.load(open(sys.argv[1] + "/summary.json"))
assert summary["status"] == "completed", summary["status"]
assert summary["steps"] == 60100, summary["steps"]
steps = [int(row["step"]) for row in csv.DictReader(open(sys.argv[1] + "/history.csv"))]
assert steps == sorted(set(steps)), "history rows repeated or out of order"
assert steps[-1] == 60100 and len(steps) == 1 + 60 + 1, (len(steps), steps[-3:])
print(f"requeued run: completed, {len(steps)} history rows, each step once")
EOF
echo "PASSED"
