"""Float deployable graphs rebuilt as QKeras graphs with the same layer names, plus the input format.

The QKeras graph is the bit-level definition of what goes on chip: firmware types derive from its
quantizers (``firmware.hls``) and csim is compared with its exact (float64) evaluation bit by bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import QuantBits
from l1ad.errors import InputError
from l1ad.fixedpoint import OUTPUT_QUANTIZER_SUFFIX, check_quantized_bits, constant_integer
from l1ad.io import atomic_path
from l1ad.untrusted import load_keras_model, qkeras_custom_objects
from quantize.graph import Node, input_shape, no_mapping, output_name, twin_handlers, walk

INPUT_QUANTIZER = "input_quantizer"  # name of the QActivation that declares the input format


def quantizer_strings(bits: QuantBits) -> dict[str, str]:
    """QKeras quantizer strings per role: input, kernel, bias, activation (relu), output (linear Dense)."""
    check_quantized_bits("input", bits.input_bits, bits.input_integer)
    check_quantized_bits("weight", bits.weight_bits, bits.weight_integer)
    check_quantized_bits("bias", bits.bias_bits, bits.bias_integer)
    check_quantized_bits("output", bits.output_bits, bits.output_integer)
    if not 1 <= bits.activation_bits <= 32 or not 0 <= bits.activation_integer <= bits.activation_bits:
        raise ValueError(
            f"activation: quantized_relu({bits.activation_bits},{bits.activation_integer}) needs "
            "1 <= bits <= 32 and 0 <= integer <= bits"
        )
    return {
        "input": f"quantized_bits({bits.input_bits},{bits.input_integer},alpha=1)",
        "kernel": f"quantized_bits({bits.weight_bits},{bits.weight_integer},alpha=1)",
        "bias": f"quantized_bits({bits.bias_bits},{bits.bias_integer},alpha=1)",
        "activation": f"quantized_relu({bits.activation_bits},{bits.activation_integer})",
        "output": f"quantized_bits({bits.output_bits},{bits.output_integer},alpha=1)",
    }


def input_format(bits: QuantBits) -> str:
    """The HLS type the trigger must deliver, e.g. ``ap_fixed<16,7>`` (ap_fixed's I counts the sign bit)."""
    check_quantized_bits("input", bits.input_bits, bits.input_integer)
    return f"ap_fixed<{bits.input_bits},{bits.input_integer + 1}>"


def quantize_inputs(X: np.ndarray, bits: int, integer: int) -> np.ndarray:
    """What ``quantized_bits(bits, integer, alpha=1)`` does to ``X``, in numpy (float32 values).

    QKeras first casts to float32, scales by a power of two (exact), rounds half to even
    (``tf.round``) and clips to the two's-complement range; the same steps here.
    """
    check_quantized_bits("input", bits, integer)
    x = np.asarray(X, dtype=np.float32).astype(np.float64)
    m = 2.0 ** (bits - 1)
    scale = 2.0**integer / m  # the LSB
    q = np.clip(np.rint(x / scale), -m, m - 1)
    return (q * scale).astype(np.float32)


def declared_inputs(X: np.ndarray, bits: QuantBits) -> np.ndarray:
    """``X`` in the declared input format of ``bits`` (``quantize_inputs``): what the trigger delivers,
    what the quantized twins are trained and scored on and what the firmware reads."""
    return quantize_inputs(X, bits.input_bits, bits.input_integer)


def input_range(bits: QuantBits) -> tuple[float, float]:
    """The values the declared input format holds: quantized_bits(bits, integer) spans [-2^I, 2^I - LSB]."""
    hi = 2.0**bits.input_integer
    return -hi, hi - 2.0 ** -(bits.input_bits - bits.input_integer - 1)


def clip_to_input_range(X: np.ndarray, bits: QuantBits) -> np.ndarray:
    """``X`` clipped to ``input_range``, not rounded: the float model fed what the format can hold, so its
    efficiency against the unclipped float model is what the range costs."""
    return np.clip(np.asarray(X, dtype=np.float32), *input_range(bits))


def constant_quantizer(values: np.ndarray, bits: int, headroom_bits: int = 1) -> str:
    """``quantized_bits(bits, integer)`` for fixed constants, ``integer`` from ``constant_integer``."""
    return f"quantized_bits({bits},{constant_integer(values, bits, headroom_bits)},alpha=1)"


def is_ones_sum(layer: Any) -> bool:
    """A frozen all-ones Dense without bias: the on-chip sum, exact in fixed point and kept as is."""
    import tensorflow as tf

    return (
        isinstance(layer, tf.keras.layers.Dense)
        and not layer.trainable
        and not layer.use_bias
        and bool(np.all(layer.get_weights()[0] == 1.0))
    )


def to_qkeras(float_model: Any, bits: QuantBits, copy_weights: bool = True) -> Any:
    """Rebuild a float deployable graph as a QKeras functional model with the same layer names.

    Mapping: Input -> Input + ``input_quantizer``; Dense -> QDense and Conv2D -> QConv2D (plus
    ``<name>_quantizer`` with the output format when a non-ReLU layer consumes it); ReLU ->
    quantized_relu; MaxPooling2D, Flatten, Subtract, Multiply, Minimum, Add kept; a frozen
    all-ones Dense without bias (the on-chip sum) kept as is; any other frozen Dense (the NuRD
    Mahalanobis projection) -> a frozen QDense whose constants take ``bits.output_bits`` bits with
    integer bits from their range plus one (``constant_quantizer``), its output quantized to the
    output format. The model output (the OCDN logit, the AE sum, the NuRD distance) gets no
    rounding quantizer: the firmware keeps the exact value there, so the on-chip score loses
    nothing and cannot round differently.
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    q = quantizer_strings(bits)
    if len(float_model.inputs) != 1 or len(float_model.outputs) != 1:
        raise ValueError(f"model '{float_model.name}' must have one input and one output (the score)")
    new_inputs: list[Any] = []

    def bounded(node: Node, out: Any) -> Any:
        users = node.consumers
        if users and not all(is_relu(u) for u in users):
            return QActivation(q["output"], name=node.name + OUTPUT_QUANTIZER_SUFFIX)(out)
        return out

    def input_layer(node: Node, args: list[Any]) -> Any:
        new_inputs.append(tf.keras.Input(shape=input_shape(node.layer), name=node.name))
        return QActivation(q["input"], name=INPUT_QUANTIZER)(new_inputs[0])

    def weighted(node: Node, args: list[Any]) -> Any:  # Dense and Conv2D
        layer, name, kind = node.layer, node.name, node.kind
        if layer.get_config()["activation"] != "linear":
            raise ValueError(f"{kind} '{name}' has a fused activation; use a separate Activation layer")
        if is_ones_sum(layer):
            new = tf.keras.layers.Dense(layer.units, use_bias=False, trainable=False, name=name)
            out = new(args[0])
            new.set_weights(layer.get_weights())
            return out
        if kind == "Dense" and not layer.trainable:
            kernel, bias = layer.get_weights()
            new = QDense(
                layer.units,
                kernel_quantizer=constant_quantizer(kernel, bits.output_bits),
                bias_quantizer=constant_quantizer(bias, bits.output_bits),
                trainable=False,
                name=name,
            )
        elif not layer.trainable:
            raise ValueError(f"frozen {kind} '{name}' has no QKeras mapping")
        elif kind == "Dense":
            new = QDense(
                layer.units,
                kernel_quantizer=q["kernel"],
                bias_quantizer=q["bias"],
                use_bias=layer.use_bias,
                name=name,
            )
        else:
            config = layer.get_config()
            if config["padding"] != "valid" or tuple(config["dilation_rate"]) != (1, 1):
                raise ValueError(f"Conv2D '{name}' must use padding='valid' and no dilation")
            new = QConv2D(
                config["filters"],
                config["kernel_size"],
                strides=config["strides"],
                kernel_quantizer=q["kernel"],
                bias_quantizer=q["bias"],
                use_bias=layer.use_bias,
                name=name,
            )
        out = new(args[0])
        if copy_weights or not layer.trainable:
            new.set_weights(layer.get_weights())
        return bounded(node, out)

    def activation(node: Node, args: list[Any]) -> Any:
        if not is_relu(node.layer):
            raise ValueError(no_mapping(node.layer, "QKeras"))
        return QActivation(q["activation"], name=node.name)(args[0])

    handlers = twin_handlers(input_layer, weighted, activation, passive=rebuilt, merge=rebuilt)
    tensors = walk(float_model, handlers, "QKeras", subclasses=False)
    return tf.keras.Model(new_inputs[0], tensors[output_name(float_model)], name=f"q{float_model.name}")


def is_relu(layer: Any) -> bool:
    """A Keras ``Activation`` layer applying ReLU (QKeras: ``quantized_relu``; HGQ: fused or HActivation)."""
    import tensorflow as tf

    return isinstance(layer, tf.keras.layers.Activation) and layer.get_config()["activation"] == "relu"


def rebuilt(node: Node, args: list[Any]) -> Any:
    """``node``'s layer rebuilt from its own config and called on ``args`` (a layer that only moves,
    selects or combines values exactly)."""
    new = type(node.layer).from_config(node.layer.get_config())
    return new(args if len(args) > 1 else args[0])


# QKeras layers whose weights are exactly [kernel, bias], in the order of their get_quantizers()
PREQUANTIZABLE = ("QDense", "QConv1D", "QConv2D")


def clone_graph(
    model: Any,
    declare_input: Any = None,
    linear: frozenset[str] = frozenset(),
    dtype: str | None = None,
    prequantize: frozenset[str] = frozenset(),
) -> Any:
    """A copy of ``model`` with its weights; ``declare_input`` (a layer) is put between the input and
    its readers, layers named in ``linear`` lose their fused activation, and ``dtype`` (e.g. "float64")
    replaces every layer's dtype. The QKeras layers named in ``prequantize`` (every one with ``dtype``)
    hold their kernel and bias already quantized, without quantizers: the same values, exactly.

    Layers are rebuilt from their Python config (``get_config``) and called in the model's
    topological order: the JSON form cannot rebuild a QActivation holding a quantizer object, and
    Keras' ``clone_model`` does not insert layers.
    """
    import tensorflow as tf

    inputs: list[Any] = []

    def input_layer(node: Node, args: list[Any]) -> Any:
        inp = tf.keras.Input(shape=input_shape(node.layer), name=node.name, dtype=dtype)
        inputs.append(inp)
        return inp if declare_input is None else declare_input(inp)

    def layer_copy(node: Node, args: list[Any]) -> Any:
        layer = node.layer
        config = layer.get_config()
        if layer.name in linear:
            config["activation"] = "linear"
        weights = layer.get_weights()
        if dtype is not None:
            config["dtype"] = dtype
        if dtype is not None or layer.name in prequantize:
            if type(layer).__name__ in PREQUANTIZABLE:
                # QKeras quantizes a layer's kernel and bias in float32 at every call; the twin takes them
                # so quantized (values exact on their grid) and drops the quantizers, which not all run
                # in float64 (quantized_po2's float32 constants)
                quantizers = layer.get_quantizers()
                weights = [
                    w if q is None else np.asarray(q(w), dtype=np.float64)
                    for w, q in zip(weights, quantizers, strict=False)
                ]
                config["kernel_quantizer"] = config["bias_quantizer"] = None
                # the twin is not trained: no initializers or constraints (QKeras' own need its objects)
                config["kernel_initializer"] = config["bias_initializer"] = "zeros"  # set_weights follows
                config["kernel_constraint"] = config["bias_constraint"] = None
        new = type(layer).from_config(config)
        out = new(args if len(args) > 1 else args[0])
        if weights:
            new.set_weights(weights)
        return out

    tensors = walk(model, {"InputLayer": input_layer, "Layer": layer_copy}, "copy")  # refuses shared layers
    outputs = [tensors[n] for n in model.output_names]
    return tf.keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def frozen_constants(qmodel: Any) -> dict[str, dict[str, Any]]:
    """The quantized constants of each frozen QDense (the NuRD head) and their error against float.

    Per layer and weight ("kernel", "bias"): the QKeras quantizer, its LSB, the largest absolute
    error of the stored constants after quantization, that error relative to the largest constant,
    and the quantized values themselves (what the firmware holds).
    """
    from qkeras import QDense

    out: dict[str, dict[str, Any]] = {}
    for layer in qmodel.layers:
        if not isinstance(layer, QDense) or layer.trainable:
            continue
        entry = {}
        for what, value, quantizer in (
            ("kernel", layer.kernel, layer.kernel_quantizer_internal),
            ("bias", layer.bias, layer.bias_quantizer_internal),
        ):
            exact = np.asarray(value, dtype=np.float64)
            rounded = np.asarray(quantizer(value), dtype=np.float64)
            error = np.abs(rounded - exact)
            peak = float(np.abs(exact).max())
            entry[what] = {
                "quantizer": str(quantizer),
                "lsb": 2.0 ** (int(quantizer.integer) - int(quantizer.bits) + 1),
                "max_abs_error": float(error.max()),
                "max_rel_error": float(error.max() / peak) if peak > 0 else 0.0,
                "max_abs_value": peak,
                "values": rounded.tolist(),
            }
        out[layer.name] = entry
    return out


def save_qmodel(model: Any, path: str | Path) -> None:
    """Save a QKeras model as HDF5 (atomically: a crash leaves no half-written file)."""
    with atomic_path(path) as tmp:
        model.save(tmp, save_format="h5", include_optimizer=False)


def load_qmodel(path: str | Path) -> Any:
    """Load a QKeras model saved by ``save_qmodel``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "QKeras model file not found")
    # Inspected first: only Keras/QKeras classes (no Lambda, no custom objects), so nothing in the file runs.
    return load_keras_model(path, custom_objects=qkeras_custom_objects())


@contextlib.contextmanager
def _floatx(dtype: str) -> Iterator[None]:
    import tensorflow as tf

    old = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx(dtype)
    try:
        yield
    finally:
        tf.keras.backend.set_floatx(old)


def _exact_batches(
    qmodel: Any, X: np.ndarray, layer_names: list[str] | None, batch_size: int
) -> Iterator[list[np.ndarray]]:
    """Yield, batch by batch, the float64 outputs of ``layer_names`` (None: the model output)."""
    import tensorflow as tf

    if len(X) == 0:
        raise ValueError("no events to evaluate")

    with _floatx("float64"):
        twin = clone_graph(qmodel, dtype="float64")
        outputs = [twin.output] if layer_names is None else [twin.get_layer(n).output for n in layer_names]
        probe = tf.keras.Model(twin.input, outputs)
        for start in range(0, len(X), batch_size):
            result = probe(np.asarray(X[start : start + batch_size], dtype=np.float64), training=False)
            result = result if isinstance(result, (list, tuple)) else [result]
            yield [np.asarray(r, dtype=np.float64) for r in result]


def exact_outputs(
    qmodel: Any, X: np.ndarray, layer_names: list[str] | None = None, batch_size: int = 8192
) -> dict[str, np.ndarray]:
    """Outputs of ``layer_names`` (default: the model output, key ``"output"``) evaluated in float64.

    In float32, QKeras rounds wide sums: an AE square of a 16-bit residual has up to 34
    significant bits, the float32 mantissa 24, so the reference itself would be off by
    several score LSBs. The same graph in float64 holds every fixed-point value of these
    models exactly, which makes it the bit-level reference for csim. (QKeras' quantized_relu
    still casts its own input to float32: see ``firmware.csim.relu_inputs_beyond_float32``.)
    """
    names = ["output"] if layer_names is None else list(layer_names)
    chunks: list[list[np.ndarray]] = [[] for _ in names]
    for result in _exact_batches(qmodel, X, layer_names, batch_size):
        for chunk, r in zip(chunks, result, strict=True):
            chunk.append(r)
    return {n: np.concatenate(c) for n, c in zip(names, chunks, strict=True)}


def exact_ranges(
    qmodel: Any, X: np.ndarray, layer_names: list[str], batch_size: int = 2048
) -> dict[str, tuple[float, float]]:
    """(min, max) of each layer's exact (float64) output over ``X``, without holding the outputs.

    A convolution's feature maps over a whole training set would not fit in memory.
    """
    lo = {n: np.inf for n in layer_names}
    hi = {n: -np.inf for n in layer_names}
    for result in _exact_batches(qmodel, X, layer_names, batch_size):
        for n, r in zip(layer_names, result, strict=True):
            lo[n], hi[n] = min(lo[n], float(r.min())), max(hi[n], float(r.max()))
    return {n: (lo[n], hi[n]) for n in layer_names}


def predict_exact(qmodel: Any, X: np.ndarray) -> np.ndarray:
    """The QKeras score per event, shape (N,), evaluated exactly (float64; see ``exact_outputs``)."""
    return exact_outputs(qmodel, X)["output"].reshape(len(X), -1)[:, 0]
