"""C synthesis with the vendor HLS tool where it is installed, read with hls4ml's report readers.

Where the tool is missing, ``resources_report`` says so in one line and returns the estimate of
``firmware.resources``: a machine without Vitis/Vivado never fails here.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware import resources, tools
from l1ad.errors import InputError

# The program hls4ml 1.3 itself runs for each backend's build(): the Vitis backend calls the unified
# `vitis-run` CLI (Vitis 2024.2+), the Vivado backend `vivado_hls`.
TOOLS = {"vitis": "vitis-run", "vivado": "vivado_hls"}


def _tool(backend: str) -> str:
    key = backend.lower()
    if key not in TOOLS:
        raise ValueError(f"backend '{backend}' has no vendor synthesis here; expected one of {sorted(TOOLS)}")
    return TOOLS[key]


def vendor_tool_available(backend: str) -> str | None:
    """Path of the HLS program hls4ml runs for ``backend`` ("Vitis" or "Vivado"), None when it is not on PATH."""
    return tools.find(_tool(backend))


def unavailable_message(backend: str) -> str:
    """The one line printed when the vendor tool is missing."""
    tool = _tool(backend)
    hint = (
        " (an older Vitis with only vitis_hls is not enough: hls4ml 1.3 builds through vitis-run)"
        if tool == "vitis-run" and tools.find("vitis_hls")
        else ""
    )
    return f"{tool} is not on PATH{hint}: resources and latency are estimates, not synthesis results"


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None  # e.g. "undef" latency of a design HLS could not bound


def read_synthesis_report(project_dir: str | Path) -> dict[str, Any]:
    """The synthesis figures of an hls4ml project, read with ``hls4ml.report.parse_vivado_report``.

    Latency, II and C-synthesis resources come from the ``<project>_csynth.xml`` report; when logic
    synthesis ran (``vivado_synth.rpt``) its LUT, FF, DSP and BRAM replace the C-synthesis ones (they
    are closer to the final design), which stay under ``c_synthesis``. ``source`` is "synthesized".
    """
    from hls4ml.report import parse_vivado_report

    project_dir = Path(project_dir)
    if not (project_dir / "project.tcl").is_file():
        raise InputError(project_dir, "not an hls4ml project (no project.tcl)")
    with contextlib.redirect_stdout(io.StringIO()):  # the reader prints a line per missing report
        report = parse_vivado_report(str(project_dir)) or {}
    csynth = report.get("CSynthesisReport")
    if not csynth:
        raise InputError(
            project_dir, "no C-synthesis report (<project>_prj/solution1/syn/report/*_csynth.xml)"
        )
    clock = float(csynth["TargetClockPeriod"])
    worst = _int(csynth.get("WorstLatency"))
    counts = {
        "dsp": _int(csynth.get("DSP")),
        "lut": _int(csynth.get("LUT")),
        "ff": _int(csynth.get("FF")),
        "bram": _int(csynth.get("BRAM_18K")),
    }
    available = {
        "dsp": _int(csynth.get("AvailableDSP")),
        "lut": _int(csynth.get("AvailableLUT")),
        "ff": _int(csynth.get("AvailableFF")),
        "bram": _int(csynth.get("AvailableBRAM_18K")),
    }
    stage = "c_synthesis"
    logic = report.get("VivadoSynthReport")
    if logic:
        stage = "logic_synthesis"
        tiles = logic.get("BRAM_18K")  # hls4ml's key; Vivado counts 36 Kb "Block RAM Tiles" there
        counts = {
            "dsp": _int(logic.get("DSP48E")),
            "lut": _int(logic.get("LUT")),
            "ff": _int(logic.get("FF")),
            "bram": None if tiles is None else round(2 * float(tiles)),
        }
    result: dict[str, Any] = {
        "source": "synthesized",
        "stage": stage,
        "clock_period_ns": clock,
        "estimated_clock_period_ns": float(csynth["EstimatedClockPeriod"]),
        "latency_cycles": worst,
        "latency_best_cycles": _int(csynth.get("BestLatency")),
        "latency_ns": None if worst is None else worst * clock,
        "ii": _int(csynth.get("IntervalMax")),
        **counts,
        "uram": _int(csynth.get("URAM")),
        "part_capacity": available,
        "percent_of_part": {
            k: 100.0 * counts[k] / available[k] for k in counts if counts[k] is not None and available[k]
        },
        "c_synthesis": csynth,
    }
    if report.get("CosimReport"):
        result["cosim"] = report["CosimReport"]
    return result


def synthesize(
    hls_model: Any, cosim: bool = False, logic_synthesis: bool = False, log_to_stdout: bool = False
) -> dict[str, Any]:
    """Run C synthesis (optionally co-simulation and logic synthesis) through hls4ml's ``build`` and read it.

    Needs the vendor tool (``vendor_tool_available``). Graph counts that synthesis does not report
    (BOPs, parameters, non-zero multiplications) and the estimate itself are added for comparison.
    """
    backend = str(hls_model.config.get_config_value("Backend"))
    if vendor_tool_available(backend) is None:
        raise RuntimeError(unavailable_message(backend))
    options: dict[str, Any] = {"csim": False, "synth": True, "cosim": cosim, "vsynth": logic_synthesis}
    if backend.lower() == "vitis":
        options["log_to_stdout"] = log_to_stdout  # Vivado's build() has no such option
    hls_model.build(**options)
    result = read_synthesis_report(hls_model.config.get_output_dir())
    part = str(hls_model.config.get_config_value("Part"))
    est = resources.estimate(hls_model, part, result["clock_period_ns"])
    for key in ("bops", "ebops", "parameters", "nonzero_multiplications"):
        result[key] = est[key]
    result["estimate"] = {
        k: est[k] for k in ("latency_cycles", "latency_ns", "ii", "dsp", "lut", "ff", "bram", "source")
    }
    return result


def resources_report(
    hls_model: Any,
    part: str,
    clock_period_ns: float,
    synth: bool = False,
    cosim: bool = False,
    logic_synthesis: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``models.<name>.resources`` of the report: synthesized when asked and possible, else the estimate.

    With ``synth`` and no vendor tool, ``log`` gets one line saying so and the estimate is returned
    (its ``note`` repeats the line); this never fails for a missing tool.
    """
    if synth:
        backend = str(hls_model.config.get_config_value("Backend"))
        if vendor_tool_available(backend) is not None:
            return synthesize(hls_model, cosim=cosim, logic_synthesis=logic_synthesis)
        line = unavailable_message(backend)
        log(line)
        return {**resources.estimate(hls_model, part, clock_period_ns), "note": line}
    return resources.estimate(hls_model, part, clock_period_ns)
