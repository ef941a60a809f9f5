"""Edits of a user's Keras/QKeras graph before conversion: declared input format, logits, on-chip score.

Each edit builds a new functional graph (``quantize.qmodels.clone_graph``: layers rebuilt from their
Python configs, weights copied) or extends the model's own tensors, so the user's file is never changed
and the edited graph is an ordinary functional model that hls4ml converts like any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l1ad.errors import L1adError
from l1ad.fixedpoint import FixedFormat
from quantize.graph import inbound_layers
from quantize.qmodels import clone_graph

# Activations hls4ml evaluates through lookup tables (1,024 entries by default): csim approximates them.
LUT_ACTIVATIONS = ("softmax", "sigmoid", "tanh", "softplus", "softsign", "elu", "selu")
INPUT_QUANTIZER = "input_quantizer"
SCORES = ("residual", "latent")


def functional(model: Any) -> Any:
    """The same graph as a functional model (a Sequential gets its explicit Input layer)."""
    import tensorflow as tf

    if isinstance(model, tf.keras.Sequential):
        return tf.keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def flat_layers(model: Any) -> list[Any]:
    """Every layer of ``model``, the layers of nested models in their place."""
    layers = []
    for layer in model.layers:
        layers.extend(flat_layers(layer) if hasattr(layer, "layers") else [layer])
    return layers


def _unique(model: Any, name: str) -> str:
    taken = {layer.name for layer in model.layers}
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def input_quantizer(model: Any) -> Any | None:
    """The QActivation right after the input that declares the input format, or None.

    A quantized_bits (signed) or quantized_relu (unsigned) quantizer that alone reads the input is
    the format the trigger delivers: hls4ml takes the input type from it.
    """
    from qkeras import QActivation

    users = [n.outbound_layer for n in model.layers[0].outbound_nodes]
    if len(users) == 1 and isinstance(users[0], QActivation):
        if type(users[0].quantizer).__name__ in ("quantized_bits", "quantized_relu"):
            return users[0]
    return None


def quantizer_string(fmt: FixedFormat) -> str:
    """The QKeras quantizer whose values are exactly ``fmt``'s (half-to-even rounding, saturation)."""
    if fmt.signed:
        return f"quantized_bits({fmt.width},{fmt.integer - 1},alpha=1)"
    return f"quantized_relu({fmt.width},{fmt.integer})"


def with_input_format(model: Any, fmt: FixedFormat) -> Any:
    """``model`` with a QActivation declaring ``fmt`` between its input and every reader of the input."""
    from qkeras import QActivation

    return clone_graph(
        model, declare_input=QActivation(quantizer_string(fmt), name=_unique(model, INPUT_QUANTIZER))
    )


def _activation_of(layer: Any) -> str | None:
    """The name of the activation ``layer`` applies (an Activation layer's, or a fused one), or None."""
    import tensorflow as tf

    if isinstance(layer, tf.keras.layers.Softmax):
        return "softmax"
    activation = layer.get_config().get("activation") if hasattr(layer, "get_config") else None
    return activation if isinstance(activation, str) else None


def output_activations(model: Any) -> dict[str, str]:
    """Output layer name -> the lookup-table activation producing it (softmax, sigmoid, ...), where one does."""
    found = {}
    for name in model.output_names:
        activation = _activation_of(model.get_layer(name))
        if activation in LUT_ACTIVATIONS:
            found[name] = activation
    return found


def to_logits(model: Any) -> tuple[Any, list[str]]:
    """``model`` without the lookup-table activations on its outputs, and what was removed.

    A separate Activation/Softmax layer is dropped (its input becomes the output); an activation fused
    into the output layer (``Dense(..., activation="softmax")``) becomes linear. A trigger threshold on
    a sigmoid's logit selects the same events as on the sigmoid; the logits are exact in fixed point.
    """
    import tensorflow as tf

    lut = output_activations(model)
    if not lut:
        return model, []
    fused = frozenset(
        n
        for n in lut
        if not isinstance(model.get_layer(n), (tf.keras.layers.Activation, tf.keras.layers.Softmax))
    )
    clone = clone_graph(model, linear=fused)
    outputs, removed = [], []
    for name in model.output_names:
        if name in lut and name not in fused:  # a separate activation layer: its input becomes the output
            parent = inbound_layers(model.get_layer(name))[0]
            outputs.append(clone.get_layer(parent.name).output)
            removed.append(f"{name} ({lut[name]})")
        else:
            outputs.append(clone.get_layer(name).output)
            if name in fused:
                removed.append(f"{name}'s {lut[name]}")
    return tf.keras.Model(clone.inputs, outputs, name=model.name), removed


def with_score(model: Any, kind: str, latent_layer: str | None = None) -> Any:
    """``model`` with an on-chip anomaly score as its only output, computed in the firmware.

    ``residual``: the sum over inputs of (input - output)^2 (an autoencoder: its output must have the
    input's shape; the input after its declared format). ``latent``: the sum of squared values of
    ``latent_layer`` (default: the model's first output), as the CMS AXOL1TL trigger scores its VAE's
    latent means. The sum is a frozen all-ones Dense, exact in fixed point.
    """
    import tensorflow as tf

    if kind not in SCORES:
        raise L1adError(f"--score must be one of {', '.join(SCORES)}, got '{kind}'")
    if kind == "residual":
        if latent_layer is not None:
            raise L1adError("--latent-layer goes with --score latent, not residual")
        if len(model.outputs) != 1:
            raise L1adError(
                f"--score residual needs one output (the reconstruction); the model has {len(model.outputs)}"
            )
        declared = input_quantizer(model)
        x = declared.output if declared is not None else model.inputs[0]
        out = model.outputs[0]
        if tuple(x.shape[1:]) != tuple(out.shape[1:]):
            raise L1adError(
                f"--score residual needs an output shaped like the input {tuple(x.shape[1:])}, "
                f"got {tuple(out.shape[1:])}: give an autoencoder, or --score latent"
            )
        value = tf.keras.layers.Subtract(name=_unique(model, "score_residual"))([x, out])
    else:
        if latent_layer is None:
            value = model.outputs[0]
        else:
            names = [layer.name for layer in model.layers]
            if latent_layer not in names:
                raise L1adError(
                    f"--latent-layer '{latent_layer}' is not a layer of the model ({', '.join(names)})"
                )
            value = model.get_layer(latent_layer).output
    if len(value.shape) > 2:
        value = tf.keras.layers.Flatten(name=_unique(model, "score_flatten"))(value)
    square = tf.keras.layers.Multiply(name=_unique(model, "score_square"))([value, value])
    total = tf.keras.layers.Dense(1, use_bias=False, trainable=False, name=_unique(model, "score_sum"))
    score = total(square)
    total.set_weights([np.ones((int(square.shape[-1]), 1), dtype=np.float32)])
    return tf.keras.Model(model.inputs, score, name=f"{model.name}_{kind}")


PO2_QUANTIZERS = ("quantized_po2",)  # QKeras weight quantizers hls4ml stores as exponents (shift products)


def po2_weight_layers(model: Any) -> list[str]:
    """Layers whose kernel or bias has a power-of-two quantizer. hls4ml 1.3 multiplies such weights by
    shifts in a product type of width(exponent) + width(input) integer and as many fractional bits, which
    drops the low bits of a fractional input shifted right (0% of a 64-20 po2 layer's outputs exact)."""
    return [
        layer.name
        for layer in flat_layers(model)
        if any(
            type(getattr(layer, a, None)).__name__ in PO2_QUANTIZERS
            for a in ("kernel_quantizer_internal", "bias_quantizer_internal")
        )
    ]
