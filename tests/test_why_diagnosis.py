"""The diagnosis answers every survey cause for every account: found, no sign of it, or
not tested and why — never silently left out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.why_worlds import T0, Effect, World, save_world
from breakup.cli import app
from breakup.clock import fixed_clock
from breakup.store import Store
from breakup.why import CauseTest, analyze
from breakup.why.diagnosis import CAUSES_TESTED

WORLD = World(10 * 24, post_every_hours=4, effects=[Effect(30, 40, 0.5)], seed=1)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("diagnosis") / "s.duckdb"
    with Store(path, clock=fixed_clock(T0 + timedelta(hours=WORLD.hours + 1))) as store:
        save_world(store, WORLD)
        # Every third post sells something, every fourth asks the reader to act, and none
        # of it changes who leaves: the self-promotion test must say "no sign of it".
        store.con.execute(
            """UPDATE posts SET text = CASE
                   WHEN CAST(regexp_extract(external_id, '\\d+') AS INT) % 3 = 0
                       THEN 'Big sale on mugs today, 20% off ' || external_id
                   WHEN CAST(regexp_extract(external_id, '\\d+') AS INT) % 4 = 0
                       THEN 'Sign up for the tasting night ' || external_id
                   ELSE 'Morning light over the roastery ' || external_id END"""
        )
    return path


def _tests(db: Path) -> list[CauseTest]:
    with Store(db, clock=fixed_clock(T0 + timedelta(hours=WORLD.hours + 1))) as store:
        return analyze(store).diagnosis.tests


def test_every_cause_is_answered_for_every_account(db: Path) -> None:
    tests = _tests(db)
    assert [(t.account, t.cause) for t in tests] == [
        ("bsky:brand.example", c) for c in CAUSES_TESTED
    ]
    assert {"too_frequent", "boring", "needy", "repetitive", "monologue"} <= set(CAUSES_TESTED)
    for t in tests:
        assert t.outcome in ("found", "no_sign", "not_tested"), t
        assert t.label and t.statement and "_" not in t.label, t
        if t.outcome == "no_sign":
            assert t.statement.startswith("no sign of it ("), t
        if t.outcome == "not_tested":
            assert t.statement.startswith("not tested: "), t
        if t.outcome != "not_tested":
            assert t.estimate is not None and t.ci_low is not None and t.ci_high is not None
            assert t.ci_low <= t.estimate <= t.ci_high, t


def test_self_promotion_with_no_effect_says_no_sign(db: Path) -> None:
    by = {t.cause: t for t in _tests(db)}
    needy = by["needy"]
    assert needy.outcome == "no_sign", needy
    assert needy.label == "too much self-promotion"
    assert "sell" in needy.statement and needy.posts_tested >= 20
    assert needy.ci_low is not None and needy.ci_low <= 1.0
    # Boring content was looked at too, and says what it could or could not tell.
    assert by["boring"].outcome in ("no_sign", "not_tested")
    assert by["monologue"].outcome in ("no_sign", "not_tested")


def test_why_json_carries_the_tests(db: Path) -> None:
    out = CliRunner().invoke(app, ["--db", str(db), "why", "--json"])
    assert out.exit_code == 0, out.output
    diag = json.loads(out.output)["diagnosis"]
    assert {"findings", "frequency", "content", "dialogue", "offers", "tests"} <= set(diag)
    first = diag["tests"][0]
    assert {"account", "cause", "label", "outcome", "statement", "estimate", "ci_low",
            "ci_high", "p_value", "posts_tested"} <= set(first)  # fmt: skip
