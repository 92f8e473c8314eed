"""The trial finder's rules: one trial from its registry records (CTIS ↔ NCT twins), the filters a reader sets,
and the order that puts first what a person with MS needs first. Pure: records in, ordered trials out.

- **One trial, two registries.** A ClinicalTrials.gov record that lists an EU CT number among its secondary ids,
  or a CTIS record whose text names an NCT id, is one trial with the other record as its twin. The
  ClinicalTrials.gov record leads (it has the sites and the criteria); the CTIS record adds the EU countries
  it lacks. The trial is known by its NCT id, or by its EU CT number when it has no NCT record.
- **Filters**: status group, country (a site there, matched by ISO code; only when asked: a chosen country
  orders the list first and filters it only with ``only_country``), MS form ("progressive" takes SPMS,
  PPMS and progressive MS not further named), phase (a phase 1/2 trial is in both), CAR target, product.
- **Order** with a country chosen: recruiting there; recruiting elsewhere, nearest first (distance from the
  chosen country's sites to the trial's nearest recruiting site); not yet recruiting there; not yet recruiting
  elsewhere; then active, completed, withdrawn. Without a country: by status the same way. Within a tier, the
  most recent change first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .countries import country_key, same_country
from .record import (
    GROUP_LABELS,
    STATUS_GROUPS,
    TARGETS,
    Site,
    TrialSnapshot,
    merge_twin_sites,
    product_key,
    status_group,
)

FORMS = {"rrms": "Relapsing-remitting (RRMS)", "spms": "Secondary progressive (SPMS)",
         "ppms": "Primary progressive (PPMS)", "progressive": "Any progressive form"}
_FORM_CODES = {"rrms": {"RRMS"}, "spms": {"SPMS"}, "ppms": {"PPMS"}, "progressive": {"SPMS", "PPMS", "PMS"}}
PHASES = {"early-1": "Early phase 1", "1": "Phase 1", "2": "Phase 2", "3": "Phase 3", "4": "Phase 4"}
_PHASE_CODES = {"early-1": "EARLY_PHASE1", "1": "PHASE1", "2": "PHASE2", "3": "PHASE3", "4": "PHASE4"}
STATUSES = {group: GROUP_LABELS[group] for group in STATUS_GROUPS}
_STATUS_ORDER = [*STATUS_GROUPS, "other"]


@dataclass(frozen=True)
class RecordRow:
    """One stored registry record (an item) as the finder needs it."""

    item_id: int
    snapshot: TrialSnapshot
    first_seen_at: datetime
    changed_at: datetime  # the item's sort key: its last change, else when it was first published or seen
    updated_at: datetime


@dataclass(frozen=True)
class TrialView:
    """One trial as readers (and the API) see it: its leading record, its twin from the other registry, and the
    items behind both. Everything a page shows is a property of these."""

    key: str  # NCT id, else EU CT number
    record: TrialSnapshot
    twin: TrialSnapshot | None
    item_ids: tuple[int, ...]
    first_seen_at: datetime
    changed_at: datetime
    updated_at: datetime
    sites: tuple[Site, ...] = field(default=())

    @property
    def title(self) -> str:
        return self.record.title or (self.twin.title if self.twin else "") or self.key

    @property
    def nct_id(self) -> str | None:
        for snapshot in (self.record, self.twin):
            if snapshot and snapshot.registry == "ctgov":
                return snapshot.registry_id
        return None

    @property
    def eu_ct_number(self) -> str | None:
        for snapshot in (self.record, self.twin):
            if snapshot and snapshot.registry == "ctis":
                return snapshot.registry_id
        return self.record.eu_ct_numbers[0] if self.record.eu_ct_numbers else None

    @property
    def status(self) -> str | None:
        return self.record.status or (self.twin.status if self.twin else None)

    @property
    def status_group(self) -> str:
        return status_group(self.status)

    @property
    def ms_forms(self) -> tuple[str, ...]:
        forms: list[str] = []
        for snapshot in (self.record, self.twin):
            if snapshot and snapshot.eligibility:
                forms.extend(snapshot.eligibility.ms_forms)
        return tuple(dict.fromkeys(forms))

    @property
    def targets(self) -> tuple[str, ...]:
        found = [t for s in (self.record, self.twin) if s for t in s.targets if t != "other"]
        return tuple(dict.fromkeys(found)) or ("other",)

    @property
    def products(self) -> tuple[str, ...]:
        names: dict[str, str] = {}
        for snapshot in (self.record, self.twin):
            for name in snapshot.products if snapshot else ():
                names.setdefault(product_key(name), name)
        return tuple(names.values())

    def site_status(self, site: Site) -> str | None:
        return site.status or self.status

    def recruiting_sites(self) -> list[Site]:
        return [site for site in self.sites if status_group(self.site_status(site)) == "recruiting"]

    def countries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(site.country for site in self.sites if site.country))

    def recruiting_countries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(site.country for site in self.recruiting_sites() if site.country))

    def has_site_in(self, country: str, group: str | None = None) -> bool:
        return any(same_country(site.country, country)
                   and (group is None or status_group(self.site_status(site)) == group) for site in self.sites)


def group_twins(rows: Iterable[RecordRow]) -> list[TrialView]:
    """Registry records → trials, twins paired. Several items of one record (two sources polling one study):
    the most recently updated one speaks for it."""
    latest: dict[tuple[str, str], RecordRow] = {}
    items: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        ident = (row.snapshot.registry, row.snapshot.registry_id)
        items.setdefault(ident, []).append(row.item_id)
        if ident not in latest or (row.updated_at, row.item_id) > (latest[ident].updated_at, latest[ident].item_id):
            latest[ident] = row
    ctis = {ident[1]: row for ident, row in latest.items() if ident[0] == "ctis"}
    paired: set[str] = set()
    views: list[TrialView] = []
    for ident, row in latest.items():
        if ident[0] != "ctgov":
            continue
        twin = next((ctis[n] for n in row.snapshot.eu_ct_numbers if n in ctis and n not in paired), None)
        if twin is None:
            twin = next((r for n, r in ctis.items() if n not in paired and ident[1] in r.snapshot.nct_ids), None)
        if twin is not None:
            paired.add(twin.snapshot.registry_id)
        views.append(_view(ident[1], row, twin, items[ident] + (items[("ctis", twin.snapshot.registry_id)]
                                                                 if twin else [])))
    for number, row in ctis.items():
        if number not in paired:
            views.append(_view(number, row, None, items[("ctis", number)]))
    return views


def _view(key: str, row: RecordRow, twin: RecordRow | None, item_ids: list[int]) -> TrialView:
    rows = [row, twin] if twin else [row]
    return TrialView(
        key=key,
        record=row.snapshot,
        twin=twin.snapshot if twin else None,
        item_ids=tuple(sorted(set(item_ids))),
        first_seen_at=min(r.first_seen_at for r in rows),
        changed_at=max(r.changed_at for r in rows),
        updated_at=max(r.updated_at for r in rows),
        sites=merge_twin_sites(row.snapshot, twin.snapshot if twin else None),
    )


def find(views: Sequence[TrialView], key: str) -> TrialView | None:
    """The trial known by ``key`` (NCT id or EU CT number, of either of its records)."""
    wanted = key.upper()
    for view in views:
        ids = {view.key.upper(), (view.nct_id or "").upper(), (view.eu_ct_number or "").upper()}
        if wanted in ids:
            return view
    return None


# ---------------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class FinderQuery:
    """What a reader asked the finder for (validated values of ``STATUSES``, ``FORMS``, ... or None)."""

    status: str | None = None
    country: str | None = None  # the reader's country: what "near" means
    only_country: bool = False  # keep only trials with a site in ``country``
    form: str | None = None
    phase: str | None = None
    target: str | None = None
    product: str | None = None

    @property
    def empty(self) -> bool:
        return not any((self.status, self.country, self.form, self.phase, self.target, self.product))


def matches(view: TrialView, query: FinderQuery) -> bool:
    if query.status and view.status_group != query.status:
        return False
    if query.country and query.only_country and not view.has_site_in(query.country):
        return False
    if query.form and not set(view.ms_forms) & _FORM_CODES.get(query.form, set()):
        return False
    if query.phase:
        phases = {p.upper() for s in (view.record, view.twin) if s for p in s.phases}
        if _PHASE_CODES.get(query.phase) not in phases:
            return False
    if query.target and query.target not in view.targets:
        return False
    return not query.product or product_key(query.product) in {product_key(p) for p in view.products}


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = (math.radians(x) for x in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def country_centre(views: Iterable[TrialView], country: str) -> tuple[float, float] | None:
    """The mean position of every known site in ``country``: where "near" is measured from."""
    points = [(s.latitude, s.longitude) for view in views for s in view.sites
              if same_country(s.country, country) and s.latitude is not None and s.longitude is not None]
    if not points:
        return None
    return (sum(p[0] for p in points if p[0] is not None) / len(points),
            sum(p[1] for p in points if p[1] is not None) / len(points))


def nearest_km(view: TrialView, centre: tuple[float, float] | None,
               centres: dict[str, tuple[float, float] | None] | None = None) -> float | None:
    """Distance from ``centre`` to the trial's nearest recruiting site, in km. A site without a position (CTIS
    gives countries only) stands at the centre of its country's known sites (``centres``), when there are any."""
    if centre is None:
        return None
    distances = []
    for site in view.recruiting_sites():
        point: tuple[float, float] | None = None
        if site.latitude is not None and site.longitude is not None:
            point = (site.latitude, site.longitude)
        elif centres is not None and site.country:
            point = centres.get(country_key(site.country))
        if point is not None:
            distances.append(_distance_km(centre, point))
    return min(distances) if distances else None


def country_centres(views: Sequence[TrialView]) -> dict[str, tuple[float, float] | None]:
    """ISO code → the centre of that country's known sites, for every country with a site."""
    names = {country_key(s.country): s.country for view in views for s in view.sites if s.country}
    return {key: country_centre(views, name) for key, name in names.items()}


def rank(views: Sequence[TrialView], query: FinderQuery) -> list[TrialView]:
    """The trials matching ``query``, in the order described in the module docstring."""
    chosen = [view for view in views if matches(view, query)]
    country = query.country
    centre = country_centre(views, country) if country else None
    centres = country_centres(views) if centre else None

    def key(view: TrialView) -> tuple[int, float, float, str]:
        group = view.status_group
        newest = -view.changed_at.timestamp()
        if country and group == "recruiting":
            here = view.has_site_in(country, "recruiting")
            distance = nearest_km(view, centre, centres)
            return (0 if here else 1, 0.0 if here else (distance if distance is not None else math.inf), newest,
                    view.key)
        if country and group == "not-yet-recruiting":
            return (2 if view.has_site_in(country) else 3, 0.0, newest, view.key)
        tier = _STATUS_ORDER.index(group) if group in _STATUS_ORDER else len(_STATUS_ORDER)
        if country:
            tier += 2  # after the four recruiting tiers above (active is then 4, completed 5 ...)
        return (tier, 0.0, newest, view.key)

    return sorted(chosen, key=key)


def facet_countries(views: Iterable[TrialView]) -> list[str]:
    """The countries with at least one site, as the registries name them (one spelling per country)."""
    names: dict[str, str] = {}
    for view in views:
        for country in view.countries():
            names.setdefault(country_key(country), country)
    return sorted(names.values(), key=str.casefold)


def facet_products(views: Iterable[TrialView]) -> list[str]:
    names: dict[str, str] = {}
    for view in views:
        for product in view.products:
            names.setdefault(product_key(product), product)
    return sorted(names.values(), key=str.casefold)


__all__ = ["FORMS", "PHASES", "STATUSES", "TARGETS", "FinderQuery", "RecordRow", "TrialView", "country_centre",
           "country_centres", "facet_countries", "facet_products", "find", "group_twins", "matches", "nearest_km",
           "rank"]
