"""Config of what the report and the gate ``l1ad check`` read: trigger metrics (``metrics``) and the
gate's tolerances (``check``)."""

from __future__ import annotations

from dataclasses import dataclass

from l1ad.config.section import Section


@dataclass
class CheckConfig(Section):
    """Tolerances of the CI gate ``l1ad check``."""

    auc_drop_tolerance: float = 0.01  # AUC_qkeras >= AUC_float - this
    csim_auc_tolerance: float = 0.001  # |AUC_csim - AUC_qkeras| <= this
    csim_within_1lsb_min: float = 0.999  # fraction of events within 1 output LSB of QKeras
    # Per model and class (background and each signal): the largest fraction of csim-traced events in
    # which any layer leaves its fixed-point type (saturates or wraps). The default run measures 0 in
    # every class (precisions are profiled with headroom); 1 event in 1000 is the same budget as
    # csim_within_1lsb_min, and resolvable with the 2000 events traced per class.
    max_saturated_fraction: float = 0.001
    # The trigger's figure of merit: per model and signal, the firmware's efficiency at
    # firmware.trigger_rate_hz over the float model's (each with its own threshold). Fails only when the
    # ratio's upper 68% bound lies below this, and only for signals where at least min_float_passing
    # events pass the float threshold (fewer: the ratio is noise).
    min_efficiency_ratio: float = 0.9
    min_float_passing: int = 20

    def problems(self, where: str) -> list[str]:
        found = []
        if not 0.0 < self.min_efficiency_ratio <= 1.0:
            found.append(f"{where}.min_efficiency_ratio must lie in (0, 1], got {self.min_efficiency_ratio}")
        if self.min_float_passing < 1:
            found.append(f"{where}.min_float_passing must be >= 1, got {self.min_float_passing}")
        return found


@dataclass
class MetricsConfig(Section):
    """Trigger working points of the report's metrics (rate = false-positive rate x bunch-crossing rate)."""

    bunch_crossing_rate_hz: float = 40.0e6  # LHC bunch-crossing rate: rate = FPR x this
    trigger_fpr_l1: float = 1.0e-5  # about 400 Hz: the AE-on-FPGA figure of merit
    trigger_fpr_dijet: float = 1.0e-3  # offline dijet study: test sets hold ~1e4 background events
    trigger_fpr_jet_images: float = 1.0e-3  # jet-image test sets hold ~1e4 background jets
    min_background_for_sic: int = 10  # background events that must pass a cut for its SIC to count
