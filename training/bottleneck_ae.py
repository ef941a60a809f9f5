"""Bottleneck autoencoder of the OCDN study behind the Scorer protocol, in PyTorch.

Encoder 512 (ReLU) -> BatchNorm -> 512 (ReLU) -> 2, decoder 512 (ReLU) -> 512 (ReLU) -> n_inputs; the
anomaly score is the mean squared reconstruction error. PyTorch rather than Keras: the model is a
full-precision study baseline that never goes to QKeras or hls4ml, and PyTorch gives it the same device path
and training loop style as Deep SVDD without importing TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.epochs import history_columns, train_epochs
from training.torch_scorer import TorchScorer, cpu_state, in_batches, load_weights

SCORE_BATCH = 65_536


def build_autoencoder(n_inputs: int, hidden: int = 512, latent: int = 2) -> nn.Sequential:
    """The study's bottleneck AE as one ``nn.Sequential`` (the encoder is its first six modules)."""
    return nn.Sequential(
        nn.Linear(n_inputs, hidden),
        nn.ReLU(),
        nn.BatchNorm1d(hidden),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, latent),
        nn.Linear(latent, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_inputs),
    )


# The constructor's settings, as saved in scorer.json and read back by ``load``.
SETTINGS = ("n_inputs", "hidden", "latent", "epochs", "batch_size", "learning_rate", "seed")


class BottleneckAE(TorchScorer):
    """Autoencoder with a ``latent``-dimensional bottleneck trained with MSE (Adam) on background."""

    kind = "bottleneck_ae"

    def __init__(
        self,
        n_inputs: int,
        hidden: int = 512,
        latent: int = 2,
        epochs: int = 10,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        seed: int = 1,
        device: str = "auto",
    ) -> None:
        super().__init__(seed, device)
        self.n_inputs = int(n_inputs)
        self.hidden = int(hidden)
        self.latent = int(latent)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.network: nn.Sequential | None = None
        self.history: dict[str, list[float]] = {}

    def architecture(self) -> nn.Sequential:
        return build_autoencoder(self.n_inputs, self.hidden, self.latent)

    def _errors(self, X: np.ndarray) -> torch.Tensor:
        """Per-event mean squared reconstruction error (tensor), in eval mode (BatchNorm running statistics)."""
        self.network.eval()
        return in_batches(
            lambda x: torch.mean((self.network(x) - x) ** 2, dim=1), X, self.device, SCORE_BATCH
        )

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> BottleneckAE:
        if len(X) < 2:
            raise ValueError(f"need at least 2 training events for BatchNorm, got {len(X)}")
        self.network = self._build()
        data = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
        optimiser = torch.optim.Adam(self.network.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed)  # one stream over the epochs, in order

        def run_epoch(epoch: int, bar: Any) -> dict[str, float]:
            self.network.train()
            order = torch.randperm(len(data), generator=generator).to(self.device)
            total, seen = 0.0, 0
            for i in range(0, len(data), self.batch_size):
                batch = data[order[i : i + self.batch_size]]
                bar.update(1)
                if len(batch) < 2:
                    continue  # BatchNorm cannot normalise a batch of one event
                loss = torch.mean((self.network(batch) - batch) ** 2)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
                seen += len(batch)
            figures = {"loss": total / seen}
            if X_val is not None:
                figures["val_loss"] = float(self._errors(np.asarray(X_val, dtype=np.float32)).mean())
            return figures

        n_batches = -(-len(data) // self.batch_size)
        # no checkpoint: the shuffling stream is not saved, so a resumed training would differ
        history = train_epochs(self.epochs, n_batches, run_epoch, "bottleneck_ae")
        self.history = history_columns(history, ("loss", "val_loss"))
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        self._require(self.network)
        return self._errors(np.asarray(X, dtype=np.float32)).double().cpu().numpy()

    def save(self, directory: str | Path) -> None:
        self._require(self.network, saving=True)
        settings = {name: getattr(self, name) for name in SETTINGS}
        self._write(directory, {"network.pt": cpu_state(self.network)}, settings)

    @classmethod
    def _from_meta(cls, directory: Path, meta: dict[str, Any], device: str) -> BottleneckAE:
        return cls(**{name: meta[name] for name in SETTINGS}, device=device)

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        self.network = self._build()
        load_weights(directory / "network.pt", self.network, self.device)
        self.history = meta.get("history", {})
