"""One table of layer support: for each Keras / QKeras layer class, what each part of l1ad does with it.

Three registries decide what a layer gets, each beside its code: hls4ml's converter (which classes it
converts, and the hls4ml layer each becomes), l1ad's resource estimate (``firmware.resources``
``LAYER_ESTIMATORS``, by hls4ml layer class) and the RTL tracer (``firmware.rtl.TRACERS``, by Keras class,
a subclass taking its nearest base's mapping). This module joins them, so that a bring-your-own model
is refused (hls4ml cannot convert a layer) or told (the estimate counts a layer as free, the RTL path
skips it) from one table, and docs/layers.md is that table (``python -m firmware.layers``).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path
from typing import Any

from firmware.resources import LAYER_ESTIMATORS
from firmware.rtl import TRACERS
from l1ad.errors import InputError

# Layers that act only in training: a model exported with them is refused with this advice.
TRAINING_ONLY = {
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "SpatialDropout1D",
}
# Layers hls4ml's Keras reader drops (identity at inference).
SKIPPED = {"Dropout"}
# Classes hls4ml converts whose hls4ml layer its ``layer_map`` does not name: its Keras handlers rename them.
HLS4ML_RENAMES = {
    "ReLU": "Activation",
    "Flatten": "Reshape",
    "Permute": "Transpose",
    **dict.fromkeys(("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"), "Merge"),
}


@dataclasses.dataclass(frozen=True)
class LayerSupport:
    """What l1ad does with one layer class: the hls4ml layer it becomes (None: hls4ml cannot convert it;
    "skipped": dropped at conversion), whether the resource estimate models that layer, and the RTL
    tracer's condition for it (None: no RTL mapping)."""

    keras_class: str
    hls4ml_class: str | None
    estimated: bool
    rtl: str | None


@functools.cache
def _hls4ml_classes() -> dict[str, str]:
    """Keras class name -> the hls4ml layer class it converts to, for every class hls4ml converts."""
    import hls4ml
    from hls4ml.model.layers import layer_map

    names = hls4ml.converters.get_supported_keras_layers()
    table = {}
    for name in names:
        if name in ("Sequential", "Functional") or ">" in name:  # nested models; HGQ's own aliases
            continue
        target = layer_map.get(name)
        table[name] = target.__name__ if target is not None else HLS4ML_RENAMES.get(name, name)
    return table


def _rtl_condition(cls: type | None, name: str) -> str | None:
    """The tracer's mapping of a class (by its MRO, as ``quantize.graph.handler_for`` resolves it)."""
    bases = [c.__name__ for c in cls.__mro__] if cls is not None else [name]
    for base in bases:
        if base in TRACERS:
            if TRACERS[base] is None:
                return None
            note = (TRACERS[base].__doc__ or "").strip()
            return note if base == name else f"as {base}: {note}"
    return None


def support(cls: type) -> LayerSupport:
    """The support of the layer class ``cls`` (a Keras or QKeras class)."""
    name = cls.__name__
    hls = "skipped" if name in SKIPPED else _hls4ml_classes().get(name)
    return LayerSupport(name, hls, hls in LAYER_ESTIMATORS, _rtl_condition(cls, name))


def _keras_class(name: str) -> type | None:
    import qkeras
    import tensorflow as tf

    return getattr(tf.keras.layers, name, None) or getattr(qkeras, name, None)


def support_table() -> list[LayerSupport]:
    """Every class hls4ml converts (and the ones it skips), with what the estimate and the RTL do."""
    rows = []
    for name, hls in sorted(_hls4ml_classes().items()):
        rows.append(
            LayerSupport(name, hls, hls in LAYER_ESTIMATORS, _rtl_condition(_keras_class(name), name))
        )
    rows += [LayerSupport(name, "skipped", False, None) for name in sorted(SKIPPED)]
    return rows


def check_hls4ml_support(layers: list[Any], path: str | Path) -> list[LayerSupport]:
    """Each layer's support (in order); an ``InputError`` naming the first layer hls4ml cannot convert."""
    import hls4ml

    rows = []
    for layer in layers:
        row = support(type(layer))
        if row.hls4ml_class is None:
            cls = row.keras_class
            if cls in TRAINING_ONLY:
                what = "it acts only in training: remove it before exporting the model"
            elif cls in ("TFOpLambda", "SlicingOpLambda"):
                what = "a TensorFlow operation applied to a tensor: express it with Keras layers"
            else:
                what = "replace it with supported layers (docs/layers.md lists them)"
            raise InputError(
                path, f"layer '{layer.name}' ({cls}) is not supported by hls4ml {hls4ml.__version__}: {what}"
            )
        rows.append(row)
    return rows


def markdown_table() -> str:
    """docs/layers.md: the support table as Markdown."""
    import hls4ml

    lines = [
        "# Layer support",
        "",
        f"Generated by `python -m firmware.layers > docs/layers.md` (hls4ml {hls4ml.__version__}); "
        "`tests/test_layers.py` keeps it current.",
        "",
        "A bring-your-own model (`l1ad firmware --model`) is refused, naming the layer, where hls4ml cannot "
        "convert a layer. **hls4ml layer**: what the layer becomes in the HLS project. **Estimate**: l1ad's "
        "resource estimate models that layer (otherwise it counts as free, with a note in the resources). "
        "**RTL (da4ml)**: the Verilog tracer's mapping and its condition (`l1ad firmware --model ... --rtl`, and "
        "the deployed scorers); a model with a layer it does not map has its RTL skipped, with the reason.",
        "",
        "| Keras class | hls4ml layer | Estimate | RTL (da4ml) |",
        "|---|---|---|---|",
    ]
    for row in support_table():
        lines.append(
            f"| {row.keras_class} | {row.hls4ml_class} | {'yes' if row.estimated else 'no'} | "
            f"{row.rtl or 'no'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
