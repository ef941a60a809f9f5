"""l1ad: anomaly-detection models to bit-accurate FPGA firmware for the Level-1 trigger.

Importing the package checks the software stack (Keras 2 / TF 2.14 / numpy < 2) and
stops with an explanation when it drifts. The stage API lives in ``l1ad.api``; the
command line in ``l1ad.cli``.
"""

import os

from l1ad.envcheck import check_environment

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's CUDA chatter on GPU-less machines is harmless

__version__ = "0.1.0"

check_environment()
