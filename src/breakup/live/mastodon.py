"""Mastodon through Mastodon.py: ``mastodon:@user@instance``.

One poll looks the account up on its own instance (``https://instance`` unless the
connection names another base URL), reads every page of its followers and follows (80 a
page, the API's maximum), its recent statuses with their reply / boost / favourite counts,
and — only with the account's own token — its follow, mention, favourite and boost
notifications: the exact times people followed, and who engaged. Mastodon never notifies
an unfollow, so endings come from diffing complete snapshots, then a re-check says why.

Reliability rules:

* A page that still fails after retries never raises: the snapshot is kept but marked
  partial, with a note naming the page, so tracking never reads it as departures. So does
  a list that comes back empty while the profile counts followers (the owner hid it), a
  cursor that repeats, and an account that is not the answering server's own (a server
  lists only the followers of a remote account that it happens to know).
* Paging is keyset-based on the follow's id (``max_id`` from the ``Link`` header), newest
  first: an unfollow during paging shifts nothing, a follow made during paging lands on
  the page already read and shows next poll. The snapshot is stamped when paging began.
* The token (``Connection.token``) is only ever sent to the server the client was made for
  (:mod:`breakup.credentials` looks it up by that host; the session drops it from a request
  to any other host), and is used only once ``verify_credentials`` shows it is the
  tracked account's own: a stranger's token would hide the accounts *they* mute or block
  from the lists (fake departures) and its notifications and relationships are not ours.
  It is never logged, stored or put in a note.
* Re-checks never guess. ``GET /accounts/lookup``: 404 "Record not found" means the record
  is gone — deleted at its origin, culled, or its server defederated; Mastodon does not say
  which, so it stays ``not_found``. ``suspended: true`` means suspended for a remote
  account; for one of the server's own accounts a self-deletion looks exactly the same (the
  record is kept, suspended, to reserve the name), so that stays ``not_found`` too.
  ``moved`` means deactivated in favour of a new account. An account that is there is
  asked about with ``/accounts/relationships`` (owner's token: follows, blocks) or, without
  one, against the complete follower list this poll just read.

Rate limits (mastodon/config/initializers/rack_attack.rb): 300 API requests per 5 minutes
per token or IP, and separately 300 *paging* requests (``max_id`` set) per 15 minutes.
Both are kept to on our side; ``X-RateLimit-Remaining: 0`` waits for ``X-RateLimit-Reset``
(ISO 8601, read against the answer's ``Date``), a 429 waits likewise, and 5xx, timeouts and
dropped connections back off. Every wait goes through ``Connection.sleep``: Mastodon.py is
told to ``throw`` on 429 rather than sleep itself, since its own waits call ``time.sleep``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, TypeVar

import httpx
import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
)

from ..credentials import host_key, host_of
from ..errors import InvalidInput, RateLimited, ServiceError
from ..ingest import size_tolerance
from ..models import (
    AccountState,
    Batch,
    Check,
    Direction,
    Event,
    Interaction,
    Person,
    Post,
    Profile,
    Snapshot,
)
from . import register
from ._mastodon_parse import (
    NOTIFICATION_TYPES,
    Account,
    account,
    notification,
    post,
    relationships,
)
from .base import Connection, Progress, Tracker, no_progress
from .http import MAX_WAIT, Budget, ServiceAnswer, retry_after, too_long

SERVICE = "Mastodon"
PAGE = 80  # followers, following, notifications: the API's maximum limit
STATUS_PAGE = 40  # account statuses: the API's maximum limit
RELATIONSHIPS_PER_CALL = 40
USER_AGENT = "breakup"

T = TypeVar("T")


@register
class MastodonTracker(Tracker):
    scheme = "mastodon"
    platform = "mastodon"
    summary = "Mastodon via Mastodon.py: followers, following, statuses, notifications"

    status_pages = 2  # recent pages of statuses read per poll
    notification_pages = 5  # recent pages of notifications read per poll
    recheck_limit = 150  # departed accounts looked up per poll; the rest wait for the next

    @classmethod
    def request_host(cls, ident: str, base_url: str | None) -> str:
        """The account's own server (``https://instance``) unless a base URL is given."""
        return host_of(base_url or f"https://{_address(ident)[1]}")

    def __init__(self, ident: str, conn: Connection) -> None:
        user, domain = _address(ident)
        super().__init__(f"@{user}@{domain}", conn)
        self.user, self.domain = user, domain
        self.client = _Client(conn.base_url or f"https://{domain}", conn)
        self.api = self.client.api
        self._me: Account | None = None
        self._owner = False  # the token is the tracked account's own
        self._followers_now: frozenset[str] | None = None  # complete list read this poll

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self, progress: Progress = no_progress) -> Batch:
        started = self.conn.clock()
        notes: list[str] = []
        me = self._identify(notes)
        self._profiles: dict[str, Profile] = {}  # what each listed account showed
        snapshots = [
            self._graph(Direction.FOLLOWERS, me, notes, progress),
            self._graph(Direction.FOLLOWING, me, notes, progress),
        ]
        posts = self._posts(me, notes)
        events, interactions = self._notifications(me, notes)
        if self.client.retries:
            notes.append(
                f"{self.client.retries} request(s) retried; waited {self.client.waited:.0f} s "
                "for rate limits and backoff"
            )
        return Batch(
            source="mastodon",
            platform=self.platform,
            source_ref=f"mastodon:{me.key}:{started.isoformat()}",
            account_identity=me.key,
            account_handle=me.handle,
            observed_at=started,
            snapshots=snapshots,
            events=events,
            posts=posts,
            interactions=interactions,
            profiles=list(self._profiles.values()),
            notes=notes,
        )

    def _identify(self, notes: list[str]) -> Account:
        """The tracked account as its server sees it, and whether the token is its own."""
        address = f"{self.user}@{self.domain}"
        try:
            body = self.client.call("lookup", partial(self.api.account_lookup, address))
        except ServiceAnswer as exc:
            raise ServiceError(SERVICE, f"{self.ident}: {_describe(exc)}", exc.status) from None
        me = account(body, self.domain)
        if me is None or me.key != address.lower():
            raise ServiceError(SERVICE, f"lookup of {self.ident} did not answer with it")
        self._me = me
        self._owner = False
        if self.conn.token:
            try:
                mine = account(
                    self.client.call("verify_credentials", self.api.account_verify_credentials),
                    self.domain,
                )
                why = "belongs to another account"
            except ServiceAnswer as exc:
                mine, why = None, f"was refused ({_describe(exc)})"
            self._owner = mine is not None and mine.id == me.id
            if not self._owner:
                self.api.access_token = None
                notes.append(
                    f"the Mastodon token {why}: polled {self.ident} without it, so no "
                    "notifications (exact follow times, engagement) and no block checks"
                )
        return me

    def _graph(
        self, direction: Direction, me: Account, notes: list[str], progress: Progress
    ) -> Snapshot:
        """Every page of followers (or follows) as one snapshot, partial if any went wrong."""
        at = self.conn.clock()
        if direction == Direction.FOLLOWERS:
            reported, method = me.followers_count, self.api.account_followers
        else:
            reported, method = me.following_count, self.api.account_following
        name = direction.value
        seen: dict[str, Person] = {}
        paging = _Paging()
        # Generous, but bounded: a server that never stops paging cannot hold us forever.
        cap = 2 * ((reported or 0) // PAGE) + 20
        for page in self._pages(name, partial(method, me.id, limit=PAGE), cap, paging):
            for entity in page:
                if (a := account(entity, self.domain)) is not None:
                    seen.setdefault(a.key, a.person)
                    self._profiles.setdefault(a.key, a.profile(at))
            progress(name, len(seen), reported)
        problem = paging.problem or (f"stopped after {cap} pages" if paging.capped else None)
        if problem is None and not seen and reported:
            problem = f"the list came back empty though the profile counts {reported}"
        if problem is None and not me.local:
            problem = "the server is not the account's own, so it lists only whom it knows"
        complete = problem is None
        if not complete:
            notes.append(
                f"{name} of {self.ident}: {problem}; kept {len(seen)} as a partial snapshot "
                "(not used to detect departures)"
            )
        if direction == Direction.FOLLOWERS:
            close = reported is None or abs(len(seen) - reported) <= size_tolerance(reported)
            self._followers_now = frozenset(seen) if complete and close else None
        return Snapshot.of(direction, at, seen.values(), complete=complete, reported_count=reported)

    def _posts(self, me: Account, notes: list[str]) -> list[Post]:
        now = self.conn.clock()
        posts: dict[str, Post] = {}
        paging = _Paging()
        first = partial(self.api.account_statuses, me.id, limit=STATUS_PAGE)
        for page in self._pages("statuses", first, self.status_pages, paging):
            for status in page:
                if (p := post(status, me.id, self.domain, now)) is not None:
                    posts.setdefault(p.external_id, p)
        if paging.problem:
            notes.append(f"statuses: {paging.problem}; older ones wait for the next poll")
        return list(posts.values())

    def _notifications(
        self, me: Account, notes: list[str]
    ) -> tuple[list[Event], list[Interaction]]:
        if not self._owner:
            if not self.conn.token:
                notes.append(
                    f"no Mastodon token for {self.client.host} (BREAKUP_MASTODON_TOKEN__"
                    f"{host_key(self.client.host)}): exact follow times and who liked, boosted "
                    "or mentioned the account need the account's own token"
                )
            return [], []
        now = self.conn.clock()
        events: list[Event] = []
        interactions: list[Interaction] = []
        paging = _Paging()
        first = partial(self.api.notifications, types=NOTIFICATION_TYPES, limit=PAGE)
        for page in self._pages("notifications", first, self.notification_pages, paging):
            for entity in page:
                seen = notification(entity, me.id, self.domain, now)
                if isinstance(seen, Event):
                    events.append(seen)
                elif seen is not None:
                    interactions.append(seen)
        if paging.problem:
            notes.append(f"notifications: {paging.problem}; older ones may be missed")
        return events, interactions

    # -- recheck -------------------------------------------------------------------------

    def recheck(self, external_ids: Sequence[str], progress: Progress = no_progress) -> list[Check]:
        """Why each departed person is gone: suspended, moved, not found, blocking, or there
        and not following. Anyone a request failed for (or who cannot be decided) gets no
        check and is asked again next poll."""
        if self._me is None:
            self._identify([])
        now = self.conn.clock()
        todo = list(dict.fromkeys(i for i in external_ids if "@" in i))[: self.recheck_limit]
        checks: list[Check] = []
        present: dict[str, Account] = {}  # instance id -> account, for the follow check
        for n, key in enumerate(todo, 1):
            progress("re-check", n, len(todo))
            try:
                body = self.client.call("lookup", partial(self.api.account_lookup, key))
            except ServiceError:
                continue
            except ServiceAnswer as exc:
                if (gone := _gone(key, exc, now)) is not None:
                    checks.append(gone)
                continue
            found = account(body, self.domain)
            if found is None or found.key != key:
                continue
            if found.moved_to:
                detail = f"moved to {found.moved_to}"
                checks.append(Check(found.person, now, AccountState.DEACTIVATED, None, detail))
            elif found.suspended and not found.local:
                checks.append(Check(found.person, now, AccountState.SUSPENDED, None, "suspended"))
            elif found.suspended:
                detail = "suspended, or deleted by its owner: this server shows both alike"
                checks.append(Check(found.person, now, AccountState.NOT_FOUND, None, detail))
            else:
                present[found.id] = found
        return checks + self._still_following(present, now)

    def _still_following(self, present: dict[str, Account], now: datetime) -> list[Check]:
        if not self._owner:
            listed = self._followers_now
            if listed is None:
                return []  # no complete list this poll to decide against: ask again later
            return [
                Check(
                    a.person,
                    now,
                    AccountState.ACTIVE,
                    a.key in listed,
                    f"active; {'in' if a.key in listed else 'not in'} the complete follower "
                    f"list of {len(listed)} read at this poll",
                )
                for a in present.values()
            ]
        checks: list[Check] = []
        ids = list(present)
        for start in range(0, len(ids), RELATIONSHIPS_PER_CALL):
            chunk = ids[start : start + RELATIONSHIPS_PER_CALL]
            try:
                rels = relationships(
                    self.client.call(
                        "relationships", partial(self.api.account_relationships, chunk)
                    )
                )
            except (ServiceError, ServiceAnswer):
                continue
            for ident in chunk:
                who, rel = present[ident].person, rels.get(ident)
                if rel is None:
                    continue
                if rel.blocked_by or rel.blocking:
                    whose = (
                        "they block the account" if rel.blocked_by else "the account blocks them"
                    )
                    checks.append(Check(who, now, AccountState.BLOCKED, False, whose))
                else:
                    detail = "follows again" if rel.followed_by else "active, not following"
                    checks.append(Check(who, now, AccountState.ACTIVE, rel.followed_by, detail))
        return checks

    # -- plumbing ------------------------------------------------------------------------

    def _pages(
        self, what: str, first: Callable[[], Any], max_pages: int, paging: _Paging
    ) -> Iterator[list[Any]]:
        """Each page of a Link-header walk, until no ``next``, a failure, a repeated cursor
        or *max_pages*. Never raises for the service: *paging* says how the walk ended."""
        fetch, paged = first, False
        cursors: set[str] = set()
        while True:
            try:
                page = self.client.call(what, fetch, paging=paged)
            except (ServiceError, ServiceAnswer) as exc:
                paging.problem = f"page {paging.pages + 1} failed: {_describe(exc)}"
                return
            paging.pages += 1
            if not isinstance(page, list):
                paging.problem = f"page {paging.pages} is not a list"
                return
            yield page
            after = getattr(page, "_pagination_next", None)  # absent: no rel="next"
            if not isinstance(after, dict):
                return
            cursor = str(after.get("max_id"))
            if cursor in cursors:
                paging.problem = f"the next link after page {paging.pages} repeats an earlier one"
                return
            if paging.pages >= max_pages:
                paging.capped = True
                return
            cursors.add(cursor)
            previous: Any = page  # Mastodon.py's PaginatableList, with its next-page info
            fetch, paged = partial(self.api.fetch_next, previous), True


@dataclass
class _Paging:
    pages: int = 0
    capped: bool = False  # stopped at the page cap with more to read
    problem: str | None = None


class _Client:
    """Mastodon.py, with retries, backoff and rate-limit waits on the injected clock/sleep."""

    def __init__(self, base_url: str, conn: Connection) -> None:
        self.conn = conn
        self.host = host_of(base_url)
        self.api = Mastodon(
            api_base_url=base_url,
            ratelimit_method="throw",
            request_timeout=conn.timeout,
            version_check_mode="none",
            user_agent=USER_AGENT,
            session=_HostBoundSession(self.host),
        )
        # Set afterwards: given to the constructor, a token naming an existing file would be
        # read as a path to a token file.
        self.api.access_token = conn.token
        self.api.session.hooks["response"].append(self._saw)
        self.budget = Budget(300, 300.0)
        self.paging_budget = Budget(300, 900.0)
        self.blocked_until: float | None = None  # by our clock: the server said wait
        self.retries = 0
        self.waited = 0.0

    def call(self, what: str, fn: Callable[[], T], *, paging: bool = False) -> T:
        """*fn*'s answer; ``ServiceAnswer`` for a definite 4xx; ``ServiceError`` (or
        ``RateLimited``) once retries are spent."""
        last = "no attempt"
        delay = 0.0  # backoff before the next attempt
        for attempt in range(self.conn.max_retries + 1):
            if attempt:
                self.retries += 1
            self._pace(paging, delay)
            try:
                return fn()
            except MastodonRatelimitError:
                last = "rate limited (429)"
                # The hook has set blocked_until when the answer said until when.
                delay = 0.0 if self.blocked_until is not None else _backoff_delay(attempt)
            except (MastodonServerError, MastodonNetworkError) as exc:
                last, delay = _mastodon_problem(exc), _backoff_delay(attempt)
            except MastodonAPIError as exc:
                status = _status(exc)
                if status is not None:
                    error = exc.args[3] if len(exc.args) > 3 else None
                    raise ServiceAnswer(status, {"error": error}) from None
                last, delay = "a malformed answer", _backoff_delay(attempt)  # truncated?
            except MastodonError as exc:
                raise ServiceError(SERVICE, f"{what}: {_mastodon_problem(exc)}") from None
        problem = f"{what}: still {last} after {self.conn.max_retries} retries"
        if last.startswith("rate limited"):
            raise RateLimited(SERVICE, problem, 429)
        raise ServiceError(SERVICE, problem)

    def _pace(self, paging: bool, delay: float) -> None:
        """Wait for the backoff, the server's reset and our own budgets, then count."""
        now = self._now()
        waits = [delay, self.budget.wait_time(now)]
        if paging:
            waits.append(self.paging_budget.wait_time(now))
        if self.blocked_until is not None:
            blocked, self.blocked_until = self.blocked_until - now, None
            if blocked > MAX_WAIT:  # asked to come back in hours: say so, do not sit silent
                raise too_long(SERVICE, self.host, blocked, self.conn.clock())
            waits.append(blocked)
        if max(waits) > 0:
            self._sleep(max(waits))
        now = self._now()
        self.budget.record(now)
        if paging:
            self.paging_budget.record(now)

    def _saw(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """requests' response hook: remember when the server says to stop until."""
        headers = httpx.Headers(list(response.headers.items()))
        remaining = (headers.get("x-ratelimit-remaining") or "").strip()
        if response.status_code != 429 and not (remaining.isdigit() and int(remaining) == 0):
            return
        wait = retry_after(headers, _server_time(headers) or self._now())
        if wait is not None and wait > 0:
            self.blocked_until = self._now() + wait

    def _now(self) -> float:
        return self.conn.clock().timestamp()

    def _sleep(self, seconds: float) -> None:
        seconds = max(0.0, min(seconds, MAX_WAIT))
        self.waited += seconds
        self.conn.sleep(seconds)


class _HostBoundSession(requests.Session):
    """requests, never sending the ``Authorization`` header to a host other than *host*
    (the server the client was made for), whatever URL a caller or a redirect names."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if host_of(request.url or "") != self.host:
            request.headers.pop("Authorization", None)
        return super().send(request, **kwargs)


def _address(ident: str) -> tuple[str, str]:
    """``@user@instance`` (the leading ``@`` optional) → (user, instance)."""
    user, _, domain = ident.strip().lstrip("@").partition("@")
    domain = domain.strip().lower().rstrip("/")
    if not user or not domain or "@" in domain or "/" in domain or " " in user + domain:
        raise InvalidInput(
            f"mastodon:{ident}: expected @user@instance, e.g. @brand@mastodon.social"
        )
    return user, domain


def _gone(key: str, exc: ServiceAnswer, now: datetime) -> Check | None:
    if exc.status == 404:
        detail = f"lookup: {_describe(exc)}: deleted, culled or defederated"
        return Check(Person(key), now, AccountState.NOT_FOUND, None, detail)
    if exc.status == 410:  # Mastodon 2.4 to 3.3 answered a suspended account this way
        return Check(Person(key), now, AccountState.SUSPENDED, None, "lookup: HTTP 410 Gone")
    return None  # refused for another reason: no evidence about the account


def _server_time(headers: httpx.Headers) -> float | None:
    """The answer's ``Date``: resets are read against the server's clock, not ours."""
    try:
        return parsedate_to_datetime(headers.get("date", "")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _backoff_delay(attempt: int) -> float:
    return float(min(60.0, 0.5 * 2.0**attempt))


def _status(exc: MastodonAPIError) -> int | None:
    """Mastodon.py raises ``(message, status, reason, error)`` for HTTP errors."""
    status = exc.args[1] if len(exc.args) > 1 else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _mastodon_problem(exc: MastodonError) -> str:
    if isinstance(exc, MastodonNetworkError):
        return "no answer (connection failed or timed out)"
    status = _status(exc) if isinstance(exc, MastodonAPIError) else None
    return f"server error {status}" if status else type(exc).__name__


def _describe(exc: ServiceError | ServiceAnswer) -> str:
    if isinstance(exc, ServiceError):
        return exc.problem
    error = exc.error
    return f"HTTP {exc.status} ({error})" if error else f"HTTP {exc.status}"
