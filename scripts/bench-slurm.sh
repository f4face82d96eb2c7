#!/usr/bin/env bash
# Slurm figures on the local single-node cluster (scripts/slurm-up.sh):
#  1. submitting a 30-run sweep: one sbatch call, wall time;
#  2. the dashboard following those 30 runs: squeue calls per minute and its idle CPU.
# The tasks are submitted held (--hold) so they stay pending and nothing else loads the cores;
# every one is still queried on each refresh. Usage: scripts/bench-slurm.sh [histoboard-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/histoboard}")
[ -x "$bin" ] || { echo "no binary at $bin (cargo build --release)" >&2; exit 1; }
./scripts/slurm-up.sh >/dev/null
command -v tmux >/dev/null || { echo "needs tmux" >&2; exit 1; }

work=$(mktemp -d)
trap 'tmux kill-session -t hb-bench 2>/dev/null; [ -n "${job:-}" ] && scancel "$job"; rm -rf "$work"' EXIT
mkdir -p "$work/experiments" "$work/shim"
seeds=$(seq -s, 0 29)
cat >"$work/experiments/wide.toml" <<TOML
name = "wide"
launcher = "slurm"
[train]
epochs = 1
[slurm]
cpus = 1
array_limit = 4
extra = ["--hold"]
[sweep]
"train.seed" = [$seeds]
TOML
# Count the scheduler calls: sbatch per submission, squeue per dashboard refresh.
for cmd in sbatch squeue; do
    real=$(command -v "$cmd")
    printf '#!/bin/sh\necho x >>"%s/%s.calls"\nexec "%s" "$@"\n' "$work" "$cmd" "$real" >"$work/shim/$cmd"
    chmod +x "$work/shim/$cmd"
done

start=$(date +%s.%N)
out=$(cd "$work" && PATH="$work/shim:$PATH" "$bin" submit experiments/wide.toml)
end=$(date +%s.%N)
job=$(echo "$out" | awk '/job array/ {for (i=1;i<=NF;i++) if ($i=="array") print $(i+1)}')
runs=$(echo "$out" | grep -c "_")
sbatch_calls=$(wc -l <"$work/sbatch.calls")
echo "RESULT submit runs=$runs job=$job sbatch_calls=$sbatch_calls wall_ms=$(awk "BEGIN {printf \"%.0f\", ($end - $start) * 1000}") ($(echo "$out" | tail -1))"

tmux kill-session -t hb-bench 2>/dev/null || true
tmux new-session -d -s hb-bench -x 200 -y 50 "cd $work && PATH=$work/shim:$PATH $bin"
sleep 5
pid=$(pgrep -f "^$bin\$" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
: >"$work/squeue.calls"
t0=$(ticks)
window=60
sleep "$window"
t1=$(ticks)
calls=$(wc -l <"$work/squeue.calls")
cpu=$(awk "BEGIN {print ($t1 - $t0) / $hz / $window * 100}")
shown=$(tmux capture-pane -t hb-bench -p | grep -c "pending" || true)
printf 'RESULT dashboard runs=%s window_s=%s squeue_calls=%s per_minute=%.1f idle_cpu_pct=%.2f visible_rows_pending=%s\n' \
    "$runs" "$window" "$calls" "$(awk "BEGIN {print $calls * 60 / $window}")" "$cpu" "$shown"
