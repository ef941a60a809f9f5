"""Explicit hls4ml precisions for a user's model whose layers do not all map to QKeras quantizer types.

Every type is set on purpose from the model's constants and the range its layers reach on the validation
inputs (``keras_outputs``, also the reference csim is compared with), never left "auto": hls4ml 1.3 can
loop forever on automatic precisions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from firmware.byo_graph import flat_layers, input_quantizer
from firmware.hls import base_config, grid_exponents, integer_bits, quantizer_format
from l1ad.config import FirmwareConfig
from l1ad.fixedpoint import fixed_type
from quantize.graph import inbound_layers
from quantize.qmodels import exact_outputs


def _frac_of(precision: str) -> int:
    """Fractional bits of an hls4ml type string (0 for integer types such as ``int<2>``)."""
    fmt = fixed_type(precision)
    return fmt.frac if fmt is not None else 0


def _grid_frac(values: np.ndarray) -> int:
    """Fewest fractional bits that hold every value exactly (0 for integers; up to 1074 for floats)."""
    exponents = grid_exponents(values)
    return 0 if exponents is None else max(0, -exponents[1])


def _stored_frac(values: np.ndarray, precision: str) -> int:
    """Fractional bits of constants as the firmware stores them: their own grid, or the type's if coarser.

    Quantizer types that are not ap_fixed (hls4ml's binary, ternary, power-of-two weights) hold the
    quantized values exactly: their grid decides.
    """
    grid = _grid_frac(values)
    return min(grid, _frac_of(precision)) if fixed_type(precision) is not None else grid


def _layer_constants(layer: Any) -> dict[str, np.ndarray]:
    """The constants hls4ml stores for a layer, by precision key, as the firmware holds them.

    QKeras layers' weights pass through their quantizers; a BatchNormalization becomes hls4ml's
    scale = gamma / sqrt(var + eps) and bias = beta - mean x scale.
    """
    import tensorflow as tf

    if isinstance(layer, tf.keras.layers.BatchNormalization):
        n = int(layer.moving_mean.shape[0])
        gamma = np.asarray(layer.gamma) if layer.scale else np.ones(n)
        beta = np.asarray(layer.beta) if layer.center else np.zeros(n)
        scale = gamma / np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
        return {"scale": scale, "bias": beta - np.asarray(layer.moving_mean) * scale}
    weights = layer.get_weights()
    if hasattr(layer, "get_quantizers"):
        quantizers = layer.get_quantizers()  # may list more than the weights (no bias, activation)
        # applied to the float32 weights as QKeras does (some quantizers build float32 constants)
        weights = [w if q is None else q(w) for w, q in zip(weights, quantizers, strict=False)]
    return dict(zip(("weight", "bias"), (np.asarray(w, dtype=np.float64) for w in weights), strict=False))


def _declared_input_type(model: Any) -> str | None:
    """The input type the model's input quantizer declares, when it is an exact fixed-point type."""
    declared = input_quantizer(model)
    if declared is None:
        return None
    try:
        return str(quantizer_format(declared.quantizer, declared.name))
    except ValueError:  # e.g. alpha != 1: no fixed-point type reproduces it; the profile decides
        return None


def explicit_config(
    model: Any,
    X: np.ndarray,
    fw: FirmwareConfig,
    frac_bits: int,
    overrides: dict[str, Any] | None = None,
    fallback: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """An hls4ml config with every precision set on purpose (never "auto"), for any supported model.

    Constants without a quantizer (weights, biases, batch-norm scales) get ``frac_bits`` fractional
    bits and the integer bits of their largest value. Dense/Conv accumulators and results keep every
    fractional bit of their products and the integer bits of the largest sum the profiled input
    range allows (sum |w| x max |input| + |b|) plus ``fw.headroom_bits``: they do not wrap. Other
    tensors (activations, merges, pooling) get ``frac_bits`` and their profiled range on ``X`` plus
    ``fw.headroom_bits``, saturating beyond. ``overrides`` (an hls4ml-style config) wins last;
    ``fallback`` as in ``firmware.hls.base_config``.
    """
    import tensorflow as tf

    config = base_config(model, fw, fallback)
    keras_layers = {layer.name: layer for layer in flat_layers(model)}
    names = [n for n, layer in keras_layers.items() if not isinstance(layer, tf.keras.layers.InputLayer)]
    profile = {n: np.abs(v).max(initial=0.0) for n, v in keras_outputs(model, X, names)[0].items()}
    input_name = model.layers[0].name
    profile[input_name] = float(np.abs(X).max(initial=0.0))
    declared = _declared_input_type(model)
    out_frac: dict[str, int] = {}  # fractional bits of each Keras layer's final output
    result_of: dict[str, str] = {}  # result type of each Keras layer itself (before a split activation)

    def profiled(max_abs: float, frac: int) -> str:
        integer = integer_bits(-max_abs, max_abs, frac) + fw.headroom_bits
        return f"ap_fixed<{integer + frac},{integer},AP_TRN,AP_SAT>"

    def base_of(name: str) -> tuple[str | None, str]:
        if name in keras_layers:
            return name, ""
        owners = [k for k in keras_layers if name.startswith(k + "_")]
        if not owners:
            return None, ""
        owner = max(owners, key=len)
        return owner, name[len(owner) + 1 :]

    for name, layer_config in config["LayerName"].items():
        precision = layer_config.setdefault("Precision", {})
        layer_config["ReuseFactor"] = fw.reuse_factor
        owner, suffix = base_of(name)
        layer = keras_layers.get(owner) if owner else None
        constants = _layer_constants(layer) if layer is not None and not suffix else {}
        for key, values in constants.items():
            if precision.get(key) == "auto":
                peak = float(np.abs(values).max(initial=0.0))
                integer = integer_bits(-peak, peak, frac_bits)
                precision[key] = f"ap_fixed<{integer + frac_bits},{integer}>"
        if owner == input_name and not suffix:
            precision["result"] = declared or profiled(profile[input_name], frac_bits)
        elif "weight" in constants and isinstance(precision.get("weight"), str):
            # a Dense or Conv: products kept exact, integer bits for the largest sum the profiled
            # input range allows (plus headroom), so the accumulator never wraps
            source = inbound_layers(layer)[0].name
            kernel = np.abs(constants["weight"]).reshape(-1, constants["weight"].shape[-1])
            bias = np.abs(constants.get("bias", 0.0))
            bound = float((kernel.sum(axis=0) * profile.get(source, 0.0) + bias).max(initial=0.0))
            frac = out_frac.get(source, frac_bits) + _stored_frac(constants["weight"], precision["weight"])
            if isinstance(precision.get("bias"), str) and "bias" in constants:
                frac = max(frac, _stored_frac(constants["bias"], precision["bias"]))
            integer = integer_bits(-bound, bound, frac) + fw.headroom_bits
            for key in ("accum", "result"):
                if precision.get(key) == "auto":
                    precision[key] = f"ap_fixed<{integer + frac},{integer}>"
        if suffix == "linear" and owner in result_of and precision.get("result") == "auto":
            precision["result"] = result_of[owner]  # hls4ml's split-off linear activation: a copy
        for key, value in list(precision.items()):
            if value == "auto":  # activations, merges, pooling, the split-off activation of a layer
                source = owner if owner in profile else None
                max_abs = profile[source] if source else float(np.abs(X).max(initial=0.0))
                precision[key] = profiled(max_abs, frac_bits)
        if owner is not None and "result" in precision:
            out_frac[owner] = _frac_of(precision["result"])
            result_of.setdefault(owner, precision["result"])
    if overrides:
        _deep_update(config, overrides)
    unset = [
        f"{n}.{k}"
        for n, c in config["LayerName"].items()
        for k, v in c.get("Precision", {}).items()
        if v == "auto"
    ]
    if unset:
        raise ValueError(f"precision left automatic for {', '.join(unset)}: hls4ml could loop forever")
    return config


def _deep_update(base: dict[str, Any], update: dict[str, Any]) -> None:
    """Merge ``update`` into ``base`` in place, nested mappings key by key (the user's config wins)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def keras_outputs(model: Any, X: np.ndarray, names: list[str]) -> tuple[dict[str, np.ndarray], str | None]:
    """Outputs of layers ``names`` on ``X``: exact (float64 twin), or QKeras' float32 ones and why.

    Some QKeras quantizers (quantized_po2, alpha="auto_po2") build float32 constants and cannot run in
    float64; their model is then evaluated as QKeras itself does, in float32, which rounds sums wider
    than 24 bits: agreement is measured, not asserted.
    """
    import tensorflow as tf

    try:
        return exact_outputs(model, X, names), None
    except Exception as exc:  # noqa: BLE001 - any failure of the twin means: fall back to float32, say why
        where = re.search(r'calling layer "([^"]+)"', str(exc))
        layer = f"layer '{where.group(1)}'" if where else "a layer"
        why = (
            f"QKeras cannot evaluate {layer} in float64 ({type(exc).__name__}), so csim is compared with "
            "QKeras' own float32 prediction"
        )
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    result = probe.predict(np.asarray(X, dtype=np.float32), batch_size=8192, verbose=0)
    result = result if isinstance(result, list) else [result]
    return {n: np.asarray(r, dtype=np.float64) for n, r in zip(names, result, strict=True)}, why
