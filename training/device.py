"""Device selection: the same code path uses a GPU when present and the CPU otherwise."""

from __future__ import annotations

from l1ad.errors import L1adError


def configure_tensorflow(device: str) -> str:
    """Make TensorFlow use ``device`` ("auto", "cpu", "gpu"); return the device actually used."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise L1adError("train.device is 'gpu' but TensorFlow sees no GPU; use 'auto' or 'cpu'")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        return "cpu"
    return "gpu" if gpus else "cpu"


def torch_device(device: str) -> str:
    """The torch device string for ``device`` ("auto", "cpu", "gpu")."""
    import torch

    if device == "gpu" and not torch.cuda.is_available():
        raise L1adError("train.device is 'gpu' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if device == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
