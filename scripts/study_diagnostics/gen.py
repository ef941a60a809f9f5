# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from pathlib import Path

from l1ad.config import JetImageData
from training.data.jetgenerator import generate_jet_images
from training.data.jetimages import prepare_jet_images

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
t = time.time()
generate_jet_images(out / "jetImage_synthetic.h5", 30000, 30000, 10000, 20, seed=1)
print("generated", time.time() - t)
summ = prepare_jet_images(
    JetImageData(), out / "jetImage_synthetic.h5", out / "jet_images_splits.h5", out / "pre.json", 1, 100000
)
print(
    {
        k: summ[k]
        for k in ("mean_mass_gev", "mass_label_correlation_qcd_vs_wz", "mass_label_mutual_information_bits")
    }
)
