"""QKeras graph -> written hls4ml project, with every fixed-point type chosen on purpose.

Types follow the QKeras quantizers exactly and the profiled ranges deliberately, so csim can be
bit-identical to QKeras and an out-of-range value saturates instead of wrapping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from firmware.resources import USE_DSP_KEY
from l1ad.config import FirmwareConfig
from l1ad.errors import DesignError
from l1ad.fixedpoint import FixedFormat
from l1ad.io import atomic_path
from quantize.graph import Handler, Node, is_input, nodes, walk
from quantize.qmodels import exact_ranges, is_ones_sum

# QKeras rounds half to even (tf.round): the rounding of every quantizer's type; l1ad's own types truncate
QUANTIZER_ROUNDING = "AP_RND_CONV"
# Only the fallback for a tensor this module does not type; convert() refuses to leave one.
DEFAULT_PRECISION = "ap_fixed<32,16>"


def format_of(precision: Any) -> FixedFormat:
    """The ``FixedFormat`` of an hls4ml precision (fixed or integer type)."""
    rounding = str(getattr(precision, "rounding_mode", None) or "TRN")
    saturation = str(getattr(precision, "saturation_mode", None) or "WRAP")
    return FixedFormat(
        bool(precision.signed),
        int(precision.width),
        int(precision.integer),
        "" if rounding == "TRN" else f"AP_{rounding}",
        "" if saturation == "WRAP" else f"AP_{saturation}",
    )


def require_on_grid(X: np.ndarray, fmt: FixedFormat, what: str) -> None:
    """Refuse inputs that are not values of ``fmt``: csim would round them a second time (STACK.md)."""
    x = np.asarray(X, dtype=np.float64)
    scaled = x / fmt.lsb
    if not (np.all(scaled == np.rint(scaled)) and x.min() >= fmt.lo and x.max() <= fmt.hi):
        raise ValueError(f"{what} are not in the declared input format {fmt}: apply quantize_inputs first")


def integer_bits(lo: float, hi: float, frac: int) -> int:
    """Fewest integer bits (sign included, at least 1) of a signed format holding [lo, hi] at 2^-frac.

    The one integer-bit rule of l1ad's types: the QKeras precision plan and BYO's explicit precisions
    (``integer_bits(-m, m, frac)`` for a range +-m) both size with it.
    """
    integer = 1
    while lo < -(2.0 ** (integer - 1)) or hi > 2.0 ** (integer - 1) - 2.0**-frac:
        integer += 1
    return integer


def _sized(lo: float, hi: float, frac: int, saturation: str = "") -> FixedFormat:
    integer = integer_bits(lo, hi, frac)
    return FixedFormat(True, integer + frac, integer, saturation=saturation)


def quantizer_format(quantizer: Any, where: str) -> FixedFormat:
    """The ap type that reproduces a QKeras quantizer: rounding half to even (tf.round) and clipping.

    ``quantized_bits(b, i)`` -> ap_fixed<b, i+1, AP_RND_CONV, AP_SAT>;
    ``quantized_relu(b, i)`` -> ap_ufixed<b, i, AP_RND_CONV, AP_SAT>.
    """
    kind = type(quantizer).__name__
    if kind == "quantized_bits":
        plain = (
            quantizer.keep_negative
            and not quantizer.symmetric
            and quantizer.alpha in (None, 1, 1.0)
            and not quantizer.use_stochastic_rounding
        )
        if plain:
            return FixedFormat(
                True, int(quantizer.bits), int(quantizer.integer) + 1, QUANTIZER_ROUNDING, "AP_SAT"
            )
    elif kind == "quantized_relu":
        plain = (
            not quantizer.use_sigmoid
            and quantizer.negative_slope == 0
            and not quantizer.use_stochastic_rounding
        )
        if plain:
            return FixedFormat(
                False, int(quantizer.bits), int(quantizer.integer), QUANTIZER_ROUNDING, "AP_SAT"
            )
    raise ValueError(f"layer '{where}': quantizer {quantizer} has no exact fixed-point type here")


def _is_bits(quantizer: Any) -> bool:
    return type(quantizer).__name__ == "quantized_bits"


def plan_precisions(qmodel: Any, profile_inputs: np.ndarray, headroom_bits: int) -> dict[str, dict[str, str]]:
    """Precision entries per Keras layer name (hls4ml ``LayerName`` config keys).

    Quantized tensors take their quantizer's type. Every other tensor (Dense sums, residuals,
    squares, the score) keeps all the fractional bits its inputs produce, so nothing is rounded
    that QKeras does not round, and gets integer bits for its profiled range plus
    ``headroom_bits``, saturating beyond (an extreme anomaly must clip high, never wrap low).
    Accumulators take the worst-case range of their inputs' types and weights: they never wrap.
    ``profile_inputs`` must be in the declared input format (background and signal events).
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    names = [node.name for node in nodes(qmodel) if not is_input(node.layer)]
    ranges = exact_ranges(qmodel, profile_inputs, names)
    plan: dict[str, dict[str, str]] = {}

    def profiled(name: str, frac: int, worst: FixedFormat) -> FixedFormat:
        integer = integer_bits(*ranges[name], frac) + headroom_bits
        integer = min(max(integer, 1), worst.integer)  # never wider than the worst case needs
        return FixedFormat(True, integer + frac, integer, saturation="AP_SAT")

    def result(node: Node, fmt: FixedFormat) -> FixedFormat:
        plan[node.name] = {"result": str(fmt)}
        return fmt

    def input_layer(node: Node, args: list[FixedFormat]) -> FixedFormat:
        users = node.consumers
        declared = [u for u in users if isinstance(u, QActivation)]
        if len(users) != 1 or not declared:
            raise ValueError(
                f"input '{node.name}' must feed exactly one quantized_bits QActivation (its format)"
            )
        fmt = quantizer_format(declared[0].quantizer, declared[0].name)
        require_on_grid(profile_inputs, fmt, "profile_inputs")
        return result(node, fmt)

    def quantizer(node: Node, args: list[FixedFormat]) -> FixedFormat:  # QActivation
        return result(node, quantizer_format(node.layer.quantizer, node.name))

    def weighted(node: Node, args: list[FixedFormat]) -> FixedFormat:  # Dense and Conv2D
        layer, name = node.layer, node.name
        fin = args[0]
        if isinstance(layer, (QDense, QConv2D)):
            # a constant without a quantizer (one held already quantized, as clone_graph's prequantize
            # leaves them) is stored in the exact type of its values
            wq, bq = layer.get_quantizers()[:2]
            kernel = np.asarray(layer.kernel if wq is None else wq(layer.kernel), dtype=np.float64)
            wfmt = constant_format(kernel) if wq is None else quantizer_format(wq, name)
            bias = np.zeros(kernel.shape[-1])
            bfmt = wfmt
            if layer.use_bias:
                bias = np.asarray(layer.bias if bq is None else bq(layer.bias), dtype=np.float64)
                bfmt = constant_format(bias) if bq is None else quantizer_format(bq, name)
        elif is_ones_sum(layer):
            wfmt = bfmt = FixedFormat(False, 1, 1)  # the frozen sum: weights are exactly 1
            kernel, bias = layer.get_weights()[0].astype(np.float64), np.zeros(layer.units)
        else:
            raise ValueError(f"{node.kind} '{name}' is neither quantized nor a frozen all-ones sum")
        # Each output sums kernel x input over every axis but the last (Dense: inputs; Conv2D: the window).
        kernel = kernel.reshape(-1, kernel.shape[-1])
        frac = max(fin.frac + wfmt.frac, bfmt.frac)
        lo = bias + np.minimum(kernel * fin.lo, kernel * fin.hi).sum(axis=0)
        hi = bias + np.maximum(kernel * fin.lo, kernel * fin.hi).sum(axis=0)
        accum = _sized(float(lo.min()), float(hi.max()), frac)
        after = node.consumers
        if len(after) == 1 and isinstance(after[0], QActivation) and _is_bits(after[0].quantizer):
            # The STACK.md trap: hls4ml drops this QActivation, so the layer itself must round to it.
            out = quantizer_format(after[0].quantizer, after[0].name)
        else:
            out = profiled(name, frac, accum)
            for relu in (
                u for u in after if isinstance(u, QActivation) and not _is_bits(u.quantizer)
            ):  # cover the ReLU's range: a saturated sum still gives QKeras' ReLU value
                need = quantizer_format(relu.quantizer, relu.name).integer + 1
                if out.integer < need:
                    out = FixedFormat(True, need + frac, need, saturation="AP_SAT")
        plan[name] = {"weight": _plain(wfmt), "bias": _plain(bfmt), "accum": str(accum), "result": str(out)}
        plan[f"{name}_linear"] = {"result": str(out)}  # hls4ml's split-off linear activation
        return out

    def selection(node: Node, args: list[FixedFormat]) -> FixedFormat:  # MaxPooling2D, Flatten
        # Selecting or reordering values: exactly the input's type.
        fmt = result(node, args[0])
        if isinstance(node.layer, tf.keras.layers.MaxPooling2D):
            plan[node.name]["accum"] = str(fmt)  # hls4ml's pooling declares one; a max needs no wider
        return fmt

    def minimum(node: Node, args: list[FixedFormat]) -> FixedFormat:
        # The smaller of exact values: a type holding both inputs' grids and ranges, no rounding.
        a, b = args
        frac = max(a.frac, b.frac)
        integer = max(a.integer, b.integer)
        return result(node, FixedFormat(True, integer + frac, integer, saturation="AP_SAT"))

    def arithmetic(node: Node, args: list[FixedFormat]) -> FixedFormat:  # Subtract, Add, Multiply
        a, b = args
        if isinstance(node.layer, tf.keras.layers.Subtract):
            frac, lo, hi = max(a.frac, b.frac), a.lo - b.hi, a.hi - b.lo
        elif isinstance(node.layer, tf.keras.layers.Add):
            frac, lo, hi = max(a.frac, b.frac), a.lo + b.lo, a.hi + b.hi
        else:
            corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
            frac, lo, hi = a.frac + b.frac, min(corners), max(corners)
        return result(node, profiled(node.name, frac, _sized(lo, hi, frac)))

    handlers: dict[str, Handler] = {
        "InputLayer": input_layer,
        "QActivation": quantizer,
        "Dense": weighted,
        "Conv2D": weighted,
        "MaxPooling2D": selection,
        "Flatten": selection,
        "Minimum": minimum,
        "Subtract": arithmetic,
        "Add": arithmetic,
        "Multiply": arithmetic,
    }
    walk(qmodel, handlers, "firmware")
    return plan


def _plain(f: FixedFormat) -> str:
    # Weights are stored already quantized: their type needs no rounding or saturation mode.
    return str(FixedFormat(f.signed, f.width, f.integer))


# Most multiplications the convolutions of one io_parallel graph may unroll (output pixels x kernel window x
# input channels x filters, summed over the Conv2D layers). The CICADA-like compact NuRD CNN (20x20 image,
# 4 filters 2x2 stride 2) needs 1,600; the former 3x3 two-block CNN needed about 26,000.
MAX_UNROLLED_CONV_MULTIPLICATIONS = 4096


def conv_multiplications(model: Any) -> int:
    """Multiplications of every Conv2D of ``model`` computed for all output pixels at once."""
    import tensorflow as tf

    total = 0
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            pixels = int(np.prod(layer.output_shape[1:-1]))
            total += pixels * int(np.prod(layer.kernel.shape))
    return total


def has_convolution(model: Any) -> bool:
    """Whether ``model`` has a convolution (a CNN: its own L1 budget and hls4ml conventions)."""
    import tensorflow as tf

    return any(isinstance(layer, (tf.keras.layers.Conv1D, tf.keras.layers.Conv2D)) for layer in model.layers)


def io_type_for(qmodel: Any, fw: FirmwareConfig) -> str:
    """The hls4ml IO type of ``qmodel``: ``fw.io_type``, except io_stream for a CNN too large to unroll.

    A Level-1 trigger takes an event every 25 ns (II <= 5 cycles at 5 ns): only io_parallel, with
    every output pixel of a convolution computed at once (``unroll_convolutions``: II 1), meets
    that; io_stream reads a CNN's input one pixel per cycle (II about the pixel count, 400 for a
    20x20 image). So a convolutional graph follows ``fw.io_type`` like a dense one while its
    convolutions unroll into at most ``MAX_UNROLLED_CONV_MULTIPLICATIONS`` products (the compact
    CICADA-like NuRD CNN), and goes io_stream beyond that: larger CNNs stay buildable, at the
    stream's interval.
    """
    if fw.io_type == "io_parallel" and conv_multiplications(qmodel) > MAX_UNROLLED_CONV_MULTIPLICATIONS:
        return "io_stream"
    return fw.io_type


def unroll_convolutions(model: Any, config: dict[str, Any]) -> None:
    """Set every Conv2D's hls4ml ``ParallelizationFactor`` to its output pixel count (io_parallel).

    hls4ml's io_parallel convolution computes ``ParallelizationFactor`` output pixels per step in
    n_partitions = pixels / factor steps, pipelined at the reuse factor; its default of 1 gives an
    interval of pixels x reuse factor. All pixels at once (n_partitions 1): the reuse factor (II 1 at RF 1).
    """
    import tensorflow as tf

    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D) and layer.name in config["LayerName"]:
            pixels = int(np.prod(layer.output_shape[1:-1]))
            config["LayerName"][layer.name]["ParallelizationFactor"] = pixels


# QKeras quantizers whose weights hls4ml stores XNOR-encoded (0/1 for -1/+1): hls4ml 1.3's distributed-arithmetic
# Dense reads them as 0/1, so csim differs from QKeras (measured on a binary QDense); such layers keep Latency.
XNOR_QUANTIZERS = ("binary", "stochastic_binary")


def binary_weight_layers(model: Any) -> list[str]:
    """Names of the layers whose kernel quantizer is binary (hls4ml's XNOR weights)."""
    return [
        layer.name
        for layer in model.layers
        if type(getattr(layer, "kernel_quantizer_internal", None)).__name__ in XNOR_QUANTIZERS
    ]


def base_config(
    model: Any, fw: FirmwareConfig, fallback: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """hls4ml's per-layer config of ``model`` with the firmware section's backend, strategy and reuse
    factor; every precision is then set explicitly by the caller (never hls4ml's ``auto``).

    Under distributed arithmetic a layer too large for da4ml (``oversized_da_layers``) is refused before
    any work, or, with ``fallback`` (bring-your-own models), built with the Latency strategy on its own
    and said to ``fallback`` in one line.
    """
    oversized = oversized_da_layers(model) if fw.strategy == "distributed_arithmetic" else {}
    if oversized and fallback is None:
        require_da_buildable(model)  # before any work: one line instead of minutes and gigabytes
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(
        model,
        granularity="name",
        backend=fw.backend,
        default_precision=DEFAULT_PRECISION,
        default_reuse_factor=fw.reuse_factor,
    )
    config["Model"]["Strategy"] = fw.strategy
    if fw.strategy == "distributed_arithmetic":
        for name in binary_weight_layers(model):
            config["LayerName"][name]["Strategy"] = "Latency"
        for name, why in oversized.items():
            config["LayerName"][name]["Strategy"] = "Latency"
            fallback(f"layer '{name}' built with the Latency strategy: {why}")
    if io_type_for(model, fw) == "io_parallel":
        unroll_convolutions(model, config)
    return config


def quantizer_config(
    qmodel: Any,
    fw: FirmwareConfig,
    profile_inputs: np.ndarray,
    fallback: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The hls4ml config of ``qmodel`` with every precision from ``plan_precisions`` (``fallback``: see
    ``base_config``).

    Raises ``ValueError`` naming the layer when a layer has no exact mapping to the quantizers' types.
    """
    config = base_config(qmodel, fw, fallback)
    plan = plan_precisions(qmodel, profile_inputs, fw.headroom_bits)
    for name, layer_config in config["LayerName"].items():
        if name not in plan:
            raise ValueError(f"hls4ml layer '{name}' has no planned precision")
        layer_config["Precision"].update(plan[name])
        layer_config["Trace"] = True  # lets csim.saturation_events read every layer (no cost in synthesis)
        layer_config["ReuseFactor"] = fw.reuse_factor
        unset = [k for k, v in layer_config["Precision"].items() if v == "auto"]
        if unset:
            raise ValueError(f"hls4ml layer '{name}' left with automatic precision for {unset}")
    return config


def convert(
    qmodel: Any,
    output_dir: str | Path,
    fw: FirmwareConfig,
    profile_inputs: np.ndarray,
    project_name: str,
    testbench: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Convert ``qmodel`` to an hls4ml model and write the complete HLS project to ``output_dir``.

    ``profile_inputs`` (input-quantized background and signal) fix the integer bits of the
    unquantized tensors; ``testbench`` (inputs, expected scores) is written as the project's
    ``tb_data`` so Vitis csim/cosim can run on another machine.
    """
    config = quantizer_config(qmodel, fw, profile_inputs)
    return write_project(qmodel, config, Path(output_dir), fw, project_name, testbench)


# Distributed arithmetic: da4ml solves each Dense/Conv kernel as an adder graph, in time and memory that
# grow with size = inputs x non-zero constants x their bits (``da_kernel_sizes``). Measured here (da4ml
# 0.5.2, one core, random 6-bit weights = 7 bits with sign, 8-bit inputs): 32x32 (size 229k) 2.3 s,
# 64x32 (917k) 7.7 s, 64x64 (1.8M) 25 s and 0.8 GB, 64x64 at 8 bits (2.4M) 74 s and 1.2 GB, 128x32
# (3.7M) 208 s; a 128x128 8-bit layer (19M) ran past 9 min and 12 GB (issue 15). Above this size a
# layer is refused before conversion.
DA_MAX_KERNEL_SIZE = 2_500_000  # about 1-2 min and 1.2 GB for one layer


def grid_exponents(values: np.ndarray) -> tuple[int, int] | None:
    """(e, g) of the non-zero ``values``: every |v| < 2^e and every v a multiple of 2^g; None for all zeros."""
    v = np.abs(np.asarray(values, dtype=np.float64).ravel())
    v = v[v > 0]
    if not v.size:
        return None
    mantissa, exponent = np.frexp(v)  # v = mantissa x 2^exponent, mantissa in [0.5, 1)
    m = np.ldexp(mantissa, 53).astype(np.int64)
    lowest = np.log2(m & -m).astype(np.int64)  # the lowest set bit of each 53-bit mantissa
    return int(exponent.max()), int((exponent - 53 + lowest).min())


def constant_format(values: np.ndarray) -> FixedFormat:
    """The narrowest signed type holding every one of ``values`` exactly (their grid, their range)."""
    exponents = grid_exponents(values)
    frac = 0 if exponents is None else max(0, -exponents[1])
    v = np.asarray(values, dtype=np.float64)
    return _sized(float(v.min(initial=0.0)), float(v.max(initial=0.0)), frac)


def constant_bits(values: np.ndarray) -> int:
    """Bits of the signed integers that hold ``values`` on their finest power-of-two grid (0 for all zeros).

    Quantized weights sit on their quantizer's grid (a few bits); float weights need about 24.
    """
    exponents = grid_exponents(values)
    return 0 if exponents is None else exponents[0] - exponents[1] + 1  # magnitude bits + sign


def da_kernel_sizes(model: Any) -> dict[str, dict[str, int]]:
    """Per Dense/Conv layer of ``model``, what da4ml's solve time grows with: kernel inputs, non-zero
    constants, their bits (``constant_bits``) and size = the product of the three."""
    import tensorflow as tf

    sizes = {}
    for layer in model.layers:
        if isinstance(layer, (tf.keras.layers.Dense, tf.keras.layers.Conv1D, tf.keras.layers.Conv2D)):
            kernel = layer.get_weights()[0]
            quantizer = getattr(layer, "kernel_quantizer_internal", None)
            if quantizer is not None:
                kernel = np.asarray(quantizer(kernel))
            kernel = kernel.reshape(-1, kernel.shape[-1])
            n_in, nonzero, bits = kernel.shape[0], int(np.count_nonzero(kernel)), constant_bits(kernel)
            sizes[layer.name] = {
                "inputs": n_in,
                "nonzero": nonzero,
                "bits": bits,
                "size": n_in * nonzero * bits,
            }
    return sizes


def oversized_da_layers(model: Any) -> dict[str, str]:
    """Each Dense/Conv layer whose distributed-arithmetic kernel would not solve here, with why in one phrase."""
    return {
        name: (
            f"distributed arithmetic of {k['inputs']} inputs x {k['nonzero']} non-zero {k['bits']}-bit constants "
            f"(size {k['size']:,}) exceeds the {DA_MAX_KERNEL_SIZE:,} da4ml solves here in about 2 min and 1.2 GB"
        )
        for name, k in da_kernel_sizes(model).items()
        if k["size"] > DA_MAX_KERNEL_SIZE
    }


def require_da_buildable(model: Any) -> None:
    """Refuse, in one line, a distributed-arithmetic design whose largest kernel would not solve here."""
    for name, why in oversized_da_layers(model).items():
        raise DesignError(
            f"layer '{name}': {why}; use firmware.strategy Latency (--strategy Latency), fewer or narrower "
            "weights, or a smaller layer"
        )


def write_project(
    model: Any,
    hls_config: dict[str, Any],
    output_dir: str | Path,
    fw: FirmwareConfig,
    project_name: str,
    testbench: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Convert ``model`` with ``hls_config`` and write the complete HLS project to ``output_dir``.

    Backend, part and clock come from ``fw``, the IO type from ``io_type_for``; ``testbench``
    (inputs, expected scores) becomes the project's ``tb_data`` so vendor csim/cosim can run on
    another machine. Shared by the QKeras path (``convert``) and HGQ's proxies.
    """
    import hls4ml

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tb_paths: dict[str, str | None] = {"input_data_tb": None, "output_data_tb": None}
    if testbench is not None:
        tb_inputs, tb_outputs = (np.asarray(a, dtype=np.float64) for a in testbench)
        if len(tb_inputs) != len(tb_outputs):
            raise ValueError(f"testbench has {len(tb_inputs)} inputs but {len(tb_outputs)} outputs")
        # hls4ml copies these into tb_data/ on every write (compile rewrites the project too)
        source = output_dir / "testbench"
        source.mkdir(exist_ok=True)
        tb_paths["input_data_tb"] = _write_dat(source / "tb_input_features.dat", tb_inputs)
        tb_paths["output_data_tb"] = _write_dat(source / "tb_output_predictions.dat", tb_outputs)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model,
        output_dir=str(output_dir),
        project_name=project_name,
        backend=fw.backend,
        hls_config=hls_config,
        part=fw.part,
        clock_period=fw.clock_period_ns,
        io_type=io_type_for(model, fw),
        **tb_paths,
    )
    # read by the l1ad estimate (firmware/resources.py) and written into the project's hls4ml_config.yml
    hls_model.config.config[USE_DSP_KEY] = fw.use_dsp
    # hls4ml rewrites the whole project on every write (compile writes too): patch it after each one
    write = hls_model.write

    def write_and_patch() -> None:
        write()
        guard_rounding_bit_read(output_dir)
        if not fw.use_dsp and fw.backend == "Vitis":
            bind_multipliers_to_fabric(output_dir)

    hls_model.write = write_and_patch
    hls_model.write()
    return hls_model


# ap_fixed_base.h (the ap_types hls4ml copies into a project), converting to a type with fewer fractional
# bits: it reads the bit below the new LSB before checking that the source has such a bit, and asserts.
# da4ml types a constant DA output (a kernel column rounded to zeros: its bias alone) in its own narrowest
# type, e.g. ap_ufixed<1,-3> = 0.0625, whose cast into a coarser output type then aborts the C simulation,
# and with it the Python process. The next line never uses the bit in that case: the guard only skips
# the read, every result stays the same (checked against the testbench with assertions off).
ROUNDING_BIT_READ = "bool qbit = _AP_ROOT_op_get_bit(op.V, F2 - _AP_F - 1);"
GUARDED_ROUNDING_BIT_READ = (
    "bool qbit = (F2 - _AP_F - 1 < _AP_W2) && _AP_ROOT_op_get_bit(op.V, F2 - _AP_F - 1);"
)


def guard_rounding_bit_read(project: Path) -> None:
    """Put the guard of ``GUARDED_ROUNDING_BIT_READ`` into the project's ``ap_fixed_base.h``."""
    header = Path(project) / "firmware" / "ap_types" / "ap_fixed_base.h"
    text = header.read_text()
    if GUARDED_ROUNDING_BIT_READ in text:
        return
    if text.count(ROUNDING_BIT_READ) != 1:
        raise DesignError(f"{header}: the rounding-bit read to guard is not there once (ap_types changed)")
    with atomic_path(header) as tmp:
        tmp.write_text(text.replace(ROUNDING_BIT_READ, GUARDED_ROUNDING_BIT_READ))


FABRIC_MULTIPLIERS = "config_op mul -impl fabric"  # Vitis HLS (UG1399 config_op): every multiplier in LUTs


def bind_multipliers_to_fabric(project: Path) -> None:
    """Add Vitis HLS's ``config_op mul -impl fabric`` to the project's ``build_prj.tcl`` after its clock,
    so vendor synthesis builds every product of two variables in LUTs (``firmware.use_dsp: false``)."""
    tcl = Path(project) / "build_prj.tcl"
    lines = tcl.read_text().splitlines(keepends=True)
    if any(line.strip() == FABRIC_MULTIPLIERS for line in lines):
        return
    at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("create_clock")), None)
    if at is None:
        raise DesignError(f"{tcl}: no create_clock line to bind multipliers after (hls4ml's script changed)")
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f"{indent}{FABRIC_MULTIPLIERS}\n")
    with atomic_path(tcl) as tmp:
        tmp.write_text("".join(lines))


def _write_dat(path: Path, data: np.ndarray) -> str:
    """hls4ml's testbench text format: one event per line, space-separated, full float64 precision."""
    rows = data.reshape(len(data), -1)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(" ".join(f"{v:.17g}" for v in row) + " \n" for row in rows))
    return str(path)


def precision_cpp(precision: Any) -> str:
    """An hls4ml precision as its C++ type, e.g. ``ap_fixed<16,7,AP_RND_CONV,AP_SAT,0>``."""
    from hls4ml.backends.fpga.fpga_types import APTypeConverter

    return APTypeConverter().convert(precision).definition_cpp()


def layer_precisions(hls_model: Any) -> dict[str, str]:
    """Output type of every layer of the converted graph, as C++ (e.g. ``ap_fixed<16,7,AP_RND_CONV,AP_SAT>``)."""
    return {
        layer.name: precision_cpp(layer.get_output_variable().type.precision)
        for layer in hls_model.get_layers()
    }


def output_lsb(hls_model: Any) -> float:
    """The LSB of the score's fixed-point type (the unit of csim-vs-QKeras agreement)."""
    precision = hls_model.get_output_variables()[0].type.precision
    return math.ldexp(1.0, -(precision.width - precision.integer))
