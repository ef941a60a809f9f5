"""Deep SVDD (Ruff et al., ICML 2018) behind the Scorer protocol, in PyTorch.

A bias-free network maps events into a feature space where the background is pulled towards a fixed centre
c; the anomaly score is the squared distance to c (minus R^2 for the soft-boundary objective).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from l1ad.errors import InputError
from training.epochs import history_columns, train_epochs
from training.torch_scorer import TorchScorer, cpu_state, in_batches, load_weights

OBJECTIVES = ("one-class", "soft-boundary")
# A centre coordinate this close to 0 is pushed out to +-eps: a zero coordinate is matched trivially by
# zero weights, one road to the collapsed solution phi(x) = c for every x (Ruff et al., section 3.3).
CENTRE_EPS = 0.1
SCORE_BATCH = 65_536


def build_network(n_inputs: int, hidden: tuple[int, ...], rep_dim: int) -> nn.Sequential:
    """The feature map phi: Linear layers without bias, leaky ReLU between them, linear output of ``rep_dim``.

    No bias terms and no bounded activations: either would let the network reach the trivial solution of
    mapping every input onto c (Ruff et al., propositions 2 and 3).
    """
    layers: list = []
    width = n_inputs
    for h in hidden:
        layers += [nn.Linear(width, h, bias=False), nn.LeakyReLU(0.01)]
        width = h
    layers.append(nn.Linear(width, rep_dim, bias=False))
    return nn.Sequential(*layers)


def initial_centre(features: np.ndarray, eps: float = CENTRE_EPS) -> np.ndarray:
    """Centre c = mean of the initial features (n, d), each coordinate moved to at least ``eps`` from 0."""
    c = np.asarray(features, dtype=np.float64).mean(axis=0)
    small = np.abs(c) < eps
    c[small & (c < 0)] = -eps
    c[small & (c >= 0)] = eps
    return c.astype(np.float32)


def soft_boundary_radius(dist: np.ndarray, nu: float) -> float:
    """The R minimising R^2 + mean(max(0, d - R^2)) / nu for fixed squared distances: their (1 - nu) quantile."""
    return float(np.quantile(np.sqrt(np.asarray(dist, dtype=np.float64)), 1.0 - nu))


# The constructor's settings, as saved in scorer.json (with the radius) and read back by ``load``.
SETTINGS = (
    "n_inputs",
    "hidden",
    "rep_dim",
    "objective",
    "nu",
    "weight_decay",
    "epochs",
    "batch_size",
    "learning_rate",
    "seed",
)


class DeepSVDD(TorchScorer):
    """Deep SVDD with the one-class or the soft-boundary objective; weight decay through Adam.

    Soft boundary: the loss is R^2 + mean(max(0, |phi(x) - c|^2 - R^2)) / nu. For a fixed network its
    optimal R is the (1 - nu) quantile of the distances, so, as in the reference implementation, R is not a
    gradient parameter but solved for: after each epoch from that epoch's distances, and once more on the
    whole training set at the end, so that a fraction of about nu of the training events scores above 0.
    """

    kind = "deep_svdd"

    def __init__(
        self,
        n_inputs: int,
        hidden: tuple[int, ...] = (128,),
        rep_dim: int = 128,
        objective: str = "one-class",
        nu: float = 0.1,
        weight_decay: float = 1e-6,
        epochs: int = 10,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        seed: int = 1,
        device: str = "auto",
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not 0.0 < nu <= 1.0:
            raise ValueError(f"nu must lie in (0, 1], got {nu}")
        super().__init__(seed, device)
        self.n_inputs = int(n_inputs)
        self.hidden = tuple(int(h) for h in hidden)
        self.rep_dim = int(rep_dim)
        self.objective = objective
        self.nu = float(nu)
        self.weight_decay = float(weight_decay)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.network: nn.Sequential | None = None
        self.centre: np.ndarray | None = None
        self.radius = 0.0
        self.history: dict[str, list[float]] = {}

    def architecture(self) -> nn.Sequential:
        return build_network(self.n_inputs, self.hidden, self.rep_dim)

    def _features(self, X: np.ndarray) -> torch.Tensor:
        """phi(X) as a tensor on the scorer's device, computed in batches without gradients."""
        self.network.eval()
        return in_batches(self.network, X, self.device, SCORE_BATCH)

    def _distances(self, X: np.ndarray) -> np.ndarray:
        phi = self._features(X)
        c = torch.as_tensor(self.centre, device=phi.device)
        return torch.sum((phi - c) ** 2, dim=1).double().cpu().numpy()

    def _loss(self, dist: torch.Tensor) -> torch.Tensor:
        """The objective on a batch of squared distances (R held fixed)."""
        if self.objective == "one-class":
            return dist.mean()
        r2 = self.radius**2
        return r2 + torch.clamp(dist - r2, min=0.0).mean() / self.nu

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> DeepSVDD:
        X = np.asarray(X, dtype=np.float32)
        self.network = self._build()
        self.centre = initial_centre(self._features(X).cpu().numpy())
        self.radius = 0.0
        c = torch.as_tensor(self.centre, device=self.device)
        data = torch.as_tensor(X, device=self.device)
        optimiser = torch.optim.Adam(
            self.network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        generator = torch.Generator().manual_seed(self.seed)  # one stream over the epochs, in order

        def run_epoch(epoch: int, bar: Any) -> dict[str, float]:
            self.network.train()
            order = torch.randperm(len(data), generator=generator).to(self.device)
            total, seen, epoch_dist = 0.0, 0, []
            for i in range(0, len(data), self.batch_size):
                batch = data[order[i : i + self.batch_size]]
                dist = torch.sum((self.network(batch) - c) ** 2, dim=1)
                loss = self._loss(dist)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
                seen += len(batch)
                epoch_dist.append(dist.detach())
                bar.update(1)
            if self.objective == "soft-boundary":
                self.radius = soft_boundary_radius(torch.cat(epoch_dist).double().cpu().numpy(), self.nu)
            figures = {"loss": total / seen, "radius": self.radius}
            if X_val is not None:
                distances = torch.as_tensor(self._distances(np.asarray(X_val, np.float32)))
                figures["val_loss"] = float(self._loss(distances))
            return figures

        n_batches = -(-len(data) // self.batch_size)
        # no checkpoint: the shuffling stream is not saved, so a resumed training would differ
        history = train_epochs(self.epochs, n_batches, run_epoch, f"deep_svdd[{self.objective}]")
        self.history = history_columns(history, ("loss", "val_loss", "radius"))
        if self.objective == "soft-boundary":
            self.radius = soft_boundary_radius(self._distances(X), self.nu)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        self._require(self.network)
        dist = self._distances(np.asarray(X, dtype=np.float32))
        return dist - self.radius**2 if self.objective == "soft-boundary" else dist

    def save(self, directory: str | Path) -> None:
        self._require(self.network, saving=True)
        state = {"network": cpu_state(self.network), "centre": torch.as_tensor(self.centre)}
        self._write(
            directory,
            {"network.pt": state},
            {**{name: getattr(self, name) for name in SETTINGS}, "radius": self.radius},
        )

    @classmethod
    def _from_meta(cls, directory: Path, meta: dict[str, Any], device: str) -> DeepSVDD:
        scorer = cls(**{name: meta[name] for name in SETTINGS}, device=device)
        scorer.radius = float(meta["radius"])
        return scorer

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        weights = directory / "network.pt"
        self.network = self._build()
        state = load_weights(weights, self.network, self.device, key="network")
        centre = state.get("centre")
        if not isinstance(centre, torch.Tensor):
            raise InputError(weights, "holds no Deep SVDD centre")
        self.centre = centre.cpu().numpy()
        self.history = meta.get("history", {})
