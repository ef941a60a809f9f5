"""Fixed-point formats: the one parser of ap_fixed types, their grid, and the integer bits of constants.

Shared by every layer: QKeras twins (``quantize``), hls4ml projects and trigger constants (``firmware``),
the scorers that refit fixed constants (``training.mahalanobis_head``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

# "<layer>" + this: the QActivation after a linear Dense that bounds its output (quantize.qmodels names it,
# training.autoencoder reads the AE latent after it)
OUTPUT_QUANTIZER_SUFFIX = "_quantizer"  # "<dense>_quantizer": the bounded format of a linear Dense


@dataclass(frozen=True)
class FixedFormat:
    """A two's-complement (or unsigned) fixed-point format: ap_[u]fixed<width, integer, rounding, saturation>."""

    signed: bool
    width: int
    integer: int  # includes the sign bit, as in ap_fixed
    rounding: str = ""  # "" = AP_TRN (exact tensors never need rounding)
    saturation: str = ""  # "" = AP_WRAP

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    @property
    def lo(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def hi(self) -> float:
        return 2.0 ** (self.integer - 1 if self.signed else self.integer) - self.lsb

    def __str__(self) -> str:
        modes = [m for m in (self.rounding or ("AP_TRN" if self.saturation else ""), self.saturation) if m]
        inner = ",".join([str(self.width), str(self.integer), *modes])
        return f"ap_{'' if self.signed else 'u'}fixed<{inner}>"


_AP_TYPE = re.compile(r"^\s*ap_(u?)fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*((?:,\s*\w+\s*)*)>\s*$")


def parse_ap_fixed(score_format: str) -> FixedFormat:
    """``ap_fixed<W,I[,Q,O,N]>`` or ``ap_ufixed<...>`` (as in hls4ml's C++ types) -> ``FixedFormat``."""
    match = _AP_TYPE.match(score_format)
    if not match:
        raise ValueError(f"score format '{score_format}' is not an ap_fixed<W,I> or ap_ufixed<W,I> type")
    unsigned, width, integer, modes = match.groups()
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    rounding = mode_list[0] if mode_list and mode_list[0] != "AP_TRN" else ""
    saturation = mode_list[1] if len(mode_list) > 1 and mode_list[1] != "AP_WRAP" else ""
    return FixedFormat(not unsigned, int(width), int(integer), rounding, saturation)


def fixed_type(text: str) -> FixedFormat | None:
    """A fixed-point type string, ``ap_`` optional (hls4ml's ``fixed<6,1,TRN,WRAP,0>``, l1ad's
    ``ap_fixed<16,6,AP_TRN,AP_SAT>``), as a ``FixedFormat``; None for any other type (``int<2>``)."""
    text = text.strip()
    try:
        return parse_ap_fixed(text if text.startswith("ap_") else "ap_" + text)
    except ValueError:
        return None


def check_quantized_bits(role: str, bits: int, integer: int) -> None:
    """``quantized_bits(bits, integer)`` of ``role`` as hls4ml can type it (ValueError otherwise)."""
    # hls4ml maps quantized_bits(b, i) to ap_fixed<b, i+1>; with i > b-1 it would build a
    # plain integer type instead, which silently changes the value grid.
    if not 2 <= bits <= 32 or not 0 <= integer <= bits - 1:
        raise ValueError(
            f"{role}: quantized_bits({bits},{integer}) needs 2 <= bits <= 32 and 0 <= integer <= bits-1"
        )


def constant_integer(values: np.ndarray, bits: int, headroom_bits: int = 1) -> int:
    """Integer bits of ``quantized_bits(bits, integer)`` for fixed constants: from their largest magnitude.

    ``headroom_bits`` extra bits keep the largest constant away from the clipping edge.
    """
    peak = float(np.abs(values).max()) if np.size(values) else 0.0
    integer = max(0, math.ceil(math.log2(peak)) if peak > 0 else 0) + headroom_bits
    if peak >= 2.0**integer:  # a peak exactly at a power of two needs the next bit
        integer += 1
    check_quantized_bits("frozen constants", bits, integer)
    return integer
