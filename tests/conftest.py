from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakup.clock import fixed_clock
from breakup.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store.duckdb", clock=fixed_clock(NOW))
    yield s
    s.close()


def table_counts(store: Store) -> dict[str, int]:
    """Row count of every table: what 'the store is unchanged' is checked against."""
    names = [
        r[0]
        for r in store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    return {n: store.con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}
