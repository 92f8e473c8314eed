"""feeds.yaml validation: the shipped file is valid, and every problem is reported with its line."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.errors import SourceConfigError
from aggregator.poll.catalog import load_catalog, load_catalog_text, parse_interval

ROOT = Path(__file__).resolve().parent.parent
TOPICS = "topics:\n  - id: t\n"


def test_shipped_feeds_file_is_valid_and_honours_the_contract() -> None:
    catalog = load_catalog(ROOT / "feeds.yaml")
    ids = [spec.id for spec in catalog.sources]
    assert len(ids) == len(set(ids)) >= 15
    assert all(spec.name and spec.url.startswith("https://") for spec in catalog.sources)
    topic_ids = [topic["id"] for topic in catalog.topics_config["topics"]]
    assert topic_ids[0] == "car-t-ms"
    assert {"car-t-ms", "car-t-autoimmune", "ms-research"} <= set(topic_ids)
    kinds = {spec.kind for spec in catalog.sources}
    assert {"feed", "html"} <= kinds
    # Pages without a feed are listed (disabled until their kind exists or their selectors are verified).
    assert any(spec.kind == "html" and not spec.enabled for spec in catalog.sources)


def test_a_source_gets_defaults() -> None:
    catalog = load_catalog_text("sources:\n  - id: a\n    name: A\n    url: https://a.example/feed\n" + TOPICS)
    spec = catalog.sources[0]
    assert (spec.kind, spec.interval, spec.enabled, spec.evidence_type, spec.line) == ("feed", None, True, "news", 2)
    assert (spec.zone(), spec.dayfirst()) == (UTC, False)


def test_a_source_names_the_zone_of_its_dates() -> None:
    catalog = load_catalog_text("sources:\n  - id: a\n    name: A\n    url: https://a.example/feed\n"
                                "    options: {timezone: Asia/Shanghai, dayfirst: true}\n" + TOPICS)
    assert (catalog.sources[0].zone(), catalog.sources[0].dayfirst()) == (ZoneInfo("Asia/Shanghai"), True)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - id: Bad Id\n    name: A\n    url: https://a.example/", "line 2: `id` must be lower-case"),
        ("  - id: a\n    url: https://a.example/", "line 2: `name` is missing"),
        ("  - id: a\n    name: A\n    url: ftp://a.example/", "line 2: `url` must be an http(s) address"),
        ("  - id: a\n    name: A", "line 2: `url` is missing"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    kind: podcast", "`kind` must be one of"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    interval: 10s", "`interval` must be at least 60"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    interval: often", "expected a duration"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    enabled: maybe", "`enabled` must be true or false"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    colour: red", "unknown key(s) colour"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    evidence_type: rumour", "`evidence_type` must be"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    options: {timezone: Mars/Olympus}",
         "`options.timezone` 'Mars/Olympus' is not a known IANA time zone"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    options: {timezone: ../../etc/passwd}",
         "is not a known IANA time zone"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    options: {timezone: 5}",
         "`options.timezone` must be an IANA time zone name"),
        ("  - id: a\n    name: A\n    url: https://a.example/\n    options: {dayfirst: sometimes}",
         "`options.dayfirst` must be true or false"),
    ],
)
def test_problems_name_the_line(entry: str, message: str) -> None:
    with pytest.raises(SourceConfigError) as info:
        load_catalog_text("sources:\n" + entry + "\n" + TOPICS)
    assert message in str(info.value)


def test_duplicate_ids_and_several_problems_are_all_reported() -> None:
    text = (
        "sources:\n"
        "  - id: a\n    name: A\n    url: https://a.example/\n"
        "  - id: a\n    name: B\n    url: https://b.example/\n"
        "  - id: c\n    url: https://c.example/\n" + TOPICS
    )
    with pytest.raises(SourceConfigError) as info:
        load_catalog_text(text)
    message = str(info.value)
    assert "2 problem(s)" in message
    assert "line 5: duplicate id 'a' (first used on line 2)" in message
    assert "line 8: `name` is missing" in message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "- just\n- a list\n",
        "sources: []\n" + TOPICS,
        "sources: [\n",
        "sources:\n  - id: a\n    name: A\n    url: https://a.example/\n",
    ],
)
def test_unusable_files_are_refused(text: str) -> None:
    with pytest.raises(SourceConfigError):
        load_catalog_text(text)


def test_missing_file_says_which_variable_to_set(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="FEEDS_FILE"):
        load_catalog(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("raw", "seconds"), [(90, 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400)])
def test_intervals(raw: object, seconds: int) -> None:
    assert parse_interval(raw) == seconds
