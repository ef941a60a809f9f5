"""AnomalyCLR on L1 objects (Dillon, Favaro, Feiden, Modak, Plehn, SciPost Phys. Core 7, 056 (2024)):
a permutation-invariant transformer learns event representations contrastively, with physical
augmentations as positives and anomaly augmentations as negatives; an AE on the background
representations gives the anomaly score. Full precision, GPU when present. The contrastive losses live in
``training.contrastive``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from l1ad.config import AnomalyCLRConfig
from training import torch_scorer as ts
from training.contrastive import LOSSES, contrastive_loss
from training.data.l1objects import (
    CLASS_ELECTRON,
    CLASS_JET,
    CLASS_MUON,
    ETA_MAX,
    LEPTON_PT_CUT,
    N_INPUTS,
    SLOT_RANGES,
    L1Preprocessor,
)
from training.epochs import train_epochs
from training.l1_events import (
    N_OBJECT_FEATURES,
    SLOT_CLASS,
    SLOT_ETA_MAX,
    mean_object_pt,
    object_features,
    particles_from_inputs,
    passes_selection,
    physical_objects,
)
from training.nae import AEParams, TorchAutoencoder
from training.scorer import config_from_dict

Objects = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (pT, eta, phi), each (B, 19), physical units

# Electron, muon and jet slot blocks; MET (slot 0) is handled on its own.
BLOCKS: tuple[tuple[int, int, int], ...] = tuple(
    (*SLOT_RANGES[c], c) for c in (CLASS_ELECTRON, CLASS_MUON, CLASS_JET)
)
# Lowest pT of an object the ADC2021 L1 menu reconstructs (e and mu 3 GeV, jets 15 GeV): added and split
# objects stay above it, so an augmented event still looks reconstructable.
OBJECT_PT_MIN = {CLASS_ELECTRON: 3.0, CLASS_MUON: 3.0, CLASS_JET: 15.0}
LEPTON_CLASSES = (CLASS_ELECTRON, CLASS_MUON)

# Physical augmentations. Angular smearing of width 1 GeV / pT (0.1 at and below 10 GeV, 0.01 at 100 GeV):
# soft objects are poorly measured in direction, hard ones well (JetCLR's Lambda / pT rule at L1 scale).
ANGLE_SMEAR_GEV = 1.0
ANGLE_SMEAR_MAX = 0.1
# pT smearing with L1-like resolutions: electrons 4%, muons 6%, jets 100%/sqrt(pT) (+) 5%.
PT_RESOLUTION = {CLASS_ELECTRON: 0.04, CLASS_MUON: 0.06}
JET_STOCHASTIC, JET_CONSTANT = 1.0, 0.05
PT_SMEAR_MIN_FACTOR = 0.5  # a smeared object keeps at least half its pT (no negative or vanishing pT)

# Anomaly augmentations.
SPLIT_ETA_SIGMA = 0.1  # a split-off object moves in eta only, so MET and the pT sum are exactly kept
SCALE_OBJECT_RANGE = (1.0, 5.0)  # object pT scaled up only: the lepton selection cannot break
SCALE_MET_RANGE = (0.5, 5.0)
MAX_TRIES = 5  # redraws for events whose drawn augmentation could not change them (e.g. nothing to split)

FF_MULTIPLIER = 2  # transformer feed-forward width = 2 x embedding width
VAL_MONITOR_EVENTS = 4096  # validation events for the monitored loss (fixed augmentations each epoch)
VAL_STREAM = 10**6  # epoch index of the fixed validation random stream


def _wrap(phi: torch.Tensor) -> torch.Tensor:
    return torch.remainder(phi + math.pi, 2 * math.pi) - math.pi


def _uniform(gen: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=like.device, dtype=like.dtype)


def _normal(gen: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)


def _slot_tensor(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def clean_and_sort(pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor) -> Objects:
    """Zero eta and phi of empty slots, MET eta = 0, and pT-order each object block (empty slots last)."""
    filled = pt > 0
    eta = torch.where(filled, eta, torch.zeros_like(eta))
    eta[:, 0] = 0.0
    phi = torch.where(filled, phi, torch.zeros_like(phi))
    pt, eta, phi = pt.clone(), eta.clone(), phi.clone()
    for start, stop, _ in BLOCKS:
        order = torch.argsort(pt[:, start:stop], dim=1, descending=True, stable=True)
        for t in (pt, eta, phi):
            t[:, start:stop] = torch.gather(t[:, start:stop], 1, order)
    return pt, eta, phi


def valid_layout(pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the ADC2021 layout holds and the event passes the lepton selection.

    Checks finite values, pT >= 0, empty slots all zero, MET eta = 0, |eta| inside each class's
    acceptance, |phi| <= pi, pT non-increasing within each block (so empty slots come last), and at least
    one electron or muon above 23 GeV.
    """
    finite = torch.isfinite(pt).all(1) & torch.isfinite(eta).all(1) & torch.isfinite(phi).all(1)
    filled = pt > 0
    ok = finite & (pt >= 0).all(1)
    ok &= (filled | ((eta == 0) & (phi == 0))).all(1)
    ok &= eta[:, 0] == 0
    ok &= (eta.abs() <= _slot_tensor(SLOT_ETA_MAX, eta)).all(1)
    ok &= (phi.abs() <= math.pi + 1e-6).all(1)
    for start, stop, _ in BLOCKS:
        block = pt[:, start:stop]
        ok &= (block[:, :-1] >= block[:, 1:]).all(1)
    return ok & passes_selection(pt)


def _met_xy(pt: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return pt[:, 0] * torch.cos(phi[:, 0]), pt[:, 0] * torch.sin(phi[:, 0])


def _visible_xy(pt: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (pt[:, 1:] * torch.cos(phi[:, 1:])).sum(1), (pt[:, 1:] * torch.sin(phi[:, 1:])).sum(1)


def _set_met(pt: torch.Tensor, phi: torch.Tensor, met_x: torch.Tensor, met_y: torch.Tensor) -> None:
    pt[:, 0] = torch.hypot(met_x, met_y)
    phi[:, 0] = torch.atan2(met_y, met_x)


def _relative_resolution(pt: torch.Tensor) -> torch.Tensor:
    """Relative pT resolution of each slot's object (0 for MET, which follows from the balance)."""
    slot_class = torch.as_tensor(SLOT_CLASS, device=pt.device)
    jet = torch.hypot(JET_STOCHASTIC / pt.clamp_min(1.0).sqrt(), torch.full_like(pt, JET_CONSTANT))
    rel = torch.zeros_like(pt)
    for cls, r in PT_RESOLUTION.items():
        rel = torch.where(slot_class == cls, torch.full_like(pt, r), rel)
    return torch.where(slot_class == CLASS_JET, jet, rel)


def physical_augment(pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor, gen: torch.Generator) -> Objects:
    """The physical augmentations, all together: what a background event could equally have looked like.

    A global azimuthal rotation; eta and phi smearing of width 1 GeV / pT (at most 0.1), eta kept inside
    the acceptance; pT smearing with L1-like resolutions (an event whose smeared leptons would all fall
    below 23 GeV keeps its pT). MET follows from momentum balance: it moves opposite to the change of
    the visible momentum.
    """
    n = pt.shape[0]
    phi_rot = _wrap(phi + (2 * _uniform(gen, (n, 1), pt) - 1) * math.pi)
    sigma = ANGLE_SMEAR_GEV / pt.clamp_min(ANGLE_SMEAR_GEV / ANGLE_SMEAR_MAX)
    eta_max = _slot_tensor(SLOT_ETA_MAX, eta)
    new_eta = torch.maximum(torch.minimum(eta + sigma * _normal(gen, pt.shape, pt), eta_max), -eta_max)
    new_phi = _wrap(phi_rot + sigma * _normal(gen, pt.shape, pt))
    factor = (1 + _relative_resolution(pt) * _normal(gen, pt.shape, pt)).clamp_min(PT_SMEAR_MIN_FACTOR)
    factor[:, 0] = 1.0
    new_pt = pt * factor
    new_pt = torch.where(passes_selection(new_pt)[:, None], new_pt, pt)

    met_x, met_y = _met_xy(pt, phi_rot)
    old_x, old_y = _visible_xy(pt, phi_rot)
    vis_x, vis_y = _visible_xy(new_pt, new_phi)
    _set_met(new_pt, new_phi, met_x - (vis_x - old_x), met_y - (vis_y - old_y))
    return clean_and_sort(new_pt, new_eta, new_phi)


def add_objects(
    pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Add electrons, muons and jets into free slots; returns (pT, eta, phi, changed).

    Per class a uniform number between 0 and the free slots; each new object has pT uniform between the
    class threshold and the event's largest pT (MET included), eta uniform in the acceptance, phi uniform.
    MET is recomputed: the added visible momentum is balanced by missing momentum.
    """
    n = pt.shape[0]
    pt_max = pt.max(dim=1).values
    out_pt, out_eta, out_phi = pt.clone(), eta.clone(), phi.clone()
    added_x = torch.zeros_like(pt_max)
    added_y = torch.zeros_like(pt_max)
    changed = torch.zeros(n, dtype=torch.bool, device=pt.device)
    for start, stop, cls in BLOCKS:
        width = stop - start
        n_filled = (pt[:, start:stop] > 0).sum(1)
        free = width - n_filled
        n_new = torch.minimum((_uniform(gen, (n,), pt) * (free + 1)).long(), free)
        pos = torch.arange(width, device=pt.device)
        new = (pos >= n_filled[:, None]) & (pos < (n_filled + n_new)[:, None])
        lo = OBJECT_PT_MIN[cls]
        hi = pt_max.clamp_min(lo)
        p = lo + (hi - lo)[:, None] * _uniform(gen, (n, width), pt)
        e = (2 * _uniform(gen, (n, width), pt) - 1) * ETA_MAX[cls]
        f = (2 * _uniform(gen, (n, width), pt) - 1) * math.pi
        p = torch.where(new, p, torch.zeros_like(p))
        out_pt[:, start:stop] = torch.where(new, p, out_pt[:, start:stop])
        out_eta[:, start:stop] = torch.where(new, e, out_eta[:, start:stop])
        out_phi[:, start:stop] = torch.where(new, f, out_phi[:, start:stop])
        added_x += (p * torch.cos(f)).sum(1)
        added_y += (p * torch.sin(f)).sum(1)
        changed |= n_new > 0
    met_x, met_y = _met_xy(pt, phi)
    _set_met(out_pt, out_phi, met_x - added_x, met_y - added_y)
    return (*clean_and_sort(out_pt, out_eta, out_phi), changed)


def split_objects(
    pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split objects in two of the same class; returns (pT, eta, phi, changed).

    Per class a uniform number of the leading splittable objects (at most the free slots) is split: the
    object keeps a fraction z of its pT and a new one at the same phi (eta shifted by N(0, 0.1)) takes
    the rest, so MET and the scalar pT sum are exactly kept. Both pieces stay above the class threshold,
    and a lepton above 23 GeV keeps more than 23 GeV, so the selection holds.
    """
    n = pt.shape[0]
    out_pt, out_eta, out_phi = pt.clone(), eta.clone(), phi.clone()
    changed = torch.zeros(n, dtype=torch.bool, device=pt.device)
    for start, stop, cls in BLOCKS:
        width = stop - start
        block = pt[:, start:stop]
        filled = block > 0
        safe = torch.where(filled, block, torch.ones_like(block))
        threshold = OBJECT_PT_MIN[cls]
        lo = threshold / safe
        if cls in LEPTON_CLASSES:
            # The relative margin keeps z * pT strictly above the cut after rounding.
            lo = torch.where(block > LEPTON_PT_CUT, torch.maximum(lo, LEPTON_PT_CUT * (1 + 1e-5) / safe), lo)
        hi = 1 - threshold / safe
        splittable = filled & (lo < hi)
        n_filled = filled.sum(1)
        n_max = torch.minimum(splittable.sum(1), width - n_filled)
        n_split = torch.minimum((_uniform(gen, (n,), pt) * (n_max + 1)).long(), n_max)
        rank = splittable.long().cumsum(1) - 1
        split = splittable & (rank < n_split[:, None])
        z = lo + (hi - lo) * _uniform(gen, (n, width), pt)
        d_eta = SPLIT_ETA_SIGMA * _normal(gen, (n, width), pt)
        # The k-th split object's daughter goes to the k-th free slot; unused entries land in a spare column.
        target = torch.where(split, n_filled[:, None] + rank, torch.full_like(rank, width))
        child_pt = torch.zeros((n, width + 1), dtype=pt.dtype, device=pt.device)
        child_eta = torch.zeros_like(child_pt)
        child_phi = torch.zeros_like(child_pt)
        child_pt.scatter_(1, target, torch.where(split, (1 - z) * block, torch.zeros_like(block)))
        eta_limit = ETA_MAX[cls]
        child_eta.scatter_(1, target, (eta[:, start:stop] + d_eta).clamp(-eta_limit, eta_limit))
        child_phi.scatter_(1, target, phi[:, start:stop])
        is_child = child_pt[:, :width] > 0
        parent_pt = torch.where(split, z * block, block)
        out_pt[:, start:stop] = torch.where(is_child, child_pt[:, :width], parent_pt)
        out_eta[:, start:stop] = torch.where(is_child, child_eta[:, :width], eta[:, start:stop])
        out_phi[:, start:stop] = torch.where(is_child, child_phi[:, :width], phi[:, start:stop])
        changed |= n_split > 0
    return (*clean_and_sort(out_pt, out_eta, out_phi), changed)


def scale_pt_met(
    pt: torch.Tensor, eta: torch.Tensor, phi: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scale MET alone (x U(0.5, 5)), all object pT alone, or both together (x U(1, 5)); one mode per event.

    Object pT only grows, so the lepton selection and the pT order hold. Returns (pT, eta, phi, changed).
    """
    n = pt.shape[0]
    mode = torch.randint(0, 3, (n,), generator=gen, device=pt.device)
    f_obj = SCALE_OBJECT_RANGE[0] + (SCALE_OBJECT_RANGE[1] - SCALE_OBJECT_RANGE[0]) * _uniform(gen, (n,), pt)
    f_met = SCALE_MET_RANGE[0] + (SCALE_MET_RANGE[1] - SCALE_MET_RANGE[0]) * _uniform(gen, (n,), pt)
    ones = torch.ones_like(f_obj)
    out = pt.clone()
    out[:, 0] *= torch.where(mode == 0, f_met, torch.where(mode == 2, f_obj, ones))
    out[:, 1:] *= torch.where(mode >= 1, f_obj, ones)[:, None]
    changed = torch.ones(n, dtype=torch.bool, device=pt.device)
    return (*clean_and_sort(out, eta, phi), changed)


AnomalyAugmentation = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator],
    tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
]
ANOMALY_AUGMENTATIONS: dict[str, AnomalyAugmentation] = {
    "add": add_objects,
    "split": split_objects,
    "scale": scale_pt_met,
}


def anomaly_augment(
    pt: torch.Tensor,
    eta: torch.Tensor,
    phi: torch.Tensor,
    gen: torch.Generator,
    names: Sequence[str] = tuple(ANOMALY_AUGMENTATIONS),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One anomaly augmentation per event, drawn uniformly from ``names``; returns (pT, eta, phi, applied).

    An event the drawn augmentation leaves unchanged (nothing to split, no free slot, or zero objects
    drawn) draws again, up to ``MAX_TRIES`` times; ``applied`` marks the events that were changed.
    """
    unknown = [name for name in names if name not in ANOMALY_AUGMENTATIONS]
    if unknown or not names:
        raise ValueError(f"anomaly augmentations must be a non-empty subset of {list(ANOMALY_AUGMENTATIONS)}")
    out = [pt.clone(), eta.clone(), phi.clone()]
    pending = torch.ones(pt.shape[0], dtype=torch.bool, device=pt.device)
    for _ in range(MAX_TRIES):
        rows = pending.nonzero().squeeze(1)
        if len(rows) == 0:
            break
        choice = torch.randint(0, len(names), (len(rows),), generator=gen, device=pt.device)
        for i, name in enumerate(names):
            sel = rows[choice == i]
            if len(sel) == 0:
                continue
            *augmented, changed = ANOMALY_AUGMENTATIONS[name](pt[sel], eta[sel], phi[sel], gen)
            done = sel[changed]
            for t, a in zip(out, augmented, strict=True):
                t[done] = a[changed]
            pending[done] = False
    return out[0], out[1], out[2], ~pending


# ---------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------


class ObjectEncoder(nn.Module):
    """Embedding -> transformer encoder (masked self-attention, no positions) -> sum over objects -> head.

    Without positional encodings and with a sum over objects the output is invariant under any
    permutation of the objects. ``represent`` is the pooled output before the head (the representation
    used downstream); ``forward`` adds the head (the space the contrastive loss acts in).
    """

    def __init__(self, embed_dim: int, n_heads: int, n_layers: int, head_dims: Sequence[int]) -> None:
        super().__init__()
        if embed_dim % n_heads:
            raise ValueError(f"embed_dim {embed_dim} must be a multiple of n_heads {n_heads}")
        self.embedding = nn.Linear(N_OBJECT_FEATURES, embed_dim)
        layer = nn.TransformerEncoderLayer(
            embed_dim, n_heads, dim_feedforward=FF_MULTIPLIER * embed_dim, dropout=0.0, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        head: list[nn.Module] = []
        widths = [embed_dim, *head_dims]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            head += [nn.ReLU(), nn.Linear(a, b)]
        self.head = nn.Sequential(*head)

    def represent(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 19, 7) features and (B, 19) mask -> (B, embed_dim) pooled representation."""
        h = self.transformer(self.embedding(features), src_key_padding_mask=~mask)
        return (h * mask[..., None]).sum(dim=1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.represent(features, mask))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def encoder_macs(embed_dim: int, n_layers: int, head_dims: Sequence[int], n_objects: int = 19) -> int:
    """Multiply-accumulates of one event through embedding, attention layers and pooling (head excluded).

    Per layer and object: Q, K, V and output projections (4 d^2), scores and weighted sum against all
    objects (2 n d), feed-forward (2 d f). The softmax's exponentials and divisions come on top.
    """
    d, f = embed_dim, FF_MULTIPLIER * embed_dim
    per_layer = n_objects * (4 * d * d + 2 * n_objects * d + 2 * d * f)
    return n_objects * N_OBJECT_FEATURES * d + n_layers * per_layer


# ---------------------------------------------------------------------------------------------
# Scorer
# ---------------------------------------------------------------------------------------------


def representation_ae_params(config: AnomalyCLRConfig) -> AEParams:
    """The downstream AE on representations: ``ae_hidden`` -> ``ae_latent`` -> mirrored, LeakyReLU, standardised."""
    return AEParams(
        hidden=tuple(config.ae_hidden),
        latent=config.ae_latent,
        epochs=config.ae_epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        activation="leaky_relu",
        standardize=True,
    )


def raw_ae_params(config: AnomalyCLRConfig) -> AEParams:
    """The baseline: the same AE on the 57 preprocessed inputs as they are."""
    return dataclasses.replace(representation_ae_params(config), standardize=False)


class AnomalyCLR(ts.TorchScorer):
    """Contrastive transformer encoder + AE on its representations; score = the AE's reconstruction error.

    ``fit`` trains the encoder with ``loss`` (``clr``, ``anomclr`` or ``anomclr_plus``) on background, then
    the downstream AE on the background representations. ``embed_dim`` overrides the config's (the
    representation-dimension scan); ``augmentations`` restricts the anomaly augmentations (the ablation).
    """

    kind = "anomalyclr"

    def __init__(
        self,
        config: AnomalyCLRConfig,
        preprocessor: L1Preprocessor,
        loss: str = "anomclr",
        seed: int = 1,
        device: str = "auto",
        embed_dim: int | None = None,
        augmentations: Sequence[str] = tuple(ANOMALY_AUGMENTATIONS),
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown contrastive loss {loss!r} (known: {', '.join(LOSSES)})")
        if preprocessor.pt_mean is None or preprocessor.pt_std is None:
            raise ValueError("AnomalyCLR needs the fitted L1 preprocessing (per-slot pT mean and std)")
        super().__init__(seed, device, checkpoint_dir)
        self.config = config
        self.preprocessor = preprocessor
        self.loss = loss
        self.embed_dim = config.embed_dim if embed_dim is None else embed_dim
        self.augmentations = tuple(augmentations)
        self.pt_scale = 1.0
        self.encoder: ObjectEncoder | None = None
        self.ae: TorchAutoencoder | None = None
        self.history: list[dict] = []

    def architecture(self) -> ObjectEncoder:
        c = self.config
        return ObjectEncoder(self.embed_dim, c.n_heads, c.n_layers, c.head_dims)

    def _slot_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        kw = {"dtype": torch.float32, "device": self.device}
        return torch.as_tensor(self.preprocessor.pt_mean, **kw), torch.as_tensor(
            self.preprocessor.pt_std, **kw
        )

    def _views(self, x: torch.Tensor, gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Features and masks of the event, its physical and (unless plain CLR) its anomaly augmentation."""
        objects = physical_objects(x, *self._slot_stats())
        views = [objects, physical_augment(*objects, gen)]
        if self.loss != "clr":
            views.append(anomaly_augment(*objects, gen, self.augmentations)[:3])
        return [object_features(*v, self.pt_scale) for v in views]

    def _batch_loss(self, encoder: ObjectEncoder, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        views = self._views(x, gen)
        out = encoder(torch.cat([f for f, _ in views]), torch.cat([m for _, m in views]))
        parts = out.split(len(x))
        return contrastive_loss(
            self.loss, parts[0], parts[1], parts[2] if len(parts) > 2 else None, self.config.temperature
        )

    def fit_encoder(self, X: np.ndarray, X_val: np.ndarray | None = None) -> AnomalyCLR:
        """Train the encoder contrastively on background ``X``; ``X_val`` gives a monitored loss per epoch."""
        X = ts.as_inputs(X, N_INPUTS)
        c = self.config
        self.pt_scale = mean_object_pt(particles_from_inputs(X, self.preprocessor))
        self.encoder = self._build()
        encoder = self.encoder
        opt = torch.optim.Adam(encoder.parameters(), lr=c.learning_rate)
        xt = torch.as_tensor(X, device=self.device)
        xv = None
        if X_val is not None and len(X_val):
            xv = torch.as_tensor(ts.as_inputs(X_val, N_INPUTS)[:VAL_MONITOR_EVENTS], device=self.device)

        def run_epoch(epoch: int, bar: tqdm) -> dict[str, float]:
            gen = ts.epoch_generator(self.seed, epoch, self.device)
            encoder.train()
            batches = ts.iterate_batches(xt, c.batch_size, self.seed, epoch, bar)
            figures = {
                "loss": ts.gradient_epoch(
                    batches, lambda xb: self._batch_loss(encoder, xb, gen), opt, len(xt)
                )
            }
            if xv is not None:
                encoder.eval()
                with torch.no_grad():
                    val_gen = ts.epoch_generator(self.seed, VAL_STREAM, self.device)
                    figures["val_loss"] = float(self._batch_loss(encoder, xv, val_gen))
            return figures

        settings = {
            k: v for k, v in dataclasses.asdict(c).items() if k not in ("epochs",) and not k.startswith("ae_")
        }
        fp = ts.data_fingerprint(
            self.kind, settings, self.loss, self.seed, self.embed_dim, self.augmentations, X
        )
        self.history = train_epochs(
            c.epochs,
            -(-len(X) // c.batch_size),
            run_epoch,
            f"AnomalyCLR[{self.loss}]",
            {"model": encoder, "optimizer": opt},
            ts.EpochCheckpoint(self._checkpoint("encoder.pt"), fp),
        )
        encoder.eval()
        return self

    def representations(self, X: np.ndarray) -> np.ndarray:
        """(N, embed_dim) pooled transformer outputs (before the head) of the events ``X``."""
        if self.encoder is None:
            raise RuntimeError("anomalyclr: representations before fit or load")
        encoder = self.encoder
        encoder.eval()
        stats = self._slot_stats()

        def represent(xb: torch.Tensor) -> torch.Tensor:
            return encoder.represent(*object_features(*physical_objects(xb, *stats), self.pt_scale))

        return ts.in_batches(represent, ts.as_inputs(X, N_INPUTS), self.device).cpu().numpy()

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> AnomalyCLR:
        self.fit_encoder(X, X_val)
        rep_val = None if X_val is None else self.representations(X_val)
        self.ae = TorchAutoencoder(
            representation_ae_params(self.config),
            self.embed_dim,
            self.seed,
            self.device,
            self._checkpoint("ae"),
        ).fit(self.representations(X), rep_val)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        self._require(self.ae)
        return self.ae.score(self.representations(X))

    def save(self, directory: str | Path) -> None:
        self._require(self.encoder, self.ae, saving=True)
        settings = {
            "loss": self.loss,
            "seed": self.seed,
            "embed_dim": self.embed_dim,
            "augmentations": list(self.augmentations),
            "pt_scale": self.pt_scale,
            "pt_mean": self.preprocessor.pt_mean,
            "pt_std": self.preprocessor.pt_std,
            "config": dataclasses.asdict(self.config),
        }
        directory = self._write(directory, {"encoder.pt": ts.cpu_state(self.encoder)}, settings)
        self.ae.save(directory / "ae")

    @classmethod
    def _from_meta(cls, directory: Path, meta: dict[str, Any], device: str) -> AnomalyCLR:
        preprocessor = L1Preprocessor(np.asarray(meta["pt_mean"]), np.asarray(meta["pt_std"]))
        scorer = cls(
            config_from_dict(AnomalyCLRConfig, meta["config"]),
            preprocessor,
            meta["loss"],
            int(meta["seed"]),
            device,
            int(meta["embed_dim"]),
            tuple(meta["augmentations"]),
        )
        scorer.pt_scale = float(meta["pt_scale"])
        return scorer

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        self.history = list(meta.get("history", []))
        self.encoder = self._build()
        ts.load_weights(directory / "encoder.pt", self.encoder, self.device)
        self.encoder.eval()
        self.ae = TorchAutoencoder.load(directory / "ae", self.device)
