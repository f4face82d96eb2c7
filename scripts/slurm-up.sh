#!/usr/bin/env bash
# Brings up a real single-node Slurm cluster on this machine (Debian, as root),
# for the Slurm tests and for trying the dashboard by hand. Idempotent: when
# the cluster is already up with the same configuration, it only checks its
# health (well under 2 s) and prints the summary line.
#
#   scripts/slurm-up.sh            bring it up (or check it)
#   SLURM_UP_VERIFY=1 scripts/slurm-up.sh
#                                  also run a test job on the fast path
#
# Exit codes: 0 up and healthy; 3 the packages are missing and could not be
# installed (callers may skip Slurm tests then); 1 any other failure.
#
# No systemd here: munged, slurmctld and slurmd are started directly as
# daemons, with their output sent to log files (never to the caller's pipes).
# No cgroups: process tracking is proctrack/pgid, TaskPlugin=task/none.
# No slurmdbd: accounting_storage/none, finished jobs stay visible in
# squeue/scontrol for MinJobAge seconds and are appended to
# /var/log/slurm/jobcomp.log (jobcomp/filetxt).
# scripts/slurm-down.sh stops it.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
CTLD_PID=$RUN_DIR/slurmctld.pid
SLURMD_PID=$RUN_DIR/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
MUNGE_KEY=/etc/munge/munge.key

log() { echo "slurm: $*" >&2; }
die() { log "$*"; exit 1; }

# True when the pid in pidfile $1 is a live process named $2.
running() {
    local pid
    [ -r "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$pid/stat" 2>/dev/null # not a zombie
}

# --- packages -------------------------------------------------------------
have_packages() {
    command -v sbatch >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 &&
        command -v slurmd >/dev/null 2>&1 && command -v munged >/dev/null 2>&1
}

if ! have_packages; then
    cannot() { echo "slurm: packages could not be installed: $*" >&2; exit 3; }
    [ "$(id -u)" = 0 ] || cannot "not root"
    command -v apt-get >/dev/null 2>&1 || cannot "no apt-get on this machine"
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(slurm-wlm munge)
    aptlog=$(mktemp)
    if ! { apt-get install -y -qq --no-install-recommends "${pkgs[@]}" ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; }; } \
        >"$aptlog" 2>&1 </dev/null; then
        reason=$(grep -E '^(E|W):' "$aptlog" | tail -n 3 | tr '\n' ' ')
        rm -f "$aptlog"
        cannot "apt-get failed: ${reason:-see apt-get output}"
    fi
    rm -f "$aptlog"
    have_packages || cannot "slurm-wlm/munge installed but sbatch, slurmctld, slurmd or munged is missing"
fi

HOST=$(hostname -s)
[ -n "$HOST" ] || die "hostname -s is empty"

# --- configuration --------------------------------------------------------
# The node's hardware as slurmd sees it; memory is announced at 90% so that
# the node is never invalid because of a few MiB.
hw=$(slurmd -C 2>/dev/null | head -n 1) || true
field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
CPUS=$(field CPUs); BOARDS=$(field Boards); SOCKETS=$(field SocketsPerBoard)
CORES=$(field CoresPerSocket); THREADS=$(field ThreadsPerCore); MEM=$(field RealMemory)
if [ -z "$CPUS" ] || [ -z "$CORES" ] || [ -z "$MEM" ]; then
    # slurmd -C failed: a flat description of the machine is enough.
    CPUS=$(nproc); BOARDS=1; SOCKETS=1; CORES=$CPUS; THREADS=1
    MEM=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
fi
MEM=$((MEM * 9 / 10))

render_conf() {
    cat <<EOF
# Written by histoboard's scripts/slurm-up.sh; rewritten on every run.
ClusterName=histoboard
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in this sandbox. pgid, not linuxproc: linuxproc loses a job's
# child once the batch shell dies (the child is reparented to init), and that
# child then outlives scancel; pgid kills the whole process group.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: finished jobs are kept MinJobAge seconds in slurmctld and
# appended to the job completion log.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
MinJobAge=300
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# scancel: SIGTERM, then SIGKILL KillWait seconds later.
KillWait=5
UnkillableStepTimeout=30
InactiveLimit=0
SlurmdTimeout=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() {
    timeout 5 sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n 1
}

healthy() {
    running "$MUNGE_PID" munged && running "$CTLD_PID" slurmctld && running "$SLURMD_PID" slurmd &&
        [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]
}

version() { sinfo --version 2>/dev/null | awk '{print $NF}'; }

summary() { echo "slurm: up (version $(version), node $HOST, $CPUS CPUs)"; }

# Runs a one-line job and waits for it to complete.
verify_job() {
    local out id state i
    out=$(mktemp /tmp/slurm-up-check.XXXXXX)
    id=$(sbatch --parsable -J slurm-up-check -t 1 -n 1 --chdir=/tmp --output="$out" --wrap 'echo ok' 2>&1) ||
        { rm -f "$out"; die "sbatch failed: $id"; }
    id=${id%%;*}
    for i in $(seq 1 40); do
        state=$(scontrol show job "$id" -o 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
        case "$state" in
            COMPLETED)
                if grep -qx ok "$out"; then rm -f "$out"; return 0; fi ;;
            FAILED | CANCELLED | TIMEOUT | NODE_FAIL | BOOT_FAIL | OUT_OF_MEMORY | DEADLINE)
                rm -f "$out"; die "test job $id ended $state (see $LOG_DIR/slurmd.log)" ;;
        esac
        sleep 0.5
    done
    scancel "$id" 2>/dev/null || true
    rm -f "$out"
    die "test job $id did not complete within 20 s (state ${state:-unknown}; see $LOG_DIR/slurmctld.log)"
}

NEW_CONF=$(render_conf)

# Fast path: same configuration and everything up.
if [ -r "$CONF" ] && [ "$(cat "$CONF")" = "$NEW_CONF" ] && healthy; then
    [ "${SLURM_UP_VERIFY:-0}" = 1 ] && verify_job
    summary
    exit 0
fi

[ "$(id -u)" = 0 ] || die "the cluster is not up, and only root can start it"

# One bring-up at a time (tests may call this in parallel). The daemons are
# started with fd 9 closed, or they would hold the lock for ever.
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/slurm-up.lock"
flock -w 180 9 || die "another slurm-up.sh holds $RUN_DIR/slurm-up.lock"
# Another caller may have brought it up while this one waited for the lock.
if [ -r "$CONF" ] && [ "$(cat "$CONF")" = "$NEW_CONF" ] && healthy; then
    summary
    exit 0
fi

mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
changed=0
if [ ! -r "$CONF" ] || [ "$(cat "$CONF")" != "$NEW_CONF" ]; then
    printf '%s\n' "$NEW_CONF" >"$CONF.new"
    mv "$CONF.new" "$CONF"
    changed=1
fi

# --- munge ----------------------------------------------------------------
if ! running "$MUNGE_PID" munged; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
    chmod 0755 /run/munge
    chmod 0700 /var/log/munge /var/lib/munge /etc/munge
    if [ ! -s "$MUNGE_KEY" ]; then
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY" --force >/dev/null 2>&1
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    # --force: start even over a stale socket or lock left by a killed munged.
    runuser -u munge -- /usr/sbin/munged --force </dev/null >>"$LOG_DIR/munged.out" 2>&1 9>&- ||
        die "munged did not start (see /var/log/munge/munged.log)"
fi
for i in $(seq 1 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    [ "$i" = 50 ] && die "munge does not work (see /var/log/munge/munged.log)"
    sleep 0.1
done

# --- slurmctld and slurmd -------------------------------------------------
stop() { # pidfile name
    local pid i
    running "$1" "$2" || return 0
    pid=$(tr -dc '0-9' <"$1")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        [ -d "/proc/$pid" ] || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

if [ "$changed" = 1 ]; then
    # A new configuration (other plugins, other node description) needs
    # fresh daemons; the saved job state survives the restart.
    stop "$SLURMD_PID" slurmd
    stop "$CTLD_PID" slurmctld
fi
if ! running "$CTLD_PID" slurmctld; then
    setsid slurmctld </dev/null >>"$LOG_DIR/slurmctld.out" 2>&1 9>&- ||
        die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
fi
if ! running "$SLURMD_PID" slurmd; then
    setsid slurmd </dev/null >>"$LOG_DIR/slurmd.out" 2>&1 9>&- ||
        die "slurmd did not start (see $LOG_DIR/slurmd.log)"
fi

# --- wait for the node ----------------------------------------------------
state=""
resumed=0
for i in $(seq 1 120); do
    state=$(node_state)
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | fail*)
            if [ "$resumed" = 0 ]; then
                scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi ;;
    esac
    running "$CTLD_PID" slurmctld || die "slurmctld exited (see $LOG_DIR/slurmctld.log)"
    running "$SLURMD_PID" slurmd || die "slurmd exited (see $LOG_DIR/slurmd.log)"
    sleep 0.5
done
case "$state" in
    idle | mixed | allocated | completing) ;;
    *) die "node $HOST is '${state:-not known}' after 60 s (see $LOG_DIR/slurmctld.log and slurmd.log)" ;;
esac

verify_job
summary
