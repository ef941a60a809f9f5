"""The base of every config section: the checks of its values, run when the config is loaded.

A section (a dataclass deriving from ``Section``) says what is wrong with its own values in
``problems``; ``validate`` adds the field-name rules every section follows (``RANGE_RULES``) and the
sections inside it, so ``load_config`` refuses an impossible setting naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

# Field-name rules every config section follows: (test on the key, low, high, low included, high included).
RANGE_RULES: tuple[tuple[Any, float, float, bool, bool], ...] = (
    (lambda k: k.endswith(("learning_rate", "_rate_hz")) or k == "clock_period_ns", 0, math.inf, False, False),
    (lambda k: k == "epochs" or k.endswith(("_epochs", "_steps")) or k.startswith("epochs_"), 0, math.inf, True, False),
    (lambda k: k in ("headroom_bits", "rate_sample"), 0, math.inf, True, False),
    (lambda k: k.endswith("_bits"), 1, 64, True, True),
    (
        lambda k: k in ("batch_size", "latent", "kernel_size", "reuse_factor")
        or k.startswith("n_")
        or k.endswith(("_events", "_latent", "_dim", "_bins")),
        1, math.inf, True, False,
    ),
    (lambda k: k.startswith("trigger_fpr_"), 0, 1, False, True),
    (lambda k: k.endswith("_tolerance"), 0, math.inf, True, False),
    (lambda k: k.endswith("_min") or (k.startswith("max_") and k.endswith("_fraction")), 0, 1, True, True),
    (lambda k: k.endswith("_fraction"), 0, 1, False, False),
)  # fmt: skip


class Section:
    """A config section: ``problems`` holds its own checks, ``validate`` runs them with the common rules."""

    def problems(self, where: str) -> list[str]:
        """What is wrong with this section's values beyond the field-name rules (``where``: its key)."""
        return []

    def validate(self, where: str = "") -> list[str]:
        """Every problem of this section and of the sections inside it: its own checks first (they say
        more than a range), then field by field the ranges no type can express: counts and sizes >= 1,
        epochs and steps >= 0, rates > 0, bit widths 1-64, probabilities in [0, 1]."""
        found = self.problems(where)
        for f in dataclasses.fields(self):
            key = f"{where}.{f.name}" if where else f.name
            found += _value_problems(f.name, getattr(self, f.name), key)
        return found


def _value_problems(name: str, value: Any, where: str) -> list[str]:
    """The problems of one field's value: a section validates itself, a mapping with free keys
    (``firmware.budget.overrides``) and a list go entry by entry, a number meets the first rule of its name."""
    if isinstance(value, Section):
        return value.validate(where)
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _value_problems(key, item, f"{where}.{key}")]
    if isinstance(value, tuple):
        found = []
        for i, item in enumerate(value):
            if isinstance(item, Section):
                found += item.validate(f"{where}[{i}]")
            elif isinstance(item, int) and not isinstance(item, bool) and item < 1:
                found.append(f"{where} entries must be >= 1, got {item}")
        return found
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for test, lo, hi, with_lo, with_hi in RANGE_RULES:
            if test(name):
                above = value > hi or (value == hi and not with_hi)
                below = value < lo or (value == lo and not with_lo)
                if above or below:
                    interval = f"{'[' if with_lo else '('}{lo:g}, {hi:g}{']' if with_hi else ')'}"
                    return [f"{where} must lie in {interval}, got {value}"]
                break
    return []
