#!/usr/bin/env bash
# Set up .venv if needed, then run the test suite (real hls4ml compiles included) on two pytest-xdist
# workers, a test file per worker at a time (--dist loadfile: a file's module fixtures are built once),
# handed out in collection order (--no-loadscope-reorder; tests/conftest.py puts the slowest files first,
# and builds the tiny pipeline run once for both workers). Extra arguments go to pytest (e.g. -k
# firmware, or -n 0 for one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest -n "${L1AD_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
