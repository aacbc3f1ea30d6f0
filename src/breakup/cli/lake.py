"""CLI commands for the lake and batch engines; they register on the shared Typer app on
import: ``breakup lake export DIR``, ``breakup batch --engine spark`` and
``breakup lake why DIR`` (the attribution a batch wrote, read back)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..errors import InvalidInput, UnknownAccount
from .common import AccountOpt, JsonOpt, LimitOpt, SinceOpt, UntilOpt, _ctx, _emit, _when, app

if TYPE_CHECKING:
    from ..engines.spark import TrackSummary, WhySummary
    from ..why.attribution import Attribution

lake_app = typer.Typer(help="The store as a Parquet lake, for engines beyond one machine.")
app.add_typer(lake_app, name="lake")

LakeArg = Annotated[Path, typer.Argument(metavar="DIR", help="The lake directory.")]


@lake_app.command("export")
def lake_export(ctx: typer.Context, lake_dir: LakeArg, as_json: JsonOpt = False) -> None:
    """Write what the store holds that the lake does not yet (new imports, new people, the
    accounts) as Parquet, partitioned by platform and account; never rewrites a file."""
    from ..lake import export

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


@dataclass
class BatchSummary:
    accounts: int
    spans: int
    departures: int
    seconds: float
    why: WhySummary | None  # None: --no-why


@app.command()
def batch(
    ctx: typer.Context,
    lake_dir: Annotated[Path, typer.Option("--lake", metavar="DIR", help="The lake to read.")],
    engine: Annotated[str, typer.Option(help="The engine: spark.")] = "spark",
    master: Annotated[
        str, typer.Option(help="Spark master: local[N] here, spark://host:7077 on a cluster.")
    ] = "local[2]",
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Where results go (default DIR/results)."),
    ] = None,
    why: Annotated[
        bool, typer.Option("--why/--no-why", help="Also attribute departures to posts.")
    ] = True,
    family: Annotated[
        str,
        typer.Option(
            metavar="all|account",
            help="The Holm family of the why: all own accounts together (as `breakup why`) "
            "or each account alone (as `breakup why --account NAME`).",
        ),
    ] = "all",
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Track every account of a lake (spans and departures, as `import` does) on a batch
    engine, writing Parquet under OUT/spans; then the why attribution of every own account
    (break-up posts, as `breakup why`: one Holm family over all own accounts; --since and
    --until as there) under OUT/why, read back by `breakup lake why OUT`. Exits 1 if an
    account's attribution failed (the others' results stand, without it in the family)."""
    if engine != "spark":
        raise InvalidInput(f"--engine {engine}: unknown engine (spark is the one there is)")
    if family not in ("all", "account"):
        raise InvalidInput(f"--family {family}: all or account")
    from ..engines import spark as engine_

    clock = _ctx(ctx).clock
    when, upto = _when(since, clock, "--since"), _when(until, clock, "--until")
    target = out if out is not None else lake_dir / "results"
    with engine_.running(master) as spark:
        tracked = engine_.track(spark, lake_dir, target)
        att = (engine_.why(spark, lake_dir, target, since=when, until=upto, family=family)
               if why else None)  # fmt: skip
    summary = BatchSummary(tracked.accounts, tracked.spans, tracked.departures,
                           tracked.seconds, att)  # fmt: skip
    _emit(as_json, summary, _batch_text(tracked, att, target, master))
    if att is not None and att.failed:
        raise typer.Exit(1)  # the results of the other accounts stand


def _batch_text(tracked: TrackSummary, att: WhySummary | None, out: Path, master: str) -> str:
    text = (
        f"{tracked.accounts} account(s): {tracked.spans} spans, {tracked.departures} "
        f"departures → {out / 'spans'} ({tracked.seconds:.1f} s on {master})"
    )
    if att is not None:
        text += (
            f"\nwhy: {att.accounts} own account(s) ({att.analysed} with enough history), "
            f"{att.posts_tested} posts tested, {att.break_up_posts} break-up post(s) → "
            f"{out / 'why'} ({att.seconds:.1f} s)"
        )
        for name, error in att.failed.items():
            text += f"\nwhy failed for {name}: {error}"
    return text


@lake_app.command("why")
def lake_why(
    results: Annotated[
        Path, typer.Argument(metavar="DIR", help="A batch's results (--out), or its lake.")
    ],
    account: AccountOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The break-up posts a batch found (`breakup batch`): each post's departures observed
    and expected in its window, excess, p, Holm p and q; --json every figure, as
    `breakup why --json` gives them under attribution (--account: that account's share).
    A batch run with --family account: per own account, each its own family, as
    `breakup why --account NAME` gives them (--json: by account name)."""
    from ..engines.results import read_all_why, read_why, why_family

    if not (results / "why").is_dir() and (results / "results" / "why").is_dir():
        results = results / "results"
    found = read_all_why(results)
    if account is not None:
        match = [n for n in found if n == account] or [n for n in found if account in n]
        if len(match) != 1:
            known = ", ".join(found) or "none"
            raise UnknownAccount(f"--account {account}: {len(match)} match (there are: {known})")
        found = {match[0]: found[match[0]]}
    shown = 10 if limit is None else limit
    if why_family(results) == "all":
        att = read_why(results, None if account is None else next(iter(found)))
        _emit(as_json, att, _why_view(att, shown))
        return
    views: list[RenderableType] = []
    for att in found.values():
        views += [Text("")] if views else []
        views.append(_why_view(att, shown))
    _emit(as_json, found, Group(*views))


def _why_view(att: Attribution, limit: int) -> RenderableType:
    parts: list[RenderableType] = []
    for acct in att.accounts:
        line = f"{acct.account} ({acct.platform}, {acct.mode}): "
        if acct.status != "ok":
            line += acct.needed
        else:
            line += (
                f"{acct.posts_tested} posts tested, {acct.named} break-up post(s), "
                f"{acct.departures} departures"
            )
            if acct.response_time:
                line += f", response time {acct.response_time}"
        parts.append(Text(line, style="bold"))
    if att.posts:
        table = Table(box=None)
        several = len(att.accounts) > 1  # one family over the accounts: say whose post
        for col in ("account", "post", "created", "observed", "expected", "excess", "p",
                    "Holm p", "q", "break-up")[0 if several else 1:]:  # fmt: skip
            table.add_column(
                col, justify="left" if col in ("account", "post", "created") else "right"
            )
        posts = att.posts if limit == 0 else att.posts[:limit]
        for p in posts:
            verdict = "yes" if p.break_up else ("ambiguous" if p.significant else "")
            table.add_row(
                *([Text(p.account)] if several else []),
                Text(p.post), Text(p.created_at.strftime("%Y-%m-%d %H:%M")),
                f"{p.observed:.1f}", f"{p.expected:.1f}", f"{p.excess:.1f}",
                f"{p.p_value:.2g}", f"{p.p_adjusted:.2g}", f"{p.q_value:.2g}", verdict,
            )  # fmt: skip
        parts.append(table)
    return Group(*parts)
