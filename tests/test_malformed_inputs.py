"""Property-based bad-input tests for every place a user file or config enters l1ad.

hypothesis makes the random choices of each mutation in ``tests/malformed/`` (which element gets
NaN, where a file is cut, which key is dropped, which absurd value goes where, ...); the same generators
feed ``python -m tests.malformed``, which records the counts in ``benchmarks/malformed.json``. Each
malformed input goes through the command line in-process (``l1ad.cli.main``) and must give: exit code 2,
one stderr line naming the file and describing the problem, no traceback, and no new or changed file in
the run directory (which is absent, or holds an earlier finished data stage that must survive).
The valid baselines pass (``test_valid_baselines_*``), so every refusal is the mutation's doing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import malformed as m

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

DATA_LOADERS = ("dijet_frame", "dijet_prepared", "l1", "jet_images", "config")  # no TensorFlow needed
TF_LOADERS = ("splits", "byo_model", "byo_data", "byo_hls_config", "byo_options")
# Examples per (loader, mutation): more where one mutation hides many kinds (the YAML and hls4ml cases).
EXAMPLES = {"config": 12, "byo_hls_config": 24, "byo_model": 8}
DEFAULT_EXAMPLES = 5


class DrawChooser:
    """A ``tests.malformed.Chooser`` whose choices are hypothesis draws (so failures shrink)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(list(options)))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> m.Baselines:
    return m.build_baselines(tmp_path_factory.mktemp("malformed"), byo=False)


@pytest.fixture(scope="module")
def base_tf(base: m.Baselines) -> m.Baselines:
    if base.byo_model is None:
        m.add_byo_baselines(base)
    return base


def _property(base: m.Baselines, loader: str, mutation: str) -> None:
    @settings(
        max_examples=EXAMPLES.get(loader, DEFAULT_EXAMPLES),
        deadline=None,
        database=None,
        # the same examples on every run: CI gates on a fixed set; `python -m tests.malformed --seed N`
        # explores new ones
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def refused_as_specified(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory(dir=base.root) as work:
            case = m.make_case(loader, mutation, DrawChooser(data), base, Path(work))
            outcome = m.run_case(case)
            assert outcome.handled, (
                f"{loader}/{mutation}: {outcome.why}\nargv: {' '.join(case.argv)}\nstderr: {outcome.stderr}"
            )

    refused_as_specified()


@pytest.mark.parametrize(
    "loader, mutation",
    [(loader, mutation) for loader in DATA_LOADERS for mutation in sorted(m.LOADERS[loader])],
)
def test_malformed_data_files_and_configs(base: m.Baselines, loader: str, mutation: str) -> None:
    _property(base, loader, mutation)


@pytest.mark.parametrize(
    "loader, mutation",
    [(loader, mutation) for loader in TF_LOADERS for mutation in sorted(m.LOADERS[loader])],
)
def test_malformed_splits_and_bring_your_own(base_tf: m.Baselines, loader: str, mutation: str) -> None:
    _property(base_tf, loader, mutation)


@pytest.mark.parametrize("source", ["dijet_frame", "dijet_npy", "dijet_h5"])
def test_valid_baselines_pass_the_data_stage(base: m.Baselines, tmp_path: Path, source: str) -> None:
    """The unmutated files are accepted, so each refusal above comes from its mutation."""
    import h5py
    import numpy as np

    path = getattr(base, source, None)
    if source == "dijet_h5":
        path = tmp_path / "prepared.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=np.load(base.dijet_npy))
    config = {**base.config, "data": {**base.config["data"], "dijet": {"source": str(path)}}}
    argv = ["data", "--config", str(m.dump_config(tmp_path, config)), "--run-dir", str(tmp_path / "run")]
    code, stderr = m.call_cli(argv)
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "run" / "data").glob("*_splits.h5")) == [
        "dijet_splits.h5",
        "jet_images_splits.h5",
        "l1_splits.h5",
    ]


def test_valid_baselines_pass_the_bring_your_own_loaders(base_tf: m.Baselines) -> None:
    from firmware import byo
    from firmware.hls import base_config
    from l1ad.config import FirmwareConfig
    from training.data.splits import read_splits

    model = byo.load_user_model(base_tf.byo_model)
    same = byo.load_user_model(base_tf.byo_json, weights=base_tf.byo_weights)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in same.get_weights()]
    assert byo.read_inputs(base_tf.byo_npy, (6,)).shape == (200, 6)
    assert byo.read_inputs(base_tf.byo_h5, (6,), key="inputs").shape == (200, 6)
    hls = base_tf.root / "valid_hls.yml"
    hls.write_text(
        "Model:\n  ReuseFactor: 2\nLayerName:\n  hidden:\n    Precision:\n      result: ap_fixed<18,8>\n"
    )
    overrides = byo._read_yaml(hls)
    byo._check_layer_names(overrides, list(base_config(model, FirmwareConfig())["LayerName"]), hls)
    splits = read_splits(base_tf.run_template / "data" / "dijet_splits.h5")
    assert splits.classes == ["background", "signal"] and len(splits.test.X) > 0


def _user_sees(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # l1ad's own default
    return subprocess.run(
        [sys.executable, "-m", "l1ad.cli", *argv], capture_output=True, text=True, cwd=ROOT, env=env
    )


@pytest.mark.parametrize("loader, mutation, seed", [("l1", "nan_inf", 0), ("byo_model", "bad_weights", 1)])
def test_the_real_command_prints_one_line(
    base_tf: m.Baselines, loader: str, mutation: str, seed: int
) -> None:
    """A subprocess, as the user runs it: nothing but the one error line on stderr (TensorFlow's import
    chatter included, for the bring-your-own path)."""
    with tempfile.TemporaryDirectory(dir=base_tf.root) as work:
        case = m.make_case(loader, mutation, m.RandomChooser(seed), base_tf, Path(work))
        before = m.snapshot(case.run_dir)
        out = _user_sees(case.argv)
        assert out.returncode == 2, out.stderr
        lines: list[Any] = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"l1ad {case.argv[0]}: error: {case.bad_path}: "), (
            lines
        )
        assert m.snapshot(case.run_dir) == before


@pytest.mark.parametrize("lo, hi", [("nan", "1"), ("1", "-1"), ("0", "inf"), ("0", "1e30")])
def test_bad_input_range_is_one_line(
    base_tf: m.Baselines, tmp_path: Path, capsys: pytest.CaptureFixture, lo: str, hi: str
) -> None:
    """--input-range is the one user input that is not a file: one line naming the option, exit 2."""
    from l1ad.cli import main

    run_dir = tmp_path / "run"
    argv = ["firmware", "--model", str(base_tf.byo_model), "--input-range", lo, hi]
    assert main([*argv, "--config", str(base_tf.config_path), "--run-dir", str(run_dir)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"l1ad firmware: error: --input-range must be two finite numbers LO < HI within +-2^31, got "
        f"{float(lo):g} {float(hi):g}"
    ]
    assert not m.snapshot(run_dir)
