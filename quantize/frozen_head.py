"""The quantized Mahalanobis head of a NuRD twin: its fixed-point constants and what their rounding costs.

A quantization figure of the quantize stage (``info.json`` ``qat_report``, the report's ``frozen_head``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantize.qmodels import exact_outputs, frozen_constants
from training.mahalanobis_head import PROJECTION, mahalanobis


def frozen_head_report(qmodel: Any, X: np.ndarray, n_backgrounds: int, combine: str) -> dict[str, Any]:
    """How much the head's fixed-point constants and projection rounding move the distance.

    Compares the exact QKeras score with the float Mahalanobis distance of the same (quantized)
    representation, using the unrounded constants (the head of ``n_backgrounds`` backgrounds, combined
    by ``combine``); ``X`` must be input-quantized. The error is relative to the distance, or to the
    median distance for the events below it (a relative error of a near-zero distance says nothing
    about a cut).
    """
    rep_layer = qmodel.get_layer(PROJECTION.format(0)).inbound_nodes[0].inbound_layers.name
    score_layer = qmodel.outputs[0].node.layer.name
    exact = exact_outputs(qmodel, X, [rep_layer, score_layer])
    r, score = exact[rep_layer], exact[score_layer].reshape(-1)
    means, covs = [], []
    for b in range(n_backgrounds):
        kernel, bias = (
            np.asarray(w, dtype=np.float64) for w in qmodel.get_layer(PROJECTION.format(b)).get_weights()
        )
        precision = kernel @ kernel.T
        means.append(-np.linalg.solve(kernel.T, bias))
        covs.append(np.linalg.inv(precision))
    reference = mahalanobis(r, means, covs, combine)
    rel = np.abs(score - reference) / np.maximum(reference, np.median(reference))
    return {
        "constants": frozen_constants(qmodel),
        "distance_relative_error": {
            "median": float(np.median(rel)),
            "p99": float(np.quantile(rel, 0.99)),
            "max": float(rel.max()),
        },
    }
