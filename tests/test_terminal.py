"""The terminal views at 80 and 120 columns (golden files), what they say when a list is cut
or the data is too short, and the CLI's options and help as a user meets them.

Regenerate the golden files with ``BREAKUP_REGEN_GOLDEN=1 pytest tests/test_terminal.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, Group, RenderableType

from breakup import terminal
from breakup.cli import terminal_fans
from breakup.fans import hygiene, top_fans
from breakup.ingest import ImportResult, save_batch
from breakup.left import Departure, PostRef, left_summary, who_left
from breakup.sources import ReadOptions, get_source
from breakup.status import account_status
from breakup.store import Account, Store

from .reportkit import CLOCK, END, golden_store

GOLDEN = Path(__file__).parent / "golden" / "terminal"
REGEN = bool(os.environ.get("BREAKUP_REGEN_GOLDEN"))
WIDTHS = (80, 120)

# An email list whose unsubscribers gave reasons (Mailchimp's UNSUB_REASON fields).
LETTERS = {
    "breakup": 1,
    "platform": "email",
    "account": {"id": "letters@brand.example", "handle": "letters"},
    "snapshots": [
        {
            "direction": "followers",
            "observed_at": "2025-05-01T00:00:00Z",
            "complete": True,
            "members": [{"id": f"r{i}@example.com"} for i in range(1, 9)],
        }
    ],
    "posts": [
        {
            "id": "L1",
            "created_at": "2025-05-27T09:00:00Z",
            "kind": "campaign",
            "text": "Our biggest sale of the year — three emails a day until Sunday, "
            "because you deserve every single one of them",
        }
    ],
    "events": [
        {"event": "unsubscribe", "time": f"2025-05-27T1{i}:00:00Z", "id": f"r{i}@example.com",
         "campaign": "L1", "reason": reason}
        for i, reason in enumerate(
            ["Other: too many emails", "Other: too many emails", "Not relevant", None], start=1
        )
    ],
}  # fmt: skip


def _add(store: Store, folder: Path, name: str, doc: dict[str, object]) -> None:
    src = folder / f"{name}.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    save_batch(store, get_source("json").read(src, ReadOptions(clock=CLOCK)), account=name)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("terminal")
    path = golden_store(folder)
    with Store(path, clock=CLOCK) as store:
        _add(store, folder, "email:letters@brand.example", LETTERS)
    return path


@pytest.fixture
def store(db: Path) -> Store:
    s = Store(db, clock=CLOCK, read_only=True)
    yield s  # type: ignore[misc]
    s.close()


def render(renderable: RenderableType, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def check(name: str, text: str, width: int) -> None:
    """Pin *text* in a golden file; no line may be wider than the terminal."""
    wide = [line for line in text.splitlines() if len(line) > width]
    assert not wide, f"{name}: lines wider than {width}: {wide[:3]}"
    path = GOLDEN / f"{name}.{width}.txt"
    if REGEN or not path.exists():
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not REGEN:
            pytest.fail(f"golden file {path.name} was missing; written, check it in")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed (BREAKUP_REGEN_GOLDEN=1)"


@pytest.mark.parametrize("width", WIDTHS)
def test_status_golden(store: Store, width: int) -> None:
    view = terminal.status_view(account_status(store), now=END)
    check("status", render(view, width), width)


@pytest.mark.parametrize("width", WIDTHS)
def test_left_golden(store: Store, width: int) -> None:
    rows = who_left(store, limit=6)
    view = terminal.departures_view(rows, now=END, summary=left_summary(store))
    out = render(view, width)
    check("left", out, width)
    assert "…and 10 more; `--limit 0` for all" in out  # 16 departures, 6 shown
    # the post just before: its day, or its time on the day they left (not both)
    assert "  21 May </script>" in out and "21 May 12:00" not in out
    assert "Their own reasons (3 of 7 unsubscribers gave one):" in out
    assert "2  Other: too many emails" in out


HANDLES = [  # (platform, handle): as long as real ones get
    ("bsky", "zoetanaka468.bsky.social"),
    ("mastodon", "@beagarcia181@mastodon.example"),
    ("bsky", "katenguyen496.bsky.social"),
    ("mastodon", "@umakowalski420@social.example"),
]


def _handle_departures() -> list[Departure]:
    out = []
    for i, (platform, handle) in enumerate(HANDLES):
        at = END - timedelta(hours=3 + 5 * i)
        post = PostRef(
            f"p{i}",
            "post",
            at - timedelta(hours=2),
            "This latte-art competition was the best day of the year, thank you all",
        )
        out.append(Departure(
            account=f"{platform}:brand", platform=platform, person_id=i, external_id=f"id{i}",
            handle=handle, display_name=None, kind="unfollowed", left_earliest=at,
            left_latest=at, exact=True, followed_since=at - timedelta(days=40 + 90 * i),
            followed_before_tracking=False, tenure_days=40.0 + 90 * i, campaign=None,
            reason=None, last_posts=[post],
        ))  # fmt: skip
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_left_names_get_the_room(width: int) -> None:
    """The "who" column is what a manager reads first: at 80 columns handles as long as
    real ones show whole, and the columns that give way say so; at 120 everything shows."""
    view = terminal.departures_view(_handle_departures(), now=END)
    out = render(view, width)
    for _, handle in HANDLES:
        assert handle in out, (handle, out)
    if width == 120:
        assert "followed" in out.splitlines()[1] and "account" in out.splitlines()[1]
    else:
        assert "(followed, account: wider terminal, or --json)" in out
    assert "This latte-art" in out
    check("left-handles", out, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_left_verbose_golden(store: Store, width: int) -> None:
    rows = who_left(store, account="social", limit=3)
    view = terminal.departures_view(rows, now=END, verbose=True)
    out = render(view, width)
    check("left-verbose", out, width)
    # each of the last posts on a line of its own under the departure, never folded
    assert out.count("\n    14 May 13:15  Thanks for 30 followers!\n") == 2


@pytest.mark.parametrize("width", WIDTHS)
def test_accounts_golden(store: Store, width: int) -> None:
    out = render(terminal.accounts_view(store.accounts()), width)
    check("accounts", out, width)
    for a in store.accounts():
        assert a.name in out  # never cut: they are what --account takes


@pytest.mark.parametrize("width", WIDTHS)
def test_fans_and_hygiene_golden(store: Store, width: int) -> None:
    fans = terminal_fans.fans_view(top_fans(store, top=5, at=END), now=END)
    check("fans", render(fans, width), width)
    check(
        "hygiene", render(terminal_fans.hygiene_view(hygiene(store, at=END, limit=3)), width), width
    )


def test_no_line_is_wider_than_the_terminal_at_any_width(store: Store) -> None:
    rows = who_left(store)
    views = [
        terminal.status_view(account_status(store), now=END),
        terminal.departures_view(rows, now=END, summary=left_summary(store), verbose=True),
        terminal.accounts_view(store.accounts(), verbose=True),
    ]
    for width in (40, 60, 80, 100, 160):
        for view in views:
            for line in render(view, width).splitlines():
                assert len(line) <= width, (width, line)


def test_status_guides_short_histories(tmp_path: Path) -> None:
    """One snapshot cannot show anyone leaving, and a day of history is no 30-day rate."""
    with Store(tmp_path / "s.duckdb", clock=CLOCK) as store:
        assert "No accounts yet" in render(terminal.status_view([], now=END), 80)
        one = {
            "breakup": 1,
            "platform": "bsky",
            "account": {"id": "did:plc:one", "handle": "one.example"},
            "snapshots": [{"observed_at": "2025-05-20T00:00:00Z",
                           "members": [{"id": "a"}, {"id": "b"}]}],
        }  # fmt: skip
        _add(store, tmp_path, "one", one)
        day = {
            "breakup": 1,
            "platform": "mastodon",
            "account": {"id": "day", "handle": "day@x.example"},
            "snapshots": [
                {"observed_at": "2025-05-31T00:00:00Z", "members": [{"id": "a"}, {"id": "b"}]},
                {"observed_at": "2025-05-31T20:00:00Z", "members": [{"id": "a"}]},
            ],
        }
        _add(store, tmp_path, "day", day)
        out = render(terminal.status_view(account_status(store), now=END), 120)
    assert "one: one snapshot only (20 May), so nobody can be seen leaving yet" in out
    assert "day: only 1 day of history; wait a few weeks" in out
    assert "+0 −1*" in out and "* the history is shorter than the period" in out


# -- the CLI as a user runs it -------------------------------------------------------------


def cli(*args: str, ok: bool = True, columns: int = 80) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_a_mistyped_db_is_an_error_not_a_new_store(tmp_path: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    for command in (["status"], ["left"], ["accounts"], ["fans"], ["why"], ["report"]):
        proc = cli("--db", str(missing), *command, ok=False)
        assert proc.returncode == 1, command
        err = proc.stderr.strip()
        assert "\n" not in err and "no store here" in err and str(missing) in err, command
        assert not missing.exists(), command


def test_db_after_the_command_shorthand_accounts_and_limits(db: Path) -> None:
    rows = json.loads(cli("left", "--db", str(db), "--json").stdout)
    assert len(rows) == 16
    assert json.loads(cli("left", f"--db={db}", "-n", "0", "--json").stdout) == rows
    lettered = json.loads(cli("left", "--db", str(db), "-a", "lett", "--json").stdout)
    assert {r["account"] for r in lettered} == {"email:letters@brand.example"}
    assert {r["reason"] for r in lettered} >= {"Other: too many emails", "Not relevant"}
    proc = cli("left", "--db", str(db), "-a", "e", ok=False)  # in "letters", "news", "evil"…
    assert proc.returncode == 1 and "could be any of" in proc.stderr
    out = cli("--db", str(db), "left", "-n", "2").stdout
    assert "…and 14 more; `--limit 0` for all" in out
    fans = json.loads(cli("--db", str(db), "fans", "--top", "1", "--json").stdout)
    assert len(fans) == 1  # the old name still works
    assert len(json.loads(cli("--db", str(db), "fans", "--limit", "0", "--json").stdout)) == 2


def test_version_and_help() -> None:
    from breakup import __version__

    assert cli("--version").stdout.strip() == f"breakup {__version__}"
    top = cli("--help").stdout
    assert "--version" in top and "--db PATH" in top
    for command in ("import", "left", "status", "fans", "digest", "report", "export", "watch"):
        text = cli(command, "--help").stdout
        assert "<bool>" not in text and "<list[" not in text and "<str>" not in text, command
        assert "{" not in text.split("\n", 1)[0], command  # no "{kind}" in the usage line
        assert max(len(line) for line in text.splitlines()) <= 80, command
    assert "[[digest]]" in cli("digest", "--help").stdout
    assert "KIND PATHS..." in cli("import", "--help").stdout


def test_watch_json_is_one_object_a_line(tmp_path: Path) -> None:
    import signal
    import threading
    import time

    from .servers.xrpc import AppView

    db = tmp_path / "w.duckdb"
    with AppView() as view:
        view.add_actor("did:plc:brand", "brand.test", "Brand")
        config = tmp_path / "watch.toml"
        config.write_text(
            f'[[track]]\ntarget = "bsky:brand.test"\nbase_url = "{view.url}"\nevery = "1h"\n'
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "breakup", "watch", "--db", str(db), str(config), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        )
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            lines.extend(proc.stdout)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not any('"polled"' in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        reader.join(timeout=10)
    events = [json.loads(line) for line in lines]
    polled = [e for e in events if e["event"] == "polled"]
    assert polled and "at" in polled[0] and polled[0]["result"]["fetched"]["account"]
    assert events[-1]["event"] == "stopped" and events[-1]["result"]["polls"] == 1


def test_left_never_gives_a_false_all_clear(tmp_path: Path) -> None:
    """An empty store or a single snapshot is not 'nobody left'."""
    fixtures = Path(__file__).parent / "fixtures" / "generic"
    db = tmp_path / "one.duckdb"
    Store(db).close()  # an empty store
    assert "No accounts yet" in cli("--db", str(db), "left").stdout
    assert "No accounts yet" in cli("--db", str(db), "status").stdout
    first = str(fixtures / "followers_2025-01-01.csv")
    cli("--db", str(db), "import", "csv", first, "-a", "site", "--at", "2025-01-01")
    out = cli("--db", str(db), "left", columns=200).stdout
    assert "nobody in this period" in out
    assert "site: one snapshot only (2025-01-01), so nobody can be seen leaving yet" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_report_terminal_fits(tmp_path: Path, width: int) -> None:
    """The report's own tables (status, weekly, departures, posts) at 80 and 120 columns."""
    from breakup.report import build_report, render_terminal

    with Store(golden_store(tmp_path), clock=CLOCK) as store:
        report = build_report(store, with_analyses=False)
    check("report", render(render_terminal(report), width), width)


def test_unanswered_newest_first_with_the_post_they_answered(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from breakup.models import (
        Batch,
        Direction,
        Interaction,
        InteractionKind,
        Person,
        Post,
        Snapshot,
    )

    def t(day: int) -> datetime:
        return datetime(2025, 5, day, 12, tzinfo=UTC)

    db = tmp_path / "u.duckdb"
    people = [Person("p1", "ada.example"), Person("p2", "bob.example")]
    batch = Batch(source="test", platform="bsky", source_ref="u1", observed_at=t(20))
    batch.snapshots.append(Snapshot.of(Direction.FOLLOWERS, t(1), people))
    batch.posts += [Post("mine1", t(2), text="Our first post"), Post("mine2", t(3), text="Second")]
    batch.interactions += [
        Interaction(people[0], InteractionKind("reply"), t(4), "mine1", "their-1"),
        Interaction(people[1], InteractionKind("reply"), t(9), "mine2", "their-2"),
    ]
    with Store(db, clock=CLOCK) as store:
        save_batch(store, batch, account="b")
    out = cli("--db", str(db), "fans", "--unanswered", columns=120).stdout
    assert "Never answered, newest first" in out
    assert out.index("bob.example") < out.index("ada.example")
    assert "Second" in out and "Our first post" in out
    heard = json.loads(cli("--db", str(db), "fans", "--unanswered", "--json").stdout)
    assert [u["post_text"] for u in heard["oldest_unanswered"]] == ["Our first post", "Second"]


# -- kinds, peers and the import summary read like the other views --------------------------

KINDS = {  # fixed here: the golden files must not change when a source is added
    "buttondown": {"platform": "email", "summary": "Buttondown subscriber export (CSV, or "
                   "the full data export zip/folder)."},
    "csv": {"platform": "custom", "summary": "Generic CSV: a follower snapshot (id column) "
            "or timed events (event, time, id)."},
    "instagram": {"platform": "instagram", "summary": "Instagram 'Download your information' "
                  "export, JSON (zip or folder)."},
    "x-archive": {"platform": "x", "summary": "X/Twitter data archive (zip or folder): "
                  "follower/following snapshots and posts."},
}  # fmt: skip
BOX = set("┏┃━┡│└┌┐┘╇╋")


@pytest.mark.parametrize("width", WIDTHS)
def test_kinds_golden(width: int) -> None:
    out = render(terminal.kinds_view(KINDS), width)
    check("kinds", out, width)
    assert not BOX & set(out), "no boxed table"
    for name, row in KINDS.items():
        assert name in out
        # the description is read, not cut: every word of it is there
        assert set(row["summary"].split()) <= set(out.split()), name


def _peer(i: int, name: str, platform: str, handle: str | None) -> Account:
    return Account(i, name, platform, f"did:plc:{i:024d}" if platform == "bsky" else None,
                   handle, "peer", END)  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
def test_peers_golden(width: int) -> None:
    rows = [
        _peer(1, "bsky:rival-roasters.bsky.social", "bsky", "rival-roasters.bsky.social"),
        _peer(2, "mastodon:@beans@coffee.social.example", "mastodon",
              "@beans@coffee.social.example"),
        _peer(3, "email:letters@other-brand.example", "email", None),
    ]  # fmt: skip
    out = render(terminal.peers_view(rows), width)
    check("peers", out, width)
    assert not BOX & set(out), "no boxed table"
    for a in rows:
        assert a.name in out  # never cut: they are what --account takes
    empty = render(terminal.peers_view([]), width)
    assert "No peers yet" in empty and "breakup peers add" in empty


def _imported(**fields: object) -> ImportResult:
    base: dict[str, object] = {
        "account": "mastodon:@brand@mastodon.example",
        "source": "x-archive",
        "path": "/home/someone/Downloads/exports/twitter-2025-05-31-0123456789abcdef.zip",
        "snapshots": 2,
        "members": 2_469_134,
        "people": 1_234_567,
        "events": 45_678,
        "posts": 12_345,
        "interactions": 987_654,
        "checks": 321,
        "opened": 1_234_567,
        "closed": 4_321,
    }
    return ImportResult(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("width", WIDTHS)
def test_import_summary_golden(width: int) -> None:
    """An import's summary never wraps at 80 columns, whatever the path and the counts."""
    view = Group(
        terminal.import_summary(_imported()),
        terminal.import_summary(_imported(rebuilt=True, notes=["2 rows without an id skipped",
                                                               LONG_NOTE])),
        terminal.import_summary(_imported(path="bsky:brand.bsky.social",
                                          account="bsky:brand.bsky.social")),
        terminal.import_summary(_imported(skipped=True)),
    )  # fmt: skip
    out = render(view, width)
    assert out.count("snapshot(s)") == 3
    assert "1,234,567 people" in out and "replayed from the start" in out
    # A long note wraps at words, its lines under its first word (a hanging indent).
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "the follower list was" in line)
    assert lines[first].startswith("  note: the follower list was")
    last = next(i for i in range(first, len(lines)) if "archive)" in lines[i])
    assert last - first == (3 if width == 80 else 1)
    rest = lines[first + 1 : last + 1]
    assert all(line.startswith(" " * 8) and line[8] != " " for line in rest), rest
    assert " ".join(w for line in lines[first : last + 1] for w in line.split()) == (
        "note: " + LONG_NOTE
    )
    check("import", out, width)


LONG_NOTE = (
    "the follower list was cut at 1,000,000 rows by the platform's export (it reported "
    "1,234,567 followers): departures of people beyond the cut cannot be seen until a "
    "complete list is imported (request a full archive)"
)


def test_kinds_peers_and_import_at_80_columns(db: Path, tmp_path: Path) -> None:
    for args in (["kinds"], ["--db", str(db), "peers", "list"]):
        out = cli(*args).stdout
        assert not BOX & set(out), args
        assert max(len(line) for line in out.splitlines()) <= 80, args
    assert "No peers yet" in cli("--db", str(db), "peers", "list").stdout
    fixtures = Path(__file__).parent / "fixtures" / "generic"
    new = tmp_path / "import.duckdb"
    first = str(fixtures / "followers_2025-01-01.csv")
    out = cli("--db", str(new), "import", "csv", first, "-a", "a-rather-long-account-name-here",
              "--at", "2025-01-01").stdout  # fmt: skip
    assert "snapshot(s)" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_fans_and_hygiene_take_channel_and_until(db: Path) -> None:
    """The same --channel and --until as the other commands: one platform's own accounts,
    and the answer as of a past date."""

    def run(*args: str) -> Any:
        return json.loads(cli("--db", str(db), *args, "--json").stdout)

    social = run("fans", "-a", "social")
    assert social and run("fans", "--channel", "mastodon") == social
    assert run("fans", "--channel", " Mastodon ") == social
    hygiene_rows = run("hygiene", "--channel", "email")
    assert {h["account"] for h in hygiene_rows} == {"news", "email:letters@brand.example"}
    assert [h["account"] for h in run("hygiene", "--channel", "mastodon", "-a", "soc")] == [
        "social"
    ]
    several = cli("--db", str(db), "fans", "--channel", "email", ok=False)
    assert several.returncode == 1 and "--account" in several.stderr and "news" in several.stderr
    none = cli("--db", str(db), "fans", "--channel", "x", ok=False)
    assert none.returncode == 1 and "no own account on x" in none.stderr
    # as of 6 May: the reply of 8 May is not there yet
    early = run("fans", "--until", "2025-05-06")
    assert [f["handle"] for f in early] == ["f01.example"]
    (h,) = run("hygiene", "-a", "social", "--until", "2025-05-06")
    assert h["as_of"].startswith("2025-05-06")


def test_hygiene_says_why_in_words_and_when_the_list_is_cut() -> None:
    from breakup.fans.hygiene import Flagged, Hygiene

    flagged = [
        Flagged(1, "p1", "deals4821934.bsky.social", "followers", ["bot_flag", "never_engaged"],
                None, 3),
        Flagged(2, "p2", "quiet.bsky.social", "followers",
                ["bot_like: generated handle, posts >20 a day", "inactive", "never_posted"],
                None, 0),
    ]  # fmt: skip
    h = Hygiene(account="bsky:brand.bsky.social", as_of=END, inactive_days=180, followers=100,
                real_audience=60, real_share=0.6, profiled=100, unprofiled=0, inactive=20,
                never_posted=10, bot_like=15, never_engaged=50, following=10,
                following_dead_weight=1, mutuals=5, not_following_back=5,
                dead_weight=flagged)  # fmt: skip
    out = render(terminal_fans.hygiene_view([h]), 80)
    for code in ("bot_flag", "never_engaged", "never_posted", "bot_like"):
        assert code not in out, code
    assert "flagged bot, never engaged" in out
    assert "no post in 180d" in out and "never posted" in out
    assert "…and 38 more flagged followers; `--limit 0` for all" in out  # 40 flagged, 2 shown


def test_counts_wrap_between_phrases_never_inside_one() -> None:
    view = terminal.phrases(
        "3,917 left: ",
        ["2,244 unfollowed", "1,111 unsubscribed", "421 deleted", "128 suspended", "13 unknown"],
    )
    assert render(view, 80) == (
        "3,917 left: 2,244 unfollowed, 1,111 unsubscribed, 421 deleted, 128 suspended,\n"
        "  13 unknown\n"
    )
    assert render(view, 120).count("\n") == 1
