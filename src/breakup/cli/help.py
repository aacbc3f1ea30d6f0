"""How the command line presents itself: placeholders named after their option, and the
store option ``--db`` accepted before or after the command name.

The app renders help with click's plain formatter (``rich_markup_mode=None`` in
:mod:`breakup.cli.common`): it rewraps paragraphs to the terminal and never reads
``[[digest]]`` as markup.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

__all__ = ["BreakupGroup"]


def _placeholder(param: Any) -> None:
    """PATH, N, WHEN … instead of typer's <path>, <int>, {kind}, <list[Path]>."""
    if getattr(param, "metavar", None) is not None:
        return
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return  # a flag takes no value: no placeholder
    name = str(getattr(param, "name", None) or "value").upper()
    if getattr(param, "param_type_name", "") == "argument":
        label = name + ("..." if getattr(param, "nargs", 1) != 1 else "")
        param.metavar = label
        usage = label if getattr(param, "required", False) else f"[{label}]"
        # The name says what to give: no "{KIND}" in the usage line, no "<str>" after it.
        param.display_type_rich = lambda ctx: None
        param._usage_display_name = lambda: usage
        return
    bare = param.bare_type() if hasattr(param, "bare_type") else ""
    if name.endswith("URL"):
        name = "URL"
    elif name.endswith("HOST"):
        name = "HOST"
    param.metavar = {"int": "N", "float": "X", "Path": "PATH"}.get(bare, name)


def _polish(command: Any) -> None:
    for param in getattr(command, "params", []):
        _placeholder(param)
    for sub in getattr(command, "commands", {}).values():
        _polish(sub)


def _db_to_front(args: list[str], commands: set[str]) -> list[str]:
    """``breakup left --db x.duckdb`` as ``breakup --db x.duckdb left``: a ``--db`` after
    the command name (before any ``--``) moves in front of it."""
    try:
        at = next(i for i, a in enumerate(args) if a in commands)
    except StopIteration:
        return args
    head, tail, moved = args[:at], [], []
    rest = args[at:]
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--":
            tail.extend(rest[i:])
            break
        if a == "--db" and i + 1 < len(rest):
            moved += rest[i : i + 2]
            i += 2
            continue
        if a.startswith("--db="):
            moved.append(a)
        else:
            tail.append(a)
        i += 1
    return head + moved + tail


class BreakupGroup(TyperGroup):
    """The root command group: see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _polish(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _db_to_front(list(args), set(self.commands)))
