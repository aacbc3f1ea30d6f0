"""What every command shares: the Typer ``app`` with its root options (``--db``,
``--version``, ``--debug``), the store context (:class:`_Ctx`), the shared options
(``--account``, ``--channel``, ``--since``, ``--until``, ``--limit``, ``--json``), output
(:func:`_emit`, progress bars) and the entry point :func:`main`.

Imports nothing from the command modules: they import this and register on ``app``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .. import __version__, serialize
from ..access import read_store, write_store
from ..accounts import NamingStore, resolve_account
from ..clock import Clock, parse_since, parse_time, system_clock
from ..errors import BreakupError, StoreError
from ..safetext import SafeConsole
from ..store import Store, default_db_path
from .help import BreakupGroup

app = typer.Typer(
    help="Who left your audience, when, and why — and who your best fans are.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: rewrapped to the terminal, nothing read as markup
    cls=BreakupGroup,  # --db after the subcommand too; placeholders named after options
)
console = SafeConsole()  # no bidi controls reach the terminal (see safetext)
err_console = SafeConsole(stderr=True)


WRITE_WAIT = 30.0  # seconds a writing command waits for another process to let go

# Commands that may create a store file; any other on a path with no store is an error.
CREATORS = frozenset({"import", "track", "demo", "stream", "watch", "peers"})


class _Ctx:
    def __init__(self, db: Path | None, clock: Clock, command: str | None = None) -> None:
        self.db = db
        self.clock = clock
        self.command = command

    @property
    def path(self) -> Path:
        return self.db if self.db is not None else default_db_path()

    def _check_exists(self) -> None:
        """Only import, track, stream, watch and demo create a store: anything else on a
        path with no store (a mistyped --db) is an error, not a new empty store."""
        if not self.path.exists():
            raise StoreError(
                f"{self.path}: no store here (check --db); `breakup import`, `track` or "
                "`demo` create one"
            )

    @contextmanager
    def store(self, read_only: bool = False, create: bool | None = None) -> Iterator[Store]:
        """The store; names given to ``--account`` may be shorthands (see accounts.py).
        ``create`` None: only the commands in CREATORS create a missing store.
        ``read_only``: as :meth:`reading`. For writing, waits up to WRITE_WAIT seconds
        while another process holds the file, then ``StoreLocked``."""
        if read_only:
            with self.reading() as store:
                yield store
            return
        if not (self.command in CREATORS if create is None else create):
            self._check_exists()
        with write_store(
            self.path, clock=self.clock, wait=WRITE_WAIT, store_class=NamingStore
        ) as store:
            yield store

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """The store read-only; while another process (``watch``) holds it, a consistent
        copy (see :func:`breakup.access.read_store`), so reads never wait for a writer."""
        self._check_exists()
        with read_store(self.path, clock=self.clock, store_class=NamingStore) as store:
            yield store


def _account(store: Store, account: str | None) -> str | None:
    """The full name of the account *account* names (a shorthand is fine), or None."""
    return None if account is None else resolve_account(store, account).name


def _ctx(ctx: typer.Context) -> _Ctx:
    obj = ctx.find_root().obj
    assert isinstance(obj, _Ctx)
    return obj


def _emit(as_json: bool, value: Any, renderable: Any) -> None:
    if as_json:
        sys.stdout.write(serialize.dumps(value) + "\n")
    else:
        console.print(renderable)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
AccountOpt = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        metavar="NAME",
        help="Account name, or any part of it that names one account (see `breakup accounts`).",
    ),
]
ChannelOpt = Annotated[
    str | None,
    typer.Option(
        "--channel", metavar="PLATFORM", help="Only this platform (bsky, mastodon, email …)."
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", metavar="WHEN", help="From this date, or e.g. 7d, 4w back."),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", metavar="WHEN", help="Up to this date, or e.g. 7d back."),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", "-n", metavar="N", help="Show at most N (0: all).", min=0),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="More columns and details (e.g. last posts).")
]


def _when(text: str | None, clock: Clock, what: str) -> datetime | None:
    """A --since/--until value: an ISO date/time, or a span back from now like ``7d``."""
    if text is None:
        return None
    raw = text.strip().lower()
    if raw[:-1].isdigit() and raw[-1:] in ("h", "d", "w"):
        return parse_since(raw, clock)
    return parse_time(text, what=what)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"breakup {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            envvar="BREAKUP_DB",
            metavar="PATH",
            help=f"Store file (default {default_db_path()}); also accepted after the command.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="On an unexpected error, show the full traceback."),
    ] = False,
) -> None:
    """breakup keeps one DuckDB file of everything it observed; nothing is overwritten."""
    ctx.obj = _Ctx(db, system_clock, ctx.invoked_subcommand)


class _Count(ProgressColumn):
    """'12,000/80,000 rows' where a step says what it counts, else done/total if known."""

    def render(self, task: Task) -> Text:
        if "count" in task.fields:
            return Text(str(task.fields["count"]))
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed):,}/{int(task.total):,}")


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    """Bars on stderr for steps that take a while (only on a terminal, never with --json)."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )
    with progress:
        yield progress


def main() -> None:
    """Entry point: library errors become one line on stderr and exit status 1; so does
    anything unexpected, with a hint to rerun with ``--debug`` for the traceback."""
    args = sys.argv[1:]
    debug = "--debug" in args[: args.index("--") if "--" in args else len(args)]
    try:
        app()
    except BreakupError as exc:
        _fail(str(exc))
    except Exception as exc:
        if debug:
            raise
        what = " ".join(str(exc).split())[:300]
        _fail(
            f"unexpected {type(exc).__name__}{': ' + what if what else ''} "
            "(a bug in breakup; rerun with --debug for the traceback)"
        )


def _fail(message: str) -> NoReturn:
    # Plain write, one line: rich would wrap a long path at the terminal width.
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise SystemExit(1) from None
