"""C simulation (g++ on hls4ml's C++) and its validation against the exact QKeras score:
agreement in units of the score's LSB, AUCs, and per-layer saturation read from a trace.
One ``validate`` call gives the JSON of one model.
"""

from __future__ import annotations

import contextlib
import io
import time
from typing import Any

import numpy as np

from firmware.build_cache import compile_model
from firmware.hls import (
    QUANTIZER_ROUNDING,
    format_of,
    layer_precisions,
    output_lsb,
    precision_cpp,
    require_on_grid,
)
from quantize.qmodels import exact_outputs, predict_exact
from training import metrics


def _check_inputs(hls_model: Any, X: np.ndarray) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float64)
    require_on_grid(X, format_of(hls_model.get_input_variables()[0].type.precision), "csim inputs")
    return X


def predict_outputs(hls_model: Any, X: np.ndarray, batch_size: int = 10_000) -> list[np.ndarray]:
    """csim outputs of a compiled project: one float64 array (N, output size) per model output."""
    X = _check_inputs(hls_model, X)
    chunks: list[list[np.ndarray]] = []
    for s in range(0, len(X), batch_size):
        batch = X[s : s + batch_size]
        # float64 in and out: a type can be wider than a float's 24-bit mantissa
        result = hls_model.predict(batch)
        result = result if isinstance(result, (list, tuple)) else [result]
        chunks.append([np.asarray(r, dtype=np.float64).reshape(len(batch), -1) for r in result])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def predict(hls_model: Any, X: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
    """csim score per event of a compiled project, shape (N,)."""
    return predict_outputs(hls_model, X, batch_size)[0].reshape(-1) if len(X) else np.zeros(0)


def compile_and_predict(hls_model: Any, X: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
    """Compile the project with g++ and return the csim score per event, shape (N,), float64."""
    X = _check_inputs(hls_model, X)
    compile_model(hls_model)
    return predict(hls_model, X, batch_size)


def output_agreement(
    name: str, variable: Any, values: np.ndarray, expected: np.ndarray, labels: np.ndarray | None = None
) -> dict[str, Any]:
    """One output of a converted model (its hls4ml output ``variable``) against a reference, event by event:
    ``csim_agreement`` in the output's LSB, the largest and 99.9% absolute differences, for an output of
    several values (a classifier) the fraction of events whose largest value is the same one, and with
    ``labels`` the AUC of reference and csim (``label_auc``)."""
    fmt = format_of(variable.type.precision)
    expected = np.asarray(expected, dtype=np.float64).reshape(len(values), -1)
    values = np.asarray(values, dtype=np.float64).reshape(expected.shape)
    agreement = csim_agreement(values.reshape(-1), expected.reshape(-1), fmt.lsb)
    return {
        "name": name,
        "format": precision_cpp(variable.type.precision),
        "lsb": fmt.lsb,
        "width": int(values.shape[1]),
        **agreement,
        "max_abs_diff": agreement["max_diff_lsb"] * fmt.lsb,
        "p999_abs_diff": float(np.quantile(np.abs(values - expected), 0.999)),
        "argmax_agreement": (
            float(np.mean(values.argmax(1) == expected.argmax(1))) if expected.shape[1] > 1 else None
        ),
        "auc": None if labels is None else label_auc(expected, values, labels),
    }


def label_auc(reference: np.ndarray, values: np.ndarray, labels: np.ndarray) -> dict[str, Any] | None:
    """AUC of the reference and of csim for one output of (events, width) values and integer class labels:
    a one-value output is a score for labels 0/1; a classifier of ``width`` values gets one AUC per class,
    that class against the rest, from its own column (the hls4ml tutorial's ROC per class). None where the
    labels do not fit the output (a score with more than two classes, a class index beyond the width)."""
    width, top = reference.shape[1], int(labels.max(initial=0))
    if top >= max(width, 2):
        return None
    pairs = [(1, 0)] if width == 1 else [(c, c) for c in range(width)]  # (class, its column)
    rows = [(c, col) for c, col in pairs if 0 < np.sum(labels == c) < len(labels)]
    if not rows:
        return None
    return {
        "classes": [c for c, _ in rows],
        "reference": [metrics.auc(labels == c, reference[:, col]) for c, col in rows],
        "csim": [metrics.auc(labels == c, values[:, col]) for c, col in rows],
    }


def worst_agreement(outputs: list[dict[str, Any]], n_events: int) -> dict[str, Any]:
    """A model's agreement as its worst output's (``output_agreement`` rows), over ``n_events`` events."""
    return {
        "exact_fraction": min(o["exact_fraction"] for o in outputs),
        "within_1lsb_fraction": min(o["within_1lsb_fraction"] for o in outputs),
        "max_diff_lsb": max(o["max_diff_lsb"] for o in outputs),
        "p999_diff_lsb": max(o["p999_diff_lsb"] for o in outputs),
        "n_events": n_events,
    }


def csim_agreement(csim: np.ndarray, qkeras: np.ndarray, lsb: float) -> dict[str, float]:
    """How far csim lies from QKeras, in units of the score LSB."""
    csim, qkeras = np.asarray(csim, dtype=np.float64), np.asarray(qkeras, dtype=np.float64)
    if csim.shape != qkeras.shape or csim.size == 0:
        raise ValueError(f"csim {csim.shape} and QKeras {qkeras.shape} scores must be non-empty and alike")
    diff = np.abs(csim - qkeras) / lsb
    return {
        "exact_fraction": float(np.mean(diff == 0)),
        "within_1lsb_fraction": float(np.mean(diff <= 1)),
        "max_diff_lsb": float(diff.max()),
        "p999_diff_lsb": float(np.quantile(diff, 0.999)),
        "n_events": int(csim.size),
    }


def _keras_tensor_of(qmodel: Any, hls_names: set[str], name: str) -> str:
    """The Keras layer whose output an hls4ml layer holds: hls4ml folds linear QActivations into their parent."""
    layer = qmodel.get_layer(name)
    while True:
        users = [n.outbound_layer for n in layer.outbound_nodes]
        if len(users) == 1 and users[0].name not in hls_names and type(users[0]).__name__ == "QActivation":
            layer = users[0]
        else:
            return layer.name


def trace_rows(n_events: int, max_events: int, y: np.ndarray | None = None) -> np.ndarray:
    """Rows to trace: at most ``max_events`` evenly spaced events, of each class when labels ``y`` are given.

    Evenly spaced rather than the first ones, since inputs are often background followed by
    signal; per class, since a rare signal would otherwise get a handful of traced events.
    """

    def spread(rows: np.ndarray) -> np.ndarray:
        take = np.linspace(0, len(rows) - 1, min(max_events, len(rows))).astype(int)
        return rows[np.unique(take)]

    if y is None:
        return spread(np.arange(n_events))
    y = np.asarray(y)
    return np.sort(np.concatenate([spread(np.flatnonzero(y == k)) for k in np.unique(y)]))


def saturation_events(
    hls_model: Any,
    qmodel: Any,
    X: np.ndarray,
    max_events: int = 2000,
    y: np.ndarray | None = None,
    classes: list[str] | None = None,
    traceable: np.ndarray | None = None,
) -> dict[str, Any]:
    """Events in which some layer's value leaves its fixed-point type (saturates or wraps), from a trace.

    Per traced layer: ``out_of_range`` counts events whose exact QKeras value lies outside the
    layer's type (so the firmware must saturate or wrap there: quantizer clips QKeras also does
    are not counted, since QKeras' value is already clipped); ``deviating`` counts events where
    the traced firmware value differs from QKeras by more than one LSB of the type (the visible
    damage, including a wrapped accumulator). Tracing recompiles the project and copies every
    layer per event, so at most ``max_events`` events, spread evenly over ``X``, are traced; with
    class labels ``y`` (indices into ``classes``) at most ``max_events`` of each class, and
    ``per_class`` gives each class's fraction of traced events with any layer out of range (the
    figure ``l1ad check`` gates on: a layer sized on background can still overflow on a signal).
    ``traceable`` (a mask over ``X``) restricts the trace to events the precisions were not sized on.
    Each layer whose type l1ad sized from a profile (not a quantizer's) reports ``margin_bits``, the
    headroom its most demanding traced event leaves; per class, the tightest such layer and its margin.
    """
    X = _check_inputs(hls_model, X)
    candidates = np.arange(len(X)) if traceable is None else np.flatnonzero(traceable)
    rows = candidates[
        trace_rows(len(candidates), max_events, None if y is None else np.asarray(y)[candidates])
    ]
    X = np.ascontiguousarray(X[rows])
    prebuilt = hls_model.config.trace_output and hls_model._top_function_lib is not None
    try:
        if prebuilt:
            # compiled with tracing already (``validate``): hls4ml's trace() would build it all again,
            # and would say "Recompiling ... with tracing" when it no longer does
            hls_model.compile = lambda: None
        with contextlib.redirect_stdout(io.StringIO()) if prebuilt else contextlib.nullcontext():
            _, trace = hls_model.trace(X)
    finally:
        vars(hls_model).pop("compile", None)
        hls_model.config.trace_output = False  # the next compile() builds the plain library again
    types = layer_precisions(hls_model)
    hls_layers = {layer.name: layer for layer in hls_model.get_layers()}
    # io_stream adds clone layers that copy a stream unchanged: nothing new can overflow there.
    trace = {name: v for name, v in trace.items() if name in {layer.name for layer in qmodel.layers}}
    keras_names = {name: _keras_tensor_of(qmodel, set(hls_layers), name) for name in trace}
    reference = exact_outputs(qmodel, X, sorted(set(keras_names.values())))
    out_by_layer, dev_by_layer, use_by_layer = {}, {}, {}
    for name, traced in trace.items():
        fmt = format_of(hls_layers[name].get_output_variable().type.precision)
        ref = reference[keras_names[name]].reshape(len(X), -1)
        got = np.asarray(traced, dtype=np.float64).reshape(len(X), -1)
        out_by_layer[name] = np.any((ref < fmt.lo) | (ref > fmt.hi), axis=1)
        dev_by_layer[name] = np.any(np.abs(got - ref) > fmt.lsb, axis=1)
        if fmt.rounding != QUANTIZER_ROUNDING:  # a type l1ad sized from the profile, not a quantizer's clip
            use_by_layer[name] = range_used(ref, fmt)
    any_out = np.any(list(out_by_layer.values()), axis=0) if trace else np.zeros(len(X), dtype=bool)
    any_dev = np.any(list(dev_by_layer.values()), axis=0) if trace else np.zeros(len(X), dtype=bool)
    result: dict[str, Any] = {
        "n_traced": int(len(X)),
        "n_events": int(any_out.sum()),
        "fraction": float(any_out.mean()) if len(X) else 0.0,
        "n_deviating_events": int(any_dev.sum()),
        "per_layer": {
            name: {
                "type": types[name],
                "out_of_range": int(out_by_layer[name].sum()),
                "deviating": int(dev_by_layer[name].sum()),
                "margin_bits": margin_bits(use_by_layer[name]) if name in use_by_layer else None,
            }
            for name in trace
        },
    }
    if y is not None:
        labels = np.asarray(y)[rows]
        result["per_class"] = {}
        for k in np.unique(labels):
            sel = labels == k
            name = classes[int(k)] if classes is not None else str(int(k))
            result["per_class"][name] = {
                "n_traced": int(sel.sum()),
                "n_events": int(any_out[sel].sum()),
                "fraction": float(any_out[sel].mean()),
                "n_deviating_events": int(any_dev[sel].sum()),
                # the layers that overflow on this class, with their event counts
                "layers": {n: int(o[sel].sum()) for n, o in out_by_layer.items() if o[sel].any()},
                **tightest_layer({n: u[sel] for n, u in use_by_layer.items()}),
            }
    return result


def range_used(values: np.ndarray, fmt: Any) -> np.ndarray:
    """Per event, the largest share of its type's range one of ``values`` (events x features) reaches:
    value / hi above zero, value / lo below (1 = at the edge, above 1 = out of range)."""
    up = np.where(values > 0, values / fmt.hi if fmt.hi > 0 else np.inf, 0.0)
    down = np.where(values < 0, values / fmt.lo if fmt.lo < 0 else np.inf, 0.0)
    return np.maximum(up, down).max(axis=1)


def margin_bits(used: np.ndarray) -> float | None:
    """Headroom left by the most demanding event: log2(1 / largest share of the range), in bits
    (1.0: values reach half the range; negative: out of range). None when nothing was traced or every
    value is 0."""
    peak = float(used.max()) if used.size else 0.0
    return None if peak <= 0 else float(-np.log2(peak))


def tightest_layer(used: dict[str, np.ndarray]) -> dict[str, Any]:
    """The layer with the least headroom on these events and that headroom, in bits."""
    margins = {n: m for n, u in used.items() if (m := margin_bits(u)) is not None}
    if not margins:
        return {"margin_bits": None, "tightest_layer": None}
    name = min(margins, key=margins.get)
    return {"margin_bits": margins[name], "tightest_layer": name}


def relu_inputs_beyond_float32(hls_model: Any) -> list[str]:
    """ReLU layers whose input holds more than float32's 24 significant bits.

    QKeras' quantized_relu casts its input to float32 and then rounds, so there it can round
    twice where the firmware rounds once: csim may then differ from QKeras by one activation
    LSB on rare events (seen with 16-bit weights and activations, never at 8 bits).
    """
    names = []
    for layer in hls_model.get_layers():
        if layer.class_name == "Activation" and layer.get_attr("activation") == "relu":
            precision = layer.get_input_variable().type.precision
            if precision.width - int(precision.signed) > 24:
                names.append(layer.name)
    return names


def auc_all_signals(y: np.ndarray, n_background_classes: int, scores: np.ndarray) -> float:
    """AUC of all signal classes together against background (NaN without both)."""
    labels = np.asarray(y) >= n_background_classes
    if labels.all() or not labels.any():
        return float("nan")  # undefined without both classes; written as null
    return metrics.auc(labels.astype(int), scores)


def validate(
    hls_model: Any,
    qmodel: Any,
    X: np.ndarray,
    y: np.ndarray,
    float_scores: np.ndarray,
    qkeras_scores: np.ndarray | None = None,
    n_background_classes: int = 1,
    max_trace_events: int = 2000,
    batch_size: int = 10_000,
    classes: list[str] | None = None,
    traceable: np.ndarray | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """The csim validation of one model and its csim scores: (JSON-ready figures, scores (N,)).

    Compiles the project (g++), scores ``X`` in C simulation and compares event by event
    with the exact QKeras score (``qkeras_scores`` when already computed by
    ``predict_exact`` on the same ``X``). ``X`` must be in the declared input format
    (``quantize_inputs``); labels ``y`` >= ``n_background_classes`` mark signal; the AUCs
    are all signals together against background. The saturation trace takes up to
    ``max_trace_events`` events of each class (``classes`` names the labels; without it the
    per-class figures are keyed by label index), among the ``traceable`` ones when given.
    """
    X = _check_inputs(hls_model, X)
    if not len(X) == len(y) == len(float_scores):
        raise ValueError(
            f"X ({len(X)}), y ({len(y)}) and float_scores ({len(float_scores)}) differ in length"
        )
    qkeras = (
        predict_exact(qmodel, X) if qkeras_scores is None else np.asarray(qkeras_scores, dtype=np.float64)
    )
    t0 = time.perf_counter()
    # One g++ build serves the scores and the saturation trace: the trace hooks only copy layer outputs
    # (off unless a trace is running) and cost a DA design's compile time twice if built separately.
    hls_model.config.trace_output = True
    compile_model(hls_model)
    t1 = time.perf_counter()
    csim = predict(hls_model, X, batch_size)
    t2 = time.perf_counter()
    lsb = output_lsb(hls_model)
    aucs = {
        "float": auc_all_signals(y, n_background_classes, float_scores),
        "qkeras": auc_all_signals(y, n_background_classes, qkeras),
        "csim": auc_all_signals(y, n_background_classes, csim),
    }
    result = {
        "agreement": csim_agreement(csim, qkeras, lsb),
        "auc": aucs,
        "saturation": saturation_events(
            hls_model, qmodel, X, max_trace_events, y=y, classes=classes, traceable=traceable
        ),
        "output_lsb": lsb,
        "output_type": precision_cpp(hls_model.get_output_variables()[0].type.precision),
        "layer_precisions": layer_precisions(hls_model),
        "relu_inputs_beyond_float32": relu_inputs_beyond_float32(hls_model),
        "timing": {"compile_s": t1 - t0, "csim_events_per_s": len(X) / max(t2 - t1, 1e-9)},
    }
    return result, csim
