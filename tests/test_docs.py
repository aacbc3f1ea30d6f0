"""Every command has help text and is documented; the package's public names resolve."""

from __future__ import annotations

from pathlib import Path

import breakup
from breakup.cli import app

ROOT = Path(__file__).parent.parent


def _commands() -> dict[str, object]:
    return {c.name or c.callback.__name__: c for c in app.registered_commands}  # type: ignore[union-attr]


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = _commands()
    assert {"import", "accounts", "left", "status", "demo", "kinds"} <= set(commands)
    for name, command in commands.items():
        doc = command.help or (command.callback.__doc__ if command.callback else None)  # type: ignore[attr-defined]
        assert doc and doc.strip(), f"breakup {name} has no help text"
        assert f"breakup {name}" in readme, f"README does not mention `breakup {name}`"


def test_every_source_is_documented() -> None:
    from breakup.sources import sources

    formats = (ROOT / "docs" / "formats.md").read_text()
    for name in sources():
        assert f"`{name}`" in formats, f"docs/formats.md does not describe import kind {name}"


def test_all_exports_resolve() -> None:
    for name in breakup.__all__:
        assert hasattr(breakup, name), name
