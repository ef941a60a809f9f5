#!/usr/bin/env bash
# Set up .venv if needed, then run the main job: all stages on the embedded default config.
# Extra arguments go to `l1ad run` (e.g. --run-dir runs/mine --force).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/l1ad run --config configs/default.yaml "$@"
