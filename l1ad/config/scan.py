"""Config of the design-space scan (``scan``): its grid or explicit points, each a deployable model at one
bit width, reuse factor, strategy and quantizer."""

from __future__ import annotations

from dataclasses import dataclass

from l1ad.config.firmware import strategy_problems
from l1ad.config.run import DEPLOYED_MODELS
from l1ad.config.section import Section


@dataclass
class ScanPoint(Section):
    """One design point of ``l1ad scan``: a deployable model at one bit width, reuse factor and strategy."""

    model: str = "ocdn"  # ocdn, ae or nurd
    # weight = bias = activation bits; input and output formats stay as in quantize.<model>.
    # 0: every format as quantize.<model> configures it (the deployed formats, e.g. to scan input formats)
    bits: int = 8
    reuse_factor: int = 1
    strategy: str = "Latency"  # hls4ml strategy: Latency or Resource
    quantizer: str = (
        "qkeras"  # qkeras (uniform bits) or hgq (bit widths learned per weight, starting at bits)
    )
    beta: float = 0.0  # hgq: weight of the EBOPs resource penalty in the loss (unused by qkeras)
    # the input format quantized_bits(input_width, input_integer); input_width 0: quantize.<model>'s
    input_width: int = 0
    input_integer: int = 0

    @property
    def input_format(self) -> tuple[int, int] | None:
        """(bits, integer bits) of the point's own input format, None for the model's configured one."""
        return (self.input_width, self.input_integer) if self.input_width else None

    def problems(self, where: str) -> list[str]:
        found = []
        if self.model not in DEPLOYED_MODELS:
            found.append(f"{where}: model must be one of {', '.join(DEPLOYED_MODELS)}, got {self.model!r}")
        if self.bits not in (0, *range(2, 65)) or self.reuse_factor < 1:
            found.append(
                f"{where}: bits must be 0 (the model's own formats) or 2-64 and reuse_factor >= 1, got "
                f"{self.bits} and {self.reuse_factor}"
            )
        if self.quantizer not in ("qkeras", "hgq"):
            found.append(f"{where}: quantizer must be qkeras or hgq, got {self.quantizer!r}")
        if self.beta < 0:
            found.append(f"{where}: beta must be >= 0, got {self.beta}")
        if self.input_width and not (
            2 <= self.input_width <= 64 and 0 <= self.input_integer < self.input_width
        ):
            found.append(
                f"{where}: input_width must be 0 (the model's own format) or 2-64 and input_integer in "
                f"[0, input_width), got {self.input_width} and {self.input_integer}"
            )
        return found + [f"{where}: {p}" for p in strategy_problems(self.strategy, self.reuse_factor)]


@dataclass
class ScanConfig(Section):
    """Design-space scan ``l1ad scan`` into RUN_DIR/scan: every point is a QAT retrain from the float
    weights, an hls4ml conversion, a g++ C simulation of the test set checked against QKeras and a
    resource estimate (vendor synthesis with ``synth``), run as one Dask task."""

    models: tuple[str, ...] = DEPLOYED_MODELS  # the grid: every combination of these four lists
    bits: tuple[int, ...] = (4, 6, 8)
    reuse_factors: tuple[int, ...] = (1, 4)
    # distributed_arithmetic points only at reuse factor 1 (the grid skips other reuse factors for it)
    strategies: tuple[str, ...] = ("distributed_arithmetic", "Latency")
    quantizers: tuple[str, ...] = ("qkeras",)  # add hgq for HGQ points (one per beta in betas)
    betas: tuple[float, ...] = (1.0e-6, 1.0e-5)  # HGQ resource penalties scanned
    # input formats [bits, integer bits] scanned (quantized_bits; the integer bits exclude the sign);
    # empty: each model's quantize.<model> input format. The trade of input range against LUTs.
    input_formats: tuple[tuple[int, int], ...] = ()
    points: tuple[ScanPoint, ...] = ()  # an explicit list of points; when given it replaces the grid
    epochs: int = 2  # QAT epochs per point
    # HGQ's bit widths move by about the learning rate per step: at the QKeras rate (3e-4) a few
    # epochs leave them where they started whatever beta is, so HGQ points train at their own rate
    hgq_learning_rate: float = 3.0e-3
    synth: bool = False  # vendor C synthesis on the workers where the tool is installed (else estimates)

    def problems(self, where: str) -> list[str]:
        """Known strategies (the grid leaves out only distributed arithmetic above reuse factor 1) and
        a non-empty grid of valid points; explicit ``points`` check themselves."""
        found = [f"{where}.strategies: {p}" for s in self.strategies for p in strategy_problems(s, 1)]
        if self.points:
            return found
        grid = grid_points(self)
        if not grid:
            found.append(f"{where}: the grid is empty (models, bits, reuse_factors, strategies)")
        return found + [p for point in grid for p in point.problems(where)]


def grid_points(scan: ScanConfig) -> tuple[ScanPoint, ...]:
    """The scan grid: every combination of models x bits x reuse factors x strategies x quantizers x
    input formats,
    HGQ points once per beta in ``betas`` (QKeras points have no beta); distributed arithmetic only at
    reuse factor 1, the one hls4ml builds."""
    return tuple(
        ScanPoint(m, b, r, s, q, beta, *fmt)
        for m in scan.models
        for b in scan.bits
        for r in scan.reuse_factors
        for s in scan.strategies
        for q in scan.quantizers
        for beta in (scan.betas if q == "hgq" else (0.0,))
        for fmt in (scan.input_formats or ((0, 0),))
        if not strategy_problems(s, r)
    )
