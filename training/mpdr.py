"""Manifold projection-diffusion recovery (MPDR; Yoon, Jin, Noh, Park, NeurIPS 2023) on the 57 L1 inputs: an
energy E(x) trained by the recovery likelihood log p(x | z~), z~ a diffused projection of x on a pretrained
autoencoder's latent sphere, with negatives that are physical L1 events. Full precision, GPU when present.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from l1ad.config import MPDRConfig, NAEConfig
from training import torch_scorer as ts
from training.data.l1objects import N_INPUTS, N_SLOTS, SLOT_RANGES
from training.epochs import train_epochs
from training.nae import DenseAE, NormalizedAutoencoder, langevin
from training.scorer import config_from_dict

ENERGY_LABELS = {"scalar": "MPDR-S", "reconstruction": "MPDR-R"}
_TINY = 1e-12  # guards the per-event gradient norm of the latent chain against a zero gradient


def projection_config(cfg: MPDRConfig) -> NAEConfig:
    """Settings of the projection AE (f_e, f_d): the NAE's plain-AE pretraining (spherical latent), no NAE epochs."""
    return NAEConfig(
        hidden=tuple(cfg.ae_hidden),
        latent=cfg.ae_latent,
        pretrain_epochs=cfg.ae_epochs,
        pretrain_learning_rate=cfg.ae_learning_rate,
        epochs=0,
        batch_size=cfg.batch_size,
        max_train_events=cfg.max_train_events,
    )


# ---------------------------------------------------------------------------------------------
# Where physical L1 inputs live
# ---------------------------------------------------------------------------------------------


class ObjectSupport:
    """The set of valid L1 input vectors, and the read-out of a decoded vector's object content.

    A real event has, per slot, either no object (pT, eta and phi exactly 0: the preprocessing re-zeroes
    empty slots) or one object; within a class the filled slots come first. Negatives must be such events:
    an energy taught to raise half-filled slots (0.03 in an empty slot's eta) learns about inputs no
    detector delivers, while test events are physical. So a negative's occupancy is fixed when it is
    decoded, its empty slots stay exactly zero through the input-space chain, a filled slot's pT and eta
    stay inside the range the background objects of that slot span, and phi is wrapped into [-pi, pi).

    The occupancy is read from the decoder output, not copied from the event that was diffused: a negative
    must depend on that event only through z~, or the recovery likelihood would be conditional on the
    object multiplicity and never teach the energy which multiplicities are rare. A slot counts as filled
    when the norm of its decoded (pT, eta, phi) reaches a per-slot threshold and every earlier slot of its
    class is filled. The thresholds are set on decodes of the diffused background projections so that
    these reproduce the background's occupancy of every slot: were the energy the true one, negatives would
    be background-like, so they start from the background's multiplicities and the chains move them.
    """

    def __init__(
        self, lower: np.ndarray, upper: np.ndarray, thresholds: np.ndarray, device: str = "cpu"
    ) -> None:
        self.lower = torch.as_tensor(np.asarray(lower, dtype=np.float32), device=device)
        self.upper = torch.as_tensor(np.asarray(upper, dtype=np.float32), device=device)
        self.thresholds = torch.as_tensor(np.asarray(thresholds, dtype=np.float32), device=device)
        if self.lower.shape != (N_INPUTS,) or self.upper.shape != (N_INPUTS,):
            raise ValueError(f"support bounds must have {N_INPUTS} entries")
        if self.thresholds.shape != (N_SLOTS,):
            raise ValueError(f"support thresholds must have {N_SLOTS} entries")

    @classmethod
    def fit(cls, X: np.ndarray, decoded: np.ndarray, device: str = "cpu") -> ObjectSupport:
        """Bounds from the filled slots of background inputs ``X`` (N, 57); thresholds from ``decoded`` (M, 57).

        Slot by slot within a class, the threshold lets through, among the decodes whose earlier slots are
        filled, the background's fraction of events with that slot filled (all of them when the background
        fills it more often: threshold 0; none for a slot it never fills: threshold infinite).
        """
        slots = np.asarray(X, dtype=np.float32).reshape(-1, N_SLOTS, 3)
        filled = slots[..., 0] != 0
        norms = np.linalg.norm(np.asarray(decoded, dtype=np.float32).reshape(-1, N_SLOTS, 3), axis=-1)
        lower = np.zeros((N_SLOTS, 3), dtype=np.float32)
        upper = np.zeros((N_SLOTS, 3), dtype=np.float32)
        thresholds = np.full(N_SLOTS, np.inf)
        for start, stop in SLOT_RANGES.values():
            passed = np.ones(len(norms), dtype=bool)  # decodes whose earlier slots of this class are filled
            for k in range(start, stop):
                present = slots[filled[:, k], k]
                n_target = round(len(present) / len(slots) * len(norms))
                if not len(present) or not n_target:
                    break  # this slot and the later ones of the class stay empty
                lower[k], upper[k] = present.min(axis=0), present.max(axis=0)
                candidates = np.sort(norms[passed, k])
                thresholds[k] = 0.0 if n_target >= len(candidates) else candidates[-n_target]
                passed &= norms[:, k] >= thresholds[k]
        lower[:, 2], upper[:, 2] = -math.pi, math.pi  # phi is wrapped, never clamped
        return cls(lower.ravel(), upper.ravel(), thresholds, device)

    def occupancy(self, decoded: torch.Tensor) -> torch.Tensor:
        """(B, 57) decoder outputs -> (B, 19) bool: which slots a negative decoded from them fills."""
        raw = decoded.reshape(-1, N_SLOTS, 3).norm(dim=-1) >= self.thresholds
        blocks = [
            torch.cumprod(raw[:, start:stop].to(torch.int32), dim=1).bool()
            for start, stop in sorted(SLOT_RANGES.values())
        ]
        return torch.cat(blocks, dim=1)

    def project(self, x: torch.Tensor, filled: torch.Tensor) -> torch.Tensor:
        """Nearest valid input with occupancy ``filled``: empty slots exactly 0, pT and eta clamped, phi wrapped."""
        kin = torch.clamp(x, self.lower, self.upper).reshape(-1, N_SLOTS, 3)
        phi = torch.remainder(x.reshape(-1, N_SLOTS, 3)[..., 2] + math.pi, 2 * math.pi) - math.pi
        slots = torch.stack([kin[..., 0], kin[..., 1], phi], dim=-1)
        return (slots * filled[..., None].to(x.dtype)).reshape(-1, N_INPUTS)

    def to_dict(self) -> dict:
        """JSON-able bounds and thresholds (an infinite threshold, a never-filled slot, is written as null)."""
        return {
            "lower": self.lower.cpu().numpy(),
            "upper": self.upper.cpu().numpy(),
            "thresholds": self.thresholds.cpu().numpy(),
        }

    @classmethod
    def from_dict(cls, data: dict, device: str = "cpu") -> ObjectSupport:
        """Rebuild from ``to_dict`` output (null thresholds back to infinity)."""
        thresholds = np.array([np.inf if t is None else t for t in data["thresholds"]], dtype=np.float64)
        return cls(np.asarray(data["lower"]), np.asarray(data["upper"]), thresholds, device)


# ---------------------------------------------------------------------------------------------
# Energies and the two-stage sampler
# ---------------------------------------------------------------------------------------------


class ScalarEnergy(nn.Module):
    """MPDR-S: an MLP from the 57 inputs to one number, the energy."""

    def __init__(self, n_inputs: int, hidden: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        widths = [n_inputs, *hidden]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.LeakyReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy per event, shape (B,)."""
        return self.net(x).squeeze(1)


def normalized_langevin(
    z0: torch.Tensor,
    energy: Callable[[torch.Tensor], torch.Tensor],
    n_steps: int,
    step_size: float,
    noise: float,
    gen: torch.Generator,
    project: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Chain z <- project(z - step_size * g / |g| + noise * N(0, 1)), g = grad E(z) per event; returns detached z.

    The step has a fixed length whatever the energy's scale: the recovery term |f_e(f_d(z)) - z~|^2 / (2 sigma^2)
    has curvature 1 / sigma^2, which would make a plain gradient step of the latent step size unstable.
    """
    z = z0.detach()
    for _ in range(n_steps):
        z.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(z).sum(), z)
        direction = grad / (grad.norm(dim=1, keepdim=True) + _TINY)
        eps = torch.randn(z.shape, generator=gen, device=z.device, dtype=z.dtype)
        z = project(z.detach() - step_size * direction + noise * eps)
    return z.detach()


def _sphere(z: torch.Tensor) -> torch.Tensor:
    return nn.functional.normalize(z, dim=1)


class Negatives(NamedTuple):
    """One batch of negatives and the stages that led to them."""

    z_tilde: torch.Tensor  # (B, latent): diffused projections of the data, on the unit sphere
    x_init: torch.Tensor  # (B, 57): decoded end of the latent chain, made a valid input
    x: torch.Tensor  # (B, 57): end of the input-space chain, the negatives
    filled: torch.Tensor  # (B, 19) bool: their occupancy, fixed at decoding


class MPDR(ts.TorchScorer):
    """MPDR scorer on the 57 L1 inputs; score = E(x), with E a scalar network (``energy="scalar"``, MPDR-S) or
    the reconstruction error of its own AE (``"reconstruction"``, MPDR-R; starts from the projection AE's
    weights, then trains apart from it).

    Projection-diffusion: z = f_e(x) on the unit sphere of a pretrained AE (the NAE's pretraining with
    ``ae_hidden``/``ae_latent``; pass ``projection`` to share one between energies), z~ = normalise(z + sigma
    eps). The recovery likelihood p(x | z~) ~ exp(-E(x) / T - |f_e(x) - z~|^2 / (2 sigma^2)) has the gradient
    E(data) - E(negatives) with negatives from p(x | z~): a latent chain from z~ (normalised gradient steps on
    the sphere, energy E(f_d(z)) / T plus the recovery term), decode, then a Langevin chain in input space
    inside ``ObjectSupport``. Loss: (mean E(data) - mean E(negatives)) / T + gamma_data mean E(data)^2 +
    gamma_negatives mean E(negatives)^2 (``MPDRConfig.<energy>_energy_reg``); the projection AE stays frozen.
    """

    kind = "mpdr"

    def __init__(
        self,
        config: MPDRConfig,
        energy: str,
        seed: int = 1,
        device: str = "auto",
        checkpoint_dir: str | Path | None = None,
        projection: NormalizedAutoencoder | None = None,
        energy_reg: tuple[float, float] | None = None,
    ) -> None:
        if energy not in ENERGY_LABELS:
            raise ValueError(f"unknown MPDR energy {energy!r} (known: {', '.join(ENERGY_LABELS)})")
        super().__init__(seed, device, checkpoint_dir)
        self.config = config
        self.energy_kind = energy
        self.projection = projection
        reg = getattr(config, f"{energy}_energy_reg") if energy_reg is None else energy_reg
        self.energy_reg = (float(reg[0]), float(reg[1]))
        self.support: ObjectSupport | None = None
        self.net: ScalarEnergy | DenseAE | None = None
        self.history: list[dict] = []

    @property
    def label(self) -> str:
        """MPDR-S or MPDR-R."""
        return ENERGY_LABELS[self.energy_kind]

    def _projection_net(self) -> DenseAE:
        if self.projection is None or self.projection.net is None:
            raise RuntimeError("mpdr: the projection autoencoder is not trained")
        return self.projection.net

    def architecture(self) -> ScalarEnergy | DenseAE:
        c = self.config
        if self.energy_kind == "scalar":
            return ScalarEnergy(N_INPUTS, c.energy_hidden)
        return DenseAE(N_INPUTS, c.ae_hidden, c.ae_latent, "leaky_relu", spherical=True)

    def _build(self) -> ScalarEnergy | DenseAE:
        """The energy network under this scorer's seed; MPDR-R's starts from the projection AE's weights."""
        net = super()._build()
        if self.energy_kind == "reconstruction":
            net.load_state_dict(self._projection_net().state_dict())
        return net

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) per event, shape (B,)."""
        if self.net is None:
            raise RuntimeError("mpdr: energy before fit or load")
        return self.net.energy(x)

    def diffuse(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Projection-diffusion z~ = normalise(f_e(x) + sigma * eps), shape (B, latent)."""
        with torch.no_grad():
            z = self._projection_net().encode(x)
            eps = torch.randn(z.shape, generator=gen, device=z.device, dtype=z.dtype)
            return _sphere(z + self.config.sigma * eps)

    def sample_negatives(self, x: torch.Tensor, gen: torch.Generator) -> Negatives:
        """Negatives for the data batch ``x`` (B, 57) drawn from p(x | z~) by the two-stage chain."""
        if self.support is None:
            raise RuntimeError("mpdr: sample_negatives before fit or load")
        c, ae, support = self.config, self._projection_net(), self.support
        z_tilde = self.diffuse(x, gen)

        def recovery(x_: torch.Tensor) -> torch.Tensor:
            return ((ae.encode(x_) - z_tilde) ** 2).sum(dim=1) / (2 * c.sigma**2)

        z = normalized_langevin(
            z_tilde,
            lambda z_: self.energy(ae.decoder(z_)) / c.temperature + recovery(ae.decoder(z_)),
            c.latent_steps,
            c.latent_step_size,
            c.latent_noise,
            gen,
            _sphere,
        )
        with torch.no_grad():
            decoded = ae.decoder(z)
            filled = support.occupancy(decoded)
            x_init = support.project(decoded, filled)
        # ``langevin`` divides the whole energy by T: the recovery term enters multiplied by T.
        x_neg = langevin(
            x_init,
            lambda x_: self.energy(x_) + c.temperature * recovery(x_),
            c.visible_steps,
            c.visible_step_size,
            c.visible_noise,
            c.temperature,
            gen,
            project=lambda x_: support.project(x_, filled),
        )
        return Negatives(z_tilde, x_init, x_neg, filled)

    def _fingerprint(self, X: np.ndarray) -> str:
        settings = {
            k: v for k, v in dataclasses.asdict(self.config).items() if k not in ("epochs", "energies")
        }
        projection = [v.cpu().numpy() for v in self._projection_net().state_dict().values()]
        return ts.data_fingerprint(
            self.kind, self.energy_kind, self.energy_reg, settings, self.seed, X, *projection
        )

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> MPDR:
        X = ts.as_inputs(X, N_INPUTS)
        c = self.config
        if self.projection is None:
            proj_dir = self._checkpoint("projection")
            self.projection = NormalizedAutoencoder(
                projection_config(c), N_INPUTS, self.seed, self.device, proj_dir
            ).fit(X, X_val)
        ae = self._projection_net()
        for p in ae.parameters():
            p.requires_grad_(False)  # frozen: only input gradients flow through it in the chains
        calibration = ts.epoch_generator(self.seed, 0, self.device, stream=4)
        decoded = (
            ts.in_batches(lambda x: ae.decoder(self.diffuse(x, calibration)), X, self.device).cpu().numpy()
        )
        self.support = ObjectSupport.fit(X, decoded, self.device)
        self.net = self._build()
        net = self.net
        opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate)
        xt = torch.as_tensor(X, device=self.device)
        xv = None if X_val is None else np.asarray(X_val, dtype=np.float32)
        gamma_data, gamma_neg = self.energy_reg

        def run_epoch(epoch: int, bar: tqdm) -> dict[str, float]:
            gen = ts.epoch_generator(self.seed, epoch, self.device, stream=3)
            sums = dict.fromkeys(
                ("energy", "negative_energy", "loss", "n_objects", "negative_n_objects"), 0.0
            )
            for xb in ts.iterate_batches(xt, c.batch_size, self.seed + 2, epoch, bar):
                neg = self.sample_negatives(xb, gen)
                e_pos, e_neg = net.energy(xb), net.energy(neg.x)
                loss = (
                    (e_pos.mean() - e_neg.mean()) / c.temperature
                    + gamma_data * (e_pos**2).mean()
                    + gamma_neg * (e_neg**2).mean()
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
                n_obj = (xb.reshape(-1, N_SLOTS, 3)[..., 0] != 0).sum(dim=1).float().mean()
                values = (e_pos.mean(), e_neg.mean(), loss, n_obj, neg.filled.sum(dim=1).float().mean())
                for key, value in zip(sums, values, strict=True):
                    sums[key] += value.item() * len(xb)
            figures = {k: v / len(xt) for k, v in sums.items()}
            if xv is not None:
                figures["val_energy"] = float(ts.in_batches(net.energy, xv, self.device).cpu().numpy().mean())
            return figures

        self.history = train_epochs(
            c.epochs,
            -(-len(X) // c.batch_size),
            run_epoch,
            self.label,
            {"model": net, "optimizer": opt},
            ts.EpochCheckpoint(self._checkpoint(f"mpdr_{self.energy_kind}.pt"), self._fingerprint(X)),
        )
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        self._require(self.net)
        X = np.asarray(X, dtype=np.float32)
        return ts.in_batches(self.net.energy, X, self.device).cpu().numpy().astype(np.float64)

    def save(self, directory: str | Path) -> None:
        self._require(self.net, self.support, self.projection, saving=True)
        settings = {
            "energy": self.energy_kind,
            "energy_reg": self.energy_reg,
            "seed": self.seed,
            "config": dataclasses.asdict(self.config),
            "support": self.support.to_dict(),
        }
        directory = self._write(directory, {"energy.pt": ts.cpu_state(self.net)}, settings)
        self.projection.save(directory / "projection")

    @classmethod
    def _from_meta(cls, directory: Path, meta: dict[str, Any], device: str) -> MPDR:
        projection = NormalizedAutoencoder.load(directory / "projection", device)
        scorer = cls(
            config_from_dict(MPDRConfig, meta["config"]),
            meta["energy"],
            int(meta["seed"]),
            device,
            projection=projection,
            energy_reg=tuple(meta["energy_reg"]),
        )
        scorer.support = ObjectSupport.from_dict(meta["support"], scorer.device)
        return scorer

    def _restore(self, directory: Path, meta: dict[str, Any]) -> None:
        for p in self.projection.net.parameters():
            p.requires_grad_(False)
        self.history = list(meta.get("history", []))
        self.net = self._build()
        ts.load_weights(directory / "energy.pt", self.net, self.device)
