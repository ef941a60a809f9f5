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
from firmware.byo_graph import (
    functional,
    input_quantizer,
    output_activations,
    to_logits,
    with_input_format,
    with_score,
)
from firmware.csim import csim_agreement, predict_outputs
from firmware.hls import (
    FixedFormat,
    base_config,
    format_of,
    grid_exponents,
    integer_bits,
    layer_precisions,
    precision_cpp,
    quantizer_config,
    quantizer_format,
    write_project,
)
from firmware.trigger import parse_ap_fixed
from l1ad.config import FirmwareConfig, safe_load_unique
from l1ad.errors import InputError, L1adError
from l1ad.io import require_finite, write_json
from l1ad.untrusted import load_keras_model, one_line
from quantize.graph import inbound_layers
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


def _fixed_type(text: str) -> FixedFormat | None:
    """A fixed-point type string, ``ap_`` optional (hls4ml's ``fixed<6,1,TRN,WRAP,0>``, l1ad's
    ``ap_fixed<16,6,AP_TRN,AP_SAT>``), as a ``FixedFormat``; None for any other type (``int<2>``)."""
    text = text.strip()
    try:
        return parse_ap_fixed(text if text.startswith("ap_") else "ap_" + text)
    except ValueError:
        return None


def _frac_of(precision: str) -> int:
    """Fractional bits of an hls4ml type string (0 for integer types such as ``int<2>``)."""
    fmt = _fixed_type(precision)
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
    return min(grid, _frac_of(precision)) if _fixed_type(precision) is not None else grid


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
        loaded = safe_load_unique(path.read_text(encoding="utf-8"))
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


# Width of the input format l1ad chooses when neither the model nor the user declares one: hls4ml's
# default ap_fixed<16,6> is 16 bits too; the integer bits follow the profiled range.
PROFILED_INPUT_BITS = 16
EXPLICIT_WHY = (
    "explicit precisions round values (float weights, batch-norm scales, activations) where Keras does not; "
    "quantization-aware training with QKeras quantizers makes them agree bit by bit"
)


def parse_format(text: str) -> FixedFormat:
    """``ap_fixed<W,I>`` / ``ap_ufixed<W,I>`` (``ap_`` optional) as a ``FixedFormat``; one-line error otherwise.

    No rounding or overflow modes: the trigger delivers values already on the grid.
    """
    fmt = _fixed_type(text)
    if fmt is None or text.count(",") != 1:
        raise L1adError(f"--input-format '{text}' is not a fixed-point type such as ap_fixed<16,6>")
    if not 2 <= fmt.width <= 32 or not 1 <= fmt.integer <= fmt.width:
        raise L1adError(f"--input-format '{text}': need 2 <= W <= 32 and 1 <= I <= W (I counts the sign bit)")
    return fmt


def profiled_format(X: np.ndarray, width: int = PROFILED_INPUT_BITS) -> FixedFormat:
    """The ``width``-bit format holding every value of ``X``: unsigned when none is negative."""
    lo, hi = float(np.min(X)), float(np.max(X))
    signed = lo < 0
    integer = 1 if signed else 0
    while max(-lo, hi) >= 2.0 ** (integer - 1 if signed else integer):
        integer += 1
    if integer > width:
        raise L1adError(f"inputs span [{lo:g}, {hi:g}]: more than {width} bits; declare --input-format")
    return FixedFormat(signed, width, integer)


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


def _for_model(path: Path, step: Any) -> Any:
    """Run a step that applies an option to the model; its refusal names the model file."""
    try:
        return step()
    except InputError:
        raise
    except L1adError as exc:
        raise InputError(path, str(exc)) from None


def _hls4ml_step(path: Path, what: str, step: Any) -> Any:
    """Run an hls4ml step; its failure on a model that passed l1ad's checks becomes one line."""
    try:
        return step()
    except L1adError:
        raise
    except Exception as exc:  # noqa: BLE001 - hls4ml raises anything on graphs it does not handle
        raise InputError(path, f"hls4ml could not {what} this model ({one_line(exc, 200)})") from None


def byo_firmware(
    model_path: str | Path,
    out_dir: str | Path,
    fw: FirmwareConfig,
    data: str | Path | None = None,
    input_range: tuple[float, float] | None = None,
    hls_config_yaml: str | Path | None = None,
    weights: str | Path | None = None,
    data_key: str | None = None,
    input_format: str | None = None,
    logits: bool = False,
    score: str | None = None,
    latent_layer: str | None = None,
    rtl_check: bool = False,
    n_events: int = 2000,
    frac_bits: int = 16,
    seed: int = 0,
    project_name: str = "l1ad_byo",
) -> dict[str, Any]:
    """Convert, compile and validate a user's model; returns (and writes) its report row.

    Inputs: the user's array (``data``: .npy or HDF5) or ``n_events`` drawn uniformly in
    ``input_range``, put on the input format's grid and fed to Keras and csim alike. The input
    format is the model's own input quantizer, else ``input_format``, else one l1ad profiles (16
    bits, range from the inputs); it becomes a quantizer in front of the model. ``logits`` removes
    lookup-table activations (softmax, sigmoid, ...) from the outputs; ``score`` (``residual`` or
    ``latent``, see ``byo_graph.with_score``) composes an on-chip anomaly score onto the model.

    Precisions: a graph whose every layer maps to QKeras' quantizers goes through
    ``firmware.hls.quantizer_config`` (bit-exact by design); any other gets ``explicit_config`` (YAML on
    top). Each output is compared with Keras in its own LSB; where exactness is not expected (no
    float64 twin, lookup tables, explicit precisions) the row says why. ``rtl_check`` also traces
    the model to Verilog and simulates it against csim on every event (``byo_rtl``).
    """
    import tensorflow as tf

    model_path, out_dir = Path(model_path), Path(out_dir)
    model = functional(load_user_model(model_path, weights))
    check_hls4ml_support(model, model_path)
    if len(model.inputs) != 1:
        raise InputError(
            model_path, f"the model has {len(model.inputs)} inputs; l1ad converts one-input models"
        )
    input_shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    X, inputs = _validation_inputs(model_path, input_shape, data, data_key, input_range, n_events, seed)

    notes: list[str] = []
    declared = input_quantizer(model)
    if declared is not None:
        if input_format is not None:
            raise InputError(
                model_path,
                f"the model declares its input format in layer '{declared.name}' ({declared.quantizer}): "
                "drop --input-format",
            )
        format_source = f"the model's input quantizer '{declared.name}'"
    else:
        fmt = _for_model(
            model_path, lambda: parse_format(input_format) if input_format is not None else profiled_format(X)
        )
        model = with_input_format(model, fmt)
        format_source = (
            "--input-format"
            if input_format is not None
            else (
                f"profiled: the {PROFILED_INPUT_BITS}-bit type holding the inputs' range "
                f"[{float(np.min(X)):g}, {float(np.max(X)):g}]; declare the trigger's with --input-format"
            )
        )
    if logits:
        model, removed = to_logits(model)
        notes.append(
            f"outputs as logits: removed {', '.join(removed)}"
            if removed
            else "--logits: no output activation to remove"
        )
    lookup_outputs = output_activations(model)
    for name, activation in lookup_outputs.items():
        notes.append(
            f"output '{name}' is a {activation}: hls4ml evaluates it with lookup tables, so csim approximates "
            "it; --logits deploys the values before it (exact in fixed point)"
        )
    if score is not None:
        model = _for_model(model_path, lambda: with_score(model, score, latent_layer))
        notes.append(f"on-chip score: {score} ({model.output_names[0]})")
    elif latent_layer is not None:
        raise InputError(model_path, "--latent-layer goes with --score latent")

    X = np.asarray(input_quantizer(model)(tf.constant(X, dtype=tf.float32)), dtype=np.float64)
    output_names = list(model.output_names)
    reference, no_twin = keras_outputs(model, X, output_names)
    overrides = _read_yaml(hls_config_yaml) if hls_config_yaml is not None else None
    if overrides is not None:
        _check_layer_names(overrides, list(base_config(model, fw)["LayerName"]), hls_config_yaml)
    project = out_dir / "hls_project"
    t0 = time.perf_counter()
    route = "explicit"
    if overrides is not None:
        explicit_why = "the user's hls4ml config sets precisions"
    elif no_twin is not None:
        explicit_why = "the quantizers' exact types need the float64 twin"
    else:
        try:
            config = quantizer_config(model, fw, profile_inputs=X)
            route, explicit_why = "quantizers", None
        except ValueError as exc:  # a layer without an exact mapping to the quantizers' types
            explicit_why = str(exc)
    if route == "explicit":
        notes.append(f"explicit precisions (every type set by l1ad, not by the quantizers): {explicit_why}")
        config = explicit_config(model, X, fw, frac_bits, overrides)
    hls_model = _hls4ml_step(
        model_path, "convert", lambda: write_project(model, config, project, fw, project_name)
    )
    convert_seconds = time.perf_counter() - t0
    input_fmt = format_of(hls_model.get_input_variables()[0].type.precision)
    X_grid = _on_grid(X, input_fmt)  # the values the trigger delivers, for both worlds
    if not np.array_equal(X_grid, X):
        reference, _ = keras_outputs(model, X_grid, output_names)
    t1 = time.perf_counter()
    _hls4ml_step(model_path, "compile", hls_model.compile)
    csim = predict_outputs(hls_model, X_grid)
    csim_seconds = time.perf_counter() - t1

    outputs = []
    for name, variable, values in zip(output_names, hls_model.get_output_variables(), csim, strict=True):
        fmt = format_of(variable.type.precision)
        why = [w for w in (no_twin, explicit_why and EXPLICIT_WHY) if w]
        if name in lookup_outputs:
            why.insert(0, f"a {lookup_outputs[name]} evaluated with lookup tables")
        agreement = csim_agreement(values.reshape(-1), reference[name].reshape(-1), fmt.lsb)
        outputs.append(
            {
                "name": name,
                "format": precision_cpp(variable.type.precision),
                "lsb": fmt.lsb,
                "width": int(values.shape[1]),
                **agreement,
                "max_abs_diff": agreement["max_diff_lsb"] * fmt.lsb,
                "reference": "QKeras float32" if no_twin else "Keras float64 twin",
                "exact_expected": not why,
                "why_not_exact": "; ".join(why) or None,
            }
        )
    worst = {
        "exact_fraction": min(o["exact_fraction"] for o in outputs),
        "within_1lsb_fraction": min(o["within_1lsb_fraction"] for o in outputs),
        "max_diff_lsb": max(o["max_diff_lsb"] for o in outputs),
        "p999_diff_lsb": max(o["p999_diff_lsb"] for o in outputs),
        "n_events": len(X_grid),
    }
    row = {
        "model": model.name,
        "source_model": str(model_path),
        "hls_project": project.name,  # relative to the folder of this row's csim_validation.json
        "precision_route": route,
        "inputs": inputs,
        **worst,
        "exact_expected": all(o["exact_expected"] for o in outputs),
        "outputs": outputs,
        "output_lsb": outputs[0]["lsb"],
        "output_format": outputs[0]["format"],
        "input_format": str(input_fmt),
        "input_format_source": format_source,
        "layer_precisions": layer_precisions(hls_model),
        "resources": resources.estimate(hls_model, fw.part, fw.clock_period_ns),
        "convert_seconds": convert_seconds,
        "compile_and_csim_seconds": csim_seconds,
        "notes": notes,
    }
    if rtl_check:
        row["rtl"] = byo_rtl(model, route, out_dir / "rtl", fw, X_grid, csim, reference[output_names[0]])
    write_json(out_dir / "csim_validation.json", row)
    return row


def byo_rtl(
    model: Any,
    route: str,
    out: Path,
    fw: FirmwareConfig,
    X: np.ndarray,
    csim: list[np.ndarray],
    reference: np.ndarray,
) -> dict[str, Any]:
    """The model as pipelined Verilog (da4ml) simulated with Verilator against csim on every event,
    with Yosys figures per ``fw.rtl``; or ``{"skipped": why}`` where the layers do not allow it.

    RTL is traced from the QKeras quantizers, so it applies to the quantizers route with one scalar
    output (a score); a layer without an RTL mapping is named in the reason.
    """
    from firmware import rtl
    from l1ad.errors import DesignError

    if route != "quantizers":
        return {
            "skipped": "RTL is traced from the QKeras quantizers' exact types; this model uses explicit precisions"
        }
    if len(csim) != 1 or csim[0].shape[1] != 1:
        return {"skipped": "RTL is built for one scalar output (a score): give --score or a one-output model"}
    rtl.require_tools(fw.rtl.synthesize)
    try:
        build = rtl.prepare_rtl(
            model.name,
            model,
            out,
            fw.clock_period_ns,
            fw.part,
            fw.rtl.synthesize,
            synth_max_cost=fw.rtl.synth_max_cost,
        )
    except DesignError as exc:
        return {"skipped": str(exc)}
    rows = np.arange(min(len(X), fw.n_testbench_events))
    rtl.simulate_rtl(build, X, csim[0][:, 0], reference.reshape(-1), rows)
    return rtl.rtl_figures(build, fw.rtl.yosys_timeout_s)


def _validation_inputs(
    model_path: Path,
    input_shape: tuple[int, ...],
    data: str | Path | None,
    data_key: str | None,
    input_range: tuple[float, float] | None,
    n_events: int,
    seed: int,
) -> tuple[np.ndarray, str]:
    """The events csim is validated on (the user's file, or uniform in ``input_range``) and their label."""
    if data is not None:
        X = read_inputs(data, input_shape, data_key)
        return X, f"user data {Path(data).name} ({len(X)} events)"
    if input_range is not None:
        lo, hi = (float(v) for v in input_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and max(-lo, hi) <= MAX_INPUT):
            raise L1adError(
                f"--input-range must be two finite numbers LO < HI within +-2^31, got {lo:g} {hi:g}"
            )
        X = np.random.default_rng(seed).uniform(lo, hi, (n_events, *input_shape))
        return X, f"{n_events} events uniform in [{lo:g}, {hi:g}]"
    raise InputError(
        model_path, "give input data (HDF5/npy) or an input range to validate csim against Keras"
    )
