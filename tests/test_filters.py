"""One Filters (account, channel, since, until) narrows every query the same way: who left,
the counts, status and the report's queries (issue 17)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from breakup.filters import Filters
from breakup.ingest import save_batch
from breakup.left import Departure, left_summary, who_left
from breakup.models import Batch, Event, EventKind, Person, Post
from breakup.report.queries import (
    followers_series,
    posts_with_departures,
    recent_departures,
    select_accounts,
)
from breakup.status import account_status
from breakup.store import Store
from tests.conftest import NOW

D0 = NOW - timedelta(days=60)
UNTIL = D0 + timedelta(days=30)


@pytest.fixture
def two_channels(store: Store) -> Store:
    """An x and a bsky account, four followers each since D0. On both, p1 leaves on day
    10 and p2 on day 40; on x, p3 also leaves on day 20. A post on days 5 and 35."""
    for platform, extra in (("x", True), ("bsky", False)):
        people = [Person(f"{platform}-p{i}", handle=f"{platform}{i}") for i in range(1, 5)]
        events = [Event(p, EventKind.FOLLOW, D0) for p in people]
        events += [
            Event(people[0], EventKind.UNFOLLOW, D0 + timedelta(days=10)),
            Event(people[1], EventKind.UNFOLLOW, D0 + timedelta(days=40)),
        ]
        if extra:
            events.append(Event(people[2], EventKind.UNFOLLOW, D0 + timedelta(days=20)))
        posts = [
            Post(f"{platform}-early", D0 + timedelta(days=5), text="early"),
            Post(f"{platform}-late", D0 + timedelta(days=35), text="late"),
        ]
        batch = Batch(
            source="t", platform=platform, source_ref=platform, events=events, posts=posts
        )
        save_batch(store, batch, account=f"brand-{platform}")
    return store


def _who(rows: list[Departure]) -> set[str]:
    return {d.external_id for d in rows}


def test_who_left_takes_filters_and_the_keywords_still_work(two_channels: Store) -> None:
    s = two_channels
    assert _who(who_left(s)) == {"x-p1", "x-p2", "x-p3", "bsky-p1", "bsky-p2"}
    assert _who(who_left(s, Filters(channel="x"))) == {"x-p1", "x-p2", "x-p3"}
    assert _who(who_left(s, Filters(channel=" BSKY"))) == {"bsky-p1", "bsky-p2"}
    assert _who(who_left(s, Filters(until=UNTIL))) == {"x-p1", "x-p3", "bsky-p1"}
    since = D0 + timedelta(days=15)
    assert _who(who_left(s, Filters(since=since, until=UNTIL))) == {"x-p3"}
    assert _who(who_left(s, Filters(account="brand-bsky", until=UNTIL))) == {"bsky-p1"}
    # the keyword arguments: the same rows, and a keyword sets its field of the filters
    assert who_left(s, channel="x", until=UNTIL) == who_left(s, Filters("brand-x", until=UNTIL))
    assert _who(who_left(s, Filters(channel="x"), until=UNTIL)) == {"x-p1", "x-p3"}
    assert len(who_left(s, Filters(channel="x"), limit=1)) == 1


def test_left_summary_counts_what_who_left_lists(two_channels: Store) -> None:
    s = two_channels
    for f in (Filters(), Filters(channel="x"), Filters(until=UNTIL), Filters("brand-bsky")):
        assert left_summary(s, f).total == len(who_left(s, f))
    assert left_summary(s, channel="x", until=UNTIL).total == 2


def test_status_honours_channel_and_until(two_channels: Store) -> None:
    s = two_channels
    now = {r.account: r for r in account_status(s)}
    assert now["brand-x"].followers == 1 and now["brand-bsky"].followers == 2
    assert [r.account for r in account_status(s, Filters(channel="bsky"))] == ["brand-bsky"]
    then = {r.account: r for r in account_status(s, Filters(until=UNTIL))}
    assert then["brand-x"].followers == 2 and then["brand-bsky"].followers == 3
    # the periods end at until: the 30 days before it hold p1 (and p3 on x), not p2
    by_name = {p.name: p for p in then["brand-x"].periods}
    assert by_name["30d"].lost == 2 and by_name["30d"].since == UNTIL - timedelta(days=30)
    assert by_name["7d"].lost == 0
    assert sum(lost for _, _, lost in then["brand-x"].weekly) == 2
    # since cuts the periods: only what left from it on
    cut = account_status(s, Filters(account="brand-x", since=D0 + timedelta(days=15)))
    assert {p.name: p.lost for p in cut[0].periods}["365d"] == 2  # p3 and p2, not p1
    # last observation: what had been seen by then
    last = then["brand-x"].last_observation
    assert last is not None and last <= UNTIL


def test_report_queries_honour_channel_and_until(two_channels: Store) -> None:
    s = two_channels
    f = Filters(channel="x", until=UNTIL)
    accounts = select_accounts(s, f)
    assert [a.name for a in accounts] == ["brand-x"]
    rows, total = recent_departures(s, accounts, f)
    assert _who(rows) == {"x-p1", "x-p3"} and total == 2 == left_summary(s, f).total
    all_rows, all_total = recent_departures(s, select_accounts(s, Filters()), Filters())
    assert all_total == 5 == len(all_rows)
    posts = {p.external_id: p.left_after for p in posts_with_departures(s, accounts, f)}
    assert posts == {"x-early": 2}  # the late post is after until; p2 left after it too
    # a departure after until does not count against a post before it (p3, day 20)
    early = posts_with_departures(s, accounts, Filters(until=D0 + timedelta(days=15)))
    assert {p.external_id: p.left_after for p in early} == {"x-early": 1}
    unfiltered = posts_with_departures(s, accounts, Filters(channel="x"))
    assert {p.external_id: p.left_after for p in unfiltered} == {"x-early": 2, "x-late": 1}
    series = followers_series(s, accounts, f, UNTIL.date())
    assert [x.account for x in series] == ["brand-x"]
    assert max(p.day for p in series[0].points) <= UNTIL.date()
