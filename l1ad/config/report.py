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
    # Against a baseline run (`l1ad compare`, `l1ad check --baseline`): an AUC may fall at most this much;
    # latency, II and each resource may grow at most this fraction of the baseline's value (efficiencies at
    # the trigger rate regress when their 68% intervals part, see reports/compare.py).
    baseline_auc_drop: float = 0.005
    baseline_resource_increase: float = 0.05

    def problems(self, where: str) -> list[str]:
        found = []
        if not 0.0 < self.min_efficiency_ratio <= 1.0:
            found.append(f"{where}.min_efficiency_ratio must lie in (0, 1], got {self.min_efficiency_ratio}")
        if not 0.0 <= self.baseline_auc_drop < 1.0:
            found.append(f"{where}.baseline_auc_drop must lie in [0, 1), got {self.baseline_auc_drop}")
        if self.baseline_resource_increase < 0.0:
            found.append(
                f"{where}.baseline_resource_increase must be >= 0, got {self.baseline_resource_increase}"
            )
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
