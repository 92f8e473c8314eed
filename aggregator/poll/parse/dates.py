"""Dates as sources write them → aware UTC datetimes. Pure: no clock, no I/O.

A date is read from the text the source wrote, never completed from the day it is read: feedparser's fallback
parsers read ``2020/1/10 14:33:00`` as 1 December 2020 when run in December (issue #12), so feeds hand us the raw
string and ``parse_date`` decides. In order:

1. RFC 822 / 2822 (RSS ``pubDate``, e-mail): with or without weekday and seconds; numeric zones (``+0100``),
   obsolete names (``GMT``, ``UT``, ``EST`` … ``PDT``, and ``CET``/``CEST`` …); a military letter counts as UTC,
   as RFC 2822 §4.3 says, and so does ``-0000`` ("no information about the local time zone").
2. ISO 8601 / W3C-DTF (Atom, Dublin Core, JSON APIs): ``2026``, ``2026-11``, ``2026-11-03``, with a time, with
   or without a zone, with fractions of a second; ``datetime.fromisoformat`` and ``dateutil.parser.isoparse``.
3. Everything else through ``dateutil.parser`` with month and weekday names in the languages of our sources
   (English, German, French, Spanish, Italian, Portuguese, Dutch; accents folded) and CJK ``年月日``:
   ``2020/1/10 14:33:00`` (year first), ``10.1.2020`` (dots: day first, as everywhere dots are used),
   ``3 de noviembre de 2026``, ``Montag, 3. November 2026, 10:30 Uhr``, ``2020年1月10日``. A text that does not
   name a year and a month is not a date (``3 days ago``, ``Nov 3``): it is parsed against two different
   defaults, and any field that differs came from the default, not from the text. A missing day means the 1st
   (``November 2026``); a missing time means midnight.

A date that names no zone is read in ``zone``: the source's ``options.timezone`` in feeds.yaml (an IANA name)
when it gives one, else UTC.

``implausible`` is the sanity rule applied when an item is cleaned: a date before 1990 or more than a day after
the poll is not believed (a typo, a wrong zone, a scheduled post); the item is then dated by when we first saw
it, and the reason is recorded with what the source wrote.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from dateutil import parser as dateutil_parser

EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
MAX_DATE_TEXT = 120  # longer than any date anyone writes: not a date field

# Month and weekday names, lower case with accents folded (the text is folded the same way before parsing).
_MONTHS: list[tuple[str, ...]] = [
    ("jan", "january", "januar", "janv", "janvier", "ene", "enero", "gen", "gennaio", "janeiro", "januari", "jän",
     "jaen", "janner"),
    ("feb", "february", "februar", "fev", "fevr", "fevrier", "febrero", "febbraio", "fevereiro", "februari"),
    ("mar", "march", "marz", "maerz", "mars", "marzo", "marco", "maart", "mrt"),
    ("apr", "april", "avr", "avril", "abr", "abril", "aprile"),
    ("may", "mai", "mayo", "mag", "maggio", "maio", "mei"),
    ("jun", "june", "juni", "juin", "junio", "giu", "giugno", "junho"),
    ("jul", "july", "juli", "juil", "juillet", "julio", "lug", "luglio", "julho"),
    ("aug", "august", "aout", "ago", "agosto", "augustus"),
    ("sep", "sept", "september", "septembre", "septiembre", "set", "settembre", "setembro"),
    ("oct", "october", "okt", "oktober", "octobre", "octubre", "ott", "ottobre", "out", "outubro"),
    ("nov", "november", "novembre", "noviembre", "novembro"),
    ("dec", "december", "dez", "dezember", "decembre", "dic", "diciembre", "dicembre", "dezembro"),
]
# Weekdays are only skipped, never needed; abbreviations that are also month names ("mar") are left out.
_WEEKDAYS: list[tuple[str, ...]] = [
    ("mon", "monday", "montag", "mo", "lundi", "lun", "lunes", "lunedi", "segunda", "seg", "maandag", "ma"),
    ("tue", "tues", "tuesday", "dienstag", "di", "mardi", "martes", "martedi", "terca", "ter", "dinsdag"),
    ("wed", "wednesday", "mittwoch", "mi", "mercredi", "miercoles", "mercoledi", "quarta", "qua", "woensdag",
     "wo"),
    ("thu", "thur", "thurs", "thursday", "donnerstag", "do", "jeudi", "jeu", "jueves", "jue", "giovedi", "quinta",
     "qui", "donderdag"),
    ("fri", "friday", "freitag", "fr", "vendredi", "ven", "viernes", "vie", "venerdi", "sexta", "sex", "vrijdag",
     "vr"),
    ("sat", "saturday", "samstag", "sonnabend", "sa", "samedi", "sam", "sabado", "sab", "zaterdag", "za"),
    ("sun", "sunday", "sonntag", "so", "dimanche", "dim", "domingo", "dom", "domenica", "zondag", "zo"),
]
# Words between the parts of a date: "3 de noviembre de 2026", "le 3 novembre 2026 à 10h30", "10:30 Uhr".
_JUMP = ("de", "del", "do", "da", "le", "el", "a", "um", "uhr", "om", "alle", "ore", "h", "heure", "heures",
         "at", "on", "the", "of", "den", "der", "am", "kl")


class _Names(dateutil_parser.parserinfo):  # type: ignore[misc]  # dateutil has no type information here
    MONTHS = _MONTHS
    WEEKDAYS = _WEEKDAYS
    JUMP = [*dateutil_parser.parserinfo.JUMP, *_JUMP]


class _DayFirst(_Names):
    def __init__(self) -> None:
        super().__init__(dayfirst=True)


class _YearFirst(_Names):
    def __init__(self) -> None:
        super().__init__(yearfirst=True)


_NAMES, _DAY_FIRST, _YEAR_FIRST = _Names(), _DayFirst(), _YearFirst()

# Zone abbreviations as feeds write them, in hours east of UTC: RFC 822's North American names, and the European
# and Asia-Pacific ones our sources use. Ambiguous ones (IST, and CST as China's) are left out: an unknown name
# is read as the source's zone, like no name at all; a military letter is UTC (RFC 2822 §4.3).
ZONE_NAMES: dict[str, float] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5,
    "BST": 1, "WEST": 1, "CET": 1, "CEST": 2, "MEZ": 1, "MESZ": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AWST": 8, "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11,
    "NZST": 12, "NZDT": 13,
}

# Two defaults that differ in year, month and day: a field the text does not give comes out different.
_DEFAULT_A = datetime(2000, 1, 1)
_DEFAULT_B = datetime(2001, 2, 2)

_ISO_START = re.compile(r"^\d{4}(?:-\d{2}){0,2}(?:$|[T ]\d)")
_ISO_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?$")
_RFC822 = re.compile(
    r"^(?:[A-Za-z]{3},?\s+)?(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3,9})\.?\s+(?P<year>\d{2,4})\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s*(?P<zone>[A-Za-z]{1,5}|[+-]\d{2}:?\d{2}))?$"
)
_ENGLISH_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DOTTED_DAY_FIRST = re.compile(r"^\D{0,40}?\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}")
_YEAR_FIRST_TEXT = re.compile(r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}")
_CJK_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?")
_AT = re.compile(r"\b(?:à|às)\s", re.IGNORECASE)
_ORDINAL = re.compile(r"(\d)(?:st|nd|rd|th|er|eme|º|ª)\b", re.IGNORECASE)


def parse_date(text: str | None, zone: tzinfo = UTC, dayfirst: bool = False) -> datetime | None:
    """The moment ``text`` names, as aware UTC; None when it names no complete year and month.

    ``dayfirst``: read ``03/11/2026`` as 3 November (the source's ``options.dayfirst``); by default it is
    11 March, as in the United States. Dotted dates are always day first, year-first dates never.
    """
    if not text:
        return None
    text = " ".join(text.split())
    if not text or len(text) > MAX_DATE_TEXT:
        return None
    try:
        value = _rfc822(text, zone)
    except _NotADate:
        return None
    if value is None and _ISO_START.match(text):
        value = _iso(text, zone)
    if value is None:
        value = _free_form(text, zone, dayfirst)
    return value


class _NotADate(Exception):
    """The text has a date's form but names no real moment."""


def implausible(published: datetime | None, now: datetime) -> str | None:
    """Why a source's date is not believed, or None: before 1990, or more than a day after ``now``."""
    if published is None:
        return None
    if published < EARLIEST_PLAUSIBLE:
        return "before 1990"
    if published > now + FUTURE_TOLERANCE:
        return "more than a day in the future"
    return None


def _aware(value: datetime, zone: tzinfo) -> datetime | None:
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _rfc822(text: str, zone: tzinfo) -> datetime | None:
    """RFC 822/2822 with English month names; None for any other text (another language goes to dateutil).

    Read from the pattern's groups rather than by ``email.utils.parsedate_tz``, which is three times slower on
    the hot path of every poll and turns a year written "0000" into 2000.
    """
    match = _RFC822.match(text)
    if not match:
        return None
    month = _ENGLISH_MONTHS.get(match.group("month")[:3].lower())
    if month is None:
        return None
    year = int(match.group("year"))
    if len(match.group("year")) == 2:
        year += 2000 if year < 50 else 1900  # RFC 2822 §4.3
    try:
        naive = datetime(year, month, int(match.group("day")), int(match.group("hour")), int(match.group("minute")),
                         int(match.group("second") or 0))
    except ValueError:
        raise _NotADate from None  # read as RFC 822, but no such moment (31 February, year 0): no second guess
    name = match.group("zone")
    if name is None:
        return _aware(naive, zone)
    if name.isalpha():
        hours = ZONE_NAMES.get(name.upper())
        if hours is None:  # a military letter is UTC (RFC 2822 §4.3); an unknown name, the source's zone
            return _aware(naive, UTC if len(name) == 1 else zone)
        return _aware(naive - timedelta(hours=hours), UTC)
    sign = -1 if name[0] == "-" else 1  # "-0000" is UTC with the local zone unknown (RFC 2822 §3.3)
    digits = name[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return _aware(naive - sign * offset, UTC)


def _iso(text: str, zone: tzinfo) -> datetime | None:
    partial = _ISO_PARTIAL.match(text)
    if partial:  # W3C-DTF "2026" and "2026-11" (ClinicalTrials.gov writes the latter): the first day they mean
        year, month = int(partial.group(1)), int(partial.group(2) or 1)
        return _aware(datetime(year, month, 1), zone) if 1 <= month <= 12 else None
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            value = dateutil_parser.isoparse(text)
        except (ValueError, OverflowError):
            return None
    return _aware(value, zone)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("ß", "ss")


def _free_form(text: str, zone: tzinfo, dayfirst: bool) -> datetime | None:
    cjk = _CJK_DATE.search(text)
    if cjk:
        year, month, day = cjk.group(1), cjk.group(2), cjk.group(3) or "1"
        rest = text[cjk.end():].replace("时", ":").replace("時", ":").replace("分", "").replace("秒", "")
        text = f"{year}-{month}-{day} {rest}".strip()
    # "à"/"às" (at) would fold to "a", which dateutil reads as "a.m.": drop it first.
    text = _ORDINAL.sub(r"\1", _fold(_AT.sub(" ", text))).replace(",", " ")
    if _YEAR_FIRST_TEXT.match(text):
        info: _Names = _YEAR_FIRST
    else:
        info = _DAY_FIRST if dayfirst or _DOTTED_DAY_FIRST.match(text) else _NAMES

    def zone_of(name: str | None, offset: int | None) -> tzinfo:
        if offset is not None and (name is None or name.upper() not in ZONE_NAMES):
            return timezone(timedelta(seconds=offset))
        if name is not None:
            hours = ZONE_NAMES.get(name.upper())
            if hours is not None:
                return timezone(timedelta(hours=hours))
        return zone

    try:
        first, skipped = dateutil_parser.parse(text, parserinfo=info, default=_DEFAULT_A, fuzzy_with_tokens=True,
                                               tzinfos=zone_of)
        second = dateutil_parser.parse(text, parserinfo=info, default=_DEFAULT_B, fuzzy=True, tzinfos=zone_of)
    except (ValueError, OverflowError, TypeError):
        return None
    # Words the parser did not know (a weekday abbreviation, "Posted") may be skipped; a skipped number may not:
    # it was part of a date the parser did not understand.
    if any(any(ch.isdigit() for ch in token) for token in skipped):
        return None
    if first.year != second.year or first.month != second.month:
        return None  # the text names no year or no month: not a date we can place
    if first.day != second.day:
        first = first.replace(day=1)  # "November 2026": the first day it can mean
    return _aware(first, zone)
