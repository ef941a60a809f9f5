"""The one epoch loop of every hand-trained model (PyTorch scorers, Keras custom steps, study toys).

A training hands ``train_epochs`` one epoch's body (``run_epoch(epoch, bar)``: train, advance the bar per
batch, return the epoch's figures); the loop owns the rest: restoring a checkpoint and resuming after its
last finished epoch, the progress bar, timing each epoch, the history, and saving after every epoch. Models
trained with Keras ``fit`` keep Keras's loop; everything else trains here, so resume, progress and history
mean the same thing for every model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

EpochBody = Callable[[int, tqdm], dict[str, float]]


class Checkpoint(Protocol):
    """Where a training's state goes after each epoch (``training.torch_scorer.EpochCheckpoint``)."""

    path: Path | None

    def restore(self, states: dict[str, Any]) -> tuple[int, list[dict]]:
        """Load saved states into ``states``; return (epochs done, history so far)."""

    def save(self, epoch: int, states: dict[str, Any], history: list[dict]) -> None:
        """Save ``states`` and ``history`` after ``epoch`` finished epochs."""


class NoCheckpoint:
    """No saved state: the training starts at epoch 0 and saves nothing (trainings whose random stream or
    optimizer state cannot be saved exactly, where a resumed training would differ from an unbroken one)."""

    path = None

    def restore(self, states: dict[str, Any]) -> tuple[int, list[dict]]:
        return 0, []

    def save(self, epoch: int, states: dict[str, Any], history: list[dict]) -> None:
        return None


def train_epochs(
    n_epochs: int,
    n_batches: int,
    run_epoch: EpochBody,
    desc: str,
    states: dict[str, Any] | None = None,
    checkpoint: Checkpoint | None = None,
) -> list[dict]:
    """Run epochs ``done .. n_epochs - 1`` after restoring ``checkpoint`` (none: from 0); save after each.

    ``run_epoch(epoch, bar)`` trains epoch ``epoch`` (0-based), advancing ``bar`` once per batch of
    ``n_batches``, and returns its figures; ``states`` (name -> object with ``state_dict``) is what the
    checkpoint saves. Returns the history, one dict per epoch (``epoch``, 1-based, and ``seconds`` added).
    """
    checkpoint = checkpoint or NoCheckpoint()
    states = states or {}
    done, history = checkpoint.restore(states)
    if done:
        print(f"  {desc}: resumed after epoch {done} from {checkpoint.path}", flush=True)
    for epoch in range(done, n_epochs):
        with tqdm(total=n_batches, desc=f"  {desc} epoch {epoch + 1}/{n_epochs}", disable=None) as bar:
            start = time.perf_counter()
            figures = run_epoch(epoch, bar)
            seconds = time.perf_counter() - start
            bar.set_postfix({k: f"{v:.4g}" for k, v in figures.items()})
        history.append({"epoch": epoch + 1, "seconds": seconds, **figures})
        checkpoint.save(epoch + 1, states, history)
    return history


def history_columns(history: list[dict], keys: tuple[str, ...]) -> dict[str, list[float]]:
    """A per-epoch history as one list per key (Keras's ``History.history`` shape; a key no epoch has: [])."""
    return {key: [h[key] for h in history if key in h] for key in keys}
