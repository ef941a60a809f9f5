"""Bottleneck autoencoder of the OCDN study behind the Scorer protocol, in PyTorch.

Encoder 512 (ReLU) -> BatchNorm -> 512 (ReLU) -> 2, decoder 512 (ReLU) -> 512 (ReLU) -> n_inputs; the
anomaly score is the mean squared reconstruction error. PyTorch rather than Keras: the model is a
full-precision study baseline that never goes to QKeras or hls4ml, and PyTorch gives it the same device path
and training loop style as Deep SVDD without importing TensorFlow.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from l1ad.errors import InputError
from l1ad.io import atomic_path, write_json
from l1ad.untrusted import load_torch_state
from training.scorer import Scorer, read_scorer_meta

SCORE_BATCH = 65_536


def build_autoencoder(n_inputs: int, hidden: int = 512, latent: int = 2):
    """The study's bottleneck AE as one ``nn.Sequential`` (the encoder is its first six modules)."""
    from torch import nn

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


class BottleneckAE(Scorer):
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
        self.n_inputs = int(n_inputs)
        self.hidden = int(hidden)
        self.latent = int(latent)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.seed = int(seed)
        self.device_setting = device
        self.network = None
        self.history: dict[str, list[float]] = {}

    def _errors(self, X: np.ndarray):
        """Per-event mean squared reconstruction error (tensor), in eval mode (BatchNorm running statistics)."""
        import torch

        device = next(self.network.parameters()).device
        self.network.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(X), SCORE_BATCH):
                x = torch.as_tensor(X[i : i + SCORE_BATCH], dtype=torch.float32, device=device)
                out.append(torch.mean((self.network(x) - x) ** 2, dim=1))
        return torch.cat(out)

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> BottleneckAE:
        import torch

        from training.device import torch_device

        if len(X) < 2:
            raise ValueError(f"need at least 2 training events for BatchNorm, got {len(X)}")
        device = torch_device(self.device_setting)
        torch.manual_seed(self.seed)
        self.network = build_autoencoder(self.n_inputs, self.hidden, self.latent).to(device)
        data = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
        optimiser = torch.optim.Adam(self.network.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed)
        self.history = {"loss": [], "val_loss": []}
        for epoch in range(1, self.epochs + 1):
            start = time.perf_counter()
            self.network.train()
            order = torch.randperm(len(data), generator=generator).to(device)
            total, seen = 0.0, 0
            for i in range(0, len(data), self.batch_size):
                batch = data[order[i : i + self.batch_size]]
                if len(batch) < 2:
                    continue  # BatchNorm cannot normalise a batch of one event
                loss = torch.mean((self.network(batch) - batch) ** 2)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
                seen += len(batch)
            self.history["loss"].append(total / seen)
            line = f"  bottleneck_ae epoch {epoch}/{self.epochs}: loss {total / seen:.4g}"
            if X_val is not None:
                val = float(self._errors(np.asarray(X_val, dtype=np.float32)).mean())
                self.history["val_loss"].append(val)
                line += f", val loss {val:.4g}"
            print(f"{line} ({time.perf_counter() - start:.1f} s)", flush=True)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.network is None:
            raise RuntimeError("bottleneck_ae scorer used before fit or load")
        return self._errors(np.asarray(X, dtype=np.float32)).double().cpu().numpy()

    def save(self, directory: str | Path) -> None:
        import torch

        if self.network is None:
            raise RuntimeError("bottleneck_ae scorer saved before fit")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "network.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in self.network.state_dict().items()}, tmp)
        write_json(
            directory / "scorer.json",
            {
                "kind": self.kind,
                "n_inputs": self.n_inputs,
                "hidden": self.hidden,
                "latent": self.latent,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "seed": self.seed,
                "history": self.history,
            },
        )

    @classmethod
    def load(cls, directory: str | Path) -> BottleneckAE:

        from training.device import torch_device

        directory = Path(directory)
        meta_path = directory / "scorer.json"
        meta = read_scorer_meta(directory, cls.kind)
        try:
            scorer = cls(
                meta["n_inputs"],
                meta["hidden"],
                meta["latent"],
                meta["epochs"],
                meta["batch_size"],
                meta["learning_rate"],
                meta["seed"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(meta_path, f"incomplete bottleneck AE metadata ({exc!r})") from None
        weights = directory / "network.pt"
        if not weights.is_file():
            raise InputError(weights, "file not found")
        try:
            network = build_autoencoder(scorer.n_inputs, scorer.hidden, scorer.latent)
            network.load_state_dict(load_torch_state(weights))
        except (RuntimeError, KeyError, OSError, EOFError) as exc:
            raise InputError(weights, f"not a matching bottleneck AE weight file ({exc})") from None
        scorer.network = network.to(torch_device("auto"))
        scorer.history = meta.get("history", {})
        return scorer
