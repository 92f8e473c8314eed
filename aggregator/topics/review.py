"""Reviewer verdicts over the rules' decisions (``flask label``). Pure: no I/O.

A verdict is the last word for its item and topic: ``True`` puts the item in the topic whatever the rules say,
``False`` takes it out. The rules' own hits are kept beside a reviewer's "yes" so the page can still highlight
them; the explanation says a reviewer decided. A verdict concerns its topic only: taking an item out of
``car-t-ms`` leaves it in ``car-t-autoimmune`` unless a reviewer says so there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TopicRows = list[tuple[str, float, list[dict[str, Any]]]]

REVIEWER_FIELD = "reviewer"  # the "field" of the hit that records a reviewer's "yes"
REVIEWED_SCORE = 1.0  # the score of an item a reviewer put in a topic its rules did not give it


@dataclass(frozen=True)
class Verdict:
    belongs: bool
    note: str = ""


def reviewer_hit(note: str) -> dict[str, Any]:
    """The hit that says "a reviewer decided" (shown by "why this item is here"; not highlighted)."""
    return {"field": REVIEWER_FIELD, "term_list": "", "term": "", "text": note}


def is_reviewer_hit(hit: Mapping[str, Any]) -> bool:
    return hit.get("field") == REVIEWER_FIELD


def apply_verdicts(rows: TopicRows, verdicts: Mapping[str, Verdict]) -> TopicRows:
    """The rules' topic rows of one item with its reviewer verdicts applied (order: the rules', then added)."""
    if not verdicts:
        return rows
    out: TopicRows = []
    seen = set()
    for topic_id, score, hits in rows:
        seen.add(topic_id)
        verdict = verdicts.get(topic_id)
        if verdict is None:
            out.append((topic_id, score, hits))
        elif verdict.belongs:
            out.append((topic_id, score, [reviewer_hit(verdict.note), *hits]))
    for topic_id, verdict in verdicts.items():
        if verdict.belongs and topic_id not in seen:
            out.append((topic_id, REVIEWED_SCORE, [reviewer_hit(verdict.note)]))
    return out
