#!/usr/bin/env bash
# End-to-end test of one run across processes under a real Slurm (the daemons of start_slurm.sh:
# munged, slurmctld and slurmd on 127.0.0.1, a node of at least 2 CPUs):
#   1. `srun -n 2 pinn-train CONFIG` trains across the step's 2 tasks (ranks from SLURM_PROCID,
#      SLURM_NTASKS, ..., the rendezvous on the step's first node): rank 0 alone writes, one run
#      directory and nothing else, whose summary counts 2 ranks;
#   2. that history is the one of the same config trained by one process (float64, full batch,
#      Adam: to 1e-10 in every numeric column but the time);
#   3. a sweep of one run with `--run slurm --ntasks 2`, preempted with `scontrol requeue` once
#      it logged step 2000, stops all ranks at one checkpoint, is requeued, resumes and completes
#      with the same history as the uninterrupted run of one process.
#   tests/slurm/distributed_on_slurm.sh PINN_TRAIN_BINARY
# Exit 77 (ctest: skipped), saying why, only where the daemons cannot start.
set -uo pipefail

BINARY=$(realpath "$1")
SOURCE=$(cd "$(dirname "$0")/../.." && pwd)
CONFIG="$SOURCE/configs/heat_1d.json"
# Heat on a rod, float64 (the config's dtype), full batch, one thread a rank. Adam alone, at a
# learning rate small enough that it does not spike: the ranks sum in another order than one
# process, and Adam's spikes (at lr 1e-3 within 6000 steps here; at 1e-4 at about step 14000)
# blow such rounding differences up to O(1). Up to step 10000 at 1e-4 they stay below 1e-13.
STEPS=10000
RUN=(--set points.interior.count=200 --set points.ends.count=10 --set points.start.count=20
     --set network.hidden=[8,8] --set threads=1 --set reference.every=1000
     --set checkpoint_every=2000 --set 'distributed={"timeout_s":60}'
     --set "training=[{\"type\":\"adam\",\"lr\":1e-4,\"iterations\":$STEPS,\"log_every\":1000}]")

fail() {
  echo "FAILED: $*"
  for log in "$WORK"/*.log "$WORK"/sweep/logs/*; do
    [[ -f $log ]] && { echo "--- $log"; tail -n 40 "$log"; }
  done
  exit 1
}

command -v srun > /dev/null ||
  { echo "SKIPPED: srun is not installed (scripts/setup.sh installs slurm-wlm)"; exit 77; }
# This script's runs must not see a launcher around it (ctest inside a Slurm job or torchrun).
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT $(compgen -v SLURM_)
export OMP_NUM_THREADS=1
SLURM_MIN_CPUS=2
source "$SOURCE/tests/slurm/start_slurm.sh"
# Jobs still queued when the script ends (a failure) are cancelled before the daemons stop.
trap 'scancel -u "$USER_NAME" 2> /dev/null; sleep 2; cleanup' EXIT
STARTED=$SECONDS

# The largest relative difference between the histories of two runs over every numeric column
# but elapsed_s (empty cells, as lr's at step 0, must be empty in both); the step lists and
# columns must be equal. Prints it; fails above 1e-10.
same_history() {
  /usr/bin/python3 - "$1/history.csv" "$2/history.csv" << 'EOF'
import csv, sys
a, b = (list(csv.DictReader(open(path))) for path in sys.argv[1:3])
assert [r["step"] for r in a] == [r["step"] for r in b], \
    f"step lists differ: {[r['step'] for r in a]} vs {[r['step'] for r in b]}"
assert list(a[0]) == list(b[0]), f"columns differ: {list(a[0])} vs {list(b[0])}"
worst, where, values = 0.0, None, 0
for x, y in zip(a, b):
    for column in x:
        if column in ("elapsed_s", "stage"):
            assert column == "elapsed_s" or x[column] == y[column], (x["step"], column)
            continue
        assert (x[column] == "") == (y[column] == ""), (x["step"], column, x[column], y[column])
        if x[column] == "":
            continue
        u, v = float(x[column]), float(y[column])
        scale = max(abs(u), abs(v))
        difference = abs(u - v) / scale if scale > 0 else 0.0
        values += 1
        if difference > worst:
            worst, where = difference, (x["step"], column, u, v)
print(f"    {len(a)} rows (steps {a[0]['step']}..{a[-1]['step']}), {values} values, "
      f"largest relative difference {worst:.2e}" + (f" at step {where[0]} {where[1]}" if where else ""))
assert worst <= 1e-10, f"differs by {worst:.3e} at step {where[0]}, {where[1]}: {where[2]!r} vs {where[3]!r}"
EOF
}

# The summary of run directory $1: completed after $STEPS steps across 2 ranks (launcher $2), the
# last $3 of them (and as many all-reduces at least) in the processes that wrote it.
check_summary() {
  /usr/bin/python3 - "$1/summary.json" "$STEPS" "$2" "$3" << 'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
assert summary["status"] == "completed", summary["status"]
assert summary["steps"] == int(sys.argv[2]), summary["steps"]
distributed = summary.get("distributed")
assert isinstance(distributed, dict), f"no distributed object: {distributed!r}"
assert distributed["ranks"] == 2, distributed
assert distributed.get("launcher") == sys.argv[3], distributed
assert distributed["collectives"] >= int(sys.argv[4]), distributed
print(f"    summary: completed, {summary['steps']} steps, distributed {json.dumps(distributed)}")
EOF
}

# --- 1. srun -n 2 pinn-train CONFIG ----------------------------------------------------------
echo "1. srun -n 2 pinn-train CONFIG (a job step in a new allocation of 2 tasks)"
mkdir -p "$WORK/srun"
(cd "$WORK/srun" && timeout 300 srun -n 2 --label --time=10 --job-name=pinn-srun \
   "$BINARY" "$CONFIG" "${RUN[@]}" -o run --log-format text) > "$WORK/srun.log" 2>&1 ||
  fail "srun -n 2 pinn-train exited with $? (log: srun.log)"
echo "    exit 0 after $((SECONDS - STARTED)) s"
[[ $(ls -A "$WORK/srun") == run ]] ||
  fail "the step's working directory holds $(ls -A "$WORK/srun" | tr '\n' ' '), not the run alone"
echo "    the working directory holds the run directory alone"
check_summary "$WORK/srun/run" slurm "$STEPS" || fail "the summary of the srun run is wrong"
grep -q "^0: .*training heat_1d .*2 ranks" "$WORK/srun.log" ||
  fail "rank 0 did not say it trains across 2 ranks"
grep -q "^0: .*info done: $STEPS steps" "$WORK/srun.log" || fail "rank 0 did not log the end"
# Rank 1 says where it meets the others, then (its level raised to warnings once it joined)
# only what goes wrong: here nothing.
grep -q "^1: .*info rank 1 of 2 (slurm): meeting the others at localhost:" "$WORK/srun.log" ||
  fail "rank 1 did not say where it meets the others"
others=$(grep "^1: " "$WORK/srun.log" | grep -v "info rank 1 of 2 (slurm): meeting the others at")
[[ -z $others ]] || fail "rank 1 logged after joining: $(head -n 3 <<< "$others")"
echo "    rank 0 logged the run ($(grep -c '^0: ' "$WORK/srun.log") lines); rank 1 only where it" \
     "met the others ($(grep -o 'localhost:[0-9]*' <<< "$(grep '^1: ' "$WORK/srun.log")"))"

# --- 2. the same history as one process --------------------------------------------------------
echo "2. the same config trained by one process (no Slurm)"
(cd "$WORK" && "$BINARY" "$CONFIG" "${RUN[@]}" -o "$WORK/one" -q) > "$WORK/one.log" 2>&1 ||
  fail "the run of one process failed (log: one.log)"
[[ $(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("distributed"))' \
       "$WORK/one/summary.json") == None ]] || fail "the run of one process is distributed"
same_history "$WORK/one" "$WORK/srun/run" || fail "srun -n 2 and one process differ"
echo "    srun -n 2 and one process: the same history"

# --- 3. a sweep run on 2 tasks, preempted with scontrol requeue --------------------------------
echo "3. sweep --run slurm --ntasks 2, preempted with scontrol requeue"
job=$("$BINARY" sweep "$CONFIG" "${RUN[@]}" -q -o "$WORK/sweep" --run slurm --ntasks 2 \
  --time 00:10:00) || fail "sweep --run slurm --ntasks 2 failed"
[[ $job =~ ^[0-9]+$ ]] || fail "sweep printed '$job', not a job id"
grep -q -- "^#SBATCH --ntasks=2$" "$WORK/sweep/sweep.sbatch" || fail "the job script has no --ntasks=2"
grep -q "^srun --kill-on-bad-exit=1 " "$WORK/sweep/sweep.sbatch" || fail "the job script has no srun"
echo "    submitted job $job (--ntasks=2, srun --kill-on-bad-exit=1)"
log="$WORK/sweep/logs/${job}_0.out"
for _ in $(seq 900); do
  grep -q "adam 2000/" "$log" 2> /dev/null && break
  sleep 0.2
done
grep -q "adam 2000/" "$log" || fail "the run did not get to step 2000"
requeue_now "${job}_0" 60
echo "    requeued ${job}_0 once it logged step 2000 ($((SECONDS - STARTED)) s)"
wait_for_job "$job" 300
run="$WORK/sweep/runs/run-000"
# Every rank says where it stopped ("stopped by signal S at step N"), rank 0 that the run was
# interrupted there.
stops=$(grep -o "stopped by signal [0-9]* at step [0-9]*" "$log")
[[ $(grep -c . <<< "$stops") == 2 ]] || fail "not both ranks were stopped by the requeue: $stops"
[[ $(grep -o "step [0-9]*" <<< "$stops" | sort -u | wc -l) == 1 ]] ||
  fail "the ranks stopped at different steps: $stops"
stop=${stops##* }
grep -q "interrupted at step $stop;" "$log" || fail "rank 0 did not say the run was interrupted"
(( stop > 2000 && stop < STEPS )) || fail "stopped at step $stop, not between 2000 and $STEPS"
resumes=$(grep -o "resuming at step [0-9]*" "$log" | sort -u)
[[ -n $resumes ]] || fail "the requeued run did not resume from its checkpoint"
[[ ${resumes##* } == "$stop" ]] || fail "stopped at step $stop but $resumes"
echo "    interrupted at step $stop (all ranks), requeued, resuming at step $stop"
check_summary "$run" slurm $((STEPS - stop)) || fail "the summary of the requeued run is wrong"
same_history "$WORK/one" "$run" || fail "the requeued run and the uninterrupted one differ"
echo "    the requeued run and the uninterrupted run of one process: the same history"
echo "PASSED in $((SECONDS - STARTED)) s after the daemons started"
