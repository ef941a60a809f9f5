#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite (real hls4ml compiles included).
# Extra arguments go to pytest (e.g. -k firmware).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
