"""Config of the train stage (``train``): the float scorers that are deployed (OCDN, L1 autoencoder, NuRD CNN)."""

from __future__ import annotations

from dataclasses import dataclass, field

from l1ad.config.section import Section


@dataclass
class OCDNConfig(Section):
    """One-class dense network on the 5 dijet features (OCDN study)."""

    # L1-sized (distributed arithmetic, 0 DSP, <= 50 ns); the OCDN study keeps the paper's 3 x 128
    # (studies.oneclass.ocdn_hidden)
    hidden: tuple[int, ...] = (16, 16)
    epochs: int = 5  # finite on purpose: all labels are 0, the score comes from stopping early
    batch_size: int = 256
    learning_rate: float = 1e-3


@dataclass
class AEConfig(Section):
    """Small L1 autoencoder on the 57 L1-object inputs (AE-on-FPGA family)."""

    # L1-sized: 57-8-57 reconstructs as well as 57-32-16-3-16-32-57 on the default data (Ato4l AUC 0.888
    # vs 0.893) in two distributed-arithmetic layers (<= 40 ns)
    encoder: tuple[int, ...] = ()
    latent: int = 8
    # "residual": the whole AE and the sum of squared residuals; "latent": a variational AE whose deployed
    # graph is the encoder and the sum of squared latent means (the CMS Global Trigger's AXOL1TL score)
    score: str = "residual"
    kl_weight: float = 0.5  # latent: loss = (1 - w) x MSE(reconstruction) + w x KL(latent || N(0, 1))
    epochs: int = 10
    batch_size: int = 1024
    learning_rate: float = 1e-3

    def problems(self, where: str) -> list[str]:
        problems = []
        if self.score not in ("latent", "residual"):
            problems.append(f"score must be 'latent' or 'residual', got {self.score!r}")
        if not 0.0 <= self.kl_weight <= 1.0:
            problems.append(f"kl_weight must lie in [0, 1], got {self.kl_weight}")
        return [f"{where}: {p}" for p in problems]


@dataclass
class NuRDConfig(Section):
    """The compact NuRD scorer for L1 (``train.nurd``); the full-precision study overrides the sizes.

    The input is the data's jet image (``data.jet_images.image_size`` per side, default 20): rebinning
    to that size at data preparation is the downsampling, so the graph starts at the first convolution.
    """

    # CICADA-like (CMS's L1 CNN): one Conv2D of 4 non-overlapping 2x2 filters (stride 2), so hls4ml
    # unrolls it io_parallel and the firmware takes an image every clock (firmware.hls.io_type_for); then
    # 2x2 max pooling: 100 flattened inputs instead of 400 keep the Dense solvable by distributed
    # arithmetic (a 400x16 layer took da4ml 21 min), and on the default data (jet images before issue 20's
    # generator fixes; docs/studies.md has today's figures) scored top AUC 0.761 and
    # QCD |Pearson(score, m)| 0.578 against 0.758 and 0.64 without pooling (lambda 0.01, seed 1).
    filters: tuple[int, ...] = (4,)  # one block per entry: Conv2D(valid) + ReLU (+ MaxPool 2x2 with pool)
    kernel_size: int = 2
    strides: int = 2  # of every Conv2D (kernel_size = strides: non-overlapping windows)
    pool: bool = True  # 2x2 max pooling after each block (while the map keeps at least 2 pixels per side)
    dense: tuple[int, ...] = (16,)  # hidden Dense + ReLU widths between the CNN and the representation
    representation_dim: int = 8  # r, the layer before the logit (the study uses 20)
    critic_hidden: tuple[int, ...] = (256, 128, 68)  # critic MLP on (r, Y, Z)
    # Weight of the critic penalty (0 = Step I weights only). On the default data (before issue 20's generator
    # fixes) this compact CNN (without
    # its pooling) gave top AUC 0.77 / 0.76 / 0.46 and QCD score-mass Pearson 0.70 / 0.64 / 0.08 at lambda 0 /
    # 0.01 / 0.1 (mean of 3 seeds; the former 3x3 two-block CNN: 0.72 / 0.67 / 0.50 and 0.66 / 0.59 /
    # 0.19): 0.01 keeps a working detector; the study compares lambda up to 1.
    critic_lambda: float = 0.01
    critic_steps: int = 5  # critic updates per batch (the critic is refit every batch)
    critic_learning_rate: float = 1e-3
    critic_warmup_steps: int = 300  # lambda ramps from 0 over these batches (~2 epochs of the default data)
    epochs: int = 8
    batch_size: int = 256
    learning_rate: float = 1e-3
    weighting: str = "binned"  # Step I, p(Y|Z) estimate: "binned" (quantile bins of Z) or "none"
    weight_bins: int = 20
    weight_clip: float = 20.0  # largest importance weight, in units of the mean (then renormalised)
    combine: str = "min"  # distances to the backgrounds -> score: "min" or "sum"
    shrinkage: str = "auto"  # covariance: "auto" (Ledoit-Wolf when ill-conditioned), "ledoit_wolf", "none"
    max_condition: float = 1.0e3  # "auto" shrinks covariances whose condition number exceeds this

    def problems(self, where: str) -> list[str]:
        problems = []
        if self.weighting not in ("binned", "none"):
            problems.append(f"weighting must be 'binned' or 'none', got {self.weighting!r}")
        if self.combine not in ("min", "sum"):
            problems.append(f"combine must be one of {['min', 'sum']}, got {self.combine!r}")
        if self.shrinkage not in ("auto", "ledoit_wolf", "none"):
            problems.append(f"shrinkage must be 'auto', 'ledoit_wolf' or 'none', got {self.shrinkage!r}")
        if self.critic_lambda < 0:
            problems.append(f"critic_lambda must be >= 0, got {self.critic_lambda}")
        if min(self.representation_dim, self.epochs + 1, self.batch_size, self.kernel_size, self.strides) < 1:
            problems.append(
                "representation_dim, batch_size, kernel_size and strides must be >= 1, epochs >= 0"
            )
        if self.weight_bins < 1 or self.weight_clip <= 1:
            problems.append("weight_bins must be >= 1 and weight_clip > 1")
        return [f"{where}: {p}" for p in problems]


@dataclass
class TrainConfig(Section):
    """Where the float scorers train and their sizes and schedules."""

    device: str = "auto"  # "auto" (GPU when present), "cpu" or "gpu"
    threads: int = 0  # torch CPU threads; 0 = torch's default (one per core)
    ocdn: OCDNConfig = field(default_factory=OCDNConfig)
    ae: AEConfig = field(default_factory=AEConfig)
    nurd: NuRDConfig = field(default_factory=NuRDConfig)

    def problems(self, where: str) -> list[str]:
        found = []
        if self.device not in ("auto", "cpu", "gpu"):
            found.append(f"{where}.device must be auto, cpu or gpu, got {self.device!r}")
        if self.threads < 0:
            found.append(f"{where}.threads must be >= 0 (0 = torch's default)")
        return found
