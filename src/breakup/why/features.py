"""Content features of posts, computed in SQL (DuckDB regular expressions and word lists).

Each feature is one SQL expression over ``text`` (and, for near-duplicates, the account's
other posts). Lexicons are deliberately small and English; they name what a reader would
call self-promotion, a call to action, or a positive / negative tone.
"""

from __future__ import annotations

from ..store import Store

PROMO = r"(\d+\s?% off|\bsale\b|\bdiscount|\bcoupon|\bcode\s+[A-Za-z0-9]{3,}|\bshop\b|\bbuy\b|\bdeal\b|\bfree shipping|\bin stock\b|\bsave \d+%|\border\b)"  # noqa: E501
CTA = r"(shop now|order (now|today)|sign up|\bsubscribe\b|buy now|grab yours|\bclick\b|don.t miss|last chance|\bjoin\b|\bregister\b|→|ends (tonight|at midnight))"  # noqa: E501
OFFER = r"(\d+\s?% off|\bcode\s+[A-Z0-9]{4,}|\bcoupon\b|\bdiscount code)"
POSITIVE = (  # noqa: SIM905
    "love great thanks thank glad happy enjoy delicious lovely amazing best excited "
    "wonderful favourite favorite beautiful fun perfect"
).split()
NEGATIVE = (  # noqa: SIM905
    "sorry bad worst hate problem issue delay delayed late broken sad angry disappointed "
    "unfortunately miss misses missing fail failed"
).split()

# name -> (SQL expression over t (text), kind: "flag" or "number", description)
FEATURES: dict[str, tuple[str, str, str]] = {
    "self_promotion": (f"regexp_matches(t, '{PROMO}', 'i')", "flag", "sells something"),
    "call_to_action": (f"regexp_matches(t, '{CTA}', 'i')", "flag", "asks the reader to act"),
    "link": ("regexp_matches(t, 'https?://')", "flag", "has a link"),
    "hashtags": (
        "len(regexp_extract_all(t, '#\\w+'))",
        "number",
        "per hashtag",
    ),
    "length": ("length(t) / 100.0", "number", "per 100 characters"),
    "negative": (
        f"len(list_filter(words, lambda w: list_contains({NEGATIVE!r}, w))) > 0",
        "flag",
        "negative words",
    ),
    "positive": (
        f"len(list_filter(words, lambda w: list_contains({POSITIVE!r}, w))) > 0",
        "flag",
        "positive words",
    ),
}
DUPLICATE_DAYS = 14
DUPLICATE_JACCARD = 0.8


def features_sql(account_id: int) -> tuple[str, list[object]]:
    """A query of (external_id, one column per feature, near_duplicate) for the account's
    posts that are not replies. ``near_duplicate``: some earlier post of the account in the
    last 14 days shares at least 80% of its distinct words (Jaccard), found by joining the
    posts' words rather than comparing every pair of posts."""
    cols = ",\n".join(f"({expr})::DOUBLE AS {name}" for name, (expr, _, _) in FEATURES.items())
    sql = f"""
        WITH p AS (
            SELECT external_id, min(created_at) AS posted, coalesce(any_value(text), '') AS t
            FROM posts WHERE account_id = ? AND kind <> 'reply' GROUP BY external_id
        ),
        w AS (
            SELECT *, list_distinct(
                       list_filter(string_split_regex(lower(t), '[^a-z0-9#@]+'),
                                   lambda x: length(x) > 2)) AS words
            FROM p
        ),
        tokens AS (
            SELECT external_id, posted, len(words) AS n, unnest(words) AS word FROM w
        ),
        shared AS (
            SELECT a.external_id, b.external_id AS other, count(*) AS k,
                   any_value(a.n) AS na, any_value(b.n) AS nb
            FROM tokens a JOIN tokens b
              ON a.word = b.word AND b.posted < a.posted
             AND b.posted >= a.posted - INTERVAL {DUPLICATE_DAYS} DAY
            GROUP BY 1, 2
        ),
        dup AS (
            SELECT external_id, max(k / greatest(na + nb - k, 1)) AS jaccard
            FROM shared GROUP BY 1
        )
        SELECT w.external_id, {cols},
               (coalesce(dup.jaccard, 0) >= {DUPLICATE_JACCARD})::DOUBLE AS near_duplicate
        FROM w LEFT JOIN dup USING (external_id)
    """
    return sql, [account_id]


def post_features(store: Store, account_id: int) -> dict[str, dict[str, float]]:
    """feature -> post external id -> value."""
    sql, params = features_sql(account_id)
    table = store.con.execute(sql, params).fetchnumpy()
    ids = [str(x) for x in table["external_id"]]
    names = [*FEATURES, "near_duplicate"]
    return {n: dict(zip(ids, table[n].astype(float).tolist(), strict=True)) for n in names}


def describe(feature: str) -> str:
    if feature == "near_duplicate":
        return "repeats a recent post"
    return FEATURES[feature][2]
