#!/usr/bin/env bash
# Side-by-side speed figures: histoboard and the PyTorch reference, same machine, same run.
# Usage: scripts/bench.sh [out-dir]   (needs python3 with torch, numpy and pillow; builds the
# release binary if it is missing)
#
# Each model is measured in ROUNDS rounds (default 3), PyTorch first in odd rounds and histoboard
# first in even ones, so a drift in the machine's speed does not favour either side. The table
# gives every round's figures and ratio, and the smallest ratio: a target "in every round" is
# met when that one is. Environment: ROUNDS, THREADS (default 2), STEPS (default 5), MODELS,
# MODES (default "train infer"), LOADER=0 to skip the loader figures.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out}
mkdir -p "$out"
hb=target/release/histoboard
ref=${TORCH_REFERENCE:-../shared/bench/torch_reference.py}
[ -x "$hb" ] || cargo build --release
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
steps=${STEPS:-5}
models=${MODELS:-seed-cnn-3 seed-cnn-5 efficientnet-lite0}
modes=${MODES:-train infer}
export RAYON_NUM_THREADS=$threads
python3 -c 'import torch' 2>/dev/null || {
    echo "bench: python3 cannot import torch (pip install torch numpy pillow)" >&2
    exit 2
}

# Runs one measurement; prints its RESULT json (or fails with the log's path).
measure() { # log, command...
    local log=$1; shift
    if "$@" >"$log" 2>&1; then
        grep '^RESULT ' "$log" | tail -1 | sed 's/^RESULT //'
    else
        echo "bench: $* failed (see $log)" >&2
        return 1
    fi
}
field() { # json, key (numbers rounded to 0.1)
    python3 -c 'import json,sys; v = json.loads(sys.argv[1]).get(sys.argv[2], ""); print(round(v, 1) if isinstance(v, float) else v)' "$1" "$2"
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || uname -m)
echo "machine: $cpu, $(nproc) CPUs online, $threads threads; $(date -u +%FT%TZ)" | tee "$out/results.txt"
echo "torch: $(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null); histoboard: $(git rev-parse --short HEAD 2>/dev/null || echo '?')" | tee -a "$out/results.txt"

if [ "${LOADER:-1}" = 1 ]; then
    t=$(measure "$out/loader-torch.log" python3 "$ref" loader --zip data/pcam-sample.zip --workers "$threads")
    h=$(measure "$out/loader-histoboard.log" "$hb" data bench)
    echo "loader tiles/s: PyTorch reference (Pillow+NumPy, $threads processes) $(field "$t" tiles_per_s), histoboard from the zip $(field "$h" zip_tiles_per_s), from its cache $(field "$h" cache_tiles_per_s), cache with heavy augmentation $(field "$h" cache_heavy_tiles_per_s)" | tee -a "$out/results.txt"
fi

{
    echo
    printf '| model | mode, batch |'
    for r in $(seq 1 "$rounds"); do printf ' round %s PyTorch / histoboard img/s (ratio) |' "$r"; done
    printf ' min ratio | peak RSS PyTorch / histoboard MiB | GEMM |\n|---|---|'
    for _ in $(seq 1 "$rounds"); do printf -- '---|'; done
    printf -- '---|---|---|\n'
} | tee -a "$out/results.txt"

for mode in $modes; do
    batch=64; [ "$mode" = infer ] && batch=256
    for model in $models; do
        row="| $model | $mode, $batch |"
        min=""
        for r in $(seq 1 "$rounds"); do
            tcmd=(python3 "$ref" "$mode" --model "$model" --batch "$batch" --threads "$threads" --channels-last --steps "$steps" --warmup 1)
            hcmd=("$hb" bench "$mode" --model "$model" --batch "$batch" --steps "$steps" --warmup 1)
            tl="$out/$mode-$model-r$r-torch.log"; hl="$out/$mode-$model-r$r-histoboard.log"
            if [ $((r % 2)) = 1 ]; then
                t=$(measure "$tl" "${tcmd[@]}"); h=$(measure "$hl" "${hcmd[@]}")
            else
                h=$(measure "$hl" "${hcmd[@]}"); t=$(measure "$tl" "${tcmd[@]}")
            fi
            ti=$(field "$t" img_per_s); hi=$(field "$h" img_per_s)
            ratio=$(python3 -c "print(f'{$hi / $ti:.2f}')")
            min=$(python3 -c "print(min(float(x) for x in '$min $ratio'.split()))")
            row="$row $(printf '%.1f / %.1f (%s)' "$ti" "$hi" "$ratio") |"
            rss="$(printf '%.0f / %.0f' "$(field "$t" peak_rss_mib)" "$(field "$h" peak_rss_mib)")"
            gemm=$(field "$h" gemm)
        done
        echo "$row $min | $rss | $gemm |" | tee -a "$out/results.txt"
    done
done
