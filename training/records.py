"""The train stage's record, as a typed record: ``train/<model>/info.json``, read by quantize, the scan and the
report (``l1ad.io.write_record`` / ``read_record``; see ``firmware/records.py``)."""

from __future__ import annotations

from typing import TypedDict


class SeedAUC(TypedDict):
    """One training seed of a deployed scorer: its test AUC per signal."""

    seed: int
    auc: dict[str, float | None]


class TrainInfo(TypedDict):
    """A deployed scorer's float training: its data family and splits, the deployed seed's checkpoint
    (paths relative to the run directory), and every seed's AUC per signal."""

    family: str
    kind: str
    splits: str
    deployed_seed: int
    deployed: str
    per_seed: list[SeedAUC]
