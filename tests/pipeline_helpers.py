"""The TINY config every whole-pipeline test runs, and the one uninterrupted run of it the tests share.

``TINY`` runs every stage for real (hls4ml conversion, g++ C simulation, Verilator RTL simulation, a
5,000-event rate sample) at small sizes. ``build_tiny_run`` makes the run of it that test_pipeline,
test_gate_starved, test_scan_resume, test_sharded_csim, test_interrupt (its uninterrupted reference)
and test_reproducible read; ``conftest.tiny_run`` builds it once per test session, shared by the
pytest-xdist workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The tiny models are not sized for L1 (test_budget.py covers the real limits): the gate still evaluates
# every figure, against limits no model of this size exceeds.
LOOSE_LIMITS = {"latency_ns": 1.0e6, "ii_ns": 1.0e6, "lut": 1.0, "dsp": 1.0, "ff": 1.0, "bram": 1.0}
LOOSE_BUDGET = {"dense": LOOSE_LIMITS, "cnn": LOOSE_LIMITS}

TINY = {
    "run": {"name": "tiny", "studies": []},
    "data": {
        "dijet": {"n_background": 60000, "n_signal": 3000, "n_test_signal": 2000},
        "l1": {"n_background": 30000, "n_signal": 3000},
        "jet_images": {"n_qcd": 300, "n_wz": 300, "n_top": 200, "image_size": 8},
        "rate_sample": 5000,  # one chunk: generated here, not on Dask
    },
    # the default strategy (distributed arithmetic) on small graphs: da4ml and g++ stay quick
    "train": {"ocdn": {"epochs": 2, "hidden": [16, 16]}, "ae": {"epochs": 3, "latent": 4}},
    "quantize": {"ocdn": {"epochs": 1}, "ae": {"epochs": 1}},
    # RTL simulated (firmware.rtl.enabled), not synthesized: Yosys is tested on a tiny layer (test_rtl.py)
    "firmware": {"n_testbench_events": 50, "budget": LOOSE_BUDGET, "rtl": {"synthesize": False}},
    "metrics": {"trigger_fpr_l1": 1.0e-3, "trigger_fpr_dijet": 1.0e-2},
    # 180 background and 200 top test jets resolve an AUC to about +-0.03: a 0.01 drop is noise there
    # (the untrained tiny NuRD moves by 0.01-0.02 under 8-bit weights); csim agreement stays strict.
    "check": {"auc_drop_tolerance": 0.05},
}

# api.run in a fresh interpreter: nothing an earlier test did in this process (thread caps, TensorFlow
# state) reaches its figures, which test_interrupt compares with the `l1ad run` processes it kills.
_RUN = """
import json, sys
from l1ad import api
print(json.dumps(api.run(sys.argv[1], sys.argv[2])))
"""


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides))
    return path


def cli(*args: object) -> subprocess.CompletedProcess:
    """``l1ad ARGS`` in a subprocess, as a user runs it (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "l1ad.cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )


def build_tiny_run(folder: Path) -> tuple[Path, Path, list[str]]:
    """Run every stage of TINY into ``folder``/run; return (config, run directory, gate failures).

    The gate failures are what ``api.run`` returned. A finished run in ``folder`` (``failures.json``
    written last) is returned as it is."""
    config, run_dir, result = folder / "tiny.yaml", folder / "run", folder / "failures.json"
    if not result.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_config(config, TINY)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run(
            [sys.executable, "-c", _RUN, str(config), str(run_dir)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"the tiny run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        result.write_text(proc.stdout.strip().splitlines()[-1])
    return config, run_dir, json.loads(result.read_text())
