"""Tests of bring-your-own models: a third-party QKeras model round trip (.h5 and JSON + weights), a plain
Keras model through the explicit-precision config, the model kinds users bring (softmax classifier without
an input quantizer, several outputs, power-of-two / binary / ternary quantizers with BatchNormalization, an
autoencoder with an on-chip score) through `l1ad firmware --model`, labels, and the refusals (Lambda, custom
objects, unsupported layers, Keras 1) made before Keras deserialises anything. The shapes of issue 27's
table are in tests/test_byo_shapes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from firmware import byo, byo_precision
from l1ad.config import FirmwareConfig
from l1ad.errors import InputError
from tests.byo_shapes import keras20_sequential_json

FW = FirmwareConfig()
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def third_party_qkeras_model():
    """What a user builds elsewhere with qkeras only: an 8-input MLP with a declared 10-bit input format."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    tf.keras.utils.set_random_seed(5)
    inp = tf.keras.Input((8,), name="l1_inputs")
    x = QActivation("quantized_bits(10,3,alpha=1)", name="in_q")(inp)
    x = QDense(
        12,
        kernel_quantizer="quantized_bits(8,1,alpha=1)",
        bias_quantizer="quantized_bits(8,1,alpha=1)",
        name="h1",
    )(x)
    x = QActivation("quantized_relu(8,3)", name="h1_relu")(x)
    x = QDense(
        1,
        kernel_quantizer="quantized_bits(8,1,alpha=1)",
        bias_quantizer="quantized_bits(8,1,alpha=1)",
        name="score",
    )(x)
    model = tf.keras.Model(inp, x, name="thirdparty_mlp")
    model.layers[2].set_weights([w + 0.05 for w in model.layers[2].get_weights()])  # non-zero biases too
    return model


@pytest.fixture(scope="module")
def saved_qkeras(tmp_path_factory):
    d = tmp_path_factory.mktemp("third_party")
    model = third_party_qkeras_model()
    model.save(d / "model.h5", save_format="h5")
    (d / "model.json").write_text(model.to_json())
    model.save_weights(d / "weights.h5")
    return d


def test_qkeras_h5_round_trip_is_bit_exact(saved_qkeras, tmp_path):
    row = byo.byo_firmware(
        saved_qkeras / "model.h5", tmp_path / "out", FW, input_range=(-6.0, 6.0), n_events=1500
    )
    assert row["precision_route"] == "quantizers"
    assert row["exact_fraction"] == 1.0 and row["n_events"] == 1500
    assert row["input_format"] == "ap_fixed<10,4,AP_RND_CONV,AP_SAT>"
    assert (tmp_path / "out" / "hls_project" / "firmware" / "l1ad_byo.cpp").is_file()
    res = row["resources"]
    assert res["source"] == "estimate+da4ml" and res["parameters"] == 8 * 12 + 12 + 12 + 1  # DA by default
    assert res["latency_cycles"] >= 1 and res["ii"] == 1
    assert json.loads((tmp_path / "out" / "csim_validation.json").read_text())["exact_fraction"] == 1.0


def test_qkeras_json_and_weights_with_user_data(saved_qkeras, tmp_path):
    rng = np.random.default_rng(7)
    X = rng.normal(0, 2.0, (800, 8)).astype(np.float32)
    with h5py.File(tmp_path / "events.h5", "w") as f:
        f["inputs"] = X
    row = byo.byo_firmware(
        saved_qkeras / "model.json", tmp_path / "out", FW, data=tmp_path / "events.h5",
        weights=saved_qkeras / "weights.h5",
    )  # fmt: skip
    assert row["exact_fraction"] == 1.0 and row["n_events"] == 800
    assert "events.h5" in row["inputs"]
    with pytest.raises(InputError, match="needs its weights"):
        byo.load_user_model(saved_qkeras / "model.json")
    with pytest.raises(InputError, match="no model_config"):
        byo.load_user_model(saved_qkeras / "weights.h5")
    np.save(tmp_path / "wrong.npy", X[:, :5])
    with pytest.raises(InputError, match="the model takes"):
        byo.byo_firmware(saved_qkeras / "model.h5", tmp_path / "o2", FW, data=tmp_path / "wrong.npy")
    with pytest.raises(InputError, match="input range"):
        byo.byo_firmware(saved_qkeras / "model.h5", tmp_path / "o3", FW)


def test_plain_keras_model_gets_explicit_precisions(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(6)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Dense(10, activation="relu", input_shape=(6,), name="d1"),
            tf.keras.layers.Dense(1, name="d2"),
        ],
        name="plain",
    )
    model.save(tmp_path / "plain.h5", save_format="h5")
    row = byo.byo_firmware(
        tmp_path / "plain.h5", tmp_path / "out", FW, input_range=(-3.0, 3.0), n_events=1000
    )
    assert row["precision_route"] == "explicit"
    assert all("auto" not in t for t in row["layer_precisions"].values())
    # post-training quantized (8-bit weights by default), compared with the float model
    ptq = row["post_training_quantization"]
    assert (ptq["weight_bits"], ptq["layers"], len(ptq["scan"])) == (8, ["d1", "d2"], 5)
    output = row["outputs"][0]
    assert output["reference"] == "float Keras model" and output["argmax_agreement"] is None
    assert output["max_abs_diff"] < 0.05 and output["p999_abs_diff"] <= output["max_abs_diff"]
    assert not row["exact_expected"] and "rounded to 8 bits" in output["why_not_exact"]
    # --weight-bits 0 keeps the float weights (16 fractional bits): within a few 1e-4 of Keras float64
    row = byo.byo_firmware(
        tmp_path / "plain.h5", tmp_path / "out0", FW, input_range=(-3.0, 3.0), n_events=1000, weight_bits=0
    )
    assert row["post_training_quantization"] is None
    assert row["max_diff_lsb"] * row["output_lsb"] < 1e-3
    assert "quantization-aware" in row["outputs"][0]["why_not_exact"]


def test_keras_1_json_is_refused_with_how_to_resave(tmp_path):
    """Keras 2.0 Sequential JSON converts (tests/test_byo_shapes.py); Keras 1's layer configs differ."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(7)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(6,), name="d1")])
    model.save_weights(tmp_path / "old_weights.h5")
    keras1 = json.loads(keras20_sequential_json(model)) | {"keras_version": "1.2.2"}
    (tmp_path / "keras1.json").write_text(json.dumps(keras1))
    with pytest.raises(InputError, match=r"a Keras 1\.2\.2 model: .*save it again \(model\.save"):
        byo.load_user_model(tmp_path / "keras1.json", tmp_path / "old_weights.h5")


def _save_lambda_model(path, marker):
    import tensorflow as tf

    def touch(t):
        with open(marker, "w") as f:  # runs whenever Keras calls the layer: at build and at load
            f.write("executed")
        return t

    inp = tf.keras.Input((4,), name="x")
    out = tf.keras.layers.Lambda(touch, name="sneaky")(tf.keras.layers.Dense(2, name="d")(inp))
    tf.keras.Model(inp, out).save(path, save_format="h5")


def test_lambda_is_refused_without_running_its_code(tmp_path):
    import tensorflow as tf

    marker = tmp_path / "lambda_ran.txt"
    _save_lambda_model(tmp_path / "lam.h5", str(marker))
    marker.unlink()  # building the model ran it once; from here on only loading could
    with pytest.raises(InputError, match="layer 'sneaky' is a Lambda layer") as err:
        byo.load_user_model(tmp_path / "lam.h5")
    assert "\n" not in str(err.value)
    assert not marker.exists()
    with h5py.File(tmp_path / "lam.h5") as f:
        (tmp_path / "lam.json").write_text(f.attrs["model_config"])
    with pytest.raises(InputError, match="Lambda"):
        byo.load_user_model(tmp_path / "lam.json", weights=tmp_path / "lam.h5")
    assert not marker.exists()
    # the control: plain Keras loading does execute the stored code (what the refusal prevents)
    tf.keras.models.load_model(tmp_path / "lam.h5", compile=False, safe_mode=False)
    assert marker.read_text() == "executed"


def test_custom_object_is_refused_before_deserialisation(tmp_path):
    import tensorflow as tf

    constructed = []

    @tf.keras.utils.register_keras_serializable(package="thirdparty")
    class Scale(tf.keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            constructed.append(factor)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inp = tf.keras.Input((3,), name="x")
    tf.keras.Model(inp, Scale(name="scale")(inp)).save(tmp_path / "custom.h5", save_format="h5")
    constructed.clear()
    with pytest.raises(
        InputError, match="layer 'scale' uses 'thirdparty>Scale'.*custom object outside Keras and QKeras"
    ):
        byo.load_user_model(tmp_path / "custom.h5")
    assert constructed == []


def test_unsupported_layer_gets_one_line(tmp_path):
    import tensorflow as tf

    inp = tf.keras.Input((5,), name="x")
    x = tf.keras.layers.GaussianNoise(0.1, name="noise")(inp)
    tf.keras.Model(inp, tf.keras.layers.Dense(1, name="d")(x)).save(tmp_path / "noisy.h5", save_format="h5")
    with pytest.raises(InputError) as err:
        byo.byo_firmware(tmp_path / "noisy.h5", tmp_path / "out", FW, input_range=(-1.0, 1.0))
    message = str(err.value)
    assert "layer 'noise' (GaussianNoise) is not supported by hls4ml" in message
    assert "remove it before exporting" in message and "\n" not in message


def test_explicit_config_sets_every_type_and_yaml_wins(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(8)
    inp = tf.keras.Input((4,), name="x")
    x = tf.keras.layers.Dense(6, name="d")(inp)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.Activation("relu", name="act")(x)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(1, name="out")(x))
    bn = model.get_layer("bn")
    bn.set_weights([np.full(6, 3.0), np.zeros(6), np.zeros(6), np.full(6, 0.25)])  # scale 3 / sqrt(.25) = 6
    X = np.random.default_rng(0).uniform(-2, 2, (300, 4))
    (tmp_path / "hls.yml").write_text("LayerName:\n  act:\n    Precision:\n      result: ap_ufixed<10,4>\n")
    config = byo_precision.explicit_config(model, X, FW, 12, byo._read_yaml(tmp_path / "hls.yml"))
    types = {name: c["Precision"] for name, c in config["LayerName"].items()}
    assert all(v != "auto" for p in types.values() for v in p.values())
    assert types["bn"]["scale"] == "ap_fixed<16,4>"  # 6.0 needs 4 integer bits (sign included), 12 fractional
    assert types["act"]["result"] == "ap_ufixed<10,4>"  # the user's YAML wins
    # |x| < 2 needs 2 integer bits (sign included), plus FirmwareConfig's 1 headroom bit; 12 fractional
    assert types["x"]["result"] == "ap_fixed<15,3,AP_TRN,AP_SAT>"
    (tmp_path / "bad.yml").write_text("Layers: {}\n")
    with pytest.raises(InputError, match="unknown top-level keys"):
        byo._read_yaml(tmp_path / "bad.yml")


def test_cli_bring_your_own_model(saved_qkeras, tmp_path):
    """`l1ad firmware --model` as a user runs it: one line of result, the project in RUN_DIR/byo/<name>."""
    import subprocess
    import sys

    X = np.random.default_rng(3).uniform(-6, 6, size=(400, 8)).astype(np.float32)
    np.save(tmp_path / "inputs.npy", X)
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "firmware", "--model", str(saved_qkeras / "model.h5"),
         "--data", str(tmp_path / "inputs.npy"), "--run-dir", str(run_dir)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "csim equals Keras float64 twin on 100.0000%" in out.stdout
    assert (run_dir / "byo" / "model" / "hls_project" / "firmware" / "l1ad_model.cpp").is_file()
    assert not list((run_dir / "byo").glob(".*partial"))
    missing = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "firmware", "--model", str(saved_qkeras / "model.h5"),
         "--run-dir", str(run_dir)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert missing.returncode == 2 and "--input-range" in missing.stderr


def _byo_cli(capsys, tmp_path, model, *flags):
    """`l1ad firmware --model M --input-range -4 4 ...` in this process; (exit code, stdout, the report row)."""
    from l1ad import cli

    model.save(tmp_path / f"{model.name}.h5", save_format="h5")
    run_dir = tmp_path / "run"
    argv = ["firmware", "--model", str(tmp_path / f"{model.name}.h5"), "--input-range", "-4", "4"]
    code = cli.main([*argv, "--run-dir", str(run_dir), "--config", str(CONFIG), *flags])
    out = capsys.readouterr().out
    row_file = run_dir / "byo" / model.name / "csim_validation.json"
    return code, out, json.loads(row_file.read_text()) if row_file.is_file() else None


def _dense(units, name, kernel="quantized_bits(6,0,alpha=1)", bias="quantized_bits(6,0,alpha=1)", **kw):
    from qkeras import QDense

    return QDense(units, kernel_quantizer=kernel, bias_quantizer=bias, name=name, **kw)


def test_softmax_classifier_without_input_quantizer(capsys, tmp_path):
    """The hls4ml-tutorial jet tagger's shape: no input quantizer, softmax output (a lookup table on chip)."""
    import tensorflow as tf
    from qkeras import QActivation
    from qkeras.quantizers import quantized_relu

    tf.keras.utils.set_random_seed(11)
    model = tf.keras.Sequential(name="jettagger")
    model.add(_dense(12, "fc1", input_shape=(16,)))
    model.add(QActivation(activation=quantized_relu(6), name="relu1"))  # a quantizer object, not a string
    model.add(_dense(5, "output"))
    model.add(tf.keras.layers.Activation("softmax", name="softmax"))
    code, out, row = _byo_cli(capsys, tmp_path, model, "--rtl")
    assert code == 0, out
    assert "explicit precisions" in row["rtl"]["skipped"]
    softmax = row["outputs"][0]
    assert not softmax["exact_expected"] and "lookup tables" in softmax["why_not_exact"]
    assert softmax["max_abs_diff"] < 0.5 and "exactness not asserted" in out
    assert row["input_format"].startswith("ap_fixed<16,3") and "profiled" in row["input_format_source"]
    assert row["resources"]["lut"] > 0
    # the logits, with the trigger's declared input format: bit-exact through the quantizers' types
    code, out, row = _byo_cli(
        capsys, tmp_path / "logits", model, "--logits", "--input-format", "ap_fixed<12,4>"
    )
    assert code == 0, out
    assert row["precision_route"] == "quantizers" and row["exact_expected"] and row["exact_fraction"] == 1.0
    assert (
        row["input_format"] == "ap_fixed<12,4,AP_RND_CONV,AP_SAT>" and row["outputs"][0]["name"] == "output"
    )
    assert "removed softmax (softmax)" in " ".join(row["notes"])


def test_several_outputs_and_latent_score(capsys, tmp_path):
    """A VAE-style encoder (mu, log-variance): agreement per output in its own LSB; then the CMS-style
    on-chip score, the sum of squared latent means."""
    import tensorflow as tf
    from qkeras import QActivation

    tf.keras.utils.set_random_seed(12)
    inp = tf.keras.Input((10,), name="x")
    h = QActivation("quantized_bits(10,4,alpha=1)", name="in_q")(inp)
    h = QActivation("quantized_relu(8,3)", name="hr")(_dense(8, "h")(h))
    model = tf.keras.Model(
        inp, [_dense(3, "mu")(h), _dense(3, "logvar", kernel="quantized_bits(4,0,alpha=1)")(h)]
    )
    model._name = "encoder"
    code, out, row = _byo_cli(capsys, tmp_path, model)
    assert code == 0, out
    assert [o["name"] for o in row["outputs"]] == ["mu", "logvar"] and all(
        o["width"] == 3 for o in row["outputs"]
    )
    assert all(o["exact_fraction"] == 1.0 and o["exact_expected"] for o in row["outputs"])
    code, out, row = _byo_cli(capsys, tmp_path / "latent", model, "--score", "latent", "--latent-layer", "mu")
    assert code == 0, out
    assert [o["name"] for o in row["outputs"]] == ["score_sum"] and row["exact_fraction"] == 1.0
    assert row["precision_route"] == "quantizers"


def test_autoencoder_with_residual_score(capsys, tmp_path):
    import tensorflow as tf
    from qkeras import QActivation

    tf.keras.utils.set_random_seed(13)
    inp = tf.keras.Input((12,), name="x")
    q = QActivation("quantized_bits(10,4,alpha=1)", name="in_q")(inp)
    h = QActivation("quantized_relu(8,3)", name="er")(_dense(4, "enc")(q))
    model = tf.keras.Model(inp, _dense(12, "dec")(h), name="user_ae")
    code, out, row = _byo_cli(capsys, tmp_path, model, "--score", "residual", "--rtl")
    assert code == 0, out
    assert (
        row["outputs"][0]["name"] == "score_sum" and row["exact_fraction"] == 1.0 and row["n_events"] == 2000
    )
    assert "on-chip score: residual" in out
    # the same score as Verilog, simulated with Verilator on every validation event
    assert (
        row["rtl"]["exact_fraction"] == 1.0
        and row["rtl"]["events"] == 2000
        and row["rtl"]["latency_cycles"] >= 1
    )
    assert (tmp_path / "run" / "byo" / "user_ae" / "rtl" / "tb").is_dir() and "RTL (Verilator) == csim" in out
    code, _, _ = _byo_cli(capsys, tmp_path / "bad", model, "--score", "residual", "--latent-layer", "enc")
    assert code == 2


def test_po2_binary_ternary_and_batchnorm_quantizers(capsys, tmp_path):
    """Quantizers l1ad did not write: power-of-two, ternary, binary (hls4ml's XNOR weights, kept off
    distributed arithmetic), alpha="auto_po2", and a BatchNormalization. The float64 reference takes the
    quantized weights; the batch norm's explicit precision keeps exactness from being asserted."""
    import tensorflow as tf
    from qkeras import QActivation
    from qkeras.quantizers import binary, quantized_po2, ternary

    tf.keras.utils.set_random_seed(14)
    inp = tf.keras.Input((12,), name="x")
    x = _dense(16, "t1", kernel=ternary(alpha=1), bias=quantized_po2(4, 2))(inp)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = QActivation("quantized_relu(6,2)", name="r")(x)
    x = QActivation("quantized_relu(6,2)", name="r2")(
        _dense(8, "b1", kernel=binary(alpha=1), bias="quantized_bits(8,3)")(x)
    )
    x = _dense(1, "out", kernel='quantized_bits(8,0,alpha="auto_po2")', bias="quantized_bits(8,3)")(x)
    model = tf.keras.Model(inp, x, name="quantizer_zoo")
    bn = model.get_layer("bn")
    bn.set_weights([np.full(16, 1.25), np.full(16, 0.125), np.full(16, 0.5), np.full(16, 1.5)])
    code, out, row = _byo_cli(capsys, tmp_path, model)
    assert code == 0, out
    output = row["outputs"][0]
    # the float64 twin takes the quantized weights (po2's float32 constants no longer stop it)
    assert output["reference"] == "Keras float64 twin"
    assert any("power-of-two weights of t1" in note for note in row["notes"])
    assert (
        output["within_1lsb_fraction"] > 0.9
    )  # the batch-norm scale, rounded to 16 fractional bits, moves a few
    strategies = {name: layer["strategy"] for name, layer in row["resources"]["layers"].items()}
    assert strategies["b1"].lower() == "latency" and strategies["t1"].lower() == "distributed_arithmetic"


def test_fixed_point_type_strings_parse_through_one_parser() -> None:
    from l1ad.errors import L1adError
    from l1ad.fixedpoint import FixedFormat

    assert byo.parse_format(" fixed<10,4> ") == FixedFormat(True, 10, 4)
    assert byo.parse_format("ap_ufixed<8, 3>") == FixedFormat(False, 8, 3)
    for bad in ("ap_fixed<16,6,AP_RND>", "ap_int<8>", "fixed16"):
        with pytest.raises(L1adError, match="not a fixed-point type"):
            byo.parse_format(bad)
    with pytest.raises(L1adError, match="1 <= I <= W"):
        byo.parse_format("ap_fixed<8,0>")
    # hls4ml's config strings and l1ad's own: fractional bits; integer and exponent types: none
    assert (
        byo_precision._frac_of("fixed<6,1,TRN,WRAP,0>") == 5
        and byo_precision._frac_of("ap_fixed<16,6,AP_TRN,AP_SAT>") == 10
    )
    assert byo_precision._frac_of("ufixed<8,-2>") == 10 and byo_precision._frac_of("int<4>") == 0


def test_labels_give_auc_per_class_and_bad_labels_one_line(tmp_path) -> None:
    from firmware.csim import label_auc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3)) + 2.0 * np.eye(3)[y]  # each class's column higher for its events
    auc = label_auc(logits, logits + 0.01, y)
    assert auc["classes"] == [0, 1, 2] and all(a > 0.8 for a in auc["reference"])
    assert label_auc(logits[:, :1], logits[:, :1], y) is None  # three classes cannot label one score
    score = label_auc(logits[:, :1], logits[:, :1], (y == 0).astype(int))
    assert (
        score["classes"] == [1] and score["reference"][0] > 0.8
    )  # label 1: the events whose column 0 is high
    np.save(tmp_path / "onehot.npy", np.eye(3)[y])
    np.testing.assert_array_equal(byo.read_labels(tmp_path / "onehot.npy", 500), y)
    np.save(tmp_path / "short.npy", y[:400])
    with pytest.raises(InputError, match=r"short\.npy: 400 labels for 500 input events"):
        byo.read_labels(tmp_path / "short.npy", 500)
    np.save(tmp_path / "half.npy", y + 0.5)
    with pytest.raises(InputError, match="one integer class >= 0 per event"):
        byo.read_labels(tmp_path / "half.npy", 500)
    with h5py.File(tmp_path / "labelled.h5", "w") as f:
        f["X"], f["y"] = rng.normal(size=(500, 4)), y
    np.testing.assert_array_equal(byo.read_labels(tmp_path / "labelled.h5", 500, "y"), y)


def test_a_dense_output_that_is_its_bias_alone_rounds_without_aborting(tmp_path) -> None:
    """Narrow weights round a kernel column to zeros: da4ml then types that output as its bias alone
    (0.0625 as ap_ufixed<1,-3>), whose cast into the 2-fractional-bit output type read a bit the source
    does not have and aborted the C simulation (and Python) in ap_types' assertion. Guarded in every
    written project (firmware.hls.guard_rounding_bit_read): csim equals the float64 twin."""
    import tensorflow as tf
    from qkeras import QActivation

    inp = tf.keras.Input((6,), name="x")
    h = QActivation("quantized_bits(10,7,alpha=1)", name="in_q")(inp)
    h = _dense(4, "d", kernel="quantized_bits(3,0,alpha=1)", bias="quantized_bits(8,3,alpha=1)")(h)
    out = QActivation("quantized_bits(10,7,alpha=1)", name="out_q")(h)
    model = tf.keras.Model(inp, out, name="zero_column")
    kernel = np.random.default_rng(1).choice([-0.5, -0.25, 0.25, 0.5], size=(6, 4))
    kernel[:, 1] = 0.0  # the column of output 1: its bias alone
    model.get_layer("d").set_weights([kernel, np.array([0.5, 0.0625, -0.25, 0.0])])
    model.save(tmp_path / "zero_column.h5", save_format="h5")
    row = byo.byo_firmware(
        tmp_path / "zero_column.h5", tmp_path / "out", FW, input_range=(-8, 8), n_events=500
    )
    assert row["precision_route"] == "quantizers" and row["exact_fraction"] == 1.0
    header = tmp_path / "out" / "hls_project" / "firmware" / "ap_types" / "ap_fixed_base.h"
    assert "(F2 - _AP_F - 1 < _AP_W2) &&" in header.read_text()
