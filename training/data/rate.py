"""Background rate samples: generated background events, model-ready, for the trigger threshold.

At 1 kHz of 40 MHz bunch crossings a threshold passes 2.5e-5 of the background, so the test sets'
1e4-1e5 background events leave 0-3 events above it and the rate is unknown to 60-100%. With a
synthetic source the data stage therefore writes ``data.rate_sample`` further background events
per family of a deployed model, from a seed of their own, preprocessed exactly as the test set
(the same generator, feature and normalisation code, the training split's fitted constants), as
``data/<family>_rate.h5`` (dataset ``X``, float32). The firmware stage scores them bit-exactly
(RTL or csim) and sets the threshold on them. Generation works in chunks of ``chunk_events``,
so memory stays bounded by a chunk.

A real source has no generator: its threshold stays on the test set's background, and the
trigger record says so.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from l1ad.artifacts import RELATIVE, DataPaths
from l1ad.config import Config
from l1ad.io import atomic_path, read_json
from l1ad.tasks import TaskRunner, run_here
from training.data import dijet, jetgenerator, jetimages, l1generator, l1objects

WHAT = "generated background"
# Seed offsets from run.seed: the data files use +0 (dijet), +1 (L1), +2 (jet images).
_SEED_OFFSET = {"dijet": 100, "l1": 101, "jet_images": 102}


def _dijet_events(config: Config, data_dir: Path, rng: np.random.Generator, n: int) -> np.ndarray:
    """Signal-region background events, standardised with the training split's mean and std."""
    prep = read_json(DataPaths(data_dir).preprocessing("dijet"))
    mean, std = np.asarray(prep["mean"], dtype=np.float64), np.asarray(prep["std"], dtype=np.float64)
    window = tuple(config.data.dijet.signal_region)
    parts, left = [], n
    while left > 0:
        # about 15% of the selected background lands in the signal region
        features = dijet.generate_background_features(rng, 8 * left + 1000)
        parts.append(features[dijet.signal_region_mask(features[:, 0], window)][:left])
        left -= len(parts[-1])
    return ((np.concatenate(parts) - mean) / std).astype(np.float32)


def _l1_events(config: Config, data_dir: Path, rng: np.random.Generator, n: int) -> np.ndarray:
    """Background mixture events through the run's fitted ``L1Preprocessor``."""
    preprocessor = l1objects.L1Preprocessor.from_json(DataPaths(data_dir).preprocessing("l1"))
    return preprocessor.transform(l1generator.generate_background_block(rng, n))


def _jet_image_events(config: Config, data_dir: Path, rng: np.random.Generator, n: int) -> np.ndarray:
    """QCD and W/Z jets in the data's proportion, each image divided by its total pT."""
    ji = config.data.jet_images
    p_wz = ji.n_wz / (ji.n_qcd + ji.n_wz)
    parts, left = [], n
    while left > 0:
        cls = (rng.random(left) < p_wz).astype(np.int8)
        sub = rng.random(left) < 0.5  # gluon among QCD, Z among W/Z (as the data file)
        # half width 0.8: generate_jet_images' default, with which the data stage writes the data file
        images, _ = jetgenerator.generate_chunk(rng, cls, sub, ji.image_size, 0.8)
        parts.append(jetimages.normalise_pt(images)[0])  # an empty image is dropped, as in the data
        left -= len(parts[-1])
    return np.concatenate(parts)[..., None]


_EVENTS = {"dijet": _dijet_events, "l1": _l1_events, "jet_images": _jet_image_events}


def rate_chunk(
    config: Config, family: str, data_dir: Path, seed: np.random.SeedSequence, n: int
) -> np.ndarray:
    """``n`` model-ready background events of ``family`` from their own seed (one task of the sample)."""
    return _EVENTS[family](config, data_dir, np.random.default_rng(seed), n)


def write_rate_samples(
    config: Config,
    families: list[str],
    data_dir: Path,
    run_tasks: TaskRunner | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Generate ``config.data.rate_sample`` background events of each family into ``data_dir`` (atomic).

    Chunks of ``data.chunk_events`` events each have a seed of their own (spawned from run.seed
    and the family), so a sample is the same whether its chunks run here (samples of one chunk, or
    no ``run_tasks``) or as the tasks of ``run_tasks`` (the orchestration's runner: the Dask cluster),
    the families' chunks together. Needs each family's preprocessing file from its data preparation.
    Returns per family what the data summary records: file, events, seed and source.
    """
    n, step = config.data.rate_sample, config.data.chunk_events
    sizes = [min(step, n - start) for start in range(0, n, step)]
    offsets = np.cumsum([0, *sizes])
    family_seed = {f: config.run.seed + _SEED_OFFSET[f] for f in families}
    seeds = {f: np.random.SeedSequence(family_seed[f]).spawn(len(sizes)) for f in families}
    tasks = [(f, i) for f in families for i in range(len(sizes))]
    paths = {f: DataPaths(data_dir).rate_sample(f) for f in families}
    with ExitStack() as stack:
        datasets = {}
        for f in families:
            tmp = stack.enter_context(atomic_path(paths[f]))
            h5 = stack.enter_context(h5py.File(tmp, "w"))
            h5.attrs.update({"family": f, "seed": family_seed[f], "what": WHAT})
            shape = _input_shape(config, f)
            datasets[f] = h5.create_dataset(
                "X",
                shape=(n, *shape),
                dtype=np.float32,
                chunks=(max(1, min(n, (1 << 18) // int(np.prod(shape)))), *shape),
                compression="lzf",  # jet images are mostly empty pixels
            )

        def store(task: tuple[str, int], events: np.ndarray) -> None:
            f, i = task
            datasets[f][offsets[i] : offsets[i + 1]] = events

        work = [((f, i), rate_chunk, (config, f, data_dir, seeds[f][i], sizes[i])) for f, i in tasks]
        # one chunk per family: here, no cluster to start
        (run_here if len(sizes) == 1 or run_tasks is None else run_tasks)(work, store, "rate samples")
    for f in families:
        log(f"  {f}: rate sample of {n:,} generated background events in {RELATIVE.data.rate_sample(f)}")
    return {
        f: {
            "file": str(RELATIVE.data.rate_sample(f)),
            "events": n,
            "seed": family_seed[f],
            "source": WHAT,
        }
        for f in families
    }


def _input_shape(config: Config, family: str) -> tuple[int, ...]:
    """Per-event shape of ``family``'s model inputs."""
    if family == "jet_images":
        size = config.data.jet_images.image_size
        return (size, size, 1)
    return {"dijet": (len(dijet.FEATURE_NAMES),), "l1": (l1objects.N_INPUTS,)}[family]
