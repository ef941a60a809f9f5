# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np

from training.stage import read_scores

d = "runs/default/studies/nae/scores/"
ae, y, classes, nb = read_scores(d + "ae_pretrained.h5")
nae = read_scores(d + "nae.h5")[0]
ae, nae = ae[0], nae[0]
bk = y < nb


def pct(s):  # background percentile of each event's score
    ref = np.sort(s[bk])
    return np.searchsorted(ref, s, side="right") / len(ref)


pa, pn = pct(ae), pct(nae)
for k in range(nb, len(classes)):
    sg = y == k
    low_a = sg & (pa < 0.5)
    low_n = sg & (pn < 0.5)
    print(
        f"{classes[k]}: below background median AE {low_a.sum() / sg.sum():.3f}, NAE {low_n.sum() / sg.sum():.3f}; "
        f"below bkg 10% quantile AE {(sg & (pa < 0.1)).sum() / sg.sum():.3f} NAE {(sg & (pn < 0.1)).sum() / sg.sum():.3f}; "
        f"of the AE-too-well events, NAE moves above the median {np.mean(pn[low_a] >= 0.5):.3f}; "
        f"mean bkg percentile of those: AE {pa[low_a].mean():.3f} -> NAE {pn[low_a].mean():.3f}"
    )
