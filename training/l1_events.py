"""Event-level views of the L1 splits for the full-precision models: physical objects recovered from the
57 model inputs by inverting the saved per-slot pT standardisation, and the per-object transformer inputs
(pT, eta, phi plus a one-hot object type) of AnomalyCLR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from l1ad.artifacts import RunPaths
from training.data import l1objects as l1
from training.data.l1objects import L1Preprocessor

CLASSES = (l1.CLASS_MET, l1.CLASS_ELECTRON, l1.CLASS_MUON, l1.CLASS_JET)
N_TYPES = len(CLASSES)
N_OBJECT_FEATURES = 3 + N_TYPES


def _slot_values(per_class: dict[int, float | int]) -> np.ndarray:
    out = np.zeros(l1.N_SLOTS)
    for cls, (start, stop) in l1.SLOT_RANGES.items():
        out[start:stop] = per_class[cls]
    return out


SLOT_CLASS = _slot_values({c: c for c in CLASSES}).astype(np.int64)  # class code of each slot
SLOT_TYPE = SLOT_CLASS - l1.CLASS_MET  # 0 MET, 1 electron, 2 muon, 3 jet: the one-hot position
SLOT_ETA_MAX = _slot_values(l1.ETA_MAX)
# Jets reach |eta| = 4 and phi spans [-pi, pi]: these divisors put both in [-1, 1].
ETA_SCALE = l1.ETA_MAX[l1.CLASS_JET]
PHI_SCALE = float(np.pi)


def load_preprocessor(run_dir: str | Path) -> L1Preprocessor:
    """The per-slot pT standardisation the data stage fitted on background (``data/l1_preprocessing.json``)."""
    return L1Preprocessor.from_json(RunPaths(run_dir).data.preprocessing("l1"))


def physical_objects(
    x: torch.Tensor, pt_mean: torch.Tensor, pt_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 57) model inputs -> physical (pT, eta, phi), each (B, 19); empty slots (input pT == 0) stay 0."""
    if x.ndim != 2 or x.shape[1] != l1.N_INPUTS:
        raise ValueError(f"expected (batch, {l1.N_INPUTS}) L1 inputs, got shape {tuple(x.shape)}")
    slots = x.reshape(-1, l1.N_SLOTS, 3)
    filled = slots[..., 0] != 0
    pt = torch.where(filled, slots[..., 0] * pt_std + pt_mean, torch.zeros_like(slots[..., 0]))
    # A filled slot keeps a positive pT even where float rounding of the inversion would say otherwise.
    pt = torch.where(filled, pt.clamp_min(torch.finfo(pt.dtype).tiny), pt)
    return pt, slots[..., 1].clone(), slots[..., 2].clone()


def particles_from_inputs(X: np.ndarray, preprocessor: L1Preprocessor) -> np.ndarray:
    """(N, 57) preprocessed inputs -> (N, 19, 4) [pT, eta, phi, class] in the ADC2021 file layout."""
    if preprocessor.pt_mean is None or preprocessor.pt_std is None:
        raise RuntimeError("particles_from_inputs needs a fitted L1Preprocessor")
    x = torch.as_tensor(np.asarray(X, dtype=np.float64))
    pt, eta, phi = physical_objects(
        x, torch.as_tensor(preprocessor.pt_mean), torch.as_tensor(preprocessor.pt_std)
    )
    out = np.zeros((len(x), l1.N_SLOTS, 4), dtype=np.float32)
    out[..., 0] = pt.numpy()
    out[..., 1] = eta.numpy()
    out[..., 2] = phi.numpy()
    out[..., 3] = np.where(out[..., 0] > 0, SLOT_CLASS, 0)
    return out


def mean_object_pt(particles: np.ndarray) -> float:
    """Mean pT of all present objects, MET included: the single pT scale of the transformer inputs."""
    pt = np.asarray(particles)[..., 0]
    present = pt > 0
    if not present.any():
        raise ValueError("no object with pT > 0: cannot set the pT scale")
    return float(pt[present].mean())


def passes_selection(pt: torch.Tensor) -> torch.Tensor:
    """(B, 19) pT -> (B,) bool: at least one electron or muon above 23 GeV (the ADC2021 trigger)."""
    return (pt[:, l1.LEPTON_SLOTS] > l1.LEPTON_PT_CUT).any(dim=1)


def object_features(
    pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor, pt_scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformer inputs (B, 19, 7) and attention mask (B, 19) from physical (pT, eta, phi).

    Features: pT / pt_scale (MET too; not centred, so an empty slot stays exactly 0), eta / 4, phi / pi,
    one-hot type (MET, electron, muon, jet). The mask is pT > 0, except that the MET slot is always
    attended: every event then has at least one object and the attention softmax is never empty.
    """
    mask = pt > 0
    mask[:, 0] = True
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(SLOT_TYPE, device=pt.device), N_TYPES)
    one_hot = one_hot.to(pt.dtype).expand(pt.shape[0], l1.N_SLOTS, N_TYPES)
    kinematics = torch.stack([pt / pt_scale, eta / ETA_SCALE, phi / PHI_SCALE], dim=-1)
    features = torch.cat([kinematics, one_hot], dim=-1) * mask[..., None]
    return features, mask
