"""Bring your own HGQ proxy model: one .h5 with ``FixedPointQuantizer`` layers, as HGQ's ``to_proxy_model``
saves it, converted by hls4ml's own proxy flow and checked bit for bit against the proxy.

The file is read with HGQ's classes as known objects and nothing else (``quantize.hgq.load_proxy``:
a Lambda or any class outside a proxy's is refused before Keras deserialises anything). The proxy
fixes every type, so nothing is chosen here; its float64 twin (``quantize.hgq.exact_proxy``) is the
reference, fed the inputs on the grid of the proxy's first quantizer, as the trigger delivers them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware import resources
from firmware.build_cache import compile_model
from firmware.csim import output_agreement, predict_outputs, worst_agreement
from firmware.hgq_hls import convert_proxy
from firmware.hls import format_of, layer_precisions
from firmware.records import BYOValidation
from l1ad.artifacts import ModelFirmwarePaths
from l1ad.config import FirmwareConfig
from l1ad.errors import InputError
from l1ad.io import write_record
from quantize import hgq

QUANTIZER_CLASSES = ("FixedPointQuantizer", "HGQ>FixedPointQuantizer")


def is_proxy_file(path: str | Path) -> bool:
    """Whether the .h5 model ``path`` holds HGQ ``FixedPointQuantizer`` layers (read as JSON only)."""
    import h5py

    path = Path(path)
    if path.suffix.lower() == ".json" or not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
        text = raw.decode() if isinstance(raw, bytes) else raw
        json.loads(text)
    except (OSError, TypeError, ValueError, AttributeError):
        return False  # not an HDF5 Keras model: the ordinary loader says what it is
    return any(f'"class_name": "{name}"' in text for name in QUANTIZER_CLASSES)


def proxy_input_shape(path: str | Path) -> tuple[int, ...]:
    """The shape of one event at the proxy's input (loading it the safe way)."""
    proxy = hgq.load_proxy(path)
    return tuple(int(s) for s in proxy.inputs[0].shape[1:])


def on_input_grid(twin: Any, X: np.ndarray, path: Path) -> np.ndarray:
    """``X`` through the proxy's first layer when that is its input quantizer (the values the trigger
    delivers); a proxy without one is refused (hls4ml would have no input type to derive)."""
    import tensorflow as tf

    first = twin.layers[1] if len(twin.layers) > 1 else None
    if first is None or type(first).__name__ not in ("FixedPointQuantizer", "ExactFixedPointQuantizer"):
        raise InputError(path, "the HGQ proxy does not start with a FixedPointQuantizer: no input format")
    probe = tf.keras.Model(twin.input, first.output)
    return np.asarray(probe(np.asarray(X, dtype=np.float64), training=False), dtype=np.float64)


def byo_proxy(
    model_path: Path,
    out_dir: Path,
    fw: FirmwareConfig,
    X: np.ndarray,
    inputs: str,
    project_name: str,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Convert, compile and validate the HGQ proxy ``model_path`` into ``out_dir`` on the events ``X``
    (described by ``inputs``, with class ``labels`` or None); returns (and writes) the report row, in
    ``byo_firmware``'s form."""
    paths = ModelFirmwarePaths(out_dir)
    proxy = hgq.load_proxy(model_path)
    twin = hgq.exact_proxy(proxy)
    X_grid = on_input_grid(twin, X, model_path)
    names = list(proxy.output_names)
    result = twin(X_grid, training=False)
    result = result if isinstance(result, (list, tuple)) else [result]
    reference = [np.asarray(r, dtype=np.float64).reshape(len(X_grid), -1) for r in result]
    t0 = time.perf_counter()
    hls_model = convert_proxy(proxy, paths.hls_project, fw, project_name)
    convert_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    compile_model(hls_model)
    csim = predict_outputs(hls_model, X_grid)
    csim_seconds = time.perf_counter() - t1
    outputs = []
    for name, variable, values, expected in zip(
        names, hls_model.get_output_variables(), csim, reference, strict=True
    ):
        outputs.append(
            {
                **output_agreement(name, variable, values, expected, labels),
                "reference": "HGQ proxy float64 twin",
                "exact_expected": True,
                "why_not_exact": None,
            }
        )
    row = {
        "model": proxy.name,
        "source_model": str(model_path),
        "hls_project": paths.hls_project.name,
        "precision_route": "hgq proxy",
        "post_training_quantization": None,
        "inputs": inputs,
        **worst_agreement(outputs, len(X_grid)),
        "exact_expected": True,
        "outputs": outputs,
        "output_lsb": outputs[0]["lsb"],
        "output_format": outputs[0]["format"],
        "input_format": str(format_of(hls_model.get_input_variables()[0].type.precision)),
        "input_format_source": "the proxy's input quantizer",
        "io_type": hls_model.config.get_config_value("IOType"),
        "layer_precisions": layer_precisions(hls_model),
        "resources": resources.estimate(hls_model, fw.part, fw.clock_period_ns),
        "convert_seconds": convert_seconds,
        "compile_and_csim_seconds": csim_seconds,
        "notes": ["HGQ proxy: every type from its quantizers (hls4ml's proxy flow), nothing chosen by l1ad"],
    }
    write_record(paths.validation, BYOValidation, row)
    return row
