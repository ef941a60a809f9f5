"""Sharded C simulation: score a large HDF5 event file with a run's compiled firmware model on Dask.

The client builds the model's C simulation library once (g++ on a copy of the run's HLS
project, beside the output file so that cluster workers on a shared filesystem can load it);
every worker loads it once (ctypes, cached per process) and scores the chunks it is given,
reading only its own rows from the input file, so a worker's memory is bounded by one chunk.
The client writes each chunk's scores at its place in one HDF5 file (``score`` and
``event_index``: the row in the input file), under a temporary name that records finished
chunks, so an interrupted job resumes; the file is renamed into place when complete.

Inputs: for the L1 autoencoder, an ADC2021 file (``Particles``), preprocessed with the run's
fitted preprocessing; for any model, a dataset of model-ready inputs (``key``), as the data
stage writes them. Either is rounded to the model's declared input format, as the trigger
delivers it (``quantize_inputs``), before the C simulation.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.ctypeslib as npc

from firmware import tools
from firmware.build_cache import reads_weight_files
from firmware.records import FirmwareValidation
from l1ad.artifacts import RunPaths, hls_sources
from l1ad.config import DEPLOYED
from l1ad.errors import InputError, L1adError
from l1ad.io import read_record
from l1ad.tasks import TaskRunner
from quantize.records import QuantizeInfo

# Scores are float64 with the event index: 16 bytes per event on the client per chunk in flight.
SCORE_DTYPE = np.float64


@dataclasses.dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to score rows of the input file (all paths absolute)."""

    library: str  # the compiled C simulation (.so)
    function: str  # its double-precision entry point, <project>_double
    n_inputs: int  # values per event the model takes (an image counts its pixels)
    input_path: str
    key: str  # dataset read from the input file
    layout: str  # "particles" (ADC2021, preprocessed here) or "inputs" (model-ready)
    preprocessing: str  # the run's L1 preprocessing JSON for "particles", else ""
    input_bits: int
    input_integer: int


class CsimLibrary:
    """A compiled hls4ml C simulation called through its C bridge, one event per call (as hls4ml's
    own ``predict``), for a single-input, single-output model."""

    def __init__(self, path: str, function: str, n_inputs: int) -> None:
        self.function = getattr(ctypes.CDLL(path), function)
        self.function.restype = None
        self.function.argtypes = [npc.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")] * 2
        self.n_inputs = n_inputs

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64).reshape(len(X), self.n_inputs)
        out = np.zeros(len(X), dtype=np.float64)
        one = np.zeros(1, dtype=np.float64)
        for i in range(len(X)):
            self.function(X[i], one)
            out[i] = one[0]
        return out


_LIBRARIES: dict[tuple[str, str], CsimLibrary] = {}  # per worker process: each library is loaded once


def score_chunk(job: ShardJob, start: int, stop: int) -> tuple[int, np.ndarray]:
    """Score input rows [start, stop) (runs on a worker); returns (start, scores)."""
    from quantize.qmodels import quantize_inputs

    lib = _LIBRARIES.get((job.library, job.function))
    if lib is None:
        lib = _LIBRARIES[(job.library, job.function)] = CsimLibrary(job.library, job.function, job.n_inputs)
    X = read_rows(job, start, stop)
    return start, lib.predict(quantize_inputs(X, job.input_bits, job.input_integer))


def read_rows(job: ShardJob, start: int, stop: int) -> np.ndarray:
    """Model inputs of rows [start, stop), float32, NaN/Inf rejected naming the rows."""
    from l1ad.io import require_finite

    with h5py.File(job.input_path, "r") as f:
        block = f[job.key][start:stop]
    require_finite(block, job.input_path, f"'{job.key}' (events {start}-{stop})")
    if job.layout == "inputs":
        return block.astype(np.float32).reshape(len(block), -1)
    from training.data.l1objects import L1Preprocessor

    particles = block.astype(np.float32)
    if np.any(particles[..., 0] < 0):
        raise InputError(job.input_path, f"'Particles' holds negative pT values (events {start}-{stop})")
    particles[particles[..., 0] == 0, 1:] = 0.0  # pT alone says whether a slot is filled (as the loader)
    return L1Preprocessor.from_json(job.preprocessing).transform(particles)


def build_library(project: Path, build_dir: Path) -> tuple[str, str]:
    """The HLS project's C simulation library, in ``build_dir``: returns (library path, entry point).

    The firmware stage's own library when the project holds exactly one that loads here (the one its
    csim scores and trace came from: no g++ run), copied so that the run's finished artifact is never
    opened for writing; otherwise compiled with the project's build_lib.sh (g++) in a copy of the
    project, as g++ writes beside the sources. A library that reads hls4ml's weight files at run time
    looks for them where it was built (the stage's temporary folder, renamed since): it is rebuilt too.
    """
    shutil.rmtree(build_dir, ignore_errors=True)
    prebuilt = sorted(hls_sources(project).glob("*.so"))
    if len(prebuilt) == 1 and not reads_weight_files(project) and _loads(prebuilt[0]):
        build_dir.mkdir(parents=True)
        library = build_dir / prebuilt[0].name
        shutil.copy2(prebuilt[0], library)
    else:
        shutil.copytree(
            project, build_dir, ignore=shutil.ignore_patterns("*.so", "*.o", "tb_data", "testbench")
        )
        what = f"g++ build of the C simulation of {project}"
        built = tools.run(["bash", "build_lib.sh"], build_dir, what, "build_lib.log", check=False)
        libraries = sorted(hls_sources(build_dir).glob("*.so"))
        if built.returncode != 0 or len(libraries) != 1:
            raise L1adError(f"g++ could not build the C simulation of {project}: {built.last_line()}")
        library = libraries[0]
    project_name = library.name.rsplit("-", 1)[0]
    return str(library), f"{project_name}_double"


def _loads(library: Path) -> bool:
    """Whether ``library`` loads in this process (a project copied from another machine may not)."""
    try:
        ctypes.CDLL(str(library))
    except OSError:
        return False
    return True


def _job(run: Path, model: str, input_path: Path, key: str | None, library: tuple[str, str]) -> ShardJob:
    """Work out the input layout of ``input_path`` for ``model`` and check its shape against the model."""
    from l1ad.h5read import open_h5, require_dataset

    qinfo: QuantizeInfo = read_record(RunPaths(run).quantize.info(model), QuantizeInfo)
    bits = qinfo["bits"]
    splits_path = run / qinfo["splits"]
    with h5py.File(splits_path, "r") as f:
        event_shape = tuple(f["test/X"].shape[1:])
    with open_h5(input_path) as f:
        if key is None:
            if qinfo["family"] != "l1" or "Particles" not in f:
                raise InputError(input_path, f"give the dataset of {model} inputs {event_shape} with --key")
            key = "Particles"
        if qinfo["family"] == "l1" and key == "Particles":
            require_dataset(f, key, input_path, ndim=3, trailing=(19, 4))
            layout, preprocessing = "particles", str(RunPaths(run).data.preprocessing("l1"))
        else:
            ds = require_dataset(f, key, input_path)
            if tuple(ds.shape[1:]) != event_shape and (
                ds.ndim != 2 or ds.shape[1] != int(np.prod(event_shape))
            ):
                raise InputError(
                    input_path, f"'{key}' has shape {ds.shape}, {model} takes (N, {event_shape})"
                )
            layout, preprocessing = "inputs", ""
    return ShardJob(
        library=library[0],
        function=library[1],
        n_inputs=int(np.prod(event_shape)),
        input_path=str(input_path.resolve()),
        key=key,
        layout=layout,
        preprocessing=preprocessing,
        input_bits=int(bits["input_bits"]),
        input_integer=int(bits["input_integer"]),
    )


def score_file(
    run_dir: str | Path,
    model: str,
    input_path: str | Path,
    output_path: str | Path,
    key: str | None,
    chunk_events: int,
    run_tasks: TaskRunner,
) -> dict[str, Any]:
    """Score every event of ``input_path`` with ``model``'s C simulation into ``output_path``.

    Chunks of ``chunk_events`` are the tasks of ``run_tasks`` (the orchestration's runner, e.g. Dask
    workers of ``config.cluster``, or a plain loop here: the reference the sharded result is tested
    against, and the baseline of the benchmark). Returns the summary also stored as the output file's
    ``summary`` attribute.
    """
    run, input_path, output_path = Path(run_dir).resolve(), Path(input_path), Path(output_path).resolve()
    if model not in DEPLOYED:
        raise L1adError(f"unknown model {model!r} (known: {', '.join(DEPLOYED)})")
    if chunk_events < 1:
        raise L1adError(f"chunk_events must be >= 1, got {chunk_events}")
    validation_path = RunPaths(run).firmware.model(model).validation
    if not validation_path.is_file():
        raise InputError(
            validation_path, f"no firmware for {model}: run `l1ad firmware --run-dir {run_dir}` first"
        )
    validation: FirmwareValidation = read_record(validation_path, FirmwareValidation)
    build_dir = output_path.parent / f".{output_path.name}.build"
    output_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    library = build_library(run / validation["hls_project"], build_dir)
    job = _job(run, model, input_path, key, library)
    with h5py.File(job.input_path, "r") as f:
        n_events = int(f[job.key].shape[0])
    chunks = [(s, min(s + chunk_events, n_events)) for s in range(0, n_events, chunk_events)]
    partial = output_path.with_name(f".{output_path.name}.partial")
    stamp = _stamp(job, chunk_events, run / validation["hls_project"])
    todo, done_before = _open_partial(partial, stamp, n_events, len(chunks))
    t_build = time.perf_counter() - t0

    t1 = time.perf_counter()
    with h5py.File(partial, "a") as out:
        workers = run_tasks(
            [(i, score_chunk, (job, *chunks[i])) for i in todo],
            lambda i, result: _store(out, i, *result),
            "csim chunks",
        )
    seconds = time.perf_counter() - t1
    n_scored = sum(chunks[i][1] - chunks[i][0] for i in todo)
    summary = {
        "model": model,
        "input": str(input_path),
        "key": job.key,
        "layout": job.layout,
        "n_events": n_events,
        "chunks": len(chunks),
        "chunks_done_before": done_before,
        "workers": workers,
        "in_process": workers == 0,
        "build_seconds": t_build,
        "seconds": seconds,
        "events_per_second": n_scored / seconds if seconds > 0 else float("nan"),
        "output_format": validation["output_format"],
        "hls_project": str(run / validation["hls_project"]),
    }
    with h5py.File(partial, "a") as out:
        del out["done"]
        out.attrs["summary"] = json.dumps(summary)
    os.replace(partial, output_path)
    shutil.rmtree(build_dir, ignore_errors=True)
    return summary


def _store(out: h5py.File, chunk: int, start: int, scores: np.ndarray) -> None:
    out["score"][start : start + len(scores)] = scores
    out["done"][chunk] = True
    out.flush()


def _stamp(job: ShardJob, chunk_events: int, project: Path) -> str:
    """What a partial output's finished chunks depend on: the input file, its reading, the model."""
    src = Path(job.input_path).stat()
    sources = sorted(hls_sources(project).rglob("*.h")) + sorted(hls_sources(project).glob("*.cpp"))
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    fields = {k: v for k, v in dataclasses.asdict(job).items() if k not in ("library", "function")}
    blob = json.dumps(
        [fields, src.st_size, src.st_mtime_ns, chunk_events, digest.hexdigest()], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _open_partial(partial: Path, stamp: str, n_events: int, n_chunks: int) -> tuple[list[int], int]:
    """Chunks still to score, and how many a previous interrupted job finished (same stamp)."""
    if partial.is_file():
        try:
            with h5py.File(partial, "r") as f:
                if f.attrs.get("stamp") == stamp and "done" in f:
                    done = f["done"][...]
                    return [i for i in range(n_chunks) if not done[i]], int(done.sum())
        except OSError:
            pass  # a partial file broken by the interruption: start over
    with h5py.File(partial, "w") as f:
        f.attrs["stamp"] = stamp
        f.create_dataset("score", shape=(n_events,), dtype=SCORE_DTYPE, fillvalue=np.nan)
        f.create_dataset("event_index", data=np.arange(n_events, dtype=np.int64))
        f.create_dataset("done", shape=(n_chunks,), dtype=bool)
    return list(range(n_chunks)), 0
