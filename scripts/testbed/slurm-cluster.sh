#!/usr/bin/env bash
# A single-node Slurm cluster on loopback, with its own munge, for the tests.
#   slurm-cluster.sh start DIR PORT [CPUS]   writes DIR/slurm.conf, starts munged,
#                                            slurmctld and slurmd; waits until the
#                                            node is idle. Clients use SLURM_CONF=DIR/slurm.conf.
#   slurm-cluster.sh stop DIR                stops all three (by their pid files).
#   slurm-cluster.sh kill-slurmd DIR         kills slurmd with SIGKILL (a node failure).
# Needs root (slurmd starts jobs as their submitter) and Debian's slurm-wlm and munge.
set -euo pipefail
cmd=${1:?start, stop or kill-slurmd}
dir=$(realpath -m "${2:?directory}")

stop_pid() { # pidfile
  [ -f "$1" ] || return 0
  local p; p=$(cat "$1" 2>/dev/null || true)
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$1"
}

case "$cmd" in
start)
  # The daemons must hold no descriptor of the caller's but 0-2 (which they get
  # redirected): a caller reading a pipe to its end would wait for them forever.
  for fd in $(ls /proc/$$/fd); do
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
  port=${3:?port (two ports are used: PORT and PORT+1)}
  cpus=${4:-4}
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 755 "$dir" "$dir/munge"
  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  chown root:root "$dir/munge.key"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=heaventest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
SlurmdTimeout=5
SlurmctldTimeout=5
MessageTimeout=3
MinJobAge=600
ReturnToService=2
KillWait=2
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  # The daemons keep no descriptor of the caller's (a caller reading our output to its
  # end would wait for them otherwise); they write their own logs in $dir/log.
  munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed" --force \
    </dev/null >"$dir/log/munged.out" 2>&1
  slurmctld -i -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmctld.out" 2>&1
  slurmd -N localhost -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmd.out" 2>&1
  for i in $(seq 100); do
    # A daemon that stopped (its port taken, say) makes the caller try another port at
    # once, not after a hundred sinfo that each wait for a controller that is not there.
    # (A pid file not written yet is given two seconds.)
    for daemon in slurmctld slurmd; do
      pid=$(cat "$dir/$daemon.pid" 2>/dev/null || true)
      if { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; } || { [ -z "$pid" ] && [ "$i" -gt 20 ]; }; then
        echo "$daemon stopped: $(grep -h 'fatal' "$dir/log/$daemon.log" 2>/dev/null | tail -1)" >&2
        exit 1
      fi
    done
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && exit 0
    sleep 0.1
  done
  echo "the node did not become idle (state: ${state:-none}); logs in $dir/log" >&2
  exit 1
  ;;
stop)
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munged.pid"
  # What outlived them (job steps of a killed slurmd, their tasks) carries the
  # cluster's SLURM_CONF in its environment.
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$dir/slurm.conf"; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
  ;;
kill-slurmd)
  [ -f "$dir/slurmd.pid" ] && kill -KILL "$(cat "$dir/slurmd.pid")" 2>/dev/null || true
  rm -f "$dir/slurmd.pid"
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
