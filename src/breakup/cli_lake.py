"""CLI commands for the lake and batch engines; they register on the shared Typer app on
import: ``breakup lake export DIR`` and ``breakup batch --engine spark``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli import JsonOpt, _ctx, _emit, app
from .errors import InvalidInput

lake_app = typer.Typer(help="The store as a Parquet lake, for engines beyond one machine.")
app.add_typer(lake_app, name="lake")

LakeArg = Annotated[Path, typer.Argument(metavar="DIR", help="The lake directory.")]


@lake_app.command("export")
def lake_export(ctx: typer.Context, lake_dir: LakeArg, as_json: JsonOpt = False) -> None:
    """Write what the store holds that the lake does not yet (new imports, new people, the
    accounts) as Parquet, partitioned by platform and account; never rewrites a file."""
    from .lake import export

    with _ctx(ctx).reading() as store:
        result = export(store, lake_dir)
    if result.export is None:
        text = f"{lake_dir}: nothing new to export"
    else:
        rows = ", ".join(f"{n} {t}" for t, n in result.rows.items())
        text = (
            f"{lake_dir}: export {result.export}: {result.imports} import(s), "
            f"{result.people} new people, {rows}"
        )
    _emit(as_json, result, text)


@app.command()
def batch(
    lake_dir: Annotated[Path, typer.Option("--lake", metavar="DIR", help="The lake to read.")],
    engine: Annotated[str, typer.Option(help="The engine: spark.")] = "spark",
    master: Annotated[
        str, typer.Option(help="Spark master: local[N] here, spark://host:7077 on a cluster.")
    ] = "local[2]",
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Where results go (default DIR/results)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Track every account of a lake (spans and departures, as `import` does) on a batch
    engine, writing Parquet under OUT/spans."""
    if engine != "spark":
        raise InvalidInput(f"--engine {engine}: unknown engine (spark is the one there is)")
    from .engines.spark import running, track

    target = out if out is not None else lake_dir / "results"
    with running(master) as spark:
        summary = track(spark, lake_dir, target)
    text = (
        f"{summary.accounts} account(s): {summary.spans} spans, {summary.departures} "
        f"departures → {target / 'spans'} ({summary.seconds:.1f} s on {master})"
    )
    _emit(as_json, summary, text)
