"""HGQ proxy model -> written hls4ml project, and its C simulation checked against the exact proxy.

hls4ml (>= 1.0) recognises a proxy by its ``FixedPointQuantizer`` layers and runs its bit-exact
precision flow: every type (inputs, accumulators, results, the plain layers of the AE score and the
NuRD head) is derived from the quantizers and the constants by interval arithmetic, so nothing is
chosen here; the precisions in the per-layer config are placeholders that flow overrides. The input
type is derived too: from the input quantizer (one more fractional bit when it rounds, which keeps
the truncating float-to-fixed cast of the C simulation exact), so the inputs are fed in the declared
format (``quantize_inputs``) and rounded on chip by that quantizer, exactly as in the proxy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware.csim import csim_agreement
from firmware.hls import _write_dat, base_config, io_type_for, layer_precisions, output_lsb, precision_cpp
from l1ad.config import FirmwareConfig
from training import metrics


def convert_proxy(
    proxy: Any,
    output_dir: str | Path,
    fw: FirmwareConfig,
    project_name: str,
    testbench: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Convert an HGQ proxy model with hls4ml and write the complete HLS project to ``output_dir``.

    Backend, part, clock, strategy and reuse factor come from ``fw``; the IO type is ``fw.io_type``
    for dense graphs and io_stream for convolutional ones (``firmware.hls.io_type_for``). Every layer
    is traceable (``hls_model.trace``). ``testbench`` (inputs, expected scores) becomes the
    project's ``tb_data``.
    """
    import hls4ml

    output_dir = Path(output_dir)
    config = base_config(proxy, fw)
    for layer_config in config["LayerName"].values():
        layer_config["Trace"] = True
        layer_config["ReuseFactor"] = fw.reuse_factor
    output_dir.mkdir(parents=True, exist_ok=True)
    tb_paths: dict[str, str | None] = {"input_data_tb": None, "output_data_tb": None}
    if testbench is not None:
        tb_inputs, tb_outputs = (np.asarray(a, dtype=np.float64) for a in testbench)
        if len(tb_inputs) != len(tb_outputs):
            raise ValueError(f"testbench has {len(tb_inputs)} inputs but {len(tb_outputs)} outputs")
        source = output_dir / "testbench"
        source.mkdir(exist_ok=True)
        tb_paths["input_data_tb"] = _write_dat(source / "tb_input_features.dat", tb_inputs)
        tb_paths["output_data_tb"] = _write_dat(source / "tb_output_predictions.dat", tb_outputs)
    hls_model = hls4ml.converters.convert_from_keras_model(
        proxy,
        output_dir=str(output_dir),
        project_name=project_name,
        backend=fw.backend,
        hls_config=config,
        part=fw.part,
        clock_period=fw.clock_period_ns,
        io_type=io_type_for(proxy, fw),
        **tb_paths,
    )
    hls_model.write()
    return hls_model


def predict_csim(hls_model: Any, X: np.ndarray, batch_size: int = 10_000) -> np.ndarray:
    """csim score per event, shape (N,), float64 in and out (the score type can exceed float's mantissa).
    The project must be compiled (``hls_model.compile()``)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    out = [
        np.asarray(hls_model.predict(X[s : s + batch_size]), dtype=np.float64).reshape(-1)
        for s in range(0, len(X), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def _auc(y: np.ndarray, n_background_classes: int, scores: np.ndarray) -> float:
    labels = np.asarray(y) >= n_background_classes
    if labels.all() or not labels.any():
        return float("nan")
    return metrics.auc(labels.astype(int), scores)


def validate_proxy(
    hls_model: Any,
    X: np.ndarray,
    y: np.ndarray,
    float_scores: np.ndarray,
    proxy_scores: np.ndarray,
    n_background_classes: int = 1,
    batch_size: int = 10_000,
) -> tuple[dict[str, Any], np.ndarray]:
    """The csim validation of one HGQ model and its csim scores: (JSON-ready figures, scores (N,)).

    Compiles the project (g++), scores ``X`` (declared input format) in C simulation and compares
    event by event with ``proxy_scores`` (``quantize.hgq.proxy_scores`` on the same ``X``), in units
    of the score's LSB. The keys follow ``firmware.csim.validate`` (``qkeras`` there is ``proxy``
    here); saturation is not traced: the proxy's ranges are traced on what the firmware scores.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    proxy_scores = np.asarray(proxy_scores, dtype=np.float64)
    if not len(X) == len(y) == len(float_scores) == len(proxy_scores):
        raise ValueError(
            f"X ({len(X)}), y ({len(y)}), float_scores ({len(float_scores)}) and proxy_scores "
            f"({len(proxy_scores)}) differ in length"
        )
    t0 = time.perf_counter()
    hls_model.compile()
    t1 = time.perf_counter()
    csim = predict_csim(hls_model, X, batch_size)
    t2 = time.perf_counter()
    result = {
        "agreement": csim_agreement(csim, proxy_scores, output_lsb(hls_model)),
        "auc": {
            "float": _auc(y, n_background_classes, float_scores),
            "proxy": _auc(y, n_background_classes, proxy_scores),
            "csim": _auc(y, n_background_classes, csim),
        },
        "output_lsb": output_lsb(hls_model),
        "output_type": precision_cpp(hls_model.get_output_variables()[0].type.precision),
        "input_type": precision_cpp(hls_model.get_input_variables()[0].type.precision),
        "layer_precisions": layer_precisions(hls_model),
        "timing": {"compile_s": t1 - t0, "csim_events_per_s": len(X) / max(t2 - t1, 1e-9)},
    }
    return result, csim
