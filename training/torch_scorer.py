"""Shared machinery of the PyTorch scorers (Deep SVDD, bottleneck AE, dense AE, NAE, MPDR, AnomalyCLR).

``TorchScorer`` picks the device once (``training.device``), draws a network's initial weights under the
scorer's seed, scores in batches without gradients, and saves state_dict weights (CPU tensors) beside a
``scorer.json`` of settings: no pickle anywhere. The per-epoch training machinery lives here too: per-epoch
random streams and checkpoints, so that a training stopped after epoch k and resumed is the same training
as one that never stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from l1ad.errors import InputError
from l1ad.io import atomic_path
from l1ad.untrusted import load_torch_state
from training.device import torch_device
from training.scorer import Scorer, malformed_meta, read_scorer_meta, write_scorer_meta

SCORE_BATCH = 8192  # events per forward pass when scoring: bounds memory, not a training choice

# ---------------------------------------------------------------------------------------------
# Per-epoch random streams and resumable checkpoints
# ---------------------------------------------------------------------------------------------


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A seed for one (training seed, epoch, stream) triple: epochs draw independent random numbers."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])


def epoch_generator(seed: int, epoch: int, device: str, stream: int = 0) -> torch.Generator:
    """A torch generator on ``device`` seeded for one epoch of one training."""
    gen = torch.Generator(device=device)
    gen.manual_seed(epoch_seed(seed, epoch, stream))
    return gen


def minibatches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Shuffled index batches of one epoch; the last, smaller batch is kept."""
    order = np.random.default_rng(epoch_seed(seed, epoch, stream=1)).permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def iterate_batches(
    X: torch.Tensor, batch_size: int, seed: int, epoch: int, bar: tqdm
) -> Iterator[torch.Tensor]:
    """The shuffled training batches of one epoch, advancing ``bar`` after each."""
    for idx in minibatches(len(X), batch_size, seed, epoch):
        yield X[torch.as_tensor(idx, device=X.device)]
        bar.update(1)


def gradient_epoch(
    batches: Iterable[torch.Tensor],
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    optimiser: torch.optim.Optimizer,
    n_events: int,
) -> float:
    """One pass of minibatch gradient steps on ``loss_of(batch)``; the event-weighted mean loss over the
    ``n_events`` the batches hold."""
    total = 0.0
    for xb in batches:
        loss = loss_of(xb)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * len(xb)
    return total / n_events


def data_fingerprint(*parts: Any) -> str:
    """Short hash of JSON-able settings and numpy arrays: a checkpoint belongs to exactly these."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


class EpochCheckpoint:
    """Model and optimizer states, epoch count and history after the last finished epoch, in one file.

    The fingerprint names the settings and data the training belongs to (not its epoch count, so a
    finished training can also be extended); a checkpoint with another fingerprint is ignored.
    """

    def __init__(self, path: str | Path | None, fingerprint: str) -> None:
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint

    def restore(self, states: dict[str, Any]) -> tuple[int, list[dict]]:
        """Load the saved states into ``states`` (name -> module or optimizer); return (epochs done, history)."""
        if self.path is None or not self.path.is_file():
            return 0, []
        try:
            data = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn or foreign file: refuse it by name rather than crash inside torch
            raise InputError(self.path, f"not a readable checkpoint ({type(exc).__name__}: {exc})") from None
        if not isinstance(data, dict) or data.get("fingerprint") != self.fingerprint:
            print(
                f"  {self.path.name}: written for other settings or data, training from scratch", flush=True
            )
            return 0, []
        for name, obj in states.items():
            obj.load_state_dict(data["states"][name])
        return int(data["epoch"]), list(data["history"])

    def save(self, epoch: int, states: dict[str, Any], history: list[dict]) -> None:
        """Write the states after ``epoch`` finished epochs, atomically."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "history": history,
            "states": {name: obj.state_dict() for name, obj in states.items()},
        }
        with atomic_path(self.path) as tmp:
            torch.save(payload, tmp)


# ---------------------------------------------------------------------------------------------
# Inputs, batched evaluation, weight files
# ---------------------------------------------------------------------------------------------


def as_inputs(X: np.ndarray, n_inputs: int) -> np.ndarray:
    """``X`` as float32 events of ``n_inputs`` values each; a ValueError naming the shape otherwise."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != n_inputs:
        raise ValueError(f"expected ({len(X)}, {n_inputs}) inputs, got shape {X.shape}")
    return X


def in_batches(
    fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray, device: str, batch: int = SCORE_BATCH
) -> torch.Tensor:
    """``fn`` applied to ``X`` in batches of ``batch`` events without gradients, rows concatenated on ``device``.

    An empty ``X`` gives an empty float32 tensor."""
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out.append(fn(torch.as_tensor(np.asarray(X[i : i + batch], dtype=np.float32), device=device)))
    return torch.cat(out) if out else torch.zeros(0, device=device)


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state_dict as CPU tensors: a weight file that loads on any device."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_weights(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` a dict of tensors atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_weights(path: Path, module: nn.Module, device: str, key: str | None = None) -> dict[str, Any]:
    """Load the state_dict in ``path`` (the entry ``key`` of it when given) into ``module``; return the file's dict.

    Tensors only (``load_torch_state``): nothing in the file runs. A missing file, or weights that do not
    fit the module, is an ``InputError`` naming the file."""
    state = load_torch_state(path, map_location=device)
    try:
        module.load_state_dict(state if key is None else state[key])
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(path, f"weights do not fit the saved architecture ({exc})") from None
    return state


# ---------------------------------------------------------------------------------------------
# The base class
# ---------------------------------------------------------------------------------------------


class TorchScorer(Scorer):
    """A scorer backed by PyTorch networks, on ``device`` ("auto": a GPU when present, else the CPU).

    Subclasses define ``architecture``; ``_build`` draws its initial weights under ``seed``. With a
    ``checkpoint_dir`` the training writes per-epoch checkpoints there and resumes from them.
    """

    def __init__(self, seed: int = 1, device: str = "auto", checkpoint_dir: str | Path | None = None) -> None:
        self.seed = int(seed)
        self.device = torch_device(device)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.history: Any = []

    def architecture(self) -> nn.Module:
        """The untrained network of this scorer's settings."""
        raise NotImplementedError

    def _build(self) -> nn.Module:
        """``architecture()`` with its initial weights drawn under this scorer's seed, on its device."""
        torch.manual_seed(self.seed)
        return self.architecture().to(self.device)

    def _checkpoint(self, name: str) -> Path | None:
        """Path of the checkpoint file ``name``, or None without a checkpoint directory."""
        return None if self.checkpoint_dir is None else self.checkpoint_dir / name

    def _require(self, *parts: Any, saving: bool = False) -> None:
        """Refuse to score or save (``saving``) while any of ``parts`` is still missing."""
        if any(part is None for part in parts):
            raise RuntimeError(
                f"{self.kind} scorer {'saved before fit' if saving else 'used before fit or load'}"
            )

    def _write(
        self, directory: str | Path, weights: dict[str, dict[str, Any]], settings: dict[str, Any]
    ) -> Path:
        """Write each weight file of ``weights`` (name -> state) and ``scorer.json`` (``settings`` and history)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, state in weights.items():
            save_weights(directory / name, state)
        write_scorer_meta(directory, self.kind, {**settings, "history": self.history})
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> TorchScorer:
        """Rebuild a scorer written by ``save``: ``_from_meta`` makes it from the settings in ``scorer.json``
        (a missing or mistyped entry is an ``InputError`` naming the file), then ``_restore`` reads its history
        and weights back."""
        directory = Path(directory)
        meta = read_scorer_meta(directory, cls.kind)
        with malformed_meta(directory, cls.kind):
            scorer = cls._from_meta(directory, meta, device)
        scorer._restore(directory, meta)
        return scorer

    @classmethod
    def _from_meta(cls, directory: Path, meta: dict[str, Any], device: str) -> TorchScorer:
        """The untrained scorer of the settings ``meta`` on ``device`` (``directory``: where it was saved)."""
        raise NotImplementedError

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        """Read the history in ``meta`` and the weights saved in ``directory`` back into this scorer."""
        raise NotImplementedError
