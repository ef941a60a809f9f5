# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import json
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from training.data.jetimages import jet_marginals
from training.data.splits import read_splits

s = read_splits(sys.argv[1])
T = s.test
print(json.dumps(jet_marginals(T.X, T.y, T.nuisance), indent=None))
