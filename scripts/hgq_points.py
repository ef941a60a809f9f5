"""Measure HGQ design points on a finished run directory, beside its QKeras figures.

For each deployed model and each beta: HGQ retraining from the run's float scorer (the QKeras
stage's epochs unless --epochs), ranges traced on training background plus the test set, the proxy
converted with hls4ml, csim of the full test set against the exact proxy, EBOPs and the resource
estimate. Writes OUT/<model>/beta_<beta>/{proxy.h5, point.json} and prints one table row per point
and one for the run's QKeras model (quantize/ and firmware/ of the run directory).

    .venv/bin/python scripts/hgq_points.py RUN_DIR OUT --models ocdn ae --betas 0 1e-6 1e-5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware.hgq_hls import convert_proxy, validate_proxy  # noqa: E402
from firmware.resources import estimate  # noqa: E402
from l1ad.config import load_config  # noqa: E402
from l1ad.io import read_json, write_json  # noqa: E402
from quantize import hgq  # noqa: E402
from quantize.qmodels import quantize_inputs  # noqa: E402
from training.data.splits import read_splits  # noqa: E402
from training.scorer import load_scorer  # noqa: E402
from training.stage import read_scores  # noqa: E402

COLUMNS = (
    "model",
    "point",
    "auc_float",
    "auc_q",
    "auc_csim",
    "exact",
    "ebops",
    "est_ebops",
    "dsp",
    "lut",
    "cycles",
)


def _row(values: dict) -> str:
    def fmt(v: object) -> str:
        return (
            f"{v:.4f}"
            if isinstance(v, float) and abs(v) < 10
            else f"{v:.0f}"
            if isinstance(v, float)
            else str(v)
        )

    return " | ".join(fmt(values.get(c, "")) for c in COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--models", nargs="+", default=["ocdn", "ae"])
    parser.add_argument("--betas", nargs="+", type=float, default=[0.0, 1e-6, 1e-5])
    parser.add_argument("--epochs", type=int, default=None, help="HGQ epochs (default: the QKeras stage's)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the QKeras stage's)")
    args = parser.parse_args()
    config = load_config(args.config)
    fw = config.firmware
    print("| " + " | ".join(COLUMNS) + " |")
    for name in args.models:
        info = read_json(args.run_dir / "train" / name / "info.json")
        splits = read_splits(args.run_dir / info["splits"])
        scorer = load_scorer(args.run_dir / info["deployed"])
        float_scores = read_scores(args.run_dir / "train" / name / "scores.h5")[0][0]
        qcfg = getattr(config.quantize, name)
        bits = qcfg.bits
        epochs = qcfg.epochs if args.epochs is None else args.epochs
        lr = qcfg.learning_rate if args.lr is None else args.lr
        y, n_bkg = splits.test.y, splits.n_background_classes
        X_test = quantize_inputs(splits.test.X, bits.input_bits, bits.input_integer)
        X_train = quantize_inputs(splits.train.X, bits.input_bits, bits.input_integer)

        qk = read_json(args.run_dir / "firmware" / name / "csim_validation.json")
        res = qk["resources"]
        print(
            "| "
            + _row(
                {
                    "model": name,
                    "point": "QKeras",
                    "auc_float": qk["auc_all_signals"]["float"],
                    "auc_q": qk["auc_all_signals"]["qkeras"],
                    "auc_csim": qk["auc_all_signals"]["csim"],
                    "exact": qk["exact_fraction"],
                    "ebops": "",
                    "est_ebops": float(res["ebops"]),
                    "dsp": res["dsp"],
                    "lut": res["lut"],
                    "cycles": res["latency_cycles"],
                }
            )
            + " |",
            flush=True,
        )
        for beta in args.betas:
            out = args.out / name / f"beta_{beta:g}"
            settings = hgq.HGQSettings(beta=beta)
            model, history = hgq.train_hgq(scorer, splits.train, splits.val, bits, epochs, lr, settings)
            t0 = time.perf_counter()
            proxy = hgq.proxy_model(model, np.concatenate([X_train, X_test]), settings.saturate)
            exact = hgq.proxy_scores(proxy, X_test)
            float32_exact = float(
                np.mean(proxy.predict(X_test, batch_size=8192, verbose=0).reshape(-1) == exact)
            )
            hgq.save_proxy(proxy, out / "proxy.h5")
            hls_model = convert_proxy(proxy, out / "hls_project", fw, f"hgq_{name}")
            result, _ = validate_proxy(hls_model, X_test, y, float_scores, exact, n_bkg)
            est = estimate(hls_model, fw.part, fw.clock_period_ns)
            point = {
                "model": name,
                "beta": beta,
                "epochs": epochs,
                "learning_rate": lr,
                "ebops": hgq.ebops(model),
                "layer_ebops": hgq.layer_ebops(model),
                "train_seconds": history["train_seconds"],
                "history": {k: v for k, v in history.items() if k != "train_seconds"},
                "proxy_convert_csim_seconds": time.perf_counter() - t0,
                "float32_proxy_exact_fraction": float32_exact,
                "proxy_summary": hgq.proxy_summary(proxy),
                "validation": result,
                "resources": {k: v for k, v in est.items() if k not in ("layers", "model")},
                "resources_per_layer": {
                    n: {k: e[k] for k in ("dsp", "lut", "ebops", "bits_weight", "bits_input")}
                    for n, e in est["layers"].items()
                },
            }
            write_json(out / "point.json", point)
            print(
                "| "
                + _row(
                    {
                        "model": name,
                        "point": f"HGQ beta={beta:g}",
                        "auc_float": result["auc"]["float"],
                        "auc_q": result["auc"]["proxy"],
                        "auc_csim": result["auc"]["csim"],
                        "exact": result["agreement"]["exact_fraction"],
                        "ebops": point["ebops"],
                        "est_ebops": float(est["ebops"]),
                        "dsp": est["dsp"],
                        "lut": est["lut"],
                        "cycles": est["latency_cycles"],
                    }
                )
                + f" | train {history['train_seconds']:.0f} s, float32 proxy exact {float32_exact:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
