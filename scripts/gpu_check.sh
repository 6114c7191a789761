#!/usr/bin/env bash
# RViT's GPU checks as one short run, for a session lent a machine with a CUDA GPU. Installs nothing: it uses
# that machine's python3 (its torch, transformers, tqdm); the RViT code needs neither datasets nor a video
# decoder. Results go to $OUT (default outputs/gpu_check): JSON, and the tables as Markdown to paste into
# BENCHMARKS.md ("## RViT on a GPU").
#   bash scripts/gpu_check.sh            # GPU vs CPU equivalence, then the unfused / chunks / profile /
#                                        # scaling / stateful parts (minutes)
#   bash scripts/gpu_check.sh compile    # the torch.compile rows (CUDA graphs; minutes of compiling)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/outputs/gpu_check}"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt" || true
case "${1:-bench}" in
    bench)
        "$PY" -m benchmarks.rvit_device_check --device cuda --json "$OUT/device_check.json"
        "$PY" -m benchmarks.bench_rvit --device cuda --parts unfused chunks profile scaling stateful --repeats 5 \
            --json "$OUT/bench_gpu.json" --markdown-file "$OUT/BENCHMARKS_gpu.md" --write-md
        ;;
    compile)
        # Its own files: a device call starts with an empty $OUT.
        "$PY" -m benchmarks.bench_rvit --device cuda --parts compile --precisions bf16 --compile-mode reduce-overhead \
            --json "$OUT/bench_gpu_compile.json" --markdown-file "$OUT/BENCHMARKS_gpu_compile.md" --write-md
        ;;
    *)
        echo "usage: bash scripts/gpu_check.sh [bench|compile]" >&2
        exit 2
        ;;
esac
