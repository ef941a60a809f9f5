"""Config of the full-precision studies (``studies``, run by ``l1ad study NAME``) and the data family each reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from l1ad.config.section import Section

# The full-precision studies (`l1ad study NAME`) and the data family each reads (None: its own toy data).
STUDY_FAMILIES = {
    "oneclass": "dijet",
    "gaussian": None,
    "anomalyclr": "l1",
    "nae": "l1",
    "mpdr": "l1",
    "nurd": "jet_images",
}


@dataclass
class OneClassStudyConfig(Section):
    """The one-class comparison on dijet features (OCDN study): every method, N initialisations."""

    n_seeds: int = 3  # random initialisations per method (the paper config uses 10)
    max_train_events: int = 50_000  # background training events for the neural methods
    ocsvm_n_train: int = 10_000  # kernel SVMs scale badly: fit on this subsample
    ocsvm_gamma: str = "scale"  # RBF width, scikit-learn convention
    ocsvm_nu_inner: float = 0.9  # inner anomaly detector (nu close to 1)
    ocsvm_nu_outer: float = 0.1  # outer anomaly detector (nu close to 0)
    svdd_rep_dim: int = 128
    svdd_hidden: tuple[int, ...] = (128,)
    svdd_nu: float = 0.1  # soft-boundary objective
    svdd_weight_decay: float = 1e-6
    svdd_epochs: int = 10
    bae_hidden: int = 512
    bae_latent: int = 2
    bae_epochs: int = 10
    epochs_ocdn: int = 5
    ocdn_hidden: tuple[int, ...] = (128, 128, 128)  # the paper's OCDN (the deployed one: train.ocdn)
    batch_size: int = 256
    learning_rate: float = 1e-3

    def problems(self, where: str) -> list[str]:
        if 0.0 < self.ocsvm_nu_inner <= 1.0 and 0.0 < self.ocsvm_nu_outer <= 1.0:
            return []
        return [f"{where}.ocsvm_nu_inner and ocsvm_nu_outer must lie in (0, 1]"]


@dataclass
class GaussianStudyConfig(Section):
    """1-D Gaussian toy: background N(-2,1), signals N(0,1) and N(-4,1)."""

    n_events: int = 20_000  # per class
    epochs: tuple[int, ...] = (1, 5, 20, 50)  # snapshots of score function and ROC
    learning_rate: float = 1e-2
    batch_size: int = 256
    mlp_hidden: tuple[int, ...] = (16, 16)  # the small multi-layer network beside logistic regression

    def problems(self, where: str) -> list[str]:
        if self.epochs and min(self.epochs) >= 1:
            return []
        return [f"{where}.epochs must be a non-empty list of positive epoch counts"]


@dataclass
class AnomalyCLRConfig(Section):
    """Contrastive transformer on L1 objects, then an AE on its representations (full precision)."""

    embed_dim: int = 32
    n_heads: int = 4
    n_layers: int = 2
    head_dims: tuple[int, ...] = (32, 16)
    temperature: float = 0.1
    losses: tuple[str, ...] = ("clr", "anomclr", "anomclr_plus")
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 1e-3
    max_train_events: int = 30_000
    ae_hidden: tuple[int, ...] = (256, 128, 64, 32, 16)
    ae_latent: int = 5
    ae_epochs: int = 5
    n_ae_seeds: int = 2  # AEs per representation (mean +- std)
    representation_dims: tuple[int, ...] = ()  # scan of embed_dim; empty = no scan
    augmentation_subsets: tuple[str, ...] = ()  # ablation, e.g. ("add", "split+scale"); empty = none


@dataclass
class NAEConfig(Section):
    """Normalized autoencoder: energy = reconstruction error, trained by Langevin MCMC."""

    hidden: tuple[int, ...] = (64, 32)
    latent: int = 8
    pretrain_epochs: int = 20  # plain-AE pretraining (an undertrained AE makes the comparison moot)
    pretrain_learning_rate: float = 1e-3
    epochs: int = 4  # maximum-likelihood epochs with Langevin negatives
    batch_size: int = 256
    learning_rate: float = 1e-5  # the maximum-likelihood phase needs a much smaller rate than pretraining
    negative_energy_reg: float = 1e-2  # gamma * mean(E(negatives)^2): keeps that phase from running away
    latent_steps: int = 20
    latent_step_size: float = 0.1
    latent_noise: float = 0.1
    visible_steps: int = 20
    visible_step_size: float = 0.01
    visible_noise: float = 0.005
    temperature: float = 1.0
    max_train_events: int = 50_000


@dataclass
class MPDRConfig(Section):
    """Manifold projection-diffusion recovery: energy trained by recovery likelihood (L1 objects)."""

    ae_hidden: tuple[int, ...] = (64, 32)  # the projection autoencoder (f_e, f_d), pretrained on background
    ae_latent: int = 8
    ae_epochs: int = 10
    ae_learning_rate: float = 1e-3
    energy_hidden: tuple[int, ...] = (64, 64)  # MPDR-S: scalar energy network E(x)
    energies: tuple[str, ...] = ("scalar", "reconstruction")  # MPDR-S and MPDR-R
    sigma: float = 0.1  # latent diffusion noise z~ = f_e(x) + sigma * eps
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 1e-4
    latent_steps: int = 10
    latent_step_size: float = 0.05
    latent_noise: float = 0.05
    visible_steps: int = 10
    visible_step_size: float = 0.01
    visible_noise: float = 0.005
    temperature: float = 1.0
    max_train_events: int = 30_000
    # (gamma_data, gamma_negatives) of gamma_data * mean E(data)^2 + gamma_negatives * mean E(neg)^2,
    # which bounds the otherwise unbounded push on the negatives' energy. A scalar network's scale is
    # free: gamma = 1 on both sets it (the MPDR reference's choice). A reconstruction error has its own
    # scale and a long tail on data (a data term would turn the loss into reconstruction training of
    # the worst events): it keeps only the negatives' term, with the NAE's gamma.
    scalar_energy_reg: tuple[float, ...] = (1.0, 1.0)
    reconstruction_energy_reg: tuple[float, ...] = (0.0, 0.01)


@dataclass
class NuRDStudyConfig(Section):
    """The full-precision NuRD study (``studies.nurd``); weighting, shrinkage and combine follow ``train.nurd``."""

    lambdas: tuple[float, ...] = (0.0, 0.001, 0.01, 0.1, 1.0)  # critic weights (0 = Step I weights only)
    filters: tuple[int, ...] = (16, 32)
    kernel_size: int = 3  # the study's CNN keeps overlapping 3x3 windows, stride 1 and 2x2 max pooling
    strides: int = 1
    pool: bool = True
    dense: tuple[int, ...] = (64,)
    representation_dim: int = 20
    critic_hidden: tuple[int, ...] = (256, 128, 68)
    critic_steps: int = 5
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    n_seeds: int = 1  # trainings per method (run.seed, run.seed + 1, ...)
    max_train_events: int = 100_000  # background training events used (all of the default data)
    ae_filters: tuple[int, ...] = (16, 8)
    ae_latent: int = 16
    ae_epochs: int = 10
    sculpting_efficiencies: tuple[float, ...] = (0.5, 0.1)  # QCD efficiencies of the sculpting cuts
    correlation_events: int = 10_000  # QCD events for the O(n^2) distance correlation


@dataclass
class StudiesConfig(Section):
    """Studies run by ``l1ad study NAME`` into RUN_DIR/studies/NAME (full precision)."""

    oneclass: OneClassStudyConfig = field(default_factory=OneClassStudyConfig)
    gaussian: GaussianStudyConfig = field(default_factory=GaussianStudyConfig)
    anomalyclr: AnomalyCLRConfig = field(default_factory=AnomalyCLRConfig)
    nae: NAEConfig = field(default_factory=NAEConfig)
    mpdr: MPDRConfig = field(default_factory=MPDRConfig)
    nurd: NuRDStudyConfig = field(default_factory=NuRDStudyConfig)
