"""Tests of the HGQ quantizer: float graph -> HGQ twin -> a few training steps -> proxy -> hls4ml csim.

The claim checked is the one the firmware rests on: the C simulation of the converted proxy equals
the exact (float64) proxy score on every event, for the OCDN and for the AE whose score (a sum of
squares) is computed on chip. Each conversion is compiled with g++.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware import byo
from firmware.hgq_hls import convert_proxy, validate_proxy
from l1ad.config import AEConfig, FirmwareConfig, NuRDConfig, OCDNConfig, QuantBits
from l1ad.errors import InputError
from quantize import hgq
from quantize.qmodels import quantize_inputs
from quantize.quantizer import HGQ
from training.autoencoder import L1Autoencoder
from training.data.splits import Split
from training.ocdn import OCDN

BITS = QuantBits()


def _data(n_inputs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Background train/val and a labelled test set (Gaussian background, a shifted, wider signal)."""
    rng = np.random.default_rng(seed)
    train, val = rng.normal(size=(2048, n_inputs)), rng.normal(size=(512, n_inputs))
    test = np.concatenate([rng.normal(size=(1000, n_inputs)), rng.normal(0.7, 1.5, size=(1000, n_inputs))])
    y = np.repeat([0, 1], 1000)
    return train.astype(np.float32), val.astype(np.float32), test.astype(np.float32), y


def _effective_bits(values: np.ndarray) -> np.ndarray:
    """Bits from the highest to the lowest set bit of each fixed-point value (0 for 0)."""
    k = np.abs(np.rint(np.asarray(values, dtype=np.float64) * 2.0**30)).astype(np.int64)
    odd = k // np.where(k > 0, k & -k, 1)
    return np.where(odd > 0, np.floor(np.log2(np.maximum(odd, 1))) + 1, 0)


def _hgq_chain(scorer, n_inputs: int, seed: int, tmp_path, beta: float = 1e-6):
    """Train the float scorer briefly, then its HGQ twin a few steps; proxy, save/load, convert, validate."""
    train, val, test, y = _data(n_inputs, seed)
    scorer.fit(train, val)
    model, history = HGQ(hgq.HGQSettings(beta=beta)).train_from_float(
        scorer, BITS, Split(train), Split(val), epochs=1, lr=1e-3
    )
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    Xtr = quantize_inputs(train, BITS.input_bits, BITS.input_integer)
    Xte = quantize_inputs(test, BITS.input_bits, BITS.input_integer)
    proxy = hgq.proxy_model(model, np.concatenate([Xtr, Xte]))
    hgq.save_proxy(proxy, tmp_path / "proxy.h5")
    loaded = hgq.load_proxy(tmp_path / "proxy.h5")
    exact = hgq.proxy_scores(loaded, Xte)
    np.testing.assert_array_equal(exact, hgq.proxy_scores(proxy, Xte))
    hls_model = convert_proxy(loaded, tmp_path / "prj", FirmwareConfig(), "hgq_test")
    result, csim = validate_proxy(hls_model, Xte, y, scorer.score(Xte), exact)
    return model, proxy, result, csim, exact


def test_ocdn_hgq_csim_equals_proxy_on_every_event(tmp_path) -> None:
    scorer = OCDN(OCDNConfig(epochs=1), n_inputs=5, seed=3)
    model, proxy, result, csim, exact = _hgq_chain(scorer, 5, seed=21, tmp_path=tmp_path)
    agreement = result["agreement"]
    assert agreement["n_events"] == 2000
    assert agreement["exact_fraction"] == 1.0 and agreement["max_diff_lsb"] == 0.0
    np.testing.assert_array_equal(csim, exact)
    # The twin keeps the float model's ranking (a few HGQ steps do not relearn the score).
    assert abs(result["auc"]["proxy"] - result["auc"]["float"]) < 0.05

    # EBOPs as reported: per HDense, sum over weights of (input element bits) x (weight's non-zero span).
    per_layer = hgq.layer_ebops(model)
    assert hgq.ebops(model) == pytest.approx(sum(per_layer.values())) and hgq.ebops(model) > 0
    for layer, source in (("dense_1", "input_quantizer"), ("dense_2", "dense_1_relu_quantizer")):
        in_bits = proxy.get_layer(source).bits.numpy().reshape(-1).astype(np.float64)
        kernel = proxy.get_layer(layer).get_weights()[0]
        expected = float(np.sum(in_bits[:, None] * _effective_bits(kernel)))
        assert per_layer[layer] == pytest.approx(expected), layer

    # the saved proxy as a user brings it (`l1ad firmware --model proxy.h5 --data X.npy`): raw float
    # inputs, put on the proxy's input grid, and csim bit-exact against the proxy's float64 twin
    _, _, test, _ = _data(5, seed=21)
    np.save(tmp_path / "inputs.npy", test)
    row = byo.byo_firmware(
        tmp_path / "proxy.h5", tmp_path / "byo", FirmwareConfig(), data=tmp_path / "inputs.npy"
    )
    assert row["precision_route"] == "hgq proxy" and row["exact_expected"]
    assert row["exact_fraction"] == 1.0 and row["n_events"] == 2000
    assert row["resources"]["source"] == "estimate+da4ml"
    with pytest.raises(InputError, match="an HGQ proxy model fixes its own types and graph: drop --logits"):
        byo.byo_firmware(
            tmp_path / "proxy.h5",
            tmp_path / "byo2",
            FirmwareConfig(),
            data=tmp_path / "inputs.npy",
            logits=True,
        )


def test_ae_score_on_chip_hgq_csim_equals_proxy_on_every_event(tmp_path) -> None:
    scorer = L1Autoencoder(AEConfig(epochs=1), n_inputs=57, seed=4)
    model, proxy, result, csim, exact = _hgq_chain(scorer, 57, seed=22, tmp_path=tmp_path)
    agreement = result["agreement"]
    assert agreement["exact_fraction"] == 1.0 and agreement["max_diff_lsb"] == 0.0
    np.testing.assert_array_equal(csim, exact)
    # The on-chip sum of squares is wider than float32's mantissa: HGQ's own float32 proxy rounds it,
    # which is why the reference is the float64 twin.
    assert result["layer_precisions"]["score"].startswith("ap_fixed<")
    float32_proxy = proxy.predict(
        quantize_inputs(_data(57, 22)[2], BITS.input_bits, BITS.input_integer), verbose=0
    )
    assert np.mean(float32_proxy.reshape(-1) == exact) < 1.0
    assert {"residual", "squared_residual", "score"} <= {layer.name for layer in proxy.layers}


def test_twin_with_fine_bits_reproduces_the_float_graph() -> None:
    """Weights are copied and bit widths placed on them: at 20 bits the twin is the float model."""
    scorer = OCDN(OCDNConfig(hidden=(32, 16)), n_inputs=5, seed=5)
    float_model = scorer.build()
    settings = hgq.HGQSettings(kernel_init_bw=20, activation_init_bw=20, input_init_bw=20)
    model = hgq.to_hgq(float_model, BITS, settings)
    assert [layer.name for layer in model.layers] == [
        "inputs",
        "input_quantizer",
        "dense_1",
        "dense_2",
        "logit",
    ]
    assert model.get_layer("dense_1").activation.__name__ == "relu"
    X = np.random.default_rng(0).normal(size=(256, 5)).astype(np.float32)
    np.testing.assert_allclose(model(X).numpy(), float_model(X).numpy(), atol=1e-4)


def test_nurd_cnn_and_fixed_head_map_to_hgq_with_one_width_per_tensor() -> None:
    """The compact NuRD CNN with its frozen Mahalanobis head: HConv2D, passive pooling/flatten, the head
    kept plain with its constants and projections rounded; one activation width per tensor (io_stream)."""
    import tensorflow as tf
    from HGQ.layers import HLayerBase

    from training.nurd import add_mahalanobis_head, build_cnn, fit_gaussian, representation_model, set_head

    bits = QuantBits(
        input_bits=12, input_integer=0, bias_bits=12, bias_integer=0, activation_integer=0, output_integer=4
    )
    cfg = NuRDConfig(filters=(2, 3), kernel_size=3, strides=1, pool=True, dense=(8,), representation_dim=3)
    inputs, representation = build_cnn(cfg, 10, seed=6)
    float_model = tf.keras.Model(inputs, add_mahalanobis_head(representation, 2))
    rng = np.random.default_rng(6)
    X = quantize_inputs(rng.uniform(0, 0.3, size=(400, 10, 10, 1)), bits.input_bits, bits.input_integer)
    r = representation_model(float_model).predict(X, verbose=0)
    set_head(float_model, [fit_gaussian(r[:200]), fit_gaussian(r[200:])])

    model = hgq.to_hgq(float_model, bits, hgq.HGQSettings(kernel_init_bw=20, activation_init_bw=20))
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    assert (
        kinds["conv_1"] == "HConv2D" and kinds["pool_1"] == "PMaxPooling2D" and kinds["flatten"] == "PFlatten"
    )
    assert (
        kinds["mahalanobis_0_projection"] == "Dense"
        and kinds["mahalanobis_0_projection_quantizer"] == "HQuantize"
    )
    assert "conv_1_relu" not in kinds  # folded into conv_1
    assert all(
        int(np.prod(layer.paq.fbw.shape)) == 1 for layer in model.layers if isinstance(layer, HLayerBase)
    )

    report = hgq.round_frozen_constants(model, bits.output_bits)
    kernel = model.get_layer("mahalanobis_1_projection").get_weights()[0].astype(np.float64)
    lsb = 2.0 ** (report["mahalanobis_1_projection"]["kernel_integer"] - bits.output_bits + 1)
    np.testing.assert_array_equal(kernel / lsb, np.rint(kernel / lsb))

    proxy = hgq.proxy_model(model, X)
    score, reference = hgq.proxy_scores(proxy, X), float_model.predict(X, verbose=0).reshape(-1)
    # With fine bits only the head's 16-bit constants and projections round: the distance stays put.
    assert np.median(np.abs(score - reference) / np.maximum(reference, np.median(reference))) < 0.01


def test_unsupported_graphs_and_settings_are_refused(tmp_path) -> None:
    import tensorflow as tf

    with pytest.raises(ValueError, match="beta"):
        hgq.HGQSettings(beta=-1.0)
    inputs = tf.keras.Input((4, 4, 1))
    conv = tf.keras.Model(
        inputs, tf.keras.layers.Dense(1)(tf.keras.layers.Flatten()(tf.keras.layers.Conv2D(2, 3)(inputs)))
    )
    with pytest.raises(ValueError, match="per tensor"):
        hgq.to_hgq(conv, BITS, hgq.HGQSettings(per_element_activations=True))
    x = tf.keras.Input((3,))
    late = tf.keras.layers.Dense(3)(tf.keras.layers.Subtract()([x, tf.keras.layers.Dense(3)(x)]))
    with pytest.raises(ValueError, match="follows the plain layer"):
        hgq.to_hgq(tf.keras.Model(x, late), BITS)

    # A saved model with a Lambda layer is refused before Keras deserialises (and runs) it.
    lam = tf.keras.Model(x, tf.keras.layers.Lambda(lambda t: t * 2)(x))
    lam.save(tmp_path / "lambda.h5", save_format="h5")
    with pytest.raises(InputError, match="Lambda"):
        hgq.load_proxy(tmp_path / "lambda.h5")
    with pytest.raises(InputError, match="not found"):
        hgq.load_proxy(tmp_path / "missing.h5")
