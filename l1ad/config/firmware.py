"""Config of the firmware stage (``firmware``): hls4ml conversion, the L1 budget the gate enforces and the
vendor-free RTL."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from l1ad.config.section import Section
from l1ad.parts import device_of, known_devices, part_capacity

# hls4ml strategies l1ad converts with (firmware.strategy, scan.strategies)
STRATEGIES = ("distributed_arithmetic", "Latency", "Resource")


def strategy_problems(strategy: str, reuse_factor: int) -> list[str]:
    """A known hls4ml strategy; distributed arithmetic needs reuse factor 1 (hls4ml refuses others)."""
    if strategy not in STRATEGIES:
        return [f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}"]
    if strategy == "distributed_arithmetic" and reuse_factor != 1:
        return [f"strategy distributed_arithmetic needs reuse_factor 1, got {reuse_factor}"]
    return []


BUDGET_FIGURES = ("latency_ns", "ii_ns", "lut", "dsp", "ff", "bram")  # the figures of a budget
BUDGET_FRACTIONS = ("lut", "dsp", "ff", "bram")  # those given as fractions of the part


@dataclass
class BudgetLimits(Section):
    """The L1 limits of one class of graph: latency and II in ns, resources as fractions of the part."""

    latency_ns: float = 50.0  # first input to the score
    ii_ns: float = 25.0  # initiation interval x clock period: one event per 25 ns bunch crossing
    lut: float = 0.05  # fractions of firmware.part's capacity, in (0, 1]
    dsp: float = 0.01
    ff: float = 0.05
    bram: float = 0.01  # of the part's 18 Kb blocks

    def problems(self, where: str) -> list[str]:
        return _budget_problems(where, dataclasses.asdict(self))


def _budget_problems(where: str, figures: dict[str, float]) -> list[str]:
    """Known budget figures (a class's limits or a model's overrides), fractions of the part in (0, 1],
    times > 0."""
    found = []
    for key, value in figures.items():
        if key not in BUDGET_FIGURES:
            found.append(f"{where}: unknown budget figure '{key}' (known: {', '.join(BUDGET_FIGURES)})")
        elif key in BUDGET_FRACTIONS and not 0.0 < value <= 1.0:
            found.append(f"{where}.{key} must lie in (0, 1] (a fraction of the part), got {value}")
        elif not value > 0.0:
            found.append(f"{where}.{key} must be > 0, got {value}")
    return found


@dataclass
class BudgetConfig(Section):
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

    def problems(self, where: str) -> list[str]:
        return [
            p
            for model, figures in self.overrides.items()
            for p in _budget_problems(f"{where}.overrides.{model}", figures)
        ]


@dataclass
class RtlConfig(Section):
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

    def problems(self, where: str) -> list[str]:
        problems = []
        if not self.yosys_timeout_s > 0:
            problems.append(f"{where}.yosys_timeout_s must be > 0, got {self.yosys_timeout_s}")
        if not self.synth_max_cost > 0:
            problems.append(f"{where}.synth_max_cost must be > 0, got {self.synth_max_cost}")
        return problems


@dataclass
class FirmwareConfig(Section):
    """hls4ml conversion of every deployed scorer, its trigger threshold, the L1 budget and the RTL."""

    backend: str = "Vitis"  # "Vitis" or "Vivado"
    part: str = "xcvu9p-flga2104-2L-e"
    clock_period_ns: float = 5.0
    io_type: str = "io_parallel"
    # hls4ml strategy: distributed_arithmetic (da4ml: every constant product an adder graph in LUTs, no DSP;
    # what the CMS Global Trigger's anomaly detector uses since 2026), Latency or Resource
    strategy: str = "distributed_arithmetic"
    reuse_factor: int = 1
    # products of two variables (the AE's squared residuals, NuRD's squared projections; every product of a
    # Latency or Resource layer) on DSP48 blocks (true) or in LUTs (false): the HLS project binds `mul` to
    # fabric (Vitis `config_op`), Yosys maps with -nodsp, Vivado synthesizes the RTL with -max_dsp 0, and
    # the l1ad estimate counts LUTs. CMS's anomaly triggers use no DSP.
    use_dsp: bool = False
    headroom_bits: int = 1  # extra integer bits above the profiled maximum of each accumulator
    n_testbench_events: int = 1000  # events written as HLS testbench data
    trigger_rate_hz: float = 1000.0  # L1 rate the firmware threshold is set for (of the bunch-crossing rate)
    synth: bool = False  # run vendor C synthesis when the tool is on PATH (`l1ad firmware --synth`)
    cosim: bool = False  # with synth: also C/RTL co-simulation
    logic_synthesis: bool = False  # with synth: also logic synthesis (vendor resource figures after it)
    # the L1 budget `l1ad check` enforces (not part of the firmware stage's fingerprint: no rebuild)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    rtl: RtlConfig = field(default_factory=RtlConfig)  # Verilog, Verilator simulation, Yosys synthesis

    def problems(self, where: str) -> list[str]:
        """A strategy hls4ml builds at this reuse factor, a known backend, part and I/O type."""
        found = [f"{where}.{p}" for p in strategy_problems(self.strategy, self.reuse_factor)]
        if self.backend not in ("Vitis", "Vivado"):
            found.append(f"{where}.backend must be Vitis or Vivado, got {self.backend!r}")
        if part_capacity(self.part) is None:
            found.append(
                f"{where}.part: unknown device {device_of(self.part)!r} of part {self.part!r} "
                f"(known: {', '.join(known_devices())})"
            )
        if self.io_type not in ("io_parallel", "io_stream"):
            found.append(f"{where}.io_type must be io_parallel or io_stream, got {self.io_type!r}")
        return found
