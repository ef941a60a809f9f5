"""Config of the quantize stage (``quantize``): the fixed-point formats and QAT of each deployed scorer.
Other formats are ``l1ad scan``'s points (section ``scan``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from l1ad.config.section import Section


@dataclass
class QuantBits(Section):
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
class QATModelConfig(Section):
    """Quantization-aware training of one deployed scorer: its formats and schedule."""

    bits: QuantBits = field(default_factory=QuantBits)
    epochs: int = 5
    learning_rate: float = 3e-4


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
    """QAT formats of the deployed L1 autoencoder: 10-bit inputs (LSB 1/4, range +-128: eta, phi and pT
    in standard deviations), 6-bit weights, and the reconstruction in the inputs' own format. The range
    is the trigger's trade: at +-32 (LSB 1/16) 40% of Ato4l events saturated an input and the firmware
    kept 0.20 of the float efficiency at 1 kHz; the cheapest input format keeping >= 0.9 is this one
    (``l1ad scan --config configs/formats.yaml``, BENCHMARKS.md "Efficiency at the trigger rate"). QAT at
    1e-4: at 3e-4 the leptoquark AUC fell 0.010-0.011 at 6 to 8 bits (the step size, not the bits),
    at 1e-4 at most 0.003 on the default data."""
    return QATModelConfig(
        bits=QuantBits(input_bits=10, input_integer=7, weight_bits=6, output_bits=10, output_integer=7),
        learning_rate=1e-4,
    )


@dataclass
class QuantizeConfig(Section):
    """QAT of each deployed scorer, each with its own formats."""

    ocdn: QATModelConfig = field(default_factory=_ocdn_qat)
    ae: QATModelConfig = field(default_factory=_ae_qat)
    nurd: QATModelConfig = field(default_factory=_nurd_qat)
