"""Names, platform ids and post texts for the simulated brand and its audience.

Texts come from templates so that content features exist for analyses to find: links,
hashtags, discount codes and calls to action in promotional posts, near-duplicates in
repetitive ones, @-replies in dialogue.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt

Rng = np.random.Generator
Strs = npt.NDArray[np.object_]

BRAND = "Brand Coffee"
SHOP = "https://brand.example/shop"
BLOG = "https://brand.example/blog"

FIRST = (  # noqa: SIM905
    "alice ben chloe dan emma felix grace hugo iris jack kate leo maya noah olivia paul "
    "quinn rosa sam tara uma victor wendy xavier yara zoe aaron bella carlos dina elena "
    "farah george hana ivan jonas kira lucas mina nora omar priya rafael sara tomas "
    "ursula vera wei yusuf zara amir bea cyril daria eli fatima gus helga ines jules kofi "
    "lena"
).split()
LAST = (  # noqa: SIM905
    "adams baker chen diaz evans fischer garcia hughes ito jensen khan lopez martin "
    "nguyen okafor patel quinn rossi silva tanaka ueda varga weber xu yilmaz zhang abe "
    "brandt costa dubois eriksen ferrari gupta haas ivanova jovanovic kowalski lund "
    "moreau novak oliveira park ramos schmidt torres vogel walsh young zimmer"
).split()
BOT_WORDS = (  # noqa: SIM905
    "crypto promo deals follow4follow growth nft bonus airdrop winner gains"
).split()
INSTANCES = ("mastodon.example", "social.example", "toot.example", "fedi.example")
MAIL_DOMAINS = ("example.com", "example.org", "example.net")

_B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"  # atproto TID alphabet
_B32 = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))
_EPOCH = datetime(1970, 1, 1).toordinal()


def dids(rng: Rng, n: int) -> list[str]:
    """did:plc identifiers (24 base32 characters), vectorised."""
    codes = rng.integers(0, 32, size=(n, 24))
    chars = np.ascontiguousarray(_B32[codes])
    return ["did:plc:" + s for s in chars.view("<U24").ravel().tolist()]


def tid(unix_us: int, clock_id: int) -> str:
    """An atproto record key: 64 bits of (microseconds << 10 | clock id), base32-sortable."""
    value = (unix_us << 10) | (clock_id & 0x3FF)
    out = []
    for _ in range(13):
        out.append(_B32_SORT[value & 31])
        value >>= 5
    return "".join(reversed(out))


def snowflake(unix_us: int, seq: int) -> str:
    """A Mastodon-style status id: milliseconds << 16 plus a sequence."""
    return str(((unix_us // 1000) << 16) | (seq & 0xFFFF))


def hex_id(rng: Rng, length: int = 10) -> str:
    return "".join("0123456789abcdef"[i] for i in rng.integers(0, 16, size=length))


def people_names(rng: Rng, n: int) -> tuple[list[str], list[str]]:
    """Display names and slugs (``alicechen42``) for *n* people."""
    first = rng.integers(0, len(FIRST), size=n)
    last = rng.integers(0, len(LAST), size=n)
    num = rng.integers(1, 1000, size=n)
    names = [f"{FIRST[f].title()} {LAST[la].title()}" for f, la in zip(first, last, strict=True)]
    slugs = [f"{FIRST[f]}{LAST[la]}{k}" for f, la, k in zip(first, last, num, strict=True)]
    return names, slugs


def bot_slugs(rng: Rng, n: int) -> list[str]:
    words = rng.integers(0, len(BOT_WORDS), size=n)
    nums = rng.integers(10_000, 10_000_000, size=n)
    return [f"{BOT_WORDS[w]}{k}" for w, k in zip(words, nums, strict=True)]


# -- post texts --------------------------------------------------------------------------

_INFO = (
    "How to dial in a pour-over: {n} things we learned this week. {blog}/pour-over",
    "Why grind size matters more than the beans you buy — a short thread.",
    "New on the blog: {topic} explained, with a chart. {blog}/{slug}",
    "Water temperature for {topic}: we tested {n} settings so you don't have to.",
    "Our roaster on {topic}: what changes between a light and a dark roast.",
    "Storing coffee: {n} myths about the freezer, checked.",
    "Field notes from the farm visit: {topic}, harvest {n}, and what it means for your cup.",
)
_TOPICS = ("cold brew", "espresso", "AeroPress", "decaf", "single origins", "milk texture")
_PROMO = (
    "{pct}% off everything this weekend with code {code}! Shop now → {shop} #sale #coffee",
    "Don't miss out: buy 2 bags, get 1 free. Order today → {shop} #deal #coffeelover",
    "Last chance! Code {code} ends at midnight. Grab yours → {shop} #sale #limitedoffer",
    "Subscribe & save {pct}% on every delivery. Sign up now → {shop}/subscribe #coffee",
)
_REPEAT = (
    "Our {product} is back in stock! Grab yours before it's gone → {shop} #coffee #restock",
    "Reminder: our {product} is back in stock! Grab yours before it's gone → {shop} #restock",
    "ICYMI: the {product} is back in stock. Grab yours → {shop} #coffee #restock",
)
_PRODUCTS = ("Ethiopia Guji", "house blend", "holiday blend", "cold brew kit", "grinder")
_CHAT = (
    "Behind the scenes: packing day at the roastery. What should we roast next?",
    "Question for you: how do you take your coffee in the morning?",
    "Team lunch today. Somebody brought a moka pot and started a debate.",
    "We read every message — tell us what you'd like to see more of here.",
)
_REPOST = (
    "A lovely read on coffee farmers' cooperatives by our friends at the guild.",
    "This latte-art compilation made our day.",
    "Great guide to home espresso from a barista we admire.",
)
_REPLY = (
    "@{who} thank you so much, that made our day!",
    "@{who} great question — we use a 1:16 ratio for that one.",
    "@{who} sorry about that! DM us your order number and we'll fix it.",
    "@{who} glad you liked it! The next batch ships Monday.",
)
_MENTION = (
    "Loving my new bag from @{brand}",
    "@{brand} do you ship to Canada?",
    "@{brand} my order hasn't arrived yet, any news?",
    "Trying the cold brew kit from @{brand} this weekend",
)
_NEWSLETTER = (
    "This week at {brand}: {topic}, a new recipe and a farm update",
    "The {brand} letter: what we learned about {topic}",
    "{brand} weekly: {n} ways to brew {topic} at home",
)
_CAMPAIGN_PROMO = (
    "{pct}% OFF ends tonight — use code {code}",
    "Member sale: {pct}% off your next order",
    "Only a few bags left! Order now",
    "Still thinking about it? Your cart misses you",
)

CONTENT_KINDS = ("info", "promo", "repeat", "chat")


def post_text(rng: Rng, kind: str, code: str = "SAVE20", pct: int = 20) -> str:
    """A post of one content kind: info, promo, repeat, chat, repost, offer."""
    values = {
        "n": int(rng.integers(3, 12)),
        "topic": _TOPICS[int(rng.integers(len(_TOPICS)))],
        "slug": f"post-{int(rng.integers(100, 999))}",
        "product": _PRODUCTS[int(rng.integers(len(_PRODUCTS)))],
        "pct": pct,
        "code": code,
        "shop": SHOP,
        "blog": BLOG,
    }
    if kind == "offer":
        return (
            f"FLASH SALE: {pct}% off everything for a limited time only with code {code}! "
            f"Follow us so you don't miss the next one → {SHOP} #sale #flashsale #coffee"
        )
    table = {
        "info": _INFO,
        "promo": _PROMO,
        "repeat": _REPEAT,
        "chat": _CHAT,
        "repost": _REPOST,
    }[kind]
    return table[int(rng.integers(len(table)))].format(**values)


def reply_text(rng: Rng, who: str) -> str:
    return _REPLY[int(rng.integers(len(_REPLY)))].format(who=who)


def mention_text(rng: Rng, brand: str) -> str:
    return _MENTION[int(rng.integers(len(_MENTION)))].format(brand=brand)


def campaign_text(rng: Rng, kind: str, code: str, pct: int) -> str:
    """Subject line, a blank line, then the preview text."""
    values = {
        "brand": BRAND,
        "topic": _TOPICS[int(rng.integers(len(_TOPICS)))],
        "n": int(rng.integers(3, 8)),
        "pct": pct,
        "code": code,
    }
    if kind == "info":
        subject = _NEWSLETTER[int(rng.integers(len(_NEWSLETTER)))].format(**values)
        body = f"Read online: {BLOG}/letter"
    else:
        subject = _CAMPAIGN_PROMO[int(rng.integers(len(_CAMPAIGN_PROMO)))].format(**values)
        body = f"Shop now → {SHOP}?utm_source=email&utm_campaign={code.lower()}"
    return f"{subject}\n\n{body}"
