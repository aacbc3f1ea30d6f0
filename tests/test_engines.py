"""Contract suite: the same observations tracked by the embedded engine (DuckDB, imports
folded in one by one) and by Spark over the lake (everything replayed at once) give the
same spans — so the same departures, windows, exactness and kinds.

Every case is imported into one store under its own accounts and people (ids prefixed by
the case), the store is exported to a lake in two increments, and one Spark job tracks the
whole lake; each case then compares its own accounts.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakup import lake
from breakup.clock import fixed_clock
from breakup.ingest import save_batch
from breakup.models import AccountState, Batch, Check, Direction, Event, EventKind, Person
from breakup.models import Snapshot as Snap
from breakup.store import Store

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=400)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@dataclass
class Case:
    """Batches of one case, in the order the embedded engine imports them."""

    name: str
    imports: list[tuple[str, Batch]] = field(default_factory=list)
    _n: int = 0

    def acct(self, name: str) -> str:
        return f"{self.name}.{name}"

    def p(self, pid: str | int) -> Person:
        return Person(f"{self.name}/{pid}", handle=f"@{pid}")

    def _ref(self) -> str:
        self._n += 1
        return f"{self.name}#{self._n}"

    def snap(
        self,
        account: str,
        at: float,
        ids: list[Any],
        *,
        platform: str = "t",
        complete: bool = True,
        reported: int | None = -1,
        since: datetime | None = None,
        direction: Direction = Direction.FOLLOWERS,
        follows: list[tuple[Any, datetime]] | None = None,
    ) -> None:
        snapshot = Snap.of(
            direction,
            h(at),
            [self.p(i) for i in ids],
            complete=complete,
            reported_count=len(ids) if reported == -1 else reported,
            complete_since=since,
        )
        batch = Batch(source="test", platform=platform, source_ref=self._ref(),
                      snapshots=[snapshot])  # fmt: skip
        for i, at_ in follows or []:
            batch.events.append(Event(self.p(i), EventKind.FOLLOW, at_, direction))
        self.imports.append((self.acct(account), batch))

    def events(
        self, account: str, *rows: tuple[float, Any, EventKind], platform: str = "t", **kw: Any
    ) -> None:
        batch = Batch(
            source="test",
            platform=platform,
            source_ref=self._ref(),
            events=[Event(self.p(pid), kind, h(at), **kw) for at, pid, kind in rows],
        )
        self.imports.append((self.acct(account), batch))

    def checks(self, account: str, *rows: Check, platform: str = "t") -> None:
        batch = Batch(source="test", platform=platform, source_ref=self._ref(), checks=list(rows))
        self.imports.append((self.acct(account), batch))

    def check(self, pid: Any, at: float, state: AccountState, **kw: Any) -> Check:
        return Check(self.p(pid), h(at), state, **kw)


CASES: dict[str, Callable[[Case], None]] = {}


def case(fn: Callable[[Case], None]) -> Callable[[Case], None]:
    CASES[fn.__name__] = fn
    return fn


@case
def churn(c: Case) -> None:
    """Complete snapshots, people coming and going every day; one leaves and comes back."""
    c.snap("me", 0, list(range(10)))
    c.snap("me", 24, [*range(2, 10), 10, 11])
    c.snap("me", 48, [*range(3, 9), 10, 11, 12, 0])
    c.snap("me", 72, [*range(3, 8), 11, 12, 13, 0])


@case
def partial(c: Case) -> None:
    """A partial snapshot only opens; a size-suspect one is not diffed."""
    c.snap("me", 0, list(range(20)))
    c.snap("me", 10, [1, 2, 20], complete=False)
    c.snap("me", 24, list(range(5, 20)), reported=20)  # 5 missing, count still says 20
    c.snap("me", 48, [*range(6, 20), 20], reported=15)


@case
def events_at_snapshot_times(c: Case) -> None:
    """Exact events interleaved with snapshots, some at the very instant of one."""
    c.snap("me", 0, ["a", "b", "c"])
    c.events("me", (5, "a", EventKind.UNFOLLOW), (10, "b", EventKind.UNFOLLOW),
             (10, "d", EventKind.FOLLOW), (12, "e", EventKind.FOLLOW))  # fmt: skip
    c.snap("me", 10, ["c", "d"])  # taken at 10: already reflects b and d
    c.events("me", (24, "c", EventKind.UNFOLLOW), (30, "x", EventKind.UNFOLLOW))
    c.snap("me", 24, ["d", "e"])
    c.snap("me", 48, ["d"])


@case
def refollow(c: Case) -> None:
    """Re-follows seen as an event, and seen only in a later snapshot."""
    c.snap("me", 0, ["a", "b"])
    c.events("me", (5, "a", EventKind.UNFOLLOW), (7, "a", EventKind.FOLLOW),
             (9, "b", EventKind.UNFOLLOW))  # fmt: skip
    c.snap("me", 24, ["a", "b"])
    c.snap("me", 48, ["a"])
    c.snap("me", 72, ["a", "b"])


@case
def scoped(c: Case) -> None:
    """A snapshot complete only for follows since a date (a date-limited export)."""
    since = h(-24 * 12)

    def started(i: int) -> datetime:
        if i >= 100:
            return h(24 * 5) + timedelta(minutes=i)
        return (h(-24 * 60) if i < 60 else since + timedelta(days=1)) + timedelta(hours=i)

    def follows(ids: list[int]) -> list[tuple[Any, datetime]]:
        return [(i, started(i)) for i in ids if i < 200]

    first = [*range(100), 200]
    c.snap("me", 24, first, platform="custom", follows=follows(first), reported=None)
    in_range = [i for i in range(60, 105) if i not in (70, 71)]
    c.snap("me", 24 * 10, in_range, platform="custom", since=since,
           follows=follows(in_range), reported=None)  # fmt: skip
    still = [i for i in [*range(1, 105), 200] if i not in (70, 71)]
    c.snap("me", 24 * 20, still, platform="custom", follows=follows(still), reported=None)


@case
def rechecks(c: Case) -> None:
    """Kinds from re-checks (own, a peer's, exact ones); a still-following check withdraws
    a departure; a deletion after someone was seen alive names nothing."""
    c.snap("me", 0, ["a", "b", "c", "d", "e", "f", "g"])
    c.snap("me", 24, ["f"], reported=1)
    c.snap("peer", 0, ["z"])
    c.checks("me", c.check("a", 25, AccountState.ACTIVE, follows=False),
             c.check("b", 25, AccountState.DEACTIVATED),
             c.check("c", 12, AccountState.SUSPENDED),
             c.check("d", -5, AccountState.DELETED),
             c.check("e", 26, AccountState.ACTIVE, follows=True))  # fmt: skip
    c.checks("peer", c.check("g", 30, AccountState.SUSPENDED))
    c.checks("me", c.check("f", 40, AccountState.DELETED, exact=True))
    c.snap("me", 48, ["e"], reported=1)
    c.checks("me", c.check("f", 44, AccountState.DELETED, exact=True))
    c.checks("peer", c.check("b", 20, AccountState.ACTIVE))


@case
def email(c: Case) -> None:
    """Unsubscriptions with campaign and reason, cleaned addresses, an unsubscription
    found by a re-check (an email account's 'no longer follows')."""
    c.snap("news", 0, ["a", "b", "c", "d"], platform="email")
    c.events("news", (5, "a", EventKind.UNSUBSCRIBE), platform="email",
             campaign="c1", reason="too many")  # fmt: skip
    c.events("news", (6, "b", EventKind.CLEANED), platform="email")
    c.snap("news", 24, ["d", "e"], platform="email")
    c.checks("news", c.check("c", 30, AccountState.ACTIVE, follows=False), platform="email")


@case
def following(c: Case) -> None:
    """The account's own follows are tracked apart from its followers."""
    c.snap("me", 0, ["a", "b"], direction=Direction.FOLLOWING)
    c.snap("me", 0, ["a", "c"])
    c.snap("me", 24, ["b"], direction=Direction.FOLLOWING)
    c.snap("me", 24, ["c"])


@case
def accounts_and_platforms(c: Case) -> None:
    """Several accounts on several platforms, their audiences overlapping, imported out of
    time order (a past snapshot arriving forces the embedded engine to rebuild)."""
    for day in (2, 0, 1, 3):
        for k, (acct, platform) in enumerate((("bsky1", "bsky"), ("bsky2", "bsky"),
                                              ("masto", "mastodon"))):  # fmt: skip
            lo = 3 * day + k
            c.snap(acct, 24 * day + k, list(range(lo, lo + 8)), platform=platform)
    c.events("bsky1", (30, 5, EventKind.UNFOLLOW), platform="bsky")


def world(c: Case, seed: int) -> None:
    """A random truth, seen imperfectly (partial snapshots, missed events, a silently
    dropped member re-checked at once), imported in a shuffled order."""
    rng = random.Random(seed)
    people = list(range(10))
    initially = {p: rng.random() < 0.5 for p in people}
    toggles = {p: sorted(x + 0.25 for x in rng.sample(range(1, 200), rng.randint(0, 4)))
               for p in people}  # fmt: skip

    def on(p: int, t: float) -> bool:
        return initially[p] ^ (sum(1 for x in toggles[p] if x <= t) % 2 == 1)

    for t in sorted(rng.sample(range(200), rng.randint(1, 5))):
        members = [p for p in people if on(p, t)]
        if members and rng.random() < 0.4:
            c.snap("w", t, rng.sample(members, rng.randint(0, len(members))), complete=False)
        lost = [p for p in members if on(p, t + 0.5)]
        if lost and rng.random() < 0.4:
            gone = rng.choice(lost)
            c.snap("w", t, [p for p in members if p != gone], reported=len(members))
            c.checks("w", c.check(gone, t + 0.5, AccountState.ACTIVE, follows=True))
        else:
            c.snap("w", t, members, reported=len(members))
    seen = [(x, p, EventKind.FOLLOW if on(p, x) else EventKind.UNFOLLOW)
            for p in people for x in toggles[p] if rng.random() < 0.5]  # fmt: skip
    if seen:
        c.events("w", *seen)
    rng.shuffle(c.imports)


for _seed in range(6):
    CASES[f"world{_seed}"] = lambda c, s=_seed: world(c, s)


# --- the two engines ---------------------------------------------------------------------


def _require_java() -> None:
    """Spark needs Java: without it these tests fail, saying so (CI installs
    default-jre-headless)."""
    java = shutil.which("java")
    if java is None:
        pytest.fail("no `java` on PATH: Spark needs Java 17+ (apt install default-jre-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"`java -version` failed: {out.stderr.strip()[:300]}")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    _require_java()
    from breakup.engines.spark import session

    started = time.perf_counter()
    s = session("local[2]", shuffle_partitions=2, app="breakup-contract")
    s.sparkContext.setLogLevel("ERROR")
    print(f"spark session started in {time.perf_counter() - started:.1f} s")
    yield s
    s.stop()


@dataclass
class Run:
    store: Path
    lake: Path
    out: Path
    first_export: lake.ExportResult
    second_export: lake.ExportResult
    files_after_first: dict[str, str]
    seconds: float


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


@pytest.fixture(scope="module")
def run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from breakup.engines.spark import track

    base = tmp_path_factory.mktemp("engines")
    cases = []
    for name, build in CASES.items():
        c = Case(name)
        build(c)
        cases.append(c)
    path, lake_dir = base / "store.duckdb", base / "lake"
    with Store(path, clock=fixed_clock(NOW)) as store:
        # Half the imports of every case, a first export, the rest, a second export.
        halves = [(c.imports[: len(c.imports) // 2], c.imports[len(c.imports) // 2 :])
                  for c in cases]  # fmt: skip
        for first, _ in halves:
            for account, batch in first:
                save_batch(store, batch, account=account)
        first_export = lake.export(store, lake_dir)
        files = _digests(lake_dir)
        for _, rest in halves:
            for account, batch in rest:
                save_batch(store, batch, account=account)
        second_export = lake.export(store, lake_dir)
    started = time.perf_counter()
    track(spark, lake_dir, base / "out")
    seconds = time.perf_counter() - started
    print(f"spark tracking of {len(cases)} cases: {seconds:.1f} s")
    yield Run(path, lake_dir, base / "out", first_export, second_export, files, seconds)


SPAN_COLUMNS = (
    "direction, start_earliest, start_latest, start_exact, end_earliest, end_latest, "
    "end_exact, end_kind, end_campaign, end_reason"
)


def _embedded(store: Path, prefix: str) -> list[tuple[Any, ...]]:
    with Store(store, read_only=True) as s:
        return s.con.execute(
            f"""
            SELECT a.platform, a.name, p.external_id, {SPAN_COLUMNS}
            FROM spans JOIN accounts a USING (account_id) JOIN people p USING (person_id)
            WHERE starts_with(a.name, ?)
            """,
            [prefix],
        ).fetchall()


def _spark(run: Run, prefix: str) -> list[tuple[Any, ...]]:
    with Store(run.store, read_only=True) as s:
        s.con.register("_out", lake.read_spans(run.out))
        return s.con.execute(
            f"""
            SELECT o.platform, o.account, p.external_id, {SPAN_COLUMNS}
            FROM _out o JOIN people p ON p.person_id = o.person_id
            WHERE starts_with(o.account, ?)
            """,
            [prefix],
        ).fetchall()


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in row)


@pytest.mark.parametrize("name", list(CASES))
def test_both_engines_give_the_same_spans(run: Run, name: str) -> None:
    embedded = sorted(_embedded(run.store, f"{name}."), key=_key)
    spark = sorted(_spark(run, f"{name}."), key=_key)
    assert embedded, "the case tracks nothing"
    assert spark == embedded
    # Departures are the followers' spans that ended: the same, with their kinds.
    ended = [r for r in embedded if r[3] == "followers" and r[8] is not None]
    assert ended or name.startswith("world") or name == "following"


def test_cases_exercise_what_they_claim(run: Run) -> None:
    """The contract is not vacuous: exact and windowed endings, every kind a check can
    name, withdrawn and scoped departures, several platforms, both directions."""
    rows = _embedded(run.store, "")
    kinds = {r[10] for r in rows if r[8] is not None}
    assert {"unknown", "unfollowed", "unsubscribed", "deleted", "suspended"} <= kinds
    assert {r[0] for r in rows} >= {"t", "bsky", "mastodon", "email", "custom"}
    assert {r[3] for r in rows} == {"followers", "following"}
    assert any(r[9] for r in rows if r[8] is not None)  # exact endings
    assert any(not r[9] for r in rows if r[8] is not None)  # windowed endings
    by = {(r[1], r[2]): r for r in rows}
    assert by[("rechecks.me", "rechecks/e")][8] is None  # withdrawn: still following
    # an exact account event inside the window says when
    assert by[("rechecks.me", "rechecks/f")][7:10] == (h(40).replace(tzinfo=None),) * 2 + (True,)
    scoped_ended = {r[2] for r in rows if r[1] == "scoped.me" and r[8] is not None}
    assert scoped_ended == {"scoped/0", "scoped/70", "scoped/71"}


def test_export_is_incremental_and_never_rewrites_a_file(run: Run) -> None:
    first, second = run.first_export, run.second_export
    assert (first.export, second.export) == (1, 2)
    assert first.imports + second.imports == sum(len(b.imports) for b in _built())
    after = _digests(run.lake)
    for name, digest in run.files_after_first.items():
        assert after[name] == digest, f"{name} rewritten"
    new = set(after) - set(run.files_after_first)
    assert new and all(Path(n).name.startswith("e000002") for n in new)
    manifest = json.loads((run.lake / lake.MANIFEST).read_text())
    assert [e["export"] for e in manifest["exports"]] == [1, 2]
    # Hive layout, partitioned by platform and account.
    assert any(Path(n).parts[:3] == ("observations", "platform=email", "account=email.news")
               for n in after)  # fmt: skip


def test_an_export_with_nothing_new_writes_nothing(run: Run, tmp_path: Path) -> None:
    copy = tmp_path / "store.duckdb"
    shutil.copy(run.store, copy)
    lake_dir = tmp_path / "lake"
    shutil.copytree(run.lake, lake_dir)
    before = _digests(lake_dir)
    with Store(copy, clock=fixed_clock(NOW)) as store:
        assert lake.export(store, lake_dir).export is None
    assert _digests(lake_dir) == before


def test_files_of_an_export_that_died_are_replaced(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    c = Case("crash")
    churn(c)
    with Store(tmp_path / "s.duckdb", clock=fixed_clock(NOW)) as store:
        for account, batch in c.imports[:2]:
            save_batch(store, batch, account=account)
        assert lake.export(store, lake_dir).export == 1
        for account, batch in c.imports[2:]:
            save_batch(store, batch, account=account)
        # export 2 wrote a file, then died before its manifest
        stray = lake_dir / "events" / "platform=t" / "account=crash.me" / "e000002_9.parquet"
        stray.parent.mkdir(parents=True)
        stray.write_bytes(b"half a file")
        result = lake.export(store, lake_dir)
    assert result.export == 2 and result.rows["observations"] == 2
    assert not stray.exists()
    import duckdb

    with duckdb.connect() as con:
        n = con.execute(
            f"SELECT count(*) FROM read_parquet('{lake_dir}/observations/**/*.parquet')"
        ).fetchall()
    assert n == [(4,)]


def _built() -> list[Case]:
    out = []
    for name, build in CASES.items():
        c = Case(name)
        build(c)
        out.append(c)
    return out


def test_the_commands_export_and_track_a_store(run: Run, tmp_path: Path) -> None:
    """`breakup lake export DIR`, then `breakup batch --lake DIR` (on the module's Spark
    session, which the command leaves running), give the same departures."""
    from typer.testing import CliRunner

    from breakup.cli import app
    from breakup.cli.lake import lake_app  # noqa: F401 - registers the commands

    lake_dir = tmp_path / "lake"
    runner = CliRunner()
    result = runner.invoke(app, ["--db", str(run.store), "lake", "export", str(lake_dir)])
    assert result.exit_code == 0, result.output
    assert "export 1:" in result.output
    result = runner.invoke(app, ["--db", str(run.store), "lake", "export", str(lake_dir)])
    assert "nothing new" in result.output
    result = runner.invoke(app, ["batch", "--lake", str(lake_dir), "--json"])
    summary = json.loads(result.stdout)
    assert summary["departures"] == lake.span_counts(run.out)[2] > 0
    # and the why attribution of every own account: no posts here, so none analysed, and
    # none fails (an account with departures and no post once did).
    with Store(run.store, read_only=True) as s:
        own = len(s.accounts(role="own"))
    why = summary["why"]
    assert not why["failed"]
    assert why["accounts"] == own > 0
    assert (why["analysed"], why["posts_tested"]) == (0, 0)
    assert result.exit_code == 0, result.output
    assert lake.read_spans(lake_dir / "results").equals(lake.read_spans(run.out))
    bad = runner.invoke(app, ["batch", "--lake", str(lake_dir), "--engine", "ray"])
    assert bad.exit_code != 0


# --- the why attribution on both engines ---------------------------------------------------
#
# Own accounts of different shapes in one store, the simulator's brand among them (its peer
# account is every own account's peer, its profiles class departures): Spark tracks the
# lake, then attributes the own accounts in grouped maps. Read back from the results, the
# attribution must be the embedded engine's `attribution_only(store)`: one Holm family over
# every own account, as `breakup why` tests them; a batch run with --family account must
# give each account's `attribution_only(store, account)`.

WHY_END = datetime(2025, 6, 1, tzinfo=UTC)
EMAIL_T0 = datetime(2025, 4, 1, tzinfo=UTC)
EXACT, WINDOWED, LIST = "bsky:exact.example", "bsky:windowed.example", "email:list.example"
# A list whose c7 is named when the list is its own family (p about 0.002 < 0.05/12) but not
# among every own account's tests (0.05/237): the two families must differ here.
WEAK = "email:weak.example"
# Planted: the break-up posts each shape names (not vacuous: blame is compared).
PLANTED = {EXACT: {"p5", "p15"}, WINDOWED: {"p10"}, LIST: {"c7"}}
WHY_SINCE = datetime(2025, 3, 4, 6, tzinfo=UTC)  # cuts the exact world's first post off
WHY_UNTIL = datetime(2025, 5, 20, tzinfo=UTC)  # cuts the simulated brand's last 12 days
SIM_BSKY = "bsky:brand.bsky.social"


def _email_list(store: Store, name: str = LIST, seed: int = 9, planted: int = 40) -> None:
    """A list of 2,000 sent a campaign every 3 days; each unsubscribe names its campaign,
    about 5 per campaign and *planted* after c7."""
    import numpy as np

    from breakup.models import Post, PostKind

    rng = np.random.default_rng(seed)
    everyone = [Person(f"s{i}@{name.split(':')[-1]}") for i in range(2000)]
    people = iter(everyone)
    posts = [Post(f"c{k}", EMAIL_T0 + timedelta(days=3 * k + 1), PostKind.CAMPAIGN,
                  text=f"campaign {k}") for k in range(12)]  # fmt: skip
    events = [
        Event(next(people), EventKind.UNSUBSCRIBE,
              p.created_at + timedelta(hours=float(rng.uniform(0, 48))), campaign=p.external_id)
        for k, p in enumerate(posts) for _ in range(planted if k == 7 else int(rng.poisson(5)))
    ]  # fmt: skip
    snap = Snap.of(Direction.FOLLOWERS, EMAIL_T0, everyone)
    batch = Batch(source="test", platform="email", source_ref=f"{name}-0", snapshots=[snap],
                  posts=posts, events=events)  # fmt: skip
    save_batch(store, batch, account=name)


@dataclass
class WhyRun:
    store: Path
    lake: Path
    out: Path  # one Holm family over every own account
    alone: Path  # --family account: each account its own family
    own: list[str]
    seconds: float


@pytest.fixture(scope="module")
def why_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WhyRun]:
    from benchmarks.why_worlds import Effect, World, save_world
    from breakup.engines.spark import track, why
    from breakup.simulate import SimParams, save_simulation, simulate

    base = tmp_path_factory.mktemp("why")
    path, lake_dir, out = base / "store.duckdb", base / "lake", base / "out"
    started = time.perf_counter()
    with Store(path, clock=fixed_clock(WHY_END)) as store:
        # Exact times (unfollow events, as the stream saves them).
        planted = [Effect(5, 35, 0.25), Effect(15, 35, 0.25)]
        save_world(store, World(96, post_every_hours=3, effects=planted, seed=1), EXACT)
        lake.export(store, lake_dir)  # a first export: posts come in two increments
        # Snapshot windows: followers seen every 3 hours.
        save_world(store, World(10 * 24, followers=2000, rate_per_hour=0.5, post_every_hours=12,
                                effects=[Effect(10, 60, 0.5)], snapshot_hours=3.0, seed=2),
                   WINDOWED)  # fmt: skip
        _email_list(store)
        _email_list(store, WEAK, seed=11, planted=15)
        # The simulated brand: Bluesky, weekly Mastodon snapshots, an email list, profiles,
        # a peer.
        weeks = {f"{k}_batch_days": 14 for k in ("bsky", "mastodon", "email", "peer")}
        save_simulation(store, simulate(SimParams(
            seed=3, end=WHY_END, days=42, bsky_followers=800, mastodon_followers=300,
            email_subscribers=600, peers=1, peer_followers=300, **weeks)))  # fmt: skip
        lake.export(store, lake_dir)
        own = [a.name for a in store.accounts(role="own")]
    print(f"why worlds saved in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    track(spark, lake_dir, out)
    why(spark, lake_dir, out)
    seconds = time.perf_counter() - started
    print(f"spark tracking and why (one family) of {len(own)} own accounts: {seconds:.1f} s")
    started = time.perf_counter()
    alone = base / "alone"
    shutil.copytree(out / "spans", alone / "spans")
    why(spark, lake_dir, alone, family="account")
    print(f"spark why (a family per account): {time.perf_counter() - started:.1f} s")
    yield WhyRun(path, lake_dir, out, alone, own, seconds)


def _close(got: Any, want: Any, where: str = "") -> list[str]:
    """Where *got* and *want* differ: floats beyond 1e-6 relative, anything else at all."""
    import dataclasses
    import math

    if dataclasses.is_dataclass(want) and not isinstance(want, type):
        if type(got) is not type(want):
            return [f"{where}: {type(got).__name__} != {type(want).__name__}"]
        return [d for f in dataclasses.fields(want)
                for d in _close(getattr(got, f.name), getattr(want, f.name),
                                f"{where}.{f.name}")]  # fmt: skip
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where}: {len(got)} items != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True))
                for d in _close(g, w, f"{where}[{i}]")]  # fmt: skip
    if isinstance(want, float) and isinstance(got, float):
        if got == want or (math.isnan(got) and math.isnan(want)):
            return []
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12):
            return []
    elif got == want:
        return []
    return [f"{where}: {got!r} != {want!r}"]


def _embedded_why(run: WhyRun, account: str | None = None, **kw: Any) -> Any:
    from breakup.why.report import attribution_only

    with Store(run.store, read_only=True) as store:
        return attribution_only(store, account, **kw)


@pytest.fixture(scope="module")
def embedded_all(why_run: WhyRun) -> Any:
    """`breakup why`'s attribution: every own account, one Holm family."""
    return _embedded_why(why_run)


def _blamed(att: Any, account: str | None = None) -> set[tuple[str, str]]:
    return {(p.account, p.post) for p in att.break_up_posts if account in (None, p.account)}


def test_both_engines_give_the_same_attribution(why_run: WhyRun, embedded_all: Any) -> None:
    """The batch's attribution is `breakup why`'s: one Holm family over every own account
    (its tests, steps, Holm p, q-values and the posts' order are the family's)."""
    from breakup.engines.results import read_why, why_family

    want = embedded_all
    got = read_why(why_run.out)
    assert why_family(why_run.out) == "all"
    assert [a.account for a in want.accounts] == sorted(why_run.own)
    assert all(a.status == "ok" for a in want.accounts) and want.posts
    assert _blamed(got) == _blamed(want)
    for account, posts in PLANTED.items():
        assert {(account, p) for p in posts} <= _blamed(want)
    assert want.tests == sum(a.tests for a in (_embedded_why(why_run, n) for n in why_run.own))
    assert _close(got, want, "all") == []


def test_the_family_of_every_account_is_not_that_of_each(why_run: WhyRun,
                                                         embedded_all: Any) -> None:  # fmt: skip
    """Not vacuous: WEAK's c7 is a break-up post in its own family (12 tests), not in the
    family of every own account (237), on both engines; and each engine's per-account
    attribution is `breakup why --account NAME`'s."""
    from breakup.engines.results import read_why

    alone = _embedded_why(why_run, WEAK)
    assert _blamed(alone) == {(WEAK, "c7")} and alone.tests == 12
    assert not _blamed(embedded_all, WEAK) and embedded_all.tests == 237
    c7 = next(p for p in embedded_all.posts if p.post == "c7" and p.account == WEAK)
    assert 0.05 / 237 < c7.p_value < 0.05 / 12
    assert not _blamed(read_why(why_run.out, WEAK))
    assert _blamed(read_why(why_run.alone, WEAK)) == {(WEAK, "c7")}
    assert _close(read_why(why_run.alone, WEAK), alone, WEAK) == []


@pytest.mark.parametrize("account", [EXACT, WINDOWED, LIST, SIM_BSKY,
                                     "mastodon:@brand@mastodon.example",
                                     "email:news@brand.example"])  # fmt: skip
def test_a_family_per_account_on_both_engines(why_run: WhyRun, account: str) -> None:
    """batch --family account: each account's attribution is `breakup why --account`'s."""
    from breakup.engines.results import read_why

    want = _embedded_why(why_run, account)
    got = read_why(why_run.alone, account)
    assert want.accounts and want.accounts[0].status == "ok" and want.posts
    assert _blamed(got) == _blamed(want)
    assert {(account, p) for p in PLANTED.get(account, set())} <= _blamed(want)
    assert _close(got, want, account) == []


def test_every_own_account_is_attributed_and_the_shapes_are_covered(
    why_run: WhyRun, embedded_all: Any
) -> None:
    from breakup.engines.results import read_all_why, read_why, why_counts

    found = read_all_why(why_run.out)
    assert sorted(found) == sorted(why_run.own)
    accounts = {a.account: a for att in found.values() for a in att.accounts}
    assert accounts[EXACT].exact_share == 1.0 and accounts[EXACT].bin_minutes < 60
    assert accounts[WINDOWED].resolution_hours == 3.0 and accounts[WINDOWED].exact_share == 0
    assert accounts["mastodon:@brand@mastodon.example"].resolution_hours >= 24
    assert {a.mode for a in accounts.values()} == {"timeline", "campaign"}
    posts = [p for att in found.values() for p in att.posts]
    assert any(p.peers_rate_ratio is not None for p in posts)  # the peer was compared
    assert any(p.window_end is None for p in posts)  # campaigns have no window end
    # Each account's share is its part of the one family.
    for name, att in found.items():
        assert att.tests == embedded_all.tests
        assert _close(att.posts, [p for p in embedded_all.posts if p.account == name]) == []
    # What `breakup why` shows is this very attribution.
    from breakup.why import analyze

    with Store(why_run.store, read_only=True) as store:
        report = analyze(store, cox_sample=0)
    assert _close(read_why(why_run.out), report.attribution, "analyze") == []
    n, analysed, tested, named = why_counts(why_run.out)
    assert (n, analysed, tested) == (len(why_run.own), len(why_run.own), len(posts))
    assert named == len(embedded_all.break_up_posts) >= 4


def test_since_and_until_on_both_engines(spark: Any, why_run: WhyRun, tmp_path: Path) -> None:
    """--since limits the posts tested; --until sees the store as it stood then."""
    from breakup.engines.results import read_why
    from breakup.engines.spark import why

    out = tmp_path / "out"
    shutil.copytree(why_run.out / "spans", out / "spans")
    why(spark, why_run.lake, out, since=WHY_SINCE, until=WHY_UNTIL)
    want = _embedded_why(why_run, since=WHY_SINCE, until=WHY_UNTIL)
    got = read_why(out)
    assert _blamed(got) == _blamed(want) and _close(got, want, "since-until") == []
    assert "p5" not in {p.post for p in read_why(out, EXACT).posts}
    last = max(p.created_at for p in read_why(out, SIM_BSKY).posts)
    assert last <= WHY_UNTIL < max(p.created_at for p in read_why(why_run.out, SIM_BSKY).posts)


def test_an_older_lake_gets_the_posts_of_every_import(spark: Any, why_run: WhyRun,
                                                      tmp_path: Path) -> None:  # fmt: skip
    """A version 1 lake (no posts, no profiles) gets both, for every import, at the next
    export, though no import is new; until then the batch's why says to export."""
    import duckdb

    from breakup.engines.spark import why
    from breakup.errors import BreakupError

    copy, lake_dir = tmp_path / "store.duckdb", tmp_path / "lake"
    shutil.copy(why_run.store, copy)
    shutil.copytree(why_run.lake, lake_dir)
    for table in ("posts", "profiles"):
        shutil.rmtree(lake_dir / table)
    manifest = json.loads((lake_dir / lake.MANIFEST).read_text())
    manifest["version"] = 1
    del manifest["tables"]
    (lake_dir / lake.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BreakupError, match="older lake, without posts and profiles"):
        why(spark, lake_dir, why_run.out)
    with Store(copy, clock=fixed_clock(WHY_END)) as store:
        result = lake.export(store, lake_dir)
        posts, profiles = (int(store.scalar(f"SELECT count(*) FROM {t}"))
                           for t in ("posts", "profiles"))  # fmt: skip
    assert result.export == 3 and result.imports == 0
    assert (result.rows["posts"], result.rows["profiles"]) == (posts, profiles)
    assert result.rows["observations"] == 0
    assert json.loads((lake_dir / lake.MANIFEST).read_text())["version"] == lake.LAKE_VERSION
    with duckdb.connect() as con:
        (n,) = con.execute(
            f"SELECT count(*) FROM read_parquet('{lake_dir}/posts/**/*.parquet')"
        ).fetchone()  # type: ignore[misc]
    assert n == posts > 0
    with Store(copy, clock=fixed_clock(WHY_END)) as store:
        assert lake.export(store, lake_dir).export is None


def test_lake_why_reads_the_attribution_back(why_run: WhyRun, embedded_all: Any) -> None:
    """`breakup lake why DIR` shows what the batch found; --json gives every figure, as
    `breakup why --json` gives them under attribution."""
    from typer.testing import CliRunner

    from breakup.cli import app
    from breakup.cli.lake import lake_app  # noqa: F401 - registers the commands
    from breakup.serialize import to_jsonable

    runner = CliRunner()
    result = runner.invoke(app, ["lake", "why", str(why_run.out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tests"] == embedded_all.tests
    assert [p["post"] for p in data["posts"]] == [p.post for p in embedded_all.posts]
    want = json.loads(json.dumps(to_jsonable(embedded_all)))
    for got_post, want_post in zip(data["posts"], want["posts"], strict=True):
        assert {k: v for k, v in got_post.items() if not isinstance(v, float)} == {
            k: v for k, v in want_post.items() if not isinstance(v, float)
        }
        assert [v for v in got_post.values() if isinstance(v, float)] == pytest.approx(
            [v for v in want_post.values() if isinstance(v, float)], rel=1e-6
        )
    result = runner.invoke(app, ["lake", "why", str(why_run.out), "--account", "exact",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {a["account"] for a in data["accounts"]} == {EXACT}
    assert {p["post"] for p in data["posts"] if p["break_up"]} == PLANTED[EXACT]
    result = runner.invoke(app, ["lake", "why", str(why_run.alone), "--account", "weak",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.output)) == [WEAK]
    result = runner.invoke(app, ["lake", "why", str(why_run.out), "-n", "3"])
    assert result.exit_code == 0, result.output
    assert EXACT in result.output and "break-up post(s)" in result.output
    assert runner.invoke(app, ["lake", "why", str(why_run.out), "--account", "nope"]).exit_code


def test_a_cluster_master_changes_nothing_else() -> None:
    """Locally the driver listens on loopback only; given a cluster's master, breakup
    binds nothing to loopback and leaves partitions to the cluster's defaults."""
    from breakup.engines.spark import conf, is_local

    local = conf("local[2]")
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    assert local["spark.sql.shuffle.partitions"] == "4"
    for master in ("spark://head:7077", "yarn", "k8s://https://api:6443"):
        assert not is_local(master)
        cluster = conf(master)
        assert not any("127.0.0.1" in v for v in cluster.values())
        assert "spark.sql.shuffle.partitions" not in cluster
        assert cluster["spark.sql.session.timeZone"] == "UTC"
    assert is_local("local") and is_local("local[*]")
