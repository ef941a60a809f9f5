"""Each model shape hls4ml users bring (``tests/byo_shapes.py``, issue 27's table) through one
`l1ad firmware --model M --data X.npy --labels y.npy` with default options (``--logits`` where a softmax
ends it): QKeras and HGQ models bit-exact, float models post-training quantized with their agreement as a
classifier and a weight-bits scan, every one with AUC, latency and resources and no DSP. Each is
compiled with g++ (test-suite sizes; `python scripts/bench_byo.py` runs the public ones).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.byo_shapes import SHAPES

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
EXACT = {"qkeras_jet_tagger", "po2_mnist_dense", "qkeras_mnist_cnn", "hgq_proxy"}
CASES = [(name, []) for name in SHAPES] + [("float_conv2d_bn", ["--io-type", "io_stream"])]


@pytest.mark.parametrize(("name", "extra"), CASES, ids=[" ".join([n, *e]) for n, e in CASES])
def test_each_shape_converts_with_default_options(name, extra, capsys, tmp_path) -> None:
    from l1ad import cli

    shape = SHAPES[name](False)
    args = shape.save(tmp_path / "model")
    code = cli.main(["firmware", *args, *extra, "--run-dir", str(tmp_path / "run"), "--config", str(CONFIG)])
    out = capsys.readouterr().out
    assert code == 0, out
    (row_file,) = (tmp_path / "run" / "byo").glob("*/csim_validation.json")
    row = json.loads(row_file.read_text())
    res = row["resources"]
    assert res["lut"] > 0 and res["dsp"] == 0 and res["latency_ns"] > 0 and res["source"] == "estimate+da4ml"
    output = row["outputs"][0]
    auc = output["auc"]  # the labels fit the classifier's outputs: one AUC per class, reference and csim
    assert auc["classes"] == list(range(output["width"])) == list(range(5 if output["width"] == 5 else 10))
    if name in EXACT:
        assert row["exact_expected"] and row["exact_fraction"] == 1.0, out
        assert auc["csim"] == auc["reference"]
        assert row["post_training_quantization"] is None
        return
    # a float model: post-training quantized to 8-bit weights, judged as the classifier it is
    assert row["post_training_quantization"]["weight_bits"] == 8 and not row["exact_expected"]
    assert output["argmax_agreement"] >= 0.95 and output["max_abs_diff"] < 0.2, out
    assert all(abs(c - r) < 0.02 for c, r in zip(auc["csim"], auc["reference"], strict=True))
    scan = row["post_training_quantization"]["scan"]
    assert [r["weight_bits"] for r in scan] == [4, 6, 8, 10, 12] and "--weight-bits scan" in out
    assert scan[0]["lut"] < scan[-1]["lut"] and scan[0]["max_abs_diff"] > scan[-1]["max_abs_diff"]
    if name == "float_jet_tagger_bn":
        assert "BatchNormalization 'bn1' folded into 'fc1'" in row["notes"]
    assert row["io_type"] == ("io_stream" if extra else "io_parallel")
