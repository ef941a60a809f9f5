"""Mutations of the model-side files: the ``*_splits.h5`` the train stage reads, and the
bring-your-own model (``--model``, ``--weights``) and inputs (``--data``, ``--data-key``)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tests.malformed import core
from tests.malformed.core import Bad, Baselines, Chooser, Mutation

# --- the splits file the train stage reads ------------------------------------------------------


def _splits(edit: Callable[[Chooser, h5py.File], None], expect: str) -> Mutation:
    """A mutation of the splits file in the run directory (a copy of the finished baseline run)."""
    return core.h5_mutation(lambda ch, base, work: work / "run" / "data" / "dijet_splits.h5", edit, expect)


def _splits_bytes(ch: Chooser, base: Baselines, work: Path) -> Bad:
    path = work / "run" / "data" / "dijet_splits.h5"
    original = base.run_template / "data" / "dijet_splits.h5"
    kind = ch.choice(["truncate", "garbage", "empty"])
    if kind == "truncate":
        core.truncate(original, path, ch)
    elif kind == "garbage":
        core.garbage(path, ch, signature=ch.choice([b"", b"\x89HDF\r\n\x1a\n"]))
    else:
        path.write_bytes(b"")
    return path, core.NOT_READABLE, []


def _splits_drop(ch: Chooser, f: h5py.File) -> None:
    split = ch.choice(["train", "val", "test"])
    kind = ch.choice(["group", "X", "y", "classes"])
    if kind == "group":
        del f[split]
    elif kind == "classes":
        del f.attrs["classes"]
    else:
        del f[f"{split}/{kind}"]


def _splits_shape(ch: Chooser, f: h5py.File) -> None:
    split = ch.choice(["train", "val", "test"])
    kind = ch.choice(["X", "y_length", "nuisance_length"])
    if kind == "X":
        core.replace(f, f"{split}/X", core.wrong_shape(ch, f[f"{split}/X"][...]))
    else:
        key = f"{split}/{kind.split('_')[0]}"
        data = f[key][...]
        core.replace(f, key, data[: ch.integer(0, len(data) - 1)])


def _splits_values(ch: Chooser, f: h5py.File) -> None:
    split = ch.choice(["train", "val", "test"])
    X = f[f"{split}/X"][...]
    kind = ch.choice(["nan", "dtype", "empty"])
    if kind == "nan":
        core.poke(ch, X, core.NAN_INF)
    elif kind == "dtype":
        X = core.wrong_dtype(ch, X, allow_int=False)
    else:
        X = X[:0]
        core.replace(f, f"{split}/y", f[f"{split}/y"][...][:0])
        core.replace(f, f"{split}/nuisance", f[f"{split}/nuisance"][...][:0])
    core.replace(f, f"{split}/X", X)


def _splits_labels(ch: Chooser, f: h5py.File) -> None:
    kind = ch.choice(["out_of_range", "signal_in_train", "n_background", "classes"])
    if kind == "out_of_range":
        split = ch.choice(["train", "val", "test"])
        y = f[f"{split}/y"][...]
        core.poke(ch, y, [2, 7, -1])
        core.replace(f, f"{split}/y", y)
    elif kind == "signal_in_train":
        split = ch.choice(["train", "val"])
        y = f[f"{split}/y"][...]
        core.poke(ch, y, [1])
        core.replace(f, f"{split}/y", y)
    elif kind == "n_background":
        f.attrs["n_background_classes"] = ch.choice([0, -1, 2, 5])
    else:
        f.attrs["classes"] = ch.choice(
            [np.array([b"background"]), np.array([1.0, 2.0]), np.array([], dtype="S")]
        )


SPLITS: dict[str, Mutation] = {
    "unreadable_bytes": _splits_bytes,
    "missing_key": _splits(_splits_drop, r"missing"),
    "wrong_shape": _splits(_splits_shape, r"shape|per event|class labels"),
    "bad_values": _splits(_splits_values, r"NaN|Inf|dtype|floating|no events"),
    "wrong_labels": _splits(_splits_labels, r"label|class|background"),
}

# --- bring-your-own firmware --------------------------------------------------------------------


def _byo_model_bytes(ch: Chooser, base: Baselines, work: Path) -> Bad:
    kind = ch.choice(["truncate", "garbage", "empty"])
    path = work / "model.h5"
    if kind == "truncate":
        core.truncate(base.byo_model, path, ch)
    elif kind == "garbage":
        core.garbage(path, ch, signature=ch.choice([b"", b"\x89HDF\r\n\x1a\n", b"PK\x03\x04"]))
    else:
        path.write_bytes(b"")
    return path, core.NOT_READABLE, []


def _model_config(base: Baselines) -> dict[str, Any]:
    with h5py.File(base.byo_model, "r") as f:
        return json.loads(f.attrs["model_config"])


def _byo_config(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """An .h5 model whose architecture JSON is missing, not JSON, or not a Keras model config."""
    path = work / "model.h5"
    config = _model_config(base)
    layers = config["config"]["layers"]
    kind = ch.choice(
        [
            "none",
            "not_json",
            "not_object",
            "no_config",
            "no_layers",
            "layer_no_class",
            "bad_inbound",
            "bad_units",
        ]
    )
    if kind == "none":
        text = None
    elif kind == "not_json":
        text = ch.choice(["{not json", "", "\x01\x02", "[1, 2"])
    elif kind == "not_object":
        text = json.dumps(ch.choice([[], 3, "model", None]))
    else:
        if kind == "no_config":
            del config["config"]
        elif kind == "no_layers":
            del config["config"]["layers"]
        elif kind == "layer_no_class":
            del layers[ch.integer(0, len(layers) - 1)]["class_name"]
        elif kind == "bad_inbound":
            layers[-1]["inbound_nodes"] = [[["no_such_layer", 0, 0, {}]]]
        else:
            layers[1]["config"]["units"] = ch.choice([-4, "four", None, 0])
        text = json.dumps(config)

    def edit(f: h5py.File) -> None:
        del f.attrs["model_config"]
        if text is not None:
            f.attrs["model_config"] = text

    core.edit_h5(base.byo_model, path, edit)
    return path, r"model_config|JSON|not a loadable|architecture|holds no|layer", []


def _byo_weights(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """The stored weights: missing, wrong shape, wrong dtype, NaN/Inf."""
    path = work / "model.h5"
    kind = ch.choice(["missing", "shape", "dtype", "nan"])

    def edit(f: h5py.File) -> None:
        keys: list[str] = []
        f["model_weights"].visititems(lambda k, o: keys.append(k) if isinstance(o, h5py.Dataset) else None)
        key = "model_weights/" + ch.choice(sorted(keys))
        data = f[key][...]
        if kind == "missing":
            del f[key]
        elif kind == "shape":
            core.replace(f, key, core.wrong_shape(ch, data) if data.ndim > 1 else data[:-1])
        elif kind == "dtype":
            core.replace(f, key, data.astype("S12"))
        else:
            core.poke(ch, data, core.NAN_INF)
            core.replace(f, key, data)

    core.edit_h5(base.byo_model, path, edit)
    return path, r"not a loadable|weights|NaN|Inf|dtype", []


def _byo_unsafe(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """A Lambda layer or a class from outside Keras/QKeras in the architecture."""
    path = work / "model.h5"
    config = _model_config(base)
    layer = config["config"]["layers"][ch.integer(1, len(config["config"]["layers"]) - 1)]
    kind = ch.choice(["lambda", "unknown_class", "foreign_module", "registered"])
    if kind == "lambda":
        layer["class_name"] = "Lambda"
        layer["config"]["function"] = [
            "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTAKkBTqkAKQHaAXhyAgAAAHICAAAA",
            None,
            None,
        ]
        expect = r"Lambda"
    elif kind == "unknown_class":
        layer["class_name"] = ch.choice(["EvilLayer", "MyDense", "os.system"])
        expect = r"custom object"
    elif kind == "foreign_module":
        layer["module"] = ch.choice(["evil", "builtins", "os"])
        expect = r"custom object"
    else:
        layer["registered_name"] = "thirdparty>Dense"
        expect = r"custom object"

    def edit(f: h5py.File) -> None:
        f.attrs["model_config"] = json.dumps(config)

    core.edit_h5(base.byo_model, path, edit)
    return path, expect, []


def _byo_json(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """A JSON architecture (with --weights) that is truncated, not JSON, or whose weights file is bad."""
    path = work / "model.json"
    weights = work / "weights.h5"
    shutil.copyfile(base.byo_weights, weights)
    text = base.byo_json.read_text()
    kind = ch.choice(["truncated", "not_json", "no_weights_arg", "weights_bytes", "weights_mismatch"])
    if kind == "truncated":
        path.write_text(text[: ch.integer(0, len(text) - 1)])
        return path, r"JSON|architecture|not a loadable", ["--weights", str(weights)]
    if kind == "not_json":
        path.write_bytes(ch.choice([b"\xff\xfe\x00", b"model: yaml", b"<xml/>", b""]))
        return path, r"JSON|architecture", ["--weights", str(weights)]
    if kind == "no_weights_arg":
        path.write_text(text)
        return path, r"weights", []
    path.write_text(text)
    if kind == "weights_bytes":
        core.truncate(base.byo_weights, weights, ch)
        return weights, core.NOT_READABLE + r"|not a loadable", ["--weights", str(weights)]
    with h5py.File(weights, "r+") as f:
        del f[ch.choice(sorted(f.keys()))]
    return weights, r"not a loadable|weights|layer", ["--weights", str(weights)]


BYO_MODEL: dict[str, Mutation] = {
    "unreadable_bytes": _byo_model_bytes,
    "bad_architecture": _byo_config,
    "bad_weights": _byo_weights,
    "unsafe_layers": _byo_unsafe,
    "json_architecture": _byo_json,
}


def _byo_data_array(ch: Chooser, base: Baselines) -> np.ndarray:
    return np.load(base.byo_npy)


def _byo_data_save(ch: Chooser, work: Path, array: np.ndarray, expect: str) -> Bad:
    """Write ``array`` as inputs.npy or inputs.h5 (dataset 'inputs', named by ``--data-key`` or not)."""
    path = core.save_npy_or_h5(ch, work, "inputs", "inputs", array)
    return path, expect, ["--data-key", "inputs"] if path.suffix == ".h5" and ch.choice([True, False]) else []


def _byo_data(edit: Callable[[Chooser, np.ndarray], np.ndarray], expect: str) -> Mutation:
    def mutate(ch: Chooser, base: Baselines, work: Path) -> Bad:
        return _byo_data_save(ch, work, edit(ch, _byo_data_array(ch, base)), expect)

    return mutate


def _byo_data_bytes(ch: Chooser, base: Baselines, work: Path) -> Bad:
    suffix = ch.choice([".npy", ".h5"])
    path = work / f"inputs{suffix}"
    kind = ch.choice(["truncate", "garbage", "empty", "object"])
    if kind == "truncate":
        core.truncate(base.byo_npy if suffix == ".npy" else base.byo_h5, path, ch)
    elif kind == "garbage":
        core.garbage(path, ch, signature=ch.choice([b"", b"\x93NUMPY", b"\x89HDF\r\n\x1a\n"]))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path = work / "inputs.npy"
        rows = np.empty(2, dtype=object)
        rows[:] = [np.zeros(6), "x"]
        np.save(path, rows, allow_pickle=True)
        return path, r"pickle|object|not a readable", []
    return path, core.NOT_READABLE, []


def _byo_data_keys(ch: Chooser, base: Baselines, work: Path) -> Bad:
    X = _byo_data_array(ch, base)
    path = work / "inputs.h5"
    kind = ch.choice(["two_datasets", "no_dataset", "wrong_key", "group_key"])
    with h5py.File(path, "w") as f:
        if kind != "no_dataset":
            f.create_dataset("inputs", data=X)
        if kind == "two_datasets":
            f.create_dataset("other", data=X)
        if kind == "group_key":
            f.create_group("grp").create_dataset("x", data=X)
    args = {"wrong_key": ["--data-key", "inputz"], "group_key": ["--data-key", "grp"]}.get(kind, [])
    return path, r"name the input dataset|missing key|group", args


def _byo_data_shape(ch: Chooser, X: np.ndarray) -> np.ndarray:
    kind = ch.choice(["wrong_features", "scalar", "flat"])
    if kind == "scalar":
        return np.array(3.0)
    if kind == "flat":
        return X[:, 0]
    return core.wrong_shape(ch, X)[..., :5] if ch.choice([True, False]) else X[:, : ch.integer(1, 5)]


def _byo_data_absurd(ch: Chooser, X: np.ndarray) -> np.ndarray:
    core.poke(ch, X, [1e30, -1e30, 3e38])
    return X


BYO_DATA: dict[str, Mutation] = {
    "unreadable_bytes": _byo_data_bytes,
    "missing_key": _byo_data_keys,
    "wrong_shape": _byo_data(_byo_data_shape, r"shape|per event|events"),
    "wrong_dtype": _byo_data(lambda ch, X: core.wrong_dtype(ch, X, allow_int=False), r"dtype|numeric"),
    "nan_inf": _byo_data(lambda ch, X: (core.poke(ch, X, core.NAN_INF), X)[1], r"NaN|Inf"),
    "no_events": _byo_data(lambda ch, X: X[:0], r"no events|non-empty"),
    "absurd_values": _byo_data(_byo_data_absurd, r"beyond|range|absurd"),
}


def _byo_options(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """Options that do not fit the model: an input format that is not a fixed-point type or out of
    range, an on-chip residual score of a model whose output is not shaped like its input, a latent
    layer the model lacks, or a latent layer without ``--score latent``."""
    kind = ch.choice(["format", "format_range", "residual", "latent_layer", "layer_alone"])
    if kind == "format":
        text = ch.choice(["ap_fixed<16>", "float", "ap_fixed<x,3>", "ap_int<8>", ""])
        return base.byo_model, r"--input-format .* is not a fixed-point type", ["--input-format", text]
    if kind == "format_range":
        text = ch.choice(["ap_fixed<40,6>", "ap_fixed<8,9>", "ap_ufixed<1,0>"])
        return base.byo_model, r"--input-format .*: need 2 <= W <= 32", ["--input-format", text]
    if kind == "residual":
        return (
            base.byo_model,
            r"--score residual needs an output shaped like the input",
            ["--score", "residual"],
        )
    if kind == "latent_layer":
        name = ch.choice(["mu", "encoder_z", "hidden2"])
        return (
            base.byo_model,
            rf"--latent-layer '{re.escape(name)}' is not a layer",
            [
                "--score",
                "latent",
                "--latent-layer",
                name,
            ],
        )
    return base.byo_model, r"--latent-layer goes with --score latent", ["--latent-layer", "hidden"]


BYO_OPTIONS: dict[str, Mutation] = {"options": _byo_options}
