"""A branch's run against its baseline: ``l1ad compare BASE NEW`` and ``l1ad check --baseline BASE``.

Per deployed model, and per signal where the figure is per signal: the AUC of float, QKeras and csim,
the efficiency at the trigger rate of float and firmware, the trigger threshold, latency, II, LUT, DSP,
FF, BRAM and whether the RTL equals csim. A figure regresses when
- an AUC falls more than ``check.baseline_auc_drop`` below the baseline's;
- an efficiency at the trigger rate falls so far that the two 68% intervals no longer meet (the new upper
  bound below the baseline's lower bound): a shift the events resolve, not noise;
- latency, II or a resource grows by more than ``check.baseline_resource_increase`` of the baseline's value
  (relative, as hls4ml's own synthesis baselines are compared; from 0, by more than that fraction of 1);
- the RTL stopped equalling csim on every event, or a model of the baseline is missing.
Thresholds move with any retraining: they are listed, never judged. Both reports must describe the same
part and clock, else resources are not comparable and the comparison says so and stops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from l1ad.artifacts import RunPaths
from l1ad.config import CheckConfig
from l1ad.errors import InputError
from l1ad.io import read_json

RESOURCES = ("latency_ns", "ii", "lut", "dsp", "ff", "bram")


@dataclass
class Row:
    """One compared figure."""

    model: str
    signal: str  # "" for a figure of the whole model
    figure: str
    base: float | None
    new: float | None
    regression: str | None = None  # why it regressed, or None

    @property
    def change(self) -> str:
        if self.base is None or self.new is None:
            return "missing" if self.new is None else "new"
        if self.base == 0:
            return "=" if self.new == 0 else f"{self.new - self.base:+.4g}"
        return f"{(self.new - self.base) / abs(self.base):+.2%}"


def read_report(path: str | Path) -> tuple[dict[str, Any], Path]:
    """report.json of a run directory, or the file itself; with the path it came from."""
    path = Path(path)
    file = RunPaths(path).report.json if path.is_dir() else path
    if not file.is_file():
        raise InputError(file, "no report.json: run `l1ad report` (or `l1ad run`) there first")
    report = read_json(file)
    if not isinstance(report, dict) or not isinstance(report.get("models"), dict):
        raise InputError(file, "not an l1ad report (no 'models')")
    return report, file


def _built_for(model: dict[str, Any]) -> tuple[Any, Any]:
    resources = model.get("resources") or {}
    return resources.get("part"), resources.get("clock_period_ns")


def compare_reports(base: dict[str, Any], new: dict[str, Any], tol: CheckConfig) -> list[Row]:
    """Every compared figure of the models of ``base`` (a model only in ``new`` is listed as new); raises
    ``ValueError`` when a model was built for another part or clock."""
    rows: list[Row] = []
    for name, b in base["models"].items():
        n = new["models"].get(name)
        if n is None:
            rows.append(Row(name, "", "model", 1.0, None, "missing from the new report"))
            continue
        if _built_for(b) != _built_for(n):
            raise ValueError(
                f"{name}: the baseline was built for {_built_for(b)} (part, clock ns) and the new run for "
                f"{_built_for(n)}: resources and latency are not comparable; rebuild one of them",
            )
        rows += _auc_rows(name, b, n, tol.baseline_auc_drop)
        rows += _efficiency_rows(name, b, n)
        rows += _resource_rows(name, b, n, tol.baseline_resource_increase)
        rows.append(_rtl_row(name, b, n))
    rows += [Row(name, "", "model", None, 1.0) for name in new["models"] if name not in base["models"]]
    return rows


def _auc_rows(name: str, b: dict[str, Any], n: dict[str, Any], drop: float) -> list[Row]:
    rows = []
    for signal, fb in (b.get("per_signal") or {}).items():
        fn = (n.get("per_signal") or {}).get(signal, {}).get("auc", {})
        for version, value in fb["auc"].items():
            new = fn.get(version)
            row = Row(name, signal, f"AUC {version}", value, new)
            if new is None:
                row.regression = "missing"
            elif new < value - drop:
                row.regression = f"AUC fell by {value - new:.4f} > {drop}"
            rows.append(row)
    return rows


def _efficiency_rows(name: str, b: dict[str, Any], n: dict[str, Any]) -> list[Row]:
    eb, en = b.get("efficiency_at_rate"), n.get("efficiency_at_rate")
    if not eb:
        return []
    rows = []
    if en and en.get("thresholds"):
        for version, tb in eb.get("thresholds", {}).items():
            tn = en["thresholds"].get(version) or {}
            rows.append(Row(name, "", f"threshold {version}", tb["threshold"], tn.get("threshold")))
    kilo = f"{eb['rate_hz'] / 1e3:g} kHz"
    for signal, sb in eb["signals"].items():
        sn = ((en or {}).get("signals") or {}).get(signal, {})
        for version in ("float", eb["firmware"]):
            vb, vn = sb.get(version), sn.get(version)
            if vb is None:
                continue
            row = Row(
                name, signal, f"efficiency at {kilo} {version}", vb["efficiency"], vn and vn["efficiency"]
            )
            if vn is None:
                row.regression = "missing"
            elif vn["interval_68"][1] < vb["interval_68"][0]:
                row.regression = (
                    f"68% intervals apart: new [{vn['interval_68'][0]:.4%}, {vn['interval_68'][1]:.4%}] below "
                    f"baseline [{vb['interval_68'][0]:.4%}, {vb['interval_68'][1]:.4%}] "
                    f"({vn['n_pass']} vs {vb['n_pass']} of {sb['n_signal']} events)"
                )
            rows.append(row)
    return rows


def _resource_rows(name: str, b: dict[str, Any], n: dict[str, Any], increase: float) -> list[Row]:
    rb, rn = b.get("resources") or {}, n.get("resources") or {}
    rows = []
    for key in RESOURCES:
        if key not in rb:
            continue
        value, new = rb[key], rn.get(key)
        row = Row(name, "", key, value, new)
        if new is None:
            row.regression = "missing"
        elif new - value > increase * max(abs(value), 1):
            row.regression = f"grew by more than {increase:.0%} ({rn.get('source', '?')})"
        rows.append(row)
    return rows


def _rtl_row(name: str, b: dict[str, Any], n: dict[str, Any]) -> Row:
    base = (b.get("rtl") or {}).get("exact_fraction")
    new = (n.get("rtl") or {}).get("exact_fraction")
    row = Row(name, "", "RTL == csim fraction", base, new)
    if base == 1.0 and new != 1.0:
        row.regression = "the RTL no longer equals csim on every event" if new is not None else "RTL not run"
    return row


def regressions(rows: list[Row]) -> list[str]:
    """One phrase per regressed figure, naming model, signal and figure."""
    out = []
    for r in rows:
        if r.regression:
            where = f"{r.model}/{r.signal}" if r.signal else r.model
            out.append(f"{where}: {r.figure} {_shown(r, r.base)} -> {_shown(r, r.new)}: {r.regression}")
    return out


def _shown(row: Row, value: float | None) -> str:
    """A figure's value as the table shows it: efficiencies in percent, counts with separators."""
    if value is None:
        return "-"
    if row.figure.startswith("efficiency"):
        return f"{value:.3%}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return f"{value:,.0f}"


def markdown(rows: list[Row], base: Path, new: Path) -> str:
    """The comparison as a Markdown table for a merge request: regressions first, then every figure."""
    found = regressions(rows)
    lines = [
        f"## l1ad: `{new}` against the baseline `{base}`",
        "",
        f"**{len(found)} regression{'s' if len(found) != 1 else ''}**" if found else "**No regression.**",
        "",
    ]
    lines += [f"- {phrase}" for phrase in found]
    lines += ["", "| model | signal | figure | baseline | new | change | |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = "regression" if r.regression else ""
        lines.append(
            f"| {r.model} | {r.signal} | {r.figure} | {_shown(r, r.base)} | {_shown(r, r.new)} | {r.change} | {mark} |"
        )
    return "\n".join(lines) + "\n"


def compare(base: str | Path, new: str | Path, tol: CheckConfig) -> dict[str, Any]:
    """Compare two runs (directories or report.json files): the rows, the regressions, the Markdown."""
    base_report, base_file = read_report(base)
    new_report, new_file = read_report(new)
    try:
        rows = compare_reports(base_report, new_report, tol)
    except ValueError as exc:
        raise InputError(new_file, str(exc)) from None
    return {
        "base": str(base_file),
        "new": str(new_file),
        "regressions": regressions(rows),
        "rows": [asdict(r) | {"change": r.change} for r in rows],
        "markdown": markdown(rows, base_file, new_file),
    }
