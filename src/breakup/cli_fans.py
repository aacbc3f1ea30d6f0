"""CLI commands for the fans analyses; they register on the shared Typer app on import."""

from __future__ import annotations

from .cli import app

__all__ = ["app"]
