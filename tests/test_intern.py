"""Person interning against a plain-Python model: known ids keep their person, new ones are
numbered in order of first appearance, the same id twice is one person, platforms apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakup.store import Store

ids = st.lists(st.sampled_from([f"user-{i:02d}-with-a-long-external-id" for i in range(30)]))
calls = st.lists(st.tuples(st.sampled_from(["x", "bsky"]), ids), min_size=1, max_size=6)


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
            expected = []
            for e in external:
                key = (platform, e)
                if key not in model:
                    model[key] = len(model) + 1
                expected.append(model[key])
            got = store.intern(platform, pa.array(external, pa.string()))
            assert got.dtype == np.uint32
            assert got.tolist() == expected
        rows = store.con.execute("SELECT platform, external_id, person_id FROM people").fetchall()
        assert {(p, e): i for p, e, i in rows} == model
        assert len(rows) == len(model)


def test_intern_accepts_chunked_arrays(store: Store) -> None:
    chunked = pa.chunked_array([["a", "b"], ["a", "c"]])
    assert store.intern("x", chunked).tolist() == [1, 2, 1, 3]
    assert store.intern("x", pa.chunked_array([["c"], ["d"]])).tolist() == [3, 4]
