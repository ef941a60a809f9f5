"""Malformed inputs for every place a user file enters l1ad, and the check that each is refused as specified.

    python -m tests.malformed [--per-loader 40] [--seed 0]   # writes benchmarks/malformed.json

Each *loader* is one entry point as the user meets it on the command line: the data stage reading each
family's ``source`` (LHCO features frame, prepared dijet arrays, the ADC2021 directory, jet images;
``families``), the YAML config and the bring-your-own hls4ml YAML (``configs``), the ``*_splits.h5`` the
train stage reads and bring-your-own firmware's ``--model`` / ``--weights`` / ``--data`` (``models``).
Each *mutation* turns a valid baseline file into a malformed one (a dropped key, a wrong shape or dtype,
NaN/Inf, no events, truncated bytes, absurd values, wrong labels); its random choices come from a
``Chooser``, so hypothesis (tests/test_malformed_inputs.py) and a seeded generator (``__main__``) drive
the same code.

"Handled as specified" means: ``l1ad.cli.main`` returns exit code 2, stderr is exactly one line naming the
malformed file and describing the problem (matching the mutation's pattern), no traceback, and no file in
the run directory is new or changed (a run directory holding an earlier run keeps it intact).
"""

from tests.malformed.cases import LOADERS, NEEDS_TENSORFLOW, make_case
from tests.malformed.core import (
    Baselines,
    Case,
    Chooser,
    Outcome,
    RandomChooser,
    add_byo_baselines,
    build_baselines,
    call_cli,
    dump_config,
    run_case,
    snapshot,
)

__all__ = [
    "LOADERS",
    "NEEDS_TENSORFLOW",
    "Baselines",
    "Case",
    "Chooser",
    "Outcome",
    "RandomChooser",
    "add_byo_baselines",
    "build_baselines",
    "call_cli",
    "dump_config",
    "make_case",
    "run_case",
    "snapshot",
]
