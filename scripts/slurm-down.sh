#!/usr/bin/env bash
# Stops the single-node Slurm cluster that scripts/slurm-up.sh started:
# slurmd, slurmctld, then munged. Jobs are kept in the saved state and come
# back with the next slurm-up.sh.
#
#   scripts/slurm-down.sh           stop the daemons
#   scripts/slurm-down.sh --purge   cancel every job first, and forget all
#                                   saved jobs and the job completion log
#                                   (job ids start again at 1)
set -euo pipefail

RUN_DIR=/run/slurm
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd

purge=0
case "${1:-}" in
    --purge) purge=1 ;;
    "") ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

running() { # pidfile name
    local pid
    [ -r "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$pid/stat" 2>/dev/null # not a zombie
}

stop() { # pidfile name
    local pid i
    if ! running "$1" "$2"; then
        echo "slurm: $2 is not running"
        return 0
    fi
    pid=$(tr -dc '0-9' <"$1")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        if [ ! -d "/proc/$pid" ]; then
            echo "slurm: stopped $2 ($pid)"
            return 0
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    echo "slurm: killed $2 ($pid) after 10 s"
}

if [ "$purge" = 1 ] && running "$RUN_DIR/slurmctld.pid" slurmctld; then
    ids=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
        # shellcheck disable=SC2086
        scancel $ids 2>/dev/null || true
        for i in $(seq 1 30); do
            [ -z "$(squeue -h -t running,completing -o %A 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
fi

stop "$RUN_DIR/slurmd.pid" slurmd
stop "$RUN_DIR/slurmctld.pid" slurmctld
stop /run/munge/munged.pid munged

if [ "$purge" = 1 ]; then
    rm -rf "${STATE_DIR:?}"/* "${SPOOL_DIR:?}"/*
    rm -f /var/log/slurm/jobcomp.log
    echo "slurm: saved state removed"
fi
