"""The ``data`` and ``train`` stages.

``data`` generates the three synthetic families in their real layouts (or reads the
user's real files) and writes model-ready splits plus the preprocessing JSON.
``train`` fits the deployable float scorers on background, N seeds each, and
writes their checkpoints and test-set scores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from l1ad.artifacts import RELATIVE, DataPaths, RunPaths, TrainPaths
from l1ad.config import DEPLOYED, STUDY_FAMILIES, Config
from l1ad.errors import L1adError
from l1ad.io import atomic_path, read_json, write_json, write_record
from l1ad.tasks import TaskRunner
from training import metrics
from training.data import dijet, jetgenerator, jetimages, l1generator, l1objects, rate
from training.data.splits import Split, read_splits
from training.records import TrainInfo
from training.scorer import scorer_class


def selected_families(config: Config) -> list[str]:
    """The data families of the deployed models in ``run.models``: what the data stage prepares."""
    return [
        f for f in ("dijet", "l1", "jet_images") if any(DEPLOYED[m].family == f for m in config.run.models)
    ]


def selected_studies(config: Config) -> list[str]:
    """The studies of ``run.studies`` whose data family is prepared (see ``selected_families``)."""
    families = selected_families(config)
    return [s for s in config.run.studies if STUDY_FAMILIES[s] in (None, *families)]


def require_family(config: Config, study: str) -> None:
    """Refuse, in one line, a study whose data family ``run.models`` leaves out."""
    family = STUDY_FAMILIES.get(study)  # an unknown name is refused by the stage lookup
    if family is not None and family not in selected_families(config):
        owners = [m.name for m in DEPLOYED.values() if m.family == family]
        raise L1adError(
            f"study {study} reads the {family} data, which run.models ({', '.join(config.run.models)}) leaves out: "
            f"add {' or '.join(owners)} to run.models (--models)"
        )


def run_data(
    config: Config,
    out: Path,
    run_dir: Path,
    run_tasks: TaskRunner | None = None,
) -> dict[str, Any]:
    """Generate or read each family ``run.models`` needs and write its splits and preprocessing into ``out``;
    the rate samples' chunks are tasks of ``run_tasks`` (the orchestration's runner; none: here)."""
    summary: dict[str, Any] = {}
    families = selected_families(config)
    data = DataPaths(out)
    if "dijet" in families:
        _prepare_dijet(config, data, summary)
    if "l1" in families:
        _prepare_l1(config, data, summary)
    if "jet_images" in families:
        _prepare_jet_images(config, data, summary)
    generated = [f for f in families if getattr(config.data, f).source == "synthetic"]
    if config.data.rate_sample and generated:
        for family, info in rate.write_rate_samples(config, generated, out, run_tasks).items():
            summary[family]["rate_sample"] = info
    write_json(data.summary, summary)
    print_data_summary(summary)
    return summary


def _prepared(
    family: str, prepare: Callable[..., dict[str, Any]], config: Config, data: DataPaths, source: Any
) -> dict[str, Any]:
    """The summary of ``prepare`` (a family's prepare function) run on ``source`` into the family's splits
    and preprocessing files with the run's seed and chunk size, with the configured source added."""
    cfg = getattr(config.data, family)
    info = prepare(
        cfg,
        source,
        data.splits(family),
        data.preprocessing(family),
        seed=config.run.seed,
        chunk_events=config.data.chunk_events,
    )
    info["source"] = cfg.source
    return info


def _prepare_dijet(config: Config, data: DataPaths, summary: dict[str, Any]) -> None:
    dj = config.data.dijet
    if dj.source == "synthetic":
        source = data.generated("dijet") / "events_anomalydetection_v2.features.h5"
        dijet.generate_dijet_features(source, dj.n_background, dj.n_signal, seed=config.run.seed)
    else:
        source = Path(dj.source)
    info = summary["dijet"] = _prepared("dijet", dijet.prepare_dijet, config, data, source)
    info["counts"] = {
        "train": {"background": info["n_train"]},
        "val": {"background": info["n_val"]},
        "test": {"background": info["n_test_background"], "signal": info["n_test_signal"]},
    }


def _prepare_l1(config: Config, data: DataPaths, summary: dict[str, Any]) -> None:
    l1 = config.data.l1
    if l1.source == "synthetic":
        files = l1generator.generate_l1_dataset(
            data.generated("l1"), l1.n_background, l1.n_signal, seed=config.run.seed + 1
        )
    else:
        files = l1objects.find_l1_files(Path(l1.source))
    summary["l1"] = _prepared("l1", l1objects.prepare_l1, config, data, files)


def _prepare_jet_images(config: Config, data: DataPaths, summary: dict[str, Any]) -> None:
    ji = config.data.jet_images
    if ji.source == "synthetic":
        image_file = data.generated("jet_images") / "jetImage_synthetic.h5"
        jetgenerator.generate_jet_images(
            image_file, ji.n_qcd, ji.n_wz, ji.n_top, ji.image_size, seed=config.run.seed + 2
        )
    else:
        image_file = Path(ji.source)
    summary["jet_images"] = _prepared("jet_images", jetimages.prepare_jet_images, config, data, image_file)
    if ji.source == "synthetic":
        _name_final_place(data.preprocessing("jet_images"), data.root)


def _name_final_place(preprocessing: Path, out: Path) -> None:
    """Record generated source files by their place in the run directory (``data/...``), not by the
    stage's temporary folder: that path vanishes when the stage completes and differs between runs."""
    info = read_json(preprocessing)
    info["source"] = [
        str(RELATIVE.data.root / Path(p).relative_to(out)) if Path(p).is_relative_to(out) else p
        for p in info["source"]
    ]
    write_json(preprocessing, info)


def print_data_summary(summary: dict[str, Any]) -> None:
    """Print the per-family counts a user checks before training."""
    for family, info in summary.items():
        counts = info.get("counts", {})
        print(
            f"  {family:<11} source={info.get('source')}  " + "  ".join(f"{k}={v}" for k, v in counts.items())
        )
        if info.get("rate_sample"):
            sample = info["rate_sample"]
            print(
                f"  {'':<11} rate sample: {sample['events']:,} {sample['source']} events ({sample['file']})"
            )
        if info.get("clipped_noise"):
            print(f"  {'':<11} floating-point noise set to 0: {noise_text(info['clipped_noise'])}")


def noise_text(clipped: dict[str, int]) -> str:
    """'3 values (mj1 2, tau2j1 1)': the values a loader set from within noise of 0 to 0, per column."""
    total = sum(clipped.values())
    return (
        f"{total} value{'s' if total != 1 else ''} ("
        + ", ".join(f"{c} {n}" for c, n in clipped.items())
        + ")"
    )


def fit_scorer(scorer: Any, train: Split, val: Split) -> Any:
    """``scorer.fit`` on a training split, with background labels and nuisance when it uses them."""
    if not scorer.uses_labels:
        return scorer.fit(train.X, val.X)
    if train.y is None or train.nuisance is None:
        raise ValueError(f"{scorer.kind} trains on labelled backgrounds but the split has no y or nuisance")
    return scorer.fit(train.X, val.X, y=train.y, nuisance=train.nuisance, y_val=val.y)


def write_scores(
    path: Path, scores: np.ndarray, y: np.ndarray, classes: list[str], n_background_classes: int
) -> None:
    """Scores on the test split (rows aligned with the split file's ``test`` group), atomically."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("scores", data=np.asarray(scores, dtype=np.float64))
            f.create_dataset("y", data=y.astype(np.int8))
            f.attrs["classes"] = np.array(classes, dtype="S")
            f.attrs["n_background_classes"] = n_background_classes


def read_scores(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Read a file written by ``write_scores``: (scores, y, classes, n_background_classes)."""
    from l1ad.h5read import open_h5

    with open_h5(path) as f:
        return (
            f["scores"][...],
            f["y"][...].astype(np.int64),
            [c.decode() for c in f.attrs["classes"]],
            int(f.attrs["n_background_classes"]),
        )


def write_rate_scores(path: Path, scores: np.ndarray, scored_with: str) -> None:
    """Scores of a family's rate sample (rows aligned with ``data/<family>_rate.h5``), atomically;
    ``scored_with`` names the model version that scored them."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("scores", data=np.asarray(scores, dtype=np.float64))
            f.attrs["scored_with"] = scored_with


def read_rate_scores(path: Path) -> np.ndarray:
    """The scores of a file written by ``write_rate_scores``."""
    from l1ad.h5read import open_h5

    with open_h5(path) as f:
        return f["scores"][...]


def score_rate_sample(
    path: Path, score: Callable[[np.ndarray], np.ndarray], chunk_events: int, log: Callable[[str], None]
) -> np.ndarray:
    """``score`` of every event of the rate sample ``path`` (``training/data/rate.py``), chunk by chunk."""
    from l1ad.h5read import open_h5

    with open_h5(path) as f:
        X_all = f["X"]
        n = len(X_all)
        scores = np.empty(n, dtype=np.float64)
        for start in range(0, n, chunk_events):
            X = X_all[start : start + chunk_events]
            scores[start : start + len(X)] = score(X)
        log(f"rate sample: {n:,} background events scored")
    return scores


def auc_per_signal(scores: np.ndarray, y: np.ndarray, classes: list[str], n_bkg: int) -> dict[str, float]:
    """ROC AUC of each signal class against the background classes."""
    return metrics.per_signal(scores, y, classes, n_bkg, metrics.auc)


def run_train(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Fit each deployable float scorer on background for every seed; score the test split."""
    from training.device import configure_tensorflow

    device = configure_tensorflow(config.train.device)
    summary: dict[str, Any] = {"device": device}
    data, written = RunPaths(run_dir).data, TrainPaths(out)
    for name in config.run.models:
        family = DEPLOYED[name].family
        splits = read_splits(data.splits(family))
        n_bkg = splits.n_background_classes
        cls = scorer_class(DEPLOYED[name].kind)
        settings = getattr(config.train, name)
        all_scores, per_seed = [], []
        for k in range(config.run.n_seeds):
            seed = config.run.seed + k
            print(
                f"  {name}: seed {seed} ({k + 1}/{config.run.n_seeds}), "
                f"{len(splits.train.X)} events, {device}"
            )
            # n_inputs: features per event, or pixels per side of an (S, S, 1) image
            scorer = fit_scorer(
                cls(settings, n_inputs=splits.train.X.shape[1], seed=seed), splits.train, splits.val
            )
            scorer.save(written.checkpoint(name, seed))
            if k == 0:
                deployed = scorer
            scores = scorer.score(splits.test.X)
            all_scores.append(scores)
            per_seed.append(
                {"seed": seed, "auc": auc_per_signal(scores, splits.test.y, splits.classes, n_bkg)}
            )
        write_scores(written.scores(name), np.stack(all_scores), splits.test.y, splits.classes, n_bkg)
        if data.rate_sample(family).is_file():  # the deployed (first) seed sets the float trigger threshold
            rate_scores = score_rate_sample(
                data.rate_sample(family),
                deployed.score,
                config.data.chunk_events,
                log=lambda line, name=name: print(f"  {name}: float, {line}"),
            )
            write_rate_scores(written.rate_scores(name), rate_scores, "float")
        info = {
            "family": family,
            "kind": name,
            "splits": str(RELATIVE.data.splits(family)),
            "deployed_seed": config.run.seed,
            "deployed": str(RELATIVE.train.checkpoint(name, config.run.seed)),
            "per_seed": per_seed,
        }
        write_record(written.info(name), TrainInfo, info)
        summary[name] = {s: round(v, 4) for s, v in per_seed[0]["auc"].items()}
        print(
            f"  {name}: AUC (seed {config.run.seed}) "
            + ", ".join(f"{s} {v:.3f}" for s, v in summary[name].items())
        )
    return summary
