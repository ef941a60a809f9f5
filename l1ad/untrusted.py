"""Loading model files that may come from elsewhere without running code stored in them.

Every load path of l1ad is pickle-free: YAML goes through ``yaml.safe_load``, scalers and metadata
are JSON, arrays are read with ``np.load(..., allow_pickle=False)`` or h5py (whose string and object
dtypes are HDF5 strings and references, never pickles), torch weights through ``load_torch_state``
(``torch.load(weights_only=True)``: tensors and plain containers only), and Keras models through
``load_keras_model``, which inspects the architecture JSON before Keras deserialises anything: only
classes Keras and QKeras define are allowed, so a Lambda layer (marshalled Python bytecode) or a
class registered by another package (code outside l1ad's dependencies) is refused by name.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import InputError

MODEL_CLASSES = {"Functional", "Sequential", "Model"}
# Keras' own JSON encodings of plain data inside configs (keras/src/saving/legacy/saved_model/json_utils.py)
KERAS_ENCODINGS = {"TensorShape", "__tuple__", "__ellipsis__", "__bytes__"}
TRUSTED_MODULES = ("keras", "qkeras", "tensorflow", "tf_keras")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's text on one line (library messages often span several), at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def qkeras_custom_objects() -> dict[str, Any]:
    """The QKeras layers and quantizers Keras needs to deserialize a QKeras model (the
    QKeras classes trusted by ``load_keras_model``)."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects


@functools.lru_cache(maxsize=1)
def keras_class_allow_list() -> frozenset[str]:
    """Classes Keras and QKeras deserialise from their own code: layers, initialisers, regularisers,
    constraints, activations, QKeras quantizers. ``Lambda`` is not among them."""
    import tensorflow as tf

    names = set(MODEL_CLASSES) | KERAS_ENCODINGS | set(qkeras_custom_objects())
    for module in (
        tf.keras.layers,
        tf.keras.mixed_precision,
        tf.keras.initializers,
        tf.keras.regularizers,
        tf.keras.constraints,
        tf.keras.activations,
    ):
        names |= {n for n in dir(module) if not n.startswith("_")}
    names.discard("Lambda")
    return frozenset(names)


def read_keras_config(path: Path, weights: Path | None) -> dict[str, Any]:
    """The model's architecture as JSON (a .json file, or an .h5 file's ``model_config``), read without
    deserialising anything, and checked to be a Keras model architecture."""
    if path.suffix.lower() == ".json":
        if weights is None:
            raise InputError(path, "a JSON architecture needs its weights file (.h5) as well")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(path, f"not a readable Keras JSON architecture ({one_line(exc)})") from None
    else:
        from l1ad.h5read import open_h5

        with open_h5(path) as f:
            raw = f.attrs.get("model_config")
        if raw is None:
            raise InputError(
                path, "HDF5 file holds no model_config (weights only?): give the architecture JSON with it"
            )
        try:
            config = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise InputError(path, f"model_config attribute is not valid JSON ({one_line(exc)})") from None
    inner = config.get("config") if isinstance(config, dict) else None
    version = str(config.get("keras_version", "")) if isinstance(config, dict) else ""
    if version.startswith("1."):
        raise InputError(
            path,
            f"a Keras {version} model: its layer configs predate Keras 2; load it with Keras 2.x (which "
            "converts them) and save it again (model.save('model.h5')), then give that file",
        )
    # Keras 2.0-2.2 wrote a Sequential model's config as the list of its layers; Keras 2.14 still reads it
    legacy_sequential = (
        isinstance(config, dict) and config.get("class_name") == "Sequential" and isinstance(inner, list)
    )
    if not legacy_sequential and (
        not isinstance(config, dict)
        or config.get("class_name") not in MODEL_CLASSES
        or not isinstance(inner, dict)
        or not isinstance(inner.get("layers"), list)
    ):
        raise InputError(
            path,
            f"the architecture is not a Keras model (expected class_name {'/'.join(sorted(MODEL_CLASSES))} "
            "with a list of layers)",
        )
    return config


def inspect_keras_config(
    config: dict[str, Any], path: str | Path, extra_classes: dict[str, Any] | None = None
) -> None:
    """Refuse Lambda layers and custom objects anywhere in a Keras model config (nothing is deserialised).

    ``extra_classes`` (name -> class) are l1ad's own trusted additions to the allow-list, e.g. the
    layers of a quantization library; their top-level modules are trusted with them.
    """
    extra = extra_classes or {}
    known = keras_class_allow_list() | set(extra)
    quantized = set(qkeras_custom_objects()) | set(extra)
    trusted_modules = set(TRUSTED_MODULES) | {
        getattr(obj, "__module__", "").split(".")[0]
        for obj in extra.values()
        if getattr(obj, "__module__", "")
    }

    def walk(node: Any, owner: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, owner)
            return
        if not isinstance(node, dict):
            return
        name = node.get("class_name")
        inner = node.get("config")
        if isinstance(name, str):
            if isinstance(inner, dict) and isinstance(inner.get("name"), str) and name not in MODEL_CLASSES:
                owner = inner["name"]
            if name == "Lambda":
                raise InputError(
                    path,
                    f"layer '{owner}' is a Lambda layer: loading it would execute Python code stored in "
                    "the file; rebuild the model with built-in layers (e.g. Activation, Add, Multiply)",
                )
            module = node.get("module")
            registered = node.get("registered_name")
            foreign_module = isinstance(module, str) and module.split(".")[0] not in trusted_modules
            foreign_registration = isinstance(registered, str) and registered not in quantized | {name}
            if name not in known or foreign_module or foreign_registration:
                origin = f" from module '{module}'" if isinstance(module, str) else ""
                raise InputError(
                    path,
                    f"layer '{owner}' uses '{registered or name}'{origin}, a custom object outside Keras and "
                    "QKeras: loading it would run code from outside l1ad; rebuild it from Keras/QKeras layers",
                )
        for value in node.values():
            walk(value, owner)

    walk(config, "model")


def check_weight_datasets(path: Path, group: str | None) -> None:
    """Every weight array under ``group`` (the whole file for None) is numeric, and finite where float."""
    import h5py

    from l1ad.h5read import open_h5

    with open_h5(path) as f:
        root = f if group is None else f.get(group)
        if not isinstance(root, h5py.Group):
            raise InputError(path, f"holds no '{group}' group: not a Keras model file with weights")
        arrays: list[tuple[str, h5py.Dataset]] = []
        root.visititems(
            lambda name, obj: arrays.append((name, obj)) if isinstance(obj, h5py.Dataset) else None
        )
        for name, ds in arrays:
            if ds.dtype.kind not in "fiu":
                raise InputError(path, f"weight '{name}' has dtype {ds.dtype}, expected numbers")
            try:
                values = ds[()]
            except OSError as exc:
                raise InputError(
                    path, f"weight '{name}' could not be read, truncated? ({one_line(exc)})"
                ) from None
            if ds.dtype.kind == "f" and not np.all(np.isfinite(values)):
                raise InputError(path, f"weight '{name}' holds NaN/Inf values")


def load_keras_model(
    path: str | Path, weights: str | Path | None = None, custom_objects: dict[str, Any] | None = None
) -> Any:
    """Load a Keras-2 / QKeras model (``.h5``, or a JSON architecture plus ``weights`` .h5) after
    inspecting it: the architecture may hold only Keras/QKeras classes (no Lambda, no custom objects)
    and the weights only finite numbers. ``custom_objects`` (default: QKeras') are l1ad's own trusted
    classes, allowed in the architecture too. The optimizer and training config are not loaded. Every
    problem is one ``InputError`` naming the file."""
    import tensorflow as tf

    path = Path(path)
    weights = None if weights is None else Path(weights)
    if not path.is_file():
        raise InputError(path, "model file not found")
    if weights is not None and not weights.is_file():
        raise InputError(weights, "weights file not found")
    objects = qkeras_custom_objects() if custom_objects is None else custom_objects
    inspect_keras_config(read_keras_config(path, weights), path, objects)
    is_json = path.suffix.lower() == ".json"
    if not is_json:
        check_weight_datasets(path, "model_weights")
    if weights is not None:
        check_weight_datasets(weights, None)
    # Keras raises whatever its internals meet in a file that passed the inspection (KeyError,
    # AttributeError, IndexError, ...): that is the file's fault, named as such.
    try:
        if is_json:
            model = tf.keras.models.model_from_json(path.read_text(encoding="utf-8"), custom_objects=objects)
        else:
            model = tf.keras.models.load_model(path, custom_objects=objects, compile=False)
    except Exception as exc:
        raise InputError(path, f"not a loadable Keras/QKeras model ({one_line(exc)})") from None
    if weights is not None:
        try:
            model.load_weights(weights)
        except Exception as exc:
            raise InputError(weights, f"weights do not fit the model ({one_line(exc)})") from None
    return model


def load_torch_state(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never arbitrary
    pickled objects; a file holding anything else, or not a torch file at all, is an ``InputError``."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "weights file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(
            path,
            "refused: it holds Python objects beyond tensors and plain containers, and unpickling them "
            "could run code; save a state_dict of tensors",
        ) from None
    except Exception as exc:
        raise InputError(path, f"not a readable torch weights file ({one_line(exc)})") from None
