"""The whole toolchain on a tiny config: data -> train -> quantize -> firmware -> report -> check.

Real stages, real hls4ml conversion and g++ C simulation, just small sizes. The
same run directory then shows resume (upstream stages skipped) and the gate
failing on a deliberately starved model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from l1ad import api
from l1ad.config import load_config
from l1ad.errors import GateError

ROOT = Path(__file__).resolve().parents[1]

# The tiny models are not sized for L1 (test_budget.py covers the real limits): the gate still evaluates
# every figure, against limits no model of this size exceeds.
LOOSE_LIMITS = {"latency_ns": 1.0e6, "ii_ns": 1.0e6, "lut": 1.0, "dsp": 1.0, "ff": 1.0, "bram": 1.0}
LOOSE_BUDGET = {"dense": LOOSE_LIMITS, "cnn": LOOSE_LIMITS}

TINY = {
    "run": {"name": "tiny", "studies": []},
    "data": {
        "dijet": {"n_background": 60000, "n_signal": 3000, "n_test_signal": 2000},
        "l1": {"n_background": 30000, "n_signal": 3000},
        "jet_images": {"n_qcd": 300, "n_wz": 300, "n_top": 200, "image_size": 8},
        "rate_sample": 5000,  # one chunk: generated here, not on Dask
    },
    # the default strategy (distributed arithmetic) on small graphs: da4ml and g++ stay quick
    "train": {"ocdn": {"epochs": 2, "hidden": [16, 16]}, "ae": {"epochs": 3, "latent": 4}},
    "quantize": {
        "ocdn": {"epochs": 1},
        "ae": {"epochs": 1},
        "scan": {"bits": [4, 8], "epochs": 1},
    },
    # RTL simulated (firmware.rtl.enabled), not synthesized: Yosys is tested on a tiny layer (test_rtl.py)
    "firmware": {"n_testbench_events": 50, "budget": LOOSE_BUDGET, "rtl": {"synthesize": False}},
    "metrics": {"trigger_fpr_l1": 1.0e-3, "trigger_fpr_dijet": 1.0e-2},
    # 180 background and 200 top test jets resolve an AUC to about +-0.03: a 0.01 drop is noise there
    # (the untrained tiny NuRD moves by 0.01-0.02 under 8-bit weights); csim agreement stays strict.
    "check": {"auc_drop_tolerance": 0.05},
}


def _cli(*args: object) -> subprocess.CompletedProcess:
    """``l1ad ARGS`` in a subprocess, as a user runs it (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "l1ad.cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    config = write_config(tmp / "tiny.yaml", TINY)
    run_dir = tmp / "run"
    failures = api.run(config, run_dir)
    return config, run_dir, failures


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
    assert "[firmware] up to date" in _cli("firmware", "--config", config, "--run-dir", run_dir).stdout
    with pytest.raises(
        GateError, match=r"gate failed \(1\): ocdn: latency_ns [0-9.]+ > limit 1 \((l1ad estimate|da4ml cost)"
    ):
        api.check(config, run_dir)
    assert (run_dir / "manifest.json").read_text() == manifest


def test_gate_fails_on_a_starved_model_and_names_it(tiny_run, tmp_path):
    _, tiny_dir, _ = tiny_run
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_dir, run_dir)  # the other tests keep the passing run
    starved = dict(TINY)
    starved.pop("check")  # the default tolerance: the starved AE must fail the gate as CI would run it
    # 2-bit weights and activations and 4-bit inputs, no retraining. The input format
    # matters most: with its reconstruction gone the AE score degenerates to |x|^2, still
    # a fair discriminator, until the inputs themselves are clipped to [-2, 2).
    # (The OCDN is no good probe: its float score anti-tags this signal, so starving it
    # moves its AUC toward 0.5, i.e. up.)
    starved_bits = {
        "input_bits": 4,
        "input_integer": 1,
        "weight_bits": 2,
        "bias_bits": 2,
        "bias_integer": 1,
        "activation_bits": 2,
        "activation_integer": 1,
    }
    starved["quantize"] = {
        "ocdn": {"epochs": 0},
        "ae": {"epochs": 0, "bits": starved_bits},
        "scan": {"enabled": False},
    }
    starved_config = write_config(tmp_path / "starved.yaml", starved)
    with pytest.raises(GateError, match=r"ae/Ato4l: AUC_qkeras [0-9.]+ < AUC_float"):
        api.run(starved_config, run_dir)
    # the CLI says the same in one line and exits 1
    out = _cli("check", "--config", starved_config, "--run-dir", run_dir)
    assert out.returncode == 1
    assert "ae/Ato4l: AUC_qkeras" in out.stderr and out.stderr.count("\n") == 1
    assert load_config(starved_config).quantize.ae.bits.weight_bits == 2


# --- scaling out: the design-space scan and sharded C simulation on a 2-worker LocalCluster ---

SCAN = {
    "points": [
        {"model": "ocdn", "bits": 4, "reuse_factor": 1},
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
        "ocdn-b4-rf1-latency",
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
    assert by_id["ocdn-b6-rf2-latency"]["ii"] == 2 * by_id["ocdn-b4-rf1-latency"]["ii"]
    for plot in summary["plots"]:
        assert (run_dir / plot).stat().st_size > 0
    assert "ae-b6-rf1-latency failed" in (run_dir / "scan" / "scan.md").read_text()
    done = run_dir / "scan" / "points" / "ocdn-b4-rf1-latency" / "result.json"
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
    report = api.report(config, run_dir)
    assert len(report["scan"]["points"]) == 4
    assert "## Design-space scan" in (run_dir / "report" / "report.md").read_text()


def test_sharded_csim_equals_the_firmware_stage_event_by_event(tiny_run, tmp_path):
    import h5py

    from training.data.splits import read_splits

    config, run_dir, _ = tiny_run
    cfg = load_config(config)
    cfg.cluster.workers = 2
    test = read_splits(run_dir / "data" / "l1_splits.h5").test
    inputs = tmp_path / "l1_inputs.h5"
    with h5py.File(inputs, "w") as f:
        f["inputs"] = test.X  # float inputs: the C simulation gets them in the declared input format
    firmware = h5py.File(run_dir / "firmware" / "ae" / "csim_scores.h5", "r")["scores"][...]

    out = tmp_path / "sharded.h5"
    summary = api.csim("ae", inputs, out, cfg, run_dir, key="inputs", chunk_events=997)
    assert summary["workers"] == 2 and summary["chunks"] == -(-len(test.X) // 997)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["event_index"][...], np.arange(len(test.X)))
        np.testing.assert_array_equal(f["score"][...], firmware)
    assert not list(tmp_path.glob(".sharded.h5*"))  # no partial file or build folder left behind


def test_sharded_csim_of_an_adc2021_file_equals_the_in_process_loop(tiny_run, tmp_path):
    import h5py

    from training.data.l1objects import generate_l1_sample

    config, run_dir, _ = tiny_run
    cfg = load_config(config)
    cfg.cluster.workers = 2
    raw = tmp_path / "background.h5"
    generate_l1_sample(raw, "background", 2500, seed=11)
    api.csim("ae", raw, tmp_path / "sharded.h5", cfg, run_dir, chunk_events=600)
    # the plain loop, through the CLI
    cli = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "csim", "--config", str(config), "--run-dir", str(run_dir)]
        + ["--model", "ae", "--input", str(raw), "--output", str(tmp_path / "loop.h5"), "--in-process"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert cli.returncode == 0, cli.stderr
    assert "2500 events" in cli.stdout
    with h5py.File(tmp_path / "sharded.h5", "r") as a, h5py.File(tmp_path / "loop.h5", "r") as b:
        assert np.isfinite(a["score"][...]).all()
        np.testing.assert_array_equal(a["score"][...], b["score"][...])
        assert json.loads(a.attrs["summary"])["layout"] == "particles"


def test_interrupted_csim_job_resumes_from_its_finished_chunks(tiny_run, tmp_path, monkeypatch):
    import h5py

    import firmware.shard as shard
    from training.data.l1objects import generate_l1_sample

    config, run_dir, _ = tiny_run
    raw = tmp_path / "background.h5"
    generate_l1_sample(raw, "background", 1000, seed=12)
    clean = api.csim("ae", raw, tmp_path / "clean.h5", config, run_dir, chunk_events=200, in_process=True)

    real, calls = shard.score_chunk, []

    def interrupted_after_two_chunks(job, start, stop):
        calls.append(start)
        if len(calls) == 3:
            raise KeyboardInterrupt  # what Ctrl-C or a batch system's SIGTERM does mid-job
        return real(job, start, stop)

    monkeypatch.setattr(shard, "score_chunk", interrupted_after_two_chunks)
    out = tmp_path / "resumed.h5"
    with pytest.raises(KeyboardInterrupt):
        api.csim("ae", raw, out, config, run_dir, chunk_events=200, in_process=True)
    assert not out.exists()  # only the partial file, never a half-written output
    monkeypatch.setattr(shard, "score_chunk", real)
    resumed = api.csim("ae", raw, out, config, run_dir, chunk_events=200, in_process=True)
    assert resumed["chunks_done_before"] == 2 and clean["chunks_done_before"] == 0
    with h5py.File(tmp_path / "clean.h5", "r") as a, h5py.File(out, "r") as b:
        np.testing.assert_array_equal(a["score"][...], b["score"][...])


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
    result = _cli("data", "--config", config, "--run-dir", tmp_path / "run", "--models", "ocdn,higgs")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--models must name" in result.stderr
