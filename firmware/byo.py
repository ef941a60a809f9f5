"""Bring your own model: a QKeras or Keras-2 model trained elsewhere -> validated hls4ml firmware.

The model file is inspected before Keras deserialises it: a Lambda layer or a custom object would run
code stored in, or referenced by, the file, so such models are refused with the layer named.
"""

from __future__ import annotations

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
from l1ad.errors import InputError, L1adError
from l1ad.io import require_finite, write_json
from l1ad.untrusted import load_keras_model
from quantize.qmodels import exact_outputs, qkeras_custom_objects
from training.data.h5read import open_h5, open_npy, read_chunked, require_dataset

TRAINING_ONLY = {
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "SpatialDropout1D",
}
SUPPORTED_LAYERS_HINT = "Dense, Conv1D/2D, pooling, BatchNormalization, activations, Add/Subtract/Multiply"
# Largest input magnitude a fixed-point trigger input can carry (a 32-bit integer part): larger values
# are corrupt, and profiling them would give absurd firmware types.
MAX_INPUT = 2.0**31


def load_user_model(path: str | Path, weights: str | Path | None = None) -> Any:
    """Load a QKeras or Keras-2 model (``.h5``, or JSON architecture + ``weights`` .h5) after inspecting it.

    Lambda layers and custom objects outside Keras/QKeras are refused before Keras deserialises
    anything (``InputError`` naming the layer), as are weights that are not finite numbers; the
    optimizer and training config are not loaded (``l1ad.untrusted.load_keras_model``).
    """
    return load_keras_model(path, weights, custom_objects=qkeras_custom_objects())


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
    """User inputs from ``.npy`` or HDF5 (dataset ``key``, or the file's only dataset), shape (N, *input_shape).

    Integer or floating-point values only (no booleans, strings or objects), finite and within
    +-2^31; at least one event.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        X = open_npy(path)
        if X.dtype.kind not in "fiu" or X.ndim == 0 or X.size == 0:
            raise InputError(path, f"expected a non-empty numeric array of events, got {X.dtype} {X.shape}")
        X = require_finite(np.array(X[:max_events], dtype=np.float64), path, "inputs")
    else:
        with open_h5(path) as f:
            if key is None:
                datasets = [k for k in f.keys() if hasattr(f[k], "shape")]
                if len(datasets) != 1:
                    raise InputError(path, f"name the input dataset: found {', '.join(datasets) or 'none'}")
                key = datasets[0]
            ds = require_dataset(f, key, path)
            X = read_chunked(ds, path, key, chunk_events=8192, max_events=max_events, dtype=np.float64)
    if np.abs(X).max(initial=0.0) > MAX_INPUT:
        raise InputError(
            path, f"inputs reach {np.abs(X).max():g}: beyond the +-2^31 range of any trigger input"
        )
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


_HLS_TYPE = re.compile(r"^(ap_)?(u?fixed<\s*(\d+)\s*,\s*-?\d+\s*(,\s*\w+\s*){0,3}>|u?int<\s*(\d+)\s*>)$")
_HLS_SECTIONS = ("Model", "LayerName", "LayerType")


def _hls_problem(where: str, entry: Any) -> str | None:
    """What is wrong with one Model / layer entry of an hls4ml config (None when nothing is)."""
    if not isinstance(entry, dict):
        return f"{where} must be a mapping (Precision, ReuseFactor, Strategy, ...)"
    precision = entry.get("Precision")
    types = precision.items() if isinstance(precision, dict) else [("", precision)]
    if "Precision" in entry:
        for key, value in types:
            label = f"{where}.Precision{'.' + key if key else ''}"
            match = _HLS_TYPE.match(value.strip()) if isinstance(value, str) else None
            width = next((int(g) for g in match.groups()[2::2] if g), 0) if match else 0
            if not match or not 1 <= width <= 1024:
                return (
                    f"{label} is {value!r}: expected an explicit fixed-point type such as ap_fixed<16,6> or "
                    "ap_int<8> (1 to 1024 bits; 'auto' lets hls4ml loop forever)"
                )
    reuse = entry.get("ReuseFactor", 1)
    if isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1:
        return f"{where}.ReuseFactor is {reuse!r}: expected a positive integer"
    if not isinstance(entry.get("Strategy", ""), str):
        return f"{where}.Strategy must be a string (Latency or Resource)"
    return None


def _read_yaml(path: str | Path) -> dict[str, Any]:
    """An hls4ml-style config (Model, LayerName, LayerType), checked for structure and explicit types."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "hls4ml config file not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a UTF-8 text file, so not YAML ({exc})") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise InputError(path, "expected an hls4ml config mapping (Model, LayerName, ...)")
    unknown = set(loaded) - set(_HLS_SECTIONS)
    if unknown:
        raise InputError(
            path, f"unknown top-level keys {sorted(map(str, unknown))}; expected Model, LayerName, LayerType"
        )
    problems = [_hls_problem("Model", loaded["Model"])] if "Model" in loaded else []
    for section in ("LayerName", "LayerType"):
        entries = loaded.get(section, {})
        if not isinstance(entries, dict):
            raise InputError(path, f"{section} must be a mapping of layer names to settings")
        problems += [_hls_problem(f"{section}.{name}", entry) for name, entry in entries.items()]
    problem = next((p for p in problems if p), None)
    if problem:
        raise InputError(path, problem)
    return loaded


def _check_layer_names(overrides: dict[str, Any], layers: list[str], path: str | Path) -> None:
    """Every LayerName entry of the user's config must name a layer of the converted model."""
    unknown = [name for name in overrides.get("LayerName", {}) if name not in layers]
    if unknown:
        raise InputError(
            path, f"unknown layer '{unknown[0]}' in LayerName (the model's layers: {', '.join(layers)})"
        )


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
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and max(-lo, hi) <= MAX_INPUT):
            raise L1adError(
                f"--input-range must be two finite numbers LO < HI within +-2^31, got {lo:g} {hi:g}"
            )
        X = np.random.default_rng(seed).uniform(lo, hi, (n_events, *input_shape))
        inputs = f"{n_events} events uniform in [{lo:g}, {hi:g}]"
    else:
        raise InputError(
            model_path, "give input data (HDF5/npy) or an input range to validate csim against Keras"
        )

    notes: list[str] = []
    quantizer = _input_quantizer(model)
    overrides = _read_yaml(hls_config_yaml) if hls_config_yaml is not None else None
    if overrides is not None:
        _check_layer_names(overrides, list(base_config(model, fw)["LayerName"]), hls_config_yaml)
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
