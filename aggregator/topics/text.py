"""Text preparation for topic matching: HTML to plain text, Unicode folding with an offset map,
sentence boundaries and per-source boilerplate.

Everything here is pure and fast on the common path (ASCII text without markup).

Folding
-------
Each character is folded on its own (so that offsets can be mapped back to the input):
NFKD compatibility decomposition, combining marks dropped (``é`` → ``e``, so ``esclerosis múltiple``
and ``esclerosis multiple`` are the same), typographic dashes, minus and soft variants mapped to ``-``
(``CAR‑T`` with U+2011, ``CAR–T`` with an en dash), exotic spaces to `` ``, curly quotes to straight
ones. This is NFKC plus accent folding. The *folded* text is then casefolded; the *cased* text keeps
case (for abbreviations such as ``MS``, which must not match ``ms``, milliseconds).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

__all__ = [
    "html_to_text",
    "Folded",
    "fold",
    "fold_term",
    "sentence_bounds",
    "split_sentences",
    "normalise_sentence",
    "find_boilerplate",
    "remove_boilerplate",
]

_DASHES = "\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2043"
_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_SPECIAL = {
    **{ord(c): "-" for c in _DASHES},
    **{ord(c): " " for c in _SPACES},
    ord("\u2018"): "'",
    ord("\u2019"): "'",
    ord("\u02bc"): "'",
    ord("\u201c"): '"',
    ord("\u201d"): '"',
    ord("\u200b"): "",  # zero-width space
    ord("\u200c"): "",
    ord("\u200d"): "",
    ord("\ufeff"): "",
}


def _fold_char(ch: str, casefold: bool) -> str:
    special = _SPECIAL.get(ord(ch))
    if special is not None:
        return special
    decomposed = unicodedata.normalize("NFKD", ch)
    out = "".join(c for c in decomposed if not unicodedata.combining(c))
    if casefold:
        out = out.casefold()
        # casefold can reintroduce combining marks (e.g. U+0130 → i + U+0307)
        out = "".join(c for c in out if not unicodedata.combining(c))
    # NFKD maps some dashes/spaces into others we normalise; apply once more.
    return "".join(_SPECIAL.get(ord(c), c) for c in out)


class _LazyTable(dict[int, str]):
    """A ``str.translate`` table filled on first use of each code point (translate runs in C)."""

    def __init__(self, casefold: bool) -> None:
        super().__init__()
        self.casefold = casefold

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key), self.casefold)
        self[key] = value
        return value


_FOLD = _LazyTable(casefold=True)
_CASED = _LazyTable(casefold=False)


# The typographic characters that fold to one ASCII character, the same in both foldings.
_SWAP, _KEEP, _OTHER = 0, 1, 2


class _KindTable(dict[int, tuple[int, str, str]]):
    """How a character outside ASCII folds, as ``(kind, cased, folded)``: ``_SWAP``, to one ASCII
    character (``é`` to ``e``, a curly quote to ``'``; the cased one lower-cases to the folded one);
    ``_KEEP``, to itself in both (CJK, most symbols); ``_OTHER``, anything else (``…`` to ``...``,
    ``ß`` to ``ss``), both padded to the same length with a character that matches nothing."""

    def __missing__(self, code: int) -> tuple[int, str, str]:
        ch = chr(code)
        f = _FOLD[code]
        c = _CASED[code]
        if len(c) == 1 and c.isascii() and c.lower() == f:
            value = (_SWAP, c, f)
        elif f == ch and c == ch:
            value = (_KEEP, ch, ch)
        else:
            n = max(len(f), len(c))
            value = (_OTHER, c.ljust(n, "\x00"), f.ljust(n, "\x00"))
        self[code] = value
        return value


_KINDS = _KindTable()


class Folded:
    """The two foldings of a plain text and, where needed, the map back to the plain text's offsets.

    ``folded`` and ``cased`` always have the same length (characters that casefold to several
    characters are padded), so one offset map serves both. The map is only built when first asked for
    (most items have no hit to quote).
    """

    __slots__ = ("plain", "_folded", "cased", "_map", "_shifted", "others", "lower_of_cased")

    def __init__(
        self,
        plain: str,
        folded: str | None,
        cased: str,
        offsets: list[int] | None,
        shifted: bool = False,
        others: frozenset[str] | set[str] | None = None,
    ) -> None:
        self.plain = plain
        # the distinct characters of `folded` outside ASCII, when known
        self.others = frozenset() if others is None and plain.isascii() else others
        # folded=None: `cased` is ASCII and the folded text is its lower case, made only if asked for. The
        # prefilter then matches on `cased` itself, ignoring case (the same for ASCII text), and most items
        # are done without a lower-cased copy.
        self.lower_of_cased = folded is None
        self._folded = folded
        self.cased = cased
        # offsets[i] = index in plain of folded[i]; offsets[len(folded)] = len(plain). None = identity, unless
        # `shifted`: then it is built on first use.
        self._map = offsets
        self._shifted = shifted or offsets is not None

    @property
    def folded(self) -> str:
        """The text lower-cased, accents dropped, punctuation unified (``fold``): what case-insensitive terms match."""
        if self._folded is None:
            self._folded = self.cased.lower()
        return self._folded

    @property
    def same_offsets(self) -> bool:
        """Whether an offset in the folded text is the same offset in the plain text."""
        return not self._shifted

    def offsets(self) -> list[int] | None:
        if self._map is None and self._shifted:
            self._map = offset_map(self.plain)
        return self._map

    def to_plain(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the folded text back to the plain text."""
        m = self.offsets()
        if m is None:
            return start, end
        p_start = m[start]
        p_end = m[end] if end < len(m) else len(self.plain)
        # end maps to the first plain char *after* the span; if several folded chars come from one
        # plain char, extend to cover that whole char
        if end > 0 and m[end - 1] >= p_end:
            p_end = m[end - 1] + 1
        return p_start, max(p_end, p_start)


_ASCII_BYTES = bytes(range(128))


def non_ascii_chars(text: str) -> set[str]:
    """The distinct characters of ``text`` outside ASCII, in C: the UTF-8 with its ASCII bytes deleted.
    (``surrogatepass``: a lone surrogate, which JSON can carry, is a character like any other here.)"""
    return set(text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))


def fold(plain: str) -> Folded:
    """Fold ``plain`` (already free of HTML) for matching; in C but for a look-up per distinct character.

    ASCII is lower-cased (kept as it is for the cased folding). Each distinct other character is
    replaced everywhere at once (``str.replace``): by one ASCII character (accents, curly quotes,
    dashes), by itself (Chinese), or by several ("…" to "...", "ß" to "ss"), both foldings then padded to
    the same length, with the offset map back to the plain text built only when first needed.
    """
    if plain.isascii():
        return Folded(plain, None, plain, None)
    others = non_ascii_chars(plain)
    simple = plain
    rest: list[tuple[str, str, str]] = []
    kept: set[str] = set()  # the characters outside ASCII left in the folded text
    for ch in others:
        kind, c, f = _KINDS[ord(ch)]
        if kind == _SWAP:
            simple = simple.replace(ch, c)
        elif kind == _KEEP:
            kept.add(ch)
        else:
            rest.append((ch, c, f))
    if not rest:
        if simple.isascii():  # plain, not simple: hits quote the text as it was
            return Folded(plain, None, simple, None, others=kept)
        return Folded(plain, _lower_ascii(simple), simple, None, others=kept)
    folded = cased = simple
    for ch, c, f in rest:
        # exact as long as what a character turns into is left alone by every other replacement
        inserted = {x for x in c + f if not x.isascii() and x != ch}
        if (
            len(rest) > 12
            or not inserted.isdisjoint(others)
            or any(_KINDS[ord(x)][0] != _KEEP for x in inserted)
        ):
            folded, cased, offsets = _fold_per_char(plain)
            return Folded(plain, folded, cased, offsets)
        folded = folded.replace(ch, f)
        cased = cased.replace(ch, c)
        kept.update(x for x in f if not x.isascii())
    shifted = any(len(c) != 1 for _, c, _ in rest)
    return Folded(plain, _lower_ascii(folded), cased, None, shifted, kept)


def _lower_ascii(text: str) -> str:
    """``text`` with A-Z lower-cased and nothing else touched (bytes.lower is ASCII-only, and fast)."""
    if text.isascii():
        return text.lower()
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")  # lone ones stay


def offset_map(plain: str) -> list[int]:
    """The offset map of ``_fold_per_char`` (folded index → plain index) without folding character by character.

    Only the characters that fold to other than one character ("…" to three, "ß" to two, a zero-width space to
    none) move offsets; they are few, so the map is ranges between their positions. A Python loop over every
    character took 6 ms for an article of 8 kB with one "…" and a hit to quote: most of the classifier's time
    on items of real feeds (docs/benchmark.md, finding 8)."""
    widths: dict[str, int] = {}
    for ch in set(plain):
        n = max(len(_FOLD[ord(ch)]), len(_CASED[ord(ch)]))
        if n != 1:
            widths[ch] = n
    if not widths:
        return list(range(len(plain) + 1))
    positions: list[int] = []
    for ch in widths:
        i = plain.find(ch)
        while i >= 0:
            positions.append(i)
            i = plain.find(ch, i + 1)
    positions.sort()
    offsets: list[int] = []
    start = 0
    for i in positions:
        offsets.extend(range(start, i))
        offsets.extend([i] * widths[plain[i]])
        start = i + 1
    offsets.extend(range(start, len(plain) + 1))
    return offsets


def _fold_per_char(plain: str) -> tuple[str, str, list[int]]:
    """Both foldings one character at a time, with the offset map: the reference, and the rare fallback."""
    folded_parts: list[str] = []
    cased_parts: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(plain):
        f = _FOLD[ord(ch)]
        c = _CASED[ord(ch)]
        n = max(len(f), len(c))
        folded_parts.append(f.ljust(n, "\x00"))
        cased_parts.append(c.ljust(n, "\x00"))
        offsets.extend([i] * n)
    offsets.append(len(plain))
    return "".join(folded_parts), "".join(cased_parts), offsets


def fold_term(term: str, casefold: bool) -> str:
    """Fold a rule's term the same way as the text it will be matched against."""
    table = _FOLD if casefold else _CASED
    return term.translate(table)


# --- HTML -----------------------------------------------------------------------------------

_BLOCK_TAGS = (
    "p|div|br|hr|li|ul|ol|h[1-6]|tr|td|th|table|section|article|header|footer|blockquote|pre|dd|dt|dl"
    "|figcaption|figure|title"
)
_DROP_RE = re.compile(r"<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_COMMENT_RE = re.compile(r"<!--.*?-->|<!\[CDATA\[|\]\]>", re.S)
_BLOCK_RE = re.compile(rf"</?(?:{_BLOCK_TAGS})\b[^>]*>", re.I)
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>|<![^<>]*>")
_MULTI_NL = re.compile(r"[ \t]*\n[\s]*")


def html_to_text(s: str) -> str:
    """Strip tags (block tags become line breaks, inline tags vanish) and decode entities.

    Text without ``<`` or ``&`` is returned unchanged. Never raises.
    """
    if "<" not in s and "&" not in s:
        return s
    if "<" in s:
        s = _DROP_RE.sub(" ", s)
        s = _COMMENT_RE.sub(" ", s)
        s = _BLOCK_RE.sub("\n", s)
        s = _TAG_RE.sub("", s)
        s = _MULTI_NL.sub("\n", s)
    if "&" in s:
        # decoded after stripping so that an escaped "&lt;b&gt;" stays text
        s = html.unescape(s)
    return s.strip()


# --- sentences and boilerplate --------------------------------------------------------------

_SENT_SPLIT = re.compile(r"(?<=[.!?;:。！？；])\s+|(?<=[。！？；])|\n+")
SENT_END = re.compile(r"[.!?;。！？；](?:\s|$)|\n|\x00")


def sentence_bounds(text: str, start: int, end: int) -> list[int]:
    """Offsets in ``text[start:end]`` where a new sentence starts (always includes ``start``)."""
    bounds = [start]
    for m in SENT_END.finditer(text, start, end):
        bounds.append(m.end())
    return bounds


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_SPLIT.split(text) if s and s.strip()]


_WS = re.compile(r"\s+")


def normalise_sentence(s: str) -> str:
    """The key under which sentences are compared for boilerplate: folded, single-spaced."""
    return _WS.sub(" ", fold(s).folded).strip(" .")


def find_boilerplate(texts: list[str], min_share: float = 0.6, min_items: int = 3, min_chars: int = 20) -> set[str]:
    """Sentences repeated in most items of one source (a footer, a society's tagline).

    ``texts`` are the items of one source (title + summary + content joined, HTML allowed).
    A sentence is boilerplate when it occurs in at least ``min_share`` of the items and in at
    least ``min_items`` items, and has at least ``min_chars`` characters (short sentences such as
    "Read more." are harmless and too easily shared by chance). Returns the sentences as they first
    appeared; pass them as ``Document.boilerplate``. Pure, never raises on odd input.
    """
    if len(texts) < min_items:
        return set()
    counts: Counter[str] = Counter()
    first_seen: dict[str, str] = {}
    for text in texts:
        seen_here: set[str] = set()
        for sentence in split_sentences(html_to_text(text or "")):
            if len(sentence) < min_chars:
                continue
            key = normalise_sentence(sentence)
            if key in seen_here:
                continue
            seen_here.add(key)
            counts[key] += 1
            first_seen.setdefault(key, sentence)
    needed = max(min_items, min_share * len(texts))
    return {first_seen[key] for key, n in counts.items() if n >= needed}


def remove_boilerplate(text: str, boilerplate_keys: Iterable[str]) -> str:
    """Drop sentences of ``text`` whose normalised form is one of ``boilerplate_keys``."""
    keys = boilerplate_keys if isinstance(boilerplate_keys, (set, frozenset)) else set(boilerplate_keys)
    if not keys or not text:
        return text
    kept: list[str] = []
    changed = False
    for part in re.split(r"((?<=[.!?;:。！？；])\s+|(?<=[。！？；])|\n+)", text):
        if part and not part.isspace() and normalise_sentence(part) in keys:
            changed = True
            kept.append(" ")
        else:
            kept.append(part)
    return "".join(kept) if changed else text
