"""The command line: thin over the library. Each command parses options, calls one library
function, and renders the result (rich) or prints it as JSON (``--json``).

:mod:`.common` holds the Typer ``app``, the store context, the shared options and
:func:`main`, and imports no command module (only :mod:`.help`). Each command group is a
module that imports :mod:`.common` and registers its commands on ``app`` when imported:
:mod:`.core` (import, track, watch, stream, kinds, accounts, left, status, demo),
:mod:`.fans`, :mod:`.lake`, :mod:`.report`, :mod:`.why`. Importing this package
imports them all, in the order ``breakup --help`` lists them. Nothing outside the package
imports it but the entry points (``breakup.cli:main``, ``python -m breakup``;
``tests/test_import_graph.py``).
"""

from __future__ import annotations

from .common import app, main

# The command groups register on `app` when imported, and `breakup --help` lists them in
# that order: keep it.
# isort: split
from . import core, fans, lake, report, why

__all__ = ["app", "core", "fans", "lake", "main", "report", "why"]
