"""ClinicalTrials.gov API v2 JSON → one ``ParsedItem`` per study. Pure: bytes in, items out.

Accepts the list answer (``{"studies": [...], "nextPageToken": ...}``), the combined document the retriever builds
from several pages (same shape), and the single-study answer (the study object itself, no wrapper).
The NCT id is the guid, so a study is one item for ever; its status and phase go to ``extra`` where the store
compares them with the stored ones (``trials.trial_changes``). Enums arrive in capitals (``NOT_YET_RECRUITING``)
and dates are partial ISO (``2016-07`` or ``2016-07-29``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape
from typing import Any

from ..domain import Fetched, ParsedItem, SourceSpec
from ..errors import ParseError
from ..trials import phase_label, status_label
from . import dates, json_text

log = logging.getLogger(__name__)

STUDY_URL = "https://clinicaltrials.gov/study/{nct}"


def parse_date(value: Any) -> datetime | None:
    """``2016``, ``2016-07`` or ``2016-07-29`` → aware UTC midnight of the first day it can mean; else None.

    The registry's dates carry no zone; they are read as UTC (see parse/dates.py)."""
    return dates.parse_date(value) if isinstance(value, str) else None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    return [str(v).strip() for v in values if isinstance(v, str | int | float) and str(v).strip()]


def study_to_item(study: dict[str, Any]) -> ParsedItem | None:
    protocol = study.get("protocolSection")
    if not isinstance(protocol, dict):
        return None
    nct = _get(protocol, "identificationModule", "nctId")
    if not isinstance(nct, str) or not nct.strip():
        return None
    nct = nct.strip().upper()
    title = _get(protocol, "identificationModule", "briefTitle") or _get(
        protocol, "identificationModule", "officialTitle") or nct
    status = _get(protocol, "statusModule", "overallStatus")
    phases = _strings(_get(protocol, "designModule", "phases"))
    conditions = _strings(_get(protocol, "conditionsModule", "conditions"))
    raw_interventions = _get(protocol, "armsInterventionsModule", "interventions") or []
    interventions: list[str] = []
    other_names: list[str] = []
    for intervention in raw_interventions if isinstance(raw_interventions, list) else []:
        if isinstance(intervention, dict) and isinstance(intervention.get("name"), str):
            interventions.append(intervention["name"].strip())
            other_names.extend(_strings(intervention.get("otherNames")))
    sponsor = _get(protocol, "sponsorCollaboratorsModule", "leadSponsor", "name")
    start = _get(protocol, "statusModule", "startDateStruct", "date")
    first_posted = _get(protocol, "statusModule", "studyFirstPostDateStruct", "date")
    last_update = _get(protocol, "statusModule", "lastUpdatePostDateStruct", "date")
    brief = _get(protocol, "descriptionModule", "briefSummary") or ""
    facts = [
        ("Status", status_label(status if isinstance(status, str) else None)),
        ("Phase", phase_label(phases)),
        ("Conditions", ", ".join(conditions) or "not given"),
        ("Interventions", ", ".join(interventions) or "not given"),
        ("Sponsor", sponsor if isinstance(sponsor, str) else "not given"),
        ("Start", start if isinstance(start, str) else "not given"),
    ]
    summary = "<ul>" + "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in facts) + "</ul>"
    if isinstance(brief, str) and brief.strip():
        # Registry text is plain text with Markdown-style escapes (\[rHGG\]); show it as text.
        summary += f"<p>{escape(brief.replace(chr(92) + '[', '[').replace(chr(92) + ']', ']').strip())}</p>"
    extra: dict[str, Any] = {
        "status": status if isinstance(status, str) else None,
        "phase": phases,
        "conditions": conditions,
        "interventions": interventions,
        "other_names": other_names,
        "sponsor": sponsor if isinstance(sponsor, str) else None,
        "start_date": start if isinstance(start, str) else None,
        "last_update": last_update if isinstance(last_update, str) else None,
    }
    return ParsedItem(
        title=f"{str(title).strip()} ({nct})",
        link=STUDY_URL.format(nct=nct),
        guid=nct,
        summary=summary,
        author=sponsor if isinstance(sponsor, str) else None,
        categories=tuple(conditions),
        # First posting is when the trial became public news; fall back to the start date, then the last update.
        published_at=parse_date(first_posted) or parse_date(start) or parse_date(last_update),
        updated_at=parse_date(last_update),
        evidence_type="trial-registry",
        nct_id=nct,
        extra=tuple(sorted(extra.items())),
    )


def parse_studies(body: bytes) -> list[ParsedItem]:
    try:
        document = json_text.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError("the ClinicalTrials.gov answer is not JSON; check the source URL (api/v2/studies?…)") from exc
    if isinstance(document, dict) and "studies" in document:
        studies = document["studies"]
    elif isinstance(document, dict) and "protocolSection" in document:
        studies = [document]
    else:
        raise ParseError("the ClinicalTrials.gov answer has no `studies` list; is the URL an api/v2/studies query?")
    if not isinstance(studies, list):
        raise ParseError("the ClinicalTrials.gov answer's `studies` is not a list")
    items = []
    for index, study in enumerate(studies):
        item = study_to_item(study) if isinstance(study, dict) else None
        if item is None:
            log.warning("ClinicalTrials.gov study %d has no NCT id; skipped", index)
            continue
        items.append(item)
    if studies and not items:
        raise ParseError("no study in the ClinicalTrials.gov answer could be read (no NCT ids)")
    return items


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    return parse_studies(fetched.body)
