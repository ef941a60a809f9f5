"""l1ad: anomaly-detection models to bit-accurate FPGA firmware for the Level-1 trigger.

Importing the package checks the software stack (Keras 2 / TF 2.14 / numpy < 2) and
stops with an explanation when it drifts. The stage API lives in ``l1ad.api``; the
command line in ``l1ad.cli``.
"""

import os
import sys
from pathlib import Path

from l1ad.envcheck import EnvironmentDriftError, check_environment

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's CUDA chatter on GPU-less machines is harmless

__version__ = "0.1.0"


def _from_command_line() -> bool:
    """True when the package is imported by the ``l1ad`` command (entry point or ``python -m l1ad.cli``:
    while ``-m`` locates its module, ``sys.argv[0]`` is ``"-m"``)."""
    return bool(sys.argv) and (sys.argv[0] == "-m" or Path(sys.argv[0]).name == "l1ad")


try:
    check_environment()
except EnvironmentDriftError as exc:
    if not _from_command_line():
        raise  # the Python API: an exception the caller sees
    # The command: one line and exit 2, like every other bad-input error (no traceback to read through).
    print(f"l1ad: error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
