"""Bluesky through an AppView's public XRPC API (no login): ``bsky:handle`` or ``bsky:did``.

One poll reads the profile (identity and counts), every page of followers and follows, the
most recent pages of the author feed, who liked and reposted the newest posts, and the
follow record key of each follower (what turns a firehose delete into an unfollow).

Reliability rules:

* A page that fails after the client's retries never raises: the snapshot is kept but
  marked partial, with a note naming the page, so tracking never reads it as departures.
  A cursor that comes back twice, or paging far beyond the reported count, ends it the
  same way.
* Paging is keyset-based on the AppView (a cursor is a position, not an offset), so an
  unfollow during paging shifts no page and nobody else is skipped. A follow made during
  paging lands on the first page, already read, and shows up next poll; a re-follow whose
  record is backdated can sort into a later page, so people are de-duplicated. Everyone in
  a snapshot thus followed when paging began, the time the snapshot is stamped with.
  Someone leaving during paging is either still listed (their page was read: the next
  poll sees them go) or absent (it was not: their window ends at paging start, early by
  at most the paging time).
* Re-checks never guess: getProfile's error names (``AccountDeactivated``,
  ``AccountTakedown``) say why an account is gone; "Profile not found" stays ``not_found``.

Follow records are looked up for every follower not in :attr:`BskyTracker.known_records`
(newest followers first, at most :attr:`BskyTracker.record_limit` per poll): 30 per
request, so 3,000 followers cost 100 of the 3,000 requests the AppView allows per five
minutes. Whoever drives the tracker can fill ``known_records`` from the store to skip
people already resolved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import ServiceError
from ..models import (
    AccountState,
    Batch,
    Check,
    Direction,
    FollowRecord,
    Interaction,
    InteractionKind,
    Person,
    Post,
    PostKind,
    Profile,
    Snapshot,
)
from . import register
from ._bsky_parse import (
    PUBLIC_APPVIEW,
    Relationship,
    feed_post,
    follow_record,
    items,
    like,
    person,
    profile,
    relationships,
)
from .base import Connection, Progress, Tracker, no_progress
from .http import Budget, JsonClient, ServiceAnswer

SERVICE = "bsky AppView"
# getProfile's error names for accounts that exist but are not served (app.bsky.actor).
_GONE = {
    "AccountDeactivated": AccountState.DEACTIVATED,
    "AccountTakedown": AccountState.SUSPENDED,
}
PAGE = 100  # the lexicons' maximum limit for followers, follows, feeds, likes, reposts
PROFILES_PER_CALL = 25  # app.bsky.actor.getProfiles: actors maxLength
OTHERS_PER_CALL = 30  # app.bsky.graph.getRelationships: others maxLength


@dataclass
class _Paging:
    """How a cursor walk ended: the service said there was no more, or a problem."""

    pages: int = 0
    ended: bool = False
    problem: str | None = None


@register
class BskyTracker(Tracker):
    scheme = "bsky"
    platform = "bsky"
    summary = "Bluesky via the public AppView: followers, follows, posts, likes, reposts"
    default_base_url = PUBLIC_APPVIEW

    feed_pages = 2  # recent author-feed pages read per poll
    engaged_posts = 10  # newest own posts whose likes and reposts are read
    engagement_pages = 2  # pages of likers / reposters per post
    record_limit = 3000  # followers whose follow record is resolved per poll

    def __init__(self, ident: str, conn: Connection) -> None:
        super().__init__(ident.strip().lstrip("@"), conn)
        # The AppView's published limit; the client waits rather than discover it.
        self.client = JsonClient(
            SERVICE, conn.base_url or PUBLIC_APPVIEW, conn, Budget(3000, 300.0)
        )
        self._did: str | None = self.ident if self.ident.startswith("did:") else None

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self, progress: Progress = no_progress) -> Batch:
        started = self.conn.clock()
        profile = self._profile(self.ident)
        me = person(profile)
        if me is None:
            raise ServiceError(SERVICE, f"getProfile {self.ident!r}: answer has no DID")
        self._did = me.external_id
        notes: list[str] = []
        self._profiles: dict[str, Profile] = {}  # what each listed person's view showed
        followers, people = self._graph(
            "getFollowers", Direction.FOLLOWERS, _count(profile, "followersCount"), notes, progress
        )
        follows, _ = self._graph(
            "getFollows", Direction.FOLLOWING, _count(profile, "followsCount"), notes, progress
        )
        posts = self._posts(notes)
        return Batch(
            source="bsky",
            platform=self.platform,
            source_ref=f"bsky:{me.external_id}:{started.isoformat()}",
            account_identity=me.external_id,
            account_handle=me.handle,
            observed_at=started,
            snapshots=[followers, follows],
            posts=posts,
            interactions=self._engagement(posts, notes, progress),
            follow_records=self._follow_records(people, notes, progress),
            profiles=list(self._profiles.values()),
            notes=notes,
        )

    def _profile(self, actor: str) -> Any:
        try:
            body, _ = self.client.get("app.bsky.actor.getProfile", {"actor": actor})
        except ServiceAnswer as exc:
            raise ServiceError(
                SERVICE, f"getProfile {actor!r}: {_answer(exc)}", exc.status
            ) from None
        return body

    def _graph(
        self,
        method: str,
        direction: Direction,
        reported: int | None,
        notes: list[str],
        progress: Progress,
    ) -> tuple[Snapshot, list[Person]]:
        """Every page of followers (or follows), newest first, as one snapshot."""
        key = "followers" if direction == Direction.FOLLOWERS else "follows"
        at = self.conn.clock()
        seen: dict[str, Person] = {}
        paging = _Paging()
        # Generous, but bounded: a service that never stops paging cannot hold us forever.
        limit = 2 * ((reported or 0) // PAGE) + 20
        params = {"actor": self._did, "limit": PAGE}
        for body in self._pages(f"app.bsky.graph.{method}", params, limit, paging):
            page = items(body, key)
            if page is None:
                paging.problem = f"page {paging.pages} has no {key!r} list"
                break
            for view in page:
                p = person(view)
                if p is not None:
                    seen.setdefault(p.external_id, p)  # a re-follow mid-paging: keep one
                    if (prof := profile(view, at)) is not None:
                        self._profiles.setdefault(p.external_id, prof)
            progress(key, len(seen), reported)
        complete = paging.ended and paging.problem is None
        if not complete:
            why = paging.problem or f"stopped after {paging.pages} pages"
            notes.append(
                f"{direction} of {self._did}: {why}; kept {len(seen)} as a partial snapshot "
                "(not used to detect departures)"
            )
        people = list(seen.values())
        snapshot = Snapshot.of(direction, at, people, complete=complete, reported_count=reported)
        return snapshot, people

    def _posts(self, notes: list[str]) -> list[Post]:
        now = self.conn.clock()
        posts: dict[str, Post] = {}
        paging = _Paging()
        params = {"actor": self._did, "limit": PAGE, "filter": "posts_with_replies"}
        for body in self._pages("app.bsky.feed.getAuthorFeed", params, self.feed_pages, paging):
            for item in items(body, "feed") or []:
                post = feed_post(item, self._did or "", now)
                if post is not None:
                    posts.setdefault(post.external_id, post)
        if paging.problem:
            notes.append(f"author feed: {paging.problem}; later posts wait for the next poll")
        return list(posts.values())

    def _engagement(
        self, posts: list[Post], notes: list[str], progress: Progress
    ) -> list[Interaction]:
        now = self.conn.clock()
        own = [p for p in posts if p.kind != PostKind.REPOST][: self.engaged_posts]
        found: list[Interaction] = []
        for n, post in enumerate(own, 1):
            query = {"uri": post.external_id, "limit": PAGE}
            # A post the AppView counts no likes (reposts) for costs no request for them.
            if post.metrics.get("likes", 1) > 0:
                paging = _Paging()
                for body in self._pages(
                    "app.bsky.feed.getLikes", query, self.engagement_pages, paging
                ):
                    found += [
                        i
                        for e in items(body, "likes") or []
                        if (i := like(e, post.external_id, now))
                    ]
                if paging.problem:
                    notes.append(f"likes of {post.external_id}: {paging.problem}")
            if post.metrics.get("reposts", 1) > 0:
                paging = _Paging()
                for body in self._pages(
                    "app.bsky.feed.getRepostedBy", query, self.engagement_pages, paging
                ):
                    # getRepostedBy gives no time: the post's own time is a stable lower
                    # bound, so the same repost seen by every poll is stored once.
                    found += [
                        Interaction(p, InteractionKind.REPOST, post.created_at, post.external_id)
                        for v in items(body, "repostedBy") or []
                        if (p := person(v)) is not None
                    ]
                if paging.problem:
                    notes.append(f"reposts of {post.external_id}: {paging.problem}")
            progress("engagement", n, len(own))
        return [i for i in found if i.person.external_id != self._did]

    def _follow_records(
        self, followers: list[Person], notes: list[str], progress: Progress
    ) -> list[FollowRecord]:
        now = self.conn.clock()
        todo = [p for p in followers if p.external_id not in self.known_records]
        if len(todo) > self.record_limit:
            notes.append(
                f"follow records: resolved the newest {self.record_limit} of {len(todo)} "
                "followers without one; the rest on later polls"
            )
            todo = todo[: self.record_limit]
        records: list[FollowRecord] = []
        for start in range(0, len(todo), OTHERS_PER_CALL):
            chunk = todo[start : start + OTHERS_PER_CALL]
            try:
                rels = self._relationships([p.external_id for p in chunk])
            except (ServiceError, ServiceAnswer) as exc:
                notes.append(f"follow records: stopped after {start} followers: {_describe(exc)}")
                break
            records += [r for p in chunk if (r := follow_record(p, rels.get(p.external_id), now))]
            progress("follow records", start + len(chunk), len(todo))
        return records

    # -- recheck -------------------------------------------------------------------------

    def recheck(self, external_ids: Sequence[str], progress: Progress = no_progress) -> list[Check]:
        """Why each departed person is gone: still there but not following, following
        again, blocking, or their account deactivated, taken down or not found. Anyone a
        request failed for gets no check and is asked again next poll."""
        if self._did is None:
            me = person(self._profile(self.ident))
            if me is None:
                raise ServiceError(SERVICE, f"getProfile {self.ident!r}: answer has no DID")
            self._did = me.external_id
        now = self.conn.clock()
        dids = list(dict.fromkeys(d for d in external_ids if d.startswith("did:")))
        present: dict[str, tuple[Person, bool]] = {}  # did -> (person, viewer blocked by)
        checks: list[Check] = []
        for start in range(0, len(dids), PROFILES_PER_CALL):
            chunk = dids[start : start + PROFILES_PER_CALL]
            try:
                body, _ = self.client.get(
                    "app.bsky.actor.getProfiles", [("actors", d) for d in chunk]
                )
            except (ServiceError, ServiceAnswer):
                continue  # unknown this time; they stay pending
            for view in items(body, "profiles") or []:
                p = person(view)
                if p is not None and p.external_id in chunk:
                    present[p.external_id] = (p, _viewer_blocked_by(view))
            # getProfiles silently drops accounts that are gone; getProfile says why.
            for did in chunk:
                if did not in present:
                    self._why_gone(did, now, present, checks)
            progress("re-check", min(start + PROFILES_PER_CALL, len(dids)), len(dids))
        checks += self._still_following(present, now)
        return checks

    def _why_gone(
        self,
        did: str,
        now: datetime,
        present: dict[str, tuple[Person, bool]],
        checks: list[Check],
    ) -> None:
        try:
            body, _ = self.client.get("app.bsky.actor.getProfile", {"actor": did})
        except ServiceError:
            return
        except ServiceAnswer as exc:
            state = _GONE.get(exc.error or "")
            if state is None and "not found" in _answer(exc).lower():
                state = AccountState.NOT_FOUND  # deleted, or never indexed: says not why
            if state is not None:
                # Whether a vanished account still has a follow record is moot: not asked.
                checks.append(Check(Person(did), now, state, None, f"getProfile: {_answer(exc)}"))
            return  # any other refusal explains nothing: no check, asked again next poll
        p = person(body)
        if p is not None and p.external_id == did:
            present[did] = (p, _viewer_blocked_by(body))  # back between the two calls

    def _still_following(
        self, present: dict[str, tuple[Person, bool]], now: datetime
    ) -> list[Check]:
        checks: list[Check] = []
        dids = list(present)
        for start in range(0, len(dids), OTHERS_PER_CALL):
            chunk = dids[start : start + OTHERS_PER_CALL]
            try:
                rels = self._relationships(chunk)
            except (ServiceError, ServiceAnswer):
                continue
            for did in chunk:
                who, viewer_blocked = present[did]
                rel = rels.get(did)
                if rel is None or not rel.found:
                    continue  # the profile exists but the graph does not know it: ask later
                if rel.blocked_by or viewer_blocked:
                    checks.append(
                        Check(who, now, AccountState.BLOCKED, False, "they block the account")
                    )
                elif rel.blocking:
                    checks.append(
                        Check(who, now, AccountState.BLOCKED, False, "the account blocks them")
                    )
                elif rel.followed_by:
                    checks.append(
                        Check(who, now, AccountState.ACTIVE, True, f"follows: {rel.followed_by}")
                    )
                else:
                    checks.append(
                        Check(who, now, AccountState.ACTIVE, False, "active, no follow record")
                    )
        return checks

    # -- plumbing ------------------------------------------------------------------------

    def _relationships(self, others: list[str]) -> dict[str, Relationship]:
        params = [("actor", self._did), *(("others", d) for d in others)]
        body, _ = self.client.get("app.bsky.graph.getRelationships", params)
        return relationships(body)

    def _pages(
        self, method: str, params: Mapping[str, Any], max_pages: int, paging: _Paging
    ) -> Iterator[Any]:
        """Each page of a cursor walk, until no cursor, a failure, a repeat or the cap.
        Never raises for the service: *paging* says how the walk ended."""
        cursor: str | None = None
        seen: set[str] = set()
        while paging.pages < max_pages:
            query = dict(params) if cursor is None else {**params, "cursor": cursor}
            try:
                body, _ = self.client.get(method, query)
            except (ServiceError, ServiceAnswer) as exc:
                paging.problem = f"page {paging.pages + 1} failed: {_describe(exc)}"
                return
            paging.pages += 1
            if not isinstance(body, dict):
                paging.problem = f"page {paging.pages} is not a JSON object"
                return
            yield body
            nxt = body.get("cursor")
            if not isinstance(nxt, str) or not nxt:
                paging.ended = True
                return
            if nxt in seen:
                paging.problem = f"the cursor after page {paging.pages} repeats an earlier one"
                return
            seen.add(nxt)
            cursor = nxt


def _count(profile: Any, key: str) -> int | None:
    value = profile.get(key) if isinstance(profile, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _viewer_blocked_by(view: Any) -> bool:
    """With a token, the profile's viewer state says whether they block the viewer."""
    viewer = view.get("viewer") if isinstance(view, dict) else None
    return isinstance(viewer, dict) and viewer.get("blockedBy") is True


def _answer(exc: ServiceAnswer) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message")
    name = exc.error or f"HTTP {exc.status}"
    return f"{name} ({message})" if isinstance(message, str) and message else name


def _describe(exc: ServiceError | ServiceAnswer) -> str:
    return _answer(exc) if isinstance(exc, ServiceAnswer) else exc.problem
