"""Tests of the one quantizer face (QKeras, HGQ) and the formats of a bit-width point."""

from __future__ import annotations

import numpy as np
import pytest

from l1ad.config import OCDNConfig, QuantBits
from quantize import hgq, qmodels
from quantize.quantizer import HGQ, QKeras, quantizer_for, scan_bits
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


def _scorer() -> OCDN:
    scorer = OCDN(OCDNConfig(hidden=(8,)), n_inputs=5, seed=2)
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
