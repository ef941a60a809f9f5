"""The run configuration: typed dataclasses loaded from one YAML file.

Every field has a documented default (``configs/default.yaml`` repeats them with
comments). Unknown keys are an error that names the key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from l1ad.errors import InputError
from l1ad.parts import device_of, known_devices, part_capacity

# hls4ml strategies l1ad converts with (firmware.strategy, scan.strategies)
STRATEGIES = ("distributed_arithmetic", "Latency", "Resource")


DEPLOYED_MODELS = ("ocdn", "ae", "nurd")
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
class RunConfig:
    name: str = "default"  # label written into the manifest and the report
    seed: int = 1  # master seed: data generation and the first training seed
    n_seeds: int = 1  # independent trainings per float model (seed, seed+1, ...)
    # run by `l1ad run`; mpdr after nae and anomalyclr (its report quotes theirs)
    studies: tuple[str, ...] = ("gaussian", "oneclass", "anomalyclr", "nae", "mpdr", "nurd")
    # deployed scorers to build (ocdn: dijet features, ae: L1 objects, nurd: jet images): only their data
    # families are prepared, and `l1ad run` runs only the studies on those families (`--models` overrides)
    models: tuple[str, ...] = DEPLOYED_MODELS

    def problems(self) -> list[str]:
        models = self.models
        if not models or len(set(models)) != len(models) or not set(models) <= set(DEPLOYED_MODELS):
            return [
                f"run.models must name one or more of {', '.join(DEPLOYED_MODELS)}, each once; got {list(models)}"
            ]
        return []


@dataclass
class DijetData:
    """LHC Olympics R&D dijet features (REFERENCE.md section 1)."""

    source: str = "synthetic"  # "synthetic" or a path: features .h5 or prepared .npy/.h5 arrays
    n_background: int = 400_000  # generated QCD dijet events (all mjj); about 15% land in the SR
    n_signal: int = 20_000  # generated W' -> X Y events
    signal_region: tuple[float, float] = (3.3, 3.7)  # mjj window in TeV
    sidebands: tuple[tuple[float, float], ...] = ((2.4, 3.3), (3.7, 4.6))
    test_background_fraction: float = 0.2  # share of SR background held out for testing
    n_test_signal: int = 10_000  # SR signal events in the test set (all of them if fewer)


@dataclass
class L1Data:
    """CMS ADC2021 L1 objects (REFERENCE.md section 2)."""

    source: str = "synthetic"  # "synthetic" or a directory holding the ADC2021 .h5 files
    n_background: int = 300_000
    n_signal: int = 20_000  # per signal sample
    test_background_fraction: float = 0.4
    validation_fraction: float = 0.1  # of the background training share


@dataclass
class JetImageData:
    """Jet images in the hls4ml LHC jet-dataset layout (REFERENCE.md section 3)."""

    source: str = "synthetic"  # "synthetic" or a path to a jetImage_*.h5 file
    image_size: int = 20  # pixels per side for the model (real 100x100 images are rebinned)
    n_qcd: int = 30_000
    n_wz: int = 30_000
    n_top: int = 10_000
    test_fraction: float = 0.3


@dataclass
class DataConfig:
    dijet: DijetData = field(default_factory=DijetData)
    l1: L1Data = field(default_factory=L1Data)
    jet_images: JetImageData = field(default_factory=JetImageData)
    chunk_events: int = 100_000  # events per read chunk: bounds loader memory
    # generated background events per family of a deployed model (synthetic sources) on which the firmware's
    # trigger threshold is set: 1e6 leave ~25 events above a 1 kHz threshold (rate known to +-20%); 0: none,
    # the threshold is set on the test set's background (training/data/rate.py)
    rate_sample: int = 1_000_000


@dataclass
class OCDNConfig:
    """One-class dense network on the 5 dijet features (OCDN study)."""

    # L1-sized (distributed arithmetic, 0 DSP, <= 50 ns); the OCDN study keeps the paper's 3 x 128
    # (studies.oneclass.ocdn_hidden)
    hidden: tuple[int, ...] = (16, 16)
    epochs: int = 5  # finite on purpose: all labels are 0, the score comes from stopping early
    batch_size: int = 256
    learning_rate: float = 1e-3


@dataclass
class AEConfig:
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

    def problems(self) -> list[str]:
        problems = []
        if self.score not in ("latent", "residual"):
            problems.append(f"score must be 'latent' or 'residual', got {self.score!r}")
        if not 0.0 <= self.kl_weight <= 1.0:
            problems.append(f"kl_weight must lie in [0, 1], got {self.kl_weight}")
        return [f"train.ae: {p}" for p in problems]


@dataclass
class NuRDConfig:
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

    def problems(self) -> list[str]:
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
        return [f"train.nurd: {p}" for p in problems]


@dataclass
class TrainConfig:
    device: str = "auto"  # "auto" (GPU when present), "cpu" or "gpu"
    threads: int = 0  # torch CPU threads; 0 = torch's default (one per core)
    ocdn: OCDNConfig = field(default_factory=OCDNConfig)
    ae: AEConfig = field(default_factory=AEConfig)
    nurd: NuRDConfig = field(default_factory=NuRDConfig)


@dataclass
class QuantBits:
    """Fixed-point formats of one QKeras graph: quantized_bits(bits, integer) per role."""

    input_bits: int = 16  # input format the trigger must deliver: quantized_bits(input_bits, input_integer)
    input_integer: int = 6
    weight_bits: int = 8
    weight_integer: int = 0
    bias_bits: int = 8
    bias_integer: int = 3
    activation_bits: int = 8  # quantized_relu(activation_bits, activation_integer)
    activation_integer: int = 4
    output_bits: int = 16  # linear outputs (AE reconstruction): quantized_bits(output_bits, output_integer)
    output_integer: int = 6

    def problems(self, where: str) -> list[str]:
        """hls4ml maps quantized_bits(b, i) to ap_fixed<b, i+1>: 2 <= b <= 32 and 0 <= i <= b-1 (sign bit);
        quantized_relu(b, i) to ap_ufixed<b, i>: 1 <= b <= 32 and 0 <= i <= b."""
        found = []
        for role in ("input", "weight", "bias", "output"):
            bits, integer = getattr(self, f"{role}_bits"), getattr(self, f"{role}_integer")
            if not (2 <= bits <= 32 and 0 <= integer <= bits - 1):
                found.append(
                    f"{where}.{role}_bits/{role}_integer = {bits}/{integer}: need 2 <= bits <= 32, 0 <= integer < bits"
                )
        if not (1 <= self.activation_bits <= 32 and 0 <= self.activation_integer <= self.activation_bits):
            found.append(
                f"{where}.activation_bits/activation_integer = {self.activation_bits}/{self.activation_integer}: "
                "need 1 <= bits <= 32, 0 <= integer <= bits"
            )
        return found


@dataclass
class QATModelConfig:
    bits: QuantBits = field(default_factory=QuantBits)
    epochs: int = 5
    learning_rate: float = 3e-4


@dataclass
class BitScanConfig:
    bits: tuple[int, ...] = (2, 4, 6, 8, 10, 12, 14, 16)  # weight = activation bits at each point
    epochs: int = 2  # QAT epochs per scan point
    enabled: bool = True


def _nurd_qat() -> QATModelConfig:
    """QAT formats of the compact NuRD CNN (its pixels are pT fractions in [0, 1]).

    No integer bits on the input, biases or ReLUs: activations of such inputs stay below about 1.2
    (measured on the default data), so the general ``quantized_relu(8, 4)`` (LSB 1/16) would zero
    most of the first layer and ``quantized_bits(8, 3)`` biases would round to 0 or +-1/16. The input
    is 12 bits, not 16, so the first convolution's sum stays within float32's 24-bit mantissa, which
    QKeras' ReLU casts to (QKeras and firmware then round alike). The representation and the head's
    whitened projections take ``quantized_bits(16, 4)``: |p| reached 15 on the default test set.
    """
    return QATModelConfig(
        bits=QuantBits(
            input_bits=12,
            input_integer=0,
            bias_bits=12,
            bias_integer=0,
            activation_integer=0,
            output_integer=4,
        )
    )


def _ocdn_qat() -> QATModelConfig:
    """QAT formats of the deployed OCDN: trigger-sized, 10-bit standardised inputs (LSB 1/64 of a
    standard deviation, range +-8) and 6-bit weights (distributed arithmetic cost grows with both).
    QAT distils the float logits from the float optimum: at 3e-4 the distillation loss rose over 5
    epochs (0.011 -> 0.026) and the AUC fell 0.020; at 3e-5 it held (+0.004) on the default data."""
    return QATModelConfig(bits=QuantBits(input_bits=10, input_integer=3, weight_bits=6), learning_rate=3e-5)


def _ae_qat() -> QATModelConfig:
    """QAT formats of the deployed L1 autoencoder: 10-bit inputs (LSB 1/16, range +-32: eta, phi and pT
    in standard deviations), 6-bit weights, and the reconstruction in the inputs' own format. QAT at
    1e-4: at 3e-4 the leptoquark AUC fell 0.010-0.011 at 6 to 8 bits (the step size, not the bits),
    at 1e-4 at most 0.003 on the default data."""
    return QATModelConfig(
        bits=QuantBits(input_bits=10, input_integer=5, weight_bits=6, output_bits=10, output_integer=5),
        learning_rate=1e-4,
    )


@dataclass
class QuantizeConfig:
    ocdn: QATModelConfig = field(default_factory=_ocdn_qat)
    ae: QATModelConfig = field(default_factory=_ae_qat)
    nurd: QATModelConfig = field(default_factory=_nurd_qat)
    scan: BitScanConfig = field(default_factory=BitScanConfig)


BUDGET_FIGURES = ("latency_ns", "ii_ns", "lut", "dsp", "ff", "bram")  # the figures of a budget
BUDGET_FRACTIONS = ("lut", "dsp", "ff", "bram")  # those given as fractions of the part


@dataclass
class BudgetLimits:
    """The L1 limits of one class of graph: latency and II in ns, resources as fractions of the part."""

    latency_ns: float = 50.0  # first input to the score
    ii_ns: float = 25.0  # initiation interval x clock period: one event per 25 ns bunch crossing
    lut: float = 0.05  # fractions of firmware.part's capacity, in (0, 1]
    dsp: float = 0.01
    ff: float = 0.05
    bram: float = 0.01  # of the part's 18 Kb blocks


@dataclass
class BudgetConfig:
    """The L1 budget ``l1ad check`` enforces on every deployed model (``firmware/budget.py``).

    CMS anomaly triggers: AXOL1TL at most 50 ns at 40 MHz on about 5% of the LUTs and no DSP,
    CICADA under 200 ns; both accept one event per 25 ns bunch crossing. A graph with a convolution
    takes ``cnn``, any other ``dense``; ``overrides`` maps a model name (ocdn, ae, nurd or a
    bring-your-own model's) to the figures that replace its class default, e.g. ``{ae: {latency_ns: 40.0}}``.
    """

    dense: BudgetLimits = field(default_factory=BudgetLimits)
    cnn: BudgetLimits = field(
        default_factory=lambda: BudgetLimits(latency_ns=200.0, lut=0.10, ff=0.10, bram=0.05)
    )
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        problems = []
        limits = [(f"firmware.budget.{k}", dataclasses.asdict(getattr(self, k))) for k in ("dense", "cnn")]
        limits += [(f"firmware.budget.overrides.{m}", figures) for m, figures in self.overrides.items()]
        for where, figures in limits:
            for key, value in figures.items():
                if key not in BUDGET_FIGURES:
                    known = ", ".join(BUDGET_FIGURES)
                    problems.append(f"{where}: unknown budget figure '{key}' (known: {known})")
                elif key in BUDGET_FRACTIONS and not 0.0 < value <= 1.0:
                    problems.append(f"{where}.{key} must lie in (0, 1] (a fraction of the part), got {value}")
                elif not value > 0.0:
                    problems.append(f"{where}.{key} must be > 0, got {value}")
        return problems


@dataclass
class RtlConfig:
    """Vendor-free RTL of every deployed scorer (``firmware/rtl.py``), in ``firmware/<model>/rtl/``.

    da4ml traces the QKeras graph to pipelined Verilog (with its Vivado project script and a
    testbench from the test set), Verilator simulates the whole test set against the C simulation
    (``l1ad check`` fails below 100% equal), and Yosys ``synth_xilinx`` gives open resource figures
    (labelled "Yosys synthesis, not Vivado") for designs up to ``synth_max_cost``. Part of the
    firmware stage's fingerprint: changing it rebuilds the firmware stage.
    """

    enabled: bool = True  # trace, write, Verilator-build and simulate each deployed scorer
    # Yosys synth_xilinx (ABC's LUT mapper) in the background while the stage goes on: seconds for the OCDN
    # and the AE, about 3 minutes of one core for NuRD (BENCHMARKS.md, "RTL")
    synthesize: bool = True
    # Yosys only for designs up to this da4ml cost (about LUTs); larger ones are recorded as not synthesized
    synth_max_cost: float = 250_000.0
    yosys_timeout_s: float = 1800.0  # per scorer; past it the figures are recorded as missing, not an error

    def problems(self) -> list[str]:
        problems = []
        if not self.yosys_timeout_s > 0:
            problems.append(f"firmware.rtl.yosys_timeout_s must be > 0, got {self.yosys_timeout_s}")
        if not self.synth_max_cost > 0:
            problems.append(f"firmware.rtl.synth_max_cost must be > 0, got {self.synth_max_cost}")
        return problems


@dataclass
class FirmwareConfig:
    backend: str = "Vitis"  # "Vitis" or "Vivado"
    part: str = "xcvu9p-flga2104-2L-e"
    clock_period_ns: float = 5.0
    io_type: str = "io_parallel"
    # hls4ml strategy: distributed_arithmetic (da4ml: every constant product an adder graph in LUTs, no DSP;
    # what the CMS Global Trigger's anomaly detector uses since 2026), Latency or Resource
    strategy: str = "distributed_arithmetic"
    reuse_factor: int = 1
    headroom_bits: int = 1  # extra integer bits above the profiled maximum of each accumulator
    n_testbench_events: int = 1000  # events written as HLS testbench data
    trigger_rate_hz: float = 1000.0  # L1 rate the firmware threshold is set for (of the bunch-crossing rate)
    synth: bool = False  # run vendor C synthesis when the tool is on PATH (`l1ad firmware --synth`)
    cosim: bool = False  # with synth: also C/RTL co-simulation
    logic_synthesis: bool = False  # with synth: also logic synthesis (vendor resource figures after it)
    # the L1 budget `l1ad check` enforces (not part of the firmware stage's fingerprint: no rebuild)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    rtl: RtlConfig = field(default_factory=RtlConfig)  # Verilog, Verilator simulation, Yosys synthesis


@dataclass
class ClusterConfig:
    """Where ``l1ad scan``, ``l1ad csim`` and the studies of ``l1ad run`` run their Dask tasks (workers must
    see the run directory)."""

    scheduler: str = ""  # address of a running Dask scheduler (tcp://host:8786); "" = a LocalCluster here
    workers: int = 0  # LocalCluster worker processes; 0 = one per core
    memory_limit: str = "auto"  # per LocalCluster worker, e.g. "4GiB"; "auto" = machine memory / workers
    # `l1ad run` runs the studies of run.studies as tasks on these workers, independent ones side by side
    # (each with cores / workers threads, its output in RUN_DIR/logs/<study>.log); false = one after another
    parallel_studies: bool = True


@dataclass
class ScanPoint:
    """One design point of ``l1ad scan``: a deployable model at one bit width, reuse factor and strategy."""

    model: str = "ocdn"  # ocdn, ae or nurd
    bits: int = 8  # weight = bias = activation bits; input and output formats stay as in quantize.<model>
    reuse_factor: int = 1
    strategy: str = "Latency"  # hls4ml strategy: Latency or Resource
    quantizer: str = (
        "qkeras"  # qkeras (uniform bits) or hgq (bit widths learned per weight, starting at bits)
    )
    beta: float = 0.0  # hgq: weight of the EBOPs resource penalty in the loss (unused by qkeras)


@dataclass
class ScanConfig:
    """Design-space scan ``l1ad scan`` into RUN_DIR/scan: every point is a QAT retrain from the float
    weights, an hls4ml conversion, a g++ C simulation of the test set checked against QKeras and a
    resource estimate (vendor synthesis with ``synth``), run as one Dask task."""

    models: tuple[str, ...] = ("ocdn", "ae", "nurd")  # the grid: every combination of these four lists
    bits: tuple[int, ...] = (4, 6, 8)
    reuse_factors: tuple[int, ...] = (1, 4)
    # distributed_arithmetic points only at reuse factor 1 (the grid skips other reuse factors for it)
    strategies: tuple[str, ...] = ("distributed_arithmetic", "Latency")
    quantizers: tuple[str, ...] = ("qkeras",)  # add hgq for HGQ points (one per beta in betas)
    betas: tuple[float, ...] = (1.0e-6, 1.0e-5)  # HGQ resource penalties scanned
    points: tuple[ScanPoint, ...] = ()  # an explicit list of points; when given it replaces the grid
    epochs: int = 2  # QAT epochs per point
    # HGQ's bit widths move by about the learning rate per step: at the QKeras rate (3e-4) a few
    # epochs leave them where they started whatever beta is, so HGQ points train at their own rate
    hgq_learning_rate: float = 3.0e-3
    synth: bool = False  # vendor C synthesis on the workers where the tool is installed (else estimates)


@dataclass
class CheckConfig:
    """Tolerances of the CI gate ``l1ad check``."""

    auc_drop_tolerance: float = 0.01  # AUC_qkeras >= AUC_float - this
    csim_auc_tolerance: float = 0.001  # |AUC_csim - AUC_qkeras| <= this
    csim_within_1lsb_min: float = 0.999  # fraction of events within 1 output LSB of QKeras
    # Per model and class (background and each signal): the largest fraction of csim-traced events in
    # which any layer leaves its fixed-point type (saturates or wraps). The default run measures 0 in
    # every class (precisions are profiled with headroom); 1 event in 1000 is the same budget as
    # csim_within_1lsb_min, and resolvable with the 2000 events traced per class.
    max_saturated_fraction: float = 0.001


@dataclass
class MetricsConfig:
    bunch_crossing_rate_hz: float = 40.0e6  # LHC bunch-crossing rate: rate = FPR x this
    trigger_fpr_l1: float = 1.0e-5  # about 400 Hz: the AE-on-FPGA figure of merit
    trigger_fpr_dijet: float = 1.0e-3  # offline dijet study: test sets hold ~1e4 background events
    trigger_fpr_jet_images: float = 1.0e-3  # jet-image test sets hold ~1e4 background jets
    min_background_for_sic: int = 10  # background events that must pass a cut for its SIC to count


@dataclass
class OneClassStudyConfig:
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


@dataclass
class GaussianStudyConfig:
    """1-D Gaussian toy: background N(-2,1), signals N(0,1) and N(-4,1)."""

    n_events: int = 20_000  # per class
    epochs: tuple[int, ...] = (1, 5, 20, 50)  # snapshots of score function and ROC
    learning_rate: float = 1e-2
    batch_size: int = 256
    mlp_hidden: tuple[int, ...] = (16, 16)  # the small multi-layer network beside logistic regression


@dataclass
class AnomalyCLRConfig:
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
class NAEConfig:
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
class MPDRConfig:
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
class NuRDStudyConfig:
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
class StudiesConfig:
    """Studies run by ``l1ad study NAME`` into RUN_DIR/studies/NAME (full precision)."""

    oneclass: OneClassStudyConfig = field(default_factory=OneClassStudyConfig)
    gaussian: GaussianStudyConfig = field(default_factory=GaussianStudyConfig)
    anomalyclr: AnomalyCLRConfig = field(default_factory=AnomalyCLRConfig)
    nae: NAEConfig = field(default_factory=NAEConfig)
    mpdr: MPDRConfig = field(default_factory=MPDRConfig)
    nurd: NuRDStudyConfig = field(default_factory=NuRDStudyConfig)


# Entries that define no stage's artifacts, only how the report and the gate read them (Config.fingerprint).
NOT_FINGERPRINTED = ("firmware.budget",)


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    studies: StudiesConfig = field(default_factory=StudiesConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self, *keys: str) -> str:
        """A short hash of the named config entries ("data", "run.seed"): a stage reruns when it changes.

        Entries in ``NOT_FINGERPRINTED`` count only when named themselves, not as part of their section:
        ``firmware.budget`` is read by the report and the gate, so a new budget rebuilds no firmware.
        """
        d = self.to_dict()
        picked = {}
        for key in keys:
            value: Any = d
            for part in key.split("."):
                value = value[part]
            for entry in NOT_FINGERPRINTED:
                if entry.startswith(key + "."):
                    value = copy.deepcopy(value)
                    *parents, last = entry[len(key) + 1 :].split(".")
                    node = value
                    for part in parents:
                        node = node[part]
                    node.pop(last, None)
            picked[key] = value
        blob = json.dumps(picked, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _coerce(value: Any, annotation: Any, where: str, path: Path, default: Any = None) -> Any:
    """Convert a YAML value to the annotated field type, or raise naming the key. A section starts from
    ``default``, the field's own default, so the keys it leaves out keep their documented values."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise InputError(path, f"'{where}' must be a mapping")
        return _build(annotation, value, where, path, default if isinstance(default, annotation) else None)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(path, f"'{where}' must be a list")
        args = typing.get_args(annotation)
        inner = args[0]
        if Ellipsis not in args and len(value) != len(args):  # fixed length, e.g. a (lo, hi) window
            raise InputError(path, f"'{where}' must be a list of {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, inner, f"{where}[{i}]", path) for i, v in enumerate(value))
    if origin is dict:  # a mapping with free keys (names the user chooses), e.g. firmware.budget.overrides
        if not isinstance(value, dict):
            raise InputError(path, f"'{where}' must be a mapping")
        key_type, value_type = typing.get_args(annotation)
        coerced = {}
        for key, item in value.items():
            if not isinstance(key, key_type):
                raise InputError(path, f"'{where}' keys must be names, got {key!r}")
            coerced[key] = _coerce(item, value_type, f"{where}.{key}", path)
        return coerced
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, f"'{where}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InputError(path, f"'{where}' must be a finite number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, f"'{where}' must be an integer, got {value!r}")
        if abs(value) >= 2**63:
            raise InputError(path, f"'{where}' must fit in 64 bits, got {value}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise InputError(path, f"'{where}' must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise InputError(path, f"'{where}' must be a string, got {value!r}")
        return value
    return value


def _build(cls: type, values: dict[str, Any], prefix: str, path: Path, base: Any = None) -> Any:
    """``base`` (default: ``cls()``) with the keys of ``values`` replaced: a partial section keeps the
    rest of its defaults, including those a field's factory sets (``quantize.nurd.bits``)."""
    base = cls() if base is None else base
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise InputError(path, f"unknown config key '{where}' (known: {', '.join(sorted(known))})")
    kwargs = {}
    for key, value in values.items():
        where = f"{prefix}.{key}" if prefix else key
        kwargs[key] = _coerce(value, hints[key], where, path, getattr(base, key))
    return dataclasses.replace(base, **kwargs)


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key '{key}' given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (``UniqueKeyLoader``): plain data only, no objects."""
    loader = UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_config(path: str | Path | None = None) -> Config:
    """Load a YAML config; ``None`` gives the embedded defaults."""
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    try:
        raw = safe_load_unique(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a UTF-8 text file, so not a YAML config ({exc})") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise InputError(path, f"not valid YAML ({first})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(path, "the top level must be a mapping of sections")
    config = _build(Config, raw, "", path)
    _validate(config, path)
    return config


def _validate(config: Config, path: Path) -> None:
    """Range checks that the types cannot express."""
    problems = []
    if config.run.n_seeds < 1:
        problems.append("run.n_seeds must be >= 1")
    for name in ("n_background", "n_signal"):
        if getattr(config.data.dijet, name) < 1 or getattr(config.data.l1, name) < 1:
            problems.append(f"data.*.{name} must be >= 1")
    ji = config.data.jet_images
    if ji.image_size < 4:
        problems.append("data.jet_images.image_size must be >= 4")
    if min(ji.n_qcd, ji.n_wz, ji.n_top) < 1:
        problems.append("data.jet_images.n_qcd, n_wz and n_top must be >= 1")
    if not 0.0 < ji.test_fraction < 1.0:
        problems.append("data.jet_images.test_fraction must lie strictly between 0 and 1")
    fw = config.firmware
    problems += [f"firmware.{p}" for p in strategy_problems(fw.strategy, fw.reuse_factor)]
    if config.firmware.backend not in ("Vitis", "Vivado"):
        problems.append(f"firmware.backend must be Vitis or Vivado, got {config.firmware.backend!r}")
    if part_capacity(config.firmware.part) is None:
        problems.append(
            f"firmware.part: unknown device {device_of(config.firmware.part)!r} of part "
            f"{config.firmware.part!r} (known: {', '.join(known_devices())})"
        )
    problems += config.run.problems()
    for name in ("ocdn", "ae", "nurd"):
        problems += getattr(config.quantize, name).bits.problems(f"quantize.{name}.bits")
    problems += config.firmware.budget.problems()
    problems += config.firmware.rtl.problems()
    if config.train.device not in ("auto", "cpu", "gpu"):
        problems.append(f"train.device must be auto, cpu or gpu, got {config.train.device!r}")
    for frac in (config.data.dijet.test_background_fraction, config.data.l1.test_background_fraction):
        if not 0.0 < frac < 1.0:
            problems.append("test fractions must lie strictly between 0 and 1")
    oc, gs = config.studies.oneclass, config.studies.gaussian
    if oc.n_seeds < 1:
        problems.append("studies.oneclass.n_seeds must be >= 1")
    if not (0.0 < oc.ocsvm_nu_inner <= 1.0 and 0.0 < oc.ocsvm_nu_outer <= 1.0):
        problems.append("studies.oneclass.ocsvm_nu_inner and ocsvm_nu_outer must lie in (0, 1]")
    if not gs.epochs or min(gs.epochs) < 1:
        problems.append("studies.gaussian.epochs must be a non-empty list of positive epoch counts")
    problems += config.train.nurd.problems() + config.train.ae.problems()
    problems += _range_problems(config)
    problems += _scan_problems(config.scan)
    if config.cluster.workers < 0:
        problems.append("cluster.workers must be >= 0 (0 = one per core)")
    if config.train.threads < 0:
        problems.append("train.threads must be >= 0 (0 = torch's default)")
    if problems:
        raise InputError(path, problems[0])


def strategy_problems(strategy: str, reuse_factor: int) -> list[str]:
    """A known hls4ml strategy; distributed arithmetic needs reuse factor 1 (hls4ml refuses others)."""
    if strategy not in STRATEGIES:
        return [f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}"]
    if strategy == "distributed_arithmetic" and reuse_factor != 1:
        return [f"strategy distributed_arithmetic needs reuse_factor 1, got {reuse_factor}"]
    return []


def _scan_problems(scan: ScanConfig) -> list[str]:
    points = scan.points or grid_points(scan)
    problems = [] if points else ["scan: the grid is empty (models, bits, reuse_factors, strategies)"]
    for p in points:
        if p.model not in DEPLOYED_MODELS:
            problems.append(f"scan: model must be one of {', '.join(DEPLOYED_MODELS)}, got {p.model!r}")
        if p.bits < 2 or p.reuse_factor < 1:
            problems.append(
                f"scan: bits must be >= 2 and reuse_factor >= 1, got {p.bits} and {p.reuse_factor}"
            )
        if p.quantizer not in ("qkeras", "hgq"):
            problems.append(f"scan: quantizer must be qkeras or hgq, got {p.quantizer!r}")
        if p.beta < 0:
            problems.append(f"scan: beta must be >= 0, got {p.beta}")
        problems += [f"scan: {p}" for p in strategy_problems(p.strategy, p.reuse_factor)]
    if scan.epochs < 0:
        problems.append("scan: epochs must be >= 0")
    return problems


# Field-name rules every config section follows: (test on the key, low, high, low included, high included).
_RANGE_RULES: tuple[tuple[Any, float, float, bool, bool], ...] = (
    (lambda k: k.endswith(("learning_rate", "_rate_hz")) or k == "clock_period_ns", 0, math.inf, False, False),
    (lambda k: k == "epochs" or k.endswith(("_epochs", "_steps")) or k.startswith("epochs_"), 0, math.inf, True, False),
    (lambda k: k in ("headroom_bits", "rate_sample"), 0, math.inf, True, False),
    (lambda k: k.endswith("_bits"), 1, 64, True, True),
    (
        lambda k: k in ("batch_size", "latent", "kernel_size", "reuse_factor")
        or k.startswith("n_")
        or k.endswith(("_events", "_latent", "_dim", "_bins")),
        1, math.inf, True, False,
    ),
    (lambda k: k.startswith("trigger_fpr_"), 0, 1, False, True),
    (lambda k: k.endswith("_tolerance"), 0, math.inf, True, False),
    (lambda k: k.endswith("_min") or (k.startswith("max_") and k.endswith("_fraction")), 0, 1, True, True),
    (lambda k: k.endswith("_fraction"), 0, 1, False, False),
)  # fmt: skip


def _range_problems(config: Config) -> list[str]:
    """Ranges no type can express: counts and sizes >= 1, epochs and steps >= 0, rates > 0, bit widths
    1-64, probabilities in [0, 1], seeds numpy accepts, ordered mjj windows, known studies and I/O types."""
    problems: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            where = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(value, where)
            elif isinstance(value, tuple):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        walk(item, f"{where}[{i}]")
                    elif isinstance(item, int) and not isinstance(item, bool) and item < 1:
                        problems.append(f"{where} entries must be >= 1, got {item}")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                for test, lo, hi, with_lo, with_hi in _RANGE_RULES:
                    if test(key):
                        above = value > hi or (value == hi and not with_hi)
                        below = value < lo or (value == lo and not with_lo)
                        if above or below:
                            interval = f"{'[' if with_lo else '('}{lo:g}, {hi:g}{']' if with_hi else ')'}"
                            problems.append(f"{where} must lie in {interval}, got {value}")
                        break

    walk(config.to_dict(), "")
    seed, n_seeds = config.run.seed, config.run.n_seeds
    if seed < 0 or seed + n_seeds + 2 >= 2**32:  # numpy's legacy seeding (Keras) takes 32-bit seeds
        problems.append(f"run.seed must lie in [0, 2^32 - n_seeds - 2), got {seed}")
    known = list(STUDY_FAMILIES)
    unknown = [s for s in config.run.studies if s not in known]
    if unknown:
        problems.append(f"run.studies: unknown study {unknown[0]!r} (known: {', '.join(known)})")
    dj = config.data.dijet
    for where, (lo, hi) in [("signal_region", dj.signal_region), *(("sidebands", w) for w in dj.sidebands)]:
        if not 0 <= lo < hi:
            problems.append(f"data.dijet.{where} must be an mjj window [lo, hi] in TeV with 0 <= lo < hi")
    if config.firmware.io_type not in ("io_parallel", "io_stream"):
        problems.append(f"firmware.io_type must be io_parallel or io_stream, got {config.firmware.io_type!r}")
    return problems


def grid_points(scan: ScanConfig) -> tuple[ScanPoint, ...]:
    """The scan grid: every combination of models x bits x reuse factors x strategies x quantizers,
    HGQ points once per beta in ``betas`` (QKeras points have no beta); distributed arithmetic only at
    reuse factor 1, the one hls4ml builds."""
    return tuple(
        ScanPoint(m, b, r, s, q, beta)
        for m in scan.models
        for b in scan.bits
        for r in scan.reuse_factors
        for s in scan.strategies
        for q in scan.quantizers
        for beta in (scan.betas if q == "hgq" else (0.0,))
        if not strategy_problems(s, r)
    )
