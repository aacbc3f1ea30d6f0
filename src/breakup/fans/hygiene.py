"""Dead weight: followers (and followed accounts) who are inactive, never posted, or look
like bots; the "real audience" next to the raw count; follow-backs and mutuals.

Per person, from their latest ``profiles`` row at or before *as_of* (what a tracker or
import saw of their profile), their latest handle and their interactions:

* **inactive** — their latest post is more than *inactive_days* (default 180) old;
* **never posted** — the profile shows 0 posts;
* **bot-like** — the platform's own bot flag, or at least two of these signals:
  an auto-generated handle (a name ending in 5 or more digits, e.g. ``deals4821934``);
  following ≥ 1,000 accounts and ≥ 20× as many as follow them; more than 20 posts a day
  on average since the account was created; the account was created less than 30 days
  before it followed; no display name and never engaged with any of the user's accounts.
* **never engaged** — no like, reply, repost, mention, open or click with any of the
  user's accounts (shown, but lurkers are real people: it does not leave the real
  audience).

Real audience = followers − (bot-like ∪ inactive ∪ never posted). People without any
profile are counted as ``unprofiled`` and kept in the real audience (nothing says
otherwise). Mutuals are people with an open span in both directions (FOLLOWERS and
FOLLOWING); "not following back" are people the account follows who do not follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..store import Account, Store
from ._common import as_of, db_time, latest_handle_sql, own_accounts

INACTIVE_DAYS = 180
BOT_HANDLE_REGEX = r"^@?[a-z_.-]*[a-z][a-z_.-]*[0-9]{5,}([.@].*)?$"
BOT_SIGNALS_NEEDED = 2


@dataclass(frozen=True)
class Flagged:
    person_id: int
    external_id: str
    handle: str | None
    direction: str  # "followers" or "following"
    reasons: list[str]  # inactive, never_posted, bot_flag, bot_like: <signals>, never_engaged
    last_post_at: datetime | None
    posts_count: int | None


@dataclass(frozen=True)
class PersonLine:
    person_id: int
    external_id: str
    handle: str | None


@dataclass(frozen=True)
class Hygiene:
    account: str
    as_of: datetime
    inactive_days: int
    followers: int
    real_audience: int  # followers - (bot-like ∪ inactive ∪ never posted)
    real_share: float
    profiled: int  # followers with a profile to judge by
    unprofiled: int
    inactive: int
    never_posted: int
    bot_like: int
    never_engaged: int
    following: int
    following_dead_weight: int  # followed accounts that are inactive, silent or bot-like
    mutuals: int
    not_following_back: int
    dead_weight: list[Flagged] = field(default_factory=list)  # up to *limit*, both directions
    not_following_back_people: list[PersonLine] = field(default_factory=list)
    mutual_people: list[PersonLine] = field(default_factory=list)


def hygiene(
    store: Store,
    account: str | None = None,
    *,
    inactive_days: int = INACTIVE_DAYS,
    at: datetime | None = None,
    limit: int | None = 50,
) -> list[Hygiene]:
    """One report per own account (or the named one)."""
    now = as_of(store, at)
    return [_one(store, a, inactive_days, now, limit) for a in own_accounts(store, account)]


def _one(
    store: Store, acct: Account, inactive_days: int, now: datetime, limit: int | None
) -> Hygiene:
    own_ids = [a.account_id for a in store.accounts(role="own")] or [-1]
    params = {
        "acct": acct.account_id,
        "as_of": db_time(now),
        "days": int(inactive_days),
        "own": own_ids,
        "re": BOT_HANDLE_REGEX,
    }
    table = store.con.sql(
        f"""
        WITH open_spans AS (
            SELECT DISTINCT person_id, direction FROM spans
            WHERE account_id = $acct AND start_latest <= $as_of
              AND (end_latest IS NULL OR end_earliest > $as_of)
        ),
        who AS (
            SELECT person_id,
                   bool_or(direction = 'followers') AS follower,
                   bool_or(direction = 'following') AS followed
            FROM open_spans GROUP BY person_id
        ),
        prof AS (
            SELECT person_id, arg_max(posts_count, observed_at) AS posts,
                   arg_max(followers_count, observed_at) AS fans,
                   arg_max(following_count, observed_at) AS follows,
                   arg_max(created_at, observed_at) AS created,
                   arg_max(last_post_at, observed_at) AS last_post,
                   arg_max(bot, observed_at) AS bot,
                   max(observed_at) AS seen
            FROM profiles
            WHERE observed_at <= $as_of AND person_id IN (SELECT person_id FROM who)
            GROUP BY person_id
        ),
        started AS (
            SELECT person_id, min(coalesce(start_earliest, start_latest)) AS since FROM spans
            WHERE account_id = $acct AND direction = 'followers' GROUP BY person_id
        ),
        engaged AS (
            SELECT DISTINCT person_id FROM interactions
            WHERE account_id IN (SELECT unnest($own::INTEGER[])) AND occurred_at <= $as_of
        ),
        names AS ({latest_handle_sql("$as_of")})
        SELECT w.person_id, p.external_id, n.handle, w.follower, w.followed,
               pr.seen IS NOT NULL AS profiled, pr.posts, pr.last_post,
               pr.last_post IS NOT NULL AND pr.last_post < $as_of - to_days($days::INTEGER)
                   AS inactive,
               coalesce(pr.posts = 0, false) AS never_posted,
               coalesce(pr.bot, false) AS bot_flag,
               e.person_id IS NULL AS never_engaged,
               list_filter([
                   CASE WHEN regexp_matches(lower(coalesce(n.handle, p.external_id)), $re)
                        THEN 'generated handle' END,
                   CASE WHEN pr.follows >= 1000 AND pr.follows >= 20 * greatest(pr.fans, 1)
                        THEN 'follows many, followed by few' END,
                   CASE WHEN pr.posts / greatest(date_diff('second', pr.created, pr.seen)
                                                 / 86400.0, 1.0) > 20
                        THEN 'posts >20 a day' END,
                   CASE WHEN st.since - pr.created < INTERVAL 30 DAY
                        THEN 'new account when it followed' END,
                   CASE WHEN n.display_name IS NULL AND e.person_id IS NULL
                        THEN 'no name, never engaged' END
               ], lambda x: x IS NOT NULL) AS signals
        FROM who w JOIN people p USING (person_id)
        LEFT JOIN prof pr USING (person_id)
        LEFT JOIN names n USING (person_id)
        LEFT JOIN started st USING (person_id)
        LEFT JOIN engaged e USING (person_id)
        """,
        params=params,
    ).to_arrow_table()
    # Read-only stores allow no temp tables: the per-person facts are queried in memory.
    store.con.register("_hyg", table)
    try:
        counts = store.con.execute(
            """
            WITH f AS (
                SELECT *, bot_flag OR len(signals) >= $need AS bot_like FROM _hyg
            )
            SELECT count(*) FILTER (WHERE follower),
                   count(*) FILTER (WHERE follower AND NOT (bot_like OR inactive OR never_posted)),
                   count(*) FILTER (WHERE follower AND profiled),
                   count(*) FILTER (WHERE follower AND inactive),
                   count(*) FILTER (WHERE follower AND never_posted),
                   count(*) FILTER (WHERE follower AND bot_like),
                   count(*) FILTER (WHERE follower AND never_engaged),
                   count(*) FILTER (WHERE followed),
                   count(*) FILTER (WHERE followed AND (bot_like OR inactive OR never_posted)),
                   count(*) FILTER (WHERE follower AND followed),
                   count(*) FILTER (WHERE followed AND NOT follower)
            FROM f
            """,
            {"need": BOT_SIGNALS_NEEDED},
        ).fetchall()[0]
        lim = "" if limit is None else f"LIMIT {int(limit)}"
        flagged = store.con.execute(
            f"""
            SELECT person_id, external_id, handle,
                   CASE WHEN follower THEN 'followers' ELSE 'following' END,
                   list_filter([
                       CASE WHEN bot_flag THEN 'bot_flag' END,
                       CASE WHEN NOT bot_flag AND len(signals) >= $need
                            THEN 'bot_like: ' || array_to_string(signals, ', ') END,
                       CASE WHEN inactive THEN 'inactive' END,
                       CASE WHEN never_posted THEN 'never_posted' END,
                       CASE WHEN never_engaged THEN 'never_engaged' END
                   ], lambda x: x IS NOT NULL),
                   last_post, posts
            FROM _hyg
            WHERE bot_flag OR len(signals) >= $need OR inactive OR never_posted
            ORDER BY follower DESC, bot_flag DESC, len(signals) DESC,
                     last_post NULLS FIRST, person_id
            {lim}
            """,
            {"need": BOT_SIGNALS_NEEDED},
        ).fetchall()
        nfb = _people(store, "followed AND NOT follower", lim)
        mutual = _people(store, "followed AND follower", lim)
    finally:
        store.con.unregister("_hyg")
    c = [int(x) for x in counts]
    return Hygiene(
        account=acct.name,
        as_of=now,
        inactive_days=inactive_days,
        followers=c[0],
        real_audience=c[1],
        real_share=round(c[1] / c[0], 4) if c[0] else 0.0,
        profiled=c[2],
        unprofiled=c[0] - c[2],
        inactive=c[3],
        never_posted=c[4],
        bot_like=c[5],
        never_engaged=c[6],
        following=c[7],
        following_dead_weight=c[8],
        mutuals=c[9],
        not_following_back=c[10],
        dead_weight=[_flagged(r) for r in flagged],
        not_following_back_people=nfb,
        mutual_people=mutual,
    )


def _people(store: Store, where: str, lim: str) -> list[PersonLine]:
    rows = store.con.execute(
        f"SELECT person_id, external_id, handle FROM _hyg WHERE {where} "
        f"ORDER BY handle NULLS LAST, person_id {lim}"
    ).fetchall()
    return [PersonLine(int(r[0]), r[1], r[2]) for r in rows]


def _flagged(r: tuple[Any, ...]) -> Flagged:
    from ._common import utc

    return Flagged(
        int(r[0]), r[1], r[2], r[3], list(r[4]), utc(r[5]), None if r[6] is None else int(r[6])
    )
