"""CMS ADC2021 L1-object data family: the file layout, the loader, and the AE-on-FPGA preprocessing
(19 slots x [pT, eta, phi] = 57 inputs) that turns files into splits.

The synthetic files that stand in for the Zenodo ones (REFERENCE.md section 2) come from
``training.data.l1generator``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l1ad.config import L1Data
from l1ad.errors import InputError
from l1ad.h5read import (
    ENERGY_NOISE_GEV,
    MAX_GEV,
    clip_noise,
    open_h5,
    read_chunked,
    require_dataset,
    require_within,
    tally,
)
from l1ad.io import read_json, write_json
from training.data.splits import Split, Splits, write_splits

SAMPLES: dict[str, str] = {
    "background": "background_for_training.h5",
    "Ato4l": "Ato4l_lepFilter_13TeV.h5",
    "leptoquark": "leptoquark_LOWMASS_lepFilter_13TeV.h5",
    "hToTauTau": "hToTauTau_13TeV_PU20.h5",
    "hChToTauNu": "hChToTauNu_13TeV_PU20.h5",
}
SIGNALS: list[str] = ["Ato4l", "leptoquark", "hToTauTau", "hChToTauNu"]

# Slot layout of the ADC2021 files (REFERENCE.md section 2; Govorkova et al., Sci. Data 9 (2022) 118):
# slot 0 MET (class 1, eta 0), 1-4 electrons (class 2), 5-8 muons (class 3), 9-18 jets (class 4),
# pT-ordered within a class, empty slots all zero; selection: >= 1 electron or muon above 23 GeV.
N_SLOTS = 19
N_FEATURES = 4  # pT, eta, phi, class
MET_SLOT = 0
CLASS_MET, CLASS_ELECTRON, CLASS_MUON, CLASS_JET = 1, 2, 3, 4
SLOT_RANGES: dict[int, tuple[int, int]] = {
    CLASS_MET: (0, 1),
    CLASS_ELECTRON: (1, 5),
    CLASS_MUON: (5, 9),
    CLASS_JET: (9, 19),
}
# MET carries eta = 0; the others are the |eta| acceptance of each class.
ETA_MAX: dict[int, float] = {CLASS_MET: 0.0, CLASS_ELECTRON: 3.0, CLASS_MUON: 2.1, CLASS_JET: 4.0}
# The class every filled slot must carry, slot by slot.
SLOT_CLASS = np.concatenate([np.full(b - a, c, dtype=np.float32) for c, (a, b) in SLOT_RANGES.items()])
MAX_ABS_ETA = 10.0  # beyond any detector: a larger |eta| is a corrupt value
MAX_ABS_PHI = 2 * np.pi  # phi in [-pi, pi] or [0, 2 pi]; degrees or corrupt values fall outside
LEPTON_SLOTS = slice(1, 9)
LEPTON_PT_CUT = 23.0
PARTICLE_NAMES = [b"Pt", b"Eta", b"Phi", b"Class"]
PARTICLE_CLASSES = [b"MET_class_1", b"Four_Ele_class_2", b"Four_Mu_class_3", b"Ten_Jet_class_4"]
N_INPUTS = N_SLOTS * 3


def passes_selection(particles: np.ndarray) -> np.ndarray:
    """Boolean mask of events with at least one electron or muon above 23 GeV (the ADC2021 trigger)."""
    return np.any(particles[:, LEPTON_SLOTS, 0] > LEPTON_PT_CUT, axis=1)


def find_l1_files(directory: str | Path) -> dict[str, Path]:
    """Locate the five ADC2021 files in ``directory``, each under its real name or with ``_filtered``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "L1 data directory not found")
    found = {}
    for name, filename in SAMPLES.items():
        stem = Path(filename).stem
        candidates = [p for p in (directory / filename, directory / f"{stem}_filtered.h5") if p.is_file()]
        if not candidates:
            raise InputError(
                directory, f"missing sample '{name}' (expected {filename} or {stem}_filtered.h5)"
            )
        if len(candidates) > 1:
            raise InputError(
                directory, f"sample '{name}' is there twice ({filename} and {stem}_filtered.h5): keep one"
            )
        found[name] = candidates[0]
    return found


def load_particles(
    path: str | Path,
    chunk_events: int = 100_000,
    max_events: int | None = None,
    clipped: dict[str, int] | None = None,
) -> np.ndarray:
    """Read ``Particles`` as (N, 19, 4) float32, validated; eta, phi and class are zeroed where pT == 0.

    Some real files keep a non-zero phi in emptied slots, so pT alone decides whether a slot is filled.
    Validation: floating-point values, no NaN/Inf, pT in [0, 100 TeV], and in filled slots |eta| <= 10,
    |phi| <= 2 pi and the class of the slot (MET 1, electrons 2, muons 3, jets 4).
    """
    path = Path(path)
    with open_h5(path) as f:
        ds = require_dataset(f, "Particles", path, ndim=3, trailing=(N_SLOTS, N_FEATURES), floating=True)
        if "Particles_Names" in f:
            try:
                names = np.atleast_1d(f["Particles_Names"][...]).tolist()
            except (OSError, TypeError) as exc:
                raise InputError(path, f"'Particles_Names' could not be read ({exc})") from None
            if names != PARTICLE_NAMES:
                raise InputError(path, f"'Particles_Names' is {names}, expected {PARTICLE_NAMES}")
        particles = read_chunked(ds, path, "Particles", chunk_events, max_events)
    # pT within 10 MeV below zero is rounding (h5read.ENERGY_NOISE_GEV): set to 0 (an empty slot), counted
    tally(clipped, "Particles pT", clip_noise(particles[..., 0], ENERGY_NOISE_GEV))
    if np.any(particles[..., 0] < 0):
        event = int(np.argwhere(particles[..., 0] < 0)[0][0])
        raise InputError(path, f"'Particles' holds negative pT values (first in event {event})")
    require_within(particles[..., 0], path, "'Particles' pT", 0.0, MAX_GEV, " GeV")
    filled = particles[..., 0] > 0
    require_within(
        np.where(filled, particles[..., 1], 0.0), path, "'Particles' eta", -MAX_ABS_ETA, MAX_ABS_ETA
    )
    require_within(
        np.where(filled, particles[..., 2], 0.0), path, "'Particles' phi", -MAX_ABS_PHI, MAX_ABS_PHI
    )
    wrong = filled & (particles[..., 3] != SLOT_CLASS)
    if wrong.any():
        event, slot = (int(i) for i in np.argwhere(wrong)[0])
        raise InputError(
            path,
            f"'Particles' event {event} slot {slot} holds class {particles[event, slot, 3]:g}, expected "
            f"{SLOT_CLASS[slot]:g} (slots: 0 MET = 1, 1-4 electrons = 2, 5-8 muons = 3, 9-18 jets = 4)",
        )
    particles[~filled, 1:] = 0.0
    return particles


class L1Preprocessor:
    """AE-on-FPGA inputs: per-slot standardised pT (fit on background), raw eta and phi; 57 values.

    Standardisation is over all events of a slot, empty ones included (as a StandardScaler on the
    background), and empty slots are set back to zero afterwards so "no object" stays exactly 0.
    """

    def __init__(self, pt_mean: np.ndarray | None = None, pt_std: np.ndarray | None = None) -> None:
        self.pt_mean = None if pt_mean is None else np.asarray(pt_mean, dtype=np.float64)
        self.pt_std = None if pt_std is None else np.asarray(pt_std, dtype=np.float64)

    def fit(self, particles: np.ndarray) -> L1Preprocessor:
        """Fit per-slot pT mean and std on background ``particles`` (N, 19, 4)."""
        pt = particles[..., 0].astype(np.float64)
        self.pt_mean = pt.mean(axis=0)
        std = pt.std(axis=0)
        # A slot never filled in the fit sample has std 0: leave its (zero) pT unscaled.
        self.pt_std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, particles: np.ndarray) -> np.ndarray:
        """(N, 19, 4) events -> (N, 57) float32, slot-major [pT, eta, phi]."""
        if self.pt_mean is None or self.pt_std is None:
            raise RuntimeError("L1Preprocessor.transform called before fit")
        filled = particles[..., 0] > 0
        x = np.empty((len(particles), N_SLOTS, 3), dtype=np.float32)
        x[..., 0] = np.where(filled, (particles[..., 0] - self.pt_mean) / self.pt_std, 0.0)
        x[..., 1] = np.where(filled, particles[..., 1], 0.0)
        x[..., 2] = np.where(filled, particles[..., 2], 0.0)
        return x.reshape(len(particles), N_INPUTS)

    def to_json(self, path: str | Path) -> None:
        """Save the fitted means and standard deviations."""
        if self.pt_mean is None or self.pt_std is None:
            raise RuntimeError("L1Preprocessor.to_json called before fit")
        write_json(
            path,
            {
                "kind": "l1_preprocessor",
                "layout": "slot-major [pT, eta, phi] x 19 slots; pT standardised, 0 where pT == 0",
                "pt_mean": self.pt_mean,
                "pt_std": self.pt_std,
            },
        )

    @classmethod
    def from_json(cls, path: str | Path) -> L1Preprocessor:
        """Load a preprocessor written by ``to_json``; a malformed file raises ``InputError``."""
        data = read_json(path)
        if not isinstance(data, dict) or data.get("kind") != "l1_preprocessor":
            raise InputError(path, "not an L1 preprocessing file (kind != 'l1_preprocessor')")
        arrays = []
        for key in ("pt_mean", "pt_std"):
            value = data.get(key)
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError(path, f"'{key}' is not a list of numbers") from None
            if arr.shape != (N_SLOTS,) or not np.all(np.isfinite(arr)):
                raise InputError(path, f"'{key}' must hold {N_SLOTS} finite numbers")
            arrays.append(arr)
        if np.any(arrays[1] <= 0):
            raise InputError(path, "'pt_std' must be positive")
        return cls(*arrays)


def _summary_figures(particles: np.ndarray) -> dict[str, float]:
    filled = particles[..., 0] > 0
    figures = {}
    for label, cls in (("electrons", CLASS_ELECTRON), ("muons", CLASS_MUON), ("jets", CLASS_JET)):
        start, stop = SLOT_RANGES[cls]
        figures[f"mean_n_{label}"] = float(filled[:, start:stop].sum(1).mean()) if len(particles) else 0.0
    figures["mean_met"] = float(particles[:, MET_SLOT, 0].mean()) if len(particles) else 0.0
    return figures


def prepare_l1(
    cfg: L1Data,
    files: dict[str, Path],
    out_path: Path,
    preprocessing_path: Path,
    seed: int,
    chunk_events: int,
) -> dict:
    """Load the five samples, select, split background, fit the preprocessor on background train, write splits.

    Signal events go to the test split only. Returns ``counts`` (split -> class -> events) and
    ``samples`` (per sample: events read, selected, removed, selection efficiency, mean electron,
    muon and jet multiplicities and mean MET after selection).
    """
    per_sample: dict[str, dict] = {}
    selected: dict[str, np.ndarray] = {}
    clipped: dict[str, int] = {}
    for name in SAMPLES:
        particles = load_particles(files[name], chunk_events=chunk_events, clipped=clipped)
        keep = passes_selection(particles)
        selected[name] = particles[keep]
        per_sample[name] = {
            "n_events": len(particles),
            "n_selected": int(keep.sum()),
            "n_removed": int((~keep).sum()),
            "selection_efficiency": float(keep.mean()),
            **_summary_figures(selected[name]),
        }
        del particles
        if not len(selected[name]):
            raise InputError(
                files[name], "no event passes the selection (>= 1 electron or muon above 23 GeV)"
            )

    background = selected.pop("background")
    order = np.random.default_rng(seed).permutation(len(background))
    n_test = int(round(cfg.test_background_fraction * len(background)))
    n_val = int(round(cfg.validation_fraction * (len(background) - n_test)))
    test_idx, val_idx, train_idx = np.split(order, [n_test, n_test + n_val])
    if min(len(train_idx), len(val_idx), len(test_idx)) == 0:
        raise InputError(
            files["background"],
            f"only {len(background)} selected background events: too few for train, validation and test",
        )

    preprocessor = L1Preprocessor().fit(background[train_idx])
    preprocessor.to_json(preprocessing_path)

    test_parts = [preprocessor.transform(background[test_idx])]
    test_labels = [np.zeros(len(test_idx), dtype=np.int64)]
    for k, name in enumerate(SIGNALS, start=1):
        test_parts.append(preprocessor.transform(selected[name]))
        test_labels.append(np.full(len(selected[name]), k, dtype=np.int64))
    splits = Splits(
        train=Split(
            preprocessor.transform(background[train_idx]), y=np.zeros(len(train_idx), dtype=np.int64)
        ),
        val=Split(preprocessor.transform(background[val_idx]), y=np.zeros(len(val_idx), dtype=np.int64)),
        test=Split(np.concatenate(test_parts), y=np.concatenate(test_labels)),
        classes=["background", *SIGNALS],
        attrs={"family": "l1", "inputs": "19 slots x [pT, eta, phi], pT standardised per slot"},
    )
    write_splits(out_path, splits)
    return {
        "samples": per_sample,
        "clipped_noise": clipped,  # values within noise of 0 set to 0 (h5read.ENERGY_NOISE_GEV)
        "counts": {
            "train": {"background": len(train_idx)},
            "val": {"background": len(val_idx)},
            "test": {"background": len(test_idx), **{name: len(selected[name]) for name in SIGNALS}},
        },
    }
