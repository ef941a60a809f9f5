"""Latency and resource estimates of a converted hls4ml model, on any machine (no vendor tool needed).

A documented first-order model of what Vivado/Vitis HLS builds from hls4ml's templates, read from the
converted graph (its weights and fixed-point types); calibrated on published syntheses. Every figure is
an estimate (``source: "estimate"``), never a synthesis result.

The model, per layer (io_parallel; io_stream and the Resource strategy are noted where they differ):

* Multiplications by constants. With the Latency strategy at reuse factor 1 every weight is a constant
  wired into its own multiplier, and HLS propagates constants: a weight that is 0 in its fixed-point
  type removes the product, a power of two (+-2^k) turns it into wiring (a shift). Only the rest are
  multipliers. With a reuse factor > 1 a multiplier is shared by several weights and nothing is removed.
* DSP or fabric. A remaining product goes to a DSP48E2 (a 27x18 signed multiplier; wider products take
  ``ceil(a/27) * ceil(b/18)`` of them) when its operands' declared widths sum to at least
  ``DSP_MIN_OPERAND_BITS``; narrower products are built in LUTs, as hls4ml's users observe (DSP use
  falls to zero below about 10-bit operands, Duarte et al., JINST 13 (2018) P07027). Fabric multipliers
  cost ``LUT_PER_PRODUCT_BIT`` LUTs per partial-product bit (hls4ml issue #99 measured about 411 LUTs
  for an 18x18 LUT multiplier: 1.27 per bit).
* Adder trees. Each output sums its non-zero products (and a non-zero bias) in the accumulator type:
  one ``accum``-wide adder per extra term, ``LUT_PER_ADDER_BIT`` LUTs per bit (one LUT6 per bit
  beside the CARRY8 chain, UG574), ``ceil(log2(terms))`` adder levels deep.
* Latency. HLS chains operations within a clock cycle, so the delays of the layers add up and the
  total is cut into cycles of the clock period less HLS's clock uncertainty (hls4ml's default: 27% for
  Vitis, 12.5% for Vivado). Delays: ``T_DSP_MULT_NS`` for a DSP product, ``T_ADD_NS`` per adder level
  (a fabric product is a tree of ``ceil(log2(bits))`` adder levels), ``T_CMP_NS`` for a compare and
  select (ReLU, max), ``T_ROM_NS`` for a table lookup. A reuse factor R adds R - 1 cycles per layer
  and sets the initiation interval (II) to R; in io_stream each layer reads its input one stream beat
  (pixel) per cycle, which sets the II and adds the largest beat count to the latency.
* Memory. Lookup tables (softmax, sigmoid, ...) use one ROM per parallel lookup, in BRAM18 when larger
  than ``ROM_MAX_LUT_BITS`` (else LUTs); Resource-strategy weights are stored in BRAM18 (36-bit wide,
  512 deep); io_stream FIFOs go to BRAM18 when larger than ``ROM_MAX_LUT_BITS``, else to shift-register
  LUTs.
* Registers (FF) are the pipeline registers: each layer's output bits times the clock cycles its delay
  spans. No published FF figure calibrates this term.
* Distributed arithmetic (hls4ml's ``distributed_arithmetic`` strategy, da4ml). A Dense or Conv kernel
  becomes da4ml's adder graph of shifts and additions: no multiplier, no DSP. Its LUTs are da4ml's own
  cost of the graph (``da_kernel_cost``, about one LUT per adder bit; one 57x32 layer: da4ml 33,457,
  Yosys ``synth_xilinx`` 33,853 LUT), its delay the graph's adder levels (the latency da4ml writes
  beside each operation) times ``T_ADD_NS``. Such layers are marked ``source: "da4ml"`` and the model's
  ``source`` becomes ``"estimate+da4ml"``.
* BOPs per layer: bits_weight x bits_input x non-zero multiplications (all non-zero weights, as in the
  QKeras/HGQ literature); EBOPs-like: the same with each constant's effective width (the bits from its
  highest to lowest set bit), the quantity HGQ (arXiv 2405.00645) finds tracking LUT + 55 x DSP.

Calibration (``tests/test_resources.py``, models rebuilt with random weights, converted with the Vitis
backend): the hls4ml jet tagger 16-64-32-32-5 at ap_fixed<16,6> (published: 13 cycles, 3915 DSP, 88k
LUT) and its 6-bit QKeras version, 75% pruned (15 cycles, 221 DSP, 90k LUT), both Latency, RF 1,
200 MHz, xcvu9p. No constant was fitted: with the a-priori values below the estimate gives 14 cycles
(+8%), 4117 DSP (+5%), 68k LUT (-23%) and 13 cycles (-13%), 180 DSP (-19%), 24k LUT (-73%). The 6-bit
DSP count depends on the random weights (with the glorot_uniform initialiser of the hls4ml tutorial
instead of QDense's he_normal: 134 DSP, -39%); its published LUT count is not explained by this model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from l1ad.parts import PART_CAPACITY, part_capacity  # device capacities (BRAM in 18 Kb blocks)

# ---- the model's constants: one set for every model (calibrated as described above) ----
USE_DSP_KEY = (
    "L1adUseDSP"  # the top-level hls4ml config key firmware.hls.write_project sets: firmware.use_dsp
)
DSP_MIN_OPERAND_BITS = 20  # product on a DSP when width(a) + width(b) >= this (about 10 x 10 bits)
DSP_A_BITS, DSP_B_BITS = 27, 18  # DSP48E2 signed multiplier (UG579)
LUT_PER_ADDER_BIT = 1.0  # UltraScale CLB: one LUT6 per bit of a carry-chain adder (UG574)
LUT_PER_PRODUCT_BIT = 1.27  # fabric multiplier, per partial-product bit (hls4ml issue #99: 411 LUT / 18x18)
LUT_PER_MUX_BIT = 1.0  # compare-and-select (ReLU, max pooling): one LUT per output bit
T_ADD_NS = 1.0  # one adder level: carry chain plus routing, UltraScale+ -2 speed grade
T_DSP_MULT_NS = 3.0  # a DSP48E2 product without its internal pipeline registers, plus routing
T_CMP_NS = 1.0  # compare and select
T_ROM_NS = 2.0  # table lookup (address decode and ROM read)
ROM_MAX_LUT_BITS = 1024  # a memory (table, FIFO) larger than this goes to BRAM18
BRAM18_BITS = 18 * 1024
# ``source`` of an estimate in which distributed-arithmetic layers take da4ml's cost (the rest: this model)
ESTIMATE_WITH_DA = "estimate+da4ml"
DEFAULT_UNCERTAINTY = {"vitis": 0.27, "vivado": 0.125}  # hls4ml's ClockUncertainty defaults


@dataclass
class LayerEstimate:
    """Estimated cost of one hls4ml layer (every figure an estimate)."""

    class_name: str
    multiplications: int = 0  # products in the arithmetic, before constants are removed
    nonzero_multiplications: int = 0  # products by a non-zero weight
    multipliers: int = 0  # multipliers left after zeros and powers of two are removed
    dsp_multipliers: int = 0
    fabric_multipliers: int = 0
    bits_weight: int | None = None
    bits_input: int | None = None
    accum_bits: int | None = None
    reuse_factor: int = 1
    strategy: str = ""
    parameters: int = 0
    dsp: int = 0
    lut: float = 0.0
    ff: float = 0.0
    bram: int = 0
    delay_ns: float = 0.0  # combinational delay chained into the pipeline
    extra_cycles: int = 0  # cycles beyond the chained delay (reuse factor, parallel-conv partitions)
    stream_beats: int = 0  # io_stream transactions per inference
    interval: int = 1  # cycles between two inferences this layer can accept (its II)
    output_bits: int = 0  # bits of the layer's output tensor (what a pipeline register holds)
    source: str = "estimate"  # "da4ml": LUT and delay from da4ml's adder graph (distributed arithmetic)
    use_dsp: bool = True  # firmware.use_dsp: false puts every multiplier in LUTs
    bops: int = 0
    ebops: int = 0
    notes: list[str] = field(default_factory=list)


def _width(precision: Any) -> int | None:
    width = getattr(precision, "width", None)
    return int(width) if width is not None else None


def _fixed_integers(data: np.ndarray, precision: Any) -> np.ndarray | None:
    """Weights as integer multiples of their type's LSB, as the C++ constant holds them.

    hls4ml writes the float value; the ap type's constructor quantises it (truncation unless a
    rounding mode is set) and wraps or saturates it. None for non-fixed types (exponent, binary).
    """
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if not isinstance(precision, (FixedPrecisionType, IntegerPrecisionType)):
        return None
    width, integer, signed = int(precision.width), int(precision.integer), bool(precision.signed)
    scaled = np.asarray(data, dtype=np.float64) * 2.0 ** (width - integer)
    rounding = str(getattr(precision, "rounding_mode", None) or "TRN")
    k = np.rint(scaled) if rounding.startswith("RND") else np.floor(scaled)
    lo, hi = (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2**width - 1)
    if "SAT" in str(getattr(precision, "saturation_mode", None) or "WRAP"):
        k = np.clip(k, lo, hi)
    else:
        k = np.mod(k - lo, 2**width) + lo
    return k.astype(np.int64)


def _effective_bits(k: np.ndarray) -> np.ndarray:
    """Bits from the highest to the lowest set bit of |k| (0 for k = 0): the constant's real width."""
    a = np.abs(k)
    odd = a // np.where(a > 0, a & -a, 1)  # strip trailing zeros (a shift, free in hardware)
    return np.where(odd > 0, np.floor(np.log2(np.maximum(odd, 1))).astype(np.int64) + 1, 0)


def _dsp_per_product(a_bits: int, b_bits: int) -> int:
    """DSP48E2 blocks for one a x b product, operands oriented to use the fewest."""
    return min(
        math.ceil(a_bits / DSP_A_BITS) * math.ceil(b_bits / DSP_B_BITS),
        math.ceil(b_bits / DSP_A_BITS) * math.ceil(a_bits / DSP_B_BITS),
    )


def _is_dsp(est: LayerEstimate, a_bits: int, b_bits: int) -> bool:
    """Whether an a x b product goes on a DSP48: wide enough, and DSPs allowed (``firmware.use_dsp``)."""
    return est.use_dsp and a_bits + b_bits >= DSP_MIN_OPERAND_BITS


def _fabric_mult_delay(bits: int) -> float:
    return math.ceil(math.log2(max(bits, 2))) * T_ADD_NS


def _adder_levels(terms: int) -> int:
    return math.ceil(math.log2(terms)) if terms > 1 else 0


def _as_in_out(data: np.ndarray, n_out: int) -> np.ndarray:
    """Weights as (inputs, outputs): hls4ml stores them transposed for the Resource strategy."""
    data = np.asarray(data, dtype=np.float64)
    if data.shape[-1] != n_out and data.shape[0] == n_out:
        return data.reshape(n_out, -1).T
    return data.reshape(-1, n_out)


def _constant_matmul(
    est: LayerEstimate,
    weights: np.ndarray,
    weight_precision: Any,
    bias: np.ndarray | None,
    bias_precision: Any,
    input_bits: int,
    accum_bits: int,
    copies: int,
) -> None:
    """Products of inputs with constant ``weights`` (n_in, n_out) summed per output, ``copies`` times in parallel.

    Fills multipliers, DSP/LUT, BOPs and the delay of the multiply-and-add-tree datapath.
    """
    w = weights
    k = _fixed_integers(w, weight_precision)
    w_bits = _width(weight_precision)
    est.bits_weight, est.bits_input, est.accum_bits = w_bits, input_bits, accum_bits
    est.multiplications = int(w.size) * copies
    if k is None:  # exponent (power-of-two) or binary/ternary weights: shifts and sign flips only
        nonzero = w != 0
        general = np.zeros_like(nonzero)
        eff = np.where(nonzero, 1, 0)
        est.notes.append(f"weights of type {weight_precision} need no multiplier")
        w_bits = w_bits or 1
    else:
        nonzero = k != 0
        a = np.abs(k)
        power_of_two = nonzero & ((a & (a - 1)) == 0)
        general = nonzero & ~power_of_two
        eff = _effective_bits(k)
    shared = est.reuse_factor > 1
    if shared:  # one multiplier serves several weights: no constant to propagate
        n_mult = math.ceil(int(w.size) / est.reuse_factor)
        general_count = n_mult
        est.notes.append(f"reuse factor {est.reuse_factor}: multipliers shared, no zero/power-of-two removal")
    else:
        general_count = int(general.sum())
    est.nonzero_multiplications = int(nonzero.sum()) * copies
    est.multipliers = general_count * copies
    if _is_dsp(est, input_bits, w_bits):
        est.dsp_multipliers = est.multipliers
        est.dsp = est.multipliers * _dsp_per_product(input_bits, w_bits)
        mult_delay = T_DSP_MULT_NS
    else:
        est.fabric_multipliers = est.multipliers
        if shared:
            est.lut += est.multipliers * input_bits * w_bits * LUT_PER_PRODUCT_BIT
        else:
            est.lut += float(eff[general].sum()) * input_bits * LUT_PER_PRODUCT_BIT * copies
        mult_delay = _fabric_mult_delay(w_bits)
    has_bias = np.zeros(w.shape[1], dtype=bool)
    if bias is not None:
        kb = _fixed_integers(np.asarray(bias, dtype=np.float64).reshape(-1), bias_precision)
        has_bias = (kb != 0) if kb is not None else np.asarray(bias).reshape(-1) != 0
    terms = nonzero.sum(axis=0) + has_bias
    est.lut += float(np.maximum(terms - 1, 0).sum()) * accum_bits * LUT_PER_ADDER_BIT * copies
    any_general = general_count > 0
    est.delay_ns = (mult_delay if any_general else 0.0) + _adder_levels(int(terms.max(initial=0))) * T_ADD_NS
    est.bops = int(nonzero.sum()) * w_bits * input_bits * copies
    est.ebops = int(eff[nonzero].sum()) * input_bits * copies


def _prod(shape: Any) -> int:
    return int(np.prod([int(s) for s in shape])) if shape else 1


def _stream_beats(variable: Any) -> int:
    shape = list(variable.shape)
    return _prod(shape[:-1]) if len(shape) > 1 else 1


def _rom_cost(est: LayerEstimate, entries: int, bits: int, copies: int) -> None:
    size = entries * bits
    if size > ROM_MAX_LUT_BITS:
        est.bram += copies * math.ceil(size / BRAM18_BITS)
    else:
        est.lut += copies * size / 64  # a LUT6 holds 64 bits of ROM


def _da_depth(layer: Any) -> float:
    """Adder levels of a DA kernel: the largest latency da4ml writes beside each operation (``// 3.0``)."""
    code = layer.get_attr("da_codegen").code
    return max((float(v) for v in re.findall(r"//\s*(\d+(?:\.\d+)?)\s*$", code, flags=re.M)), default=0.0)


def _da_weights(layer: Any, keras_model: Any) -> tuple[np.ndarray, Any, np.ndarray | None, Any]:
    """A DA layer's kernel (as the constants on chip), bias and their hls4ml types, from the Keras model.

    hls4ml's DA pass moves the constants into da4ml's adder graph and drops them from the layer, so
    they are read back from the converted Keras layer of the same name (QKeras: through its quantizers).
    """
    from hls4ml.model.types import FixedPrecisionType

    source = keras_model.get_layer(layer.name)
    kernel, *rest = source.get_weights()
    bias = rest[0] if rest else None
    types = []
    for role, value in (("weight", kernel), ("bias", bias)):
        quantizer = layer.get_attr(f"{role}_quantizer")
        internal = getattr(source, f"{'kernel' if role == 'weight' else 'bias'}_quantizer_internal", None)
        if quantizer is not None and internal is not None and value is not None:
            types.append(quantizer.hls_type)
            if role == "weight":
                kernel = np.asarray(internal(kernel), dtype=np.float64)
            else:
                bias = np.asarray(internal(bias), dtype=np.float64)
        else:  # an unquantized constant (the frozen all-ones sum): a type that holds it exactly
            types.append(FixedPrecisionType(width=32, integer=16, signed=True))
    return kernel, types[0], bias, types[1]


def _distributed_arithmetic(
    est: LayerEstimate, layer: Any, keras_model: Any, copies: int, n_out: int
) -> None:
    """A Dense or Conv kernel built by da4ml: LUTs from da4ml's adder-graph cost, no DSP, adder-tree delay.

    da4ml's cost counts the adders' bits (about one LUT each; issue #15 measured 33,457 against
    Yosys' 33,853 LUT for one 57x32 layer). Multiplications and BOPs still count the constants.
    """
    kernel, w_type, bias, b_type = _da_weights(layer, keras_model)
    in_bits = _width(layer.get_input_variable().type.precision) or 0
    _constant_matmul(est, _as_in_out(kernel, n_out), w_type, bias, b_type, in_bits, 0, copies=copies)
    est.dsp = est.dsp_multipliers = est.fabric_multipliers = est.multipliers = 0
    est.lut = float(layer.get_attr("da_kernel_cost")) * copies
    est.delay_ns = _da_depth(layer) * T_ADD_NS
    est.parameters = int(kernel.size + (0 if bias is None else bias.size))
    est.source = "da4ml"


def _output_bits(layer: Any) -> int:
    return _width(layer.get_output_variable().type.precision) or 0


def _accum_bits(layer: Any) -> int:
    accum = layer.get_attr("accum_t")
    return _width(accum.precision) if accum is not None else _output_bits(layer)


def _wiring(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    pass  # wiring (io_parallel) or copies of a stream


def _da_layer(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    if keras_model is None:
        raise ValueError(f"layer '{layer.name}' is distributed arithmetic: its Keras model is needed")
    out = layer.get_output_variable()
    n_out = int(layer.get_attr("n_filt", 0) or layer.get_attr("n_out"))
    copies = 1
    if layer.class_name != "Dense" and io_type == "io_parallel":
        pixels = _prod(out.shape[:-1])
        partitions = int(layer.get_attr("n_partitions", pixels) or pixels)
        copies = max(pixels // partitions, 1)
        est.extra_cycles, est.interval = partitions - 1, partitions
    elif layer.class_name != "Dense":
        est.stream_beats = _stream_beats(layer.get_input_variable())
    _distributed_arithmetic(est, layer, keras_model, copies, n_out)


def _dense(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    rf = est.reuse_factor
    in_bits = _width(layer.get_input_variable().type.precision)
    weight, bias = layer.weights["weight"], layer.weights.get("bias")
    _constant_matmul(
        est,
        _as_in_out(weight.data, int(layer.get_attr("n_out"))),
        weight.type.precision,
        None if bias is None else bias.data,
        None if bias is None else bias.type.precision,
        in_bits,
        _accum_bits(layer),
        copies=1,
    )
    est.extra_cycles = rf - 1
    if est.strategy.lower() == "resource" and rf > 1:
        n_in, n_outs = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
        block = math.ceil(n_in * n_outs / rf)
        w_bits = _width(weight.type.precision) or 1
        # hls4ml reshapes the weights into one memory, RF deep and block x bits wide
        est.bram += math.ceil(block * w_bits / 36) * math.ceil(rf / 512)


def _convolution(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    rf = est.reuse_factor
    in_bits = _width(layer.get_input_variable().type.precision)
    weight, bias = layer.weights["weight"], layer.weights.get("bias")
    kernel = _as_in_out(weight.data, int(layer.get_attr("n_filt")))  # (filter x channels, filters)
    out_pixels = _prod(layer.get_output_variable().shape[:-1])
    if io_type == "io_stream":
        copies = 1  # one kernel instance, fed one pixel per beat
        est.stream_beats = _stream_beats(layer.get_input_variable())
    else:
        partitions = int(layer.get_attr("n_partitions", out_pixels) or out_pixels)
        copies = max(out_pixels // partitions, 1)
        est.extra_cycles = partitions * rf - 1
        est.interval = partitions * rf
    _constant_matmul(
        est,
        kernel,
        weight.type.precision,
        None if bias is None else bias.data,
        None if bias is None else bias.type.precision,
        in_bits,
        _accum_bits(layer),
        copies=copies,
    )
    est.multiplications = int(kernel.size) * out_pixels
    est.nonzero_multiplications = est.nonzero_multiplications // copies * out_pixels
    est.bops = est.bops // copies * out_pixels
    est.ebops = est.ebops // copies * out_pixels


def _batch_normalization(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    in_bits = _width(layer.get_input_variable().type.precision)
    scale, bias = layer.weights["scale"], layer.weights.get("bias")
    n = int(np.size(scale.data))
    copies = 1 if io_type == "io_stream" else max(_prod(layer.get_output_variable().shape) // n, 1)
    # a per-channel scale: a diagonal matrix, one product and one bias add per element
    diag = np.diag(np.asarray(scale.data, dtype=np.float64).reshape(-1))
    _constant_matmul(
        est,
        diag,
        scale.type.precision,
        None if bias is None else bias.data,
        None if bias is None else bias.type.precision,
        in_bits,
        _output_bits(layer),
        copies=copies,
    )
    est.multiplications = est.nonzero_multiplications = n * copies  # not n^2: diagonal


def _activation(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    out_bits = _output_bits(layer)
    n = _prod(layer.get_input_variable().shape)
    act = str(layer.get_attr("activation", "")).lower()
    if act in ("relu", "leakyrelu", "linear", "relu6", "hard_sigmoid", "hard_tanh", "binary_tanh"):
        est.lut = n * out_bits * LUT_PER_MUX_BIT
        est.delay_ns = T_CMP_NS if act != "linear" else 0.0
    else:  # sigmoid, tanh, ...: one table lookup per element
        table = layer.get_attr("table_t")
        _rom_cost(
            est,
            int(layer.get_attr("table_size", 1024)),
            _width(table.precision) if table is not None else out_bits,
            n,
        )
        est.delay_ns = T_ROM_NS


def _softmax(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    n = int(layer.get_attr("n_in"))
    exp_bits = _width(layer.get_attr("exp_table_t").precision)
    inv_bits = _width(layer.get_attr("inv_table_t").precision)
    _rom_cost(est, int(layer.get_attr("exp_table_size", layer.get_attr("table_size", 1024))), exp_bits, n)
    _rom_cost(est, int(layer.get_attr("inv_table_size", layer.get_attr("table_size", 1024))), inv_bits, 1)
    acc, out_bits = _accum_bits(layer), _output_bits(layer)
    est.lut += (n - 1) * acc * LUT_PER_ADDER_BIT + n * out_bits * LUT_PER_MUX_BIT  # sum; max (stable)
    est.multiplications = est.nonzero_multiplications = est.multipliers = n
    est.bits_weight, est.bits_input = inv_bits, exp_bits
    if _is_dsp(est, exp_bits, inv_bits):
        est.dsp_multipliers, est.dsp = n, n * _dsp_per_product(exp_bits, inv_bits)
        mult_delay = T_DSP_MULT_NS
    else:
        est.fabric_multipliers = n
        est.lut += n * exp_bits * inv_bits * LUT_PER_PRODUCT_BIT
        mult_delay = _fabric_mult_delay(inv_bits)
    # max tree (stable), subtract, exp lookup, sum tree, inverse lookup, product
    est.delay_ns = 2 * _adder_levels(n) * T_ADD_NS + T_ADD_NS + 2 * T_ROM_NS + mult_delay
    est.bops = n * exp_bits * inv_bits
    est.ebops = est.bops


def _merge(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    out_bits = _output_bits(layer)
    op = str(layer.get_attr("op", "")).lower()
    a, b = (layer.get_input_variable(name) for name in layer.inputs[:2])
    a_bits, b_bits = _width(a.type.precision), _width(b.type.precision)
    n = _prod(a.shape)
    if op in ("multiply", "dot"):
        est.multiplications = est.nonzero_multiplications = est.multipliers = n
        est.bits_weight, est.bits_input = b_bits, a_bits
        est.bops = est.ebops = n * a_bits * b_bits
        if _is_dsp(est, a_bits, b_bits):
            est.dsp_multipliers, est.dsp = n, n * _dsp_per_product(a_bits, b_bits)
            est.delay_ns = T_DSP_MULT_NS
        else:
            est.fabric_multipliers = n
            est.lut = n * a_bits * b_bits * LUT_PER_PRODUCT_BIT
            est.delay_ns = _fabric_mult_delay(min(a_bits, b_bits))
        if op == "dot":
            est.lut += (n - 1) * out_bits * LUT_PER_ADDER_BIT
            est.delay_ns += _adder_levels(n) * T_ADD_NS
    elif op in ("add", "subtract", "average"):
        est.lut = n * out_bits * LUT_PER_ADDER_BIT
        est.delay_ns = T_ADD_NS
    elif op in ("maximum", "minimum"):
        est.lut = n * out_bits * LUT_PER_MUX_BIT
        est.delay_ns = T_CMP_NS
    else:
        est.notes.append(f"merge operation '{op}' not modelled: counted as free")


def _pooling(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    inp = layer.get_input_variable()
    n_out_total = _prod(layer.get_output_variable().shape)
    window = max(_prod(inp.shape) // max(n_out_total, 1), 1)
    average = str(layer.get_attr("pool_op", "")).lower() == "average"
    per = LUT_PER_ADDER_BIT if average else LUT_PER_MUX_BIT
    est.lut = n_out_total * (window - 1) * _output_bits(layer) * per
    est.delay_ns = _adder_levels(window) * (T_ADD_NS if average else T_CMP_NS)
    if io_type == "io_stream":
        est.stream_beats = _stream_beats(inp)


def _not_modelled(est: LayerEstimate, layer: Any, io_type: str, keras_model: Any) -> None:
    est.notes.append(f"layer class '{layer.class_name}' not modelled: counted as free")


# How each hls4ml layer class (``layer.class_name``, exactly) is estimated; any other is counted as
# free with a note. A layer built with distributed arithmetic is estimated by ``_da_layer`` whatever its class.
LAYER_ESTIMATORS: dict[str, Callable[[LayerEstimate, Any, str, Any], None]] = {
    **dict.fromkeys(
        ("Input", "Reshape", "Transpose", "ZeroPadding1D", "ZeroPadding2D", "Concatenate", "Clone"), _wiring
    ),
    "Dense": _dense,
    **dict.fromkeys(
        ("Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D", "Conv2DBatchnorm"), _convolution
    ),
    "BatchNormalization": _batch_normalization,
    **dict.fromkeys(("Activation", "ParametrizedActivation", "HardActivation", "PReLU"), _activation),
    "Softmax": _softmax,
    **dict.fromkeys(("Merge", "Dot"), _merge),
    **dict.fromkeys(("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"), _pooling),
}


def _estimate_layer(layer: Any, io_type: str, keras_model: Any = None) -> LayerEstimate:
    cls = layer.class_name
    rf = int(layer.get_attr("reuse_factor", 1) or 1)
    strategy = str(layer.get_attr("strategy", "") or "")
    use_dsp = layer.model.config.get_config_value(USE_DSP_KEY, True) is not False
    est = LayerEstimate(cls, reuse_factor=rf, strategy=strategy, use_dsp=use_dsp)
    out = layer.get_output_variable()
    out_bits = _width(out.type.precision) or 0
    n_out_total = _prod(out.shape)
    est.parameters = int(sum(int(np.size(w.data)) for w in layer.weights.values()))

    wired = LAYER_ESTIMATORS.get(cls) is _wiring
    if not wired and layer.get_attr("da_kernel_cost") is not None:
        estimator = _da_layer
    else:
        estimator = LAYER_ESTIMATORS.get(cls, _not_modelled)
    estimator(est, layer, io_type, keras_model)

    if io_type == "io_stream" and cls not in ("Input",) and not est.stream_beats and layer.inputs:
        est.stream_beats = _stream_beats(layer.get_input_variable())
    if io_type == "io_stream" and cls != "Input":
        # the layer's output FIFO: depth = beats, width = one beat of the output
        depth, width = _stream_beats(out), out_bits * (list(out.shape)[-1] if len(out.shape) else 1)
        if depth * width > ROM_MAX_LUT_BITS:
            est.bram += math.ceil(width / 36) * math.ceil(depth / 512)
        else:
            est.lut += math.ceil(depth / 32) * width  # SRL32 shift registers
    est.output_bits = n_out_total * out_bits
    est.interval = max(est.interval, rf * max(est.stream_beats, 1))
    return est


def _uncertainty(hls_model: Any) -> float:
    value = hls_model.config.get_config_value("ClockUncertainty")
    backend = str(hls_model.config.get_config_value("Backend") or "Vitis").lower()
    if value is None:
        return DEFAULT_UNCERTAINTY.get(backend, 0.27)
    text = str(value).strip()
    return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)


def estimate(hls_model: Any, part: str, clock_period_ns: float) -> dict[str, Any]:
    """Estimated latency, II, DSP, LUT, FF, BRAM and BOPs of a converted hls4ml model, per layer and total.

    Read from the converted graph (weights as their fixed-point constants, operand types, reuse
    factor, strategy, io type), with the model and constants documented in this module; every
    figure is an estimate (``source: "estimate"``). Percentages of ``part`` are given when the
    part is in ``PART_CAPACITY``.
    """
    if not clock_period_ns > 0:
        raise ValueError(f"clock period must be positive, got {clock_period_ns}")
    io_type = str(hls_model.config.get_config_value("IOType") or "io_parallel")
    uncertainty = _uncertainty(hls_model)
    period_eff = clock_period_ns * (1.0 - uncertainty)
    keras_model = hls_model.config.config.get("KerasModel")
    layers = {layer.name: _estimate_layer(layer, io_type, keras_model) for layer in hls_model.get_layers()}

    total_delay = sum(e.delay_ns for e in layers.values())
    chained_cycles = math.ceil(total_delay / period_eff - 1e-9)
    max_beats = max((e.stream_beats for e in layers.values()), default=0)
    latency_cycles = max(chained_cycles + sum(e.extra_cycles for e in layers.values()) + max_beats, 1)
    ii = max((e.interval for e in layers.values()), default=1)

    per_layer: dict[str, Any] = {}
    for name, e in layers.items():
        e.ff = e.output_bits * e.delay_ns / period_eff  # registers where the pipeline cuts this layer
        row = asdict(e)
        row["lut"] = round(e.lut)
        row["ff"] = round(e.ff)
        row["delay_ns"] = round(e.delay_ns, 3)
        per_layer[name] = row
    # the top function registers its inputs and outputs
    io_bits = sum(
        _prod(v.shape) * (_width(v.type.precision) or 0)
        for v in [*hls_model.get_input_variables(), *hls_model.get_output_variables()]
    )
    totals = {
        "dsp": int(sum(e.dsp for e in layers.values())),
        "lut": int(round(sum(e.lut for e in layers.values()))),
        "ff": int(round(sum(e.ff for e in layers.values()) + io_bits)),
        "bram": int(sum(e.bram for e in layers.values())),
    }
    capacity = part_capacity(part)
    notes = [n for name, e in layers.items() for n in (f"{name}: {m}" for m in e.notes)]
    if capacity is None:
        notes.append(f"part '{part}' not in the capacity table ({', '.join(PART_CAPACITY)}): no percentages")
    return {
        "source": ESTIMATE_WITH_DA if any(e.source == "da4ml" for e in layers.values()) else "estimate",
        "part": part,
        "clock_period_ns": float(clock_period_ns),
        "clock_uncertainty": uncertainty,
        "io_type": io_type,
        "latency_cycles": int(latency_cycles),
        "latency_ns": float(latency_cycles * clock_period_ns),
        "ii": int(ii),
        **totals,
        "bops": int(sum(e.bops for e in layers.values())),
        "ebops": int(sum(e.ebops for e in layers.values())),
        "parameters": int(sum(e.parameters for e in layers.values())),
        "multiplications": int(sum(e.multiplications for e in layers.values())),
        "nonzero_multiplications": int(sum(e.nonzero_multiplications for e in layers.values())),
        "multipliers": int(sum(e.multipliers for e in layers.values())),
        "percent_of_part": (
            {k: 100.0 * totals[k] / capacity[k] for k in ("dsp", "lut", "ff", "bram")} if capacity else None
        ),
        "part_capacity": capacity,
        "layers": per_layer,
        "model": model_description(),
        "notes": notes,
    }


def model_description() -> dict[str, Any]:
    """The estimate's model in one JSON-ready record: what it counts and its constants."""
    return {
        "what": (
            "first-order HLS model from the converted hls4ml graph: zero and power-of-two weights "
            "remove products (Latency, RF 1); products with operand widths summing to at least "
            "dsp_min_operand_bits use DSP48E2 blocks, narrower ones LUTs (all LUTs with firmware.use_dsp "
            "false); adder trees in the accumulator "
            "type; chained delays cut by the clock period less its uncertainty; calibrated on the "
            "published hls4ml jet-tagger syntheses"
        ),
        "constants": {
            "dsp_min_operand_bits": DSP_MIN_OPERAND_BITS,
            "lut_per_adder_bit": LUT_PER_ADDER_BIT,
            "lut_per_product_bit": LUT_PER_PRODUCT_BIT,
            "lut_per_mux_bit": LUT_PER_MUX_BIT,
            "t_add_ns": T_ADD_NS,
            "t_dsp_mult_ns": T_DSP_MULT_NS,
            "t_cmp_ns": T_CMP_NS,
            "t_rom_ns": T_ROM_NS,
            "rom_max_lut_bits": ROM_MAX_LUT_BITS,
        },
    }
