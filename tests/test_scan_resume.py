"""The design-space scan (``l1ad scan``) on a 2-worker LocalCluster, from a copy of the tiny run.

A point that fails is recorded and the others finish; a rerun runs only what is missing and skips the
finished points. QKeras and HGQ points share the OCDN's Pareto fronts; its two QKeras widths at one
strategy and reuse factor draw its bit-width plots; the report, its chain up to date, is rebuilt with them.
"""

from __future__ import annotations

import json
import shutil

from l1ad import api
from tests.pipeline_helpers import TINY, write_config

SCAN = {
    "points": [
        {"model": "ocdn", "bits": 4, "reuse_factor": 2},
        {"model": "ocdn", "bits": 6, "reuse_factor": 2},
        {"model": "ae", "bits": 6, "reuse_factor": 1},
        {"model": "ocdn", "bits": 6, "quantizer": "hgq", "beta": 1.0e-6},
    ],
    "epochs": 1,
}


def test_scan_records_a_failed_point_then_resumes_and_skips_finished_points(tiny_run, tmp_path, capsys):
    _, tiny_dir, _ = tiny_run
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_dir, run_dir, ignore=shutil.ignore_patterns("scan"))
    config = write_config(tmp_path / "scan.yaml", {**TINY, "scan": SCAN, "cluster": {"workers": 2}})
    # A broken artifact makes the AE point fail for real (its float weights are gone).
    deployed = run_dir / json.loads((run_dir / "train" / "ae" / "info.json").read_text())["deployed"]
    shutil.move(deployed, tmp_path / "ae_weights")

    summary = api.scan(config, run_dir)
    assert sorted(p["id"] for p in summary["points"]) == [
        "ocdn-b4-rf2-latency",
        "ocdn-b6-rf2-latency",
        "ocdn-hgq1e-06-b6-rf1-latency",
    ]
    assert [f["id"] for f in summary["failed"]] == ["ae-b6-rf1-latency"]
    assert summary["failed"][0]["error"]
    for point in summary["points"]:
        assert point["csim_exact_fraction"] == 1.0  # bit-exact at every point, not just the default
        assert point["lut"] > 0 and point["latency_cycles"] >= 1
    # a front point exists per view, and the larger reuse factor halves the initiation rate
    assert summary["pareto"]["ocdn"]["lut"] and summary["pareto"]["ocdn"]["latency"]
    by_id = {p["id"]: p for p in summary["points"]}
    assert by_id["ocdn-b6-rf2-latency"]["ii"] == 2 * by_id["ocdn-hgq1e-06-b6-rf1-latency"]["ii"]
    for plot in summary["plots"]:
        assert (run_dir / plot).stat().st_size > 0
    assert {"scan/plots/bits_ocdn_auc_ratio.png"} <= set(summary["plots"])
    assert set(by_id["ocdn-b4-rf2-latency"]["auc_ratios"]) == {"signal"}
    assert "ae-b6-rf1-latency failed" in (run_dir / "scan" / "scan.md").read_text()
    done = run_dir / "scan" / "points" / "ocdn-b4-rf2-latency" / "result.json"
    mtime = done.stat().st_mtime_ns

    shutil.move(tmp_path / "ae_weights", deployed)
    capsys.readouterr()
    summary = api.scan(config, run_dir)
    assert "3 finished before, 1 to run" in capsys.readouterr().out
    assert done.stat().st_mtime_ns == mtime  # not redone
    assert len(summary["points"]) == 4 and summary["failed"] == []
    # QKeras and HGQ points of the OCDN share its Pareto fronts, and a sentence compares them
    assert summary["quantizer_comparison"]["ocdn"].startswith("ocdn: to reach mean csim AUC")
    hgq_point = next(p for p in summary["points"] if p["quantizer"] == "hgq")
    assert hgq_point["csim_exact_fraction"] == 1.0 and hgq_point["hgq_ebops"] > 0
    assert not (run_dir / "scan" / "failed" / "ae-b6-rf1-latency.json").exists()
    # the scan rebuilt the report (the tiny run's chain is up to date for this config)
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert len(report["scan"]["points"]) == 4
    markdown = (run_dir / "report" / "report.md").read_text()
    assert "## Design-space scan" in markdown and "bits_ocdn_auc_ratio.png" in markdown
