"""Tests of the float -> QKeras rebuild: names, quantized weights, input format, save/load, exact evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from l1ad import fixedpoint
from l1ad.config import AEConfig, OCDNConfig, QuantBits
from l1ad.errors import InputError
from quantize import qmodels
from training.autoencoder import L1Autoencoder, reconstruction_model
from training.ocdn import OCDN


def _float_ae(encoder: tuple[int, ...] = (32, 16), latent: int = 3):
    scorer = L1Autoencoder(AEConfig(encoder=encoder, latent=latent), n_inputs=57, seed=3)
    return scorer.build()


def _float_ocdn(hidden: tuple[int, ...] = (128, 128, 128)):
    return OCDN(OCDNConfig(hidden=hidden), n_inputs=5, seed=3).build()


def _sparse_l1_like(n: int, seed: int) -> np.ndarray:
    """57 inputs like standardised [pT, eta, phi] slots: heavy-tailed pT, many empty (exactly zero) slots."""
    rng = np.random.default_rng(seed)
    filled = rng.random((n, 19)) < np.linspace(0.9, 0.1, 19)
    pt = np.clip(rng.exponential(1.0, (n, 19)) * 2 - 1, -1, 20)
    eta, phi = rng.normal(0, 1.5, (n, 19)), rng.uniform(-np.pi, np.pi, (n, 19))
    return (np.stack([pt, eta, phi], axis=-1) * filled[..., None]).reshape(n, 57).astype(np.float32)


@pytest.mark.parametrize("bits,integer", [(16, 6), (8, 3), (4, 0), (12, 11), (2, 0)])
def test_quantize_inputs_equals_the_qkeras_quantizer(bits: int, integer: int) -> None:
    from qkeras import quantized_bits

    rng = np.random.default_rng(0)
    lsb = 2.0 ** (integer - bits + 1)
    ties = (
        rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), 2000) + 0.5
    ) * lsb  # half-LSBs: round half to even
    wide = rng.normal(0, 2.0**integer, 4000) * 1.5  # includes values beyond the range: clipping
    edges = [0.0, -(2.0**integer), 2.0**integer, 1000.0, -1000.0]
    X = np.concatenate([ties, wide, edges]).astype(np.float32)
    expected = quantized_bits(bits, integer, alpha=1)(X).numpy()
    got = qmodels.quantize_inputs(X, bits, integer)
    np.testing.assert_array_equal(got, expected)
    assert got.max() == 2.0**integer - lsb and got.min() == -(2.0**integer)
    # Far outside the range QKeras' straight-through form x + (q - x) loses the clipped value in
    # float32 (1e9 -> 64.0 for quantized_bits(16, 6)); the numpy version keeps the true clip.
    assert qmodels.quantize_inputs(np.array([1e9]), bits, integer)[0] == 2.0**integer - lsb


def test_input_format_counts_the_sign_bit() -> None:
    assert qmodels.input_format(QuantBits()) == "ap_fixed<16,7>"
    assert qmodels.input_format(QuantBits(input_bits=10, input_integer=3)) == "ap_fixed<10,4>"
    # ap_fixed<16,7> spans [-64, 64): the same range quantized_bits(16, 6) clips to.
    assert qmodels.quantize_inputs(np.array([1e6, -1e6]), 16, 6).tolist() == [64 - 2.0**-9, -64.0]


def test_impossible_formats_are_refused() -> None:
    with pytest.raises(ValueError, match="weight"):
        qmodels.quantizer_strings(QuantBits(weight_bits=4, weight_integer=4))
    with pytest.raises(ValueError, match="quantized_relu"):
        qmodels.quantizer_strings(QuantBits(activation_bits=2, activation_integer=4))
    with pytest.raises(ValueError, match="input"):
        qmodels.input_format(QuantBits(input_bits=1))


def test_ae_keeps_names_and_gets_quantized_weights() -> None:
    from qkeras import QActivation, QDense

    float_model = _float_ae()
    bits = QuantBits()
    q = qmodels.to_qkeras(float_model, bits)
    names = [layer.name for layer in q.layers]
    assert {layer.name for layer in float_model.layers} <= set(names)
    assert set(names) - {layer.name for layer in float_model.layers} == {
        "input_quantizer",
        "latent_quantizer",
        "reconstruction_quantizer",
    }
    assert names.index("input_quantizer") == names.index("inputs") + 1
    for layer in float_model.layers:
        new = q.get_layer(layer.name)
        if layer.name == "score":
            assert not new.trainable and not isinstance(new, QDense)
            np.testing.assert_array_equal(new.get_weights()[0], np.ones((57, 1)))
        elif layer.name.endswith("relu"):
            assert isinstance(new, QActivation) and str(new.quantizer) == "quantized_relu(8,4)"
        elif type(layer).__name__ == "Dense":
            assert isinstance(new, QDense)
            kernel, bias = layer.get_weights()
            np.testing.assert_array_equal(new.get_weights()[0], kernel)  # float shadow weights for QAT
            qkernel = new.get_quantizers()[0](kernel).numpy()
            inside = np.abs(kernel) < 1 - 2.0**-8  # weights within quantized_bits(8, 0)'s range
            assert np.all(np.abs(qkernel - kernel)[inside] <= 2.0**-8)  # rounded to the 2^-7 grid
            np.testing.assert_array_equal(qkernel * 2**7, np.round(qkernel * 2**7))
            assert np.all(np.abs(new.get_quantizers()[1](bias).numpy() - bias) <= 2.0**-5)
    # the QAT code trains the sub-model ending at the layer named "reconstruction"
    assert reconstruction_model(q).output_shape == (None, 57)


def test_ocdn_logit_stays_unrounded_and_other_sizes_map() -> None:
    q = qmodels.to_qkeras(_float_ocdn(), QuantBits())
    assert [layer.name for layer in q.layers][-1] == "logit"  # the on-chip score: no output quantizer
    small = qmodels.to_qkeras(_float_ocdn((64, 32)), QuantBits(weight_bits=4, activation_bits=4))
    assert small.get_layer("dense_2").units == 32 and small.output_shape == (None, 1)
    ae = qmodels.to_qkeras(
        _float_ae((16, 8), 2), QuantBits(weight_bits=2, activation_bits=2, activation_integer=1)
    )
    assert ae.get_layer("latent").units == 2 and "latent_quantizer" in [layer.name for layer in ae.layers]
    fresh = qmodels.to_qkeras(_float_ae((16, 8), 2), QuantBits(), copy_weights=False)
    assert not np.array_equal(
        fresh.get_layer("enc_1").get_weights()[0], ae.get_layer("enc_1").get_weights()[0]
    )


def test_unmapped_layer_is_refused_by_name() -> None:
    import tensorflow as tf

    inputs = tf.keras.Input((5,), name="inputs")
    x = tf.keras.layers.Dense(8, name="dense_1")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn_1")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1, name="logit")(x))
    with pytest.raises(ValueError, match="bn_1"):
        qmodels.to_qkeras(model, QuantBits())
    tanh = tf.keras.Model(inputs, tf.keras.layers.Dense(1, activation="tanh", name="fused")(inputs))
    with pytest.raises(ValueError, match="fused"):
        qmodels.to_qkeras(tanh, QuantBits())


def test_save_and_load_round_trip(tmp_path) -> None:
    q = qmodels.to_qkeras(_float_ae((16, 8), 2), QuantBits())
    X = qmodels.quantize_inputs(_sparse_l1_like(500, 1), 16, 6)
    path = tmp_path / "qmodel.h5"
    qmodels.save_qmodel(q, path)
    assert [p.name for p in tmp_path.iterdir()] == ["qmodel.h5"]  # no temporary left behind
    loaded = qmodels.load_qmodel(path)
    np.testing.assert_array_equal(qmodels.predict_exact(loaded, X), qmodels.predict_exact(q, X))
    assert not loaded.get_layer("score").trainable
    with pytest.raises(InputError, match="not found"):
        qmodels.load_qmodel(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(InputError, match="junk.h5"):
        qmodels.load_qmodel(tmp_path / "junk.h5")


def test_exact_score_is_the_float64_sum_of_squared_residuals() -> None:
    q = qmodels.to_qkeras(_float_ae(), QuantBits())
    X = qmodels.quantize_inputs(_sparse_l1_like(2000, 2) * 3, 16, 6)  # large residuals: wide squares
    outs = qmodels.exact_outputs(q, X, ["reconstruction_quantizer"])
    expected = ((X.astype(np.float64) - outs["reconstruction_quantizer"]) ** 2).sum(axis=1)
    np.testing.assert_array_equal(qmodels.predict_exact(q, X), expected)
    # float32 QKeras rounds these sums: it is not a bit-level reference for the AE score
    float32 = q.predict(X, batch_size=4096, verbose=0).reshape(-1)
    assert np.mean(float32 == expected) < 0.999


def test_frozen_affine_dense_gets_fixed_constants_in_a_format_from_their_range() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(2)
    inputs = tf.keras.Input((4,), name="inputs")
    x = tf.keras.layers.Dense(4, name="representation")(inputs)
    head = tf.keras.layers.Dense(4, trainable=False, name="projection")
    p = head(x)
    kernel, bias = rng.normal(0, 20, (4, 4)).astype(np.float32), rng.normal(0, 2, 4).astype(np.float32)
    head.set_weights([kernel, bias])
    squared = tf.keras.layers.Multiply(name="square")([p, p])
    total = tf.keras.layers.Dense(
        1, use_bias=False, trainable=False, kernel_initializer="ones", name="distance"
    )
    model = tf.keras.Model(inputs, total(squared))

    q = qmodels.to_qkeras(model, QuantBits())
    projection = q.get_layer("projection")
    assert not projection.trainable and q.get_layer("distance").trainable is False
    # 16-bit constants, integer bits from the largest magnitude plus one bit of headroom
    expected = fixedpoint.constant_integer(kernel, 16)
    assert expected == int(np.ceil(np.log2(np.abs(kernel).max()))) + 1
    assert projection.kernel_quantizer_internal.integer == expected
    assert "projection_quantizer" in [layer.name for layer in q.layers]  # p is rounded to the output format
    report = qmodels.frozen_constants(q)["projection"]
    lsb = report["kernel"]["lsb"]
    assert lsb == 2.0 ** (expected - 15)
    assert 0 < report["kernel"]["max_abs_error"] <= lsb / 2
    np.testing.assert_allclose(np.array(report["kernel"]["values"]), kernel, atol=lsb / 2)
    assert (
        fixedpoint.constant_integer(np.array([4.0]), 16) == 3
        and fixedpoint.constant_integer(np.zeros(3), 16) == 1
    )


def test_declared_inputs_use_the_input_format_of_the_bits() -> None:
    bits = QuantBits(input_bits=10, input_integer=3)
    X = np.random.default_rng(1).normal(0, 4, size=(100, 5))
    np.testing.assert_array_equal(qmodels.declared_inputs(X, bits), qmodels.quantize_inputs(X, 10, 3))
