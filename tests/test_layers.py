"""The one table of layer support (firmware/layers.py): shipped as docs/layers.md, read by BYO's check,
and saying what the RTL tracer really does."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.layers import check_hls4ml_support, markdown_table, support
from l1ad.errors import DesignError, InputError

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_table_is_the_generated_one() -> None:
    assert (ROOT / "docs" / "layers.md").read_text() == markdown_table(), (
        "regenerate: python -m firmware.layers > docs/layers.md"
    )


def test_rows_join_hls4ml_the_estimate_and_the_tracer() -> None:
    import qkeras
    import tensorflow as tf

    dense = support(qkeras.QDense)
    assert (dense.hls4ml_class, dense.estimated, dense.rtl) == ("Dense", True, "quantized kernel and bias")
    assert support(tf.keras.layers.Dense).rtl == "only a frozen all-ones kernel without bias (a sum)"
    assert support(tf.keras.layers.Add).hls4ml_class == "Merge"  # renamed by hls4ml's Keras handler
    assert support(tf.keras.layers.Dropout).hls4ml_class == "skipped"
    lstm = support(tf.keras.layers.LSTM)
    assert (lstm.hls4ml_class, lstm.estimated, lstm.rtl) == ("LSTM", False, None)
    assert support(tf.keras.layers.Conv2DTranspose).hls4ml_class is None
    # a subclass of QConv2D whose kernel is folded at run time: no RTL, whatever its base has
    assert support(qkeras.QConv2DBatchnorm).rtl is None


def test_the_tracer_refuses_what_the_table_says_it_does_not_map() -> None:
    import qkeras
    import tensorflow as tf

    from firmware.rtl import trace_qkeras

    x_in = tf.keras.Input((6, 6, 1))
    x = qkeras.QActivation(qkeras.quantized_bits(8, 3, alpha=1), name="q_in")(x_in)
    x = qkeras.QConv2DBatchnorm(
        2,
        3,
        kernel_quantizer=qkeras.quantized_bits(6, 0, alpha=1),
        bias_quantizer=qkeras.quantized_bits(6, 0, alpha=1),
        name="conv_bn",
    )(x)
    model = tf.keras.Model(x_in, x)
    with pytest.raises(DesignError, match=r"layer 'conv_bn' \(QConv2DBatchnorm\) has no RTL mapping"):
        trace_qkeras(model)


def test_the_check_names_the_first_layer_hls4ml_cannot_convert(tmp_path: Path) -> None:
    import tensorflow as tf

    layers = [tf.keras.layers.Dense(3, name="d"), tf.keras.layers.Conv2DTranspose(2, 3, name="up")]
    with pytest.raises(InputError) as err:
        check_hls4ml_support(layers, tmp_path / "model.h5")
    message = str(err.value)
    assert "layer 'up' (Conv2DTranspose) is not supported by hls4ml" in message
    assert "docs/layers.md" in message and "model.h5" in message
    rows = check_hls4ml_support(layers[:1], tmp_path / "model.h5")
    assert [r.keras_class for r in rows] == ["Dense"]
