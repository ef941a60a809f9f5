"""Stage 1: data (generators and loaders of the three families), float scorers and metrics."""

import l1ad  # noqa: F401  (checks the software stack before anything heavy is imported)
