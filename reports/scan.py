"""The design-space scan's table, Pareto plots and scan.json (RUN_DIR/scan), from the point folders.

Only the points of the current config with a matching fingerprint count (a point folder left by an
older grid stays on disk, unused). The figure of merit is the csim AUC (the firmware's own score)
averaged over the model's signals, against the estimated LUT, EBOPs and latency; the trigger's own
figure, the firmware / float signal efficiency at ``firmware.trigger_rate_hz`` (the smallest over the
signals the gate judges), is in the table and against LUT in its own plot, with the cheapest point
that keeps ``check.min_efficiency_ratio`` inside the budget named. Pareto-optimal points (no other point costs less and scores a higher AUC) are
marked. QKeras and HGQ points share one front per view; where a model has both, one sentence says
which quantizer needs fewer EBOPs for the AUC both reach.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from firmware.budget import has_convolution, model_budget
from l1ad.artifacts import RELATIVE, RunPaths
from l1ad.config import Config
from l1ad.io import atomic_path, read_json, write_json
from l1ad.parts import part_capacity
from reports.plots import bit_scan_plot, pareto_front, pareto_plot

# (key in a row, axis label, file suffix) of the Pareto views
AXES = (
    ("lut", "estimated LUT", "lut"),
    ("ebops", "estimated EBOPs", "ebops"),
    ("latency_ns", "latency [ns]", "latency"),
)
QUANTIZER_NAMES = {"qkeras": "QKeras", "hgq": "HGQ"}
# AUC margin below the lower of the two quantizers' best AUCs at which their LUT costs are compared
AUC_MARGIN = 0.005
STRATEGY_LABEL = {"Latency": "", "Resource": " Res", "distributed_arithmetic": " DA"}  # in point labels


def _row(result: dict[str, Any], config: Config) -> dict[str, Any]:
    """One table row: the point, its mean AUC / TPR over signals per version, resources, L1 budget."""
    p, r = result["point"], result["resources"]
    budget = model_budget(p["model"], r, has_convolution(result), config.firmware)
    mean = {v: float(np.mean([a[v] for a in result["auc"].values()])) for v in ("float", "quantized", "csim")}
    efficiency = result.get("efficiency_at_rate") or {}
    return {
        "id": result["id"],
        "family": result["family"],
        **p,
        "label": (f"{p['bits']}b" if p["bits"] else "cfg bits")
        + f" RF{p['reuse_factor']}"
        + STRATEGY_LABEL.get(p["strategy"], f" {p['strategy']}")
        + (f" β{p['beta']:g}" if p["quantizer"] == "hgq" else "")
        + (f" in{p['input_width']}.{p['input_integer']}" if p.get("input_width") else ""),
        "auc_float": mean["float"],
        "auc_quantized": mean["quantized"],
        "auc_csim": mean["csim"],
        "input_format": result.get("input_format"),
        # smallest firmware / float efficiency ratio at the trigger rate over the gated signals
        "efficiency_ratio": efficiency.get("min_ratio"),
        # per signal: csim / float AUC, and firmware / float efficiency at the rate (the signals the gate judges)
        "auc_ratios": {s: a["csim"] / a["float"] for s, a in result["auc"].items()},
        "efficiency_ratios": {
            s: e["ratio"]
            for s, e in (efficiency.get("signals") or {}).items()
            if e["n_float_pass"] >= config.check.min_float_passing
        },
        "efficiency_rate_hz": efficiency.get("rate_hz"),
        "csim_exact_fraction": result["csim_exact_fraction"],
        "saturated_fraction": result["saturated_fraction"],
        "lut": r["lut"],
        "ebops": r["ebops"],
        "hgq_ebops": result.get("hgq_ebops"),
        "dsp": r["dsp"],
        "ff": r.get("ff", 0),
        "latency_cycles": r["latency_cycles"],
        "latency_ns": r["latency_ns"],
        "ii": r["ii"],
        "resources_source": r["source"],
        "seconds": result["seconds"],
        "convert_compile_seconds": result.get("convert_compile_seconds"),
        "within_budget": budget["passed"],
        "over_budget": [key for key, f in budget["figures"].items() if not f["passed"]],
        "budget_limits": {key: f["limit"] for key, f in budget["figures"].items()},
    }


def write_scan(
    config: Config,
    run_dir: Path,
    results: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    pending: list[str],
) -> dict[str, Any]:
    """Write scan.json, scan.md and the plots from the scan's finished point ``results`` (their
    result.json), its ``failed`` points' records and the ids of the points not run; return the summary."""
    from reports.stage import data_label

    run = RunPaths(run_dir)
    scan = run.scan
    rows = [_row(result, config) for result in results]

    source = read_json(run.data.summary)
    pareto: dict[str, dict[str, list[str]]] = {}
    plots: list[str] = []
    lut_capacity = (part_capacity(config.firmware.part) or {}).get("lut")
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        pareto[model] = {}
        for key, label, suffix in AXES:
            xs = np.array([r[key] for r in mine], dtype=float)
            ys = np.array([r["auc_csim"] for r in mine], dtype=float)
            front = pareto_front(xs, ys)
            pareto[model][suffix] = [r["id"] for r, f in zip(mine, front, strict=True) if f]
            path = scan.plots / f"pareto_{model}_{suffix}.png"
            limits = mine[0]["budget_limits"]
            x_limit = {
                "latency_ns": limits["latency_ns"],
                "lut": limits["lut"] * lut_capacity if lut_capacity else None,
            }.get(key)
            pareto_plot(
                [
                    {
                        label: r[key],
                        "mean csim AUC": r["auc_csim"],
                        "label": r["label"],
                        "group": QUANTIZER_NAMES[r["quantizer"]],
                    }
                    for r in mine
                ],
                label,
                "mean csim AUC",
                path,
                f"{model}: design-space scan",
                data_label(source[mine[0]["family"]]["source"]),
                x_limit=x_limit,
            )
            plots.append(str(RELATIVE.scan.plots / path.name))
        rated = [r for r in mine if r["efficiency_ratio"] is not None]
        if rated:
            path = scan.plots / f"pareto_{model}_efficiency.png"
            ratio_label = (
                f"efficiency ratio at {rated[0]['efficiency_rate_hz'] / 1e3:g} kHz (firmware / float)"
            )
            pareto_plot(
                [
                    {
                        "estimated LUT": r["lut"],
                        ratio_label: r["efficiency_ratio"],
                        "label": r["label"],
                        "group": QUANTIZER_NAMES[r["quantizer"]],
                    }
                    for r in rated
                ],
                "estimated LUT",
                ratio_label,
                path,
                f"{model}: trigger efficiency vs cost",
                data_label(source[mine[0]["family"]]["source"]),
                x_limit=mine[0]["budget_limits"]["lut"] * lut_capacity if lut_capacity else None,
                y_limit=config.check.min_efficiency_ratio,
            )
            plots.append(str(RELATIVE.scan.plots / path.name))
        plots += _bit_width_plots(config, mine, scan.plots, data_label(source[mine[0]["family"]]["source"]))
    for row in rows:
        row["pareto"] = [suffix for _, _, suffix in AXES if row["id"] in pareto[row["model"]][suffix]]

    best, cheapest = {}, {}
    for model in sorted({r["model"] for r in rows}):
        inside = [r for r in rows if r["model"] == model and r["within_budget"]]
        best[model] = max(inside, key=lambda r: r["auc_csim"])["id"] if inside else None
        keeping = [
            r
            for r in inside
            if r["efficiency_ratio"] is not None
            and r["efficiency_ratio"] >= config.check.min_efficiency_ratio
        ]
        cheapest[model] = min(keeping, key=lambda r: r["lut"])["id"] if keeping else None
    summary = {
        "points": rows,
        "best_within_budget": best,
        # the cheapest point (LUT) within the L1 budget whose firmware keeps check.min_efficiency_ratio of
        # the float efficiency at the trigger rate on every gated signal: the formats to deploy
        "cheapest_keeping_efficiency": cheapest,
        "min_efficiency_ratio": config.check.min_efficiency_ratio,
        "failed": [{"id": f["id"], "point": f["point"], "error": f["error"]} for f in failed],
        "pending": pending,
        "pareto": pareto,
        "quantizer_comparison": {
            model: line
            for model in sorted({r["model"] for r in rows})
            if (line := compare_quantizers([r for r in rows if r["model"] == model])) is not None
        },
        "plots": plots,
        "data": {r["model"]: data_label(source[r["family"]]["source"]) for r in rows},
        "part": config.firmware.part,
        "clock_period_ns": config.firmware.clock_period_ns,
        "epochs": config.scan.epochs,
    }
    write_json(scan.json, summary)
    with atomic_path(scan.markdown) as tmp:
        tmp.write_text(render_scan(summary))
    print(
        f"[scan] {len(rows)} points finished, {len(failed)} failed, {len(pending)} not run -> {scan.root}",
        flush=True,
    )
    return summary


def _bit_width_plots(config: Config, rows: list[dict[str, Any]], folder: Path, label: str) -> list[str]:
    """Per signal, csim / float AUC and firmware / float efficiency at the rate against the bit width, over the
    model's QKeras points at uniform widths with the configured input format, built with one strategy and
    reuse factor: the firmware section's where the scan has two widths of it, else those with the most
    widths. Nothing with fewer than two widths. Returns the run-relative paths."""
    fw = config.firmware
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r["quantizer"] == "qkeras" and r["bits"] and not r.get("input_width"):
            groups.setdefault((r["strategy"], r["reuse_factor"]), []).append(r)
    widths = {key: len({r["bits"] for r in line}) for key, line in groups.items()}
    key = (fw.strategy, fw.reuse_factor)
    if widths.get(key, 0) < 2:
        key = max(widths, key=widths.get, default=key)  # the first such group in the grid's order on a tie
    if widths.get(key, 0) < 2:
        return []
    line, (strategy, reuse) = groups[key], key
    model, written = line[0]["model"], []
    for metric, field in (("auc_ratio", "auc_ratios"), ("efficiency_ratio", "efficiency_ratios")):
        points = [{"bits": r["bits"], metric: r[field]} for r in line]
        if not any(p[metric] for p in points):
            continue  # no signal judged at the rate
        path = folder / f"bits_{model}_{metric}.png"
        bit_scan_plot(points, path, f"{model}: bit-width scan ({strategy}, RF {reuse})", label, metric)
        written.append(str(RELATIVE.scan.plots / path.name))
    return written


def compare_quantizers(rows: list[dict[str, Any]]) -> str | None:
    """One sentence on which quantizer needs fewer EBOPs for the AUC both reach (None unless both ran).

    EBOPs (estimated: each non-zero constant's own significant bits x its input's bits, summed) rather
    than LUTs: hls4ml gives an HGQ layer one weight type as wide as its widest constant, and the LUT/DSP
    estimate sizes multipliers by that type, while EBOPs count what each constant needs. The common
    target is the lower of the two best mean csim AUCs less ``AUC_MARGIN``; each quantizer's cheapest
    point reaching it is compared.
    """
    by_q = {q: [r for r in rows if r["quantizer"] == q] for q in ("qkeras", "hgq")}
    if not all(by_q.values()):
        return None
    best = {q: max(r["auc_csim"] for r in mine) for q, mine in by_q.items()}
    target = min(best.values()) - AUC_MARGIN
    cheapest = {
        q: min((r for r in mine if r["auc_csim"] >= target), key=lambda r: r["ebops"])
        for q, mine in by_q.items()
    }
    q_cost, h_cost = cheapest["qkeras"]["ebops"], cheapest["hgq"]["ebops"]
    winner, ratio = (
        ("HGQ", q_cost / max(h_cost, 1)) if h_cost < q_cost else ("QKeras", h_cost / max(q_cost, 1))
    )
    return (
        f"{rows[0]['model']}: to reach mean csim AUC {target:.3f} (the lower best AUC less {AUC_MARGIN}), QKeras "
        f"needs {q_cost:,} EBOPs ({cheapest['qkeras']['id']}) and HGQ {h_cost:,} ({cheapest['hgq']['id']}): "
        f"{winner} needs {ratio:.1f}x fewer. Best mean csim AUC: QKeras {best['qkeras']:.3f}, HGQ {best['hgq']:.3f}."
    )


def _seconds(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def render_scan(summary: dict[str, Any]) -> str:
    """The scan section of the report (image links relative to RUN_DIR/report/)."""
    lines = [
        "## Design-space scan",
        "",
        f"Each point: training from the float weights ({summary['epochs']} epochs; QKeras at uniform "
        "weight/activation bits, HGQ with per-weight bit widths learned from those bits under the EBOPs "
        "penalty beta), hls4ml conversion, g++ C simulation of the whole test set checked against the "
        f"quantized model (QKeras, or HGQ's proxy), resources on {summary['part']} at "
        f"{summary['clock_period_ns']} ns (source column: estimate or synthesized). AUC is averaged over the "
        "model's signals; the efficiency ratio is the smallest firmware / float signal efficiency at the trigger "
        "rate over the signals the gate judges, each version with its own threshold on the rate sample. Marks: Pareto-optimal in LUT (L), EBOPs (E), "
        "latency (T) against csim AUC; the L1 budget column and the dotted lines on the plots are "
        "`firmware.budget`'s limits. Data: "
        + ", ".join(f"{model} {label.split(' · ')[-1]}" for model, label in summary["data"].items())
        + ". HGQ's LUT and DSP estimates size every multiplier by the layer's "
        "weight type, which hls4ml makes as wide as the layer's widest constant: compare quantizers on EBOPs.",
        "",
        "| point | Pareto | L1 budget | input | AUC float | AUC quantized | AUC csim | efficiency ratio at the rate | csim exact | saturated | LUT | EBOPs | DSP | FF | latency [cycles] | II | source | convert + compile [s] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    marks = {"lut": "L", "ebops": "E", "latency": "T"}
    for r in summary["points"]:
        lines.append(
            f"| {r['id']} | {''.join(marks[v] for v in r['pareto'])} | "
            f"{'fits' if r['within_budget'] else 'over: ' + ', '.join(r['over_budget'])} | "
            f"`{r['input_format']}` | {r['auc_float']:.3f} | {r['auc_quantized']:.3f} | {r['auc_csim']:.3f} | "
            f"{'n/a' if r['efficiency_ratio'] is None else format(r['efficiency_ratio'], '.3f')} | "
            f"{r['csim_exact_fraction']:.2%} | {_pct(r['saturated_fraction'])} | {r['lut']:,} | "
            f"{r['ebops']:,} | {r['dsp']} | {r['ff']:,} | {r['latency_cycles']} | {r['ii']} | "
            f"{r['resources_source']} | {_seconds(r['convert_compile_seconds'])} |"
        )
    lines.append("")
    for model, best in summary.get("best_within_budget", {}).items():
        row = next((r for r in summary["points"] if r["id"] == best), None)
        lines.append(
            f"- {model}: best mean csim AUC within the L1 budget: {best} ({row['auc_csim']:.3f})"
            if row
            else f"- {model}: no point within the L1 budget"
        )
    for model, best in summary.get("cheapest_keeping_efficiency", {}).items():
        row = next((r for r in summary["points"] if r["id"] == best), None)
        lines.append(
            f"- {model}: cheapest point within the L1 budget keeping >= {summary['min_efficiency_ratio']:g} of the "
            f"float efficiency at the trigger rate: {best} (input `{row['input_format']}`, "
            + (f"{row['bits']}-bit weights" if row["bits"] else "the configured weight formats")
            + f", {row['lut']:,} LUT, ratio {row['efficiency_ratio']:.3f})"
            if row
            else f"- {model}: no point within the L1 budget keeps {summary['min_efficiency_ratio']:g} of the "
            "float efficiency at the trigger rate"
            if any(r["model"] == model and r["efficiency_ratio"] is not None for r in summary["points"])
            else f"- {model}: efficiency at the trigger rate not judged: no signal has enough events passing "
            "the float threshold"
        )
    lines += [f"- {line}" for line in summary["quantizer_comparison"].values()]
    for f in summary["failed"]:
        lines.append(f"- **{f['id']} failed**: {f['error']}")
    if summary["pending"]:
        lines.append(f"- not run yet: {', '.join(summary['pending'])}")
    lines += ["", *[f"![{Path(p).stem}](../{p})" for p in summary["plots"]], ""]
    return "\n".join(lines)
