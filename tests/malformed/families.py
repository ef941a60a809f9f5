"""Mutations of the data families' files, as the data stage reads them from each family's ``source``:
the LHCO features frame, prepared dijet arrays, the ADC2021 directory and hls4ml jet images."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from tests.malformed import core
from tests.malformed.core import Bad, Baselines, Chooser, Mutation


def _frame_values(f: h5py.File) -> np.ndarray:
    return f["df/block0_values"][...]


def _set_frame(f: h5py.File, values: np.ndarray, names: np.ndarray | None = None) -> None:
    core.replace(f, "df/block0_values", values)
    if names is not None:
        core.replace(f, "df/block0_items", names)
        core.replace(f, "df/axis0", names)


def _frame(edit: Callable[[Chooser, h5py.File], None], expect: str) -> Mutation:
    """A mutation of a copy of the baseline features frame."""
    return core.h5_mutation(
        lambda ch, base, work: shutil.copyfile(base.dijet_frame, work / "events.features.h5"), edit, expect
    )


def _frame_bytes(ch: Chooser, base: Baselines, work: Path, how: str) -> Bad:
    path = work / "events.features.h5"
    if how == "truncate":
        core.truncate(base.dijet_frame, path, ch)
    else:
        core.garbage(path, ch, signature=ch.choice([b"", b"\x89HDF\r\n\x1a\n"]))
    return path, core.NOT_READABLE, []


def _frame_nan(ch: Chooser, f: h5py.File) -> None:
    values = _frame_values(f)
    core.poke(ch, values, core.NAN_INF)
    _set_frame(f, values)


def _frame_absurd(ch: Chooser, f: h5py.File) -> None:
    from training.data.dijet import FEATURE_COLUMNS

    values = _frame_values(f)
    momenta = [i for i, c in enumerate(FEATURE_COLUMNS) if c[:2] in ("px", "py", "pz", "mj")]
    core.poke(ch, values, core.ABSURD, momenta)
    _set_frame(f, values)


def _frame_negative(ch: Chooser, f: h5py.File) -> None:
    from training.data.dijet import FEATURE_COLUMNS

    values = _frame_values(f)
    nonnegative = [i for i, c in enumerate(FEATURE_COLUMNS) if c[:2] in ("mj", "ta")]
    core.poke(ch, values, [-1.0, -50.0, -1e4], nonnegative)
    _set_frame(f, values)


def _frame_labels(ch: Chooser, f: h5py.File) -> None:
    values = _frame_values(f)
    kind = ch.choice(["value", "all_background", "all_signal"])
    if kind == "value":
        core.poke(ch, values, [2.0, -1.0, 0.5, 1e30], [14])
    else:
        values[:, 14] = 0.0 if kind == "all_background" else 1.0
    _set_frame(f, values)


def _frame_drop_column(ch: Chooser, f: h5py.File) -> None:
    from training.data.dijet import FEATURE_COLUMNS

    values = _frame_values(f)
    names = f["df/block0_items"][...]
    drop = ch.integer(0, len(FEATURE_COLUMNS) - 1)  # the label too: labels are needed for the test sets
    keep = [i for i in range(values.shape[1]) if i != drop]
    _set_frame(f, values[:, keep], names[keep])


def _frame_drop_key(ch: Chooser, f: h5py.File) -> None:
    del f[ch.choice(["df/block0_values", "df/block0_items", "df"])]


def _frame_shape(ch: Chooser, f: h5py.File) -> None:
    kind = ch.choice(["values", "names"])
    if kind == "values":
        _set_frame(f, core.wrong_shape(ch, _frame_values(f)))
    else:
        names = f["df/block0_items"][...]
        core.replace(f, "df/block0_items", names[: ch.integer(0, len(names) - 1)])


def _frame_dtype(ch: Chooser, f: h5py.File) -> None:
    if ch.choice(["values", "names"]) == "values":
        _set_frame(f, core.wrong_dtype(ch, _frame_values(f)))
    else:
        core.replace(f, "df/block0_items", np.arange(15, dtype=np.float64))


def _frame_empty(ch: Chooser, f: h5py.File) -> None:
    _set_frame(f, _frame_values(f)[:0])


def _frame_group(ch: Chooser, f: h5py.File) -> None:
    key = ch.choice(["df/block0_values", "df/block0_items"])
    del f[key]
    f.create_group(key)


DIJET_FRAME: dict[str, Mutation] = {
    "truncated": lambda ch, b, w: _frame_bytes(ch, b, w, "truncate"),
    "garbage": lambda ch, b, w: _frame_bytes(ch, b, w, "garbage"),
    "missing_key": _frame(_frame_drop_key, r"missing|no label|expected"),
    "missing_column": _frame(_frame_drop_column, r"missing|column"),
    "group_not_dataset": _frame(_frame_group, r"group|strings|expected"),
    "wrong_shape": _frame(_frame_shape, r"shape|columns|dimensions"),
    "wrong_dtype": _frame(_frame_dtype, r"dtype|strings|numeric|floating|missing"),
    "nan_inf": _frame(_frame_nan, r"NaN|Inf"),
    "no_events": _frame(_frame_empty, r"no events"),
    "absurd_values": _frame(_frame_absurd, r"absurd|expected values|beyond|range"),
    "negative_values": _frame(_frame_negative, r"negative"),
    "wrong_labels": _frame(_frame_labels, r"label|no (signal|background) events"),
}


def _prepared_array(ch: Chooser, base: Baselines) -> np.ndarray:
    return np.load(base.dijet_npy)


def _save_prepared(ch: Chooser, work: Path, array: np.ndarray, expect: str) -> Bad:
    """Write ``array`` as a prepared .npy or as dataset 'data' of an .h5, chosen at random."""
    return core.save_npy_or_h5(ch, work, "prepared", "data", array), expect, []


def _prepared(edit: Callable[[Chooser, np.ndarray], np.ndarray], expect: str) -> Mutation:
    def mutate(ch: Chooser, base: Baselines, work: Path) -> Bad:
        return _save_prepared(ch, work, edit(ch, _prepared_array(ch, base)), expect)

    return mutate


def _prepared_bytes(ch: Chooser, base: Baselines, work: Path) -> Bad:
    kind = ch.choice(["truncate", "garbage", "empty", "text"])
    suffix = ch.choice([".npy", ".h5"])
    path = work / f"prepared{suffix}"
    if kind == "truncate":
        full = work / f"full{suffix}"
        _save_prepared_to(full, _prepared_array(ch, base))
        core.truncate(full, path, ch)
    elif kind == "garbage":
        core.garbage(path, ch, signature=ch.choice([b"", b"\x93NUMPY", b"\x89HDF\r\n\x1a\n"]))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("mjj,mj_min,dm,tau21_light,tau21_heavy,label\n3.5,0.1,0.2,0.5,0.4,0\n")
    return path, core.NOT_READABLE, []


def _save_prepared_to(path: Path, array: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, array)
    else:
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=array)


def _prepared_object(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """An object array (only loadable by unpickling) or a ragged h5 dataset."""
    path = work / "prepared.npy"
    rows = np.empty(3, dtype=object)
    rows[:] = [np.zeros(6), np.ones(5), "x"]
    np.save(path, rows, allow_pickle=True)
    return path, r"pickle|object|not a readable", []


def _prepared_h5_keys(ch: Chooser, base: Baselines, work: Path) -> Bad:
    array = _prepared_array(ch, base)
    path = work / "prepared.h5"
    kind = ch.choice(["two", "group", "none"])
    with h5py.File(path, "w") as f:
        if kind == "two":
            f.create_dataset("features", data=array)
            f.create_dataset("other", data=array)
        elif kind == "group":
            f.create_group("data").create_dataset("x", data=array)
            f.create_dataset("other", data=array)
        else:
            f.attrs["note"] = "no datasets"
    return path, r"missing key|group|expected", []


def _prepared_extension(ch: Chooser, base: Baselines, work: Path) -> Bad:
    path = work / f"prepared{ch.choice(['.csv', '.txt', '.pkl', '.npz', ''])}"
    shutil.copyfile(base.dijet_npy, path)
    return path, r"extension", []


def _prepared_nan(ch: Chooser, a: np.ndarray) -> np.ndarray:
    core.poke(ch, a, core.NAN_INF)
    return a


def _prepared_absurd(ch: Chooser, a: np.ndarray) -> np.ndarray:
    kind = ch.choice(["huge", "negative", "gev"])
    if kind == "huge":
        core.poke(ch, a, core.ABSURD, range(5))
    elif kind == "negative":
        core.poke(ch, a, [-1.0, -3.5, -1e4], range(5))
    else:
        a[:, :3] *= 1000.0  # GeV where TeV is expected
    return a


def _prepared_labels(ch: Chooser, a: np.ndarray) -> np.ndarray:
    kind = ch.choice(["value", "all_background", "all_signal", "none"])
    if kind == "value":
        core.poke(ch, a, [2.0, -1.0, 0.5, 7.0], [5])
    elif kind == "none":
        return a[:, :5]
    else:
        a[:, 5] = 0.0 if kind == "all_background" else 1.0
    return a


DIJET_PREPARED: dict[str, Mutation] = {
    "unreadable_bytes": _prepared_bytes,
    "object_dtype": _prepared_object,
    "missing_key": _prepared_h5_keys,
    "wrong_extension": _prepared_extension,
    "wrong_shape": _prepared(core.wrong_shape, r"shape|columns"),
    "wrong_dtype": _prepared(core.wrong_dtype, r"dtype|numeric|floating"),
    "nan_inf": _prepared(_prepared_nan, r"NaN|Inf"),
    "no_events": _prepared(lambda ch, a: a[:0], r"no events"),
    "absurd_values": _prepared(_prepared_absurd, r"expected values|negative|signal region|range"),
    "wrong_labels": _prepared(_prepared_labels, r"label|no (signal|background) events"),
}


def _l1_copy(base: Baselines, work: Path) -> Path:
    directory = work / "adc2021"
    shutil.copytree(base.l1_dir, directory)
    return directory


def _l1_file(ch: Chooser, directory: Path) -> Path:
    return ch.choice(sorted(directory.glob("*.h5")))


def _l1(edit: Callable[[Chooser, h5py.File], None], expect: str) -> Mutation:
    """A mutation of one file, picked at random, of a copy of the baseline ADC2021 directory."""
    return core.h5_mutation(lambda ch, base, work: _l1_file(ch, _l1_copy(base, work)), edit, expect)


def _l1_bytes(ch: Chooser, base: Baselines, work: Path) -> Bad:
    directory = _l1_copy(base, work)
    path = _l1_file(ch, directory)
    kind = ch.choice(["truncate", "garbage", "empty"])
    if kind == "truncate":
        core.truncate(base.l1_dir / path.name, path, ch)
    elif kind == "garbage":
        core.garbage(path, ch, signature=ch.choice([b"", b"\x89HDF\r\n\x1a\n"]))
    else:
        path.write_bytes(b"")
    return path, core.NOT_READABLE, []


def _l1_files(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """A sample missing from the directory, present twice, or the directory itself a file."""
    directory = _l1_copy(base, work)
    path = _l1_file(ch, directory)
    kind = ch.choice(["missing", "twice", "not_a_directory"])
    if kind == "missing":
        path.unlink()
        return directory, r"missing sample", []
    if kind == "twice":
        shutil.copyfile(path, path.with_name(f"{path.stem}_filtered.h5"))
        return directory, r"twice", []
    shutil.rmtree(directory)
    directory.write_bytes(b"")
    return directory, r"not found|not a directory", []


def _l1_particles(f: h5py.File) -> np.ndarray:
    return f["Particles"][...]


def _l1_nan(ch: Chooser, f: h5py.File) -> None:
    p = _l1_particles(f)
    core.poke(ch, p, core.NAN_INF)
    core.replace(f, "Particles", p)


def _l1_absurd(ch: Chooser, f: h5py.File) -> None:
    p = _l1_particles(f)
    kind = ch.choice(["pt", "eta", "phi", "negative_pt"])
    if kind == "negative_pt":
        core.poke(ch, p, [-1.0, -30.0, -1e30], [0])
    elif kind == "pt":
        core.poke(ch, p, core.ABSURD, [0])
    else:  # eta and phi count only where the slot is filled (empty slots are zeroed on read)
        filled = np.argwhere(p[..., 0] > 0)
        event, slot = filled[ch.integer(0, len(filled) - 1)]
        p[event, slot, 1 if kind == "eta" else 2] = ch.choice([1e30, -1e30, 1e3, -720.0])
    core.replace(f, "Particles", p)


def _l1_labels(ch: Chooser, f: h5py.File) -> None:
    """A filled slot whose class is not the class of its slot (or no class at all)."""
    p = _l1_particles(f)
    filled = np.argwhere(p[..., 0] > 0)
    event, slot = filled[ch.integer(0, len(filled) - 1)]
    p[event, slot, 3] = ch.choice(
        [c for c in (0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 2.5, -1.0) if c != p[event, slot, 3]]
    )
    core.replace(f, "Particles", p)


def _l1_names(ch: Chooser, f: h5py.File) -> None:
    names = list(f["Particles_Names"][...])
    i, j = ch.integer(0, 3), ch.integer(0, 3)
    names[i], names[j] = names[j], names[i]
    if i == j:
        names[i] = b"pT"
    core.replace(f, "Particles_Names", np.array(names))


def _l1_drop(ch: Chooser, f: h5py.File) -> None:
    data = f["Particles"][...]
    del f["Particles"]
    kind = ch.choice(["gone", "renamed", "group"])
    if kind == "renamed":
        f.create_dataset(ch.choice(["particles", "Objects", "X"]), data=data)
    elif kind == "group":
        f.create_group("Particles")


L1: dict[str, Mutation] = {
    "unreadable_bytes": _l1_bytes,
    "directory_layout": _l1_files,
    "missing_key": _l1(_l1_drop, r"missing key|group"),
    "wrong_shape": _l1(
        lambda ch, f: core.replace(f, "Particles", core.wrong_shape(ch, _l1_particles(f))), r"shape"
    ),
    "wrong_dtype": _l1(
        lambda ch, f: core.replace(f, "Particles", core.wrong_dtype(ch, _l1_particles(f))),
        r"dtype|numeric|floating",
    ),
    "nan_inf": _l1(_l1_nan, r"NaN|Inf"),
    "no_events": _l1(lambda ch, f: core.replace(f, "Particles", _l1_particles(f)[:0]), r"no events"),
    "absurd_values": _l1(_l1_absurd, r"negative|expected values|range"),
    "wrong_labels": _l1(_l1_labels, r"class"),
    "wrong_names": _l1(_l1_names, r"Particles_Names"),
}


def _ji(edit: Callable[[Chooser, h5py.File], None], expect: str) -> Mutation:
    """A mutation of a copy of the baseline jet-image file."""
    return core.h5_mutation(
        lambda ch, base, work: shutil.copyfile(base.jet_images, work / "jetImage_bad.h5"), edit, expect
    )


def _ji_bytes(ch: Chooser, base: Baselines, work: Path) -> Bad:
    path = work / "jetImage_bad.h5"
    kind = ch.choice(["truncate", "garbage", "empty"])
    if kind == "truncate":
        core.truncate(base.jet_images, path, ch)
    elif kind == "garbage":
        core.garbage(path, ch, signature=ch.choice([b"", b"\x89HDF\r\n\x1a\n"]))
    else:
        path.write_bytes(b"")
    return path, core.NOT_READABLE, []


def _ji_column(f: h5py.File, name: str) -> int:
    names = [n.decode() for n in f["jetFeatureNames"][...]]
    return names.index(name)


def _ji_drop(ch: Chooser, f: h5py.File) -> None:
    key = ch.choice(["jetImage", "jets", "jetFeatureNames"])
    data = f[key][...]
    del f[key]
    if ch.choice(["gone", "group"]) == "group":
        f.create_group(key).create_dataset("x", data=data)


def _ji_shape(ch: Chooser, f: h5py.File) -> None:
    key = ch.choice(["jetImage", "jets", "rows"])
    if key == "rows":  # jets and images disagree on the number of events
        jets = f["jets"][...]
        core.replace(f, "jets", jets[: ch.integer(1, len(jets) - 1)])
    else:
        core.replace(f, key, core.wrong_shape(ch, f[key][...]))


def _ji_dtype(ch: Chooser, f: h5py.File) -> None:
    key = ch.choice(["jetImage", "jets", "jetFeatureNames"])
    data = f[key][...]
    core.replace(
        f,
        key,
        np.arange(len(data), dtype=np.float32) if key == "jetFeatureNames" else core.wrong_dtype(ch, data),
    )


def _ji_nan(ch: Chooser, f: h5py.File) -> None:
    key = ch.choice(["jetImage", "jets"])
    data = f[key][...]
    columns = None if key == "jetImage" else [_ji_column(f, c) for c in ("j_pt", "j_mass", "j_g", "j_t")]
    core.poke(ch, data, core.NAN_INF, columns)
    core.replace(f, key, data)


def _ji_absurd(ch: Chooser, f: h5py.File) -> None:
    kind = ch.choice(["pixel", "negative_pixel", "j_pt", "j_mass"])
    if kind in ("pixel", "negative_pixel"):
        data = f["jetImage"][...]
        core.poke(ch, data, core.ABSURD if kind == "pixel" else [-1.0, -100.0, -1e30])
        core.replace(f, "jetImage", data)
    else:
        data = f["jets"][...]
        values = core.ABSURD + ([-1.0, -500.0] if kind == "j_pt" else [])
        core.poke(ch, data, values, [_ji_column(f, kind)])
        core.replace(f, "jets", data)


def _ji_labels(ch: Chooser, f: h5py.File) -> None:
    jets = f["jets"][...]
    flags = [_ji_column(f, c) for c in ("j_g", "j_q", "j_w", "j_z", "j_t")]
    kind = ch.choice(["value", "two_flags", "no_flags", "missing_class", "renamed_flag"])
    if kind == "value":
        core.poke(ch, jets, [2.0, 0.5, -1.0], flags)
    elif kind == "two_flags":
        event = ch.integer(0, len(jets) - 1)
        set_flags = [c for c in flags if jets[event, c] == 0]
        jets[event, ch.choice(set_flags)] = 1.0
    elif kind == "no_flags":
        jets[:, flags] = 0.0
    elif kind == "missing_class":
        cls = ch.choice([["j_g", "j_q"], ["j_w", "j_z"], ["j_t"]])
        gone = np.isin(np.argmax(jets[:, flags], axis=1), [flags.index(_ji_column(f, c)) for c in cls])
        jets[np.ix_(gone, flags)] = 0.0
    else:
        names = f["jetFeatureNames"][...]
        names[ch.choice(flags + [_ji_column(f, "j_pt"), _ji_column(f, "j_mass")])] = b"j_unknown"
        core.replace(f, "jetFeatureNames", names)
    core.replace(f, "jets", jets)


JET_IMAGES: dict[str, Mutation] = {
    "unreadable_bytes": _ji_bytes,
    "missing_key": _ji(_ji_drop, r"missing key|group|strings"),
    "wrong_shape": _ji(_ji_shape, r"shape|holds|names \d+ columns|strings"),
    "wrong_dtype": _ji(_ji_dtype, r"dtype|numeric|floating|strings"),
    "nan_inf": _ji(_ji_nan, r"NaN|Inf"),
    "no_events": _ji(
        lambda ch, f: [core.replace(f, k, f[k][...][:0]) for k in ("jetImage", "jets")], r"no events"
    ),
    "absurd_values": _ji(_ji_absurd, r"negative|expected values|range"),
    "wrong_labels": _ji(_ji_labels, r"class|flag|no '|jets in the input"),
}
