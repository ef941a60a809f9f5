"""The gate fails on a deliberately starved model and names it, in one line on the command line.

A copy of the session's tiny run (``tiny_run``, conftest.py) requantized with starved formats: its own
file, so that pytest-xdist can run it on one worker while the other runs test_pipeline.py.
"""

from __future__ import annotations

import shutil

import pytest

from l1ad import api
from l1ad.config import load_config
from l1ad.errors import GateError
from tests.pipeline_helpers import TINY, cli, write_config


def test_gate_fails_on_a_starved_model_and_names_it(tiny_run, tmp_path):
    _, tiny_dir, _ = tiny_run
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_dir, run_dir)  # the other tests keep the passing run
    starved = dict(TINY)
    starved.pop("check")  # the default tolerance: the starved AE must fail the gate as CI would run it
    # 2-bit weights and activations and 4-bit inputs, no retraining. The input format
    # matters most: with its reconstruction gone the AE score degenerates to |x|^2, still
    # a fair discriminator, until the inputs themselves are clipped to [-2, 2).
    # (The OCDN is no good probe: its float score anti-tags this signal, so starving it
    # moves its AUC toward 0.5, i.e. up.)
    starved_bits = {
        "input_bits": 4,
        "input_integer": 1,
        "weight_bits": 2,
        "bias_bits": 2,
        "bias_integer": 1,
        "activation_bits": 2,
        "activation_integer": 1,
    }
    starved["quantize"] = {
        "ocdn": {"epochs": 0},
        "ae": {"epochs": 0, "bits": starved_bits},
    }
    # every model's firmware is rebuilt from the new quantize stage: without the RTL simulation (its
    # Verilator builds are half the firmware stage here), which the AUC figures of the gate do not read
    starved["firmware"] = {**TINY["firmware"], "rtl": {"enabled": False}}
    starved_config = write_config(tmp_path / "starved.yaml", starved)
    with pytest.raises(GateError, match=r"ae/Ato4l: AUC_qkeras [0-9.]+ < AUC_float"):
        api.run(starved_config, run_dir)
    # the CLI says the same in one line and exits 1
    out = cli("check", "--config", starved_config, "--run-dir", run_dir)
    assert out.returncode == 1
    assert "ae/Ato4l: AUC_qkeras" in out.stderr and out.stderr.count("\n") == 1
    assert load_config(starved_config).quantize.ae.bits.weight_bits == 2
