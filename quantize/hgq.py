"""HGQ (High Granularity Quantization) twins of the deployable float graphs: the second quantizer beside QKeras.

HGQ (PyPI ``hgq`` 0.2, import name ``HGQ``; Sun et al., arXiv:2405.00645) gives every weight and every
activation its own bit width, learned with the task loss plus ``beta`` x EBOPs (effective bit
operations, a differentiable proxy of the FPGA resources) added by each layer as a Keras layer loss.
After training, ``trace_minmax`` records each activation's range on calibration data (which fixes the
integer bits) and ``to_proxy_model`` writes the *proxy model*: plain Keras layers plus HGQ
``FixedPointQuantizer`` layers holding the fixed-point type of every element. hls4ml (>= 1.0) converts
the proxy with its bit-exact precision flow, so the proxy is the bit-level definition of what goes on
chip, as the QKeras graph is for ``quantize.qmodels``.

Mapping from a float deployable graph (layer names kept):
Input -> Input + ``HQuantize`` named ``input_quantizer`` (its learned format: the trigger still
delivers the declared ``quantize_inputs`` format, which this layer rounds further on chip);
trainable Dense/Conv2D -> HDense/HConv2D, fused with a ReLU that is its only consumer (HGQ's own form:
pre-activation quantizer, ReLU, activation quantizer); any other ReLU -> HActivation; MaxPooling2D,
Flatten -> HGQ's passive PMaxPool2D, PFlatten; Subtract, Multiply, Minimum, Add and frozen Dense
(the AE sum of squares, the NuRD Mahalanobis head) stay plain Keras layers: HGQ has no quantized
version of them, the proxy keeps them, and hls4ml sizes their types from their inputs' so they are
exact. A frozen Dense that is not an all-ones sum (the NuRD projection) has its constants rounded to
a fixed grid (``round_frozen_constants``) and its output rounded by an ``HQuantize`` named
``<name>_quantizer`` (starting at the declared output format's fractional bits; its integer bits are
traced), as QKeras does for the NuRD head. Plain layers must come after every HGQ layer (HGQ layers
read the bit widths of the layer before them).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import QuantBits
from l1ad.errors import InputError
from l1ad.fixedpoint import constant_integer
from l1ad.io import atomic_path
from quantize.graph import Node, input_shape, no_mapping, output_name, twin_handlers, walk
from quantize.qmodels import is_ones_sum, is_relu

INPUT_QUANTIZER = "input_quantizer"  # the HQuantize after the input (the proxy's first FixedPointQuantizer)

# Keras classes a saved proxy may hold: the mapping above plus HGQ's quantizer. Anything else (a
# Lambda layer, an unknown custom object) is refused before Keras deserialises the file.
PROXY_LAYER_CLASSES = frozenset(
    {
        "InputLayer",
        "Dense",
        "Conv2D",
        "ReLU",
        "Activation",
        "MaxPooling2D",
        "Flatten",
        "Subtract",
        "Multiply",
        "Minimum",
        "Add",
        "FixedPointQuantizer",
        "HGQ>FixedPointQuantizer",
    }
)


@dataclass(frozen=True)
class HGQSettings:
    """How an HGQ twin is built and converted (the HGQ counterpart of ``QuantBits``).

    ``beta`` weighs EBOPs in the loss (0: bit widths follow the task loss alone). Bit widths start
    at ``kernel_init_bw`` significant bits per weight (HGQ places them by each weight's magnitude;
    None: ``weight_bits - 1``, the magnitude bits of the QKeras weight), ``activation_init_bw``
    fractional bits per activation (None: those of the QKeras ReLU, ``activation_bits -
    activation_integer``) and, on the input quantizer, ``input_init_bw`` fractional bits (None:
    those of the declared input format), so HGQ starts from the QKeras precision. Activations get a bit
    width per element (``per_element_activations``; None: per element for dense graphs, one per
    tensor for convolutional ones, whose io_stream firmware hls4ml 1.3 cannot give per-element
    types). ``saturate`` makes every proxy quantizer saturate (HGQ's non-"aggressive" mode) instead
    of wrapping: an anomaly beyond the traced range must clip high, never wrap low.
    """

    beta: float = 1e-6
    kernel_init_bw: float | None = None
    activation_init_bw: float | None = None
    input_init_bw: float | None = None
    per_element_activations: bool | None = None
    saturate: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"HGQ beta must be a finite number >= 0, got {self.beta}")
        for name in ("kernel_init_bw", "activation_init_bw", "input_init_bw"):
            value = getattr(self, name)
            if value is not None and not -23 <= value <= 23:
                raise ValueError(f"HGQ {name} must lie in [-23, 23] (HGQ's bit-width clip), got {value}")


def _load_float_weights(new: Any, old: Any, kernel_init_bw: float) -> None:
    """Copy the float kernel and bias into an HGQ layer and place its weight bit widths on them.

    HGQ sets each weight's fractional bits from the kernel it is built with (``adapt_bw_bits``): the
    random initial one here, so this is redone on the float weights.
    """
    import tensorflow as tf

    weights = old.get_weights()
    new.kernel.assign(weights[0])
    if new.use_bias:
        new.bias.assign(weights[1])
    kq = new.kq
    kq.fbw.assign(tf.fill(kq.fbw.shape, float(kernel_init_bw)))
    kq.adapt_bw_bits(new.kernel)  # a weight of exactly 0 gets +inf: clipped next
    kq.fbw.assign(tf.clip_by_value(kq.fbw, *kq.bw_clip))


def to_hgq(
    float_model: Any, bits: QuantBits, settings: HGQSettings | None = None, copy_weights: bool = True
) -> Any:
    """Rebuild a float deployable graph as an HGQ functional model with the same layer names (module doc).

    ``bits`` gives the declared input format (the input quantizer starts at its fractional bits);
    ``copy_weights`` starts from the float weights (frozen layers are always copied).
    """
    import tensorflow as tf
    from HGQ import (
        HConv2D,
        HDense,
        HQuantize,
        PFlatten,
        PMaxPool2D,
        get_default_kq_conf,
        get_default_paq_conf,
    )
    from HGQ.layers import HActivation

    settings = settings or HGQSettings()
    if len(float_model.inputs) != 1 or len(float_model.outputs) != 1:
        raise ValueError(f"model '{float_model.name}' must have one input and one output (the score)")
    conv = any(isinstance(layer, tf.keras.layers.Conv2D) for layer in float_model.layers)
    per_element = (not conv) if settings.per_element_activations is None else settings.per_element_activations
    if conv and per_element:
        raise ValueError("a convolutional graph (hls4ml io_stream) needs one activation bit width per tensor")

    def paq(init_bw: float) -> dict[str, Any]:
        conf = get_default_paq_conf()  # a fresh dict per layer: HGQ layers may edit their own
        conf.update(init_bw=float(init_bw), skip_dims=(0,) if per_element else "all")
        return conf

    def kq() -> dict[str, Any]:
        conf = get_default_kq_conf()
        conf.update(init_bw=kernel_init)
        return conf

    def initial(value: float | None, default: int) -> float:
        return float(default if value is None else value)

    input_init = initial(settings.input_init_bw, bits.input_bits - 1 - bits.input_integer)
    act_init = initial(settings.activation_init_bw, bits.activation_bits - bits.activation_integer)
    kernel_init = initial(settings.kernel_init_bw, bits.weight_bits - 1)
    output_init = float(bits.output_bits - 1 - bits.output_integer)  # the declared output format's
    beta = float(settings.beta)
    plain: set[str] = set()  # layers kept as plain Keras: no HGQ layer may follow them
    fused: set[str] = set()  # ReLUs folded into the HDense/HConv2D before them
    new_inputs: list[Any] = []

    def hgq_args(node: Node, args: list[Any]) -> list[Any]:
        late = [p.name for p in node.inbound if p.name in plain]
        if late:
            raise ValueError(
                f"layer '{node.name}' follows the plain layer '{late[0]}': HGQ layers must precede "
                "Subtract/Multiply/Minimum/Add and frozen Dense layers"
            )
        return args

    def input_layer(node: Node, args: list[Any]) -> Any:
        new_inputs.append(tf.keras.Input(shape=input_shape(node.layer), name=node.name))
        return HQuantize(paq_conf=paq(input_init), beta=beta, name=INPUT_QUANTIZER)(new_inputs[0])

    def frozen_dense(node: Node, args: list[Any]) -> Any:
        layer, name = node.layer, node.name
        new = tf.keras.layers.Dense(layer.units, use_bias=layer.use_bias, trainable=False, name=name)
        out = new(args[0])
        new.set_weights(layer.get_weights())
        plain.add(name)
        if not is_ones_sum(layer):
            # Round the projection (the NuRD head) like QKeras' ``<name>_quantizer``: without it the
            # squares that follow carry every fractional bit of constant x representation.
            quantizer = HQuantize(paq_conf=paq(output_init), beta=0.0, name=name + "_quantizer")
            out = quantizer(out)
        return out

    def weighted(node: Node, args: list[Any]) -> Any:  # Dense and Conv2D
        layer, name, kind = node.layer, node.name, node.kind
        config = layer.get_config()
        if config["activation"] != "linear":
            raise ValueError(f"{kind} '{name}' has a fused activation; use a separate Activation layer")
        if not layer.trainable:
            if kind != "Dense":
                raise ValueError(f"frozen {kind} '{name}' has no HGQ mapping")
            return frozen_dense(node, args)
        args = hgq_args(node, args)
        users = node.consumers
        relu = len(users) == 1 and is_relu(users[0])
        common = dict(
            activation="relu" if relu else None,
            use_bias=layer.use_bias,
            kq_conf=kq(),
            paq_conf=paq(act_init),
            beta=beta,
            name=name,
        )
        if kind == "Dense":
            new = HDense(layer.units, **common)
        else:
            if config["padding"] != "valid" or tuple(config["dilation_rate"]) != (1, 1):
                raise ValueError(f"Conv2D '{name}' must use padding='valid' and no dilation")
            new = HConv2D(config["filters"], config["kernel_size"], strides=config["strides"], **common)
        out = new(args[0])
        if copy_weights:
            _load_float_weights(new, layer, kernel_init)
        if relu:
            fused.add(users[0].name)
        return out

    def activation(node: Node, args: list[Any]) -> Any:
        if not is_relu(node.layer):
            raise ValueError(no_mapping(node.layer, "HGQ"))
        if node.name in fused:  # the HDense/HConv2D before it applies it: its value is theirs
            return args[0]
        args = hgq_args(node, args)
        return HActivation("relu", paq_conf=paq(act_init), beta=beta, name=node.name)(args[0])

    def passive(node: Node, args: list[Any]) -> Any:  # MaxPooling2D, Flatten
        args = hgq_args(node, args)
        kind = PMaxPool2D if node.kind == "MaxPooling2D" else PFlatten
        return kind.from_config(node.layer.get_config())(args[0])

    def merge(node: Node, args: list[Any]) -> Any:  # kept plain: HGQ has no quantized merge
        plain.add(node.name)
        return type(node.layer).from_config(node.layer.get_config())(args)

    handlers = twin_handlers(input_layer, weighted, activation, passive, merge)
    tensors = walk(float_model, handlers, "HGQ", subclasses=False)
    return tf.keras.Model(new_inputs[0], tensors[output_name(float_model)], name=f"hgq_{float_model.name}")


def round_frozen_constants(model: Any, bits: int) -> dict[str, dict[str, float]]:
    """Round the constants of each frozen Dense that is not an all-ones sum to ``quantized_bits(bits, I)``.

    ``I`` comes from the constants' range plus one bit (``constant_integer``, the QKeras rule), rounding
    half to even. The proxy keeps these layers as plain Dense layers, whose fixed-point type hls4ml
    derives from the stored constants: rounded ones give a narrow exact type. Returns per layer the
    integer bits and the largest absolute change.
    """
    import tensorflow as tf

    report: dict[str, dict[str, float]] = {}
    for layer in model.layers:
        if not isinstance(layer, tf.keras.layers.Dense) or layer.trainable or is_ones_sum(layer):
            continue
        if type(layer) is not tf.keras.layers.Dense:
            continue  # a frozen HDense quantizes its own weights
        rounded, entry = [], {}
        for what, value in zip(("kernel", "bias"), layer.get_weights(), strict=False):
            value = np.asarray(value, dtype=np.float64)
            integer = constant_integer(value, bits)
            lsb = 2.0 ** (integer - bits + 1)
            q = np.clip(np.rint(value / lsb), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1) * lsb
            rounded.append(q.astype(np.float32))
            entry[f"{what}_integer"] = integer
            entry[f"{what}_max_abs_change"] = float(np.abs(q - value).max()) if value.size else 0.0
        layer.set_weights(rounded)
        report[layer.name] = entry
    return report


def _hgq_layers(model: Any) -> list[Any]:
    from HGQ.layers import HLayerBase

    return [layer for layer in model.layers if isinstance(layer, HLayerBase)]


def trace_ebops(model: Any, X: np.ndarray, batch_size: int = 16384) -> float:
    """Record every activation's range on ``X`` (HGQ ``trace_minmax``) and return the exact EBOPs.

    EBOPs (HGQ's definition): for each HDense/HConv2D, the sum over its multiplications of
    (bits of the input element) x (bits of the weight), with the traced integer bits and learned
    fractional bits of each input element (sign bit included) and each weight's own bits (its
    non-zero span, sign excluded; a pruned weight counts 0). An HConv2D counts one kernel
    application (the sum over output positions divided by their number, times HGQ's
    ``parallel_factor`` = 1: one streamed kernel instance), not every output pixel. Layers kept plain
    (the AE score, the NuRD head) are not counted. ``X`` must be in the declared input format.
    """
    from HGQ import trace_minmax

    X = np.asarray(X, dtype=np.float32)
    if len(X) == 0:
        raise ValueError("no calibration events")
    return float(trace_minmax(model, X, bsz=batch_size, verbose=False))


def layer_ebops(model: Any) -> dict[str, float]:
    """EBOPs per HGQ layer as left by the last ``trace_ebops`` (0 for quantizer-only layers)."""
    return {layer.name: float(layer.bops.numpy()) for layer in _hgq_layers(model)}


def ebops(model: Any) -> float:
    """Total EBOPs of ``model`` as left by the last ``trace_ebops`` / ``proxy_model``."""
    return float(sum(layer_ebops(model).values()))


def proxy_model(model: Any, X_calib: np.ndarray, saturate: bool = True) -> Any:
    """The hls4ml-ready proxy of a trained HGQ model, its ranges traced on ``X_calib``.

    ``X_calib`` (declared input format) must cover what the firmware will see: the integer bits of
    every activation come from it, and a value beyond them saturates (``saturate``, HGQ's
    ``aggressive=False``) or wraps. Also leaves the exact EBOPs in the model (``ebops``).
    """
    from HGQ import to_proxy_model

    trace_ebops(model, X_calib)
    proxy = to_proxy_model(model, aggressive=not saturate)
    proxy._name = model.name.replace("hgq_", "proxy_", 1)
    return _name_relus(proxy)


def _name_relus(proxy: Any) -> Any:
    """The proxy rebuilt with each ReLU named ``<layer>_relu`` after the layer whose quantizer feeds it.

    HGQ leaves them with Keras' session-global names (``re_lu_7``); stable names make the proxy, its
    hls4ml project and its traces read the same in every session. A functional model keys its graph
    by the names it was built with (renaming a layer in place leaves a config Keras cannot load), so
    the names are changed in the config and the model rebuilt from it.
    """
    import tensorflow as tf

    taken = {layer.name for layer in proxy.layers}
    renames: dict[str, str] = {}
    for layer in proxy.layers:
        parents = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else None
        if type(layer).__name__ == "ReLU" and getattr(parents, "name", "").endswith("_quantizer"):
            name = parents.name[: -len("_quantizer")] + "_relu"
            if name not in taken:
                taken.add(name)
                renames[layer.name] = name
    if not renames:
        return proxy

    def rename(node: Any) -> Any:
        if isinstance(node, str):
            return renames.get(node, node)  # names only: no other config string is a generated ReLU name
        if isinstance(node, list):
            return [rename(v) for v in node]
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items()}
        return node

    with tf.keras.utils.custom_object_scope(hgq_custom_objects()):
        renamed = tf.keras.Model.from_config(rename(proxy.get_config()))
    renamed.set_weights(proxy.get_weights())
    return renamed


def hgq_custom_objects() -> dict[str, Any]:
    """The HGQ objects Keras needs to deserialise a proxy model (its quantizer layer)."""
    from HGQ.proxy import FixedPointQuantizer

    return {"FixedPointQuantizer": FixedPointQuantizer, "HGQ>FixedPointQuantizer": FixedPointQuantizer}


def save_proxy(proxy: Any, path: str | Path) -> None:
    """Save a proxy model as HDF5 (atomically: a crash leaves no half-written file)."""
    with atomic_path(path) as tmp:
        proxy.save(tmp, save_format="h5", include_optimizer=False)


def _layer_classes(config: Any) -> set[str]:
    """Every ``class_name`` of a layer in a (nested) Keras model config."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict):
                if "layers" in node["config"]:
                    walk(node["config"]["layers"])
                else:
                    found.add(node["class_name"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config.get("config", {}).get("layers", []))
    return found


def load_proxy(path: str | Path) -> Any:
    """Load a proxy saved by ``save_proxy``; layer classes outside ``PROXY_LAYER_CLASSES`` are refused
    before anything is deserialised (a Lambda layer would run stored code)."""
    import h5py
    import tensorflow as tf

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "HGQ proxy model file not found")
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(path, f"not a Keras HDF5 model ({exc})") from None
    unknown = sorted(_layer_classes(config) - PROXY_LAYER_CLASSES)
    if unknown:
        raise InputError(path, f"layer classes {unknown} are not part of an HGQ proxy model")
    try:
        return tf.keras.models.load_model(path, custom_objects=hgq_custom_objects(), compile=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a loadable HGQ proxy model ({exc})") from None


@functools.lru_cache(maxsize=1)
def _exact_quantizer_class() -> type:
    """FixedPointQuantizer evaluated in float64 (HGQ's own casts everything to float32)."""
    import tensorflow as tf
    from HGQ.proxy import FixedPointQuantizer

    class ExactFixedPointQuantizer(FixedPointQuantizer):
        def call(self, x: Any, training: Any = None) -> Any:
            x = tf.cast(x, tf.float64)
            k, b, i = (tf.cast(v, tf.float64) for v in (self.keep_negative, self.bits, self.integers))
            scale = tf.pow(tf.constant(2.0, tf.float64), b - i)  # exact: integer exponents
            y = x * scale
            if self.RND == "TRN":
                y = tf.floor(y)
            elif self.RND == "RND":  # round half up, as ap_fixed's AP_RND
                y = tf.floor(y + 0.5)
            elif self.RND == "RND_CONV":
                y = tf.round(y)
            else:
                raise ValueError(f"quantizer '{self.name}': rounding mode {self.RND} not supported")
            high = tf.pow(tf.constant(2.0, tf.float64), b - k) - 1.0
            low = -(high + 1.0) * k
            if self.SAT == "SAT":
                y = tf.clip_by_value(y, low, high)
            elif self.SAT == "WRAP":
                y = tf.math.floormod(y - low, high - low + 1.0) + low
            else:
                raise ValueError(f"quantizer '{self.name}': overflow mode {self.SAT} not supported")
            return y / scale * tf.cast(b != 0, tf.float64)

    return ExactFixedPointQuantizer


def exact_proxy(proxy: Any) -> Any:
    """A float64 twin of ``proxy``: every value of these fixed-point models is exact in float64.

    The proxy itself runs in float32, whose 24-bit mantissa cannot hold a wide sum (an AE square of
    a 16-bit residual); the twin is the bit-level reference csim is compared with.
    """
    import tensorflow as tf

    from quantize.qmodels import _floatx

    config = proxy.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float64"
    exact = _exact_quantizer_class()
    with (
        _floatx("float64"),
        tf.keras.utils.custom_object_scope({"FixedPointQuantizer": exact, "HGQ>FixedPointQuantizer": exact}),
    ):  # a scope, not custom_objects=: Keras looks up its global registry (where HGQ is) before those
        twin = tf.keras.Model.from_config(config)
    twin.set_weights(proxy.get_weights())
    return twin


def proxy_scores(proxy: Any, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """The proxy's score per event, shape (N,), evaluated exactly (float64; ``exact_proxy``).

    ``X`` must be in the declared input format (``quantize_inputs``), as csim gets it.
    """
    X = np.asarray(X)
    if len(X) == 0:
        raise ValueError("no events to evaluate")
    twin = exact_proxy(proxy)
    out = [
        np.asarray(
            twin(np.asarray(X[s : s + batch_size], dtype=np.float64), training=False), dtype=np.float64
        )
        for s in range(0, len(X), batch_size)
    ]
    return np.concatenate(out).reshape(len(X), -1)[:, 0]


def proxy_summary(proxy: Any) -> dict[str, Any]:
    """Bit widths the proxy holds: per quantizer the mean and largest width and the zero-width (pruned)
    fraction; per weight layer the fraction of weights that are exactly 0."""
    import tensorflow as tf
    from HGQ.proxy import FixedPointQuantizer

    quantizers, weights = {}, {}
    for layer in proxy.layers:
        if isinstance(layer, FixedPointQuantizer):
            b = layer.bits.numpy().astype(np.float64)
            quantizers[layer.name] = {
                "mean_bits": float(b.mean()),
                "max_bits": int(b.max()),
                "zero_fraction": float(np.mean(b == 0)),
                "rounding": layer.RND,
                "overflow": layer.SAT,
            }
        elif isinstance(layer, (tf.keras.layers.Dense, tf.keras.layers.Conv2D)):
            kernel = layer.get_weights()[0]
            weights[layer.name] = {
                "zero_weight_fraction": float(np.mean(kernel == 0)),
                "n_weights": int(kernel.size),
            }
    return {"quantizers": quantizers, "weights": weights}
