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
