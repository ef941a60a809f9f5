"""The design-space scan's table, Pareto plots and scan.json (RUN_DIR/scan), from the point folders.

Only the points of the current config with a matching fingerprint count (a point folder left by an
older grid stays on disk, unused). The figure of merit is the csim AUC (the firmware's own score)
averaged over the model's signals, against the estimated LUT and the latency; TPR at the trigger
FPR is in the table. Pareto-optimal points (no other point has fewer LUTs, or lower latency, and a
higher AUC) are marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import Config
from l1ad.io import atomic_path, read_json, write_json
from reports.plots import pareto_front, pareto_plot

# (key in a row, axis label, file suffix) of the two Pareto views
AXES = (("lut", "estimated LUT", "lut"), ("latency_ns", "latency [ns]", "latency"))


def _row(result: dict[str, Any]) -> dict[str, Any]:
    """One table row: the point, its mean AUC / TPR over signals per version, resources."""
    p, r = result["point"], result["resources"]
    mean = {v: float(np.mean([a[v] for a in result["auc"].values()])) for v in ("float", "qkeras", "csim")}
    tpr = float(np.mean([t["csim"] for t in result["tpr_at_trigger"].values()]))
    return {
        "id": result["id"],
        "family": result["family"],
        **p,
        "label": f"{p['bits']}b RF{p['reuse_factor']}" + ("" if p["strategy"] == "Latency" else " Res"),
        "auc_float": mean["float"],
        "auc_qkeras": mean["qkeras"],
        "auc_csim": mean["csim"],
        "tpr_csim": tpr,
        "csim_exact_fraction": result["csim_exact_fraction"],
        "saturated_fraction": result["saturated_fraction"],
        "lut": r["lut"],
        "dsp": r["dsp"],
        "latency_cycles": r["latency_cycles"],
        "latency_ns": r["latency_ns"],
        "ii": r["ii"],
        "resources_source": r["source"],
        "seconds": result["seconds"],
    }


def write_scan(config: Config, run_dir: Path) -> dict[str, Any]:
    """Write scan.json, scan.md and plots/pareto_<model>_{lut,latency}.png; return the summary."""
    from l1ad.scan import finished, point_fingerprint, point_id, scan_points
    from reports.stage import data_label

    scan_dir = Path(run_dir) / "scan"
    rows, failed, pending = [], [], []
    for point in scan_points(config):
        result = finished(scan_dir, point, point_fingerprint(config, point))
        failure = scan_dir / "failed" / f"{point_id(point)}.json"
        if result is not None:
            rows.append(_row(result))
        elif failure.is_file():
            failed.append(read_json(failure))
        else:
            pending.append(point_id(point))

    source = read_json(Path(run_dir) / "data" / "summary.json")
    pareto: dict[str, dict[str, list[str]]] = {}
    plots: list[str] = []
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        pareto[model] = {}
        for key, label, suffix in AXES:
            xs = np.array([r[key] for r in mine], dtype=float)
            ys = np.array([r["auc_csim"] for r in mine], dtype=float)
            front = pareto_front(xs, ys)
            pareto[model][suffix] = [r["id"] for r, f in zip(mine, front, strict=True) if f]
            path = scan_dir / "plots" / f"pareto_{model}_{suffix}.png"
            pareto_plot(
                [{label: r[key], "mean csim AUC": r["auc_csim"], "label": r["label"]} for r in mine],
                label,
                "mean csim AUC",
                path,
                f"{model}: design-space scan",
                data_label(source[mine[0]["family"]]["source"]),
            )
            plots.append(f"scan/plots/{path.name}")
    for row in rows:
        row["pareto_lut"] = row["id"] in pareto[row["model"]]["lut"]
        row["pareto_latency"] = row["id"] in pareto[row["model"]]["latency"]

    summary = {
        "points": rows,
        "failed": [{"id": f["id"], "point": f["point"], "error": f["error"]} for f in failed],
        "pending": pending,
        "pareto": pareto,
        "plots": plots,
        "part": config.firmware.part,
        "clock_period_ns": config.firmware.clock_period_ns,
        "epochs": config.scan.epochs,
    }
    write_json(scan_dir / "scan.json", summary)
    with atomic_path(scan_dir / "scan.md") as tmp:
        tmp.write_text(render_scan(summary))
    print(
        f"[scan] {len(rows)} points finished, {len(failed)} failed, {len(pending)} not run -> {scan_dir}",
        flush=True,
    )
    return summary


def render_scan(summary: dict[str, Any]) -> str:
    """The scan section of the report (image links relative to RUN_DIR/report/)."""
    lines = [
        "## Design-space scan",
        "",
        f"Each point: QAT ({summary['epochs']} epochs from the float weights) at uniform weight/activation bits, "
        f"hls4ml conversion, g++ C simulation of the whole test set, resources on {summary['part']} at "
        f"{summary['clock_period_ns']} ns (source column: estimate or synthesized). AUC and TPR at the trigger "
        "FPR are averaged over the model's signals; * marks Pareto-optimal points (LUT / latency vs csim AUC).",
        "",
        "| point | AUC float | AUC QKeras | AUC csim | TPR csim | csim == QKeras | saturated | LUT | DSP | latency [cycles] | II | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["points"]:
        star = ("*" if r["pareto_lut"] else "") + ("†" if r["pareto_latency"] else "")
        lines.append(
            f"| {r['id']}{star} | {r['auc_float']:.3f} | {r['auc_qkeras']:.3f} | {r['auc_csim']:.3f} | "
            f"{r['tpr_csim']:.3g} | {r['csim_exact_fraction']:.2%} | {r['saturated_fraction']:.2%} | "
            f"{r['lut']:,} | {r['dsp']} | {r['latency_cycles']} | {r['ii']} | {r['resources_source']} |"
        )
    lines += ["", "\\* Pareto-optimal in LUT, † in latency.", ""]
    for f in summary["failed"]:
        lines.append(f"- **{f['id']} failed**: {f['error']}")
    if summary["pending"]:
        lines.append(f"- not run yet: {', '.join(summary['pending'])}")
    lines += ["", *[f"![{Path(p).stem}](../{p})" for p in summary["plots"]], ""]
    return "\n".join(lines)
