"""The JSON API's documents: items, sources and trials as plain dicts, and the paging cursor. Pure.

Every field is described in ``openapi.json`` beside this file, and the tests validate each answer against it, so
the two cannot drift apart. Text goes out as stored: titles and summaries are plain text (escaping is the client's
job in its own output format); nothing here is HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from ..errors import BadRequest
from ..models import Item, Source
from ..trials.finder import TrialView

API_VERSION = "v1"
MAX_LIMIT = 100
CURSOR_SALT = "api-v1-cursor"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------------ cursor


def encode_cursor(secret: str, item: Item) -> str:
    """An opaque mark after ``item``: its (sort_at, id), signed so that a cursor is always one we gave out."""
    return URLSafeSerializer(secret, salt=CURSOR_SALT).dumps([iso(item.sort_at), item.id])


def decode_cursor(secret: str, raw: str) -> tuple[datetime, int]:
    problem = BadRequest("The 'cursor' parameter is not one this API gave out (it is copied from 'next_cursor' of "
                         "the previous page, unchanged). Start again without it.")
    try:
        value = URLSafeSerializer(secret, salt=CURSOR_SALT).loads(raw)
    except BadSignature:
        raise problem from None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool)):
        raise problem
    try:
        moment = datetime.fromisoformat(value[0].replace("Z", "+00:00"))
    except ValueError:
        raise problem from None
    return moment.astimezone(UTC), value[1]


# ---------------------------------------------------------------------------------------------------- params


def parse_limit(raw: str | None, default: int) -> int:
    text = (raw or "").strip()
    if not text:
        return min(default, MAX_LIMIT)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"The 'limit' parameter must be a whole number from 1 to {MAX_LIMIT}.")
    return int(text)


def parse_since(raw: str | None) -> datetime | None:
    """``since``: a date (2026-11-01, midnight UTC) or a date and time (2026-11-01T08:00:00Z; no zone means UTC)."""
    text = (raw or "").strip()
    if not text:
        return None
    hint = ("The 'since' parameter must be a date like 2026-11-01 or a date and time like 2026-11-01T08:00:00Z "
            "(ISO 8601).")
    if len(text) > 40 or not text.isascii():
        raise BadRequest(hint)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(hint) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def check_known(args: Mapping[str, str], allowed: Sequence[str]) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        listed = ", ".join(allowed) if allowed else "none"
        raise BadRequest(f"Unknown parameter {unknown[0]!r}. This endpoint takes: {listed}.")


# ----------------------------------------------------------------------------------------------------- items


def item_document(item: Item, *, base_url: str, topic_names: Mapping[str, str], evidence_names: Mapping[str, str],
                  source_names: Mapping[str, str], why: Sequence[str], trials: Sequence[str],
                  also: Sequence[Item]) -> dict[str, Any]:
    """One item: what it is, where it came from, why it matched, what it names, who else reported it."""
    return {
        "id": item.id,
        "url": f"{base_url}/items/{item.id}",
        "title": item.title,
        "link": item.link,
        "link_gone": item.link_gone,
        "summary": item.summary_text,
        "author": item.author,
        "source": {"id": item.source_id, "name": source_names.get(item.source_id) or _source_name(item)},
        "evidence_type": item.evidence_type,
        "evidence_label": evidence_names.get(item.evidence_type, item.evidence_type),
        "date": iso(item.sort_at),
        "published_at": iso(item.published_at),
        "first_seen_at": iso(item.first_seen_at),
        "updated_at": iso(item.updated_at),
        "topics": [
            {"id": match.topic_id, "name": topic_names.get(match.topic_id, match.topic_id),
             "matched": list(dict.fromkeys(str(hit.get("text") or hit.get("term") or "")
                                           for hit in match.hits or [] if hit.get("text") or hit.get("term")))}
            for match in sorted(item.topics, key=lambda t: t.topic_id)
        ],
        "why": list(why),
        "identifiers": {"nct_id": item.nct_id, "doi": item.doi, "pmid": item.pmid},
        "trials": [{"id": key, "url": f"{base_url}/trials/{key}"} for key in trials],
        "also_reported_by": [
            {"id": dup.id, "source": {"id": dup.source_id, "name": source_names.get(dup.source_id)
                                      or _source_name(dup)},
             "title": dup.title, "link": dup.link, "evidence_type": dup.evidence_type}
            for dup in also
        ],
    }


def _source_name(item: Item) -> str:
    return item.source.name if item.source else item.source_id


# --------------------------------------------------------------------------------------------------- sources


def source_document(source: Source, counts: tuple[int, int], evidence_names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "kind": source.kind,
        "feed_url": source.configured_url,
        "homepage": source.homepage,
        "evidence_type": source.evidence_type,
        "evidence_label": evidence_names.get(source.evidence_type, source.evidence_type),
        "enabled": bool(source.enabled),
        "status": source.status,
        "last_polled_at": iso(source.last_polled_at),
        "last_success_at": iso(source.last_success_at),
        "items": counts[0],
        "matching_items": counts[1],
    }


# ---------------------------------------------------------------------------------------------------- trials


def trial_document(view: TrialView, base_url: str) -> dict[str, Any]:
    record = view.record
    return {
        "id": view.key,
        "url": f"{base_url}/trials/{view.key}",
        "title": view.title,
        "nct_id": view.nct_id,
        "eu_ct_number": view.eu_ct_number,
        "status": view.status,
        "status_group": view.status_group,
        "phases": list(record.phases),
        "conditions": list(record.conditions),
        "products": list(view.products),
        "targets": list(view.targets),
        "ms_forms": list(view.ms_forms),
        "sponsor": record.sponsor,
        "enrollment": record.enrollment,
        "countries": list(view.countries()),
        "recruiting_countries": list(view.recruiting_countries()),
        "registry_urls": [s.registry_url for s in (record, view.twin) if s],
        "first_seen_at": iso(view.first_seen_at),
        "changed_at": iso(view.changed_at),
        "item_ids": list(view.item_ids),
    }
