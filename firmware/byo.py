"""Bring your own model: a QKeras or Keras-2 model trained elsewhere -> validated hls4ml firmware.

The model file is inspected before Keras deserialises it: a Lambda layer or a custom object would run
code stored in, or referenced by, the file, so such models are refused with the layer named.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware import resources
from firmware.csim import compile_and_predict, csim_agreement
from firmware.hls import (
    FixedFormat,
    base_config,
    convert,
    format_of,
    layer_precisions,
    output_lsb,
    precision_cpp,
)
from l1ad.config import FirmwareConfig
from l1ad.errors import InputError
from l1ad.io import require_finite, write_json
from quantize.qmodels import exact_outputs, qkeras_custom_objects
from training.data.h5read import open_h5, read_chunked, require_dataset

MODEL_CLASSES = {"Functional", "Sequential", "Model"}
# Keras' own JSON encodings of plain data inside configs (keras/src/saving/legacy/saved_model/json_utils.py)
KERAS_ENCODINGS = {"TensorShape", "__tuple__", "__ellipsis__", "__bytes__"}
TRUSTED_MODULES = ("keras", "qkeras", "tensorflow", "tf_keras")
TRAINING_ONLY = {
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "SpatialDropout1D",
}
SUPPORTED_LAYERS_HINT = "Dense, Conv1D/2D, pooling, BatchNormalization, activations, Add/Subtract/Multiply"


def _known_class_names() -> set[str]:
    """Classes Keras and QKeras deserialise from their own code: built-in layers, initialisers, ..."""
    import tensorflow as tf

    names = set(MODEL_CLASSES) | KERAS_ENCODINGS | set(qkeras_custom_objects())
    for module in (
        tf.keras.layers,
        tf.keras.mixed_precision,
        tf.keras.initializers,
        tf.keras.regularizers,
        tf.keras.constraints,
        tf.keras.activations,
    ):
        names |= {n for n in dir(module) if not n.startswith("_")}
    names.discard("Lambda")
    return names


def _read_config(path: Path, weights: Path | None) -> dict[str, Any]:
    """The model's architecture as JSON, read without deserialising anything."""
    if path.suffix.lower() == ".json":
        if weights is None:
            raise InputError(path, "a JSON architecture needs its weights file (.h5) as well")
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(path, f"not a readable Keras JSON architecture ({exc})") from None
    with open_h5(path) as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        raise InputError(
            path, "HDF5 file holds no model_config (weights only?): give the architecture JSON with it"
        )
    try:
        return json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"model_config attribute is not valid JSON ({exc})") from None


def inspect_config(config: dict[str, Any], path: str | Path) -> None:
    """Refuse Lambda layers and custom objects anywhere in a Keras model config (nothing is deserialised)."""
    known = _known_class_names()
    quantized = set(qkeras_custom_objects())

    def walk(node: Any, owner: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, owner)
            return
        if not isinstance(node, dict):
            return
        name = node.get("class_name")
        inner = node.get("config")
        if isinstance(name, str):
            if isinstance(inner, dict) and isinstance(inner.get("name"), str) and name not in MODEL_CLASSES:
                owner = inner["name"]
            if name == "Lambda":
                raise InputError(
                    path,
                    f"layer '{owner}' is a Lambda layer: loading it would execute Python code stored in "
                    "the file; rebuild the model with built-in layers (e.g. Activation, Add, Multiply)",
                )
            module = node.get("module")
            registered = node.get("registered_name")
            foreign_module = isinstance(module, str) and module.split(".")[0] not in TRUSTED_MODULES
            foreign_registration = isinstance(registered, str) and registered not in quantized | {name}
            if name not in known or foreign_module or foreign_registration:
                origin = f" from module '{module}'" if isinstance(module, str) else ""
                raise InputError(
                    path,
                    f"layer '{owner}' uses '{registered or name}'{origin}, a custom object outside Keras and "
                    "QKeras: loading it would run code from outside l1ad; rebuild it from Keras/QKeras layers",
                )
        for value in node.values():
            walk(value, owner)

    walk(config, "model")


def load_user_model(path: str | Path, weights: str | Path | None = None) -> Any:
    """Load a QKeras or Keras-2 model (``.h5``, or JSON architecture + ``weights`` .h5) after inspecting it.

    Lambda layers and custom objects outside Keras/QKeras are refused before Keras deserialises
    anything (``InputError`` naming the layer); the optimizer and training config are not loaded.
    """
    import tensorflow as tf

    path = Path(path)
    weights = None if weights is None else Path(weights)
    if not path.is_file():
        raise InputError(path, "model file not found")
    if weights is not None and not weights.is_file():
        raise InputError(weights, "weights file not found")
    inspect_config(_read_config(path, weights), path)
    try:
        if path.suffix.lower() == ".json":
            model = tf.keras.models.model_from_json(path.read_text(), custom_objects=qkeras_custom_objects())
            model.load_weights(weights)
        else:
            model = tf.keras.models.load_model(path, custom_objects=qkeras_custom_objects(), compile=False)
            if weights is not None:
                model.load_weights(weights)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(weights or path, f"not a loadable Keras/QKeras model ({exc})") from None
    return model


def _flat_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        layers.extend(_flat_layers(layer) if hasattr(layer, "layers") else [layer])
    return layers


def check_hls4ml_support(model: Any, path: str | Path) -> None:
    """Refuse, in one line naming the layer, a layer hls4ml cannot convert."""
    import hls4ml

    supported = set(hls4ml.converters.get_supported_keras_layers()) | {"Dropout"}  # Dropout is skipped
    for layer in _flat_layers(model):
        cls = type(layer).__name__
        if cls in supported:
            continue
        if cls in TRAINING_ONLY:
            what = "it acts only in training: remove it before exporting the model"
        elif cls in ("TFOpLambda", "SlicingOpLambda"):
            what = "a TensorFlow operation applied to a tensor: express it with Keras layers"
        else:
            what = f"replace it with supported layers ({SUPPORTED_LAYERS_HINT})"
        raise InputError(
            path, f"layer '{layer.name}' ({cls}) is not supported by hls4ml {hls4ml.__version__}: {what}"
        )


def read_inputs(
    path: str | Path, input_shape: tuple[int, ...], key: str | None = None, max_events: int = 20_000
) -> np.ndarray:
    """User inputs from ``.npy`` or HDF5 (dataset ``key``, or the file's only dataset), shape (N, *input_shape)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise InputError(path, "file not found")
        try:
            X = np.load(path, allow_pickle=False)[:max_events]
        except (OSError, ValueError) as exc:
            raise InputError(path, f"not a readable .npy array ({exc})") from None
        if X.dtype.kind not in "fiub" or X.size == 0:
            raise InputError(path, f"expected a non-empty numeric array, got {X.dtype} {X.shape}")
        X = require_finite(X.astype(np.float64), path, "inputs")
    else:
        with open_h5(path) as f:
            if key is None:
                datasets = [k for k in f.keys() if hasattr(f[k], "shape")]
                if len(datasets) != 1:
                    raise InputError(path, f"name the input dataset: found {', '.join(datasets) or 'none'}")
                key = datasets[0]
            ds = require_dataset(f, key, path)
            X = read_chunked(ds, path, key, chunk_events=8192, max_events=max_events, dtype=np.float64)
    if tuple(X.shape[1:]) != tuple(input_shape):
        if int(np.prod(X.shape[1:])) != int(np.prod(input_shape)):
            raise InputError(
                path, f"inputs have shape {X.shape[1:]} per event, the model takes {input_shape}"
            )
        X = X.reshape(len(X), *input_shape)
    return X


def _on_grid(X: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """``X`` rounded (half to even) to ``fmt``'s grid and clipped to its range: what the trigger delivers."""
    return np.clip(np.rint(np.asarray(X, dtype=np.float64) / fmt.lsb) * fmt.lsb, fmt.lo, fmt.hi)


def _integer_bits(max_abs: float, frac: int) -> int:
    """Fewest integer bits (sign included) of a signed type holding +-max_abs at 2^-frac."""
    integer = 1
    while max_abs > 2.0 ** (integer - 1) - 2.0**-frac:
        integer += 1
    return integer


_CONFIG_TYPE = re.compile(r"(?:ap_)?(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)")


def _frac_of(precision: str) -> int:
    match = _CONFIG_TYPE.search(precision)
    if not match:
        raise ValueError(f"precision '{precision}' is not a fixed-point type")
    return int(match.group(2)) - int(match.group(3))


def _input_quantizer(model: Any) -> Any | None:
    """The quantized_bits QActivation right after the input, when the model declares its input format."""
    from qkeras import QActivation

    users = [n.outbound_layer for n in model.layers[0].outbound_nodes]
    if len(users) == 1 and isinstance(users[0], QActivation):
        if type(users[0].quantizer).__name__ == "quantized_bits":
            return users[0].quantizer
    return None


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
    weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
    if hasattr(layer, "get_quantizers"):
        quantizers = layer.get_quantizers()  # may list more than the weights (no bias, activation)
        weights = [
            w if q is None else np.asarray(q(w), dtype=np.float64)
            for w, q in zip(weights, quantizers, strict=False)
        ]
    return dict(zip(("weight", "bias"), weights, strict=False))


def explicit_config(
    model: Any, X: np.ndarray, fw: FirmwareConfig, frac_bits: int, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An hls4ml config with every precision set on purpose (never "auto"), for any supported model.

    Constants without a quantizer (weights, biases, batch-norm scales) get ``frac_bits`` fractional
    bits and the integer bits of their largest value. Dense/Conv accumulators and results keep every
    fractional bit of their products and the integer bits of the largest sum the profiled input
    range allows (sum |w| x max |input| + |b|) plus ``fw.headroom_bits``: they do not wrap. Other
    tensors (activations, merges, pooling) get ``frac_bits`` and their profiled range on ``X`` plus
    ``fw.headroom_bits``, saturating beyond. ``overrides`` (an hls4ml-style config) wins last.
    """
    import tensorflow as tf

    config = base_config(model, fw)
    keras_layers = {layer.name: layer for layer in _flat_layers(model)}
    names = [n for n, layer in keras_layers.items() if not isinstance(layer, tf.keras.layers.InputLayer)]
    profile = {n: np.abs(v).max(initial=0.0) for n, v in exact_outputs(model, X, names).items()}
    input_name = model.layers[0].name
    profile[input_name] = float(np.abs(X).max(initial=0.0))
    out_frac: dict[str, int] = {}  # fractional bits of each Keras layer's final output
    result_of: dict[str, str] = {}  # result type of each Keras layer itself (before a split activation)

    def profiled(max_abs: float, frac: int) -> str:
        integer = _integer_bits(max_abs, frac) + fw.headroom_bits
        return f"ap_fixed<{integer + frac},{integer},AP_TRN,AP_SAT>"

    def base_of(name: str) -> tuple[str | None, str]:
        if name in keras_layers:
            return name, ""
        owners = [k for k in keras_layers if name.startswith(k + "_")]
        if not owners:
            return None, ""
        owner = max(owners, key=len)
        return owner, name[len(owner) + 1 :]

    def inbound_of(layer: Any) -> str:
        return tf.nest.flatten(layer.inbound_nodes[0].inbound_layers)[0].name

    for name, layer_config in config["LayerName"].items():
        precision = layer_config.setdefault("Precision", {})
        layer_config["ReuseFactor"] = fw.reuse_factor
        owner, suffix = base_of(name)
        layer = keras_layers.get(owner) if owner else None
        constants = _layer_constants(layer) if layer is not None and not suffix else {}
        for key, values in constants.items():
            if precision.get(key) == "auto":
                integer = _integer_bits(float(np.abs(values).max(initial=0.0)), frac_bits)
                precision[key] = f"ap_fixed<{integer + frac_bits},{integer}>"
        if owner == input_name and not suffix:
            precision["result"] = profiled(profile[input_name], frac_bits)
        elif "weight" in constants and isinstance(precision.get("weight"), str):
            # a Dense or Conv: products kept exact, integer bits for the largest sum the profiled
            # input range allows (plus headroom), so the accumulator never wraps
            source = inbound_of(layer)
            kernel = np.abs(constants["weight"]).reshape(-1, constants["weight"].shape[-1])
            bias = np.abs(constants.get("bias", 0.0))
            bound = float((kernel.sum(axis=0) * profile.get(source, 0.0) + bias).max(initial=0.0))
            frac = out_frac.get(source, frac_bits) + _frac_of(precision["weight"])
            if isinstance(precision.get("bias"), str):
                frac = max(frac, _frac_of(precision["bias"]))
            integer = _integer_bits(bound, frac) + fw.headroom_bits
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
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def _read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "hls4ml config file not found")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise InputError(path, "expected an hls4ml config mapping (Model, LayerName, ...)")
    unknown = set(loaded) - {"Model", "LayerName", "LayerType"}
    if unknown:
        raise InputError(
            path, f"unknown top-level keys {sorted(unknown)}; expected Model, LayerName, LayerType"
        )
    return loaded


def byo_firmware(
    model_path: str | Path,
    out_dir: str | Path,
    fw: FirmwareConfig,
    data: str | Path | None = None,
    input_range: tuple[float, float] | None = None,
    hls_config_yaml: str | Path | None = None,
    weights: str | Path | None = None,
    data_key: str | None = None,
    n_events: int = 2000,
    frac_bits: int = 16,
    seed: int = 0,
    project_name: str = "l1ad_byo",
) -> dict[str, Any]:
    """Convert, compile and validate a user's model; returns (and writes) its report row.

    Inputs: the user's array (``data``: .npy or HDF5) or ``n_events`` drawn uniformly in
    ``input_range``; either is put on the input format's grid (the model's input quantizer, or the
    input type of the explicit config) and fed to Keras (float64) and to csim alike. A model with
    an input quantizer and no YAML config goes through ``firmware.hls.convert`` (types from the
    quantizers, bit-exact by design); any other model gets ``explicit_config`` (YAML on top).
    """
    import tensorflow as tf

    model_path, out_dir = Path(model_path), Path(out_dir)
    model = load_user_model(model_path, weights)
    check_hls4ml_support(model, model_path)
    if isinstance(model, tf.keras.Sequential):  # the same graph as a functional model (explicit Input layer)
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(model_path, "the model must have one input and one output (the score)")
    input_shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    if data is not None:
        X = read_inputs(data, input_shape, data_key)
        inputs = f"user data {Path(data).name} ({len(X)} events)"
    elif input_range is not None:
        lo, hi = (float(v) for v in input_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"input range must be finite with low < high, got {input_range}")
        X = np.random.default_rng(seed).uniform(lo, hi, (n_events, *input_shape))
        inputs = f"{n_events} events uniform in [{lo:g}, {hi:g}]"
    else:
        raise InputError(
            model_path, "give input data (HDF5/npy) or an input range to validate csim against Keras"
        )

    notes: list[str] = []
    quantizer = _input_quantizer(model)
    overrides = _read_yaml(hls_config_yaml) if hls_config_yaml is not None else None
    if quantizer is not None:
        X = np.asarray(quantizer(tf.constant(X, dtype=tf.float32)), dtype=np.float64)
    project = out_dir / "hls_project"
    t0 = time.perf_counter()
    hls_model = None
    route = "explicit"
    if quantizer is not None and overrides is None:
        try:
            hls_model = convert(model, project, fw, profile_inputs=X, project_name=project_name)
            route = "quantizers"
        except ValueError as exc:
            notes.append(f"types from the quantizers unavailable ({exc}): explicit precisions used")
    if hls_model is None:
        import hls4ml

        config = explicit_config(model, X, fw, frac_bits, overrides)
        hls_model = hls4ml.converters.convert_from_keras_model(
            model,
            output_dir=str(project),
            project_name=project_name,
            backend=fw.backend,
            hls_config=config,
            part=fw.part,
            clock_period=fw.clock_period_ns,
            io_type=fw.io_type,
        )
        hls_model.write()
    convert_seconds = time.perf_counter() - t0
    input_fmt = format_of(hls_model.get_input_variables()[0].type.precision)
    X = _on_grid(X, input_fmt)  # both worlds see the values the trigger would deliver
    reference = exact_outputs(model, X)["output"].reshape(-1)
    t1 = time.perf_counter()
    csim = compile_and_predict(hls_model, X)
    csim_seconds = time.perf_counter() - t1
    agreement = csim_agreement(csim, reference, output_lsb(hls_model))
    if route == "explicit" and agreement["exact_fraction"] < 1.0:
        notes.append(
            "csim differs from the Keras float64 evaluation where weights or activations are rounded to "
            "their fixed-point types; quantization-aware training (QKeras) makes them agree bit by bit"
        )
    row = {
        "model": model.name,
        "source_model": str(model_path),
        "hls_project": project.name,  # relative to the folder of this row's csim_validation.json
        "precision_route": route,
        "inputs": inputs,
        **agreement,
        "output_lsb": output_lsb(hls_model),
        "output_format": precision_cpp(hls_model.get_output_variables()[0].type.precision),
        "input_format": str(input_fmt),
        "layer_precisions": layer_precisions(hls_model),
        "resources": resources.estimate(hls_model, fw.part, fw.clock_period_ns),
        "convert_seconds": convert_seconds,
        "compile_and_csim_seconds": csim_seconds,
        "notes": notes,
    }
    write_json(out_dir / "csim_validation.json", row)
    return row
