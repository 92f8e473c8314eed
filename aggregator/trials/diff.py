"""Two snapshots of one trial record → the changes a reader cares about, each as one plain sentence. Pure.

The sentences become the trial's "Update" (item events, the trial feed, the weekly email):

- "Status changed from Not yet recruiting to Recruiting", "Phase changed from Phase 2 to Phase 1/2"
- "Now recruiting in Germany: Universitätsklinikum Erlangen" (a new site, or a site whose status became
  recruiting; a site without its own status has the trial's), "New site in France, not yet recruiting: …",
  "No longer recruiting in Spain: …", "Site no longer listed in Italy: …" (one sentence per country and kind)
- "Enrollment 24 → 60", "Minimum age 18 → 16", "Maximum age 65 → 70", "Sex: female and male participants →
  female participants only", "Healthy volunteers now accepted", "MS forms PPMS, SPMS → PPMS, RRMS, SPMS",
  "EDSS limits 3.0 to 6.5 → 2.0 to 6.5"
- "Sponsor A → B", "New collaborator: …", "New central contact: …", "Contact details of … changed",
  "Primary completion 2027-06 → 2028-01", "Start date 2026-03 → 2026-05 (actual)", "Start date 2026-10
  confirmed (actual)"

Rules: a fact an older snapshot did not keep is not a change (it would invent news on the first poll after an
upgrade), and neither is a missing status or phase (a partial answer); letter case and the order of phases do
not count. ``Last update`` changes with every edit, so it is never news by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import phase_label, status_label
from .eligibility import Age, Edss, sex_words
from .record import Eligibility, Site, TrialSnapshot, status_group

NAMES_SHOWN = 4  # "…: A, B, C, D and 3 more"


@dataclass(frozen=True)
class TrialChange:
    """One fact of a trial record that changed between two polls, and the sentence that says so."""

    fact: str  # status, phase, site, enrollment, min_age, max_age, sex, healthy_volunteers, ms_forms, edss ...
    before: Any
    after: Any
    summary: str = ""
    country: str | None = None  # site changes: the country they happened in
    began_recruiting: bool = False  # site changes: sites in ``country`` started recruiting

    def event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fact": self.fact, "before": self.before, "after": self.after}
        if self.country is not None:
            data["country"] = self.country
            data["began_recruiting"] = self.began_recruiting
        return data


def _comparable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(sorted(str(v).upper() for v in value))
    return str(value).upper()


def _names(sites: Sequence[Site]) -> str:
    names = sorted(dict.fromkeys(site.name for site in sites))
    if len(names) <= NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:NAMES_SHOWN])} and {len(names) - NAMES_SHOWN} more"


def _age(age: Age | None, both_years: bool) -> str:
    if age is None:
        return "no limit"
    return age.words(with_unit=not both_years)


def _edss(edss: Edss | None) -> str:
    return edss.range_words() if edss and (edss.minimum is not None or edss.maximum is not None) else "not stated"


def _count(count: int | None, kind: str | None, show_kind: bool) -> str:
    text = "not given" if count is None else str(count)
    if show_kind and kind:
        text += " actual" if kind.upper() == "ACTUAL" else " planned"
    return text


def site_changes(before: TrialSnapshot, after: TrialSnapshot) -> list[TrialChange]:
    """Sites that appeared, disappeared, started or stopped recruiting: one change per country and kind."""
    old = {site.key: site for site in before.sites or ()}
    new = {site.key: site for site in after.sites or ()}
    groups: dict[tuple[str, str], list[Site]] = {}
    for key, site in new.items():
        now = status_group(after.site_status(site))
        if key not in old:
            kind = {"recruiting": "recruiting", "not-yet-recruiting": "new-pending"}.get(now, "new-other")
        else:
            was = status_group(before.site_status(old[key]))
            if was == now:
                continue
            kind = "recruiting" if now == "recruiting" else "stopped" if was == "recruiting" else "status"
        groups.setdefault((site.country or "Country not given", kind), []).append(site)
    for key, site in old.items():
        if key not in new:
            groups.setdefault((site.country or "Country not given", "removed"), []).append(site)
    changes = []
    for (country, kind), sites in sorted(groups.items()):
        named = [site for site in sites if site.facility or site.city]
        where = f"in {country}" + (f": {_names(named)}" if named else "")
        if kind == "recruiting":
            summary = f"Now recruiting {where}"
        elif kind == "new-pending":
            summary = f"New site in {country}, not yet recruiting" + (f": {_names(named)}" if named else "")
        elif kind == "new-other":
            summary = f"New site in {country}" + (f": {_names(named)}" if named else "") + \
                f" ({status_label(after.site_status(sites[0]))})"
        elif kind == "stopped":
            summary = f"No longer recruiting {where} (now {status_label(after.site_status(sites[0]))})"
        elif kind == "status":
            summary = f"Site status {where} now {status_label(after.site_status(sites[0]))}"
        else:
            summary = f"Site no longer listed {where}"
        changes.append(TrialChange("site", kind, [site.name for site in sites], summary, country=country,
                                   began_recruiting=kind == "recruiting"))
    return changes


def _eligibility_changes(before: Eligibility, after: Eligibility) -> list[TrialChange]:
    changes = []
    both_years = all(a is None or a.unit == "year" for a in (before.min_age, after.min_age, before.max_age,
                                                             after.max_age))
    for fact, label, old_age, new_age in (("min_age", "Minimum age", before.min_age, after.min_age),
                                          ("max_age", "Maximum age", before.max_age, after.max_age)):
        if (old_age.days if old_age else None) != (new_age.days if new_age else None):
            changes.append(TrialChange(fact, old_age.to_json() if old_age else None,
                                       new_age.to_json() if new_age else None,
                                       f"{label} {_age(old_age, both_years)} → {_age(new_age, both_years)}"))
    if before.sex and after.sex and before.sex.upper() != after.sex.upper():
        changes.append(TrialChange("sex", before.sex, after.sex,
                                   f"Sex: {sex_words(before.sex)} → {sex_words(after.sex)}"))
    if before.healthy_volunteers is not None and after.healthy_volunteers is not None \
            and before.healthy_volunteers != after.healthy_volunteers:
        changes.append(TrialChange("healthy_volunteers", before.healthy_volunteers, after.healthy_volunteers,
                                   "Healthy volunteers now accepted" if after.healthy_volunteers
                                   else "Healthy volunteers no longer accepted"))
    if set(before.ms_forms) != set(after.ms_forms):
        old_forms = ", ".join(sorted(before.ms_forms)) or "not named"
        new_forms = ", ".join(sorted(after.ms_forms)) or "not named"
        changes.append(TrialChange("ms_forms", list(before.ms_forms), list(after.ms_forms),
                                   f"MS forms {old_forms} → {new_forms}"))
    if _edss(before.edss) != _edss(after.edss):
        changes.append(TrialChange("edss", before.edss.to_json() if before.edss else None,
                                   after.edss.to_json() if after.edss else None,
                                   f"EDSS limits {_edss(before.edss)} → {_edss(after.edss)}"))
    return changes


def _listed(fact: str, label: str, old: Sequence[str], new: Sequence[str]) -> list[TrialChange]:
    changes = []
    for name in new:
        if name.casefold() not in {o.casefold() for o in old}:
            changes.append(TrialChange(fact, None, name, f"New {label}: {name}"))
    for name in old:
        if name.casefold() not in {n.casefold() for n in new}:
            changes.append(TrialChange(fact, name, None, f"{label[:1].upper()}{label[1:]} no longer listed: {name}"))
    return changes


def trial_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[TrialChange]:
    """The changes between two stored snapshots (``extra`` of a trial item), in reading order."""
    if not before or not after:
        return []
    old, new = TrialSnapshot.from_extra(before), TrialSnapshot.from_extra(after)
    changes: list[TrialChange] = []
    for fact, name in (("status", "Status"), ("phase", "Phase")):
        was, now = before.get(fact), after.get(fact)
        if was in (None, "", []) or now in (None, "", []) or _comparable(was) == _comparable(now):
            continue
        words = (status_label(was), status_label(now)) if fact == "status" else (phase_label(was), phase_label(now))
        changes.append(TrialChange(fact, was, now, f"{name} changed from {words[0]} to {words[1]}"))
    if old.has("sites") and new.has("sites") and old.sites is not None and new.sites is not None:
        changes += site_changes(old, new)
    if old.has("enrollment") and new.has("enrollment") and old.enrollment is not None and new.enrollment is not None:
        kinds_differ = (old.enrollment_type or "").upper() != (new.enrollment_type or "").upper()
        if old.enrollment != new.enrollment or kinds_differ:
            changes.append(TrialChange(
                "enrollment", old.enrollment, new.enrollment,
                f"Enrollment {_count(old.enrollment, old.enrollment_type, kinds_differ)} → "
                f"{_count(new.enrollment, new.enrollment_type, kinds_differ)}"))
    if old.eligibility is not None and new.eligibility is not None:
        changes += _eligibility_changes(old.eligibility, new.eligibility)
    if old.sponsor and new.sponsor and old.sponsor.casefold() != new.sponsor.casefold():
        changes.append(TrialChange("sponsor", old.sponsor, new.sponsor, f"Sponsor {old.sponsor} → {new.sponsor}"))
    if old.collaborators is not None and new.collaborators is not None:
        changes += _listed("collaborator", "collaborator", old.collaborators, new.collaborators)
    if old.contacts is not None and new.contacts is not None:
        changes += _listed("contact", "central contact", [c.name for c in old.contacts],
                           [c.name for c in new.contacts])
        before_details = {c.name.casefold(): (c.phone, c.email) for c in old.contacts}
        for contact in new.contacts:
            details = before_details.get(contact.name.casefold())
            if details is not None and details != (contact.phone, contact.email):
                changes.append(TrialChange("contact", list(details), [contact.phone, contact.email],
                                           f"Contact details of {contact.name} changed"))
    for fact, label in (("primary_completion", "Primary completion"), ("start", "Start date")):
        was_date, now_date = _dated_pair(old, fact), _dated_pair(new, fact)
        if not (old.has(fact) and new.has(fact) and was_date and now_date) or was_date == now_date:
            continue
        if was_date[0] != now_date[0]:
            summary = f"{label} {was_date[0]} → {now_date[0]}" + (" (actual)" if now_date[1] else "")
        else:  # the same date, now confirmed (or back to an estimate)
            summary = f"{label} {now_date[0]} " + ("confirmed (actual)" if now_date[1] else "now an estimate")
        changes.append(TrialChange(fact, was_date[0], now_date[0], summary))
    return changes


def _dated_pair(snapshot: TrialSnapshot, fact: str) -> tuple[str, bool] | None:
    dated = snapshot.primary_completion if fact == "primary_completion" else snapshot.start
    return (dated.date, dated.actual) if dated else None

