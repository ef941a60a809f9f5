"""Mutations of the YAML files l1ad reads: the run config (``--config``) and the hls4ml config of
bring-your-own firmware (``--hls-config``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.malformed.core import (
    Bad,
    Baselines,
    Chooser,
    Mutation,
    dump_config,
    garbage,
)

# --- the YAML config -----------------------------------------------------------------------------

CONFIG_ABSURD: list[tuple[str, Any]] = [
    ("run.seed", -1), ("run.seed", 2**32), ("run.seed", 10**30),
    ("run.n_seeds", 0), ("run.n_seeds", -3), ("run.n_seeds", 10**30),
    ("run.studies", ["gaussian", "bogus"]),
    ("data.chunk_events", 0), ("data.chunk_events", -100),
    ("data.dijet.n_background", 0), ("data.l1.n_signal", -5),
    ("data.dijet.n_test_signal", 0),
    ("data.dijet.test_background_fraction", 1.5), ("data.dijet.test_background_fraction", 0.0),
    ("data.dijet.test_background_fraction", float("nan")), ("data.l1.test_background_fraction", float("inf")),
    ("data.l1.validation_fraction", 1.0), ("data.l1.validation_fraction", -0.1),
    ("data.dijet.signal_region", [3.7, 3.3]), ("data.dijet.signal_region", [float("nan"), 3.7]),
    ("data.dijet.signal_region", [3.3]), ("data.dijet.signal_region", [-1.0, 3.7]),
    ("data.dijet.sidebands", [[4.6, 3.7]]), ("data.dijet.sidebands", [[2.4]]),
    ("data.jet_images.image_size", 0), ("data.jet_images.image_size", -20),
    ("data.jet_images.test_fraction", 1.0), ("data.jet_images.n_top", 0),
    ("train.device", "tpu"), ("train.threads", -2), ("train.ocdn.epochs", -1), ("train.ae.batch_size", 0),
    ("train.ocdn.learning_rate", float("nan")), ("train.ae.learning_rate", -1e-3),
    ("quantize.ocdn.bits.weight_bits", 0), ("quantize.ae.bits.input_bits", -8),
    ("scan.bits", [4, 1]),
    ("firmware.backend", "Quartus"), ("firmware.io_type", "io_serial"), ("firmware.reuse_factor", 0),
    ("firmware.clock_period_ns", 0.0), ("firmware.clock_period_ns", float("-inf")),
    ("firmware.n_testbench_events", -1), ("firmware.trigger_rate_hz", -10.0),
    ("firmware.part", "xcfoo-flga2104-2L-e"), ("firmware.part", ""),
    ("firmware.budget.dense.lut", 1.5), ("firmware.budget.cnn.latency_ns", 0.0),
    ("firmware.budget.overrides", {"ae": {"latency": 40.0}}), ("firmware.budget.overrides", {"ae": {"dsp": -1}}),
    ("check.auc_drop_tolerance", -0.1), ("check.csim_within_1lsb_min", 1.5),
    ("metrics.trigger_fpr_l1", 0.0), ("metrics.trigger_fpr_dijet", 2.0),
    ("metrics.bunch_crossing_rate_hz", -4e7),
]  # fmt: skip

CONFIG_WRONG_TYPE: list[tuple[str, Any]] = [
    ("run.n_seeds", "three"), ("run.n_seeds", 1.5), ("run.seed", True), ("run.seed", None),
    ("run.name", 5), ("run.studies", "gaussian"), ("data", "dijet"), ("data.dijet", [1, 2]),
    ("data.dijet", None), ("data.dijet.signal_region", "3.3-3.7"), ("data.dijet.signal_region", {"lo": 3.3}),
    ("data.dijet.source", 3), ("data.dijet.source", ["a.h5"]), ("firmware.synth", "yes"),
    ("train.ocdn.hidden", 128), ("train.ocdn.hidden", [128, "x"]), ("check", [1]),
    ("data.jet_images.image_size", 20.5), ("metrics.trigger_fpr_l1", "1e-5"),
    ("firmware.budget.overrides", {"ae": {"lut": "5%"}}), ("firmware.budget.overrides", {"ae": 40}),
    ("firmware.budget.overrides", ["ae"]),
]  # fmt: skip


def _set_key(config: dict[str, Any], dotted: str, value: Any) -> None:
    node = config
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def _config_value(table: list[tuple[str, Any]], expect: str) -> Mutation:
    def mutate(ch: Chooser, base: Baselines, work: Path) -> Bad:
        config = json.loads(json.dumps(base.config))
        key, value = ch.choice(table)
        _set_key(config, key, value)
        return dump_config(work, config), expect, []

    return mutate


def _lookup(tree: dict[str, Any], path: list[str]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _config_unknown_key(ch: Chooser, base: Baselines, work: Path) -> Bad:
    from l1ad.config import Config

    config = json.loads(json.dumps(base.config))
    sections = Config().to_dict()
    path: list[str] = []
    node: Any = sections
    while isinstance(node, dict) and node and (not path or ch.choice([True, False])):
        key = ch.choice(sorted(node))
        path.append(key)
        node = node[key]
    siblings = set(sections) if len(path) == 1 else set(_lookup(sections, path[:-1]))
    typo = path[-1]
    while typo in siblings:
        position = ch.integer(0, len(typo))
        typo = typo[:position] + ch.choice(["_", "s", "x", "-"]) + typo[position:]
    _set_key(config, ".".join([*path[:-1], typo]), 1)
    return dump_config(work, config), r"unknown config key", []


def _config_syntax(ch: Chooser, base: Baselines, work: Path) -> Bad:
    """Text that is not YAML (or not a config) at all."""
    text = yaml.safe_dump(base.config, sort_keys=False)
    kind = ch.choice(["truncated_flow", "tab", "quote", "binary", "top_list", "top_scalar", "python_tag"])
    path = work / "config.yaml"
    if kind == "truncated_flow":
        tail = "    sidebands: [[2.4, 3.3], [3.7, 4.6]]"
        path.write_text(text + tail[: ch.integer(tail.index("[") + 1, len(tail) - 1)])
    elif kind == "tab":
        lines = text.splitlines()
        i = ch.integer(1, len(lines) - 1)
        lines[i] = "\t" + lines[i]
        path.write_text("\n".join(lines) + "\n")
    elif kind == "quote":
        path.write_text(text + f'run_name_note: "unterminated{"x" * ch.integer(0, 5)}\n')
    elif kind == "binary":
        garbage(path, ch, signature=ch.choice([b"\xff\xfe", b"\x00", b"\x89HDF\r\n\x1a\n"]))
        if path.stat().st_size == 0 or not path.read_bytes().strip():
            path.write_bytes(b"\xff\xfe\x00")
    elif kind == "top_list":
        path.write_text("- run\n- data\n")
    elif kind == "top_scalar":
        path.write_text(ch.choice(["just text\n", "42\n", "3.5\n", "true\n"]))
    else:
        path.write_text("run: !!python/object/apply:os.system ['echo l1ad-yaml-payload']\n")
    return path, r"YAML|mapping|could not|UTF-8|not a text", []


CONFIG: dict[str, Mutation] = {
    "syntax": _config_syntax,
    "unknown_key": _config_unknown_key,
    "wrong_type": _config_value(CONFIG_WRONG_TYPE, r"must be|mapping|list"),
    "absurd_values": _config_value(CONFIG_ABSURD, r"must|finite|range|unknown"),
}


def _hls_yaml(ch: Chooser, base: Baselines, work: Path) -> Bad:
    path = work / "hls.yml"
    kind = ch.choice(
        ["syntax", "binary", "top_list", "unknown_top", "section_type", "unknown_layer", "precision_type",
         "reuse_type", "python_tag"]
    )  # fmt: skip
    expects = {
        "syntax": r"YAML",
        "binary": r"YAML|UTF-8|text",
        "top_list": r"mapping",
        "unknown_top": r"unknown top-level",
        "section_type": r"mapping",
        "unknown_layer": r"no layer|unknown layer",
        "precision_type": r"precision|type",
        "reuse_type": r"ReuseFactor|integer",
        "python_tag": r"YAML",
    }
    text = {
        "syntax": "LayerName:\n  hidden: [\n",
        "top_list": "- Model\n- LayerName\n",
        "unknown_top": "Layers:\n  hidden: {}\n",
        "section_type": ch.choice(["LayerName: 3\n", "Model: [1, 2]\n", "LayerName:\n  hidden: 5\n"]),
        "unknown_layer": "LayerName:\n  no_such_layer:\n    Precision:\n      result: ap_fixed<16,6>\n",
        "precision_type": ch.choice(
            [
                "LayerName:\n  hidden:\n    Precision:\n      result: 16\n",
                "LayerName:\n  hidden:\n    Precision:\n      result: float\n",
                "Model:\n  Precision: [1, 2]\n",
            ]
        ),
        "reuse_type": ch.choice(
            ["Model:\n  ReuseFactor: many\n", "LayerName:\n  hidden:\n    ReuseFactor: 0\n"]
        ),
        "python_tag": "Model: !!python/object/apply:os.system ['echo l1ad-yaml-payload']\n",
    }.get(kind)
    if text is None:
        garbage(path, ch, signature=b"\xff\xfe\x00")
    else:
        path.write_text(text)
    return path, expects[kind], []


BYO_HLS_CONFIG: dict[str, Mutation] = {"malformed_yaml": _hls_yaml}
