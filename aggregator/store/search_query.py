"""The search box's syntax → a small query tree → an SQLite FTS5 MATCH string or a PostgreSQL tsquery. Pure.

Syntax (what researchers type, as on most search engines): words (all must match; stemmed, so "relapse" finds
"relapsing"), ``"exact phrases"``, ``-excluded`` words or phrases, ``OR`` between two terms, ``prefix*``, and
identifiers as people write them: ``KYV-101``, ``KYV101`` and ``KYV 101`` all find "KYV-101"; ``miv-cel`` finds
"miv-cel" and "mivcel"; DOIs (``10.1212/WNL.0000000000209876``), NCT ids and PMIDs are phrases of their pieces.

Why a tree and two renderers rather than handing the text to the engine: FTS5's own syntax raises on an
unbalanced quote, a bare ``*`` or ``NEAR(``, and ``websearch_to_tsquery`` cannot say "this word, or these two
words in a row" (an identifier's variants) next to other words without operator-precedence surprises. Here every
user word ends up as a quoted FTS5 string, or as a bind parameter of a PostgreSQL function, so no input is
ever syntax: hostile input (10,000 characters, NUL, stray operators) gives a tree or nothing, never an error.

Both engines see the same pieces: the FTS5 tokenizer (``unicode61``) splits on everything but letters and digits,
and the PostgreSQL index normalises the text the same way before ``to_tsvector`` (migration 0011). A piece is a
run of letters and digits (``[^\\W_]+``), lower-cased.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 500  # the form allows 200; anything longer is cut here, never rejected
MAX_TERMS = 12
MIN_PREFIX = 2  # "k*" would expand to half the vocabulary

# Identifier labels: "PMID 39612345", "doi:10.1212/…" search for the identifier (the columns hold it unlabelled).
_LABELS = frozenset({"pmid", "doi"})

_PIECE = re.compile(r"[^\W_]+")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")  # kyv|101, 3|t
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')  # -"phrase", "phrase (unbalanced: to the end), or a bare word


@dataclass(frozen=True)
class Term:
    """One piece; ``prefix``: any word beginning with it."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    """Pieces in a row (two or more)."""

    pieces: tuple[str, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one of: OR typed by the reader, or the spellings of one identifier."""

    options: tuple[Node, ...]


Node = Term | Phrase | AnyOf


@dataclass(frozen=True)
class SearchQuery:
    """All of ``must``, none of ``exclude``. Empty ``must``: the query asks for nothing searchable."""

    must: tuple[Node, ...] = ()
    exclude: tuple[Node, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must)


def fold_table() -> tuple[str, str]:
    """Latin letters with diacritics (U+00C0–U+024F) and their base letters: what the PostgreSQL index folds with
    ``translate()`` (migration 0011 computes the same table; FTS5's ``remove_diacritics 2`` folds on its own)."""
    source, target = [], []
    for code in range(0xC0, 0x250):
        char = chr(code)
        parts = unicodedata.normalize("NFKD", char)
        if (len(parts) > 1 and parts[0].isascii() and parts[0].isalpha()
                and all(unicodedata.combining(mark) for mark in parts[1:])):
            source.append(char)
            target.append(parts[0])
    return "".join(source), "".join(target)


_FOLD = str.maketrans(*fold_table())


def pieces(text: str) -> list[str]:
    return [piece.translate(_FOLD).lower() for piece in _PIECE.findall(text)]


def _word(raw: str) -> Node | None:
    """One typed word → a node: a term, a prefix, or an identifier's spellings."""
    prefix = raw.endswith("*")
    found = pieces(raw)
    if len(found) > 1 and found[0] in _LABELS:
        found = found[1:]
    if not found:
        return None
    if len(found) == 1:
        piece = found[0]
        if prefix and len(piece) >= MIN_PREFIX:
            return Term(piece, prefix=True)
        split = [part for part in _LETTER_DIGIT.split(piece) if part]
        if len(split) > 1 and len(split) <= 4:  # KYV101 also finds "KYV-101" and "KYV 101"
            return AnyOf((Term(piece), Phrase(tuple(split))))
        return Term(piece)
    phrase = Phrase(tuple(found))
    if len(found) <= 3:  # miv-cel also finds "mivcel"; a DOI's pieces joined would only be noise
        return AnyOf((phrase, Term("".join(found))))
    return phrase


def _phrase(text: str) -> Node | None:
    found = pieces(text)
    if not found:
        return None
    return Term(found[0]) if len(found) == 1 else Phrase(tuple(found))


def parse(text: str) -> SearchQuery:
    """The reader's text → a SearchQuery. Never raises; what cannot be searched is dropped."""
    text = text[:MAX_QUERY_CHARS].replace("\x00", " ")
    must: list[Node] = []
    exclude: list[Node] = []
    pending_or = False
    for match in _TOKEN.finditer(text):
        negated = bool(match.group(1))
        if match.group(3) is not None:
            raw = match.group(3)
            if raw == "OR":
                pending_or = bool(must)
                continue
            if raw.startswith("-") and len(raw) > 1:
                negated, raw = True, raw[1:]
            node = _word(raw)
        else:
            node = _phrase(match.group(2))
        if node is None:
            continue
        if negated:
            exclude.append(node)
            pending_or = False
        elif pending_or and must:
            last = must.pop()
            previous = last.options if isinstance(last, AnyOf) and _typed_or(last) else (last,)
            must.append(_Or(previous + (node,)))
            pending_or = False
        else:
            must.append(node)
    must = _join_code_pairs(must)
    limited = [_plain(node) for node in must[:MAX_TERMS]]
    return SearchQuery(tuple(limited), tuple(_plain(node) for node in exclude[:MAX_TERMS]))


def _join_code_pairs(nodes: list[Node]) -> list[Node]:
    """``KYV 101`` typed as two words also finds "KYV101": a short word of letters followed by a number.
    ``PMID 39612345``: the label is dropped (the identifier alone is searched)."""
    out: list[Node] = []
    for node in nodes:
        last = out[-1] if out else None
        if (isinstance(node, Term) and not node.prefix and node.text.isdigit() and isinstance(last, Term)
                and not last.prefix and last.text.isalpha()):
            if last.text in _LABELS:
                out[-1] = node
                continue
            if len(last.text) <= 4:  # KYV, NCT, ABBV; not "phase 2"
                out[-1] = AnyOf((Phrase((last.text, node.text)), Term(last.text + node.text)))
                continue
        out.append(node)
    return out


class _Or(AnyOf):
    """An OR the reader typed (so ``a OR b OR c`` is one flat AnyOf); becomes a plain AnyOf at the end."""


def _typed_or(node: AnyOf) -> bool:
    return isinstance(node, _Or)


def _plain(node: Node) -> Node:
    return AnyOf(node.options) if isinstance(node, _Or) else node


# ------------------------------------------------------------------------------------------------ SQLite FTS5


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'  # pieces hold no quote; the doubling is belt and braces


def _fts_node(node: Node) -> str:
    if isinstance(node, Term):
        return _fts_string(node.text) + (" *" if node.prefix else "")
    if isinstance(node, Phrase):
        return _fts_string(" ".join(node.pieces))
    return "(" + " OR ".join(_fts_node(option) for option in node.options) + ")"


def to_fts5(query: SearchQuery) -> str | None:
    """The FTS5 MATCH expression, or None when nothing is searchable. Every piece is a quoted string."""
    if not query.must:
        return None
    text = "(" + " AND ".join(_fts_node(node) for node in query.must) + ")"
    for node in query.exclude:
        text += " NOT " + _fts_node(node)
    return text


# ------------------------------------------------------------------------------------------------ PostgreSQL


@dataclass(frozen=True)
class TsPart:
    """A tsquery built by PostgreSQL from a bind parameter: ``function('english', text)``."""

    function: str  # "plainto_tsquery", "phraseto_tsquery" or "to_tsquery" (prefix only: text is "'piece':*")
    text: str


TsNode = TsPart | tuple[str, tuple["TsNode", ...]]  # ("&", parts) / ("|", parts) / ("!", (part,))


def _ts_node(node: Node) -> TsNode:
    if isinstance(node, Term):
        if node.prefix:
            return TsPart("to_tsquery", f"'{node.text}':*")  # a piece is letters and digits: no quote inside
        return TsPart("plainto_tsquery", node.text)
    if isinstance(node, Phrase):
        return TsPart("phraseto_tsquery", " ".join(node.pieces))
    return ("|", tuple(_ts_node(option) for option in node.options))


def to_tsquery_tree(query: SearchQuery) -> TsNode | None:
    """The tsquery as a tree of PostgreSQL function calls on plain text, or None when nothing is searchable.

    ``store.search`` renders it with ``&&``, ``||`` and ``!!`` over bind parameters (no text is ever parsed as
    tsquery syntax but the prefix form, built here from a letters-and-digits piece).
    """
    if not query.must:
        return None
    parts: list[TsNode] = [_ts_node(node) for node in query.must]
    parts += [("!", (_ts_node(node),)) for node in query.exclude]
    return parts[0] if len(parts) == 1 else ("&", tuple(parts))


def terms(query: SearchQuery) -> list[str]:
    """Every piece the reader asked for (not the excluded ones), for a "matching …" line or a test."""
    out: list[str] = []

    def walk(node: Node) -> None:
        if isinstance(node, Term):
            out.append(node.text)
        elif isinstance(node, Phrase):
            out.extend(node.pieces)
        else:
            for option in node.options:
                walk(option)

    for node in query.must:
        walk(node)
    return out


# ------------------------------------------------------------------------------------------------ marking


STEM_SLACK = 4  # "relaps" (the stem PostgreSQL indexed) marks "relapse", "relapsed", "relapsing"
_MARKED_RUN = re.compile(r"\x03([^\w\s]{1,2})\x02")  # KYV\x03-\x02101 → one mark over "KYV-101"


@functools.lru_cache(maxsize=64)
def _ascii_marker(rules: tuple[tuple[str, bool, int], ...]) -> re.Pattern[str]:
    """A whole ASCII piece (a run of letters and digits) that begins with a stem, within its slack."""
    options = "|".join(re.escape(stem) + ("[a-z0-9]*" if prefix else f"[a-z0-9]{{0,{slack}}}")
                       for stem, prefix, slack in rules)
    return re.compile(f"(?<![a-z0-9])(?:{options})(?![a-z0-9])", re.IGNORECASE | re.ASCII)


def mark_stems(text: str, stems: list[tuple[str, bool]], start: str = "\x02", end: str = "\x03") -> str:
    """``text`` with every piece that a query stem (``(stem, is_prefix)``) begins marked by ``start``/``end``;
    marked pieces joined by a hyphen, slash or dot become one mark, as FTS5's highlight() marks a phrase.

    For PostgreSQL, whose ``ts_headline`` splits "KYV-101" otherwise than its index does (migration 0011
    normalises punctuation first): the stems come from the query's own tsquery, so stemming is the database's.
    """
    if not stems:
        return text
    rules = [(stem, prefix, 0 if any(ch.isdigit() for ch in stem) else STEM_SLACK)  # 101 marks 101, not 1012
             for stem, prefix in stems]
    if text.isascii() and all(stem.isascii() for stem, _ in stems):
        # The same rule as one regular expression (nothing to fold in ASCII): 20 times faster on a summary
        marked = _ascii_marker(tuple(rules)).sub(lambda match: start + match.group(0) + end, text)
    else:
        def replace(match: re.Match[str]) -> str:
            piece = match.group(0).translate(_FOLD).lower()
            for stem, prefix, slack in rules:
                if piece.startswith(stem) and (prefix or len(piece) - len(stem) <= slack):
                    return start + match.group(0) + end
            return match.group(0)

        marked = _PIECE.sub(replace, text)
    if start == "\x02" and end == "\x03":
        marked = _MARKED_RUN.sub(r"\1", marked)
    return marked
