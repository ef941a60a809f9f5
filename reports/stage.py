"""The ``report`` stage: report.json (the CI contract), report.md and plots.

Reads only the artifacts of the other stages. For each deployed model the figures
are computed per signal from the float, QKeras and csim scores of the same test
events; ``auc.*`` and ``tpr_at_trigger.*`` at model level are the means over the
model's signals (each signal weighted equally), the per-signal figures sit under
``per_signal``. Keys listed in README "report.json contract" are stable.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware.budget import has_convolution, model_budget, resource_summary, source_label
from firmware.records import FirmwareValidation, RTLRecord
from l1ad.artifacts import RELATIVE, ReportPaths, RunPaths
from l1ad.config import BUDGET_FRACTIONS, Config
from l1ad.h5read import open_h5
from l1ad.io import atomic_path, read_json, read_record, write_json
from quantize.records import QuantizeInfo
from reports import plots
from reports.check import gate_failures
from reports.efficiency import efficiency_figures, efficiency_lines, trigger_lines
from reports.html import render_html
from reports.records import SCHEMA_VERSION, ReportJSON, StudyRecord
from training import metrics
from training.records import TrainInfo
from training.stage import noise_text, read_scores

VERSIONS = ("float", "qkeras", "csim")

DATA_DESCRIPTION = {
    "dijet": "LHC Olympics R&D dijet features (5 features, signal region)",
    "l1": "CMS ADC2021 L1 objects (57 inputs)",
    "jet_images": "jet images (QCD, W/Z backgrounds; top anomaly)",
}


def data_label(source: str) -> str:
    return "l1ad · synthetic data" if source == "synthetic" else f"l1ad · {Path(source).name}"


def model_figures(config: Config, run_dir: Path, name: str, plot_dir: Path) -> dict[str, Any]:
    """All report figures of one deployed model, and its plots written under ``plot_dir``."""
    run = RunPaths(run_dir)
    firmware = run.firmware.model(name)
    qinfo: QuantizeInfo = read_record(run.quantize.info(name), QuantizeInfo)
    tinfo: TrainInfo = read_record(run.train.info(name), TrainInfo)
    validation: FirmwareValidation = read_record(firmware.validation, FirmwareValidation)
    family = qinfo["family"]
    data_summary = read_json(run.data.summary)[family]
    source = data_summary["source"]
    label = data_label(source)
    float_all, y, classes, n_bkg = read_scores(run.train.scores(name))
    scores = {
        "float": float_all[0],
        "qkeras": read_scores(run.quantize.scores(name))[0],
        "csim": read_scores(firmware.csim_scores)[0],
    }
    fpr = qinfo["trigger_fpr"]
    min_bkg = config.metrics.min_background_for_sic

    per_signal: dict[str, Any] = {}
    plot_files: list[str] = []
    for signal, (sel, yb) in metrics.signal_selections(y, classes, n_bkg).items():
        figs = {v: metrics.summarise(yb, scores[v][sel], fpr, min_bkg) for v in VERSIONS}
        per_signal[signal] = {
            "auc": {v: figs[v]["auc"] for v in VERSIONS},
            "max_sic": {v: figs[v]["max_sic"] for v in VERSIONS},
            "tpr_at_trigger": {v: figs[v]["tpr_at_fpr"]["tpr"] for v in VERSIONS},
            "tpr_at_trigger_detail": {v: figs[v]["tpr_at_fpr"] for v in VERSIONS},
            "n_test": {"background": int((y < n_bkg).sum()), "signal": int(yb.sum())},
        }
        curves = {f"{v} (AUC {figs[v]['auc']:.3f})": (yb, scores[v][sel]) for v in VERSIONS}
        title = f"{name}: {signal} vs background"
        plot_files += [
            plots.roc_plot(curves, plot_dir / f"{name}_roc_{signal}.png", title, label, fpr).name,
            plots.sic_plot(curves, plot_dir / f"{name}_sic_{signal}.png", title, label, min_bkg).name,
        ]
    title, lsb = f"{name}: C simulation vs QKeras", validation["output_lsb"]
    plot_files += [
        plots.score_histograms(
            scores["csim"], y, classes, plot_dir / f"{name}_scores.png", f"{name}: csim score", label, n_bkg
        ).name,
        plots.csim_scatter(
            scores["qkeras"], scores["csim"], plot_dir / f"{name}_csim_vs_qkeras.png", title, label, lsb
        ).name,
    ]
    rtl_record = read_record(firmware.rtl_record, RTLRecord) if firmware.rtl_record.is_file() else None
    check = validation["trigger"].get("background_sample", {}).get("check") or {}
    rtl_exact = (
        rtl_record is not None
        and rtl_record["exact_fraction"] == 1.0
        and check.get("rtl_equals_csim_fraction", 1.0) == 1.0
    )
    efficiency = efficiency_figures(
        config, run_dir, name, family, scores, y, classes, n_bkg, validation["trigger"], rtl_exact
    )
    plot_files.append(
        plots.rate_efficiency_plot(
            efficiency["curve"],
            plot_dir / f"{name}_rate_efficiency.png",
            f"{name}: signal efficiency vs trigger rate",
            label,
            efficiency["rate_hz"],
            efficiency["min_reliable_rate_hz"],
        ).name
    )
    per_seed_auc = {
        signal: metrics.aggregate([s["auc"][signal] for s in tinfo["per_seed"]]) for signal in per_signal
    }
    # the L1 budget of the current config (firmware.budget), so a new budget needs no firmware rebuild
    resources = validation["resources"]
    budget = model_budget(name, resources, has_convolution(validation), config.firmware)
    split_file = run_dir / qinfo["splits"]
    nuisance = nuisance_correlation(split_file, scores, y, classes[0])
    if nuisance is not None and name == "nurd":
        plot_files.append(nurd_sculpting_plot(config, split_file, scores, y, classes, plot_dir, label))
    return {
        "family": family,
        "data": {
            "description": DATA_DESCRIPTION[family],
            "source": source,
            "clipped_noise": data_summary.get("clipped_noise", {}),
        },
        "auc": {v: float(np.mean([p["auc"][v] for p in per_signal.values()])) for v in VERSIONS},
        "tpr_at_trigger": {
            v: float(np.mean([p["tpr_at_trigger"][v] for p in per_signal.values()])) for v in VERSIONS
        },
        "tpr_working_point": {"fpr": fpr, "rate_hz": fpr * config.metrics.bunch_crossing_rate_hz},
        # the firmware stage's figures (per layer under "layers") with the budget's: ns, fractions of the part
        "resources": {**resource_summary(resources, budget["clock_period_ns"]), **resources},
        "budget": budget,
        # the Verilog's Verilator simulation against csim and its Yosys figures (None: firmware.rtl off)
        "rtl": rtl_summary(rtl_record) if rtl_record is not None else None,
        "trigger": validation["trigger"],
        # the trigger's figure of merit: each version's efficiency at firmware.trigger_rate_hz (reports/efficiency.py)
        "efficiency_at_rate": efficiency,
        "per_signal": per_signal,
        "float_seeds": per_seed_auc,
        "csim": {
            key: validation[key]
            for key in (
                "exact_fraction",
                "within_1lsb_fraction",
                "max_diff_lsb",
                "p999_diff_lsb",
                "saturated_events",
                "n_events",
                "output_lsb",
            )
        }
        | {
            "saturation_traced_events": validation["saturation"]["n_traced"],
            "input_clipped": validation["input_clipped"],
        },
        "saturation": saturation_figures(validation["saturation"], classes),
        "bits": qinfo["bits"],
        "input_format": qinfo["input_format"],
        "output_format": validation["output_format"],
        "layer_precisions": validation["layer_precisions"],
        "hls_project": validation["hls_project"],
        "firmware": {
            "backend": config.firmware.backend,
            "part": config.firmware.part,
            "clock_period_ns": config.firmware.clock_period_ns,
            "io_type": validation["io_type"],
            "strategy": validation["strategy"],
            "reuse_factor": config.firmware.reuse_factor,
            "convert_compile_seconds": validation["convert_compile_seconds"],
            "csim_events_per_second": validation["csim_events_per_second"],
        },
        "nuisance_correlation": nuisance,
        "frozen_head": qinfo.get("qat_report"),
        "plots": [str(RELATIVE.report.plots / p) for p in plot_files],
    }


RTL_KEYS = (
    "exact_fraction",
    "events",
    "events_per_second",
    "lut",
    "ff",
    "carry",
    "dsp",
    "latency_cycles",
    "latency_ns",
    "source",
    "build_seconds",
    "synth_seconds",
    "synth_cpu_seconds",
    "da4ml_cost",
    "da4ml_reg_bits",
    "qkeras_exact_fraction",
    "max_abs_diff",
    "rtl_project",
)


def rtl_summary(figures: RTLRecord) -> dict[str, Any]:
    """The report's ``rtl`` entry of one model from its ``firmware/<name>/rtl/rtl.json``."""
    return {key: figures[key] for key in RTL_KEYS}


def saturation_figures(saturation: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """The csim saturation trace of one model: events with a layer outside its fixed-point type,
    overall and per class (``per_class`` keyed by class name; None when the firmware stage
    predates per-class tracing)."""
    per_class = saturation.get("per_class")
    if per_class is not None:
        per_class = {classes[int(k)] if k.isdigit() else k: v for k, v in per_class.items()}
    return {
        "n_traced": saturation["n_traced"],
        "n_events": saturation["n_events"],
        "fraction": saturation["fraction"],
        "per_class": per_class,
        "per_layer": saturation["per_layer"],
        # margins: headroom (bits) of the tightest l1ad-sized layer on events the types were not sized on
        "margin_bits": {c: v.get("margin_bits") for c, v in (per_class or {}).items()},
    }


def nuisance_correlation(
    split_file: Path, scores: dict[str, np.ndarray], y: np.ndarray, background: str, max_events: int = 5000
) -> dict[str, Any] | None:
    """Pearson and distance correlation of each score version with the nuisance on the first background.

    The nuisance (jet mass, mjj) is what a trigger cut must not sculpt; None when the split has none.
    Distance correlation is O(n^2): at most ``max_events`` events (fixed seed).
    """
    with open_h5(split_file) as f:
        if "nuisance" not in f["test"]:
            return None
        nuisance = f["test"]["nuisance"][...].astype(np.float64)
        name = f.attrs.get("nuisance", "nuisance")
    name = name.decode() if isinstance(name, bytes) else str(name)
    sel = y == 0
    return {
        "nuisance": name,
        "background": background,
        "n_events": int(sel.sum()),
        "pearson": {v: metrics.pearson(scores[v][sel], nuisance[sel]) for v in VERSIONS},
        "distance": {
            v: metrics.distance_correlation(scores[v][sel], nuisance[sel], max_events=max_events)
            for v in VERSIONS
        },
    }


def nurd_sculpting_plot(
    config: Config,
    split_file: Path,
    scores: dict[str, np.ndarray],
    y: np.ndarray,
    classes: list[str],
    plot_dir: Path,
    label: str,
) -> str:
    """The deployed NuRD's mass sculpting: the first background's jet mass after cuts on the csim score.

    Same cuts as the NuRD study (``studies.nurd.sculpting_efficiencies``), on the firmware's own score, with
    its Pearson correlation in the title. Returns the plot's file name.
    """
    with open_h5(split_file) as f:
        mass = f["test"]["nuisance"][...].astype(np.float64)
    sel = y == 0
    pearson = metrics.pearson(scores["csim"][sel], mass[sel])
    return plots.mass_sculpting_plot(
        mass[sel],
        scores["csim"][sel],
        config.studies.nurd.sculpting_efficiencies,
        plot_dir / "nurd_mass_sculpting.png",
        f"deployed NuRD (csim): {classes[0]} jet mass after score cuts, Pearson {pearson:+.3f}",
        label,
    ).name


def run_report(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    run, written = RunPaths(run_dir), ReportPaths(out)
    manifest = read_json(run.manifest)
    models = {name: model_figures(config, run_dir, name, written.plots) for name in config.run.models}
    studies = {name: read_record(path, StudyRecord) for name, path in run.study_records().items()}
    report: ReportJSON = {
        "schema": SCHEMA_VERSION,  # reports/records.py: the typed records and docs/report.schema.json
        "run": {
            "name": config.run.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git_commit": manifest.get("git_commit"),
            "versions": manifest.get("versions"),
            "stage_seconds": {s: r["seconds"] for s, r in manifest.get("stages", {}).items()},
        },
        "models": models,
        "studies": studies,
        # the last `l1ad scan` (RUN_DIR/scan/scan.json), when one ran in this run directory
        "scan": read_json(run.scan.json) if run.scan.json.is_file() else None,
    }
    write_json(written.json, report)
    text = render_markdown(report, config, run_dir)
    with atomic_path(written.markdown) as tmp:
        tmp.write_text(text)
    with atomic_path(written.html) as tmp:
        tmp.write_text(render_html(text, out, f"l1ad report: {config.run.name}"))
    return {name: {"auc": m["auc"], "csim_exact": m["csim"]["exact_fraction"]} for name, m in models.items()}


def _f(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_markdown(report: dict[str, Any], config: Config, run_dir: Path) -> str:
    """The human-readable report: one section per deployed model."""
    lines = [f"# l1ad report: run `{report['run']['name']}`", ""]
    lines += [
        f"git commit `{report['run']['git_commit']}`, created {report['run']['created']}. "
        "Stage times (s): " + ", ".join(f"{s} {t}" for s, t in report["run"]["stage_seconds"].items()) + ".",
        "",
    ]
    failures = gate_failures(report, config)
    lines += ["**Gate: passed**" if not failures else "**Gate: FAILED** - " + "; ".join(failures), ""]
    for name, m in report["models"].items():
        src = m["data"]["source"]
        lines += [
            f"## {name}",
            "",
            f"Data: {m['data']['description']}, "
            + (
                "**synthetic** (l1ad generator, not real collision data)."
                if src == "synthetic"
                else f"file `{src}`."
            )
            + (
                f" Floating-point noise set to 0 on loading: {noise_text(m['data']['clipped_noise'])}."
                if m["data"].get("clipped_noise")
                else ""
            ),
            f"Architecture: {architecture(name, config)}",
            f"Input format the trigger must deliver: `{m['input_format']}`; score format `{m['output_format']}`; "
            f"weights {m['bits']['weight_bits']} bits, activations {m['bits']['activation_bits']} bits.",
            f"HLS project: `{m['hls_project']}` ({m['firmware']['backend']}, {m['firmware']['part']}, "
            f"{m['firmware']['clock_period_ns']} ns, {m['firmware']['io_type']}, {m['firmware']['strategy']}, "
            f"RF {m['firmware']['reuse_factor']}); convert + compile {_f(m['firmware']['convert_compile_seconds'], 1)} s, "
            f"csim {_f(m['firmware']['csim_events_per_second'], 0)} events/s.",
            "",
            "| signal | AUC float | AUC QKeras | AUC csim | max SIC float / QKeras / csim |",
            "|---|---|---|---|---|",
        ]
        for signal, p in m["per_signal"].items():
            lines.append(
                f"| {signal} | {_f(p['auc']['float'])} | {_f(p['auc']['qkeras'])} | {_f(p['auc']['csim'])} | "
                + " / ".join(_f(p["max_sic"][v], 2) for v in VERSIONS)
                + " |"
            )
        lines += [
            "",
            *efficiency_lines(
                m["efficiency_at_rate"], config.check.min_efficiency_ratio, config.check.min_float_passing
            ),
        ]
        c = m["csim"]
        lines += [
            "",
            f"C simulation vs QKeras on {c['n_events']} test events: {c['exact_fraction']:.4%} bit-identical, "
            f"{c['within_1lsb_fraction']:.4%} within 1 LSB ({c['output_lsb']:g}), max difference "
            f"{_f(c['max_diff_lsb'], 1)} LSB; events with a layer out of its range: {c['saturated_events']} "
            f"of {c['saturation_traced_events']} traced.",
            saturation_line(m["saturation"], config.check.max_saturated_fraction),
            "Events with an input outside the input format (saturated by the input quantizer, in QKeras "
            "and firmware alike): "
            + ", ".join(f"{k} {v:.2%}" for k, v in c["input_clipped"]["fraction"].items())
            + ".",
            "",
        ]
        lines += resource_lines(m["resources"]) + rtl_lines(m.get("rtl"), m["resources"])
        lines += budget_lines(m.get("budget")) + layer_lines(m["resources"])
        lines += trigger_lines(m["trigger"])
        nc = m.get("nuisance_correlation")
        if nc:
            lines += [
                f"Score vs {nc['nuisance']} on {nc['background']} test events ({nc['n_events']}): Pearson "
                + " / ".join(_f(nc["pearson"][v]) for v in VERSIONS)
                + ", distance correlation "
                + " / ".join(_f(nc["distance"][v]) for v in VERSIONS)
                + " (float / QKeras / csim; 0 = the cut does not sculpt it).",
                "",
            ]
        head = m.get("frozen_head")
        if head:
            consts = "; ".join(
                f"`{layer}` kernel `{c['kernel']['quantizer']}` (max |error| {c['kernel']['max_abs_error']:.2g}, "
                f"{c['kernel']['max_rel_error']:.1e} of the largest), bias `{c['bias']['quantizer']}` "
                f"(max |error| {c['bias']['max_abs_error']:.2g})"
                for layer, c in head["constants"].items()
            )
            err = head["distance_relative_error"]
            lines += [
                f"Frozen Mahalanobis head, quantized constants: {consts}. Exact QKeras distance vs the float "
                f"Mahalanobis distance of the same quantized representation: relative error median "
                f"{err['median']:.1e}, 99% {err['p99']:.1e}, max {err['max']:.1e}.",
                "",
            ]
        if len(m["float_seeds"]) and next(iter(m["float_seeds"].values()))["n"] > 1:
            lines += [
                "Float AUC over seeds (best / mean +- std): "
                + ", ".join(
                    f"{s} {a['best']:.3f} / {metrics.mean_std(a, 3, sep=' +- ')}"
                    for s, a in m["float_seeds"].items()
                ),
                "",
            ]
        lines += [f"![{Path(p).stem}]({Path(p).relative_to(RELATIVE.report.root)})" for p in m["plots"]]
        lines.append("")
    for name in report["studies"]:
        # Each study writes its own Markdown section (image links relative to report/).
        lines += [RunPaths(run_dir).study(name).markdown.read_text().rstrip(), ""]
    if report["scan"] is not None:
        lines += [RunPaths(run_dir).scan.markdown.read_text().rstrip(), ""]
    return "\n".join(lines) + "\n"


def architecture(name: str, config: Config) -> str:
    """The deployed graph of ``name`` and how it relates to its source study's (from the config)."""

    def widths(*parts: Any) -> str:
        return "-".join(str(w) for part in parts for w in (part if isinstance(part, tuple) else (part,)))

    if name == "ocdn":
        return (
            f"{widths(5, config.train.ocdn.hidden, 1)} (L1-sized; the OCDN study trains the paper's "
            f"{widths(5, config.studies.oneclass.ocdn_hidden, 1)})."
        )
    if name == "ae":
        ae = config.train.ae
        if ae.score == "latent":
            return (
                f"encoder {widths(57, ae.encoder, ae.latent)} of a variational AE, score = sum of squared "
                "latent means (AXOL1TL's form); the AE-on-FPGA study's score is the reconstruction error."
            )
        return (
            f"{widths(57, ae.encoder, ae.latent, tuple(reversed(ae.encoder)), 57)}, score = sum of squared "
            "residuals summed on chip (L1-sized; the AE-on-FPGA study's AEs are 57-32-16-3-16-32-57 and "
            "larger, with the same score)."
        )
    if name == "nurd":
        n, s = config.train.nurd, config.studies.nurd
        return (
            f"CNN {widths(n.filters)} filters {n.kernel_size}x{n.kernel_size}/stride {n.strides}"
            f"{', 2x2 max pooling' if n.pool else ''}, dense {widths(n.dense)}, representation "
            f"{n.representation_dim}, fixed Mahalanobis head (L1-sized; the NuRD study trains "
            f"{widths(s.filters)} filters {s.kernel_size}x{s.kernel_size}, dense {widths(s.dense)}, "
            f"representation {s.representation_dim})."
        )
    return "bring-your-own model."


def saturation_line(sat: dict[str, Any], limit: float) -> str:
    """Per class, the fraction of csim-traced events in which a layer saturates or wraps, and the margin
    of the tightest layer l1ad sized, both on test events the types were not sized on."""
    if sat["per_class"] is None:
        return "Saturation per class: not traced (older firmware stage; rerun `l1ad firmware --force`)."

    def margin(s: dict[str, Any]) -> str:
        if s.get("margin_bits") is None:
            return ""
        return f", margin {s['margin_bits']:+.2f} bits at {s['tightest_layer']}"

    return (
        "Events in which a layer saturates or wraps (leaves its fixed-point type) in csim, per class, "
        "traced on held-out test events (the types were sized on training background and the other half "
        "of each signal): "
        + ", ".join(
            f"{cls} {s['fraction']:.2%} ({s['n_events']} of {s['n_traced']} traced{margin(s)})"
            for cls, s in sat["per_class"].items()
        )
        + f"; gate limit {limit:.2%}. A margin is the headroom the most demanding held-out event leaves in "
        "the tightest type l1ad sized (1 bit: it reaches half the range; negative: it saturates)."
    )


def resource_lines(r: dict[str, Any]) -> list[str]:
    """One table of latency and resources, labelled estimate or synthesized."""
    pct = r.get("percent_of_part") or {}

    def cell(key: str, digits: int = 0) -> str:
        value = f"{r[key]:.{digits}f}"
        return f"{value} ({pct[key]:.2f}%)" if key in pct and pct[key] is not None else value

    label = {
        "estimate": "estimate (l1ad model of the converted graph, not a vendor result)",
        "synthesized": "synthesized (vendor report)",
    }.get(r["source"], source_label(r["source"]))
    lines = [
        f"Resources and latency, {label}:",
        "",
        "| parameters | non-zero mult. | BOPs | latency | II | DSP | LUT | FF | BRAM |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {r.get('parameters', 'n/a')} | {r.get('nonzero_multiplications', 'n/a')} | {r.get('bops', 'n/a')} | "
        f"{r['latency_cycles']} cycles = {r['latency_ns']:.0f} ns | {r['ii']} | {cell('dsp')} | {cell('lut')} | "
        f"{cell('ff')} | {cell('bram', 1)} |",
        "",
    ]
    if r.get("note"):
        lines += [f"Note: {r['note']}", ""]
    return lines


def rtl_lines(rtl: dict[str, Any] | None, r: dict[str, Any]) -> list[str]:
    """The RTL check of one model and its Yosys figures beside da4ml's cost and the resource figures
    above, each column labelled with its source."""
    if not rtl:
        return []

    def n(value: Any) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    eps = rtl.get("events_per_second")
    lines = [
        f"RTL (`{rtl.get('rtl_project')}`: da4ml Verilog, {rtl['latency_cycles']} cycles = "
        f"{_f(rtl.get('latency_ns'), 0)} ns): Verilator simulation == csim on {rtl['exact_fraction']:.4%} of "
        f"{rtl['events']} test events ({n(eps)} events/s, build {_f(rtl.get('build_seconds'), 0)} s).",
        "",
        f"| figure | {rtl['source']} | da4ml cost (whole network) | {source_label(r.get('source'))} |",
        "|---|---|---|---|",
        f"| LUT | {n(rtl.get('lut'))} | {n(rtl.get('da4ml_cost'))} | {n(r.get('lut'))} |",
        f"| FF | {n(rtl.get('ff'))} | {n(rtl.get('da4ml_reg_bits'))} | {n(r.get('ff'))} |",
        f"| CARRY | {n(rtl.get('carry'))} | n/a | n/a |",
        f"| DSP | {n(rtl.get('dsp'))} | n/a | {n(r.get('dsp'))} |",
        f"| latency (cycles) | {rtl['latency_cycles']} | {rtl['latency_cycles']} | {r.get('latency_cycles', 'n/a')} |",
        "",
    ]
    if rtl.get("lut") is not None:
        lines += [
            f"Yosys `synth_xilinx` in {_f(rtl.get('synth_seconds'), 0)} s ({_f(rtl.get('synth_cpu_seconds'), 0)} s "
            "of CPU, in the background while the other scorers built): it counts LUT2/LUT3 cells one each "
            "where Vivado packs pairs into one LUT6, and maps wide products to DSPs by its own rules.",
            "",
        ]
    return lines


def budget_lines(b: dict[str, Any] | None) -> list[str]:
    """The L1 budget table of one model (``firmware/budget.py``): each figure, its limit and the verdict."""
    if not b:
        return ["L1 budget: not evaluated (no resources in the firmware validation).", ""]
    lines = [
        f"L1 budget ({b['kind']} graph, `firmware.budget`; figures: {b['label']}): "
        + ("**within budget**" if b["passed"] else "**over budget**"),
        "",
        "| figure | value | limit | pass |",
        "|---|---|---|---|",
    ]
    for key, f in b["figures"].items():
        if f["value"] is None:
            value = f"n/a ({f.get('note', 'unknown')})"
        elif key in BUDGET_FRACTIONS:
            value = f"{f['count']:.0f} ({100 * f['value']:.2f}% of the part)"
        else:
            value = f"{f['value']:g} ns"
        limit = f"{100 * f['limit']:.2f}%" if key in BUDGET_FRACTIONS else f"{f['limit']:g} ns"
        lines.append(f"| {key} | {value} | {limit} | {'yes' if f['passed'] else '**no**'} |")
    return [*lines, ""]


def layer_lines(r: dict[str, Any]) -> list[str]:
    """Per-layer resources of the estimate (``resources.layers``); none in a vendor report."""
    layers = r.get("layers") or {}
    if not layers:
        return []
    lines = [
        f"Per layer ({source_label(r.get('source'))}):",
        "",
        "| layer | class | LUT | DSP | FF | delay (ns) |",
        "|---|---|---|---|---|---|",
    ]
    for layer, row in layers.items():
        cells = [None if row.get(k) is None else f"{row[k]:.0f}" for k in ("lut", "dsp", "ff")]
        cells.append(None if row.get("delay_ns") is None else f"{row['delay_ns']:g}")
        kind = f"{row.get('class_name', '')}" + (" (DA: da4ml cost)" if row.get("source") == "da4ml" else "")
        lines.append(f"| {layer} | {kind} | " + " | ".join("n/a" if c is None else c for c in cells) + " |")
    return [*lines, ""]
