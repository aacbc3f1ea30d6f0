"""Who is one person across channels.

People are kept per platform (a DID, a Mastodon acct, a hashed email …); the same human on
two channels is two people until something says otherwise. breakup never guesses that from
look-alike names. Two people count as one only when:

* the user said so: ``breakup link PERSON PERSON`` (:func:`link_people`, stored in
  ``person_links`` with ``via='user'``), or
* an unambiguous hint proves it (:func:`link_hints`, computed when asked, never stored):

  - ``email-hash`` — the same keyed email hash on two platforms (the same address);
  - ``verified-handle`` — a Bluesky domain handle (one the platform verified through DNS
    or ``/.well-known``, i.e. not ``*.bsky.social``) equal to the server domain of a
    Mastodon account (``name@that.domain``), where exactly one person on each side
    matches.

Handles on X or Instagram are never a hint: anyone can register any free name.
Links are transitive: :func:`groups_sql` gives every linked person a group id (the smallest
person id of their group).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..clock import to_db
from ..errors import InvalidInput
from ..store import Store
from ._common import utc


@dataclass(frozen=True)
class PersonRef:
    """A person as the store knows them."""

    person_id: int
    platform: str
    external_id: str
    handle: str | None


@dataclass(frozen=True)
class Link:
    """Two people who are one human, and what says so."""

    person: PersonRef
    linked: PersonRef
    via: str  # 'user', 'email-hash', 'verified-handle'
    linked_at: datetime | None  # when the user linked them (None for hints)


HINTS_SQL = """
    WITH names AS (SELECT person_id, handle FROM latest_names),
    email AS (
        SELECT a.person_id AS person_id, b.person_id AS linked_id, 'email-hash' AS via
        FROM people a JOIN people b
          ON a.external_id = b.external_id AND a.platform < b.platform
        WHERE a.external_id LIKE 'h:%'
    ),
    domains AS (   -- Bluesky people on a domain handle they verified
        SELECT p.person_id, lower(n.handle) AS domain FROM people p JOIN names n USING (person_id)
        WHERE p.platform = 'bsky' AND n.handle LIKE '%.%' AND n.handle NOT LIKE '%.bsky.social'
          AND n.handle NOT LIKE '@%'
    ),
    servers AS (   -- Mastodon people by the server domain of their acct
        SELECT person_id, lower(split_part(external_id, '@', 2)) AS domain FROM people
        WHERE platform = 'mastodon' AND external_id LIKE '%@%'
    ),
    handle AS (
        SELECT d.person_id, s.person_id AS linked_id, 'verified-handle' AS via
        FROM domains d JOIN servers s USING (domain)
        WHERE domain IN (SELECT domain FROM domains GROUP BY domain HAVING count(*) = 1)
          AND domain IN (SELECT domain FROM servers GROUP BY domain HAVING count(*) = 1)
    )
    SELECT * FROM email UNION ALL SELECT * FROM handle
"""


def links_sql(hints: bool = True) -> str:
    """SQL of every link as (person_id, linked_id, via): the user's, and hints if asked."""
    user = "SELECT person_id, linked_id, via FROM person_links"
    return f"{user} UNION ALL SELECT * FROM ({HINTS_SQL})" if hints else user


def groups_sql(hints: bool = True) -> str:
    """SQL of (person_id, group_id, via) for every linked person: group_id is the smallest
    person id reachable through links; via lists what linked the group."""
    return f"""
        WITH RECURSIVE lk AS ({links_sql(hints)}),
        edges AS (
            SELECT person_id AS a, linked_id AS b FROM lk
            UNION SELECT linked_id, person_id FROM lk
        ),
        reach(a, b) AS (
            SELECT a, a FROM edges
            UNION SELECT r.a, e.b FROM reach r JOIN edges e ON e.a = r.b
        ),
        g AS (SELECT a AS person_id, min(b) AS group_id FROM reach GROUP BY a)
        SELECT g.person_id, g.group_id,
               (SELECT string_agg(DISTINCT lk.via, ',' ORDER BY lk.via) FROM lk
                WHERE lk.person_id = g.person_id OR lk.linked_id = g.person_id) AS via
        FROM g
    """


def find_person(store: Store, spec: str) -> PersonRef:
    """A person named by ``platform:external_id``, an external id, or a handle (as last
    seen; a leading ``@`` is optional). Ambiguous or unknown names are an error."""
    text = spec.strip()
    if not text:
        raise InvalidInput("empty person")
    platform, _, rest = text.partition(":")
    rows: list[tuple[object, ...]] = []
    if rest and platform.isalpha():
        rows = store.con.execute(
            "SELECT person_id FROM people WHERE platform = ? AND external_id = ?",
            [platform.lower(), rest],
        ).fetchall()
    if not rows:
        rows = store.con.execute(
            """
            SELECT DISTINCT person_id FROM (
                SELECT person_id FROM people WHERE external_id = ?
                UNION ALL
                SELECT person_id FROM latest_names
                WHERE lower(ltrim(handle, '@')) = lower(ltrim(?, '@'))
            )
            """,
            [text, text],
        ).fetchall()
    if not rows:
        raise InvalidInput(f"no person {spec!r} in the store (use platform:id or a handle)")
    people = [person_ref(store, int(str(r[0]))) for r in rows]
    if len(people) > 1:
        options = ", ".join(f"{p.platform}:{p.external_id}" for p in people[:5])
        raise InvalidInput(f"{spec!r} names {len(people)} people ({options}); use platform:id")
    return people[0]


def person_ref(store: Store, person_id: int) -> PersonRef:
    row = store.con.execute(
        """
        SELECT p.person_id, p.platform, p.external_id,
               (SELECT handle FROM latest_names n WHERE n.person_id = p.person_id)
        FROM people p WHERE p.person_id = ?
        """,
        [person_id],
    ).fetchall()
    if not row:
        raise InvalidInput(f"no person with id {person_id}")
    r = row[0]
    return PersonRef(int(r[0]), str(r[1]), str(r[2]), r[3])


def link_people(store: Store, a: str, b: str) -> Link:
    """Record that the people named *a* and *b* are one human (``via='user'``).

    Linking the same pair again changes nothing; a person cannot be linked to themselves.
    """
    pa_, pb = find_person(store, a), find_person(store, b)
    if pa_.person_id == pb.person_id:
        raise InvalidInput(f"{a!r} and {b!r} are the same person already")
    lo, hi = sorted((pa_, pb), key=lambda p: p.person_id)
    now = store.clock()
    with store.transaction():
        known = store.scalar(
            "SELECT linked_at FROM person_links WHERE person_id = ? AND linked_id = ?",
            [lo.person_id, hi.person_id],
        )
        if known is None:
            store.con.execute(
                "INSERT INTO person_links VALUES (?, ?, ?, 'user')",
                [lo.person_id, hi.person_id, to_db(now)],
            )
    return Link(lo, hi, "user", utc(known) or now)


def unlink_people(store: Store, a: str, b: str) -> bool:
    """Forget a link the user made; True if there was one."""
    pa_, pb = find_person(store, a), find_person(store, b)
    lo, hi = sorted((pa_.person_id, pb.person_id))
    with store.transaction():
        n = store.scalar(
            "SELECT count(*) FROM person_links WHERE person_id = ? AND linked_id = ?", [lo, hi]
        )
        store.con.execute(
            "DELETE FROM person_links WHERE person_id = ? AND linked_id = ?", [lo, hi]
        )
    return bool(n)


def links(store: Store, hints: bool = True) -> list[Link]:
    """Every link: the user's, then (if asked) the hints breakup would apply."""
    rows = store.con.execute(
        f"""
        WITH lk AS ({links_sql(hints)})
        SELECT lk.person_id, lk.linked_id, lk.via, pl.linked_at FROM lk
        LEFT JOIN person_links pl USING (person_id, linked_id)
        ORDER BY lk.via = 'user' DESC, lk.person_id, lk.linked_id
        """
    ).fetchall()
    return [
        Link(person_ref(store, int(r[0])), person_ref(store, int(r[1])), str(r[2]), utc(r[3]))
        for r in rows
    ]
