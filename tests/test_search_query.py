"""The search box's syntax → query tree → FTS5 MATCH text: a table of what readers type, hostile input included.

The expected FTS5 strings are written from the FTS5 documentation's grammar (a quoted string is a phrase of the
tokenizer's tokens, ``"x" *`` a prefix, ``NOT`` a binary operator), not copied from the program's output.
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.store.search_query import (
    AnyOf,
    Phrase,
    SearchQuery,
    Term,
    TsPart,
    parse,
    to_fts5,
    to_tsquery_tree,
)

CASES = [
    ("relapse", '("relapse")'),
    ("CAR T", '("car" AND "t")'),
    ('"exact phrase"', '("exact phrase")'),
    ("ocrelizumab -rituximab", '("ocrelizumab") NOT "rituximab"'),
    ('cells -"plasma cells"', '("cells") NOT "plasma cells"'),
    ("lupus OR myasthenia", '(("lupus" OR "myasthenia"))'),
    ("lupus OR myasthenia OR sclerosis", '(("lupus" OR "myasthenia" OR "sclerosis"))'),
    ("kyv*", '("kyv" *)'),
    ("KYV-101", '(("kyv 101" OR "kyv101"))'),
    ("KYV101", '(("kyv101" OR "kyv 101"))'),
    ("kyv 101", '(("kyv 101" OR "kyv101"))'),  # a short word then a number: a code typed with a space
    ("phase 2 trial", '("phase" AND "2" AND "trial")'),  # a longer word is a word
    ("miv-cel", '(("miv cel" OR "mivcel"))'),
    ("NCT06451159", '(("nct06451159" OR "nct 06451159"))'),
    ("10.1212/WNL.0000000000209876", '("10 1212 wnl 0000000000209876")'),
    ("PMID 39612345", '("39612345")'),  # the label is dropped: the pmid column holds the number alone
    ("doi:10.1212/WNL.0000000000209876", '("10 1212 wnl 0000000000209876")'),
    ("Sclérose", '("sclerose")'),  # folded here too, as PostgreSQL's index folds it (FTS5 folds on its own)
    # hostile input: never an error, never an operator
    ('"unbalanced quote', '("unbalanced quote")'),
    ('NEAR(a b', '(("near a" OR "neara") AND "b")'),  # one typed word, two pieces: an identifier's spellings
    ("AND NOT", '("and" AND "not")'),
    ("a OR", '("a")'),
    ("OR a", '("a")'),
    ('col:value ^x', '(("col value" OR "colvalue") AND "x")'),
]

NOTHING = ["", "*", "   ", '""', "-relapse", "OR", "-", "***", "\x00", "!!! ???"]


@pytest.mark.parametrize(("typed", "expected"), CASES)
def test_translation_table(typed: str, expected: str) -> None:
    assert to_fts5(parse(typed)) == expected


@pytest.mark.parametrize("typed", NOTHING)
def test_nothing_searchable_gives_none(typed: str) -> None:
    query = parse(typed)
    assert not query
    assert to_fts5(query) is None and to_tsquery_tree(query) is None


def test_hostile_sizes_and_bytes_never_raise_and_stay_bounded() -> None:
    for typed in ["x" * 10_000, "a " * 5_000, '"' * 10_001, "\x00" * 100 + "relapse", "NEAR(" * 2000, "-" * 9999,
                  "*" * 10_000, "kyv-" * 3000]:
        query = parse(typed)
        assert len(query.must) <= 12 and len(query.exclude) <= 12
        text = to_fts5(query)
        assert text is None or len(text) < 10_000
    assert to_fts5(parse("\x00relapse")) == '("relapse")'


def test_every_translation_is_valid_fts5_syntax() -> None:
    """Each MATCH string runs on a real FTS5 table (a syntax error would raise sqlite3.OperationalError)."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')")
    connection.execute("INSERT INTO t VALUES ('Relapsing MS after KYV-101 and miv-cel; sclerose')")
    for typed, _ in CASES:
        expression = to_fts5(parse(typed))
        assert expression is not None
        connection.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()
    found = {typed for typed in ["relapse", "KYV101", "kyv 101", "miv-cel", "Sclérose", "kyv*", '"after KYV"']
             if connection.execute("SELECT rowid FROM t WHERE t MATCH ?", (to_fts5(parse(typed)),)).fetchall()}
    assert found == {"relapse", "KYV101", "kyv 101", "miv-cel", "Sclérose", "kyv*", '"after KYV"'}


def test_the_migration_folds_accents_as_the_translator_does() -> None:
    import importlib.util
    from pathlib import Path

    from aggregator.store.search_query import fold_table

    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0011_full_text_search.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._fold_table() == fold_table()
    source, target = fold_table()
    assert dict(zip(source, target, strict=True))["é"] == "e" and dict(zip(source, target, strict=True))["Ś"] == "S"
    # no 1:1 base letter for these two; no quote in the table (it is an SQL literal in the migration)
    assert "ß" not in source and "Ł" not in source and "'" not in source + target


def test_tree_shapes_and_the_postgresql_rendering() -> None:
    query = parse('KYV-101 "plasma cells" relaps* -lupus')
    assert query == SearchQuery(
        must=(AnyOf((Phrase(("kyv", "101")), Term("kyv101"))), Phrase(("plasma", "cells")), Term("relaps", True)),
        exclude=(Term("lupus"),),
    )
    assert to_tsquery_tree(query) == ("&", (
        ("|", (TsPart("phraseto_tsquery", "kyv 101"), TsPart("plainto_tsquery", "kyv101"))),
        TsPart("phraseto_tsquery", "plasma cells"),
        TsPart("to_tsquery", "'relaps':*"),
        ("!", (TsPart("plainto_tsquery", "lupus"),)),
    ))
    assert parse("k*") == SearchQuery(must=(Term("k"),))  # a one-letter prefix is a plain word


@pytest.mark.parametrize(("text", "stems", "expected"), [
    ("KYV-101 in relapsing MS", [("kyv", False), ("101", False)], "[KYV-101] in relapsing MS"),
    ("Relapsing, relapsed; relapse", [("relaps", False)], "[Relapsing], [relapsed]; [relapse]"),
    ("101 and 1012", [("101", False)], "[101] and 1012"),
    ("Ocrelizumab", [("ocr", True)], "[Ocrelizumab]"),
    ("Ocrelizumab", [("ocr", False)], "Ocrelizumab"),  # a stem is not a prefix: at most four letters more
    ("Sclérose en plaques", [("sclerose", False)], "[Sclérose] en plaques"),
    ("nothing", [], "nothing"),
])
def test_mark_stems(text: str, stems: list[tuple[str, bool]], expected: str) -> None:
    from aggregator.store.search_query import mark_stems

    assert mark_stems(text, stems).replace("\x02", "[").replace("\x03", "]") == expected


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="abkyvrelps01 -./,KYVR", max_size=60),
       stems=st.lists(st.tuples(st.sampled_from(["kyv", "101", "relaps", "a", "b1", "ab"]), st.booleans()),
                      max_size=3))
def test_mark_stems_ascii_fast_path_marks_what_the_general_rule_marks(text: str,
                                                                      stems: list[tuple[str, bool]]) -> None:
    from aggregator.store.search_query import mark_stems

    general = mark_stems(text + "\u00a0", stems)  # a non-ASCII character (no piece) takes the general path
    assert mark_stems(text, stems) == general[:-1]
