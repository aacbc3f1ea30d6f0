"""breakup's modules import each other without a cycle, and the CLI sits on top: nothing
outside ``breakup.cli`` imports it but the entry point (issue 17).

The graph is read from the source with :mod:`ast`, as Python runs it when a module is
imported: the imports at module level (also inside a module-level ``if``, ``try``, ``with``
or class body), not those inside functions nor under ``if TYPE_CHECKING:``. Importing
``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``, so each is an edge, except the importer's own
enclosing packages, which are already being imported when it runs.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import breakup

SRC = Path(breakup.__file__).parent
CLI = "breakup.cli"

ENTRY_POINTS = {"breakup.__main__"}


def _modules() -> dict[str, tuple[ast.Module, bool]]:
    """Every module of breakup by dotted name: its syntax tree, and whether a package."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if package else parts)
        found[name] = (ast.parse(path.read_text(encoding="utf-8"), str(path)), package)
    return found


MODULES = _modules()


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_on_import(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking(node.test):
                yield from _run_on_import(node.body)
            yield from _run_on_import(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _run_on_import(block)
            for handler in node.handlers:
                yield from _run_on_import(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _run_on_import(node.body)


def _every_import(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, also those inside functions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _origin(module: str, package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from … import`` in *module* imports from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(module: str, package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules of breakup an import statement in *module* imports (absolute names)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        origin = _origin(module, package, node)
        # `from pkg import name` imports pkg, and pkg.name too if that is a module
        names = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            enclosing = module == prefix or module.startswith(prefix + ".")
            if prefix in MODULES and not enclosing:
                yield prefix


def _graph(*, in_functions: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of breakup it imports when imported (*in_functions*: ever)."""
    graph: dict[str, set[str]] = {}
    for module, (tree, package) in MODULES.items():
        statements = _every_import(tree) if in_functions else _run_on_import(tree.body)
        graph[module] = {t for node in statements for t in _targets(module, package, node)}
    return graph


def _in_cli(module: str) -> bool:
    return module == CLI or module.startswith(CLI + ".")


def test_the_graph_sees_the_imports() -> None:
    """The reading above finds what is there (else an empty graph would pass)."""
    graph = _graph()
    assert len(graph) > 100
    assert {"breakup.cli.common", "breakup.cli.core", "breakup.cli.why"} <= graph[CLI]
    assert "breakup.terminal" in graph["breakup.report.terminal"]  # from .. import terminal
    assert "breakup.cli.help" in graph["breakup.cli.common"]  # from .help import …
    # inside a function: not run on import; under TYPE_CHECKING: never run
    assert "breakup.report" not in graph["breakup.cli.report"]
    assert "breakup.engines.spark" not in graph["breakup.cli.lake"]
    assert "breakup.report" in _graph(in_functions=True)["breakup.cli.report"]


def test_every_import_of_breakup_names_one_of_its_modules() -> None:
    """Also inside functions, where a stale relative import (``from .watch`` in a module
    moved into ``breakup.cli``) fails only when the command runs, or never if caught."""
    missing = [
        f"{module}: from {'.' * node.level}{node.module or ''} import …"
        for module, (tree, package) in MODULES.items()
        for node in _every_import(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.level or (node.module or "").split(".")[0] == "breakup")
        and _origin(module, package, node) not in MODULES
    ]
    assert not missing, missing


def test_no_import_cycle_among_breakups_modules() -> None:
    """Every module of breakup can be imported first, on its own: its module-level imports
    never lead back to it."""
    graph = _graph()
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def test_only_the_entry_point_imports_the_cli() -> None:
    """The CLI is the top layer: no module outside breakup.cli imports it or a module in
    it, not even inside a function; only ``python -m breakup``."""
    importers = {
        module: sorted(t for t in targets if _in_cli(t))
        for module, targets in _graph(in_functions=True).items()
        if not _in_cli(module) and any(_in_cli(t) for t in targets)
    }
    assert set(importers) == ENTRY_POINTS, importers


def test_command_modules_are_imported_only_by_the_package() -> None:
    """``breakup.cli.common`` (the app, the context, the shared options) imports no command
    module; each command module is imported by ``breakup.cli`` alone, which registers it."""
    graph = _graph(in_functions=True)
    commands = {"breakup.cli.core", "breakup.cli.fans", "breakup.cli.report", "breakup.cli.why"}
    assert commands <= graph[CLI]
    for module, targets in graph.items():
        if module != CLI:
            assert not targets & commands, f"{module} imports {sorted(targets & commands)}"
    shared = {t for t in graph["breakup.cli.common"] if _in_cli(t)}
    assert shared <= {"breakup.cli.help"}, shared
