#!/usr/bin/env bash
# Side-by-side speed figures: histoboard and the PyTorch reference, same machine, same run.
# Usage: scripts/bench.sh [out-dir]   (needs a release build and python3 with torch, numpy, pillow)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out}
mkdir -p "$out"
hb=target/release/histoboard
ref=${TORCH_REFERENCE:-../shared/bench/torch_reference.py}
[ -x "$hb" ] || cargo build --release
threads=${THREADS:-2}
export RAYON_NUM_THREADS=$threads

run() { # name, command...
    local name=$1; shift
    echo "== $name: $*" >&2
    if "$@" >"$out/$name.log" 2>&1; then
        grep '^RESULT ' "$out/$name.log" | tail -1 | sed "s/^RESULT /$name /"
    else
        echo "$name FAILED (see $out/$name.log)"; return 1
    fi
}

{
run loader-torch python3 "$ref" loader --zip data/pcam-sample.zip --workers "$threads"
run loader-histoboard "$hb" data bench
for model in seed-cnn-3 seed-cnn-5 efficientnet-lite0; do
    run "train-$model-torch" python3 "$ref" train --model "$model" --batch 64 --threads "$threads" --channels-last --steps 5 --warmup 1
    run "train-$model-histoboard" "$hb" bench train --model "$model" --batch 64 --steps 5 --warmup 1
    run "infer-$model-torch" python3 "$ref" infer --model "$model" --batch 256 --threads "$threads" --channels-last --steps 5 --warmup 1
    run "infer-$model-histoboard" "$hb" bench infer --model "$model" --batch 256 --steps 5 --warmup 1
done
} | tee "$out/results.txt"
