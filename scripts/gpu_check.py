"""GPU check of the torch scorers: the same seeded fits on the CPU and on the GPU, compared.

    python scripts/gpu_check.py [--out FILE]

Trains Deep SVDD and the normalized autoencoder (NAE, with its AE pre-training) on seeded Gaussian
toy events (57 inputs like the L1 AE: background N(0, 1), signal shifted by 0.5 in every input) with
``device="cpu"`` and ``device="gpu"``, and prints per scorer the device torch used, the fit seconds
and the AUC of each. Needs torch, numpy, scikit-learn and tqdm only (no TensorFlow), so it runs on a
GPU machine that has no l1ad environment. The AUCs need not be identical (GPU kernels sum in another
order) but must be close; the figures go into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _events(seed: int, n_train: int = 20_000, n_test: int = 5_000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    train = rng.normal(0.0, 1.0, (n_train, 57)).astype(np.float32)
    val = rng.normal(0.0, 1.0, (n_train // 10, 57)).astype(np.float32)
    test = np.concatenate([rng.normal(0.0, 1.0, (n_test, 57)), rng.normal(0.5, 1.0, (n_test, 57))])
    y = np.r_[np.zeros(n_test), np.ones(n_test)]
    return train, val, test.astype(np.float32), y


def main() -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    from l1ad.config import NAEConfig
    from training.deep_svdd import DeepSVDD
    from training.nae import NormalizedAutoencoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args()
    train, val, test, y = _events(1)
    nae_config = NAEConfig(pretrain_epochs=5, epochs=5)
    builders = {
        "deep_svdd": lambda device: DeepSVDD(
            57, hidden=(128, 64), rep_dim=32, epochs=10, seed=3, device=device
        ),
        "nae": lambda device: NormalizedAutoencoder(nae_config, 57, seed=3, device=device),
    }
    results = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    for name, build in builders.items():
        for device in ("cpu", "gpu"):
            if device == "gpu" and not torch.cuda.is_available():
                continue
            start = time.perf_counter()
            scorer = build(device).fit(train, val)
            seconds = time.perf_counter() - start
            auc = float(roc_auc_score(y, scorer.score(test)))
            results[f"{name}_{device}"] = {"fit_seconds": round(seconds, 2), "auc": round(auc, 4)}
            print(f"{name:10s} {device}: fit {seconds:7.2f} s  AUC {auc:.4f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
