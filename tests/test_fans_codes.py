"""Reward codes: unique, unguessable, one per person per prefix — also when two processes
issue at the same time — and a CSV export that spreadsheets cannot turn into formulas."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakup.clock import fixed_clock
from breakup.errors import InvalidInput
from breakup.fans import codes, issue_codes, write_codes_csv
from breakup.fans.codes import safe_cell
from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Person, Snapshot
from breakup.store import Store

AT = datetime(2025, 3, 1, tzinfo=UTC)
HOSTILE = ['=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain"]


def people_store(path: Path, n: int = 60) -> list[int]:
    with Store(path, clock=fixed_clock(AT)) as store:
        handles = HOSTILE + [f"fan{i}.bsky.social" for i in range(n - len(HOSTILE))]
        snap = Snapshot.of(
            Direction.FOLLOWERS,
            AT,
            [Person(f"did:plc:{i:04d}", h) for i, h in enumerate(handles)],
        )
        batch = Batch("test", "bsky", "ref", "did:plc:brand", "brand", snapshots=[snap])
        save_batch(store, batch)
        return [int(r[0]) for r in store.con.execute("SELECT person_id FROM people").fetchall()]


def test_codes_are_unique_unguessable_and_issued_once(tmp_path: Path) -> None:
    ids = people_store(tmp_path / "s.duckdb")
    with Store(tmp_path / "s.duckdb", clock=fixed_clock(AT)) as store:
        first = issue_codes(store, "thanks", ids[:10])
        assert [c.person_id for c in first] == ids[:10]
        assert all(re.fullmatch(r"THANKS-[2-9A-HJKMNP-Z]{10}", c.code) for c in first)
        assert len({c.code for c in first}) == 10 and all(c.new for c in first)
        again = issue_codes(store, "THANKS", ids[5:15])
        assert {c.person_id: c.code for c in again if not c.new} == {
            c.person_id: c.code for c in first[5:]
        }
        assert sum(c.new for c in again) == 5
        other = issue_codes(store, "SPRING", ids[:3])  # another campaign: new codes
        assert {c.code for c in other}.isdisjoint(c.code for c in first)
        assert store.scalar("SELECT count(*) FROM reward_codes") == 18
        assert len(codes(store, "thanks")) == 15
        with pytest.raises(InvalidInput):
            issue_codes(store, "=cmd", ids[:1])
        with pytest.raises(InvalidInput):
            issue_codes(store, "X", [999_999])


def test_csv_cells_cannot_be_formulas(tmp_path: Path) -> None:
    ids = people_store(tmp_path / "s.duckdb")
    with Store(tmp_path / "s.duckdb", clock=fixed_clock(AT)) as store:
        rows = issue_codes(store, "vip", ids[: len(HOSTILE)])
    out = io.StringIO()
    write_codes_csv(rows, out)
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert table[0] == ["code", "prefix", "handle", "platform", "external_id", "email", "issued_at"]
    handles = [r[2] for r in table[1:]]
    assert handles == ["'" + h for h in HOSTILE[:-1]] + ["plain"]
    for row in table[1:]:
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row)
    assert safe_cell(None) == "" and safe_cell("-") == "'-"
    path = tmp_path / "codes.csv"
    write_codes_csv(rows, path)
    assert path.read_bytes().decode("utf-8") == out.getvalue()


ISSUER = """
import json, sys
from breakup.access import write_store
from breakup.fans import issue_codes
path, prefix, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
got = {}
for round_ in range(6):  # several overlapping rounds: each opens, issues, closes
    chunk = ids[round_ * 5 :] + ids[: round_ * 5]
    with write_store(path, wait=120) as store:
        for c in issue_codes(store, prefix, chunk):
            assert got.setdefault(c.person_id, c.code) == c.code, "a person's code changed"
print(json.dumps(got))
"""


def test_two_processes_issuing_at_once_never_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    ids = people_store(path)
    arg = ",".join(str(i) for i in ids)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ISSUER, str(path), "FAN", arg],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append({int(k): v for k, v in json.loads(out).items()})
    assert results[0] == results[1]  # both were handed the same code for each person
    assert set(results[0]) == set(ids)
    with Store(path, read_only=True) as store:
        rows = store.con.execute("SELECT code, person_id FROM reward_codes").fetchall()
    assert len(rows) == len(ids)
    assert len({code for code, _ in rows}) == len(ids)
    assert {int(p): c for c, p in rows} == results[0]
