"""The whole toolchain on a tiny config: data -> train -> quantize -> firmware -> report -> check.

Real stages, real hls4ml conversion and g++ C simulation, just small sizes: the session's shared tiny
run (``tiny_run``, conftest.py). The same run directory then shows resume (upstream stages skipped)
and the gate failing on a tighter budget without a rebuild; test_gate_starved.py starves a model,
test_scan_resume.py and test_sharded_csim.py scale out on Dask from the same run.
"""

from __future__ import annotations

import json

import pytest

from l1ad import api
from l1ad.config import load_config
from l1ad.errors import GateError
from tests.pipeline_helpers import LOOSE_BUDGET, TINY, cli, write_config


def test_run_reaches_a_report_that_honours_the_contract(tiny_run):
    _, run_dir, failures = tiny_run
    assert failures == []
    report = json.loads((run_dir / "report" / "report.json").read_text())
    for name in ("ocdn", "ae", "nurd"):
        m = report["models"][name]
        for version in ("float", "qkeras", "csim"):
            assert 0.0 <= m["auc"][version] <= 1.0
            assert 0.0 <= m["tpr_at_trigger"][version] <= 1.0
        assert m["csim"]["within_1lsb_fraction"] >= 0.999
        assert m["csim"]["saturated_events"] >= 0
        assert (run_dir / m["hls_project"]).is_dir()
        assert m["input_format"].startswith("ap_fixed<")
        assert m["bits"]["weight_bits"] == getattr(load_config(None).quantize, name).bits.weight_bits
        res = m["resources"]
        # no vendor tool on these machines; every scorer built with distributed arithmetic by default
        assert res["source"] == "estimate+da4ml" and m["firmware"]["strategy"] == "distributed_arithmetic"
        for key in ("latency_cycles", "latency_ns", "ii", "dsp", "lut", "ff", "bram", "bops"):
            assert res[key] >= 0, key
        assert res["latency_cycles"] >= 1
        assert res["ii_ns"] == res["ii"] * res["clock_period_ns"] and 0 < res["lut_fraction"] < 1
        budget = m["budget"]
        assert budget["passed"] and budget["kind"] == ("cnn" if name == "nurd" else "dense")
        assert budget["figures"]["latency_ns"] == {"value": res["latency_ns"], "limit": 1.0e6, "passed": True}
        assert set(budget["figures"]) == {"latency_ns", "ii_ns", "lut", "dsp", "ff", "bram"}
        trig = m["trigger"]
        assert trig["rate_hz"] == 1000.0
        assert set(trig["efficiency"]) == set(m["per_signal"])
        # the firmware constant selects exactly the events the threshold does on the csim scores
        assert (
            trig["threshold_fixed"] <= trig["threshold"] < trig["threshold_fixed"] + m["csim"]["output_lsb"]
        )
        assert (run_dir / m["hls_project"] / "firmware" / "trigger_threshold.h").is_file()
        # set on the generated rate sample, scored by the RTL, cross-checked against csim; the test set's
        # own threshold kept beside
        sample = trig["background_sample"]
        assert sample["events"] == trig["n_background"] == 5000 and sample["scored_with"] == "RTL (Verilator)"
        assert sample["check"] == {"events": 5000, "rtl_equals_csim_fraction": 1.0}
        assert trig["test_set"]["n_background"] > 0
        for plot in m["plots"]:
            assert (run_dir / plot).stat().st_size > 0
    nurd = report["models"]["nurd"]
    # the CICADA-like CNN unrolls io_parallel; its score is scored against both backgrounds (qcd + wz)
    assert nurd["family"] == "jet_images" and nurd["firmware"]["io_type"] == "io_parallel"
    assert nurd["per_signal"]["top"]["n_test"]["background"] == 180
    assert set(nurd["frozen_head"]["constants"]) == {"mahalanobis_0_projection", "mahalanobis_1_projection"}
    assert nurd["frozen_head"]["distance_relative_error"]["p99"] < 0.05
    assert nurd["nuisance_correlation"]["nuisance"] == "jet_mass_gev"
    assert all(0.0 <= v <= 1.0 for v in nurd["nuisance_correlation"]["distance"].values())
    assert report["models"]["ae"]["firmware"]["io_type"] == "io_parallel"
    text = (run_dir / "report" / "report.md").read_text()
    assert "ocdn" in text and "## nurd" in text and "Frozen Mahalanobis head" in text
    assert "L1 budget (cnn graph" in text and "| layer | class | LUT | DSP | FF | delay (ns) |" in text
    page = (run_dir / "report" / "report.html").read_text()  # self-contained: the plots embedded
    assert "<table>" in page and 'src="data:image/png;base64,' in page and 'src="plots/' not in page
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(manifest["stages"]) >= {"data", "train", "quantize", "firmware", "report"}
    assert manifest["versions"]["tensorflow"].startswith("2.14")


def test_rtl_equals_csim_on_every_test_event(tiny_run):
    """firmware.rtl (on by default): each scorer's Verilog, Verilator-simulated on its whole test set."""
    _, run_dir, _ = tiny_run
    report = json.loads((run_dir / "report" / "report.json").read_text())
    for name in ("ocdn", "ae", "nurd"):
        rtl_dir = run_dir / "firmware" / name / "rtl"
        figures = json.loads((rtl_dir / "rtl.json").read_text())
        assert figures["exact_fraction"] == 1.0 and figures["qkeras_exact_fraction"] == 1.0
        assert figures["events"] == report["models"][name]["csim"]["n_events"] > 0
        assert figures["latency_cycles"] >= 1 and figures["events_per_second"] > 0
        assert (rtl_dir / "build_vivado_prj.tcl").is_file() and (rtl_dir / f"src/l1ad_{name}.v").is_file()
        assert (rtl_dir / "tb" / f"l1ad_{name}_tb.v").is_file()
        assert len((rtl_dir / "tb" / "tb_expected.hex").read_text().split()) == 50  # n_testbench_events
        rtl = report["models"][name]["rtl"]
        assert rtl["exact_fraction"] == 1.0 and rtl["rtl_project"] == f"firmware/{name}/rtl"
        assert rtl["source"].startswith("not synthesized") and rtl["lut"] is None  # synthesize: false
    assert "Verilator simulation == csim on 100.0000% of" in (run_dir / "report" / "report.md").read_text()


def test_hls_project_is_complete(tiny_run):
    _, run_dir, _ = tiny_run
    project = run_dir / "firmware" / "ae" / "hls_project"
    assert (project / "build_prj.tcl").is_file()
    assert (project / "firmware").is_dir()
    assert (project / "tb_data" / "tb_input_features.dat").is_file()


def test_rerun_skips_finished_stages(tiny_run, capsys):
    config, run_dir, _ = tiny_run
    api.train(config, run_dir)
    out = capsys.readouterr().out
    # the asked-for stage says it is up to date; its upstream stages are skipped quietly, never rerun
    assert "[train] up to date" in out and "[data] generate" not in out


def test_a_change_to_one_model_rebuilds_that_model_only(tiny_run, tmp_path, capsys):
    """quantize.ae changed: the AE's quantize and firmware folders are rebuilt, the OCDN's and NuRD's kept
    (the same files, hard-linked into the new stage folders), the report has all three."""
    import shutil

    _, tiny_dir, _ = tiny_run
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_dir, run_dir)
    changed = {**TINY, "quantize": {**TINY["quantize"], "ae": {"epochs": 1, "learning_rate": 3.0e-4}}}
    config = write_config(tmp_path / "changed.yaml", changed)
    files = {m: run_dir / "quantize" / m / "qmodel.h5" for m in ("ocdn", "ae", "nurd")}
    before = {m: f.stat().st_ino for m, f in files.items()}
    api.report(config, run_dir)
    out = capsys.readouterr().out
    for stage in ("quantize", "firmware"):
        assert f"[{stage}] ocdn, nurd up to date, kept; rebuilding ae" in out
    assert "[train]" not in out
    after = {m: f.stat().st_ino for m, f in files.items()}
    assert after["ocdn"] == before["ocdn"] and after["nurd"] == before["nurd"] and after["ae"] != before["ae"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(manifest["stages"]["firmware"]["summary"]) == {"ocdn", "ae", "nurd"}
    report = json.loads((run_dir / "report" / "report.json").read_text())
    assert report["models"]["ocdn"]["csim"]["exact_fraction"] == 1.0
    assert report["models"]["ae"]["csim"]["exact_fraction"] == 1.0


def test_a_tighter_budget_fails_the_gate_without_a_rebuild(tiny_run, tmp_path):
    _, run_dir, _ = tiny_run
    manifest = (run_dir / "manifest.json").read_text()
    tight = {
        **TINY,
        "firmware": {
            **TINY["firmware"],
            "budget": {**LOOSE_BUDGET, "overrides": {"ocdn": {"latency_ns": 1.0}}},
        },
    }
    config = write_config(tmp_path / "tight.yaml", tight)
    # the firmware stage's fingerprint ignores the budget: the built firmware stays up to date
    assert "[firmware] up to date" in cli("firmware", "--config", config, "--run-dir", run_dir).stdout
    with pytest.raises(
        GateError, match=r"gate failed \(1\): ocdn: latency_ns [0-9.]+ > limit 1 \((l1ad estimate|da4ml cost)"
    ):
        api.check(config, run_dir)
    assert (run_dir / "manifest.json").read_text() == manifest


def test_models_select_what_is_built_and_only_their_data(tmp_path):
    """A user with only dijet data: `--models ocdn` prepares the dijet family alone, and a study of another
    family, or an unknown model, is refused in one line."""
    from l1ad.errors import L1adError

    config = write_config(tmp_path / "tiny.yaml", {**TINY, "run": {"name": "tiny", "studies": ["nurd"]}})
    summary = api.data(config, tmp_path / "run", models=["ocdn"])
    assert set(summary) == {"dijet"}
    assert (tmp_path / "run" / "data" / "dijet_splits.h5").is_file()
    assert not (tmp_path / "run" / "data" / "l1_splits.h5").exists()
    assert not (tmp_path / "run" / "data" / "jet_images").exists()
    cfg = load_config(config)
    cfg.run.models = ("ocdn",)
    with pytest.raises(L1adError, match="study nurd reads the jet_images data.*add nurd to run.models"):
        api.study("nurd", cfg, tmp_path / "run")
    result = cli("data", "--config", config, "--run-dir", tmp_path / "run", "--models", "ocdn,higgs")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--models must name" in result.stderr
