# Sourced by the tests of this folder (sweep_on_slurm.sh, distributed_on_slurm.sh): starts munged,
# slurmctld and slurmd on 127.0.0.1, with config, key and state in a temporary folder $WORK and
# free ports, exports SLURM_CONF, and stops them (removing $WORK unless KEEP_SLURM_WORK=1) when
# the script exits. Exits 77 (ctest: skipped), saying why, where the daemons cannot start.
# The sourcing script defines fail MESSAGE (used by wait_for_job) and may set, before sourcing:
#   SLURM_MIN_CPUS  the node's CPU count at least (default: nproc; more than nproc are declared
#                   with SlurmdParameters=config_overrides, so that tasks share the CPUs)
# It defines skip MESSAGE, free_port and wait_for_job JOB SECONDS.

skip() { echo "SKIPPED: $*"; exit 77; }

for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/setup.sh installs slurm-wlm and munge)"
done

WORK=$(mktemp -d /tmp/pinn_slurm.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  for pid_file in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munged.pid"; do
    [[ -f $pid_file ]] && kill "$(cat "$pid_file")" 2> /dev/null
  done
  sleep 1
  [[ ${KEEP_SLURM_WORK:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- munge ---------------------------------------------------------------------------------
mungekey -c -k "$WORK/munge.key" > /dev/null 2>&1 || skip "mungekey cannot create a key"
chmod 600 "$WORK/munge.key"
munged -f --key-file="$WORK/munge.key" --socket="$WORK/munge.socket" \
  --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munged.seed" \
  || skip "munged does not start: $(tail -n 3 "$WORK/munged.log" 2> /dev/null)"

# --- slurm ---------------------------------------------------------------------------------
USER_NAME=$(id -un)
SLURM_NODE_CPUS=$(nproc)
SLURMD_PARAMETERS=""
if (( ${SLURM_MIN_CPUS:-0} > SLURM_NODE_CPUS )); then
  SLURM_NODE_CPUS=$SLURM_MIN_CPUS
  SLURMD_PARAMETERS="SlurmdParameters=config_overrides"
fi
mkdir -p "$WORK/state" "$WORK/spool"
export SLURM_CONF="$WORK/slurm.conf"
cat > "$SLURM_CONF" << EOF
ClusterName=pinntest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=$USER_NAME
SlurmdUser=$USER_NAME
AuthType=auth/munge
AuthInfo=socket=$WORK/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
KillWait=30
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
$SLURMD_PARAMETERS
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$SLURM_NODE_CPUS State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" -c || skip "slurmctld does not start: $(tail -n 3 "$WORK/slurmctld.log" 2> /dev/null)"
slurmd -f "$SLURM_CONF" -N localhost || skip "slurmd does not start: $(tail -n 3 "$WORK/slurmd.log" 2> /dev/null)"
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2> /dev/null | head -n 1)
  [[ $state == idle ]] && break
  sleep 1
done
[[ $state == idle ]] || skip "the Slurm node did not come up (state '$state'): $(tail -n 3 "$WORK/slurmd.log")"
echo "slurm is up: $(sinfo -h -o '%P %D %t %c')"

# Waits until job $1 (all its array tasks) has left the queue; fails after $2 seconds.
wait_for_job() {
  for _ in $(seq "$2"); do
    [[ -z $(squeue -h -j "$1" 2> /dev/null) ]] && return 0
    sleep 1
  done
  squeue -j "$1"
  fail "job $1 still queued after $2 s"
}

# Requeues array task $1 ("JOB_0") and lets it start again at once (a requeued job waits for its
# begin time), trying for $2 seconds.
requeue_now() {
  scontrol requeue "$1" || fail "scontrol requeue $1 failed"
  for _ in $(seq "$2"); do
    [[ $(squeue -h -j "${1%_*}" -o %T 2> /dev/null) == PENDING ]] &&
      scontrol update jobid="$1" StartTime=now 2> /dev/null && return 0
    sleep 1
  done
}
