"""The quantize stage's record, as a typed record: ``quantize/<model>/info.json``, read by the firmware stage,
``l1ad csim`` and the report (``l1ad.io.write_record`` / ``read_record``; see ``firmware/records.py``)."""

from __future__ import annotations

from typing import Any, TypedDict


class _QuantizeInfo(TypedDict):
    model: str
    family: str
    splits: str
    qmodel: str
    bits: dict[str, int]
    input_format: str
    epochs: int
    history: dict[str, Any]
    trigger_fpr: float
    float: dict[str, dict[str, Any]]
    qkeras: dict[str, dict[str, Any]]


class QuantizeInfo(_QuantizeInfo, total=False):
    """A deployed scorer's QKeras twin (quantization-aware training from the float weights): its formats
    (``l1ad.config.QuantBits``), model file and splits (relative to the run directory), training history, and
    float and QKeras figures per signal at the trigger FPR; NuRD adds its frozen head's ``qat_report``."""

    qat_report: dict[str, Any]
