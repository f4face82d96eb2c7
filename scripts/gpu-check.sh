#!/usr/bin/env bash
# The whole GPU check in one go, on a machine with an NVIDIA GPU, CUDA and PyTorch:
#   1. CUDA and the CPU agree on a forward and backward pass (seed-cnn-3, EfficientNet-Lite0)
#      from the same weights on real tiles;
#   2. quick.toml trains on the GPU and reports its validation AUC;
#   3. training and inference images/s at batch 256, histoboard beside
#      torch_reference.py --device cuda --channels-last, same machine, same call;
#   4. loader tiles/s (histoboard and Pillow/NumPy) on this machine's cores.
# Every step's exit status is checked and reported; the script fails if any step failed.
#
# Usage: scripts/gpu-check.sh OUT_DIR
# Environment:
#   HB               the histoboard binary (default target/release/histoboard; built on a CPU
#                    machine is fine: it loads CUDA at run time)
#   TORCH_REFERENCE  torch_reference.py (default ../shared/bench/torch_reference.py)
#   HISTOBOARD_DATA  the tile zip to use as the bundled sample (default data/pcam-sample.zip)
#   STEPS            which steps, default "agree quick bench loader"
#   BUDGET_S         a step starts only if it can end (at its time limit) within this many
#                    seconds of the start; the others are reported as skipped (default 900)
#   HISTOBOARD_CACHE compiled kernels and tuning results (default: a fresh temporary folder).
#                    The first use of each model on a GPU compiles and tunes its kernels
#                    (about 0.5 s a kernel on an H200, minutes a model), so a cold check takes
#                    far longer than a warm one.
#   CACHE_IN         a cubecl-cache.tar.gz from an earlier check on the same kind of GPU,
#                    unpacked into HISTOBOARD_CACHE first
# Writes OUT_DIR/summary.md (the table, line by line as steps end), OUT_DIR/steps.log (every
# step's output, appended as each ends, so a check cut short still leaves its evidence) and
# OUT_DIR/quick-events.jsonl (the GPU run's event stream) and OUT_DIR/cubecl-cache.tar.gz
# (the kernel cache, for CACHE_IN next time).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$out"
hb=${HB:-target/release/histoboard}
ref=${TORCH_REFERENCE:-../shared/bench/torch_reference.py}
steps=${STEPS:-agree quick bench loader}
budget=${BUDGET_S:-900}
logs=$(mktemp -d)
runs=$(mktemp -d)
start=$SECONDS
failed=0
summary="$out/summary.md"

# NVRTC needs the CUDA headers; point cubecl at the toolkit nvcc belongs to.
if [ -z "${CUDA_PATH:-}" ] && command -v nvcc >/dev/null; then
    CUDA_PATH=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    export CUDA_PATH
fi
export HISTOBOARD_CACHE=${HISTOBOARD_CACHE:-$logs/cache}
mkdir -p "$HISTOBOARD_CACHE"
if [ -n "${CACHE_IN:-}" ]; then
    tar xzf "$CACHE_IN" -C "$HISTOBOARD_CACHE" || echo "cannot unpack $CACHE_IN; starting cold" >&2
fi
data=${HISTOBOARD_DATA:-data/pcam-sample.zip}
export HISTOBOARD_DATA=$data

note() { echo "$*" | tee -a "$summary"; }

# step NAME TIMEOUT_S COMMAND...: runs with a time limit, logs, records the outcome.
step() {
    local name=$1 limit=$2; shift 2
    local log="$logs/$name.log"
    if (( SECONDS - start + limit > budget )); then
        note "| $name | SKIPPED (${limit}s would pass the ${budget}s budget) | |"
        failed=1
        return 1
    fi
    local t0=$SECONDS rc=0
    echo "== $name: $*" >&2
    timeout "$limit" "$@" >"$log" 2>&1 || rc=$?
    local dt=$(( SECONDS - t0 ))
    { echo "===== $name (exit $rc, ${dt}s): $*"; cat "$log"; } >>"$out/steps.log"
    if [ "$rc" = 0 ]; then
        note "| $name | ok (${dt}s) | $(grep '^RESULT ' "$log" | tail -1 | cut -c8-) |"
    else
        [ "$rc" = 124 ] && rc="timeout ${limit}s"
        note "| $name | FAILED: $rc (${dt}s) | $(tail -3 "$log" | tr '\n|' ' /' | cut -c1-300) |"
        failed=1
    fi
    [ "$rc" = 0 ]
}

: >"$summary"
: >"$out/steps.log"
note "# GPU check, $(date -u +%FT%TZ)"
note ""
note "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
note "- CPU: $(nproc) cores; binary: $hb; data: $data; CUDA_PATH=${CUDA_PATH:-unset}"
note "- torch: $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1 | tail -1)"
note ""
note "| step | outcome | result |"
note "| --- | --- | --- |"

if [[ " $steps " == *" agree "* ]]; then
    for m in seed-cnn-3 efficientnet-lite0; do
        step "agree-$m" 420 "$hb" bench agree --model "$m" --device cuda --batch 32
    done
fi

if [[ " $steps " == *" quick "* ]]; then
    if step quick-train 420 "$hb" train experiments/quick.toml --device cuda --plain \
        --runs-dir "$runs"; then
        ev=$(ls "$runs"/*/events.jsonl | head -1)
        cp "$ev" "$out/quick-events.jsonl"
        note "| quick-auc | | $(grep -E 'val_auc|finished' "$logs/quick-train.log" | tail -3 | tr '\n|' ' /') |"
    fi
fi

if [[ " $steps " == *" bench "* ]]; then
    for m in seed-cnn-3 efficientnet-lite0 seed-cnn-5; do
        for mode in train infer; do
            step "$mode-$m-histoboard" 300 "$hb" bench "$mode" --model "$m" --batch 256 \
                --device cuda --steps 10 --warmup 5
            step "$mode-$m-torch" 120 python3 "$ref" "$mode" --model "$m" --batch 256 \
                --device cuda --channels-last --steps 10 --warmup 5
        done
    done
fi

if [[ " $steps " == *" loader "* ]]; then
    step loader-histoboard 90 env RAYON_NUM_THREADS="$(nproc)" "$hb" data bench
    step loader-torch 90 python3 "$ref" loader --zip "$data" --workers "$(nproc)"
fi

# The side-by-side table from the RESULT lines.
python3 - "$logs" >>"$summary" <<'EOF' || failed=1
import json, os, sys
logs = sys.argv[1]
res = {}
for f in os.listdir(logs):
    for line in open(os.path.join(logs, f), errors="replace"):
        if line.startswith("RESULT "):
            res[f[:-4]] = json.loads(line[7:])
print("\n| model | mode | histoboard img/s | PyTorch img/s | ratio |\n| --- | --- | --- | --- | --- |")
for m in ["seed-cnn-3", "seed-cnn-5", "efficientnet-lite0"]:
    for mode in ["train", "infer"]:
        h, t = res.get(f"{mode}-{m}-histoboard"), res.get(f"{mode}-{m}-torch")
        hv = h and h.get("img_per_s")
        tv = t and t.get("img_per_s")
        ratio = f"{hv / tv:.2f}" if hv and tv else "-"
        fmt = lambda v: f"{v:.0f}" if v else "-"
        print(f"| {m} | {mode} | {fmt(hv)} | {fmt(tv)} | {ratio} |")
EOF
tar czf "$out/cubecl-cache.tar.gz" -C "$HISTOBOARD_CACHE" . || true
note ""
note "total ${SECONDS}s; $( ((failed)) && echo 'SOME STEPS FAILED' || echo 'all steps ok')"
exit "$failed"
