"""A tiny run of `make bench` (5 feeds × 5 items, 200 stored items): it completes and writes a well-formed report.

No timing is asserted here (speed lives in `make bench`); what is asserted is that every runner did its work:
each stored every item, the second poll was answered 304 everywhere, every endpoint answered as expected.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("reader")

from bench.__main__ import main  # noqa: E402


def _tables(markdown: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def test_smoke_run_writes_a_well_formed_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.md"
    assert main(["--smoke", "--no-postgres", "--out", str(out), "--parse-processes", "0"]) == 0
    report = out.read_text(encoding="utf-8")
    assert report in capsys.readouterr().out

    for heading in ("# Benchmark results", "## Polling", "bench corpus", "corpus shaped like real feeds",
                    "**First poll**", "**Second poll**",
                    "## Serving", "## Search", "## Classification (one core)", "## Digest sending"):
        assert heading in report
    tables = _tables(report)
    assert len(tables) >= 4
    for rows in tables:
        header, separator, *body = rows
        assert set("".join(separator)) <= {"-"}, rows
        assert body, f"empty table under {header}"
        assert all(len(row) == len(header) for row in body), rows

    # the first and second polls of each corpus: ours with the shipped settings, the whole `flask poll`
    # command, and inline (what one core gets); the pooled and the inline runs store the same rows
    # (tests/test_prepare_pool.py)
    for first, second in ((tables[0], tables[1]), (tables[2], tables[3])):
        runners = {row[0]: row for row in first[2:]}
        assert set(runners) == {"baseline", "reader", "ours", "ours: flask poll command", "ours, no parse processes"}
        for row in runners.values():
            assert row[2] == "25", row  # every runner got all 5 × 5 items
            assert float(row[1]) > 0
        for row in second[2:]:
            requests, conditional, not_modified, parsed = row[2:6]
            assert requests == conditional == not_modified == "5", row  # every request conditional, every 304
            assert parsed == "0"

    serving = next(rows for rows in tables if rows[0][0] == "endpoint")
    by_name = {row[0]: row for row in serving[2:]}
    assert set(by_name) == {"/healthz", "digest page /", "filtered page", "search", "/feed.xml", "/feed.xml 304"}
    assert by_name["/feed.xml 304"][2] == "304"
    assert all(row[4] == "0" for row in serving[2:]), "an endpoint answered with an unexpected status"
    assert "EXPLAIN QUERY PLAN" in report and "SEARCH item" in report

    classify = next(rows for rows in tables if rows[0][0] == "classifier")
    assert classify[2][1] == "200"
    mail = next(rows for rows in tables if rows[0][0] == "sender")
    assert [row[1] for row in mail[2:]] == ["20", "20"], mail  # every subscriber got the digest, both ways
