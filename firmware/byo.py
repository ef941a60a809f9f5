"""Bring your own model: a QKeras or Keras-2 model trained elsewhere -> validated hls4ml firmware.

The model file is inspected before Keras deserialises it: a Lambda layer or a custom object would run
code stored in, or referenced by, the file, so such models are refused with the layer named.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware import resources
from firmware.build_cache import compile_model
from firmware.byo_graph import (
    flat_layers,
    functional,
    input_quantizer,
    output_activations,
    po2_weight_layers,
    to_logits,
    with_input_format,
    with_score,
)
from firmware.byo_hgq import byo_proxy, is_proxy_file, proxy_input_shape
from firmware.byo_precision import explicit_config, keras_outputs
from firmware.byo_ptq import float_weighted_layers, post_training_quantize, weight_bits_scan
from firmware.csim import output_agreement, predict_outputs, worst_agreement
from firmware.hls import (
    MAX_UNROLLED_CONV_MULTIPLICATIONS,
    FixedFormat,
    base_config,
    conv_multiplications,
    format_of,
    layer_precisions,
    oversized_da_layers,
    quantizer_config,
    write_project,
)
from firmware.layers import check_hls4ml_support
from firmware.records import BYOValidation
from l1ad.artifacts import ModelFirmwarePaths
from l1ad.config import FirmwareConfig, read_yaml_file
from l1ad.errors import InputError, L1adError
from l1ad.fixedpoint import fixed_type
from l1ad.h5read import open_h5, open_npy, read_chunked, require_dataset
from l1ad.io import require_finite, write_record
from l1ad.untrusted import load_keras_model, one_line
from quantize.qmodels import clone_graph, qkeras_custom_objects

# Bits of a float model's weights and biases after post-training quantization (``--weight-bits``): the
# deployed scorers' 6-8; 8 keeps the float jet tagger's argmax on 99% of events (BENCHMARKS.md)
DEFAULT_WEIGHT_BITS = 8
# Fractional bits of the types l1ad sets itself (explicit precisions, ``--frac-bits``): a float model's
# activations and sums agree with Keras float64 to a few 1e-4 with its own weights (tests/test_byo.py)
DEFAULT_FRAC_BITS = 16
# Largest input magnitude a fixed-point trigger input can carry (a 32-bit integer part): larger values
# are corrupt, and profiling them would give absurd firmware types.
MAX_INPUT = 2.0**31
# Events read from a user's file: enough for agreement at the 1e-4 level, bounded in memory.
MAX_EVENTS = 20_000


def load_user_model(path: str | Path, weights: str | Path | None = None) -> Any:
    """Load a QKeras or Keras-2 model (``.h5``, or JSON architecture + ``weights`` .h5) after inspecting it.

    Lambda layers and custom objects outside Keras/QKeras are refused before Keras deserialises
    anything (``InputError`` naming the layer), as are weights that are not finite numbers; the
    optimizer and training config are not loaded (``l1ad.untrusted.load_keras_model``).
    """
    return load_keras_model(path, weights, custom_objects=qkeras_custom_objects())


def _read_events(path: Path, key: str | None, max_events: int, what: str) -> np.ndarray:
    """Up to ``max_events`` events of a numeric array from ``.npy`` or HDF5 (dataset ``key``, or the file's
    only dataset), finite, as float64; ``what`` names them in errors."""
    if path.suffix.lower() == ".npy":
        X = open_npy(path)
        if X.dtype.kind not in "fiu" or X.ndim == 0 or X.size == 0:
            raise InputError(path, f"expected a non-empty numeric array of {what}, got {X.dtype} {X.shape}")
        return require_finite(np.array(X[:max_events], dtype=np.float64), path, what)
    with open_h5(path) as f:
        if key is None:
            datasets = [k for k in f.keys() if hasattr(f[k], "shape")]
            if len(datasets) != 1:
                raise InputError(
                    path, f"name the {what.removesuffix('s')} dataset: found {', '.join(datasets) or 'none'}"
                )
            key = datasets[0]
        ds = require_dataset(f, key, path)
        return read_chunked(ds, path, key, chunk_events=8192, max_events=max_events, dtype=np.float64)


def read_inputs(
    path: str | Path, input_shape: tuple[int, ...], key: str | None = None, max_events: int = MAX_EVENTS
) -> np.ndarray:
    """User inputs from ``.npy`` or HDF5 (dataset ``key``, or the file's only dataset), shape (N, *input_shape).

    Integer or floating-point values only (no booleans, strings or objects), finite and within
    +-2^31; at least one event.
    """
    path = Path(path)
    X = _read_events(path, key, max_events, "inputs")
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


def read_labels(path: str | Path, n_events: int, key: str | None = None) -> np.ndarray:
    """Class labels of the ``n_events`` validation events: integers >= 0, one per event (``.npy`` or an
    HDF5 dataset), or one-hot rows (their argmax), as hls4ml's examples store them."""
    path = Path(path)
    y = _read_events(path, key, MAX_EVENTS, "labels")
    if y.ndim == 2 and y.shape[1] > 1:
        if not np.all(np.isin(y, [0.0, 1.0])) or not np.all(y.sum(axis=1) == 1):
            raise InputError(path, f"labels of shape {y.shape}: rows must be one-hot (one 1, zeros)")
        y = y.argmax(axis=1)
    y = y.reshape(len(y), -1)
    if y.shape[1] != 1 or np.any(y < 0) or np.any(y != np.rint(y)):
        raise InputError(path, "labels must be one integer class >= 0 per event (or one-hot rows)")
    if len(y) != n_events:
        raise InputError(path, f"{len(y)} labels for {n_events} input events: give one label per event")
    return y[:, 0].astype(np.int64)


def _on_grid(X: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """``X`` rounded (half to even) to ``fmt``'s grid and clipped to its range: what the trigger delivers."""
    return np.clip(np.rint(np.asarray(X, dtype=np.float64) / fmt.lsb) * fmt.lsb, fmt.lo, fmt.hi)


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
    loaded = read_yaml_file(path, "hls4ml config file")
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
    fmt = fixed_type(text)
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
    labels: str | Path | None = None,
    labels_key: str | None = None,
    input_format: str | None = None,
    logits: bool = False,
    score: str | None = None,
    latent_layer: str | None = None,
    rtl_check: bool = False,
    n_events: int = 2000,
    frac_bits: int = DEFAULT_FRAC_BITS,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
    seed: int = 0,
    project_name: str = "l1ad_byo",
) -> dict[str, Any]:
    """Convert, compile and validate a user's model into the firmware folder ``out_dir``
    (``ModelFirmwarePaths``); returns (and writes) its report row.

    Inputs: the user's array (``data``: .npy or HDF5) or ``n_events`` drawn uniformly in
    ``input_range``, put on the input format's grid and fed to Keras and csim alike; with ``labels``
    (one class per event of ``data``) each output also gets the AUC of the reference and of csim. The input
    format is the model's own input quantizer, else ``input_format``, else one l1ad profiles (16
    bits, range from the inputs); it becomes a quantizer in front of the model. ``logits`` removes
    lookup-table activations (softmax, sigmoid, ...) from the outputs; ``score`` (``residual`` or
    ``latent``, see ``byo_graph.with_score``) composes an on-chip anomaly score onto the model. An
    HGQ proxy model (one .h5 with ``FixedPointQuantizer`` layers) goes through ``byo_hgq.byo_proxy``.
    Float Dense/Conv layers are post-training quantized (``byo_ptq``: batch norms folded, constants
    rounded to ``weight_bits`` bits; 0 keeps them as they are) and compared with the float model.

    Precisions: a graph whose every layer maps to QKeras' quantizers goes through
    ``firmware.hls.quantizer_config`` (bit-exact by design); any other gets ``explicit_config`` (YAML on
    top). Each output is compared with Keras in its own LSB; where exactness is not expected (no
    float64 twin, lookup tables, explicit precisions) the row says why. ``rtl_check`` also traces
    the model to Verilog and simulates it against csim on every event (``byo_rtl``).
    """
    import tensorflow as tf

    model_path, paths = Path(model_path), ModelFirmwarePaths(Path(out_dir))
    if is_proxy_file(model_path):
        given = [
            flag
            for flag, value in (
                ("--weights", weights),
                ("--input-format", input_format),
                ("--logits", logits),
                ("--score", score),
                ("--hls-config", hls_config_yaml),
                ("--rtl", rtl_check),
            )
            if value
        ]
        if given:
            raise InputError(
                model_path, f"an HGQ proxy model fixes its own types and graph: drop {', '.join(given)}"
            )
        shape = proxy_input_shape(model_path)
        X, inputs = _validation_inputs(model_path, shape, data, data_key, input_range, n_events, seed)
        y = _validation_labels(labels, labels_key, data, len(X))
        return byo_proxy(model_path, Path(out_dir), fw, X, inputs, project_name, y)
    model = functional(load_user_model(model_path, weights))
    layers = flat_layers(model)
    layer_support = [
        {"layer": layer.name, **dataclasses.asdict(row)}
        for layer, row in zip(layers, check_hls4ml_support(layers, model_path), strict=True)
    ]
    if len(model.inputs) != 1:
        raise InputError(
            model_path, f"the model has {len(model.inputs)} inputs; l1ad converts one-input models"
        )
    input_shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    X, inputs = _validation_inputs(model_path, input_shape, data, data_key, input_range, n_events, seed)
    y = _validation_labels(labels, labels_key, data, len(X))

    notes: list[str] = []

    def note_once(line: str) -> None:
        if line not in notes:
            notes.append(line)

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
    po2 = po2_weight_layers(model)
    if po2:
        # the same values, exactly, as the fixed-point constants they are: ordinary products (or DA)
        model = clone_graph(model, prequantize=frozenset(po2))
        notes.append(
            f"power-of-two weights of {', '.join(po2)} given to hls4ml as their fixed-point values (its shift "
            "product drops low bits of fractional inputs)"
        )
    output_names = list(model.output_names)
    float_model, ptq = model, None
    if weight_bits and float_weighted_layers(model, weight_bits):
        model, ptq_notes = _for_model(model_path, lambda: post_training_quantize(model, weight_bits))
        notes += ptq_notes
        ptq = {"weight_bits": weight_bits, "layers": float_weighted_layers(float_model, weight_bits)}
    reference, no_twin = keras_outputs(float_model, X, output_names)
    if ptq is not None:
        ptq["scan"] = weight_bits_scan(float_model, X, reference, y, fw, frac_bits)
    overrides = _read_yaml(hls_config_yaml) if hls_config_yaml is not None else None
    if overrides is not None:
        _check_layer_names(
            overrides, list(base_config(model, fw, lambda _: None)["LayerName"]), hls_config_yaml
        )
    project = paths.hls_project
    t0 = time.perf_counter()
    route = "explicit"
    if overrides is not None:
        explicit_why = "the user's hls4ml config sets precisions"
    elif no_twin is not None:
        explicit_why = "the quantizers' exact types need the float64 twin"
    else:
        try:
            config = quantizer_config(model, fw, profile_inputs=X, fallback=note_once)
            route, explicit_why = "quantizers", None
        except ValueError as exc:  # a layer without an exact mapping to the quantizers' types
            explicit_why = str(exc)
    if route == "explicit":
        notes.append(f"explicit precisions (every type set by l1ad, not by the quantizers): {explicit_why}")
        config = explicit_config(model, X, fw, frac_bits, overrides, fallback=note_once)
    hls_model = _hls4ml_step(
        model_path, "convert", lambda: write_project(model, config, project, fw, project_name)
    )
    convert_seconds = time.perf_counter() - t0
    if hls_model.config.get_config_value("IOType") != fw.io_type:
        notes.append(
            f"built io_stream, not {fw.io_type}: its convolutions unroll into {conv_multiplications(model):,} "
            f"products, beyond the {MAX_UNROLLED_CONV_MULTIPLICATIONS:,} an io_parallel graph may unroll here; "
            "the stream reads one pixel per clock (see II)"
        )
    input_fmt = format_of(hls_model.get_input_variables()[0].type.precision)
    X_grid = _on_grid(X, input_fmt)  # the values the trigger delivers, for both worlds
    if not np.array_equal(X_grid, X):
        reference, _ = keras_outputs(float_model, X_grid, output_names)
    t1 = time.perf_counter()
    _hls4ml_step(model_path, "compile", lambda: compile_model(hls_model))
    csim = predict_outputs(hls_model, X_grid)
    csim_seconds = time.perf_counter() - t1

    outputs = []
    for name, variable, values in zip(output_names, hls_model.get_output_variables(), csim, strict=True):
        why = [w for w in (no_twin, explicit_why and EXPLICIT_WHY) if w]
        if ptq is not None:
            why.insert(0, f"post-training quantization: the float weights rounded to {weight_bits} bits")
        if name in lookup_outputs:
            why.insert(0, f"a {lookup_outputs[name]} evaluated with lookup tables")
        outputs.append(
            {
                **output_agreement(name, variable, values, reference[name], y),
                "reference": (
                    "float Keras model"
                    if ptq is not None
                    else "QKeras float32"
                    if no_twin
                    else "Keras float64 twin"
                ),
                "exact_expected": not why,
                "why_not_exact": "; ".join(why) or None,
            }
        )
    worst = worst_agreement(outputs, len(X_grid))
    row = {
        "model": model.name,
        "source_model": str(model_path),
        "hls_project": project.name,  # relative to the folder of this row's csim_validation.json
        "precision_route": route,
        "post_training_quantization": ptq,
        "inputs": inputs,
        **worst,
        "exact_expected": all(o["exact_expected"] for o in outputs),
        "outputs": outputs,
        "output_lsb": outputs[0]["lsb"],
        "output_format": outputs[0]["format"],
        "input_format": str(input_fmt),
        "input_format_source": format_source,
        "io_type": hls_model.config.get_config_value("IOType"),
        "layer_precisions": layer_precisions(hls_model),
        "resources": resources.estimate(hls_model, fw.part, fw.clock_period_ns),
        "convert_seconds": convert_seconds,
        "compile_and_csim_seconds": csim_seconds,
        "notes": notes,
        # what hls4ml, the estimate and the RTL tracer do with each layer (firmware.layers, docs/layers.md)
        "layer_support": layer_support,
    }
    if rtl_check:
        row["rtl"] = byo_rtl(model, route, paths.rtl, fw, X_grid, csim, reference[output_names[0]])
    write_record(paths.validation, BYOValidation, row)
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
    oversized = oversized_da_layers(model)
    if oversized:
        name, why = next(iter(oversized.items()))
        return {"skipped": f"the RTL is da4ml's adder graph of every layer, and layer '{name}': {why}"}
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
            use_dsp=fw.use_dsp,
        )
    except DesignError as exc:
        return {"skipped": str(exc)}
    rows = np.arange(min(len(X), fw.n_testbench_events))
    rtl.simulate_rtl(build, X, csim[0][:, 0], reference.reshape(-1), rows)
    return rtl.rtl_figures(build, fw.rtl.yosys_timeout_s)


def _validation_labels(
    labels: str | Path | None, key: str | None, data: str | Path | None, n_events: int
) -> np.ndarray | None:
    """The class labels of the user's validation events (``read_labels``), or None without ``labels``."""
    if labels is None:
        if key is not None:
            raise L1adError("--labels-key goes with --labels")
        return None
    if data is None:
        raise L1adError("--labels label the events of --data: give --data too")
    return read_labels(labels, n_events, key)


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
