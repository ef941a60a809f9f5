"""Tests of the one quantizer face (QKeras, HGQ) and the one QAT step of a bit-width point.

A point the quantize stage's sweep saved is taken by ``train_point`` when (and only when) the quantizer,
bits, epochs and learning rate are the same: the scan does not train it again.
"""

from __future__ import annotations

import numpy as np
import pytest

from l1ad.artifacts import QuantizePaths
from l1ad.config import OCDNConfig, QuantBits
from quantize import hgq, qmodels
from quantize.quantizer import (
    HGQ,
    QKeras,
    quantizer_for,
    save_sweep_model,
    scan_bits,
    train_point,
)
from training.data.splits import Split, Splits
from training.ocdn import OCDN

BITS = QuantBits(input_bits=10, input_integer=3, weight_bits=6)


def _splits(n_inputs: int = 5, seed: int = 0) -> Splits:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, n_inputs)).astype(np.float32)
    return Splits(
        train=Split(X[:300]),
        val=Split(X[300:400]),
        test=Split(X[400:], np.zeros(200, dtype=np.int64)),
        classes=["background"],
        n_background_classes=1,
    )


class CountingOCDN(OCDN):
    """An OCDN that counts how often a twin is retrained."""

    trained = 0

    def train_graph(self, model, X, X_val, epochs, learning_rate):  # noqa: ANN001, ANN201
        CountingOCDN.trained += 1
        return super().train_graph(model, X, X_val, epochs, learning_rate)


def _scorer() -> CountingOCDN:
    scorer = CountingOCDN(OCDNConfig(hidden=(8,)), n_inputs=5, seed=2)
    scorer.model = scorer.build()
    return scorer


def test_scan_bits_are_uniform_inside_and_keep_the_interface_formats() -> None:
    bits = scan_bits(BITS, 4)
    assert (bits.weight_bits, bits.bias_bits, bits.activation_bits) == (4, 4, 4)
    assert bits.weight_integer == 0 and bits.bias_integer == 3 and bits.activation_integer == 4
    assert scan_bits(BITS, 2).bias_integer == 1 and scan_bits(BITS, 2).activation_integer == 2
    assert (bits.input_bits, bits.input_integer, bits.output_bits) == (10, 3, BITS.output_bits)


def test_quantizers_are_named_as_in_the_config() -> None:
    assert isinstance(quantizer_for("qkeras"), QKeras) and quantizer_for("qkeras").name == "qkeras"
    h = quantizer_for("hgq", 1e-5)
    assert isinstance(h, HGQ) and h.name == "hgq" and h.settings.beta == 1e-5
    with pytest.raises(ValueError, match="unknown quantizer"):
        quantizer_for("brevitas")


def test_qkeras_reference_scores_are_the_exact_scores_of_declared_inputs() -> None:
    scorer, splits = _scorer(), _splits()
    qmodel, history = QKeras().train_from_float(scorer, BITS, splits.train, splits.val, 1, 1e-3)
    assert len(history["loss"]) == 1
    X = splits.test.X
    expected = qmodels.predict_exact(qmodel, qmodels.quantize_inputs(X, BITS.input_bits, BITS.input_integer))
    np.testing.assert_array_equal(QKeras().reference_scores(qmodel, X, BITS), expected)


def test_a_sweep_model_is_reused_only_with_the_same_settings(tmp_path) -> None:
    scorer, splits = _scorer(), _splits()
    bits = scan_bits(BITS, 4)
    folder = QuantizePaths(tmp_path / "quantize").sweep("ocdn", 4)
    assert folder.root == tmp_path / "quantize" / "ocdn" / "sweep" / "b4"

    CountingOCDN.trained = 0
    trained, history = train_point(QKeras(), scorer, splits, bits, 1, 1e-3, sweep=folder)  # nothing saved yet
    assert CountingOCDN.trained == 1 and history
    save_sweep_model(folder, trained, bits, 1, 1e-3)

    reused, history = train_point(QKeras(), scorer, splits, bits, 1, 1e-3, sweep=folder)
    assert CountingOCDN.trained == 1 and history == {}
    for a, b in zip(reused.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        QKeras().reference_scores(reused, splits.test.X, bits),
        QKeras().reference_scores(trained, splits.test.X, bits),
    )

    # another epoch count, learning rate or bit width, or the other quantizer: trained again
    train_point(QKeras(), scorer, splits, bits, 2, 1e-3, sweep=folder)
    train_point(QKeras(), scorer, splits, bits, 1, 1e-4, sweep=folder)
    train_point(QKeras(), scorer, splits, scan_bits(BITS, 6), 1, 1e-3, sweep=folder)
    train_point(HGQ(), scorer, splits, bits, 1, 1e-3, sweep=folder)
    assert CountingOCDN.trained == 5


def test_hgq_twin_times_its_training_and_scores_through_its_proxy() -> None:
    scorer, splits = _scorer(), _splits()
    model, history = HGQ(hgq.HGQSettings(beta=0.0)).train_from_float(
        scorer, BITS, splits.train, splits.val, 1, 1e-3
    )
    assert history["train_seconds"] > 0 and history["frozen_constants"] == {}
    scores = HGQ().reference_scores(model, splits.test.X, BITS)
    Xq = qmodels.quantize_inputs(splits.test.X, BITS.input_bits, BITS.input_integer)
    np.testing.assert_array_equal(scores, hgq.proxy_scores(hgq.proxy_model(model, Xq), Xq))
    # the twin keeps the float model's score up to its rounding
    np.testing.assert_allclose(scores, scorer.model.predict(Xq, verbose=0).reshape(-1), atol=0.5)
