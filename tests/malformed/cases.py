"""Every loader and its mutations, and the command line that makes a loader read a malformed file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.malformed import configs, families, models
from tests.malformed.core import Baselines, Case, Chooser, Mutation, dump_config

LOADERS: dict[str, dict[str, Mutation]] = {
    "dijet_frame": families.DIJET_FRAME,
    "dijet_prepared": families.DIJET_PREPARED,
    "l1": families.L1,
    "jet_images": families.JET_IMAGES,
    "config": configs.CONFIG,
    "splits": models.SPLITS,
    "byo_model": models.BYO_MODEL,
    "byo_data": models.BYO_DATA,
    "byo_hls_config": configs.BYO_HLS_CONFIG,
    "byo_options": models.BYO_OPTIONS,
}
NEEDS_TENSORFLOW = {"splits", "byo_model", "byo_data", "byo_hls_config", "byo_options"}
FAMILY_OF = {"dijet_frame": "dijet", "dijet_prepared": "dijet", "l1": "l1", "jet_images": "jet_images"}


def make_case(loader: str, mutation: str, ch: Chooser, base: Baselines, work: Path) -> Case:
    """Write the malformed input of ``mutation`` into ``work`` and build the CLI call that reads it."""
    run_dir = work / "run"
    if loader == "splits" or ch.choice([True, False]):
        shutil.copytree(base.run_template, run_dir)  # an earlier run must survive the failure intact
    bad, expect, extra = LOADERS[loader][mutation](ch, base, work)
    common = ["--run-dir", str(run_dir)]
    if loader in FAMILY_OF:
        config = json.loads(json.dumps(base.config))
        config["data"][FAMILY_OF[loader]]["source"] = str(work / "adc2021" if loader == "l1" else bad)
        argv = ["data", "--config", str(dump_config(work, config)), *common]
    elif loader == "config":
        argv = ["data", "--config", str(bad), *common]
    elif loader == "splits":
        argv = ["train", "--config", str(base.config_path), *common]
    else:
        model_args = {
            "byo_model": ["--model", str(bad), "--input-range", "-1", "1"],
            "byo_data": ["--model", str(base.byo_model), "--data", str(bad)],
            "byo_options": ["--model", str(bad), "--data", str(base.byo_npy)],
            "byo_hls_config": [
                "--model",
                str(base.byo_model),
                "--data",
                str(base.byo_npy),
                "--hls-config",
                str(bad),
            ],
        }[loader]
        argv = ["firmware", *model_args, *extra, "--config", str(base.config_path), *common]
    return Case(loader, mutation, argv, bad, expect, run_dir)
