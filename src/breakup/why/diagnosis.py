"""The survey's reasons, per own account, each with its effect size and uncertainty.

* **too frequent** — dose-response of churn against posting: per UTC day, departures
  against the busiest of the day and the day before (posts and reposts, not replies), as
  rate ratios per cadence level with 95% Wald intervals from a Poisson GLM (followers ×
  days as exposure, weekday and 30-day levels); and the cadence above which churn rises:
  the hinge max(0, cadence − c) with the best likelihood over c, kept only if its
  likelihood-ratio test passes after Bonferroni over the candidate c. Email lists use
  campaigns sent in the 7 days up to and including each send, and unsubscribes naming it.
* **boring / repetitive / needy** — content features (:mod:`.features`) against each
  post's observed/expected departures from the attribution: a quasi-Poisson GLM per feature
  (log expected as offset, Pearson scale, since windows of nearby posts overlap), Holm over
  the features of an account.
* **monologue** — the share of the account's posts that are replies, the share of
  mentions and replies to it that it answered (Wilson intervals), and the churn of people
  while unanswered against after they were answered (time-varying, exact conditional rate
  ratio), from ``interactions.ref`` and the account's replies' ``reply_to``.
* **one-time-offer joiners** — promotions are offer posts (a discount code or percentage
  off) followed by significantly more joiners than usual in the next 72 h (Poisson,
  Bonferroni over offer posts); their joiners' departures in their first 30 days against
  other joiners' (exact conditional rate ratio).

A :class:`Finding` is listed only when its interval excludes no effect; the tables carry
every estimate with its interval either way. :attr:`Diagnosis.tests` answers every cause of
:data:`CAUSES_TESTED` for every account, whatever it found: a :class:`CauseTest` that says
"found", "no sign of it (…)" with the closest evidence, or "not tested" and why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from scipy import stats as sstats
from statsmodels.stats.multitest import multipletests

from ..clock import to_db
from ..store import Store
from .attribution import Attribution
from .baseline import design
from .data import ATTRIBUTABLE, VOLUNTARY_KINDS, F, PostRows, Series, time_to_hours
from .features import describe, post_features
from .promotions import OFFER_HOURS, joins_per_hour, promotions
from .stats import Z95, RateRatio, poisson_glm, rate_ratio, wilson
from .words import cause as cause_words

ALPHA = 0.05
FAST_DAYS = 30
MIN_CONTENT_POSTS = 20  # posts with a baseline needed to test content
MIN_CAMPAIGNS = 10  # campaigns needed to test an email list's cadence
MIN_DAYS = 14  # days tracked needed to test a social account's cadence

# Every cause the diagnosis answers, in this order for each account (Diagnosis.tests).
CAUSES_TESTED = ("too_frequent", "boring", "needy", "repetitive", "monologue",
                 "one_time_offer")  # fmt: skip
# The content features each content cause is tested with (the rest are "boring").
CONTENT_CAUSE = {"near_duplicate": "repetitive", "self_promotion": "needy",
                 "call_to_action": "needy"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    account: str
    cause: str  # too_frequent, boring, needy, repetitive, monologue, one_time_offer
    statement: str
    estimate: float  # a rate ratio
    ci_low: float
    ci_high: float
    p_value: float

    @classmethod
    def of(cls, account: str, cause: str, statement: str, rr: RateRatio) -> Finding:
        return cls(account, cause, statement, rr.ratio, rr.ci_low, rr.ci_high, rr.p_value)


@dataclass(frozen=True)
class DoseLevel:
    cadence: str  # e.g. "4", "8+"
    units: int  # days (or sends) at this cadence
    departures: float
    rate_ratio: float  # against the reference level
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Frequency:
    account: str
    unit: str  # what cadence counts
    reference: str  # the reference level
    levels: list[DoseLevel]
    threshold: float | None  # churn rises above this cadence (None: no significant rise)
    per_post_rate_ratio: float | None  # per unit of cadence above the threshold
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # Bonferroni-corrected likelihood-ratio test


@dataclass(frozen=True)
class FeatureEffect:
    account: str
    feature: str
    description: str
    posts_with: int  # posts with the feature (numbers: posts with a non-zero value)
    rate_ratio: float  # per unit (flags: with vs without)
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float  # Holm over the account's features


@dataclass(frozen=True)
class Dialogue:
    account: str
    posts: int  # the account's posts, replies included
    replies: int  # of which replies to someone
    reply_share: float
    reply_share_ci: tuple[float, float]
    mentions: int  # mentions of and replies to the account (with their own post known)
    answered: int
    answer_rate: float
    answer_rate_ci: tuple[float, float]
    unanswered_vs_answered: RateRatio | None  # churn while unanswered vs after an answer


@dataclass(frozen=True)
class OfferJoiners:
    account: str
    promotions: int  # offer posts followed by a joining spike
    joiners: int  # who joined within 72 h of one
    others: int  # everyone else who joined while tracked
    fast_departures: RateRatio | None  # departures in the first 30 days, promo vs others
    left_within_30d: float  # share of promotion joiners gone within 30 days (crude)


@dataclass(frozen=True)
class CauseTest:
    """One survey cause tested on one account, whatever it found — "no sign of it" is an
    answer a manager needs, so a cause is never left out for finding nothing.

    ``account``: the own account. ``cause``: the code name (one of :data:`CAUSES_TESTED`:
    too_frequent, boring, needy — too much self-promotion —, repetitive, monologue,
    one_time_offer). ``label``: the survey's words for it (:data:`.words.CAUSES`), what a
    view shows. ``outcome``: ``found`` (its interval excludes no effect; the same
    statement as the :class:`Finding`), ``no_sign`` (tested, nothing significant), or
    ``not_tested`` (too little data; ``statement`` says what is missing). ``statement``:
    one plain sentence — the finding, "no sign of it (…the closest evidence…)", or "not
    tested: …why…". ``tested``: what was tested, in words (e.g. "312 posts: sells
    something (42), asks the reader to act (17)"); empty when not tested.
    ``posts_tested``: posts (or campaigns, or days, per ``tested``) the test used, 0 when not
    tested. ``estimate``/``ci_low``/``ci_high``: the rate ratio of the strongest evidence
    (for found, the finding's; for no sign, the estimate closest to a rise) with its 95%
    interval, None when not tested; ``p_value``: its p (Holm- or Bonferroni-adjusted where
    the test corrects for several), None when not tested or not defined.
    """

    account: str
    cause: str
    label: str
    outcome: str  # found, no_sign, not_tested
    statement: str
    tested: str = ""
    posts_tested: int = 0
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class Diagnosis:
    """The survey's causes for every own account analysed.

    ``findings``: only effects whose 95% interval excludes no effect, each a sentence with
    its rate ratio. ``frequency``: the posting-cadence dose-response per account (every
    level's rate ratio, and the threshold if churn rises). ``content``: every content
    feature's effect per account (Holm over the account's features). ``dialogue``: reply
    share, answer rate and churn while unanswered, per social account. ``offers``:
    promotion joiners' early departures per account. ``tests``: every cause of
    :data:`CAUSES_TESTED` for every account, in that order — found, no sign of it, or not
    tested and why (:class:`CauseTest`); what a view lists so that a cause that found
    nothing still shows.
    """

    findings: list[Finding] = field(default_factory=list)
    frequency: list[Frequency] = field(default_factory=list)
    content: list[FeatureEffect] = field(default_factory=list)
    dialogue: list[Dialogue] = field(default_factory=list)
    offers: list[OfferJoiners] = field(default_factory=list)
    tests: list[CauseTest] = field(default_factory=list)


def diagnose(
    store: Store,
    series: list[Series],
    posts: dict[int, PostRows],
    departures: str,
    attribution: Attribution,
    *,
    since: datetime | None = None,
) -> Diagnosis:
    out = Diagnosis()
    for s in series:
        name = s.account.name
        rows = posts[s.account.account_id]
        campaign = any(a.account == name and a.mode == "campaign"
                       for a in attribution.accounts)  # fmt: skip
        freq = _campaign_frequency(s, rows, attribution) if campaign else _daily_frequency(s)
        found: dict[str, list[Finding]] = {}

        def add(f: Finding, found: dict[str, list[Finding]] = found) -> None:
            out.findings.append(f)
            found.setdefault(f.cause, []).append(f)

        if freq is not None:
            out.frequency.append(freq)
            if freq.threshold is not None and freq.per_post_rate_ratio is not None:
                assert freq.ci_low is not None and freq.ci_high is not None
                add(
                    Finding(
                        name,
                        "too_frequent",
                        f"churn rises above {freq.threshold:g} {freq.unit}: "
                        f"×{freq.per_post_rate_ratio:.2f} per extra one "
                        f"(95% CI {freq.ci_low:.2f}–{freq.ci_high:.2f})",
                        freq.per_post_rate_ratio,
                        freq.ci_low,
                        freq.ci_high,
                        freq.p_value or 0.0,
                    )
                )
        out.tests.append(_frequency_test(s, freq, campaign, attribution, found))
        effects, tested, counts = _content(store, s, attribution)
        out.content.extend(effects)
        for e in effects:
            if e.p_adjusted < ALPHA and e.ci_low > 1:
                cause = CONTENT_CAUSE.get(e.feature, "boring")
                add(
                    Finding(
                        name,
                        cause,
                        f"{_posts_that(e)} are followed by ×{e.rate_ratio:.2f} "
                        f"the departures (95% CI {e.ci_low:.2f}–{e.ci_high:.2f})",
                        e.rate_ratio,
                        e.ci_low,
                        e.ci_high,
                        e.p_adjusted,
                    )
                )
        for cause in ("boring", "needy", "repetitive"):
            out.tests.append(_content_test(name, cause, effects, tested, counts, found))
        talk = _dialogue(store, s, departures)
        if talk is not None:
            out.dialogue.append(talk)
            rr = talk.unanswered_vs_answered
            if rr is not None and rr.ci_low > 1:
                said = (
                    f"answered {talk.answer_rate:.0%} of {talk.mentions} mentions and "
                    f"replies; people left ×{rr.ratio:.1f} as often while unanswered "
                    f"(95% CI {rr.ci_low:.1f}–{rr.ci_high:.1f})"
                )
                add(Finding.of(name, "monologue", said, rr))
        out.tests.append(_dialogue_test(s, talk, found))
        offer = _offers(store, s, rows, departures)
        if offer is not None:
            out.offers.append(offer)
            rr = offer.fast_departures
            if rr is not None and rr.ci_low > 1:
                said = (
                    f"{offer.joiners} joined around {offer.promotions} promotion(s); in "
                    f"their first {FAST_DAYS} days they left ×{rr.ratio:.1f} as often as "
                    f"other joiners (95% CI {rr.ci_low:.1f}–{rr.ci_high:.1f})"
                )
                add(Finding.of(name, "one_time_offer", said, rr))
        out.tests.append(_offer_test(name, offer, found))
    return out


# -- every cause's answer ----------------------------------------------------------------


def _found(account: str, cause: str, tested: str, n: int, fs: list[Finding]) -> CauseTest:
    """The test of a cause that found something: its strongest finding (highest lower
    bound), every finding's statement."""
    best = max(fs, key=lambda f: f.ci_low)
    return CauseTest(account, cause, cause_words(cause), "found",
                     "; ".join(f.statement for f in fs), tested, n, best.estimate,
                     best.ci_low, best.ci_high, best.p_value)  # fmt: skip


def _not_tested(account: str, cause: str, why: str) -> CauseTest:
    return CauseTest(account, cause, cause_words(cause), "not_tested", f"not tested: {why}")


def _no_sign(
    account: str, cause: str, evidence: str, tested: str, n: int,
    ratio: float, lo: float, hi: float, p: float | None,
) -> CauseTest:  # fmt: skip
    return CauseTest(account, cause, cause_words(cause), "no_sign",
                     f"no sign of it ({evidence})", tested, n, ratio, lo, hi, p)  # fmt: skip


def _frequency_test(
    s: Series,
    freq: Frequency | None,
    campaign: bool,
    att: Attribution,
    found: dict[str, list[Finding]],
) -> CauseTest:
    name = s.account.name
    if freq is None:
        if campaign:
            sent = sum(1 for p in att.posts if p.account == name and p.kind == "campaign")
            if sent < MIN_CAMPAIGNS:
                why = f"{sent} campaign(s) tested, {MIN_CAMPAIGNS} needed"
                return _not_tested(name, "too_frequent", why)
        elif s.hours // 24 < MIN_DAYS:
            return _not_tested(name, "too_frequent",
                               f"{s.hours // 24} day(s) tracked, {MIN_DAYS} needed")  # fmt: skip
        return _not_tested(name, "too_frequent",
                           "too few departures, or the posting cadence never varied")  # fmt: skip
    units = sum(level.units for level in freq.levels)
    per = "campaigns" if campaign else "days"
    tested = f"{units} {per} at {len(freq.levels)} cadence levels ({freq.unit})"
    if "too_frequent" in found:
        return _found(name, "too_frequent", tested, units, found["too_frequent"])
    others = [lv for lv in freq.levels if lv.cadence != freq.reference]
    top = max(others, key=lambda lv: lv.ci_low) if others else freq.levels[0]
    unit = freq.unit.split(" (")[0]
    evidence = (
        f"no cadence above which churn keeps rising; at {top.cadence} {unit}, "
        f"×{top.rate_ratio:.2f} the departures of {freq.reference} (95% CI "
        f"{top.ci_low:.2f}–{top.ci_high:.2f})"
        + (f", which could be chance among the {len(freq.levels)} levels compared"
           if top.ci_low > 1 else "")
    )  # fmt: skip
    return _no_sign(name, "too_frequent", evidence, tested, units, top.rate_ratio,
                    top.ci_low, top.ci_high, freq.p_value)  # fmt: skip


def _content_test(
    account: str,
    cause: str,
    effects: list[FeatureEffect],
    tested: int,
    counts: dict[str, int],
    found: dict[str, list[Finding]],
) -> CauseTest:
    mine = [e for e in effects if CONTENT_CAUSE.get(e.feature, "boring") == cause]
    features = [f for f in counts if CONTENT_CAUSE.get(f, "boring") == cause]
    if tested < MIN_CONTENT_POSTS:
        return _not_tested(account, cause, f"{tested} post(s) with a baseline to compare, "
                                           f"{MIN_CONTENT_POSTS} needed")  # fmt: skip
    if not mine:
        said = ", ".join(f"{describe(f)} ({counts[f]})" for f in features)
        return _not_tested(account, cause, f"among {tested} posts too few or nearly all "
                                            f"differ in this: {said}")  # fmt: skip
    what = f"{tested:,} posts: " + ", ".join(f"{e.description} ({e.posts_with:,})" for e in mine)
    if cause in found:
        return _found(account, cause, what, tested, found[cause])
    best = max(mine, key=lambda e: e.ci_low)
    evidence = (
        f"{_posts_that(best)} ({best.posts_with:,} of {tested:,}) were followed by "
        f"×{best.rate_ratio:.2f} the departures (95% CI {best.ci_low:.2f}–{best.ci_high:.2f})"
        + (f", which could be chance among the {len(effects)} features tested"
           if best.ci_low > 1 else "")
    )  # fmt: skip
    return _no_sign(account, cause, evidence, what, tested, best.rate_ratio, best.ci_low,
                    best.ci_high, best.p_adjusted)  # fmt: skip


def _posts_that(e: FeatureEffect) -> str:
    """'posts that sell something', 'posts with negative words', 'posts, per hashtag,'."""
    verb, _, rest = e.description.partition(" ")
    plural = {"sells": "sell", "asks": "ask", "has": "have", "repeats": "repeat"}
    if verb in plural:
        return f"posts that {plural[verb]} {rest}"
    if verb == "per":
        return f"posts, {e.description},"
    return f"posts with {e.description}"


def _dialogue_test(s: Series, talk: Dialogue | None, found: dict[str, list[Finding]]) -> CauseTest:
    name = s.account.name
    if talk is None:
        why = ("an email list has no replies" if s.account.platform == "email"
               else "no posts of the account imported")  # fmt: skip
        return _not_tested(name, "monologue", why)
    tested = (f"{talk.posts} posts ({talk.replies} replies), {talk.mentions} mentions and "
              "replies to it")  # fmt: skip
    if "monologue" in found:
        return _found(name, "monologue", tested, talk.posts, found["monologue"])
    rr = talk.unanswered_vs_answered
    if rr is None:
        why = (f"no mentions or replies to it recorded ({talk.replies} of its {talk.posts} "
               "posts are replies)" if not talk.mentions else
               f"answered {talk.answered} of {talk.mentions} mentions and replies: too few "
               "on one side to compare who left")  # fmt: skip
        return _not_tested(name, "monologue", why)
    evidence = (
        f"answered {talk.answer_rate:.0%} of {talk.mentions} mentions and replies; people "
        f"left ×{rr.ratio:.1f} as often while unanswered, 95% CI {rr.ci_low:.1f}–{rr.ci_high:.1f}"
    )
    return _no_sign(name, "monologue", evidence, tested, talk.posts, rr.ratio, rr.ci_low,
                    rr.ci_high, rr.p_value)  # fmt: skip


def _offer_test(
    account: str, offer: OfferJoiners | None, found: dict[str, list[Finding]]
) -> CauseTest:
    if offer is None:
        return _not_tested(account, "one_time_offer",
                           "no offer posts (a discount code or percentage off), or under 20 "
                           "joiners to tell a spike")  # fmt: skip
    tested = f"{offer.promotions} promotion(s), {offer.joiners} joiners around them"
    if "one_time_offer" in found:
        return _found(account, "one_time_offer", tested, offer.joiners, found["one_time_offer"])
    rr = offer.fast_departures
    if not offer.promotions:
        return CauseTest(account, "one_time_offer", cause_words("one_time_offer"), "no_sign",
                         "no sign of it (no offer post was followed by more joiners than "
                         "usual)", tested, 0)  # fmt: skip
    if rr is None:
        return _not_tested(account, "one_time_offer",
                           f"{offer.joiners} promotion joiners and {offer.others} others: "
                           "too few to compare")  # fmt: skip
    evidence = (
        f"{offer.joiners} joined around {offer.promotions} promotion(s); in their first "
        f"{FAST_DAYS} days they left ×{rr.ratio:.1f} as often as other joiners, 95% CI "
        f"{rr.ci_low:.1f}–{rr.ci_high:.1f}"
    )
    return _no_sign(account, "one_time_offer", evidence, tested, offer.joiners, rr.ratio,
                    rr.ci_low, rr.ci_high, rr.p_value)  # fmt: skip


# -- too frequent ------------------------------------------------------------------------


def _levels(cadence: F) -> list[tuple[str, F]]:
    """Cadence levels with enough units each: single values, the top ones pooled."""
    top = int(np.max(cadence)) if len(cadence) else 0
    out: list[tuple[str, F]] = []
    lo = 0
    while lo <= top:
        hi = lo
        mask = cadence == lo
        while mask.sum() < 5 and hi < top:
            hi += 1
            mask = (cadence >= lo) & (cadence <= hi)
        label = f"{lo}+" if hi == top and lo != top else (str(lo) if hi == lo else f"{lo}-{hi}")
        if mask.sum():
            out.append((label, mask.astype(np.float64)))
        lo = hi + 1
    return out


def _dose_response(
    account: str, unit: str, cadence: F, y: F, exposure: F, base: F
) -> Frequency | None:
    ok = exposure > 0
    cadence, y, exposure, base = cadence[ok], y[ok], exposure[ok], base[ok]
    if len(y) < 10 or y.sum() <= 0:
        return None
    levels = _levels(cadence)
    if len(levels) < 2:
        return None
    counts = [m.sum() for _, m in levels]
    median = float(np.median(cadence))
    ref = next(k for k, (_, m) in enumerate(levels) if np.any(m * (cadence == median)) or
               (k == len(levels) - 1))  # fmt: skip
    if counts[ref] < 3:
        ref = int(np.argmax(counts))
    dummies = [m for k, (_, m) in enumerate(levels) if k != ref]
    x = np.concatenate([base, np.stack(dummies, axis=1)], axis=1)
    keep = (np.abs(x).sum(axis=0) > 0) | (np.arange(x.shape[1]) == 0)
    fit = poisson_glm(y, x[:, keep], exposure)
    params = np.zeros(x.shape[1])
    se = np.full(x.shape[1], np.inf)
    params[keep] = fit.params
    se[keep] = np.sqrt(np.maximum(np.diag(fit.cov), 0.0)) * np.sqrt(fit.dispersion)
    out_levels = []
    j = base.shape[1]
    for k, (label, m) in enumerate(levels):
        if k == ref:
            out_levels.append(DoseLevel(label, int(m.sum()), float((y * m).sum()), 1.0, 1.0, 1.0))
            continue
        b, e = params[j], se[j]
        j += 1
        out_levels.append(
            DoseLevel(
                label,
                int(m.sum()),
                float((y * m).sum()),
                float(np.exp(b)),
                float(np.exp(b - Z95 * e)),
                float(np.exp(b + Z95 * e)),
            )
        )
    threshold = _hinge(cadence, y, exposure, base)
    result = Frequency(account, unit, levels[ref][0], out_levels, None, None, None, None, None)
    if threshold is None:
        return result
    c, rr, lo, hi, p = threshold
    return Frequency(account, unit, levels[ref][0], out_levels, c, rr, lo, hi, p)


def _loglik(y: F, mu: F) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(y > 0, y * np.log(mu), 0.0) - mu))


def _hinge(
    cadence: F, y: F, exposure: F, base: F
) -> tuple[float, float, float, float, float] | None:
    candidates = np.unique(cadence)[:-1]
    candidates = candidates[candidates >= np.median(cadence)]
    if not len(candidates):
        return None
    null = poisson_glm(y, base, exposure)
    ll0 = _loglik(y, null.mu)
    best_lr = -np.inf
    best_c = 0.0
    best_fit = None
    for c in candidates:
        h = np.maximum(0.0, cadence - c)[:, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = poisson_glm(y, np.concatenate([base, h], axis=1), exposure)
        lr = 2 * (_loglik(y, fit.mu) - ll0) / max(1.0, null.dispersion)
        if lr > best_lr:
            best_lr, best_c, best_fit = lr, float(c), fit
    assert best_fit is not None
    p = min(1.0, float(sstats.chi2.sf(max(best_lr, 0.0), 1)) * len(candidates))
    b = float(best_fit.params[-1])
    if p >= ALPHA or b <= 0:
        return None
    se = float(np.sqrt(max(best_fit.cov[-1, -1], 0.0)) * np.sqrt(null.dispersion))
    return best_c, float(np.exp(b)), float(np.exp(b - Z95 * se)), float(np.exp(b + Z95 * se)), p


def _daily_frequency(s: Series) -> Frequency | None:
    days = s.hours // 24
    if days < MIN_DAYS:
        return None
    n = days * 24
    posts = s.posting[:n].reshape(days, 24).sum(axis=1)
    cadence = np.maximum(posts, np.concatenate([[0.0], posts[:-1]]))
    y = s.attributable[:n].reshape(days, 24).sum(axis=1)
    exposure = s.followers[:n].reshape(days, 24).sum(axis=1) / 24.0
    base = design(s.h0, n)[::24]
    # Keep the weekday and 30-day columns only (hour blocks are constant at midnight).
    base = base[:, np.abs(base).sum(axis=0) > 0]
    return _dose_response(
        s.account.name,
        "posts a day (the busiest of the day and the day before)",
        cadence,
        y,
        exposure,
        base,
    )


def _campaign_frequency(s: Series, rows: PostRows, att: Attribution) -> Frequency | None:
    mine = [p for p in att.posts if p.account == s.account.name and p.kind == "campaign"]
    if len(mine) < MIN_CAMPAIGNS:
        return None
    mine.sort(key=lambda p: p.created_at)
    pos = np.array([time_to_hours(p.created_at) - s.h0 for p in mine])
    cadence = np.array([np.sum((pos > q - 168.0) & (pos <= q)) for q in pos], dtype=np.float64)
    y = np.array([p.observed for p in mine])
    cut = np.clip(np.floor(pos).astype(np.int64), 0, s.hours - 1)
    exposure = s.followers[cut]
    return _dose_response(
        s.account.name,
        "campaigns in 7 days",
        cadence,
        y,
        exposure,
        np.ones((len(y), 1)),
    )


# -- content -----------------------------------------------------------------------------


def _content(
    store: Store, s: Series, att: Attribution
) -> tuple[list[FeatureEffect], int, dict[str, int]]:
    """Every content feature's effect, the posts tested, and how many of them had each
    feature (features with fewer than 3 posts with or without them are not tested)."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    mine = [p for p in att.posts if p.account == s.account.name and p.expected > 0]
    if len(mine) < MIN_CONTENT_POSTS:
        return [], len(mine), {}
    feats = post_features(store, s.account.account_id)
    y = np.array([p.observed for p in mine])
    offset = np.log(np.array([p.expected for p in mine]))
    raw: list[tuple[str, int, float, float, float, float]] = []
    counts: dict[str, int] = {}
    for name, values in feats.items():
        x = np.array([values.get(p.post, 0.0) for p in mine])
        with_it = int((x > 0).sum())
        counts[name] = with_it
        if with_it < 3 or with_it > len(x) - 3:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = GLM(
                    y,
                    np.stack([np.ones(len(x)), x], axis=1),
                    family=families.Poisson(),
                    offset=offset,
                ).fit(scale="X2")
            except Exception:
                continue
        b, se = float(res.params[1]), float(res.bse[1])
        if not np.isfinite(se):
            continue
        p = float(2 * sstats.norm.sf(abs(b / se)))
        raw.append((name, with_it, b, se, p, 0.0))
    if not raw:
        return [], len(mine), counts
    adjusted = multipletests([r[4] for r in raw], method="holm")[1]
    effects = [
        FeatureEffect(
            s.account.name,
            name,
            describe(name),
            n,
            float(np.exp(b)),
            float(np.exp(b - Z95 * se)),
            float(np.exp(b + Z95 * se)),
            p,
            float(adj),
        )
        for (name, n, b, se, p, _), adj in zip(raw, adjusted, strict=True)
    ]
    return effects, len(mine), counts


# -- monologue ---------------------------------------------------------------------------


def _has_refs(store: Store) -> bool:
    return bool(
        store.scalar(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'interactions' AND column_name = 'ref'"
        )
    )


def _dialogue(store: Store, s: Series, departures: str) -> Dialogue | None:
    aid = s.account.account_id
    counts = store.con.execute(
        "SELECT count(DISTINCT external_id), count(DISTINCT external_id) "
        "FILTER (WHERE kind = 'reply') FROM posts WHERE account_id = ?",
        [aid],
    ).fetchall()[0]
    posts, replies = int(counts[0]), int(counts[1])
    if posts == 0 or s.account.platform == "email":
        return None
    share = replies / posts
    if not _has_refs(store):
        return Dialogue(s.account.name, posts, replies, share, wilson(replies, posts),
                        0, 0, 0.0, (0.0, 1.0), None)  # fmt: skip
    end = to_db(s.end())
    row = store.con.execute(
        f"""
        WITH answers AS (
            SELECT reply_to, min(created_at) AS replied_at FROM posts
            WHERE account_id = $a AND reply_to IS NOT NULL GROUP BY 1
        ),
        talk AS (
            SELECT i.person_id, i.ref, min(i.occurred_at) AS talked_at,
                   min(an.replied_at) AS answered_at
            FROM interactions i LEFT JOIN answers an ON an.reply_to = i.ref
            WHERE i.account_id = $a AND i.kind IN ('mention', 'reply') AND i.ref IS NOT NULL
            GROUP BY 1, 2
        ),
        people AS (
            SELECT person_id, min(talked_at) AS first_talk, min(answered_at) AS first_answer
            FROM talk GROUP BY 1
        ),
        spans_at AS (
            SELECT p.person_id, p.first_talk, p.first_answer,
                   coalesce(d.end_earliest + (d.end_latest - d.end_earliest) / 2,
                            s.end_latest, $end::TIMESTAMP) AS until,
                   coalesce(d.cls IN {ATTRIBUTABLE} AND d.end_kind IN {VOLUNTARY_KINDS}, false)
                       AS left_
            FROM people p
            JOIN spans s ON s.account_id = $a AND s.person_id = p.person_id
             AND s.direction = 'followers' AND s.start_latest <= p.first_talk
             AND (s.end_latest IS NULL OR s.end_latest >= p.first_talk)
            LEFT JOIN ({departures}) d ON d.span_id = s.span_id
        ),
        timed AS (
            SELECT *, epoch(least(coalesce(first_answer, until), until)) - epoch(first_talk)
                          AS open_s,
                      greatest(epoch(until) - epoch(coalesce(first_answer, until)), 0)
                          AS answered_s,
                      left_ AND (first_answer IS NULL OR first_answer > until) AS left_open,
                      left_ AND first_answer <= until AS left_answered
            FROM spans_at
        )
        SELECT (SELECT count(*) FROM talk), (SELECT count(*) FROM talk
                WHERE answered_at IS NOT NULL),
               sum(left_open::INT), sum(greatest(open_s, 0)) / 86400,
               sum(left_answered::INT), sum(answered_s) / 86400
        FROM timed
        """,
        {"a": aid, "end": end},
    ).fetchall()[0]
    mentions, answered = int(row[0] or 0), int(row[1] or 0)
    rr = None
    if row[3] and row[5]:
        rr = rate_ratio(float(row[2] or 0), float(row[3]), float(row[4] or 0), float(row[5]))
    return Dialogue(
        s.account.name,
        posts,
        replies,
        share,
        wilson(replies, posts),
        mentions,
        answered,
        answered / mentions if mentions else 0.0,
        wilson(answered, mentions),
        rr,
    )


# -- one-time-offer joiners --------------------------------------------------------------


def _offers(store: Store, s: Series, rows: PostRows, departures: str) -> OfferJoiners | None:
    aid = s.account.account_id
    promo = promotions(store, s, rows)
    if promo is None:
        return None
    if not len(promo):
        return OfferJoiners(s.account.name, 0, 0, int(joins_per_hour(store, s).sum()), None, 0.0)
    windows = " OR ".join(
        f"(epoch(s.start_latest) / 3600 - {s.h0} BETWEEN {a:.6f} AND {a + OFFER_HOURS:.6f})"
        for a in promo.tolist()
    )
    row = store.con.execute(
        f"""
        WITH j AS (
            SELECT s.span_id, ({windows}) AS promo, s.start_latest,
                   least(coalesce(d.end_earliest + (d.end_latest - d.end_earliest) / 2,
                                  $end::TIMESTAMP),
                         s.start_latest + INTERVAL {FAST_DAYS} DAY, $end::TIMESTAMP) AS until,
                   coalesce(d.cls IN {ATTRIBUTABLE} AND d.end_kind IN {VOLUNTARY_KINDS}
                            AND d.end_latest <= s.start_latest + INTERVAL {FAST_DAYS} DAY,
                            false) AS fast
            FROM spans s LEFT JOIN ({departures}) d USING (span_id)
            WHERE s.account_id = $a AND s.direction = 'followers'
              AND s.start_earliest IS NOT NULL AND epoch(s.start_latest) / 3600 >= $h0
        )
        SELECT promo, count(*), sum(fast::INT),
               sum(greatest(epoch(until) - epoch(start_latest), 0)) / 86400
        FROM j GROUP BY 1
        """,
        {"a": aid, "h0": s.h0, "end": to_db(s.end())},
    ).fetchall()
    by = {bool(r[0]): (int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in row}
    pj, pf, pt = by.get(True, (0, 0.0, 0.0))
    oj, of, ot = by.get(False, (0, 0.0, 0.0))
    rr = rate_ratio(pf, pt, of, ot) if pt > 0 and ot > 0 else None
    return OfferJoiners(s.account.name, len(promo), pj, oj, rr, pf / pj if pj else 0.0)
