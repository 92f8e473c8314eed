"""What we keep of one registry record of a trial (ClinicalTrials.gov or CTIS): ``TrialSnapshot``. Pure.

A snapshot is stored as JSON in its item's ``extra`` (``to_extra``) and read back (``from_extra``); each poll
writes a new one, and ``trial_diff`` compares the two. The keys of the first trial items (status, phase,
conditions, interventions, other_names, sponsor, start_date, last_update) keep their meaning. A key that an older
snapshot lacks reads as "not known" (``None``), never as "empty".

Also here, because the finder, the page and the digest all need them: the status groups a reader filters on,
the CAR targets (CD19, BCMA) and the products a record names, and the EU CT number format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .eligibility import Age, Edss

REGISTRY_URLS = {"ctgov": "https://clinicaltrials.gov/study/{id}", "ctis": "https://euclinicaltrials.eu/ctis-public/view/{id}"}
REGISTRY_NAMES = {"ctgov": "ClinicalTrials.gov", "ctis": "EU Clinical Trials (CTIS)"}
# An EU CT number (CTIS): year, six digits, two digits, two digits ("2025-523726-40-00"). EudraCT numbers of the
# old EU register have three parts and are not CTIS records.
EU_CT_NUMBER = re.compile(r"\b(20\d\d-\d{6}-\d{2}-\d{2})\b")

_TRIAL_KEY = re.compile(r"^(?:NCT\d{8}|20\d\d-\d{6}-\d{2}-\d{2})$")


def trial_key(text: str | None) -> str | None:
    """A trial's name as readers write it → ours: ``" nct06384976 "`` → ``"NCT06384976"``, an EU CT number as it
    is; anything else → None."""
    value = (text or "").strip()
    value = value.upper() if value[:3].upper() == "NCT" else value
    return value if _TRIAL_KEY.match(value) else None


# Registry status codes (ClinicalTrials.gov's; CTIS labels are mapped onto them) → the groups a reader filters on.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "recruiting": ("RECRUITING",),
    "not-yet-recruiting": ("NOT_YET_RECRUITING",),
    "active": ("ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION"),
    "completed": ("COMPLETED",),
    "withdrawn": ("WITHDRAWN", "TERMINATED", "SUSPENDED"),
}
GROUP_LABELS = {"recruiting": "Recruiting", "not-yet-recruiting": "Not yet recruiting",
                "active": "Active, not recruiting", "completed": "Completed",
                "withdrawn": "Withdrawn, stopped or suspended", "other": "Status not given"}
_GROUP_OF = {code: group for group, codes in STATUS_GROUPS.items() for code in codes}

# CTIS public statuses (the labels its RSS writes) → ClinicalTrials.gov codes. Codes and labels:
# gregory-ai docs/ctis-public-api-schema.md (read from the CTIS portal's own code, 2026-07).
CTIS_STATUSES = {
    "under evaluation": "NOT_YET_RECRUITING",
    "authorised, recruitment pending": "NOT_YET_RECRUITING",
    "authorised, recruiting": "RECRUITING",
    "ongoing, recruiting": "RECRUITING",
    "ongoing, recruitment ended": "ACTIVE_NOT_RECRUITING",
    "temporarily halted": "SUSPENDED",
    "suspended": "SUSPENDED",
    "ended": "COMPLETED",
    "expired": "TERMINATED",
    "revoked": "TERMINATED",
    "not authorised": "WITHDRAWN",
    "cancelled": "WITHDRAWN",
}


def status_group(code: str | None) -> str:
    return _GROUP_OF.get((code or "").upper(), "other")


def ctis_status(label: str | None) -> str | None:
    """``"Ongoing, recruiting"`` → ``RECRUITING``; an unknown label → None (shown as given, never guessed)."""
    return CTIS_STATUSES.get(" ".join((label or "").lower().split()))


# ---------------------------------------------------------------------------------------------------- targets

TARGETS = {"CD19": "CD19", "BCMA": "BCMA", "other": "Other or not named"}
_TARGET_PATTERNS = (("CD19", re.compile(r"\bCD[\s-]?19\b", re.IGNORECASE)),
                    ("BCMA", re.compile(r"\bBCMA\b|\bB[\s-]cell\s+maturation\s+antigen\b", re.IGNORECASE)))


def car_targets(texts: Iterable[str]) -> tuple[str, ...]:
    """CD19 and/or BCMA when the record names them (title, interventions, summary); else ``("other",)``."""
    joined = " ".join(texts)
    found = tuple(code for code, pattern in _TARGET_PATTERNS if pattern.search(joined))
    return found or ("other",)


# Interventions every CAR T protocol gives before the cells (lymphodepletion) or as a comparator: not products.
_NOT_PRODUCTS = re.compile(r"^(?:fludarabine|cyclophosphamide|bendamustine|placebo|saline|standard\s+of\s+care|"
                           r"best\s+available\s+therapy|tocilizumab|lymphodepleting\s+chemotherapy|"
                           r"lymphodepletion)\b", re.IGNORECASE)


def products(interventions: Iterable[str]) -> tuple[str, ...]:
    """The investigational products of a record: its interventions less conditioning chemotherapy and placebo."""
    return tuple(dict.fromkeys(name.strip() for name in interventions
                               if name and name.strip() and not _NOT_PRODUCTS.match(name.strip())))


def product_key(name: str) -> str:
    """``"KYV-101"``, ``"kyv 101"`` → ``"kyv101"``: how the finder's product filter compares names."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


# ---------------------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Site:
    """A place where the trial runs, with its own status (None: the registry gives none for the site)."""

    facility: str | None
    city: str | None
    state: str | None
    country: str | None
    status: str | None = None  # a registry status code (RECRUITING ...)
    latitude: float | None = None
    longitude: float | None = None
    status_text: str | None = None  # the registry's own words when they are not a code (CTIS)

    @property
    def key(self) -> tuple[str, str, str]:
        """How one site is recognised between two polls (a renamed hospital is a new site)."""
        return ((self.country or "").casefold(), (self.facility or "").casefold(), (self.city or "").casefold())

    @property
    def name(self) -> str:
        return self.facility or ", ".join(p for p in (self.city, self.state) if p) or (self.country or "a site")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Site:
        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if isinstance(value, str) and value.strip() else None

        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

        return cls(text("facility"), text("city"), text("state"), text("country"), text("status"),
                   number("latitude"), number("longitude"), text("status_text"))


@dataclass(frozen=True)
class Contact:
    """A central contact as the registry publishes it (name, role, public phone and e-mail)."""

    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Contact | None:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            return None
        return cls(name.strip(), *(str(data[k]) if isinstance(data.get(k), str) else None
                                   for k in ("role", "phone", "email")))


@dataclass(frozen=True)
class Eligibility:
    min_age: Age | None = None
    max_age: Age | None = None
    sex: str | None = None  # ALL, FEMALE, MALE
    healthy_volunteers: bool | None = None
    ms_forms: tuple[str, ...] = ()
    edss: Edss | None = None

    def to_json(self) -> dict[str, Any]:
        return {"min_age": self.min_age.to_json() if self.min_age else None,
                "max_age": self.max_age.to_json() if self.max_age else None,
                "sex": self.sex, "healthy_volunteers": self.healthy_volunteers, "ms_forms": list(self.ms_forms),
                "edss": self.edss.to_json() if self.edss else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Eligibility:
        healthy = data.get("healthy_volunteers")
        return cls(Age.from_json(data.get("min_age")), Age.from_json(data.get("max_age")),
                   data.get("sex") if isinstance(data.get("sex"), str) else None,
                   healthy if isinstance(healthy, bool) else None,
                   tuple(str(f) for f in data.get("ms_forms") or ()), Edss.from_json(data.get("edss")))


@dataclass(frozen=True)
class Dated:
    """A registry date (partial ISO: ``2027-06``) and whether it is ``ACTUAL`` or ``ESTIMATED``."""

    date: str
    type: str | None = None

    @property
    def actual(self) -> bool:
        return (self.type or "").upper() == "ACTUAL"

    def words(self) -> str:
        return f"{self.date} ({'actual' if self.actual else 'estimated'})" if self.type else self.date


def _dated(value: Any) -> Dated | None:
    if isinstance(value, Mapping) and isinstance(value.get("date"), str):
        kind = value.get("type")
        return Dated(value["date"], kind if isinstance(kind, str) else None)
    return None


def _strings(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        return ()
    return tuple(str(v) for v in values if isinstance(v, str) and v.strip())


@dataclass(frozen=True)
class TrialSnapshot:
    """One registry record of a trial as of one poll. ``None`` means "not in this snapshot" (an older item)."""

    registry: str  # "ctgov" or "ctis"
    registry_id: str  # NCT id or EU CT number
    title: str = ""
    status: str | None = None  # registry status code
    status_text: str | None = None  # the registry's own words, for CTIS
    phases: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    sponsor: str | None = None
    collaborators: tuple[str, ...] | None = None
    contacts: tuple[Contact, ...] | None = None
    sites: tuple[Site, ...] | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None  # ESTIMATED (planned) or ACTUAL
    eligibility: Eligibility | None = None
    first_posted: str | None = None
    last_update: str | None = None
    start: Dated | None = None
    primary_completion: Dated | None = None
    eu_ct_numbers: tuple[str, ...] = ()  # a ClinicalTrials.gov record's CTIS twins (from its secondary ids)
    nct_ids: tuple[str, ...] = ()  # a CTIS record's ClinicalTrials.gov twins (named in its text)
    extra_keys: frozenset[str] = field(default=frozenset(), compare=False)  # what the stored JSON had

    @property
    def registry_url(self) -> str:
        return REGISTRY_URLS.get(self.registry, "{id}").format(id=self.registry_id)

    @property
    def status_group(self) -> str:
        return status_group(self.status)

    def has(self, key: str) -> bool:
        """Whether the stored snapshot had ``key`` (a snapshot from before a fact was kept says nothing of it)."""
        return not self.extra_keys or key in self.extra_keys

    def site_status(self, site: Site) -> str | None:
        """A site's status, or the trial's when the registry gives none for the site."""
        return site.status or self.status

    def countries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.country for s in self.sites or () if s.country))

    def recruiting_countries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.country for s in self.sites or ()
                                   if s.country and status_group(self.site_status(s)) == "recruiting"))

    def to_extra(self) -> dict[str, Any]:
        """The JSON kept in the item's ``extra`` (the first keys are those of the first trial items)."""
        return {
            "status": self.status,
            "phase": list(self.phases),
            "conditions": list(self.conditions),
            "interventions": list(self.interventions),
            "other_names": list(self.other_names),
            "sponsor": self.sponsor,
            "start_date": self.start.date if self.start else None,
            "last_update": self.last_update,
            "registry": self.registry,
            "registry_id": self.registry_id,
            "status_text": self.status_text,
            "products": list(self.products),
            "targets": list(self.targets),
            "collaborators": list(self.collaborators) if self.collaborators is not None else None,
            "contacts": [c.to_json() for c in self.contacts] if self.contacts is not None else None,
            "sites": [s.to_json() for s in self.sites] if self.sites is not None else None,
            "enrollment": {"count": self.enrollment, "type": self.enrollment_type},
            "eligibility": self.eligibility.to_json() if self.eligibility else None,
            "first_posted": self.first_posted,
            "start": {"date": self.start.date, "type": self.start.type} if self.start else None,
            "primary_completion": ({"date": self.primary_completion.date, "type": self.primary_completion.type}
                                   if self.primary_completion else None),
            "eu_ct_numbers": list(self.eu_ct_numbers),
            "nct_ids": list(self.nct_ids),
        }

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], nct_id: str | None = None, title: str = "") -> TrialSnapshot:
        """Read a stored snapshot back; an item stored before a fact was kept gives None for it."""
        registry = str(extra["registry"]) if isinstance(extra.get("registry"), str) else "ctgov"
        registry_id = str(extra["registry_id"]) if isinstance(extra.get("registry_id"), str) else (nct_id or "")
        raw_enrollment = extra.get("enrollment")
        enrollment: Mapping[str, Any] = raw_enrollment if isinstance(raw_enrollment, Mapping) else {}
        count = enrollment.get("count")
        kind = enrollment.get("type")
        sites = extra.get("sites")
        contacts = extra.get("contacts")
        eligibility = extra.get("eligibility")
        start = _dated(extra.get("start")) or (Dated(extra["start_date"]) if isinstance(extra.get("start_date"), str)
                                               else None)
        return cls(
            registry=registry,
            registry_id=registry_id,
            title=title,
            status=extra.get("status") if isinstance(extra.get("status"), str) else None,
            status_text=extra.get("status_text") if isinstance(extra.get("status_text"), str) else None,
            phases=_strings(extra.get("phase")),
            conditions=_strings(extra.get("conditions")),
            interventions=_strings(extra.get("interventions")),
            other_names=_strings(extra.get("other_names")),
            products=_strings(extra.get("products")),
            targets=_strings(extra.get("targets")),
            sponsor=extra.get("sponsor") if isinstance(extra.get("sponsor"), str) else None,
            collaborators=_strings(extra.get("collaborators")) if isinstance(extra.get("collaborators"), list)
            else None,
            contacts=tuple(c for c in (Contact.from_json(x) for x in contacts if isinstance(x, Mapping)) if c)
            if isinstance(contacts, list) else None,
            sites=tuple(Site.from_json(s) for s in sites if isinstance(s, Mapping)) if isinstance(sites, list)
            else None,
            enrollment=count if isinstance(count, int) and not isinstance(count, bool) else None,
            enrollment_type=kind if isinstance(kind, str) else None,
            eligibility=Eligibility.from_json(eligibility) if isinstance(eligibility, Mapping) else None,
            first_posted=extra.get("first_posted") if isinstance(extra.get("first_posted"), str) else None,
            last_update=extra.get("last_update") if isinstance(extra.get("last_update"), str) else None,
            start=start,
            primary_completion=_dated(extra.get("primary_completion")),
            eu_ct_numbers=_strings(extra.get("eu_ct_numbers")),
            nct_ids=_strings(extra.get("nct_ids")),
            extra_keys=frozenset(extra),
        )


def merge_twin_sites(primary: TrialSnapshot, twin: TrialSnapshot | None) -> tuple[Site, ...]:
    """The sites of a trial shown as one: the primary record's, then the twin's in countries the primary lacks
    (a CTIS record knows each EU country's status, often before ClinicalTrials.gov lists the hospitals)."""
    sites = tuple(primary.sites or ())
    if twin is None:
        return sites
    known = {s.country for s in sites if s.country}
    extra = tuple(replace(s, status=twin.site_status(s)) for s in twin.sites or () if s.country not in known)
    return sites + extra


def sites_by_country(sites: Sequence[Site], status_of: Any, first: str | None = None) -> list[tuple[str, list[Site]]]:
    """Sites grouped by country: ``first`` (the reader's), then countries with recruiting sites, then the rest,
    each alphabetically; recruiting sites first within a country."""
    groups: dict[str, list[Site]] = {}
    for site in sites:
        groups.setdefault(site.country or "Country not given", []).append(site)

    def recruiting(site: Site) -> bool:
        return status_group(status_of(site)) == "recruiting"

    def order(item: tuple[str, list[Site]]) -> tuple[int, int, str]:
        country, members = item
        return (0 if first and country.casefold() == first.casefold() else 1,
                0 if any(recruiting(s) for s in members) else 1, country)

    return [(country, sorted(members, key=lambda s: (not recruiting(s), s.name)))
            for country, members in sorted(groups.items(), key=order)]
