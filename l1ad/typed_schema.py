"""JSON Schema from typed records: the contract a record's ``TypedDict`` declares, for readers in other languages.

Covers what l1ad's records use: ``TypedDict`` (its required keys; other keys are allowed, so a reader of
schema N keeps working when a key is added), ``dict[str, X]``, ``list[X]``, ``tuple[X, ...]``, ``X | None``,
``Literal``, ``str``, ``int``, ``float`` (any JSON number), ``bool`` and ``Any``. Nested records become
``$defs`` entries named after their class.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def is_record(tp: Any) -> bool:
    """True for a ``TypedDict`` class."""
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def json_schema(root: type, title: str, schema_id: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the record ``root``, with every nested record under ``$defs``."""
    defs: dict[str, Any] = {}
    body = _record(root, defs)
    return {
        "$schema": JSON_SCHEMA_DRAFT,
        "$id": schema_id,
        "title": title,
        **body,
        "$defs": dict(sorted(defs.items())),
    }


def _record(tp: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp)
    return {
        "type": "object",
        **({"description": " ".join(tp.__doc__.split())} if tp.__doc__ else {}),
        "properties": {key: _schema(hint, defs) for key, hint in hints.items()},
        "required": sorted(tp.__required_keys__),
    }


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if is_record(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # a placeholder first: a record may refer to itself
            defs[tp.__name__] = _record(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema(a, defs) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs)}
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return {"type": "array", "items": _schema(args[0], defs)}
    raise TypeError(f"no JSON Schema for the type {tp!r}")


def record_problems(tp: Any, value: Any, where: str = "") -> list[str]:
    """What keeps the JSON value ``value`` from being a ``tp`` (a record or any type ``json_schema`` covers):
    one line per problem, naming the key path; empty when it is one. What the JSON Schema would check,
    without a dependency: required keys, types, ``Literal`` values; keys a record does not name pass."""
    where_ = where or "the record"
    if tp is Any:
        return []
    if tp in _SCALARS:
        ok = {
            str: isinstance(value, str),
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, (int, float)) and not isinstance(value, bool),
            bool: isinstance(value, bool),
            type(None): value is None,
        }[tp]
        return [] if ok else [f"{where_} is {_what(value)}, not {_SCALARS[tp]}"]
    if is_record(tp):
        if not isinstance(value, dict):
            return [f"{where_} is {_what(value)}, not an object ({tp.__name__})"]
        missing = sorted(tp.__required_keys__ - value.keys())
        if missing:
            return [f"{where_} has no {', '.join(repr(k) for k in missing)} ({tp.__name__})"]
        hints = typing.get_type_hints(tp)
        return [
            p
            for key in hints
            if key in value
            for p in record_problems(hints[key], value[key], f"{where}.{key}")
        ]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        arms = [record_problems(a, value, where) for a in args]
        return [] if any(not p for p in arms) else min(arms, key=len)
    if origin is Literal:
        return [] if value in args else [f"{where_} is {value!r}, not one of {list(args)}"]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where_} is {_what(value)}, not an object"]
        return [p for k, v in value.items() for p in record_problems(args[1], v, f"{where}.{k}")]
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        if not isinstance(value, list):
            return [f"{where_} is {_what(value)}, not an array"]
        return [p for i, v in enumerate(value) for p in record_problems(args[0], v, f"{where}[{i}]")]
    raise TypeError(f"no check for the type {tp!r}")


def _what(value: Any) -> str:
    if value is None:
        return "null"
    for tp, name in _SCALARS.items():
        if type(value) is tp:
            return f"{name} {value!r}" if tp is not str else f"string {value[:40]!r}"
    return (
        "an array"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else type(value).__name__
    )
