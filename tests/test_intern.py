"""Person interning against a plain-Python model: known ids keep their person, new ones are
numbered in order of first appearance, the same id twice is one person, platforms apart —
by the join and by the in-memory PeopleIndex alike, across transactions that roll back,
other connections writing, and the store reopened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakup.store import PeopleIndex, Store, _Run

ids = st.lists(st.sampled_from([f"user-{i:02d}-with-a-long-external-id" for i in range(30)]))
calls = st.lists(st.tuples(st.sampled_from(["x", "bsky"]), ids), min_size=1, max_size=6)
# What happens to a call: committed on its own, inside a transaction that rolls back, on
# another connection (for_thread, with an index of its own), or after reopening the store.
how = st.sampled_from(["commit", "rollback", "other", "reopen"])
steps = st.lists(st.tuples(how, st.sampled_from(["x", "bsky"]), ids), min_size=1, max_size=10)


class Boom(Exception):
    pass


@pytest.fixture
def always_indexed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every intern goes through the PeopleIndex, from the first call on."""
    monkeypatch.setattr(PeopleIndex, "MIN_PEOPLE", 0)
    monkeypatch.setattr(PeopleIndex, "RATIO", 0)
    monkeypatch.setattr(PeopleIndex, "BUILD_AFTER", 0)
    yield


def expect(model: dict[tuple[str, str], int], platform: str, external: list[str]) -> list[int]:
    out = []
    for e in external:
        key = (platform, e)
        if key not in model:
            model[key] = len(model) + 1
        out.append(model[key])
    return out


def people(store: Store) -> dict[tuple[str, str], int]:
    rows = store.con.execute("SELECT platform, external_id, person_id FROM people").fetchall()
    found = {(p, e): i for p, e, i in rows}
    assert len(found) == len(rows), "a person twice"
    return found


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=calls)
def test_intern_matches_a_dict(tmp_path: Path, calls: list[tuple[str, list[str]]]) -> None:
    path = tmp_path / "intern.duckdb"
    path.unlink(missing_ok=True)
    model: dict[tuple[str, str], int] = {}
    with Store(path) as store:
        for platform, external in calls:
            expected = expect(model, platform, external)
            got = store.intern(platform, pa.array(external, pa.string()))
            assert got.dtype == np.uint32
            assert got.tolist() == expected
        assert people(store) == model


@pytest.mark.parametrize("indexed", [False, True])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_intern_survives_rollbacks_other_writers_and_reopening(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    indexed: bool,
    steps: list[tuple[str, str, list[str]]],
) -> None:
    if indexed:
        monkeypatch.setattr(PeopleIndex, "MIN_PEOPLE", 0)
        monkeypatch.setattr(PeopleIndex, "RATIO", 0)
        monkeypatch.setattr(PeopleIndex, "BUILD_AFTER", 0)
    path = tmp_path / "steps.duckdb"
    path.unlink(missing_ok=True)
    model: dict[tuple[str, str], int] = {}
    store = Store(path)
    other = store.for_thread()
    try:
        for what, platform, external in steps:
            array = pa.array(external, pa.string())
            if what == "rollback":
                trial = dict(model)
                expected = expect(trial, platform, external)
                with pytest.raises(Boom), store.transaction():
                    assert store.intern(platform, array).tolist() == expected
                    # twice in one transaction: the second call sees the first's people
                    assert store.intern(platform, array).tolist() == expected
                    raise Boom
                continue
            if what == "reopen":
                other.close()
                store.close()
                store = Store(path)
                other = store.for_thread()
            writer = other if what == "other" else store
            expected = expect(model, platform, external)
            with writer.transaction():
                assert writer.intern(platform, array).tolist() == expected
                assert writer.intern(platform, array).tolist() == expected
        assert people(store) == model
    finally:
        other.close()
        store.close()


def test_intern_accepts_chunked_arrays(store: Store) -> None:
    chunked = pa.chunked_array([["a", "b"], ["a", "c"]])
    assert store.intern("x", chunked).tolist() == [1, 2, 1, 3]
    assert store.intern("x", pa.chunked_array([["c"], ["d"]])).tolist() == [3, 4]


def test_index_serves_small_batches_of_a_large_store(store: Store) -> None:
    """The thresholds as shipped: the first small batches join, then the index is built
    and serves ids first seen in any earlier batch (another account's, say)."""
    n = PeopleIndex.MIN_PEOPLE
    everyone = [f"{i:019d}" for i in range(n)]
    assert store.intern("x", pa.array(everyone)).tolist() == list(range(1, n + 1))
    index = store._people_index
    assert index is not None
    batch = [*everyone[5:10], "new-1", everyone[n - 1], "new-1", "new-2"]
    want = [6, 7, 8, 9, 10, n + 1, n, n + 1, n + 2]
    for call in range(PeopleIndex.BUILD_AFTER + 2):
        assert "x" in index.runs if call > PeopleIndex.BUILD_AFTER else "x" not in index.runs
        assert store.intern("x", pa.array(batch)).tolist() == want
    assert sum(len(r) for r in index.runs["x"]) == n + 2
    assert store.intern("bsky", pa.array(["new-1"])).tolist() == [n + 3]  # platforms apart


def test_a_hash_collision_goes_to_the_join(store: Store, always_indexed: None) -> None:
    store.intern("x", pa.array(["a", "b"]))
    index = store._people_index
    assert index is not None
    store.intern("x", pa.array(["a"]))  # made current
    h = index.runs["x"][0].hashes
    # "z" given the hash of a person it is not: a hit the ids disprove
    ids = np.zeros(2, dtype=np.uint32)
    doubt = index.lookup("x", np.array([h[0], h[1]], dtype=np.uint64), pa.array(["z", "zz"]), ids)
    assert doubt.tolist() == [True, True]
    assert ids.tolist() == [0, 0]
    # two people of one hash: the second is found by the join, not taken for new
    pids = np.array([1, 2], dtype=np.uint32)
    same = _Run.of(np.array([7, 7], dtype=np.uint64), pids, pa.array(["a", "b"], pa.large_string()))
    index.runs["x"] = [same]
    index.tail.pop("x", None)
    ids = np.zeros(1, dtype=np.uint32)
    assert index.lookup("x", np.array([7], dtype=np.uint64), pa.array(["b"]), ids).tolist() == [
        True
    ]


@pytest.mark.parametrize("n", [1, 1000, 1 << 16, 200_003])
def test_a_run_finds_what_a_binary_search_finds(n: int) -> None:
    rng = np.random.default_rng(n)
    hashes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    hashes[: n // 10] = hashes[0]  # many people of one hash
    run = _Run.of(hashes, np.arange(n, dtype=np.uint32), pa.array(["e"] * n, pa.large_string()))
    wanted = np.concatenate(
        [
            hashes[rng.integers(0, n, 5000)],
            rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True),
            np.array([0, 1, 2**64 - 1], dtype=np.uint64),
        ]
    )
    expected = np.minimum(np.searchsorted(run.hashes, wanted), n - 1)
    assert (run.find(wanted) == expected).all()
