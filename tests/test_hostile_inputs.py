"""Named hostile inputs from issue 14: each is refused with one ``BreakupError`` line naming
the file and what was wrong, through the library and through the CLI (exit status 1, one
line on stderr, no traceback), and the store is left exactly as it was.

The property tests over every import kind live in ``test_hostile_sources.py``; the cases
here are the ones a review found getting through (a stray quote, deep JSON, huge numbers,
lone surrogates, wrong-shape JSON, zip bombs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from breakup.errors import InvalidExport
from breakup.sources import get_source
from breakup.store import Store

from .conftest import table_counts
from .test_hostile_sources import FIXTURE, FIXTURES, options, read_and_save

CSV_KINDS = ["csv", "mailchimp", "buttondown", "substack"]


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400"},
    )


def assert_cli_refuses(db: Path, args: list[str], name: str, problem: str) -> None:
    """One ``error:`` line naming *name* and saying *problem*, status 1, store unchanged."""
    with Store(db) as s:
        before = table_counts(s)
    proc = cli(db, *args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert name in lines[0] and problem in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    with Store(db, read_only=True) as s:
        assert table_counts(s) == before


# -- item 3: one stray quote --------------------------------------------------------------


def _stray_quote(data: str) -> str:
    """Open a quote at the start of the second field of the second data row, as a hand
    edit or a broken exporter does, and never close it."""
    lines = data.split("\n")
    row = 2 if len(lines) > 3 else 1
    head, sep, rest = lines[row].partition(",")
    lines[row] = f'{head}{sep}"{rest.lstrip(chr(34))}'
    return "\n".join(lines)


def _stray_quote_everywhere(src: Path, dest: Path) -> tuple[Path, list[Path]]:
    """Copy a fixture with a stray quote in every CSV member, one member at a time."""
    out: list[Path] = []
    members = [src] if src.is_file() else sorted(src.rglob("*.csv"))
    for k, member in enumerate(members):
        copy = dest / f"v{k}" / src.name
        if src.is_file():
            copy.parent.mkdir(parents=True)
            copy.write_text(_stray_quote(src.read_text()))
        else:
            shutil.copytree(src, copy)
            target = copy / member.relative_to(src)
            target.write_text(_stray_quote(target.read_text()))
        out.append(copy)
    return src, out


@pytest.mark.parametrize("kind", CSV_KINDS)
def test_a_stray_quote_in_any_csv_member_is_refused(
    kind: str, tmp_path: Path, store: Store
) -> None:
    """Regression: the quote swallowed the rest of the file into one field and the import
    went through as a complete snapshot of the rows before it."""
    _, copies = _stray_quote_everywhere(FIXTURES / FIXTURE[kind], tmp_path)
    assert copies
    for path in copies:
        assert read_and_save(kind, path, store) == "refused on read", path
        with pytest.raises(Exception, match="quote") as err:
            get_source(kind).read(path, options())
        assert path.name in str(err.value)


def _followers(n: int, skip: int | None = None) -> str:
    rows = ["id,handle"] + [f"{i},h{i}" for i in range(n)]
    if skip is not None:
        head, _, rest = rows[skip + 1].partition(",")
        rows[skip + 1] = f'{head},"{rest}'
    return "\n".join(rows) + "\n"


def test_a_stray_quote_that_closes_later_is_refused_too(tmp_path: Path, store: Store) -> None:
    """A second stray quote closes the first one at the end of a field: strict parsing
    alone accepts that, so the rows it swallowed are what gives it away."""
    path = tmp_path / "followers.csv"
    lines = _followers(100).split("\n")
    lines[3] = '2,"h2'
    lines[60] = '59,h59"'
    path.write_text("\n".join(lines))
    assert read_and_save("csv", path, store) == "refused on read"


def test_a_line_break_typed_into_a_quoted_name_is_still_read(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "followers.csv"
    path.write_text('id,handle,display_name\n1,a,"Ada\nLovelace"\n2,b,Bob\n')
    assert read_and_save("csv", path, store) == "imported"
    assert store.scalar("SELECT count(*) FROM people") == 2
    # ... and a note over lines with commas in it, in a file of more columns than it has
    notes = tmp_path / "notes.csv"
    notes.write_text(
        'id,handle,display_name,notes\n3,c,Cy,"met at a fair, 2024\nlikes cats, dogs"\n4,d,Di,\n'
    )
    assert read_and_save("csv", notes, store) == "imported"


def test_cli_refuses_a_stray_quote_and_leaves_the_snapshot_before_it(tmp_path: Path) -> None:
    """The reported case: 100 followers, then the same list with one stray quote."""
    db = tmp_path / "s.duckdb"
    good, bad = tmp_path / "jan.csv", tmp_path / "feb.csv"
    good.write_text(_followers(100))
    bad.write_text(_followers(100, skip=2))
    done = cli(db, "import", "csv", str(good), "--account", "a", "--at", "2025-01-01")
    assert done.returncode == 0, done.stderr
    assert_cli_refuses(
        db,
        ["import", "csv", str(bad), "--account", "a", "--at", "2025-02-01"],
        "feb.csv",
        "quote",
    )
    with Store(db, read_only=True) as s:
        assert s.scalar("SELECT count(*) FROM departures") == 0


# -- items 5 and 6: JSON a store cannot hold, or of the wrong shape -------------------------

POST = '{"id": "p", "created_at": "2025-01-01T00:00:00Z"'
SNAP = '{"observed_at": "2025-01-01T00:00:00Z", "members": [{"id": "1"}]'


def _doc(body: str) -> str:
    return '{"breakup": 1, "platform": "p", ' + body + "}"


HOSTILE_JSON = {
    # name: (document, what the one-line error says)
    "deep": ('{"breakup": 1, "posts": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
    "digits": (_doc(f'"snapshots": [{SNAP}, "reported_count": {"9" * 5000}}}]'), "digits"),
    "count": (_doc(f'"snapshots": [{SNAP}, "reported_count": {10**23}}}]'), "reported_count"),
    "metric": (_doc(f'"posts": [{POST}, "metrics": {{"likes": {10**23}}}}}]'), "metrics.likes"),
    "surrogate": (_doc(f'"posts": [{POST}, "text": "a\\ud800b"}}]'), "surrogate"),
    "object_id": (_doc('"snapshots": [{"members": [{"id": {"a": 1}}]}]'), "members[0].id"),
    "list_id": (_doc('"posts": [{"id": [1], "created_at": "2025-01-01"}]'), "posts[0].id"),
    "object_handle": (_doc('"events": [{"id": "1", "handle": {"h": 1}}]'), "events[0].handle"),
    "list_text": (_doc(f'"posts": [{POST}, "text": ["a"]}}]'), "posts[0].text"),
    "object_account": (_doc('"account": {"id": {"x": 1}}, "posts": []'), "account.id"),
    "bool_count": (_doc(f'"snapshots": [{SNAP}, "reported_count": true}}]'), "reported_count"),
    "negative_count": (_doc(f'"snapshots": [{SNAP}, "reported_count": -5}}]'), "not -5"),
    "fraction_metric": (_doc(f'"posts": [{POST}, "metrics": {{"likes": 1.5}}}}]'), "likes"),
    "bool_id": (_doc('"checks": [{"id": true, "state": "active"}]'), "checks[0].id"),
    "object_name": (_doc('"interactions": [{"id": "1", "display_name": {}}]'), "display_name"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_JSON))
def test_hostile_json_is_refused_in_one_line_naming_what(
    name: str, tmp_path: Path, store: Store
) -> None:
    """Regression: RecursionError, ValueError (digit limit), DuckDB ConversionException,
    pyarrow OverflowError and UnicodeEncodeError tracebacks; wrong-shape values stored as
    Python reprs; reported_count of true or -5 accepted."""
    text, problem = HOSTILE_JSON[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    before = table_counts(store)
    assert read_and_save("json", path, store) == "refused on read"
    with pytest.raises(InvalidExport) as err:
        get_source("json").read(path, options())
    assert problem in str(err.value), str(err.value)
    assert table_counts(store) == before


@pytest.mark.parametrize("name", ["deep", "metric", "surrogate", "object_id", "negative_count"])
def test_cli_refuses_hostile_json_in_one_line(name: str, tmp_path: Path) -> None:
    text, problem = HOSTILE_JSON[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    db = tmp_path / "s.duckdb"
    args = ["import", "json", str(path), "--account", "a", "--at", "2025-01-01"]
    assert_cli_refuses(db, args, path.name, problem)


def test_ids_may_be_numbers_and_nulls_are_absent_values(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "ok.json"
    path.write_text(
        _doc(
            '"account": {"id": 42, "handle": null}, "snapshots": [{"observed_at": '
            '"2025-01-01T00:00:00Z", "reported_count": 2, "members": [{"id": 7}, '
            '{"id": "8", "handle": null}]}]'
        )
    )
    assert read_and_save("json", path, store) == "imported"
    assert sorted(r[0] for r in store.con.execute("SELECT external_id FROM people").fetchall()) == [
        "7",
        "8",
    ]


def test_values_no_column_holds_are_refused_by_save_naming_the_input(store: Store) -> None:
    """The store's own net, for any source: a batch carrying a 1e23 metric or a lone
    surrogate is one InvalidInput naming the input, with nothing written."""
    from datetime import UTC, datetime

    from breakup.errors import InvalidInput
    from breakup.ingest import save_batch
    from breakup.models import Batch, Post

    at = datetime(2025, 1, 1, tzinfo=UTC)
    for post in (Post("p", at, metrics={"likes": 10**23}), Post("q", at, text="a\ud800")):
        batch = Batch(source="json", platform="p", source_ref=post.external_id, posts=[post])
        before = table_counts(store)
        with pytest.raises(InvalidInput, match=r"in\.json: cannot be stored"):
            save_batch(store, batch, account="a", path="in.json")
        assert table_counts(store) == before


def test_an_unexpected_error_is_one_line_with_a_hint_and_debug_shows_it(tmp_path: Path) -> None:
    """The real ``main`` with a command that fails in a way no BreakupError covers (a bug):
    one line naming the exception and pointing at --debug, status 1; with --debug (before
    or after the command) the traceback."""
    script = (
        "import sys, breakup.cli.common as cli\n"
        "def boom(): raise KeyError('no such thing')\n"
        "cli.app = boom\n"
        "sys.argv = ['breakup', *sys.argv[1:]]\n"
        "cli.main()\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
        )

    plain = run("accounts")
    lines = plain.stderr.strip().splitlines()
    assert plain.returncode == 1 and len(lines) == 1, plain.stderr
    assert lines[0].startswith("error: unexpected KeyError: 'no such thing'"), lines[0]
    assert "--debug" in lines[0] and "Traceback" not in plain.stderr
    for args in (["--debug", "accounts"], ["accounts", "--debug"]):
        debug = run(*args)
        assert debug.returncode == 1
        assert "Traceback" in debug.stderr and "KeyError: 'no such thing'" in debug.stderr


def test_debug_is_a_global_option_in_the_help(tmp_path: Path) -> None:
    proc = cli(tmp_path / "s.duckdb", "--help")
    assert proc.returncode == 0 and "--debug" in proc.stdout, proc.stdout + proc.stderr


# -- item 7: zip bombs ---------------------------------------------------------------------


def _bomb(
    path: Path, member: str, mib: int, prefix: bytes = b"", others: dict[str, bytes] | None = None
) -> Path:
    """A zip whose *member* expands to *mib* MiB of spaces (deflate packs ~1000:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, body in (others or {}).items():
            z.writestr(name, body)
        with z.open(member, "w", force_zip64=True) as f:
            f.write(prefix)
            block = b" " * (1 << 20)
            for _ in range(mib):
                f.write(block)
    return path


BOMBS = {
    # kind: (member that kind reads, what precedes the padding, other members)
    "x-archive": ("data/follower.js", b"window.YTD.follower.part0 = [", {
        "data/account.js":
            b'window.YTD.account.part0 = [{"account": {"accountId": "1", "username": "b"}}]'}),
    "mailchimp": ("subscribed_members_export_1.csv", b"Email Address,OPTIN_TIME\n", {}),
    "csv": ("followers.csv", b"id\n", {}),
    "json": ("doc.json", b'{"breakup": 1, "posts": []', {}),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_zip_bomb_is_refused_before_it_is_expanded(
    kind: str, tmp_path: Path, store: Store
) -> None:
    """Regression: members were read whole (up to 4 GiB each): a 1 MB zip took 3.3 GB."""
    member, prefix, others = BOMBS[kind]
    path = _bomb(tmp_path / f"{kind}-bomb.zip", member, 64, prefix, others)
    assert path.stat().st_size < 1024**2
    tracemalloc.start()
    try:
        with pytest.raises(InvalidExport, match="zip bomb") as err:
            get_source(kind).read(path, options())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024**2, f"peak {peak / 1024**2:.0f} MiB while refusing"
    assert path.name in str(err.value) and member.rsplit("/", 1)[-1] in str(err.value)
    assert read_and_save(kind, path, store) == "refused on read"


def test_members_adding_up_beyond_the_total_are_refused_as_they_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each member plausible on its own (incompressible, so no ratio to catch), together
    over the cap on everything read from one archive."""
    from breakup.sources import base

    monkeypatch.setattr(base, "MAX_TOTAL_BYTES", 3 * 1024**2)
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k in range(3):
            z.writestr(f"part{k}.bin", os.urandom(1536 * 1024))
    with base.ExportFiles(path) as files:
        files.read_bytes("part0.bin")
        files.read_bytes("part0.bin")  # reading a member again counts it once
        files.read_bytes("part1.bin")
        with pytest.raises(InvalidExport, match="expand beyond") as err:
            files.read_bytes("part2.bin")
    assert "many.zip" in str(err.value) and "part2.bin" in str(err.value)


def test_cli_refuses_a_zip_bomb_in_one_line_without_expanding_it(tmp_path: Path) -> None:
    member, prefix, others = BOMBS["x-archive"]
    path = _bomb(tmp_path / "archive.zip", member, 256, prefix, others)
    db = tmp_path / "s.duckdb"
    assert_cli_refuses(db, ["import", "x-archive", str(path)], "archive.zip", "zip bomb")


def test_a_service_answering_json_nested_too_deep_is_a_service_error(store: Store) -> None:
    """Regression: stdlib JSON raised RecursionError through the live client (a traceback)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from breakup.errors import ServiceError
    from breakup.live import Connection
    from breakup.track import track

    body = b"[" * 200_000 + b"]" * 200_000

    class Deep(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deep)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/xrpc"
        conn = Connection(base_url=url, sleep=lambda s: None, max_retries=0)
        before = table_counts(store)
        with pytest.raises(ServiceError, match="not JSON"):
            track(store, "bsky:deep.test", conn)
        assert table_counts(store) == before
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("value", ["9" * 5000, "1" + "0" * 23])
@pytest.mark.parametrize(
    ("member", "field"),
    [
        ("data/tweets-part1.js", '"favorite_count" : "'),
        ("data/manifest.js", '"globalName" : "YTD.follower.part0",\n          "count" : "'),
    ],
)
def test_x_archive_counts_past_64_bits_are_refused_naming_the_file(
    value: str, member: str, field: str, tmp_path: Path, store: Store
) -> None:
    """Regression: 5,000 digits raised ValueError (the digit limit) from ``int()``; 10^23
    reached the store as an OverflowError or a DuckDB conversion error."""
    src = FIXTURES / FIXTURE["x-archive"]
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    target = dest / member
    text = target.read_text()
    start = text.index(field) + len(field)
    target.write_text(text[:start] + value + text[text.index('"', start) :])
    assert read_and_save("x-archive", dest, store) == "refused on read"
    with pytest.raises(InvalidExport, match="too large to be a count"):
        get_source("x-archive").read(dest, options())


@pytest.mark.parametrize("value", ["9" * 5000, "1" + "0" * 23, "²"])
def test_mailchimp_report_counts_that_are_no_count_are_refused(
    value: str, tmp_path: Path, store: Store
) -> None:
    """Regression: 5,000 digits or "²" (``isdigit`` but not ``int``) raised ValueError."""
    src = FIXTURES / FIXTURE["mailchimp"]
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    lines = (FIXTURES / "mailchimp" / "campaign_report.csv").read_text().split("\n")
    head, _, rest = lines[1].partition(",Friday,")
    lines[1] = f"{head},Friday,{value}{rest[rest.index(',') :]}"
    (dest / "campaign_report.csv").write_text("\n".join(lines))
    assert read_and_save("mailchimp", dest, store) == "refused on read"
    with pytest.raises(InvalidExport, match=r"Total Recipients.*is not a count"):
        get_source("mailchimp").read(dest, options())
