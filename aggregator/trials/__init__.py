"""Trials as first-class things: NCT ids and product codes found in text, readable status and phase labels, and
the rule that decides when a stored trial record changed in a way readers care about. Pure: no I/O.

- An NCT id is ``NCT`` followed by exactly eight digits (ClinicalTrials.gov's format); "NCT 0123 4567" and
  lower case are accepted because press releases write them that way.
- A product code is a company's letters, a hyphen and digits (KYV-101, CABA-201, BMS-986353). Letters alone
  would match "COVID-19" or "IL-6", so codes must have 2–5 capital letters and 3–6 digits, and a short list of
  common non-product tokens is excluded.
- What changed between two polls of a trial record, and how to say it, is ``trial_diff``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_NCT = re.compile(r"\bNCT\s?(\d{4})\s?(\d{4})\b", re.IGNORECASE)
_PRODUCT = re.compile(r"\b([A-Z]{2,5})-?(\d{3,6})\b")
_YEAR = re.compile(r"(19|20)\d\d")  # "ECTRIMS2025", "AAN-2026" are meetings, not products
# Tokens shaped like a product code that are not one (diseases, guidelines, standards).
_NOT_PRODUCTS = {"COVID", "ISO", "ICD", "SARS", "MERS", "HLA", "PMID", "ISSN", "ISBN", "DOI", "NCT", "FDA", "EMA",
                 "CFR", "ICH", "EDSS", "MRI", "UTC", "GMT", "USD", "EUR", "CD", "IL", "EU", "US", "UK", "MS"}

STATUS_LABELS = {
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available (expanded access)",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}
PHASE_LABELS = {"EARLY_PHASE1": "Early phase 1", "PHASE1": "Phase 1", "PHASE2": "Phase 2", "PHASE3": "Phase 3",
                "PHASE4": "Phase 4", "NA": "Not applicable"}


def status_label(code: str | None) -> str:
    if not code:
        return "Status not given"
    return STATUS_LABELS.get(code.upper(), code.replace("_", " ").capitalize())


def phase_label(codes: Iterable[str]) -> str:
    order = list(PHASE_LABELS)
    known = sorted({c.upper() for c in codes if c and c.upper() in PHASE_LABELS}, key=order.index)
    labels = [PHASE_LABELS[code] for code in known] + [c for c in codes if c and c.upper() not in PHASE_LABELS]
    if not labels:
        return "Phase not given"
    if len(labels) == 2 and all(label.startswith("Phase ") for label in labels):
        return f"Phase {labels[0][6:]}/{labels[1][6:]}"  # PHASE1, PHASE2 → "Phase 1/2", as registries write it
    return ", ".join(labels)


def find_nct_ids(text: str) -> list[str]:
    """Every NCT id in ``text``, normalised (NCT + 8 digits), in order of first appearance."""
    return list(dict.fromkeys(f"NCT{a}{b}" for a, b in _NCT.findall(text or "")))


def normalize_code(code: str) -> str:
    """``kyv 101``, ``KYV101`` and ``KYV-101`` → ``KYV-101``; anything else → ''."""
    match = _PRODUCT.fullmatch(re.sub(r"[\s‐-―]+", "-", code.strip().upper()))
    if not match:
        return ""
    return f"{match.group(1)}-{match.group(2)}"


def find_product_codes(text: str) -> list[str]:
    """Product codes (KYV-101) in ``text``, normalised, in order of first appearance."""
    found = []
    for letters, digits in _PRODUCT.findall(text or ""):
        if letters in _NOT_PRODUCTS or _YEAR.fullmatch(digits):
            continue
        found.append(f"{letters}-{digits}")
    return list(dict.fromkeys(found))


def trial_codes(extra: Mapping[str, Any]) -> list[str]:
    """The product codes a trial record names in its interventions (and their other names)."""
    names: list[str] = []
    for intervention in extra.get("interventions") or []:
        names.append(str(intervention))
    names.extend(str(name) for name in extra.get("other_names") or [])
    return list(dict.fromkeys(code for name in names for code in find_product_codes(name)))


def linked_trials(text: str, nct_id: str | None, code_map: Mapping[str, Iterable[str]]) -> list[str]:
    """The trials an item is about: its own NCT id, NCT ids in its text, and trials whose product codes it names.

    ``code_map`` maps a product code (KYV-101) to the NCT ids of stored trial records naming it.
    """
    found = [nct_id.upper()] if nct_id else []
    found.extend(find_nct_ids(text))
    for code in find_product_codes(text):
        found.extend(code_map.get(code, ()))
    return list(dict.fromkeys(found))


def mentions(text: str, nct_id: str, codes: Iterable[str]) -> bool:
    """True when ``text`` names the trial by NCT id or by one of its product codes (whole tokens only)."""
    if nct_id.upper() in find_nct_ids(text):
        return True
    wanted = set(codes)
    return bool(wanted) and any(code in wanted for code in find_product_codes(text))


def search_terms(nct_id: str, codes: Iterable[str]) -> list[str]:
    """Substrings a database may pre-filter on before ``mentions`` decides (KYV-101 is also written KYV101)."""
    terms = [nct_id.upper()]
    for code in codes:
        terms.extend([code, code.replace("-", "")])
    return list(dict.fromkeys(terms))


_REGISTRY_LINK = re.compile(r"^https://clinicaltrials\.gov/(?:study|ct2/show)/(NCT\d{8})\b", re.IGNORECASE)


def registry_nct_id(normalized_link: str | None) -> str | None:
    """The NCT id of a ClinicalTrials.gov study link (``/study/NCT…`` or the classic ``/ct2/show/NCT…``)."""
    match = _REGISTRY_LINK.match(normalized_link or "")
    return match.group(1).upper() if match else None
