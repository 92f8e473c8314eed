"""ClinicalTrials.gov API v2 JSON → one ``ParsedItem`` per study. Pure: bytes in, items out.

Accepts the list answer (``{"studies": [...], "nextPageToken": ...}``), the combined document the retriever builds
from several pages (same shape), and the single-study answer (the study object itself, no wrapper).
The NCT id is the guid, so a study is one item for ever; its facts (status, phase, sites with their own status,
eligibility essentials, enrollment, contacts, dates: a ``trial_record.TrialSnapshot``) go to ``extra``, where the
store compares them with the stored ones (``trial_diff.trial_changes``). Enums arrive in capitals
(``NOT_YET_RECRUITING``) and dates are partial ISO (``2016-07`` or ``2016-07-29``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape
from typing import Any

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError
from ...trials import phase_label, status_label
from ...trials.eligibility import edss_limits, ms_forms, parse_age, unescape_registry
from ...trials.record import (
    EU_CT_NUMBER,
    Contact,
    Dated,
    Eligibility,
    Site,
    TrialSnapshot,
    car_targets,
    products,
)
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


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _contacts(raw: Any) -> tuple[Contact, ...]:
    contacts = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or not _text(entry.get("name")):
            continue
        phone = _text(entry.get("phone"))
        if phone and _text(entry.get("phoneExt")):
            phone = f"{phone} ext. {entry['phoneExt'].strip()}"
        contacts.append(Contact(str(_text(entry.get("name"))), _text(entry.get("role")), phone,
                                _text(entry.get("email"))))
    return tuple(contacts)


def _sites(raw: Any) -> tuple[Site, ...]:
    sites = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict):
            continue
        geo = entry.get("geoPoint")
        lat, lon = (geo.get("lat"), geo.get("lon")) if isinstance(geo, dict) else (None, None)
        status = _text(entry.get("status"))
        sites.append(Site(
            facility=_text(entry.get("facility")), city=_text(entry.get("city")), state=_text(entry.get("state")),
            country=_text(entry.get("country")), status=status.upper() if status else None,
            latitude=float(lat) if isinstance(lat, int | float) and not isinstance(lat, bool) else None,
            longitude=float(lon) if isinstance(lon, int | float) and not isinstance(lon, bool) else None))
    return tuple(site for site in sites if site.facility or site.city or site.country)


def study_snapshot(protocol: dict[str, Any], nct: str, title: str, summary_text: str) -> TrialSnapshot:
    """The facts of one study that we keep and compare between polls (see ``trial_record``)."""
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
    collaborators = [_text(c.get("name")) for c in _get(protocol, "sponsorCollaboratorsModule", "collaborators")
                     or [] if isinstance(c, dict)]
    # A module missing from the answer (a `fields=` projection) leaves its facts unknown (None), so the next
    # complete answer is not read as "every site closed".
    eligibility = protocol.get("eligibilityModule") if isinstance(protocol.get("eligibilityModule"), dict) else None
    locations = protocol.get("contactsLocationsModule")
    has_locations = isinstance(locations, dict)
    criteria = _text((eligibility or {}).get("eligibilityCriteria")) or ""
    enrollment = _get(protocol, "designModule", "enrollmentInfo") or {}
    count = enrollment.get("count") if isinstance(enrollment, dict) else None
    secondary = _get(protocol, "identificationModule", "secondaryIdInfos") or []
    # Any secondary id in the EU CT number format is the CTIS record (types seen: CTIS, EUDRACT_NUMBER, REGISTRY).
    eu_numbers = [m.group(1) for entry in secondary if isinstance(entry, dict) and isinstance(entry.get("id"), str)
                  for m in [EU_CT_NUMBER.search(entry["id"])] if m]
    return TrialSnapshot(
        registry="ctgov",
        registry_id=nct,
        title=title,
        status=status.upper() if isinstance(status, str) else None,
        phases=tuple(phases),
        conditions=tuple(conditions),
        interventions=tuple(interventions),
        other_names=tuple(other_names),
        products=products(interventions),
        targets=car_targets([title, *interventions, *other_names, summary_text]),
        sponsor=_text(sponsor),
        collaborators=tuple(c for c in collaborators if c),
        contacts=_contacts(_get(protocol, "contactsLocationsModule", "centralContacts")) if has_locations else None,
        sites=_sites(_get(protocol, "contactsLocationsModule", "locations")) if has_locations else None,
        enrollment=count if isinstance(count, int) and not isinstance(count, bool) else None,
        enrollment_type=_text(enrollment.get("type")) if isinstance(enrollment, dict) else None,
        eligibility=_eligibility(eligibility, conditions, title, criteria) if eligibility is not None else None,
        first_posted=_text(_get(protocol, "statusModule", "studyFirstPostDateStruct", "date")),
        last_update=_text(_get(protocol, "statusModule", "lastUpdatePostDateStruct", "date")),
        start=_dated_struct(_get(protocol, "statusModule", "startDateStruct")),
        primary_completion=_dated_struct(_get(protocol, "statusModule", "primaryCompletionDateStruct")),
        eu_ct_numbers=tuple(dict.fromkeys(eu_numbers)),
    )


def _eligibility(module: dict[str, Any], conditions: list[str], title: str, criteria: str) -> Eligibility:
    healthy = module.get("healthyVolunteers")
    sex = _text(module.get("sex"))
    return Eligibility(
        min_age=parse_age(module.get("minimumAge")),
        max_age=parse_age(module.get("maximumAge")),
        sex=sex.upper() if sex else None,
        healthy_volunteers=healthy if isinstance(healthy, bool) else None,
        ms_forms=ms_forms(conditions, title, criteria),
        edss=edss_limits(criteria),
    )


def _dated_struct(value: Any) -> Dated | None:
    if isinstance(value, dict) and _text(value.get("date")):
        return Dated(str(_text(value.get("date"))), _text(value.get("type")))
    return None


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
    brief = _get(protocol, "descriptionModule", "briefSummary") or ""
    brief_text = unescape_registry(brief).strip() if isinstance(brief, str) else ""
    snapshot = study_snapshot(protocol, nct, str(title).strip(), brief_text)
    facts = [
        ("Status", status_label(snapshot.status)),
        ("Phase", phase_label(snapshot.phases)),
        ("Conditions", ", ".join(snapshot.conditions) or "not given"),
        ("Interventions", ", ".join(snapshot.interventions) or "not given"),
        ("Sponsor", snapshot.sponsor or "not given"),
        ("Start", snapshot.start.date if snapshot.start else "not given"),
    ]
    summary = "<ul>" + "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in facts) + "</ul>"
    if brief_text:
        # Registry text is plain text with Markdown-style escapes (\[rHGG\]); show it as text.
        summary += f"<p>{escape(brief_text)}</p>"
    first_posted = snapshot.first_posted
    start = snapshot.start.date if snapshot.start else None
    return ParsedItem(
        title=f"{str(title).strip()} ({nct})",
        link=STUDY_URL.format(nct=nct),
        guid=nct,
        summary=summary,
        author=snapshot.sponsor,
        categories=snapshot.conditions,
        # First posting is when the trial became public news; fall back to the start date, then the last update.
        published_at=parse_date(first_posted) or parse_date(start) or parse_date(snapshot.last_update),
        updated_at=parse_date(snapshot.last_update),
        evidence_type="trial-registry",
        nct_id=nct,
        extra=tuple(sorted(snapshot.to_extra().items())),
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
