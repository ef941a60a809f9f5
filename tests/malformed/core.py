"""The machinery of the malformed-input checks: random choices, valid baselines, running one case
through the command line in-process and judging it, and the helpers mutations share."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

T = TypeVar("T")


class Chooser(Protocol):
    """Source of every random choice a mutation makes (hypothesis draws or a seeded generator)."""

    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""

    def choice(self, options: Sequence[T]) -> T:
        """One of ``options``."""


class RandomChooser:
    """A ``Chooser`` backed by a seeded numpy generator (the benchmark script)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def choice(self, options: Sequence[T]) -> T:
        return options[int(self.rng.integers(len(options)))]


# ---------------------------------------------------------------------------------------------
# Valid baselines: small files in the real layouts, a config that reads them, a finished data stage.
# ---------------------------------------------------------------------------------------------


@dataclass
class Baselines:
    root: Path
    dijet_frame: Path
    dijet_npy: Path
    l1_dir: Path
    jet_images: Path
    config: dict[str, Any]
    config_path: Path
    run_template: Path  # a run directory whose data stage finished with ``config``
    byo_model: Path | None = None
    byo_json: Path | None = None
    byo_weights: Path | None = None
    byo_npy: Path | None = None
    byo_h5: Path | None = None


def build_baselines(root: Path, byo: bool = True) -> Baselines:
    """Write the valid files, run the data stage on them once (the control), and, with ``byo``, a small
    Keras model with its inputs (imports TensorFlow)."""
    from training.data import dijet, jetgenerator, l1generator

    root.mkdir(parents=True, exist_ok=True)
    frame = root / "events.features.h5"
    dijet.generate_dijet_features(frame, n_background=3000, n_signal=400, seed=3)
    features, labels = dijet.load_dijet(frame)
    dijet_npy = root / "dijet_prepared.npy"
    np.save(dijet_npy, np.column_stack([features, labels]).astype(np.float32))
    l1_dir = root / "adc2021"
    l1generator.generate_l1_dataset(l1_dir, n_background=300, n_signal=40, seed=4)
    images = root / "jetImage_baseline.h5"
    jetgenerator.generate_jet_images(images, n_qcd=40, n_wz=40, n_top=20, image_size=40, seed=5)
    config = {
        "run": {"name": "malformed-baseline", "seed": 1},
        "data": {
            "chunk_events": 500,
            "dijet": {"source": str(dijet_npy), "signal_region": [3.3, 3.7]},
            "l1": {"source": str(l1_dir)},
            "jet_images": {"source": str(images), "image_size": 20},
        },
    }
    config_path = root / "baseline.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    template = root / "run_template"
    code, err = call_cli(["data", "--config", str(config_path), "--run-dir", str(template)])
    if code != 0:
        raise RuntimeError(f"the valid baseline failed the data stage (exit {code}): {err}")
    base = Baselines(root, frame, dijet_npy, l1_dir, images, config, config_path, template)
    if byo:
        add_byo_baselines(base)
    return base


def add_byo_baselines(base: Baselines) -> None:
    """A small plain-Keras model (.h5, and JSON + weights) with 200 inputs (.npy and .h5) for BYO cases."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(2)
    inp = tf.keras.Input((6,), name="x")
    hidden = tf.keras.layers.Dense(4, activation="relu", name="hidden")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(1, name="score")(hidden), name="byo_baseline")
    base.byo_model = base.root / "byo_model.h5"
    with warnings.catch_warnings():  # HDF5 on purpose: the format bring-your-own reads
        warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
        model.save(base.byo_model, save_format="h5")
    base.byo_json = base.root / "byo_model.json"
    base.byo_json.write_text(model.to_json())
    base.byo_weights = base.root / "byo_weights.h5"
    model.save_weights(base.byo_weights)
    X = np.random.default_rng(1).uniform(-2, 2, (200, 6)).astype(np.float32)
    base.byo_npy = base.root / "byo_inputs.npy"
    np.save(base.byo_npy, X)
    base.byo_h5 = base.root / "byo_inputs.h5"
    with h5py.File(base.byo_h5, "w") as f:
        f.create_dataset("inputs", data=X)


# ---------------------------------------------------------------------------------------------
# Running one case through the CLI in-process, and judging the outcome.
# ---------------------------------------------------------------------------------------------


def call_cli(argv: list[str]) -> tuple[int | str, str]:
    """``l1ad.cli.main(argv)`` with stdout and stderr captured: (exit code or 'traceback', stderr)."""
    from l1ad import cli

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code: int | str = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # a bug: the user would see this traceback
            err.write(traceback.format_exc())
            code = "traceback"
    return code, err.getvalue()


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Files under ``directory`` (relative path -> (size, mtime_ns)); a missing directory is empty."""
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if not p.is_dir()
    }


@dataclass
class Case:
    loader: str
    mutation: str
    argv: list[str]
    bad_path: Path  # the file (or directory) the message must name
    expect: str  # regex the problem description must match
    run_dir: Path


@dataclass
class Outcome:
    handled: bool
    why: str  # what was wrong, "" when handled as specified
    code: int | str
    stderr: str


def run_case(case: Case) -> Outcome:
    """Run ``case`` and judge it against the specification (see the module docstring)."""
    before = snapshot(case.run_dir)
    code, stderr = call_cli(case.argv)
    after = snapshot(case.run_dir)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    lines = stderr.strip().splitlines()
    problem = ""
    if lines:
        prefix = f"{case.bad_path}: "
        problem = lines[0].split(prefix, 1)[1] if prefix in lines[0] else ""
    if code != 2:
        why = f"exit code {code}, expected 2"
    elif len(lines) != 1:
        why = f"stderr has {len(lines)} lines, expected 1"
    elif "Traceback" in stderr:
        why = "traceback on stderr"
    elif not problem:
        why = f"the message does not name {case.bad_path}"
    elif not re.search(case.expect, problem, re.IGNORECASE):
        why = f"the problem is not described as /{case.expect}/"
    elif changed:
        why = f"run directory changed: {', '.join(changed[:5])}"
    else:
        why = ""
    return Outcome(not why, why, code, stderr.strip())


# ---------------------------------------------------------------------------------------------
# Mutation helpers
# ---------------------------------------------------------------------------------------------

NAN_INF = [np.nan, np.inf, -np.inf]
ABSURD = [1e30, -1e30, 3e38, 1e9]
NOT_READABLE = r"truncated|corrupt|empty|not a readable|not valid|cannot read"


def truncate(src: Path, dst: Path, ch: Chooser) -> None:
    """``src`` cut to a random length shorter than the original (at least one byte lost)."""
    data = src.read_bytes()
    dst.write_bytes(data[: ch.integer(0, len(data) - 1)])


def garbage(dst: Path, ch: Chooser, signature: bytes = b"") -> None:
    """Random bytes (optionally after a file signature): never a valid file of the expected kind."""
    n = ch.integer(0, 2048)
    seed = ch.integer(0, 2**16)
    dst.write_bytes(signature + np.random.default_rng(seed).bytes(n))


def edit_h5(src: Path, dst: Path, edit: Callable[[h5py.File], None]) -> None:
    """Copy ``src`` to ``dst`` and apply ``edit`` to the copy opened read-write."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)


def h5_mutation(
    target: Callable[[Chooser, Baselines, Path], Path],
    edit: Callable[[Chooser, h5py.File], None],
    expect: str,
) -> Mutation:
    """A mutation that applies ``edit`` to an HDF5 file opened read-write: ``target`` puts a valid file
    into ``work`` (or picks one there) and returns its path, the path the message must name."""

    def mutate(ch: Chooser, base: Baselines, work: Path) -> Bad:
        path = target(ch, base, work)
        with h5py.File(path, "r+") as f:
            edit(ch, f)
        return path, expect, []

    return mutate


def save_npy_or_h5(ch: Chooser, work: Path, stem: str, key: str, array: np.ndarray) -> Path:
    """Write ``array`` as ``work/<stem>.npy`` or as dataset ``key`` of ``work/<stem>.h5``, chosen at random."""
    if ch.choice(["npy", "h5"]) == "npy":
        path = work / f"{stem}.npy"
        np.save(path, array, allow_pickle=False)
    else:
        path = work / f"{stem}.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset(key, data=array)
    return path


def replace(f: h5py.File, key: str, data: Any) -> None:
    """Put ``data`` in place of dataset ``key`` (any shape or dtype)."""
    del f[key]
    f.create_dataset(key, data=data)


def poke(
    ch: Chooser, array: np.ndarray, values: Sequence[float], columns: Sequence[int] | None = None
) -> str:
    """Set one random element of ``array`` (restricted to last-axis ``columns``) to a chosen value."""
    index = [ch.integer(0, n - 1) for n in array.shape]
    if columns is not None:
        index[-1] = ch.choice(list(columns))
    value = ch.choice(list(values))
    array[tuple(index)] = value
    return f"{value} at {tuple(index)}"


def wrong_dtype(ch: Chooser, array: np.ndarray, allow_int: bool = True) -> np.ndarray:
    """``array`` as strings, booleans, complex numbers or (with ``allow_int``) integers."""
    kinds = ["S", "U", "bool", "complex"] + (["int"] if allow_int else [])
    kind = ch.choice(kinds)
    if kind == "S":
        return array.astype("S12")
    if kind == "U":
        return array.astype(str).astype("S")  # h5py stores unicode text as bytes
    if kind == "bool":
        return array != 0
    if kind == "complex":
        return array.astype(np.complex64)
    return np.rint(array).astype(np.int32)


def wrong_shape(ch: Chooser, array: np.ndarray) -> np.ndarray:
    """A reshaped, sliced or extended ``array`` whose layout no loader can take for the real one."""
    n = array.shape[0]
    options = ["flat", "extra_axis", "fewer_last", "more_last"]
    if array.ndim >= 3:
        options.append("fewer_middle")
    kind = ch.choice(options)
    if kind == "flat":
        return array.reshape(-1)
    if kind == "extra_axis":
        return array[..., None, :] if array.ndim >= 2 else array[:, None, None]
    if kind == "fewer_last" and array.shape[-1] > 1:
        return array[..., : ch.integer(1, array.shape[-1] - 1)]
    if kind in ("fewer_last", "more_last"):
        pad = np.zeros((*array.shape[:-1], ch.integer(1, 3)), dtype=array.dtype)
        return np.concatenate([array, pad], axis=-1)
    return array[:, : array.shape[1] - ch.integer(1, array.shape[1] - 1)].reshape(n, -1, array.shape[-1])


# A mutation writes its malformed file into ``work`` and returns (the path the message must name,
# a pattern the problem description must match, extra CLI arguments).
Bad = tuple[Path, str, list[str]]
Mutation = Callable[["Chooser", Baselines, Path], Bad]


def dump_config(work: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as ``work/config.yaml``."""
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path
