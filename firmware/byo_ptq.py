"""Post-training quantization of the float layers of a model a user brings.

A float Keras model has constants on a float32 grid (about 24 significant bits each); distributed
arithmetic of such constants is out of da4ml's reach and a DSP per product in Latency. The usual PTQ
steps, made explicit: each BatchNormalization that directly follows a Dense or Conv (its only reader)
is folded into that layer's kernel and bias, then every kernel and bias of a float Dense/Conv is
rounded (half to even) to ``weight_bits``-bit fixed point with the integer bits of its largest
magnitude. QKeras layers keep their own quantizers. The rounded model is what the firmware computes;
the float model stays the reference its agreement is measured against. ``weight_bits_scan`` shows what
other widths would give, before any compilation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from firmware import resources
from firmware.byo_precision import explicit_config, keras_outputs
from firmware.csim import label_auc
from firmware.hls import constant_bits, write_project
from l1ad.config import FirmwareConfig
from quantize.graph import Node, input_shape, nodes, walk

# The weight widths of the post-training quantization scan every float model gets (``weight_bits_scan``)
WEIGHT_BITS_SCAN = (4, 6, 8, 10, 12)

FLOAT_WEIGHTED = (
    "Dense",
    "Conv1D",
    "Conv2D",
)  # exact classes: QDense & co. subclass them and keep their quantizers


def float_weighted_layers(model: Any, weight_bits: int) -> list[str]:
    """Names of the layers whose constants PTQ rounds: plain Keras Dense/Conv with a constant wider than
    ``weight_bits`` bits (a frozen sum of ones, or weights already on a narrow grid, stay as they are; a
    batch norm counts only where it folds into such a layer, after a QKeras layer it keeps its explicit
    precision)."""
    return [
        layer.name
        for layer in model.layers
        if type(layer).__name__ in FLOAT_WEIGHTED
        and any(constant_bits(w) > weight_bits for w in layer.get_weights())
    ]


def rounded(values: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """``values`` on the grid of signed ``bits``-bit fixed point whose integer bits hold the largest magnitude,
    rounded half to even and saturated; returns (values, fractional bits)."""
    peak = float(np.max(np.abs(values), initial=0.0))
    integer = math.floor(math.log2(peak)) + 1 if peak > 0 else 0  # 2^(integer-1) <= peak < 2^integer
    frac = bits - 1 - integer
    scale = 2.0**frac
    top = 2.0 ** (bits - 1)
    q = np.clip(np.rint(np.asarray(values, dtype=np.float64) * scale), -top, top - 1) / scale
    return q.astype(np.float32), frac


def _foldable(node: Node, readers: dict[str, Node]) -> bool:
    """A BatchNormalization over the last axis directly after a float Dense/Conv that it alone reads."""
    if type(node.layer).__name__ != "BatchNormalization" or len(node.inbound) != 1:
        return False
    source = node.inbound[0]
    axis = node.layer.get_config()["axis"]
    axes = [a % len(node.layer.input_shape) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    last = axes == [len(node.layer.input_shape) - 1]
    return last and type(source).__name__ in FLOAT_WEIGHTED and len(readers[source.name].consumers) == 1


def post_training_quantize(model: Any, weight_bits: int) -> tuple[Any, list[str]]:
    """A copy of ``model`` with batch norms folded and float constants rounded to ``weight_bits`` bits, and
    one note per change (the layers folded, each rounded constant's format)."""
    import tensorflow as tf

    copies: dict[str, Any] = {}
    inputs: list[Any] = []
    folds: list[tuple[str, Any]] = []  # (Dense/Conv name, its BatchNormalization)
    readers = {n.name: n for n in nodes(model)}

    def input_layer(node: Node, args: list[Any]) -> Any:
        inp = tf.keras.Input(shape=input_shape(node.layer), name=node.name)
        inputs.append(inp)
        return inp

    def copy(node: Node, args: list[Any]) -> Any:
        if _foldable(node, readers):
            folds.append((node.inbound[0].name, node.layer))
            return args[0]
        config = node.layer.get_config()
        absorbs = any(_foldable(readers[c.name], readers) for c in node.consumers)
        if absorbs:
            config["use_bias"] = True
        new = type(node.layer).from_config(config)
        out = new(args if len(args) > 1 else args[0])
        weights = node.layer.get_weights()
        if absorbs and not node.layer.get_config()["use_bias"]:
            weights.append(np.zeros(weights[0].shape[-1], dtype=np.float32))
        if weights:
            new.set_weights(weights)
        copies[node.name] = new
        return out

    tensors = walk(model, {"InputLayer": input_layer, "Layer": copy}, "post-training quantization")
    outputs = [tensors[name] for name in _output_layer_names(model)]
    twin = tf.keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)

    notes = []
    for name, bn in folds:
        layer = copies[name]
        kernel, bias = layer.get_weights()
        gamma, beta, mean, var = _batch_norm_constants(bn)
        scale = gamma / np.sqrt(var + bn.epsilon)
        layer.set_weights([kernel * scale, (bias - mean) * scale + beta])
        notes.append(f"BatchNormalization '{bn.name}' folded into '{name}'")
    formats = []
    wide = set(float_weighted_layers(model, weight_bits)) | {name for name, _ in folds}
    for name, layer in copies.items():
        if name not in wide:
            continue
        new_weights, fracs = [], []
        for values in layer.get_weights():
            q, frac = rounded(values, weight_bits)
            new_weights.append(q)
            fracs.append(frac)
        layer.set_weights(new_weights)
        formats.append(f"{name} {'/'.join(f'2^-{f}' for f in fracs)}")
    if formats:
        notes.append(
            f"post-training quantization: float weights and biases rounded to {weight_bits} bits (half to "
            f"even, integer bits of each tensor's largest value; LSB per layer {', '.join(formats)}): csim "
            "is compared with the float model"
        )
    return twin, notes


def _batch_norm_constants(bn: Any) -> tuple[np.ndarray, ...]:
    """gamma, beta, moving mean, moving variance of ``bn`` (ones / zeros where it has no scale / center)."""
    config = bn.get_config()
    weights = list(bn.get_weights())
    n = weights[-1].shape[0]
    gamma = weights.pop(0) if config.get("scale", True) else np.ones(n, np.float32)
    beta = weights.pop(0) if config.get("center", True) else np.zeros(n, np.float32)
    mean, var = weights
    return gamma, beta, mean, var


def _output_layer_names(model: Any) -> list[str]:
    """The layers producing ``model``'s outputs, in output order."""
    return [t._keras_history.layer.name for t in model.outputs]


def weight_bits_scan(
    float_model: Any,
    X: np.ndarray,
    reference: dict[str, np.ndarray],
    labels: np.ndarray | None,
    fw: FirmwareConfig,
    frac_bits: int,
    bits: tuple[int, ...] = WEIGHT_BITS_SCAN,
) -> list[dict[str, Any]]:
    """What ``--weight-bits`` trades, before any compilation: per number of bits, the rounded-weight model in
    Keras (activations still float) against the float model on ``X`` (largest difference over the outputs,
    argmax agreement and mean AUC of the first output), and the l1ad resource estimate of its hls4ml project
    with the activations' explicit types (``frac_bits``), converted in a scratch folder and not compiled."""
    import tempfile

    names = list(reference)
    rows = []
    for b in bits:
        model, _ = post_training_quantize(float_model, b)
        outputs, _ = keras_outputs(model, X, names)
        first = outputs[names[0]].reshape(len(X), -1)
        expected = reference[names[0]].reshape(len(X), -1)
        auc = label_auc(expected, first, labels) if labels is not None else None
        config = explicit_config(model, X, fw, frac_bits, None, fallback=lambda _: None)
        with tempfile.TemporaryDirectory() as tmp:
            hls_model = write_project(model, config, Path(tmp) / "prj", fw, "scan")
            res = resources.estimate(hls_model, fw.part, fw.clock_period_ns)
        rows.append(
            {
                "weight_bits": b,
                "max_abs_diff": max(
                    float(np.max(np.abs(outputs[n] - reference[n]), initial=0.0)) for n in names
                ),
                "argmax_agreement": (
                    float(np.mean(first.argmax(1) == expected.argmax(1))) if first.shape[1] > 1 else None
                ),
                "auc": None if auc is None else float(np.mean(auc["csim"])),
                "lut": res["lut"],
                "dsp": res["dsp"],
                "latency_ns": res["latency_ns"],
                "resource_source": res["source"],
            }
        )
    return rows
