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

from firmware.build_cache import compile_model
from firmware.csim import auc_all_signals, csim_agreement, predict
from firmware.hls import base_config, layer_precisions, output_lsb, precision_cpp, write_project
from l1ad.config import FirmwareConfig


def convert_proxy(
    proxy: Any,
    output_dir: str | Path,
    fw: FirmwareConfig,
    project_name: str,
    testbench: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Convert an HGQ proxy model with hls4ml and write the complete HLS project to ``output_dir``.

    Backend, part, clock, strategy and reuse factor come from ``fw``; the IO type is ``fw.io_type``,
    io_stream for a CNN too large to unroll (``firmware.hls.io_type_for``). Every layer
    is traceable (``hls_model.trace``). ``testbench`` (inputs, expected scores) becomes the
    project's ``tb_data``.
    """
    config = base_config(proxy, fw)
    for layer_config in config["LayerName"].values():
        layer_config["Trace"] = True
        layer_config["ReuseFactor"] = fw.reuse_factor
    return write_project(proxy, config, output_dir, fw, project_name, testbench)


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
    compile_model(hls_model)
    t1 = time.perf_counter()
    csim = predict(hls_model, X, batch_size)
    t2 = time.perf_counter()
    result = {
        "agreement": csim_agreement(csim, proxy_scores, output_lsb(hls_model)),
        "auc": {
            "float": auc_all_signals(y, n_background_classes, float_scores),
            "proxy": auc_all_signals(y, n_background_classes, proxy_scores),
            "csim": auc_all_signals(y, n_background_classes, csim),
        },
        "output_lsb": output_lsb(hls_model),
        "output_type": precision_cpp(hls_model.get_output_variables()[0].type.precision),
        "input_type": precision_cpp(hls_model.get_input_variables()[0].type.precision),
        "layer_precisions": layer_precisions(hls_model),
        "timing": {"compile_s": t1 - t0, "csim_events_per_s": len(X) / max(t2 - t1, 1e-9)},
    }
    return result, csim
