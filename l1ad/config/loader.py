"""The whole run configuration (``Config``: one section per top-level YAML key) and its loading.

Every field has a documented default (``configs/default.yaml`` repeats them with comments). Unknown
keys are an error that names the key, so a typo never silently falls back to a default; each section
then checks its values (``Section.validate``), so an impossible setting fails at load, naming the file
and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from l1ad.config.data import DataConfig
from l1ad.config.firmware import FirmwareConfig
from l1ad.config.quantize import QuantizeConfig
from l1ad.config.report import CheckConfig, MetricsConfig
from l1ad.config.run import DEPLOYED_MODELS, ClusterConfig, RunConfig
from l1ad.config.scan import ScanConfig
from l1ad.config.section import Section
from l1ad.config.studies import StudiesConfig
from l1ad.config.train import TrainConfig
from l1ad.errors import InputError

# Entries that define no stage's artifacts, only how the report and the gate read them (Config.fingerprint).
NOT_FINGERPRINTED = ("firmware.budget",)


@dataclass
class Config(Section):
    """The whole configuration: one section per top-level key of the YAML file."""

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    studies: StudiesConfig = field(default_factory=StudiesConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self, *keys: str, model: str | None = None) -> str:
        """A short hash of the named config entries ("data", "run.seed"): a stage reruns when it changes.

        Entries in ``NOT_FINGERPRINTED`` count only when named themselves, not as part of their section:
        ``firmware.budget`` is read by the report and the gate, so a new budget rebuilds no firmware.
        With ``model`` (a deployed model), the other deployed models' subsections of a section
        (``quantize.ocdn`` for ``ae``) are left out: the entries that define that model's outputs.
        """
        d = self.to_dict()
        picked = {}
        for key in keys:
            value: Any = d
            for part in key.split("."):
                value = value[part]
            if model is not None and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k == model or k not in DEPLOYED_MODELS}
            for entry in NOT_FINGERPRINTED:
                if entry.startswith(key + "."):
                    value = copy.deepcopy(value)
                    *parents, last = entry[len(key) + 1 :].split(".")
                    node = value
                    for part in parents:
                        node = node[part]
                    node.pop(last, None)
            picked[key] = value
        blob = json.dumps(picked, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _coerce(value: Any, annotation: Any, where: str, path: Path, default: Any = None) -> Any:
    """Convert a YAML value to the annotated field type, or raise naming the key. A section starts from
    ``default``, the field's own default, so the keys it leaves out keep their documented values."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise InputError(path, f"'{where}' must be a mapping")
        return _build(annotation, value, where, path, default if isinstance(default, annotation) else None)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(path, f"'{where}' must be a list")
        args = typing.get_args(annotation)
        inner = args[0]
        if Ellipsis not in args and len(value) != len(args):  # fixed length, e.g. a (lo, hi) window
            raise InputError(path, f"'{where}' must be a list of {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, inner, f"{where}[{i}]", path) for i, v in enumerate(value))
    if origin is dict:  # a mapping with free keys (names the user chooses), e.g. firmware.budget.overrides
        if not isinstance(value, dict):
            raise InputError(path, f"'{where}' must be a mapping")
        key_type, value_type = typing.get_args(annotation)
        coerced = {}
        for key, item in value.items():
            if not isinstance(key, key_type):
                raise InputError(path, f"'{where}' keys must be names, got {key!r}")
            coerced[key] = _coerce(item, value_type, f"{where}.{key}", path)
        return coerced
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, f"'{where}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InputError(path, f"'{where}' must be a finite number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, f"'{where}' must be an integer, got {value!r}")
        if abs(value) >= 2**63:
            raise InputError(path, f"'{where}' must fit in 64 bits, got {value}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise InputError(path, f"'{where}' must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise InputError(path, f"'{where}' must be a string, got {value!r}")
        return value
    return value


# keys older configs carry, with where their settings live now
REMOVED_KEYS = {
    "quantize.scan": "the bit-width scan is `l1ad scan` now: set its widths and epochs in the 'scan' section",
}


def _build(cls: type, values: dict[str, Any], prefix: str, path: Path, base: Any = None) -> Any:
    """``base`` (default: ``cls()``) with the keys of ``values`` replaced: a partial section keeps the
    rest of its defaults, including those a field's factory sets (``quantize.nurd.bits``)."""
    base = cls() if base is None else base
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            if where in REMOVED_KEYS:
                raise InputError(path, f"config key '{where}' was removed: {REMOVED_KEYS[where]}")
            raise InputError(path, f"unknown config key '{where}' (known: {', '.join(sorted(known))})")
    kwargs = {}
    for key, value in values.items():
        where = f"{prefix}.{key}" if prefix else key
        kwargs[key] = _coerce(value, hints[key], where, path, getattr(base, key))
    return dataclasses.replace(base, **kwargs)


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key '{key}' given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (``UniqueKeyLoader``): plain data only, no objects."""
    loader = UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, what: str) -> Any:
    """The plain data of a YAML file (``safe_load_unique``), or ``InputError`` naming the file: missing
    (``what`` names the file's role, e.g. "config file"), not UTF-8 text, or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} not found")
    try:
        return safe_load_unique(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a UTF-8 text file, so not YAML ({exc})") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise InputError(path, f"not valid YAML ({first})") from None


def load_config(path: str | Path | None = None) -> Config:
    """Load a YAML config; ``None`` gives the embedded defaults. Refused, in one line naming the file and
    the key: an unknown key, a value of the wrong type, or the first problem a section finds."""
    if path is None:
        return Config()
    raw = read_yaml_file(path, "config file")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(path, "the top level must be a mapping of sections")
    config = _build(Config, raw, "", Path(path))
    problems = config.validate()
    if problems:
        raise InputError(path, problems[0])
    return config
