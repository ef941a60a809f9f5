"""Config loading: documented defaults, unknown keys, type errors, and the environment pin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from l1ad.config import DEPLOYED_MODELS as MODELS
from l1ad.config import Config, QuantBits, load_config
from l1ad.envcheck import EnvironmentDriftError, check_versions
from l1ad.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_documents_the_builtin_defaults():
    assert load_config(ROOT / "configs" / "default.yaml") == Config()


def test_paper_yaml_loads_and_differs_in_sizes():
    paper = load_config(ROOT / "configs" / "paper.yaml")
    assert paper.data.l1.n_background > Config().data.l1.n_background
    assert paper.run.n_seeds == 10


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  ocdn:\n    epocs: 3\n")
    with pytest.raises(InputError, match=r"c.yaml: unknown config key 'train.ocdn.epocs'"):
        load_config(path)


# Impossible settings of every section (issue 19): each section's own checks run at load and the
# error names the file and the key.
IMPOSSIBLE = [
    ("run:\n  n_seeds: 0\n", r"run.n_seeds must lie in \[1, inf\), got 0"),
    ("run:\n  seed: -1\n", r"run.seed must lie in \[0, 2\^32"),
    ("run:\n  studies: [gaussian, bogus]\n", "run.studies: unknown study 'bogus'"),
    ("data:\n  dijet: {n_background: 0}\n", r"data.dijet.n_background must lie in \[1, inf\)"),
    (
        "data:\n  l1: {test_background_fraction: 1.0}\n",
        r"data.l1.test_background_fraction must lie in \(0, 1\)",
    ),
    ("data:\n  dijet: {signal_region: [3.7, 3.3]}\n", "data.dijet.signal_region must be an mjj window"),
    ("data:\n  dijet: {sidebands: [[4.6, 3.7]]}\n", "data.dijet.sidebands must be an mjj window"),
    ("data:\n  jet_images: {image_size: 2}\n", "data.jet_images.image_size must be >= 4"),
    ("data:\n  jet_images: {test_fraction: 1.0}\n", r"data.jet_images.test_fraction must lie in \(0, 1\)"),
    ("train:\n  device: tpu\n", "train.device must be auto, cpu or gpu"),
    ("train:\n  threads: -1\n", "train.threads must be >= 0"),
    ("train:\n  ae: {score: mean}\n", "train.ae: score must be 'latent' or 'residual'"),
    ("train:\n  nurd: {combine: max}\n", "train.nurd: combine must be one of"),
    ("train:\n  ocdn: {learning_rate: 0.0}\n", r"train.ocdn.learning_rate must lie in \(0, inf\)"),
    ("train:\n  ocdn: {hidden: [16, 0]}\n", "train.ocdn.hidden entries must be >= 1"),
    (
        "quantize:\n  nurd:\n    bits: {input_bits: 8, input_integer: 8}\n",
        "quantize.nurd.bits.input_bits/input_integer = 8/8",
    ),
    (
        "quantize:\n  scan: {bits: [4, 8]}\n",
        "config key 'quantize.scan' was removed: the bit-width scan is `l1ad scan`",
    ),
    ("firmware:\n  strategy: Fastest\n", "firmware.strategy must be one of distributed_arithmetic, Latency"),
    (
        "firmware:\n  reuse_factor: 4\n",
        "firmware.strategy distributed_arithmetic needs reuse_factor 1, got 4",
    ),
    ("firmware:\n  part: xc7k325t-ffg900-2\n", "firmware.part: unknown device 'xc7k325t'"),
    ("firmware:\n  io_type: io_serial\n", "firmware.io_type must be io_parallel or io_stream"),
    ("firmware:\n  clock_period_ns: 0.0\n", "firmware.clock_period_ns must lie in"),
    ("firmware:\n  rtl: {yosys_timeout_s: 0.0}\n", "firmware.rtl.yosys_timeout_s must be > 0"),
    ("firmware:\n  budget: {dense: {lut: 1.5}}\n", r"firmware.budget.dense.lut must lie in \(0, 1\]"),
    ("scan:\n  strategies: [Latency, Fastest]\n", "scan.strategies: strategy must be one of"),
    ("scan:\n  models: [ocdn, higgs]\n", "scan.*model must be one of ocdn, ae, nurd, got 'higgs'"),
    ("scan:\n  quantizers: [qkeras, brevitas]\n", "scan.*quantizer must be qkeras or hgq"),
    ("scan:\n  points: [{model: ae, strategy: Fastest}]\n", r"scan.points\[0\].*strategy must be one of"),
    (
        "scan:\n  points: [{model: ae, bits: 1}]\n",
        r"scan.points\[0\].*bits must be 0 \(the model's own formats\) or 2-64",
    ),
    (
        "scan:\n  points: [{model: ae, input_width: 10, input_integer: 10}]\n",
        r"scan.points\[0\].*input_width must be 0 \(the model's own format\) or 2-64",
    ),
    ("scan:\n  strategies: [distributed_arithmetic]\n  reuse_factors: [4]\n", "scan: the grid is empty"),
    ("cluster:\n  workers: -1\n", "cluster.workers must be >= 0"),
    ("check:\n  csim_within_1lsb_min: 1.5\n", r"check.csim_within_1lsb_min must lie in \[0, 1\]"),
    ("metrics:\n  trigger_fpr_l1: 0.0\n", r"metrics.trigger_fpr_l1 must lie in \(0, 1\]"),
    ("studies:\n  gaussian: {epochs: []}\n", "studies.gaussian.epochs must be a non-empty list"),
    ("studies:\n  oneclass: {ocsvm_nu_inner: 0.0}\n", "studies.oneclass.ocsvm_nu_inner and ocsvm_nu_outer"),
    ("studies:\n  nae: {latent_steps: -1}\n", r"studies.nae.latent_steps must lie in \[0, inf\)"),
]


@pytest.mark.parametrize(
    "text, message",
    [
        ("run:\n  seed: one\n", "'run.seed' must be an integer"),
        ("train: [1, 2]\n", "'train' must be a mapping"),
        ("firmware:\n  backend: Quartus\n", "firmware.backend must be Vitis or Vivado"),
        ("run: {seed: 1\n", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("run:\n  seed: 1\n  seed: 2\n", r"key 'seed' given twice \(line 3\)"),
        (
            "quantize:\n  ocdn:\n    bits: {weight_bits: 40, weight_integer: 30}\n",
            "quantize.ocdn.bits.weight_bits",
        ),
        (
            "quantize:\n  ae:\n    bits: {activation_bits: 4, activation_integer: 6}\n",
            "quantize.ae.bits.activation",
        ),
        ("run:\n  models: [ocdn, higgs]\n", "run.models must name"),
        *IMPOSSIBLE,
    ],
)
def test_bad_configs_give_one_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        load_config(path)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)
    assert str(err.value).startswith(f"{path}: ")


def test_every_section_checks_itself_where_it_sits():
    """The defaults have no problem; a section names the key it sits at (``QuantBits`` serves three models)."""
    assert Config().validate() == []
    bits = QuantBits(weight_bits=40, weight_integer=30)
    assert bits.validate("quantize.ae.bits")[0].startswith(
        "quantize.ae.bits.weight_bits/weight_integer = 40/30"
    )


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_fingerprint_follows_only_named_entries():
    a, b = Config(), Config()
    b.train.ocdn.epochs = 99
    assert a.fingerprint("data", "run.seed") == b.fingerprint("data", "run.seed")
    assert a.fingerprint("train") != b.fingerprint("train")


@pytest.mark.parametrize(
    "versions, word",
    [
        ({"tensorflow": "2.16.1", "keras": "3.3.3", "numpy": "1.26.4"}, "Keras 3"),
        ({"tensorflow": "2.17.0", "keras": None, "numpy": "1.26.4"}, "tensorflow 2.17.0"),
        ({"tensorflow": "2.14.1", "keras": "2.14.0", "numpy": "2.0.1"}, "numpy 2.0.1"),
    ],
)
def test_environment_drift_is_explained(versions, word):
    with pytest.raises(EnvironmentDriftError, match=word):
        check_versions(versions)


def test_pinned_stack_passes():
    check_versions({"tensorflow": "2.14.1", "keras": "2.14.0", "numpy": "1.26.4"})


def test_cli_reports_bad_config_in_one_line_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  dijet:\n    n_signall: 5\n")
    out = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "data", "--config", str(path), "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unknown config key 'data.dijet.n_signall'" in out.stderr
    assert not (tmp_path / "run").exists()


def test_cli_help_teaches():
    out = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0
    for word in ("data", "train", "quantize", "firmware", "report", "check", "run", "--force"):
        assert word in out.stdout


def test_a_partial_section_keeps_the_rest_of_its_defaults(tmp_path) -> None:
    """Keys left out of a section keep their documented values, also those a factory sets per model
    (the deployed formats and QAT rates differ between ocdn, ae and nurd)."""
    path = tmp_path / "partial.yaml"
    path.write_text("quantize:\n  ocdn: {epochs: 1}\n  nurd: {epochs: 2}\n  ae: {bits: {weight_bits: 4}}\n")
    q, default = load_config(path).quantize, Config().quantize
    assert q.ocdn.epochs == 1 and q.ocdn.bits == default.ocdn.bits
    assert q.ocdn.learning_rate == default.ocdn.learning_rate
    assert q.nurd.epochs == 2 and q.nurd.bits == default.nurd.bits
    assert q.ae.bits.weight_bits == 4 and q.ae.bits.input_bits == default.ae.bits.input_bits


def test_study_table_and_study_families_name_the_same_studies():
    """run.studies is checked against config.STUDY_FAMILIES (no import of the stage table from config)."""
    from l1ad.config import STUDY_FAMILIES
    from l1ad.pipeline import STUDIES

    assert sorted(name.split("/", 1)[1] for name in STUDIES) == sorted(STUDY_FAMILIES)


def test_model_fingerprints_follow_each_models_own_entries() -> None:
    """A change to quantize.ae moves the AE's quantize and firmware fingerprints only; a shared entry
    (metrics) moves every model's; the firmware section moves every model's firmware only."""
    import dataclasses

    from l1ad.pipeline import model_fingerprint

    base = load_config(None)

    def fingerprints(config):
        return {
            (s, m): model_fingerprint(config, s, m) for s in ("train", "quantize", "firmware") for m in MODELS
        }

    before = fingerprints(base)
    ae = dataclasses.replace(base.quantize.ae, learning_rate=3.0e-4)
    changed = fingerprints(dataclasses.replace(base, quantize=dataclasses.replace(base.quantize, ae=ae)))
    assert {k for k in before if before[k] != changed[k]} == {("quantize", "ae"), ("firmware", "ae")}
    metrics = dataclasses.replace(base.metrics, min_background_for_sic=11)
    shared = fingerprints(dataclasses.replace(base, metrics=metrics))
    assert set(before) == {k for k in before if before[k] != shared[k]}
    clock = fingerprints(
        dataclasses.replace(base, firmware=dataclasses.replace(base.firmware, clock_period_ns=4.0))
    )
    assert {k for k in before if before[k] != clock[k]} == {("firmware", m) for m in MODELS}
