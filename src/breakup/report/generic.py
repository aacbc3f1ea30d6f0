"""Any analysis result as plain rows: dataclasses, lists and dicts to nested sections.

The why and fans sections are rendered through this until they get their own renderer;
the terminal and HTML outputs read the same structure, so they always agree.
"""

from __future__ import annotations

from typing import Any

from ..analyses import Unavailable
from ..analyses.blocks import MAX_ROWS, Block
from ..serialize import to_jsonable

__all__ = ["MAX_ROWS", "Block", "to_block"]


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | dict):
        flat = ", ".join(_cell(v) for v in (value.values() if isinstance(value, dict) else value))
        return flat if len(flat) <= 80 else flat[:79] + "…"
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:79] + "…"


def to_block(title: str, result: Any) -> Block:
    """The rows of *result* under *title*."""
    if isinstance(result, Unavailable):
        return Block(title, note=result.message)
    data = to_jsonable(result)
    block = Block(title)
    if isinstance(data, list):
        _table(block, data)
        return block
    if not isinstance(data, dict):
        block.fields.append(("value", _cell(data)))
        return block
    for key, value in data.items():
        name = key.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            child = Block(name)
            _table(child, value)
            block.children.append(child)
        elif (
            isinstance(value, dict)
            and value
            and any(isinstance(v, dict | list) for v in value.values())
        ):
            block.children.append(to_block(name, value))
        else:
            block.fields.append((name, _cell(value)))
    return block


def _table(block: Block, rows: list[Any]) -> None:
    if not rows:
        block.note = "none"
        return
    if not all(isinstance(r, dict) for r in rows):
        block.fields.append(("values", _cell(rows)))
        return
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    block.columns = [c.replace("_", " ") for c in columns]
    block.rows = [[_cell(r.get(c)) for c in columns] for r in rows[:MAX_ROWS]]
    block.more = max(0, len(rows) - MAX_ROWS)
