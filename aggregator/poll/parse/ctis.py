"""EU Clinical Trials (CTIS) RSS → one ``ParsedItem`` per trial, with its ``TrialSnapshot``. Pure.

The RSS of ``euclinicaltrials.eu/ctis-public-api/rss/updates.rss`` is a plain RSS 2.0 feed (read by
``parse.feed``); each item's description is a list of labelled lines, ``<b>Label</b>: value<br />``:
Trial number, Overall trial status, Medical conditions, Status in each country ("Spain:Ongoing, recruiting,
France:Authorised, recruitment pending" — statuses have commas of their own), Trial phase ("Therapeutic
confirmatory  (Phase III)"), Age of participants ("18-64 years"), Gender of participants, Planned number of
participants, Sponsor, Trial product, Last updated date (day first: 09/07/2026) ...

A CTIS record has no sites, only countries, each with its own status: they become country-level ``Site`` rows.
Its NCT twin is found the other way round (the ClinicalTrials.gov record lists the EU CT number among its
secondary ids), or from an NCT id written in the CTIS text. An item without an EU CT number stays a plain item.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

from ...domain import Fetched, ParsedItem, SourceSpec
from ...trials import find_nct_ids
from ...trials.eligibility import ctis_age_range, ctis_sex, ms_forms
from ...trials.record import (
    EU_CT_NUMBER,
    Eligibility,
    Site,
    TrialSnapshot,
    car_targets,
    ctis_status,
    products,
)
from .dates import parse_date
from .feed import parse_feed

_LINE = re.compile(r"<b>\s*([^<:]{2,60}?)\s*</b>\s*:?\s*(.*?)(?=<b>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# "Spain:Ongoing, recruiting, France:Authorised, recruitment pending": split before "<Capitalised name>:".
_COUNTRY_SPLIT = re.compile(r",\s*(?=[A-Z][^,:]{1,60}:)")
MAX_DESCRIPTION = 100_000  # a real description is 2-5 kB; a hostile one is not read past this
_ROMAN = {"I": "PHASE1", "II": "PHASE2", "III": "PHASE3", "IV": "PHASE4"}
_PHASE = re.compile(r"\bphase\s+(IV|III|II|I)\b", re.IGNORECASE)


def labelled_lines(description: str) -> dict[str, str]:
    """``<b>Sponsor</b>: Roche<br />`` lines → ``{"sponsor": "Roche"}`` (labels lower-cased, text unescaped)."""
    lines: dict[str, str] = {}
    for label, value in _LINE.findall((description or "")[:MAX_DESCRIPTION]):
        text = " ".join(html.unescape(_TAG.sub(" ", value)).split())
        lines.setdefault(" ".join(label.lower().split()), text)
    return lines


def country_statuses(text: str | None) -> list[tuple[str, str]]:
    """``"Spain:Ongoing, recruiting, France:Authorised, recruitment pending"`` → [(country, status label)]."""
    pairs = []
    for part in _COUNTRY_SPLIT.split(text or ""):
        country, sep, status = part.partition(":")
        if sep and country.strip() and status.strip():
            pairs.append((country.strip(), status.strip()))
    return pairs


def ctis_phases(text: str | None) -> tuple[str, ...]:
    """``"Therapeutic confirmatory  (Phase III)"`` → ``("PHASE3",)``; "Phase I and Phase II" → both."""
    return tuple(dict.fromkeys(_ROMAN[m.upper()] for m in _PHASE.findall(text or "")))


def _day_first(text: str | None) -> str | None:
    """CTIS dates are day first (``09/07/2026``) → ISO ``2026-07-09``."""
    moment = parse_date(text, dayfirst=True)
    return moment.date().isoformat() if moment else None


def ctis_snapshot(number: str, title: str, description: str) -> TrialSnapshot:
    lines = labelled_lines(description)
    overall = lines.get("overall trial status")
    conditions = tuple(c.strip() for c in (lines.get("medical conditions") or "").split(",") if c.strip())
    product_names = tuple(p.strip() for p in (lines.get("trial product") or "").split(",") if p.strip())
    minimum, maximum = ctis_age_range(lines.get("age of participants"))
    planned = lines.get("planned number of participants")
    sites = tuple(Site(facility=None, city=None, state=None, country=country, status=ctis_status(label),
                       status_text=label) for country, label in country_statuses(lines.get("status in each country")))
    full_title = lines.get("trial title") or title
    return TrialSnapshot(
        registry="ctis",
        registry_id=number,
        title=title,
        status=ctis_status(overall),
        status_text=overall,
        phases=ctis_phases(lines.get("trial phase")),
        conditions=conditions,
        interventions=product_names,
        products=products(product_names),
        targets=car_targets([title, full_title, *product_names]),
        sponsor=lines.get("sponsor") or None,
        sites=sites,
        enrollment=int(planned) if planned and planned.isdigit() else None,
        enrollment_type="ESTIMATED" if planned and planned.isdigit() else None,
        eligibility=Eligibility(min_age=minimum, max_age=maximum, sex=ctis_sex(lines.get("gender of participants")),
                                ms_forms=ms_forms(conditions, f"{title} {full_title}", "")),
        last_update=_day_first(lines.get("last updated date")),
        nct_ids=tuple(find_nct_ids(f"{title} {description}")),
    )


def enrich(item: ParsedItem) -> ParsedItem:
    """A CTIS feed item with its snapshot in ``extra`` (and the registry's evidence type); others unchanged."""
    found = EU_CT_NUMBER.search(f"{item.link or ''} {labelled_lines(item.summary).get('trial number', '')}")
    if not found:
        return item
    snapshot = ctis_snapshot(found.group(1), item.title.strip(), item.summary)
    return replace(item, evidence_type="trial-registry", extra=tuple(sorted(snapshot.to_extra().items())))


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    return [enrich(item) for item in parse_feed(fetched.body, fetched.final_url, fetched.content_type, spec.zone(),
                                                spec.dayfirst())]
