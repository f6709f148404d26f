#!/usr/bin/env bash
# A one-node SLURM on 127.0.0.1 for tests and benchmarks: munged, slurmctld and slurmd
# started as this user from a private state directory (nothing under /etc is changed).
#
#   slurm.sh install        apt-get the Debian packages (slurmd, slurmctld, munge)
#   slurm.sh start DIR      write DIR/slurm.conf, start the daemons, wait for the node
#   slurm.sh stop DIR       stop the daemons started in DIR
#
# Client commands (sbatch, squeue, dask-jobqueue) need SLURM_CONF=DIR/slurm.conf.
set -euo pipefail

cmd=${1:?usage: slurm.sh install|start DIR|stop DIR}

if [ "$cmd" = install ]; then
  command -v slurmctld >/dev/null && command -v munged >/dev/null && exit 0
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    slurmd slurmctld munge >/dev/null
  exit 0
fi

dir=$(realpath -m "${2:?state directory}")
if [ "$cmd" = stop ]; then
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    alive=0
    for pidfile in "$dir"/*.pid; do
      [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && exit 0
    sleep 0.1
  done
  for pidfile in "$dir"/*.pid; do [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null; done
  exit 0
fi

[ "$cmd" = start ] || { echo "slurm.sh: unknown command $cmd" >&2; exit 2; }
mkdir -p "$dir"/spool "$dir"/state "$dir"/munge
chmod 700 "$dir" "$dir"/munge
user=$(id -un)
node=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge: a key of our own, a socket in our directory (the system's munged is not used).
[ -f "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom > "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"

cat > "$dir/slurm.conf" <<CONF
ClusterName=opsnn
SlurmctldHost=$node(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
SlurmctldPort=${SLURMCTLD_PORT:-16817}
SlurmdPort=${SLURMD_PORT:-16818}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
KillWait=5
MinJobAge=30
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$dir/slurm.conf" -i
slurmd -f "$dir/slurm.conf"
for _ in $(seq 100); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then exit 0; fi
  sleep 0.2
done
echo "slurm.sh: the node did not come up; logs in $dir" >&2
exit 1
