"""``feeds.yaml`` text → validated ``Catalog`` (sources and the raw topic configuration).

Every problem is reported with the line it stands on, all at once, so an operator fixes the file in one go.
This module neither fetches nor touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ..domain import EVIDENCE_TYPES, SOURCE_KINDS, SourceSpec
from ..errors import SourceConfigError

_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_INTERVAL_PATTERN = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SOURCE_KEYS = {
    "id",
    "name",
    "url",
    "kind",
    "interval",
    "homepage",
    "enabled",
    "evidence_type",
    "language",
    "options",
    "note",
    "group",
    "seed",
}
MIN_INTERVAL = 60  # seconds: polling a stranger's server more often than once a minute is impolite


@dataclass(frozen=True)
class Catalog:
    sources: tuple[SourceSpec, ...]
    topics_config: dict[str, Any]

    def source(self, source_id: str) -> SourceSpec | None:
        return next((spec for spec in self.sources if spec.id == source_id), None)


# libyaml's C loader when available: feeds.yaml with its term lists is long, and start-up should stay quick.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """A safe loader that remembers where each mapping starts (``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_interval(raw: Any) -> int:
    """``90``, ``"90s"``, ``"15m"``, ``"6h"``, ``"1d"`` → seconds."""
    if isinstance(raw, bool):
        raise ValueError("expected a duration such as 30m, 6h or 1d")
    if isinstance(raw, int):
        seconds = raw
    else:
        match = _INTERVAL_PATTERN.match(str(raw).strip().lower())
        if not match:
            raise ValueError(f"expected a duration such as 30m, 6h or 1d, got {raw!r}")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < MIN_INTERVAL:
        raise ValueError(f"must be at least {MIN_INTERVAL} seconds, got {seconds}")
    return seconds


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _check_url(url: Any) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return "`url` is missing"
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return f"`url` must be an http(s) address, got {url!r}"
    return None


def _check_timezone(name: Any) -> str | None:
    """``options.timezone``: the IANA zone of dates the source writes without a zone (see parse/dates.py)."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        return f"`options.timezone` must be an IANA time zone name such as Europe/Berlin (got {name!r})"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return (f"`options.timezone` {name!r} is not a known IANA time zone "
                "(for example Europe/Berlin, America/New_York)")
    return None


def _source_from(entry: Any, index: int, problems: list[str]) -> SourceSpec | None:
    if not isinstance(entry, dict):
        problems.append(f"sources[{index}]: each source must be a mapping with id, name and url")
        return None
    line = entry.get("__line__")
    where = f"line {line}" if line else f"sources[{index}]"
    before = len(problems)

    def problem(text: str) -> None:
        problems.append(f"{where}: {text}")

    source_id = entry.get("id")
    if not isinstance(source_id, str) or not _ID_PATTERN.match(source_id):
        problem(f"`id` must be lower-case letters, digits, - or _ (got {source_id!r})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        problem("`name` is missing")
    url_problem = _check_url(entry.get("url"))
    if url_problem:
        problem(url_problem)
    kind = entry.get("kind", "feed")
    if kind not in SOURCE_KINDS:
        problem(f"`kind` must be one of {', '.join(SOURCE_KINDS)} (got {kind!r})")
    interval: int | None = None
    if entry.get("interval") is not None:
        try:
            interval = parse_interval(entry["interval"])
        except ValueError as exc:
            problem(f"`interval` {exc}")
    homepage = entry.get("homepage")
    if homepage is not None and _check_url(homepage):
        problem(f"`homepage` must be an http(s) address (got {homepage!r})")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        problem(f"`enabled` must be true or false (got {enabled!r})")
    evidence = entry.get("evidence_type", "news")
    if evidence not in EVIDENCE_TYPES:
        problem(f"`evidence_type` must be one of {', '.join(EVIDENCE_TYPES)} (got {evidence!r})")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        problem("`options` must be a mapping")
        options = {}
    zone_problem = _check_timezone(options.get("timezone"))
    if zone_problem:
        problem(zone_problem)
    paths = options.get("paths")
    if kind == "sitemap" and paths is not None and (
            not isinstance(paths, list) or not paths
            or not all(isinstance(p, str) and p.startswith("/") for p in paths)):
        problem(f"`options.paths` must be a list of path prefixes starting with / such as ['/news/'] (got {paths!r})")
    if not isinstance(options.get("dayfirst", False), bool):
        problem(f"`options.dayfirst` must be true or false (got {options['dayfirst']!r})")
    group = entry.get("group")
    if group is not None and (not isinstance(group, str) or not group.strip() or len(group) > 100):
        problem(f"`group` must be the publisher's name, at most 100 characters (got {group!r})")
    seed = entry.get("seed", False)
    if not isinstance(seed, bool):
        problem(f"`seed` must be true or false (got {seed!r})")
    elif seed and not isinstance(group, str):
        problem("`seed: true` needs a `group`: a seed publisher is checked across all the routes of its group")
    unknown = set(entry) - _SOURCE_KEYS - {"__line__"}
    if unknown:
        problem(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_SOURCE_KEYS))}")
    if len(problems) > before or not isinstance(source_id, str) or not isinstance(name, str):
        return None
    return SourceSpec(
        id=source_id,
        name=name.strip(),
        url=entry["url"].strip(),
        kind=kind,
        interval=interval,
        homepage=homepage,
        enabled=enabled,
        evidence_type=evidence,
        language=entry.get("language"),
        options=tuple(sorted(_strip_lines(options).items())),
        line=line,
        group=group.strip() if isinstance(group, str) else None,
        seed=seed is True,
    )


def load_catalog_text(text: str, filename: str = "feeds.yaml") -> Catalog:
    """Validate the text of a feeds file; raise ``SourceConfigError`` listing every problem with its line."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{filename} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SourceConfigError(f"{filename}: expected a mapping with `sources:` and `topics:` at the top level")
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise SourceConfigError(f"{filename}: `sources:` must be a non-empty list")
    problems: list[str] = []
    sources: list[SourceSpec] = []
    seen: dict[str, int | None] = {}
    for index, entry in enumerate(raw_sources):
        spec = _source_from(entry, index, problems)
        if spec is None:
            continue
        if spec.id in seen:
            problems.append(f"line {spec.line}: duplicate id {spec.id!r} (first used on line {seen[spec.id]})")
            continue
        seen[spec.id] = spec.line
        sources.append(spec)
    if not isinstance(data.get("topics"), list) or not data["topics"]:
        problems.append("`topics:` must be a non-empty list of topics")
    if problems:
        raise SourceConfigError(f"{filename} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    topics_config = {key: _strip_lines(value) for key, value in data.items() if key not in {"sources", "__line__"}}
    return Catalog(sources=tuple(sources), topics_config=topics_config)


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceConfigError(
            f"Feeds file not found: {path}. Set FEEDS_FILE to the path of your feeds.yaml."
        ) from None
    return load_catalog_text(text, filename=str(path.name))
