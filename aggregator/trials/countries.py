"""Country names as registries write them, matched by ISO 3166 code (pycountry). Pure.

ClinicalTrials.gov writes "Korea, Republic of" and "Turkey", CTIS "Spain", a reader picks "South Korea" from a
list: all of them meet as the ISO alpha-2 code. A name pycountry does not know is compared case-insensitively,
so an unexpected spelling still matches itself.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

# Spellings registries use that pycountry does not list (it has "Türkiye", the registry often "Turkey").
_ALIASES = {"turkey": "TR", "the netherlands": "NL", "czech republic": "CZ", "russia": "RU", "south korea": "KR",
            "korea, south": "KR", "vietnam": "VN", "iran": "IR", "uk": "GB", "great britain": "GB", "usa": "US",
            "united states of america": "US", "macedonia, the former yugoslav republic of": "MK",
            "macedonia": "MK", "swaziland": "SZ", "burma": "MM", "ivory coast": "CI", "cape verde": "CV",
            "palestine": "PS", "syria": "SY", "laos": "LA", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ"}


@lru_cache(maxsize=1024)
def country_key(name: str | None) -> str:
    """``"Korea, Republic of"`` and ``"South Korea"`` → ``"KR"``; an unknown name → itself, case-folded."""
    text = " ".join((name or "").split())
    if not text:
        return ""
    alias = _ALIASES.get(text.casefold())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return text.casefold()


def same_country(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and country_key(a) == country_key(b)


@lru_cache(maxsize=1)
def country_names() -> tuple[str, ...]:
    """Every country's everyday name ("South Korea", "Iran", "United States"), alphabetically."""
    names = {getattr(country, "common_name", None) or country.name for country in pycountry.countries}
    return tuple(sorted(names, key=str.casefold))


def display_name(name: str) -> str:
    """The everyday name of a registry's spelling ("Korea, Republic of" → "South Korea"); unknown: as given."""
    key = country_key(name)
    country = pycountry.countries.get(alpha_2=key) if len(key) == 2 and key.isupper() else None
    if country is None:
        return name
    return str(getattr(country, "common_name", None) or country.name)
