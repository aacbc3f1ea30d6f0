"""What every why-analysis reads: per account, hourly follower and departure series.

Everything is aggregated in DuckDB (one pass over the account's spans per series); Python
only receives arrays of one value per hour of the tracked period, or per distinct departure
window. A departure known only to lie between two observations (``end_earliest`` ..
``end_latest``) is spread uniformly over that window, so a weekly snapshot's departures
weigh 1/168 on each of its hours rather than all landing on the last one.

Departure classes (``CLASS_SQL``), from the span's end kind and the person's latest profile
when the ``profiles`` table has one (they are all ``active`` otherwise):

* ``gone`` — the account was deleted, deactivated or suspended (or the address bounced);
* ``bot`` — the platform's bot flag, or a bot-like profile (dozens of posts a day, or
  following far more accounts than follow it);
* ``inactive`` — never posted, or no post in the 90 days before leaving;
* ``blocked`` — the account blocked them;
* ``active`` — an active person unfollowed or unsubscribed (or left without a re-check).

Unfollows and unsubscribes of ``active`` and ``inactive`` people are what posts can cause
(an inactive account may still read); ``gone``, ``bot`` and ``inactive`` are the "users"
side of the triage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from ..models import VOLUNTARY_ENDS_SQL
from ..store import Account, Store

F = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

HOUR = 3600.0
USER_SIDE = ("gone", "bot", "inactive")
VOLUNTARY_KINDS = VOLUNTARY_ENDS_SQL  # of the person's own choice (models.VOLUNTARY_ENDS)
INACTIVE_DAYS = 90
RECENT_DAYS = 14

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hours_to_time(hours: float) -> datetime:
    return _EPOCH + timedelta(hours=float(hours))


def time_to_hours(t: datetime) -> float:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH).total_seconds() / HOUR


def has_profiles(store: Store) -> bool:
    """Whether the store has a profiles table with anything in it (schema 3 and data)."""
    exists = store.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'profiles'"
    )
    return bool(exists) and bool(store.scalar("SELECT count(*) > 0 FROM profiles"))


def departures_sql(store: Store) -> str:
    """A query of every departure (the ``departures`` view: ended follower spans) with
    its class (see the module docstring).

    Columns: span_id, account_id, person_id, start_earliest, start_latest, end_earliest
    (the view's ``left_earliest``), end_latest, end_exact, end_kind, end_campaign,
    voluntary (the view's: of the person's own choice), cls.
    """
    if has_profiles(store):
        prof = """
        LEFT JOIN (
            SELECT person_id,
                   arg_max(bot, observed_at) AS bot,
                   arg_max(posts_count, observed_at) AS posts_count,
                   max(last_post_at) AS last_post_at,
                   arg_max(followers_count, observed_at) AS followers_count,
                   arg_max(following_count, observed_at) AS following_count,
                   arg_max(created_at, observed_at) AS created_at,
                   max(observed_at) AS observed_at
            FROM profiles GROUP BY person_id
        ) pr USING (person_id)"""
        bot = """(coalesce(pr.bot, false)
                  OR coalesce(pr.posts_count
                      / greatest(date_diff('day', pr.created_at, pr.observed_at), 1) > 20, false)
                  OR coalesce(pr.following_count > 1000
                      AND pr.following_count > 20 * greatest(pr.followers_count, 1), false))"""
        inactive = f"""(coalesce(pr.posts_count = 0, false)
                  OR coalesce(pr.last_post_at < s.end_latest - INTERVAL {INACTIVE_DAYS} DAY,
                              false))"""
    else:
        prof, bot, inactive = "", "false", "false"
    return f"""
        SELECT s.span_id, s.account_id, s.person_id, s.start_earliest, s.start_latest,
               s.left_earliest AS end_earliest, s.end_latest,
               coalesce(s.end_exact, false) AS end_exact, s.end_kind, s.end_campaign,
               s.voluntary,
               CASE WHEN s.end_kind IN ('deleted', 'suspended') THEN 'gone'
                    WHEN s.end_kind = 'blocked' THEN 'blocked'
                    WHEN {bot} THEN 'bot'
                    WHEN {inactive} THEN 'inactive'
                    ELSE 'active' END AS cls
        FROM departures s {prof}
    """


ATTRIBUTABLE = ("active", "inactive")  # who can have left because of a post


@dataclass
class Series:
    """One account's tracked period on an hourly grid.

    Bin ``i`` is the hour starting at epoch hour ``h0 + i``. ``followers`` is who followed at
    the start of the hour; ``attributable`` holds the departures in the hour that a post can
    have caused (unfollows and unsubscribes of active or inactive people), ``classes`` every
    departure by class (see the module docstring); all spread over their windows, so
    fractional.
    """

    account: Account
    h0: int
    followers: F
    recent: F  # followers who joined in the RECENT_DAYS before the hour (while tracked)
    posting: F  # the account's posts (not replies) per hour
    attributable: F
    classes: dict[str, F]
    exact_share: float  # share of attributable departures with an exact time
    resolution_hours: float  # median length of their windows (0: exact times)
    departures: int  # attributable departures in the period
    # The attributable departures as windows: earliest, latest (hours from the grid start,
    # equal for an exact time) and how many share that window.
    cells: tuple[F, F, F] = (np.zeros(0), np.zeros(0), np.zeros(0))

    @property
    def hours(self) -> int:
        return len(self.followers)

    @property
    def total(self) -> F:
        """Every departure, whatever its class."""
        out: F = np.sum(list(self.classes.values()), axis=0)
        return out

    @property
    def user_side(self) -> F:
        out: F = np.sum([self.classes[c] for c in USER_SIDE], axis=0)
        return out

    def start(self) -> datetime:
        return hours_to_time(self.h0)

    def end(self) -> datetime:
        return hours_to_time(self.h0 + self.hours)


CLASSES = ("active", "inactive", "bot", "gone", "blocked")


def coverage(store: Store, account_id: int) -> tuple[datetime, datetime] | None:
    """The period in which departures of the account could be seen: from its first
    follower snapshot (or, for event-only sources such as email lists, its first recorded
    ending) to its last observation, event or ending. None if nothing was ever seen."""
    row = store.con.execute(
        """
        SELECT coalesce(
                   (SELECT min(observed_at) FROM observations
                    WHERE account_id = $a AND direction = 'followers'),
                   (SELECT min(end_latest) FROM departures WHERE account_id = $a),
                   (SELECT min(occurred_at) FROM events WHERE account_id = $a)),
               greatest(
                   (SELECT max(observed_at) FROM observations
                    WHERE account_id = $a AND direction = 'followers'),
                   (SELECT max(end_latest) FROM departures WHERE account_id = $a),
                   (SELECT max(occurred_at) FROM events WHERE account_id = $a))
        """,
        {"a": account_id},
    ).fetchall()[0]
    if row[0] is None or row[1] is None or row[1] <= row[0]:
        return None
    return row[0].replace(tzinfo=UTC), row[1].replace(tzinfo=UTC)


def load_series(store: Store, account: Account, departures: str) -> Series | None:
    """The hourly series of *account*; *departures* is :func:`departures_sql`'s query."""
    span = coverage(store, account.account_id)
    if span is None:
        return None
    h0 = int(np.floor(time_to_hours(span[0])))
    n = int(np.ceil(time_to_hours(span[1]))) - h0 + 1
    aid = account.account_id
    # Followers: +1 in the hour a span starts (clipped to the start of the period), -1 in
    # the hour it ends (the middle of its end window); the running sum is the audience.
    moves = store.con.execute(
        """
        WITH s AS (
            SELECT epoch(start_latest) / 3600 AS a,
                   CASE WHEN end_latest IS NULL THEN NULL
                        ELSE (epoch(coalesce(end_earliest, end_latest)) + epoch(end_latest))
                             / 7200 END AS b
            FROM spans WHERE account_id = $a AND direction = 'followers'
        )
        SELECT greatest(floor(a), $h0)::BIGINT AS h, count(*)::DOUBLE AS d FROM s GROUP BY 1
        UNION ALL
        SELECT greatest(floor(b), $h0)::BIGINT, -count(*)::DOUBLE FROM s
        WHERE b IS NOT NULL GROUP BY 1
        """,
        {"a": aid, "h0": h0},
    ).fetchnumpy()
    idx = np.minimum(moves["h"].astype(np.int64) - h0, n - 1)
    followers = np.cumsum(np.bincount(idx, weights=moves["d"], minlength=n))
    followers = np.maximum(followers, 0.0)
    # Recent joiners: +1 when a span starts inside the period, -1 when it ends or turns
    # RECENT_DAYS old, whichever comes first.
    fresh = store.con.execute(
        f"""
        WITH s AS (
            SELECT epoch(start_latest) / 3600 AS a,
                   least(coalesce((epoch(coalesce(end_earliest, end_latest))
                                   + epoch(end_latest)) / 7200, 1e12),
                         epoch(start_latest) / 3600 + {RECENT_DAYS * 24}) AS b
            FROM spans WHERE account_id = $a AND direction = 'followers'
              AND start_earliest IS NOT NULL AND epoch(start_latest) / 3600 >= $h0
        )
        SELECT floor(a)::BIGINT AS h, count(*)::DOUBLE AS d FROM s GROUP BY 1
        UNION ALL SELECT floor(b)::BIGINT, -count(*)::DOUBLE FROM s GROUP BY 1
        """,
        {"a": aid, "h0": h0},
    ).fetchnumpy()
    idx = np.minimum(fresh["h"].astype(np.int64) - h0, n - 1)
    recent = np.clip(np.cumsum(np.bincount(idx, weights=fresh["d"], minlength=n)), 0.0, None)
    posted = store.con.execute(
        """
        SELECT floor(epoch(t) / 3600)::BIGINT AS h, count(*)::DOUBLE AS c FROM (
            SELECT external_id, min(created_at) AS t FROM posts
            WHERE account_id = $a AND kind <> 'reply' GROUP BY 1)
        WHERE epoch(t) / 3600 >= $h0 AND epoch(t) / 3600 < $h0 + $n GROUP BY 1
        """,
        {"a": aid, "h0": h0, "n": n},
    ).fetchnumpy()
    posting = np.bincount(posted["h"].astype(np.int64) - h0, posted["c"], minlength=n)[:n]
    windows = store.con.execute(
        f"""
        SELECT epoch(end_earliest) / 3600 AS e, epoch(end_latest) / 3600 AS l, cls,
               cls IN {ATTRIBUTABLE} AND voluntary AS att,
               count(*)::DOUBLE AS c
        FROM ({departures}) d
        WHERE account_id = $a
        GROUP BY ALL
        """,
        {"a": aid},
    ).fetchnumpy()
    e = windows["e"].astype(np.float64) - h0
    lat = windows["l"].astype(np.float64) - h0
    c = windows["c"].astype(np.float64)
    att = windows["att"].astype(bool)
    cls = np.asarray(windows["cls"], dtype=object)
    classes = {k: spread(e[cls == k], lat[cls == k], c[cls == k], n) for k in CLASSES}
    attributable = spread(e[att], lat[att], c[att], n)
    total = float(c[att].sum())
    width = (lat - e)[att]
    exact = float(c[att][width <= 1e-9].sum()) / total if total else 1.0
    if total:
        order = np.argsort(width)
        cum = np.cumsum(c[att][order])
        resolution = float(width[order][np.searchsorted(cum, total / 2)])
    else:
        resolution = 0.0
    return Series(
        account,
        h0,
        followers.astype(np.float64),
        np.minimum(recent, followers),
        posting.astype(np.float64),
        attributable,
        classes,
        exact,
        resolution,
        int(total),
        (e[att], lat[att], c[att]),
    )


def spread(start: F, end: F, count: F, n: int) -> F:
    """Hourly masses of *count* departures each spread uniformly over [start, end] (hours
    from the grid start); a zero-length window puts its whole mass in its hour."""
    out = np.zeros(n)
    if len(start) == 0:
        return out
    start = np.clip(start, 0.0, n - 1e-9)
    end = np.clip(end, start, n - 1e-9)
    point = end - start < 1e-9
    out += np.bincount(np.floor(start[point]).astype(np.int64), count[point], minlength=n)
    s, t, c = start[~point], end[~point], count[~point]
    if len(s):
        first = np.floor(s).astype(np.int64)
        nbins = np.floor(t).astype(np.int64) - first + 1
        rep = np.repeat(np.arange(len(s)), nbins)
        offs = np.arange(int(nbins.sum())) - np.repeat(np.cumsum(nbins) - nbins, nbins)
        lo = first[rep] + offs
        a = np.maximum(lo, s[rep])
        b = np.minimum(lo + 1.0, t[rep])
        mass = c[rep] * (b - a) / (t - s)[rep]
        out += np.bincount(lo, mass, minlength=n)
    return out


@dataclass
class PostRows:
    """An account's posts (deduplicated by external id), as arrays in time order."""

    external_id: list[str]
    kind: list[str]
    created_at: list[datetime]
    text: list[str]
    reply_to: list[str | None]

    def __len__(self) -> int:
        return len(self.external_id)


def load_posts(store: Store, account_id: int) -> PostRows:
    rows = store.con.execute(
        """
        SELECT external_id, any_value(kind), min(created_at), coalesce(any_value(text), ''),
               any_value(reply_to)
        FROM posts WHERE account_id = ? GROUP BY external_id ORDER BY 3, 1
        """,
        [account_id],
    ).fetchall()
    return PostRows(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2].replace(tzinfo=UTC) for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )
