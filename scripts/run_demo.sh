#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the whole path on a generated sample archive (about 3.5 CPU-minutes):
# generate -> export -> load_dataset -> train RViT -> evaluate against constant predictions -> save -> reload -> predict.
# Extra arguments go to scripts/demo.py (see --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "$ROOT/.venv/bin/python" scripts/demo.py --output_dir "${AHU_DEMO_OUT:-outputs/demo}" "$@"
