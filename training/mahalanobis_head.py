"""The Mahalanobis head of NuRD's deployable graph: a Gaussian fit per background, the frozen layers that
compute the distance on chip, and the numpy reference they are checked against.

Per background b the head is frozen ``Dense(k)`` (kernel L, bias -mu L, L the Cholesky factor of Sigma^-1),
``Multiply`` with itself and a frozen ``Dense(1)`` of ones: layers hls4ml converts (../shared/STACK.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Layer names of the head: the representation feeds one projection per background.
PROJECTION, SQUARE, DISTANCE = "mahalanobis_{}_projection", "mahalanobis_{}_square", "mahalanobis_{}_distance"
SCORE = "score"
COMBINE_LAYERS = {"min": "Minimum", "sum": "Add"}


def fit_gaussian(r: np.ndarray, shrinkage: str = "auto", max_condition: float = 1.0e3) -> dict[str, Any]:
    """Mean and covariance of representations ``r`` (n, k), shrunk when asked or ill-conditioned.

    "auto" keeps the empirical covariance when its condition number is at most ``max_condition``,
    else takes the Ledoit-Wolf estimate (scikit-learn) and, when that is still beyond
    ``max_condition`` (Ledoit-Wolf shrinks little with many events), shrinks further towards the
    scaled identity until it is exactly ``max_condition``. The cap bounds how much the head can
    amplify a nearly flat direction: its constants stay within a fixed-point range and quantization
    noise in such a direction cannot dominate the distance. "ledoit_wolf" always uses Ledoit-Wolf,
    "none" the empirical covariance (which must then be invertible).
    """
    from sklearn.covariance import LedoitWolf

    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or len(r) <= r.shape[1]:
        raise ValueError(f"need more events than dimensions to fit a covariance, got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("the representation holds NaN or infinite values: training diverged")
    k = r.shape[1]
    mean = r.mean(axis=0)
    empirical = np.cov(r, rowvar=False).reshape(k, k)
    if not np.trace(empirical) > 0:
        # A collapsed training (the critic penalty can kill every unit): r is one point, no direction
        # can be whitened, and the identity leaves the score the squared distance to that point.
        print(
            "    NuRD: the representation is constant on a background (collapsed); identity covariance",
            flush=True,
        )
        return {
            "mean": mean,
            "cov": np.eye(k),
            "shrinkage": 1.0,
            "condition_empirical": float("inf"),
            "condition": 1.0,
            "n_events": len(r),
            "collapsed": True,
        }
    condition = _condition(empirical)
    cov, amount = empirical, 0.0
    if shrinkage == "ledoit_wolf" or (shrinkage == "auto" and condition > max_condition):
        lw = LedoitWolf().fit(r)
        cov, amount = lw.covariance_, float(lw.shrinkage_)
        if shrinkage == "auto" and _condition(cov) > max_condition:
            eig = np.linalg.eigvalsh(empirical)
            target = eig.mean()
            lo, hi = eig[0], eig[-1]
            amount = (hi - max_condition * lo) / (hi - max_condition * lo + target * (max_condition - 1.0))
            cov = (1.0 - amount) * empirical + amount * target * np.eye(k)
    elif shrinkage not in ("auto", "none"):
        raise ValueError(f"unknown shrinkage {shrinkage!r}")
    return {
        "mean": mean,
        "cov": cov,
        "shrinkage": float(amount),
        "condition_empirical": condition,
        "condition": _condition(cov),
        "n_events": len(r),
        "collapsed": False,
    }


def _condition(cov: np.ndarray) -> float:
    eig = np.linalg.eigvalsh(cov)
    return float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")


def head_constants(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of the projection p = L^T (r - mu), L the Cholesky factor of Sigma^-1.

    Then ||p||^2 = (r - mu) Sigma^-1 (r - mu)^T. Keras computes r @ kernel + bias on row vectors,
    so the kernel is L itself and the bias -mu @ L.
    """
    precision = np.linalg.inv(np.asarray(cov, dtype=np.float64))
    chol = np.linalg.cholesky(0.5 * (precision + precision.T))
    return chol, -np.asarray(mean, dtype=np.float64) @ chol


def mahalanobis(
    r: np.ndarray, means: list[np.ndarray], covs: list[np.ndarray], combine: str = "min"
) -> np.ndarray:
    """Numpy reference of the head: per background (r - mu) Sigma^-1 (r - mu)^T, combined ("min"/"sum")."""
    r = np.asarray(r, dtype=np.float64)
    distances = []
    for mean, cov in zip(means, covs, strict=True):
        d = r - mean
        distances.append(np.einsum("ij,ij->i", d @ np.linalg.inv(cov), d))
    stacked = np.stack(distances, axis=1)
    return stacked.min(axis=1) if combine == "min" else stacked.sum(axis=1)


def add_mahalanobis_head(representation: Any, n_backgrounds: int, combine: str = "min") -> Any:
    """Append the frozen head to a representation tensor (k values): the anomaly score tensor.

    Per background b: frozen Dense(k) ``mahalanobis_b_projection`` (kernel L, bias -mu L, set by
    ``set_head``), ``Multiply`` with itself, frozen Dense(1) of ones (the squared distance); the
    distances are then combined by ``Minimum`` (or ``Add``). Built from identity constants.
    """
    import tensorflow as tf

    k = int(representation.shape[-1])
    distances = []
    for b in range(n_backgrounds):
        projection = tf.keras.layers.Dense(k, trainable=False, name=PROJECTION.format(b))
        p = projection(representation)
        projection.set_weights([np.eye(k, dtype=np.float32), np.zeros(k, dtype=np.float32)])
        squared = tf.keras.layers.Multiply(name=SQUARE.format(b))([p, p])
        total = tf.keras.layers.Dense(1, use_bias=False, trainable=False, name=DISTANCE.format(b))
        distances.append(total(squared))
        total.set_weights([np.ones((k, 1), dtype=np.float32)])
    if n_backgrounds == 1:
        return distances[0]
    merge = getattr(tf.keras.layers, COMBINE_LAYERS[combine])
    return merge(name=SCORE)(distances)


def representation_model(model: Any) -> Any:
    """input -> the tensor the head reads (in a QKeras twin: the representation after its quantizer)."""
    import tensorflow as tf

    return tf.keras.Model(model.input, model.get_layer(PROJECTION.format(0)).input)


def set_head(model: Any, stats: list[dict[str, Any]]) -> None:
    """Write each background's (mean, cov) into the frozen projection of ``model`` (float or QKeras).

    In a QKeras twin the constants' fixed-point format follows the constants: the integer bits of the
    projection's kernel and bias quantizers are set from the new constants (``constant_integer``, the
    rule ``to_qkeras`` used for the float head), since a head refit after QAT can change their range.
    """
    from l1ad.fixedpoint import constant_integer

    for b, s in enumerate(stats):
        layer = model.get_layer(PROJECTION.format(b))
        kernel, bias = head_constants(s["mean"], s["cov"])
        for value, what in ((kernel, "kernel"), (bias, "bias")):
            quantizer = getattr(layer, f"{what}_quantizer_internal", None)
            if quantizer is not None:
                quantizer.integer = constant_integer(value, int(quantizer.bits))
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    model.predict_function = None  # Keras caches a traced predict: the quantizers may have changed
