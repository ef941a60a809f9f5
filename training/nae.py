"""Autoencoders in PyTorch for the full-precision L1 studies: a plain dense AE (also AnomalyCLR's downstream
AE) and the normalized autoencoder (NAE), whose energy E(x) = ||x - x_hat||^2 is trained by maximum
likelihood with negatives drawn by Langevin Monte Carlo (Yoon, Noh, Park, ICML 2021). Both use a GPU when
present and resume an interrupted training from their per-epoch checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from l1ad.config import NAEConfig
from training import torch_scorer as ts
from training.epochs import train_epochs
from training.scorer import config_from_dict


def _activation(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU()
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r} (leaky_relu or relu)")


class DenseAE(nn.Module):
    """Dense autoencoder: encoder ``hidden``, a ``latent`` bottleneck, mirrored decoder, linear output.

    ``spherical`` projects the latent vector onto the unit sphere (the NAE's bounded latent space, where
    a latent Langevin chain cannot run away).
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: Sequence[int],
        latent: int,
        activation: str = "leaky_relu",
        spherical: bool = False,
    ) -> None:
        super().__init__()
        widths = [n_inputs, *hidden]
        enc: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            enc += [nn.Linear(a, b), _activation(activation)]
        self.encoder = nn.Sequential(*enc, nn.Linear(widths[-1], latent))
        dec: list[nn.Module] = []
        back = [latent, *reversed(hidden)]
        for a, b in zip(back[:-1], back[1:], strict=True):
            dec += [nn.Linear(a, b), _activation(activation)]
        self.decoder = nn.Sequential(*dec, nn.Linear(back[-1], n_inputs))
        self.spherical = spherical

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return nn.functional.normalize(z, dim=1) if self.spherical else z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Per-event sum of squared residuals ||x - x_hat||^2, shape (B,)."""
        return ((x - self(x)) ** 2).sum(dim=1)


# ---------------------------------------------------------------------------------------------
# Plain autoencoder
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class AEParams:
    """Architecture and recipe of a plain dense AE (MSE, Adam)."""

    hidden: tuple[int, ...] = (256, 128, 64, 32, 16)
    latent: int = 5
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    activation: str = "leaky_relu"
    standardize: bool = False  # scale each input by the training mean and std first (representations)


class _DenseEnergyScorer(ts.TorchScorer):
    """Save and load of a scorer made of one dense network (``net``, in ``model.pt``), its settings
    dataclass (attribute and JSON key ``settings_key``) and two per-input arrays (``arrays``)."""

    settings_key: ClassVar[str]
    settings_class: ClassVar[type]
    arrays: ClassVar[tuple[str, str]]
    array_fill: ClassVar[tuple[float, float]]  # the arrays' values before ``fit``
    net: nn.Module | None

    def __init__(
        self,
        settings: Any,
        n_inputs: int,
        seed: int = 1,
        device: str = "auto",
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        super().__init__(seed, device, checkpoint_dir)
        setattr(self, self.settings_key, settings)
        self.n_inputs = n_inputs
        for name, fill in zip(self.arrays, self.array_fill, strict=True):
            setattr(self, name, np.full(n_inputs, fill, dtype=np.float64))
        self.net = None

    def save(self, directory: str | Path) -> None:
        self._require(self.net, saving=True)
        settings = {
            "n_inputs": self.n_inputs,
            "seed": self.seed,
            self.settings_key: dataclasses.asdict(getattr(self, self.settings_key)),
            **{name: getattr(self, name) for name in self.arrays},
        }
        self._write(directory, {"model.pt": ts.cpu_state(self.net)}, settings)

    @classmethod
    def _from_meta(cls, directory: Path, meta: dict[str, Any], device: str) -> _DenseEnergyScorer:
        settings = config_from_dict(cls.settings_class, meta[cls.settings_key])
        scorer = cls(settings, int(meta["n_inputs"]), int(meta["seed"]), device)
        for name in cls.arrays:
            setattr(scorer, name, np.asarray(meta[name], dtype=np.float64))
        return scorer

    def _restore_net(self, directory: Path) -> None:
        self.net = self._build()
        ts.load_weights(directory / "model.pt", self.net, self.device)


class TorchAutoencoder(_DenseEnergyScorer):
    """Plain dense AE scorer: score = ||x - x_hat||^2 (on standardised inputs when ``standardize``)."""

    kind = "torch_ae"
    settings_key, settings_class = "params", AEParams
    arrays, array_fill = ("mean", "scale"), (0.0, 1.0)
    params: AEParams
    mean: np.ndarray
    scale: np.ndarray

    def __init__(
        self,
        params: AEParams,
        n_inputs: int,
        seed: int = 1,
        device: str = "auto",
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        super().__init__(params, n_inputs, seed, device, checkpoint_dir)
        self.history: list[dict] = []

    def architecture(self) -> DenseAE:
        p = self.params
        return DenseAE(self.n_inputs, p.hidden, p.latent, p.activation)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> TorchAutoencoder:
        X = ts.as_inputs(X, self.n_inputs)
        if self.params.standardize:
            self.mean = X.mean(axis=0).astype(np.float64)
            std = X.std(axis=0).astype(np.float64)
            self.scale = np.where(std > 0, std, 1.0)
        self.net = self._build()
        net = self.net
        opt = torch.optim.Adam(net.parameters(), lr=self.params.learning_rate)
        xt = torch.as_tensor(self._scaled(X), device=self.device)
        xv = None if X_val is None else self._scaled(X_val)

        def run_epoch(epoch: int, bar: tqdm) -> dict[str, float]:
            batches = ts.iterate_batches(xt, self.params.batch_size, self.seed, epoch, bar)
            figures = {"loss": ts.gradient_epoch(batches, lambda xb: net.energy(xb).mean(), opt, len(xt))}
            if xv is not None:
                figures["val_loss"] = float(ts.in_batches(net.energy, xv, self.device).cpu().numpy().mean())
            return figures

        fp = ts.data_fingerprint(self.kind, dataclasses.replace(self.params, epochs=0).__dict__, self.seed, X)
        ckpt = ts.EpochCheckpoint(self._checkpoint("ae_checkpoint.pt"), fp)
        n_batches = -(-len(X) // self.params.batch_size)
        self.history = train_epochs(
            self.params.epochs, n_batches, run_epoch, "AE", {"model": net, "optimizer": opt}, ckpt
        )
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        self._require(self.net)
        return ts.in_batches(self.net.energy, self._scaled(X), self.device).cpu().numpy().astype(np.float64)

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        self.history = list(meta.get("history", []))
        self._restore_net(directory)


# ---------------------------------------------------------------------------------------------
# Normalized autoencoder
# ---------------------------------------------------------------------------------------------


def langevin(
    x0: torch.Tensor,
    energy: Callable[[torch.Tensor], torch.Tensor],
    n_steps: int,
    step_size: float,
    noise: float,
    temperature: float,
    gen: torch.Generator,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Langevin chain x <- project(x - step_size * grad E(x) / T + noise * N(0, 1)); returns detached x.

    Only x receives gradients: the model's parameter gradients are left untouched.
    """
    x = x0.detach()
    for _ in range(n_steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(x).sum() / temperature, x)
        eps = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        x = x.detach() - step_size * grad + noise * eps
        if project is not None:
            x = project(x)
    return x.detach()


class NormalizedAutoencoder(_DenseEnergyScorer):
    """NAE on the 57 L1 inputs: score = E(x) = ||x - x_hat||^2; ``config.epochs == 0`` is the plain AE.

    Training: ``pretrain_epochs`` of plain reconstruction, then ``epochs`` of maximum likelihood for
    p(x) ~ exp(-E(x) / T): loss = (mean E(data) - mean E(negatives)) / T. Negatives come from on-manifold
    initialisation: a Langevin chain on the unit-sphere latent space with energy E(decode(z)), decode, then
    a Langevin chain in input space, kept inside the box spanned by the training data.
    """

    kind = "nae"
    settings_key, settings_class = "config", NAEConfig
    arrays, array_fill = ("lower", "upper"), (0.0, 0.0)
    config: NAEConfig
    lower: np.ndarray
    upper: np.ndarray

    def __init__(
        self,
        config: NAEConfig,
        n_inputs: int,
        seed: int = 1,
        device: str = "auto",
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        super().__init__(config, n_inputs, seed, device, checkpoint_dir)
        self.pretrained_state: dict[str, torch.Tensor] | None = None
        self.history: dict[str, list[dict]] = {"pretrain": [], "nae": []}

    def architecture(self) -> DenseAE:
        c = self.config
        return DenseAE(self.n_inputs, c.hidden, c.latent, "leaky_relu", spherical=True)

    def _fingerprint(self, X: np.ndarray, without: tuple[str, ...]) -> str:
        settings = {k: v for k, v in dataclasses.asdict(self.config).items() if k not in without}
        return ts.data_fingerprint(self.kind, settings, self.seed, X)

    def sample_negatives(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Negative samples (n, n_inputs) by on-manifold initialisation and two Langevin chains."""
        if self.net is None:
            raise RuntimeError("nae: sample_negatives before fit or load")
        c, net = self.config, self.net
        lower = torch.as_tensor(self.lower, dtype=torch.float32, device=self.device)
        upper = torch.as_tensor(self.upper, dtype=torch.float32, device=self.device)
        z0 = torch.randn((n, c.latent), generator=gen, device=self.device)
        z0 = nn.functional.normalize(z0, dim=1)  # uniform on the latent sphere
        z = langevin(
            z0,
            lambda z: net.energy(net.decoder(z)),
            c.latent_steps,
            c.latent_step_size,
            c.latent_noise,
            c.temperature,
            gen,
            project=lambda z: nn.functional.normalize(z, dim=1),
        )
        with torch.no_grad():
            x0 = torch.clamp(net.decoder(z), lower, upper)
        return langevin(
            x0,
            net.energy,
            c.visible_steps,
            c.visible_step_size,
            c.visible_noise,
            c.temperature,
            gen,
            project=lambda x: torch.clamp(x, lower, upper),
        )

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> NormalizedAutoencoder:
        X = ts.as_inputs(X, self.n_inputs)
        c = self.config
        self.lower = X.min(axis=0).astype(np.float64)
        self.upper = X.max(axis=0).astype(np.float64)
        self.net = self._build()
        net = self.net
        xt = torch.as_tensor(X, device=self.device)
        xv = None if X_val is None else np.asarray(X_val, dtype=np.float32)
        n_batches = -(-len(X) // c.batch_size)

        def val_energy() -> dict[str, float]:
            return (
                {}
                if xv is None
                else {"val_energy": float(ts.in_batches(net.energy, xv, self.device).cpu().numpy().mean())}
            )

        opt = torch.optim.Adam(net.parameters(), lr=c.pretrain_learning_rate)

        def pretrain_epoch(epoch: int, bar: tqdm) -> dict[str, float]:
            batches = ts.iterate_batches(xt, c.batch_size, self.seed, epoch, bar)
            return {
                "energy": ts.gradient_epoch(batches, lambda xb: net.energy(xb).mean(), opt, len(xt)),
                **val_energy(),
            }

        self.history["pretrain"] = train_epochs(
            c.pretrain_epochs,
            n_batches,
            pretrain_epoch,
            "NAE pretrain (plain AE)",
            {"model": net, "optimizer": opt},
            ts.EpochCheckpoint(
                self._checkpoint("pretrain.pt"), self._fingerprint(X, ("pretrain_epochs", "epochs"))
            ),
        )
        self.pretrained_state = copy.deepcopy(net.state_dict())

        # A fresh optimizer: the maximum-likelihood phase has its own loss scale.
        nae_opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate)

        gamma = c.negative_energy_reg

        def nae_epoch(epoch: int, bar: tqdm) -> dict[str, float]:
            gen = ts.epoch_generator(self.seed, epoch, self.device, stream=2)
            sums = {"energy": 0.0, "negative_energy": 0.0, "loss": 0.0}
            for xb in ts.iterate_batches(xt, c.batch_size, self.seed + 1, epoch, bar):
                x_neg = self.sample_negatives(len(xb), gen)
                e_pos = net.energy(xb).mean()
                neg = net.energy(x_neg)
                e_neg = neg.mean()
                # gamma * E(negatives)^2 bounds the otherwise unbounded push on the negatives' energy.
                loss = (e_pos - e_neg) / c.temperature + gamma * (neg**2).mean()
                nae_opt.zero_grad()
                loss.backward()
                nae_opt.step()
                for key, value in zip(sums, (e_pos, e_neg, loss), strict=True):
                    sums[key] += value.item() * len(xb)
            return {**{k: v / len(xt) for k, v in sums.items()}, **val_energy()}

        self.history["nae"] = train_epochs(
            c.epochs,
            n_batches,
            nae_epoch,
            "NAE",
            {"model": net, "optimizer": nae_opt},
            ts.EpochCheckpoint(self._checkpoint("nae.pt"), self._fingerprint(X, ("epochs",))),
        )
        return self

    def plain_autoencoder(self) -> NormalizedAutoencoder:
        """The pretrained AE this NAE started from (same architecture), as a scorer of its own."""
        if self.pretrained_state is None:
            raise RuntimeError("nae: plain_autoencoder needs a fitted NAE")
        plain = NormalizedAutoencoder(
            dataclasses.replace(self.config, epochs=0), self.n_inputs, self.seed, self.device
        )
        plain.lower, plain.upper = self.lower.copy(), self.upper.copy()
        plain.net = plain._build()
        plain.net.load_state_dict(self.pretrained_state)
        plain.pretrained_state = copy.deepcopy(self.pretrained_state)
        plain.history = {"pretrain": list(self.history["pretrain"]), "nae": []}
        return plain

    def score(self, X: np.ndarray) -> np.ndarray:
        self._require(self.net)
        X = np.asarray(X, dtype=np.float32)
        return ts.in_batches(self.net.energy, X, self.device).cpu().numpy().astype(np.float64)

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        self.history = dict(meta.get("history", {"pretrain": [], "nae": []}))
        self._restore_net(directory)
