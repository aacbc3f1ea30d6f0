"""The generic JSON document's shape (docs/formats.md), checked at the boundary.

Every value that becomes an id, a name, a text or a count is checked for its type before
anything is read from the document, so an object where a string belongs is refused by
name instead of being stored as its Python repr. Enumerations and times are left to the
readers in :mod:`.generic`, which name the allowed values. A module of its own, loaded
when a JSON document is read: building these models takes 30 ms at start-up otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

from ..errors import InvalidExport

_INT64_MAX = 2**63 - 1


def _ident_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"must be a string or a whole number, not {_kind(value)}")
    if isinstance(value, int) and abs(value) > _INT64_MAX:
        raise ValueError("is a number too large to be an id")
    return str(value)


def _text_value(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"must be a string or null, not {_kind(value)}")
    return value


def _count_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number, not {_kind(value)}")
    if not 0 <= value <= _INT64_MAX:
        raise ValueError(f"must be a count from 0 to {_INT64_MAX}, not {_short(value)}")
    return value


def _flag_value(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{_short(value)} is not true or false")
    return value


def _kind(value: object) -> str:
    return {
        bool: "true/false",
        dict: "an object",
        list: "a list",
        float: "a fraction",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_Ident = Annotated[str, PlainValidator(_ident_value)]
_Text = Annotated[str | None, PlainValidator(_text_value)]
_Count = Annotated[int, PlainValidator(_count_value)]
_Flag = Annotated[bool | None, PlainValidator(_flag_value)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Someone(_Shape):
    id: _Ident
    handle: _Text = None
    display_name: _Text = None


class _Snapshot(_Shape):
    members: list[_Someone]
    complete: _Flag = None
    reported_count: _Count | None = None


class _Event(_Someone):
    ref: _Text = None
    campaign: _Text = None
    reason: _Text = None


class _Post(_Shape):
    id: _Ident
    text: _Text = None
    url: _Text = None
    reply_to: _Text = None
    metrics: dict[str, _Count] | None = None


class _Interaction(_Someone):
    post: _Text = None


class _Check(_Someone):
    follows: _Flag = None
    detail: _Text = None


class _Account(_Shape):
    id: Annotated[str | None, PlainValidator(lambda v: v if v is None else _ident_value(v))] = None
    handle: _Text = None


class _Document(_Shape):
    platform: _Text = None
    account: _Account | None = None
    snapshots: list[_Snapshot] = []
    events: list[_Event] = []
    posts: list[_Post] = []
    interactions: list[_Interaction] = []
    checks: list[_Check] = []


_TYPES = {
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "missing": "is missing",
}


def validate(doc: dict[str, Any], path: Path) -> None:
    """Refuse a document whose values have the wrong type, naming the first one."""
    try:
        _Document.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        where = where.lstrip(".") or "document"
        if err["type"] == "value_error":
            problem = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            problem = _TYPES.get(err["type"], err["msg"])
        raise InvalidExport(path, f"{where} {problem}") from None
