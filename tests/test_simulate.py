"""The demo simulator: deterministic, and the real pipeline recovers what it planted."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakup.clock import fixed_clock
from breakup.errors import InvalidInput
from breakup.ingest import email_hasher
from breakup.simulate import (
    AccountTruth,
    SimParams,
    Simulation,
    TrueSpan,
    Truth,
    save_simulation,
    simulate,
)
from breakup.simulate.save import load_truth
from breakup.store import Store

from . import simkit

END = datetime(2025, 6, 1, tzinfo=UTC)
SMALL = SimParams(
    seed=11,
    end=END,
    days=91,
    bsky_followers=600,
    mastodon_followers=300,
    email_subscribers=400,
    peers=1,  # saved with role="peer" even outside the marketplace scenario
    peer_followers=300,
    bsky_batch_days=3,  # several syncs a week; each snapshot and event keeps its own time
)
WEEK = timedelta(days=7)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def saved(sim: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with simkit.saved(sim, tmp_path_factory.mktemp("sim") / "s.duckdb") as store:
        yield store


def stored_spans(store: Store, sim: Simulation, name: str) -> dict[str, list[dict[str, Any]]]:
    """Store spans of one account, by the external id the simulator used."""
    acct = store.account(name)
    rows = store.con.execute(
        """
        SELECT p.external_id, s.start_earliest, s.start_latest, s.end_earliest, s.end_latest,
               s.end_exact, s.end_kind
        FROM spans s JOIN people p USING (person_id)
        WHERE s.account_id = ? AND s.direction = 'followers'
        ORDER BY s.start_latest
        """,
        [acct.account_id],
    ).fetchall()
    ours = {a.name: a for a in sim.truth.accounts.values()}[name]
    back: dict[str, str] = {}
    if ours.platform == "email":
        hash_email = email_hasher(store)
        back = {hash_email(s.person): s.person for s in ours.spans}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keys = ("start_earliest", "start_latest", "end_earliest", "end_latest", "exact", "kind")
    for ext, *values in rows:
        row = dict(zip(keys, (_utc(v) for v in values), strict=True))
        out[back.get(ext, ext)].append(row)
    return out


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def observable(truth: Truth, acct: AccountTruth, span: TrueSpan) -> bool:
    """Whether a real user could have seen this span at all.

    Email and Mastodon report every arrival as an event; Bluesky's firehose does too,
    except during an outage. Otherwise only a snapshot taken while the span was open shows it.
    """
    assert span.end is not None
    if acct.platform in ("email", "mastodon"):
        return True
    outages = [(w.start, w.end) for w in acct.firehose_outages]
    if acct.role == "own" and not any(a <= span.start < b for a, b in outages):
        return True
    assert acct.snapshot_every_hours is not None
    every = timedelta(hours=acct.snapshot_every_hours)
    k = max(0, -((truth.start - span.start) // every))  # first snapshot at or after start
    return truth.start + k * every < span.end


def test_same_seed_same_simulation(sim: Simulation) -> None:
    again = simulate(SMALL)
    assert again.truth == sim.truth
    assert again.truth.to_json() == sim.truth.to_json()
    assert again.batches.keys() == sim.batches.keys()
    for name, batches in sim.batches.items():
        assert again.batches[name] == batches, name
    other = simulate(replace(SMALL, seed=12))
    assert other.truth.to_json() != sim.truth.to_json()


def test_truth_round_trips_through_json(sim: Simulation) -> None:
    assert Truth.from_json(sim.truth.to_json()) == sim.truth


def test_batches_are_in_time_order_with_unique_refs(sim: Simulation) -> None:
    refs = [b.source_ref for batches in sim.batches.values() for b in batches]
    assert len(refs) == len(set(refs))
    for batches in sim.batches.values():
        last = None
        for b in batches:
            times = [s.observed_at for s in b.snapshots] + [e.at for e in b.events]
            if not times:
                continue
            if last is not None:
                # Tracking replays from scratch when something older than what it has
                # arrives; the simulator must never cause that.
                assert min(times) > last
            last = max(times)
            assert b.source == "demo" and b.observed_at is not None and last <= b.observed_at


def test_every_departure_is_tracked_in_its_window(sim: Simulation, saved: Store) -> None:
    checked = Counter[str]()
    for name, truth in sim.truth.accounts.items():
        stored = stored_spans(saved, sim, name)
        outages = [(w.start, w.end) for w in truth.firehose_outages]
        expected = 0
        for span in truth.departures():
            assert span.end is not None
            if not observable(sim.truth, truth, span):
                continue  # came and went unseen (firehose down, or between two snapshots)
            expected += 1
            hits = [
                s
                for s in stored.get(span.person, [])
                if s["end_latest"] is not None and s["end_earliest"] <= span.end <= s["end_latest"]
            ]
            assert len(hits) == 1, (name, span)
            hit = hits[0]
            exact = truth.platform == "email" or (
                truth.platform == "bsky"
                and truth.role == "own"
                and span.end_kind == "unfollowed"
                and not any(a <= span.end < b for a, b in outages)
            )
            if exact:
                assert hit["exact"] and hit["end_latest"] == span.end, (name, span, hit)
            elif truth.platform == "mastodon":
                assert hit["end_latest"] - hit["end_earliest"] <= WEEK
            else:
                assert hit["end_latest"] - hit["end_earliest"] <= timedelta(days=2)
            checked[truth.key] += 1
        # ... and nothing else: no departure the truth does not have.
        closed = sum(1 for rows in stored.values() for s in rows if s["end_latest"] is not None)
        assert closed == expected, name
    assert checked["bsky"] > 20 and checked["mastodon"] > 10 and checked["email"] > 10


def test_ending_kinds_match_the_truth(sim: Simulation, saved: Store) -> None:
    kinds = Counter[tuple[str, str]]()
    for name, truth in sim.truth.accounts.items():
        stored = stored_spans(saved, sim, name)
        for span in truth.departures():
            assert span.end is not None
            for s in stored.get(span.person, []):
                if s["end_latest"] is None or not s["end_earliest"] <= span.end <= s["end_latest"]:
                    continue
                if s["kind"] == "unknown":
                    # Only allowed while the re-check a day after it was seen is still due.
                    assert s["end_latest"] + timedelta(days=1, hours=3) > sim.truth.end, (
                        name,
                        span,
                    )
                    continue
                assert s["kind"] == span.end_kind, (name, span, s)
                kinds[(truth.platform, s["kind"])] += 1
    assert kinds[("bsky", "unfollowed")] and kinds[("mastodon", "unfollowed")]
    assert kinds[("email", "unsubscribed")] and kinds[("email", "deleted")]
    assert kinds[("bsky", "deleted")] + kinds[("bsky", "suspended")] > 0
    assert kinds[("mastodon", "deleted")] + kinds[("mastodon", "suspended")] > 0


def test_open_spans_and_start_windows(sim: Simulation, saved: Store) -> None:
    for name, truth in sim.truth.accounts.items():
        stored = stored_spans(saved, sim, name)
        for span in truth.spans:
            if span.end is not None:
                continue
            rows = [s for s in stored.get(span.person, []) if s["end_latest"] is None]
            assert len(rows) == 1, (name, span)
            row = rows[0]
            assert span.start <= row["start_latest"]
            assert row["start_earliest"] is None or row["start_earliest"] <= span.start


def test_partial_snapshot_produces_no_departures(sim: Simulation, saved: Store) -> None:
    bsky = sim.truth.accounts["bsky:brand.bsky.social"]
    (partial,) = bsky.partial_snapshots
    acct = saved.account(bsky.name)
    row = saved.con.execute(
        "SELECT complete, diffable, member_count, reported_count FROM observations "
        "WHERE account_id = ? AND observed_at = ? AND direction = 'followers'",
        [acct.account_id, partial.replace(tzinfo=None)],
    ).fetchall()
    assert len(row) == 1
    complete, diffable, members, reported = row[0]
    assert not complete and not diffable and members < 0.8 * reported
    ended_there = saved.scalar(
        "SELECT count(*) FROM spans WHERE account_id = ? AND end_latest = ?",
        [acct.account_id, partial.replace(tzinfo=None)],
    )
    assert ended_there == 0


def test_refollows_give_two_spans(sim: Simulation, saved: Store) -> None:
    seen = 0
    for name, truth in sim.truth.accounts.items():
        stored = stored_spans(saved, sim, name)
        per_person = Counter(s.person for s in truth.spans)
        for person, n in per_person.items():
            if n > 1:
                assert len(stored[person]) == n, (name, person)
                seen += 1
    assert seen >= 1


def test_name_changes_are_kept(sim: Simulation, saved: Store) -> None:
    assert any(c.field == "handle" for c in sim.truth.name_changes)
    assert any(c.field == "display_name" for c in sim.truth.name_changes)
    for change in sim.truth.name_changes:
        column = change.field
        rows = saved.con.execute(
            f"SELECT {column}, seen_at FROM person_names JOIN people USING (person_id) "
            "WHERE external_id = ? ORDER BY seen_at",
            [change.person],
        ).fetchall()
        values = [r[0] for r in rows]
        assert change.old in values and change.new in values, change
        first_new = min(_utc(r[1]) for r in rows if r[0] == change.new)
        assert first_new >= change.at


def test_truth_is_stored(sim: Simulation, saved: Store) -> None:
    assert load_truth(saved) == sim.truth
    params = json.loads(saved.scalar("SELECT params::VARCHAR FROM simulations"))
    assert params["seed"] == SMALL.seed and params["scenario"] == "internal"
    before = saved.scalar("SELECT count(*) FROM imports")
    save_simulation(saved, sim)  # saving again is a no-op
    assert saved.scalar("SELECT count(*) FROM imports") == before
    assert saved.scalar("SELECT count(*) FROM simulations") == 1
    with pytest.raises(InvalidInput, match="fresh store"):
        save_simulation(saved, simulate(replace(SMALL, seed=99, days=30)))
    assert saved.scalar("SELECT count(*) FROM imports") == before


def test_email_unsubscribes_name_their_campaign(sim: Simulation, saved: Store) -> None:
    rows = saved.con.execute(
        "SELECT e.campaign, p.external_id IS NOT NULL FROM events e "
        "LEFT JOIN posts p ON p.account_id = e.account_id AND p.external_id = e.campaign "
        "WHERE e.kind IN ('unsubscribe', 'cleaned')"
    ).fetchall()
    assert rows and all(campaign and known for campaign, known in rows)


def _window_ratio(truth: Truth, name: str, hours: float = 48.0) -> float:
    """Departure rate right after break-up posts over the rate elsewhere (truth only)."""
    acct = truth.accounts[name]
    posts = [p.at for p in truth.break_up_posts if p.account == name]
    ends = [s.end for s in acct.departures() if s.end_kind in ("unfollowed", "unsubscribed")]
    window = timedelta(hours=hours)
    inside = sum(1 for e in ends if e and any(p <= e < p + window for p in posts))
    total_h = (truth.end - truth.start).total_seconds() / 3600
    in_h = hours * len(posts)
    return (inside / in_h) / ((len(ends) - inside) / (total_h - in_h))


def test_internal_scenario_plants_break_up_posts(sim: Simulation) -> None:
    truth = sim.truth
    assert truth.scenario == "internal"
    names = {p.account for p in truth.break_up_posts}
    assert names == {a.name for a in truth.accounts.values() if a.role == "own"}
    assert all(3.0 <= p.multiplier <= 7.0 for p in truth.break_up_posts)
    assert _window_ratio(truth, "bsky:brand.bsky.social") > 2.0
    causes = {c.name for c in truth.causes}
    assert {"break_up_posts", "too_frequent", "monologue", "one_time_offer"} <= causes
    assert truth.promotions and all(p.leave_fast for p in truth.promotions)
    assert truth.top_fans and truth.at_risk_fans


def test_none_scenario_plants_nothing() -> None:
    truth = simulate(replace(SMALL, scenario="none")).truth
    assert truth.break_up_posts == [] and truth.causes == [] and truth.effects == []
    assert truth.market_windows == [] and truth.bot_purges == []
    assert not any(p.leave_fast for p in truth.promotions)
    for acct in truth.accounts.values():
        assert acct.cadence_slope == 0.0 and acct.reply_multiplier == 1.0
        assert all(
            s.cause in ("baseline", "account_deleted", "account_suspended")
            for s in acct.departures()
        ), acct.name


def test_switches_turn_effects_off() -> None:
    truth = simulate(replace(SMALL, break_up_posts=False, too_frequent=False)).truth
    assert truth.break_up_posts == []
    assert "break_up_posts" not in truth.effects and "too_frequent" not in truth.effects
    assert "one_time_offer" in truth.effects


def test_marketplace_scenario_has_peers_losing_in_the_same_windows() -> None:
    sim = simulate(replace(SMALL, scenario="marketplace", peers=2, peer_followers=1000))
    peers = [a for a in sim.truth.accounts.values() if a.role == "peer"]
    assert len(peers) == 2 and all(sim.batches[p.name] for p in peers)
    assert sim.truth.market_windows and sim.truth.break_up_posts == []
    for acct in [*peers, sim.truth.accounts["bsky:brand.bsky.social"]]:
        causes = Counter(s.cause for s in acct.departures())
        assert causes["marketplace"] > 0, acct.name


def test_users_scenario_losses_are_accounts_going_away() -> None:
    truth = simulate(replace(SMALL, scenario="users")).truth
    assert truth.bot_purges and truth.break_up_posts == []
    bsky = truth.accounts["bsky:brand.bsky.social"]
    gone = Counter(s.end_kind for s in bsky.departures())
    internal = simulate(SMALL).truth.accounts["bsky:brand.bsky.social"]
    before = Counter(s.end_kind for s in internal.departures())
    assert gone["suspended"] + gone["deleted"] > 2 * (before["suspended"] + before["deleted"])
    users = set(bsky.bot_like) | set(bsky.inactive)
    removed = [s for s in bsky.departures() if s.end_kind in ("deleted", "suspended")]
    assert sum(s.person in users for s in removed) > 0.7 * len(removed)


def test_fans_engage_and_at_risk_fans_fade() -> None:
    big = simulate(
        replace(
            SMALL,
            days=240,
            bsky_followers=3000,
            mastodon_followers=60,
            email_subscribers=60,
            peers=0,
        )
    )
    name = "bsky:brand.bsky.social"
    seen: dict[str, list[datetime]] = defaultdict(list)
    for batch in big.batches[name]:
        for i in batch.interactions:
            seen[i.person.external_id].append(i.at)
    top = [f.person for f in big.truth.top_fans if f.account == name]
    counts = sorted(len(v) for v in seen.values())
    median = counts[len(counts) // 2]
    assert top and all(len(seen[p]) > 5 * max(median, 1) for p in top)
    first_third = last_third = 0
    leavers = [f for f in big.truth.at_risk_fans if f.account == name and f.left_at]
    for fan in leavers:
        assert fan.decline_start is not None and fan.left_at is not None
        third = (fan.left_at - fan.decline_start) / 3
        first_third += sum(
            fan.decline_start <= t < fan.decline_start + third for t in seen[fan.person]
        )
        last_third += sum(fan.left_at - third <= t < fan.left_at for t in seen[fan.person])
        assert not any(t >= fan.left_at for t in seen[fan.person])
    assert len(leavers) >= 4 and last_third * 2 < first_third, (first_third, last_third)


def test_bad_params_are_refused() -> None:
    with pytest.raises(InvalidInput):
        SimParams(scenario="aliens")
    with pytest.raises(InvalidInput):
        SimParams(days=3)


def test_save_reports_accounts_and_progress(tmp_path: Path) -> None:
    from rich.console import Console
    from rich.progress import Progress

    small = simulate(
        replace(
            SMALL,
            days=35,
            bsky_followers=60,
            mastodon_followers=40,
            email_subscribers=50,
            bsky_batch_days=7,
            peers=0,
        )
    )
    with Store(tmp_path / "s.duckdb", clock=fixed_clock(END)) as store:
        progress = Progress(console=Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
        with progress:
            names = save_simulation(store, small, progress)
        task = progress.tasks[0]
        assert task.completed == task.total == sum(len(b) for b in small.batches.values())
        assert names == {
            "bsky": "bsky:brand.bsky.social",
            "mastodon": "mastodon:@brand@mastodon.example",
            "email": "email:news@brand.example",
        }
        assert {a.name for a in store.accounts()} == set(names.values())
