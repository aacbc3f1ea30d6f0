"""Reward codes: unique, unguessable discount codes for fans, issued once per person.

A code is ``PREFIX-`` followed by 10 characters drawn with :mod:`secrets` from a 31-letter
alphabet without look-alikes (no 0/O, 1/I/L): about 50 bits, so guessing one is hopeless.
``reward_codes`` has ``PRIMARY KEY (code)`` and ``UNIQUE (prefix, person_id)``; issuing
again returns the codes people already have and only creates codes for the others, inside
one transaction with ``INSERT … ON CONFLICT DO NOTHING``, so two issuers (threads or
processes) can never give one person two codes or one code to two people. DuckDB lets one
process write a file at a time; :func:`breakup.access.write_store` waits while another
holds it.

:func:`write_codes_csv` exports them for a shop or mail tool; every cell that a spreadsheet
would read as a formula (starting with ``= + - @``, tab or carriage return) is prefixed with
``'`` (OWASP's CSV-injection advice).
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from ..errors import InvalidInput, StoreError
from ..safetext import neutralize
from ..store import Store
from ._common import db_time, utc

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols, no 0/O/1/I/L
CODE_LENGTH = 10
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,23}$")


@dataclass(frozen=True)
class RewardCode:
    code: str
    prefix: str
    person_id: int
    platform: str
    external_id: str
    handle: str | None
    email: str | None  # the plain address, only where the user kept it (--keep-emails)
    issued_at: datetime
    new: bool  # issued by this call (False: the person already had it)


def new_code(prefix: str) -> str:
    return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise InvalidInput(
            f"code prefix {prefix!r}: use 1-24 letters, digits or _ (starting with a letter "
            "or digit)"
        )
    return prefix.upper()


def issue_codes(store: Store, prefix: str, person_ids: Sequence[int]) -> list[RewardCode]:
    """Give each person (by person id) a code under *prefix*, keeping codes already issued.

    Returns one code per distinct person, in the order given.
    """
    prefix = check_prefix(prefix)
    wanted = list(dict.fromkeys(int(p) for p in person_ids))
    if not wanted:
        return []
    known = {
        int(str(r[0]))
        for r in store.con.execute(
            "SELECT person_id FROM people WHERE person_id IN (SELECT unnest(?::UINTEGER[]))",
            [wanted],
        ).fetchall()
    }
    missing = [p for p in wanted if p not in known]
    if missing:
        raise InvalidInput(f"no person with id {missing[0]} in the store")
    now = db_time(store.clock())
    before: set[int] | None = None
    for _ in range(5):  # a fresh code colliding with an existing one: draw again
        fresh = pa.table(
            {
                "code": [new_code(prefix) for _ in wanted],
                "person_id": pa.array(wanted, pa.uint32()),
            }
        )
        with store.transaction():
            if before is None:
                before = {c.person_id for c in codes(store, prefix, wanted)}
            store.con.register("_fresh_codes", fresh)
            try:
                store.con.execute(
                    """
                    INSERT INTO reward_codes
                    SELECT f.code, ?, f.person_id, ? FROM _fresh_codes f
                    WHERE f.person_id NOT IN (
                        SELECT person_id FROM reward_codes WHERE prefix = ?)
                      AND f.code NOT IN (SELECT code FROM reward_codes)
                    ON CONFLICT DO NOTHING
                    """,
                    [prefix, now, prefix],
                )
            finally:
                store.con.unregister("_fresh_codes")
        have = codes(store, prefix, wanted, issued_before=before)
        if len(have) == len(wanted):
            order = {p: i for i, p in enumerate(wanted)}
            return sorted(have, key=lambda c: order[c.person_id])
    raise StoreError("could not draw unique reward codes (try again)")


def codes(
    store: Store,
    prefix: str | None = None,
    person_ids: Iterable[int] | None = None,
    *,
    issued_before: set[int] | None = None,
) -> list[RewardCode]:
    """Codes issued so far (under *prefix*, for *person_ids*), oldest first."""
    where = ["TRUE"]
    params: list[Any] = []
    if prefix is not None:
        where.append("c.prefix = ?")
        params.append(prefix.upper())
    if person_ids is not None:
        where.append("c.person_id IN (SELECT unnest(?::UINTEGER[]))")
        params.append(list(person_ids))
    rows = store.con.execute(
        f"""
        SELECT c.code, c.prefix, c.person_id, p.platform, p.external_id,
               (SELECT handle FROM latest_names n WHERE n.person_id = c.person_id),
               (SELECT min(email) FROM person_emails e WHERE e.person_id = c.person_id),
               c.issued_at
        FROM reward_codes c JOIN people p USING (person_id)
        WHERE {" AND ".join(where)}
        ORDER BY c.issued_at, c.code
        """,
        params,
    ).fetchall()
    out = []
    for r in rows:
        issued = utc(r[7])
        assert issued is not None
        out.append(
            RewardCode(
                r[0],
                r[1],
                int(r[2]),
                r[3],
                r[4],
                r[5],
                r[6],
                issued,
                issued_before is not None and int(r[2]) not in issued_before,
            )
        )
    return out


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not evaluate as a formula."""
    return str(neutralize("" if value is None else str(value)))


CSV_COLUMNS = ("code", "prefix", "handle", "platform", "external_id", "email", "issued_at")


def write_codes_csv(rows: Sequence[RewardCode], out: IO[str] | Path) -> None:
    """Write codes as CSV (header :data:`CSV_COLUMNS`), every cell neutralized."""
    if isinstance(out, Path):
        with out.open("w", newline="", encoding="utf-8") as fh:
            write_codes_csv(rows, fh)
        return
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    r.code,
                    r.prefix,
                    r.handle,
                    r.platform,
                    r.external_id,
                    r.email,
                    r.issued_at.isoformat().replace("+00:00", "Z"),
                )
            ]
        )
