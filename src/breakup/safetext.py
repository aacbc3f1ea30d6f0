"""Attacker-controlled text (every name, bio and post text) made safe where it is shown.

**CSV cells** a spreadsheet will not run as formulas (:func:`neutralize`). A text cell is
prefixed with a single
quote (shown as text) when it starts with ``= + - @`` or a form of them a spreadsheet also
takes: full-width and small forms (``＝ ＋ － ＠ ﹦ …``, read as the ASCII ones in East Asian
locales; anything NFKC maps to them) and U+2212 MINUS SIGN; or when it starts with any
blank, line break or invisible character (space, tab, CR, LF, NBSP, ideographic space,
zero-width and bidi controls, BOM), since importers trim those and read what follows.

**Bidi controls** are removed from whatever is displayed — terminal, HTML report,
dashboard, digest (:func:`strip_bidi`, :func:`display_text`): the embeddings and overrides
U+202A-U+202E and the isolates U+2066-U+2069. An override such as U+202E turns
``evil\u202egnp.exe`` into "evilexe.png" on screen, and an unterminated one reverses the
text after the name too (the next column, the rest of the line). They are removed rather
than wrapped in isolates: they are invisible, so nothing the reader could see is lost;
terminals honour isolates unevenly (most show nothing, some a box); and a name's own
right-to-left letters are still laid out by the Unicode bidi algorithm. The store, JSON and
Parquet keep the name exactly as it was seen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # the classic list (OWASP), all covered
FORMULA_CHARS = frozenset("=+-@\u2212")
BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})  # controls, format, spaces


def formula_like(text: str) -> bool:
    """Whether a spreadsheet might read *text* as a formula."""
    if not text:
        return False
    first = text[0]
    if first.isspace() or unicodedata.category(first) in BLANK_CATEGORIES:
        return True
    return first in FORMULA_CHARS or unicodedata.normalize("NFKC", first)[:1] in FORMULA_CHARS


def neutralize(value: Any) -> Any:
    """A CSV cell that cannot run as a formula: text starting like one gets a leading '.
    Anything that is not text (numbers, None) is returned as it is."""
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


BIDI_CONTROLS = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_NO_BIDI = str.maketrans(dict.fromkeys(BIDI_CONTROLS))
# The same characters \u-escaped in JSON text (an even number of backslashes before them,
# so a name that *spells* "\u202e" is left alone).
_ESCAPED_BIDI = re.compile(r"(?<!\\)((?:\\\\)*)\\u(?:202[a-eA-E]|206[6-9])")


def strip_bidi(text: str) -> str:
    """*text* without bidi embedding, override and isolate controls."""
    return text.translate(_NO_BIDI)


def strip_bidi_json(text: str) -> str:
    """JSON text without the bidi controls, whether raw or ``\\u``-escaped."""
    return _ESCAPED_BIDI.sub(r"\1", strip_bidi(text))


def display_text(value: Any) -> Any:
    """Jinja ``finalize``: every string a template prints, without bidi controls (markup
    stays markup; anything else is unchanged)."""
    return value.translate(_NO_BIDI) if isinstance(value, str) else value


class SafeConsole(Console):
    """A rich Console whose output, whatever renders it (tables, progress, markup), never
    carries bidi controls: the CLI's console for the terminal."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return strip_bidi(super()._render_buffer(buffer))
