"""Sharded C simulation (``l1ad csim``) of the tiny run's firmware: on a 2-worker LocalCluster it equals
the firmware stage and the in-process loop event by event, and an interrupted job resumes from its
finished chunks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from l1ad import api
from l1ad.config import load_config
from tests.pipeline_helpers import cli


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

    from training.data.l1generator import generate_l1_sample

    config, run_dir, _ = tiny_run
    cfg = load_config(config)
    cfg.cluster.workers = 2
    raw = tmp_path / "background.h5"
    generate_l1_sample(raw, "background", 2500, seed=11)
    api.csim("ae", raw, tmp_path / "sharded.h5", cfg, run_dir, chunk_events=600)
    # the plain loop, through the CLI
    loop = cli(
        *("csim", "--config", config, "--run-dir", run_dir, "--model", "ae"),
        *("--input", raw, "--output", tmp_path / "loop.h5", "--in-process"),
    )
    assert loop.returncode == 0, loop.stderr
    assert "2500 events" in loop.stdout
    with h5py.File(tmp_path / "sharded.h5", "r") as a, h5py.File(tmp_path / "loop.h5", "r") as b:
        assert np.isfinite(a["score"][...]).all()
        np.testing.assert_array_equal(a["score"][...], b["score"][...])
        assert json.loads(a.attrs["summary"])["layout"] == "particles"


def test_interrupted_csim_job_resumes_from_its_finished_chunks(tiny_run, tmp_path, monkeypatch):
    import h5py

    import firmware.shard as shard
    from training.data.l1generator import generate_l1_sample

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


def test_the_firmware_stages_library_is_reused_and_a_project_without_one_is_compiled(tiny_run, tmp_path):
    import shutil

    from firmware.shard import CsimLibrary, build_library

    _, run_dir, _ = tiny_run
    project = run_dir / "firmware" / "ae" / "hls_project"
    (prebuilt,) = (project / "firmware").glob("*.so")
    path, entry = build_library(project, tmp_path / "reused")
    assert Path(path).parent == tmp_path / "reused" and Path(path).read_bytes() == prebuilt.read_bytes()
    assert not (tmp_path / "reused" / "firmware").exists(), "no copy of the sources, no g++ run"

    bare = tmp_path / "bare_project"
    shutil.copytree(project, bare, ignore=shutil.ignore_patterns("*.so"))
    path_b, entry_b = build_library(bare, tmp_path / "compiled")
    assert entry_b == entry and Path(path_b).is_file() and Path(path_b).parent.parent == tmp_path / "compiled"
    X = np.round(np.random.default_rng(5).normal(size=(50, 57)) * 16) / 16  # on the AE's 1/16 input grid
    reused, compiled = (CsimLibrary(p, entry, 57).predict(X) for p in (path, path_b))
    np.testing.assert_array_equal(reused, compiled)
