"""Device selection: the same code path uses a GPU when present and the CPU otherwise.

``set_threads(n)`` caps the CPU threads of torch, TensorFlow and the BLAS libraries of this process:
``l1ad run`` gives each study it runs on a Dask worker cores / workers of them, so studies running side
by side do not oversubscribe the cores. Training results do not depend on the thread count beyond float
noise (the seeds fix every random draw; only the order of float additions in a reduction can change).
"""

from __future__ import annotations

import os
import sys

from l1ad.errors import L1adError

_THREADS = 0  # set by set_threads; 0 = each library's default
_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch, TensorFlow and (through threadpoolctl, where installed) BLAS.

    torch takes it at once; TensorFlow only before its runtime starts (the environment variables it
    reads at start, and ``configure_tensorflow``), so call this before a stage imports TensorFlow.
    """
    global _THREADS
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _THREADS = n
    for name in _ENV:
        os.environ[name] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1" if n == 1 else "2"
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1 if n == 1 else 2)
    except RuntimeError:
        pass  # only settable once per process, before any inter-op work: the first setting stays
    if "tensorflow" in sys.modules:
        _tf_threads(sys.modules["tensorflow"])
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n)


def _tf_threads(tf) -> None:  # noqa: ANN001 (the tensorflow module)
    if not _THREADS:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1 if _THREADS == 1 else 2)
    except RuntimeError:
        pass  # the runtime has started (this process ran TensorFlow already): it keeps its pools


def configure_tensorflow(device: str) -> str:
    """Make TensorFlow use ``device`` ("auto", "cpu", "gpu"); return the device actually used.

    GPU memory is taken as needed rather than all at once, so two processes (two studies on one
    machine) can share a GPU."""
    import tensorflow as tf

    _tf_threads(tf)
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise L1adError("train.device is 'gpu' but TensorFlow sees no GPU; use 'auto' or 'cpu'")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        return "cpu"
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            pass  # the runtime has started: the setting it started with stays
    return "gpu" if gpus else "cpu"


def torch_device(device: str) -> str:
    """The torch device string for ``device`` ("auto", "cpu", "gpu")."""
    import torch

    if device == "gpu" and not torch.cuda.is_available():
        raise L1adError("train.device is 'gpu' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if device == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
