"""Eligibility essentials of a trial record, in plain words. Pure: registry text in, facts out.

What a person with MS asks first is "could I take part?". The registry answers in its own words; this module
reads the parts that can be read reliably and says where each came from:

- **Ages**: ClinicalTrials.gov writes ``18 Years``, ``6 Months``, ``N/A``; CTIS ``18-64 years, 65+ years``.
- **MS forms** (RRMS, SPMS, PPMS, or progressive MS not further named) from the conditions, the title and the
  *inclusion* criteria: a form named only in the exclusion criteria is one the trial does not take.
- **EDSS limits** where a sentence of the criteria states them ("EDSS score of 3.0 to 6.5 inclusive",
  "EDSS ≤ 6.5", "EDSS > 7.0" among the exclusion criteria, which is a maximum of 7.0). Each limit keeps the
  sentence it came from, because a reader must be able to check it: wording we do not understand is left out,
  never guessed, and when the sentences disagree (one limit for relapsing, another for progressive MS) the
  widest limits are shown with a note to read the sentences.

Whether someone qualifies is decided by the trial team, never by this module: the page says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------------------------------- ages

_AGE = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*(years?|months?|weeks?|days?|hours?|minutes?)?\s*$", re.IGNORECASE)
_DAYS_PER_UNIT = {"year": 365.25, "month": 30.4375, "week": 7.0, "day": 1.0, "hour": 1 / 24, "minute": 1 / 1440}


@dataclass(frozen=True)
class Age:
    """An age limit as the registry gives it: ``Age(18, "year")``."""

    value: float
    unit: str  # year, month, week, day, hour, minute

    @property
    def days(self) -> float:
        return self.value * _DAYS_PER_UNIT[self.unit]

    def words(self, with_unit: bool = True) -> str:
        number = f"{self.value:g}"
        if not with_unit:
            return number
        return f"{number} {self.unit}{'' if self.value == 1 else 's'}"

    def to_json(self) -> list[Any]:
        return [self.value, self.unit]

    @classmethod
    def from_json(cls, value: Any) -> Age | None:
        if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int | float)
                and value[1] in _DAYS_PER_UNIT):
            return cls(float(value[0]), str(value[1]))
        return None


def parse_age(text: Any) -> Age | None:
    """``"18 Years"`` → ``Age(18, "year")``; ``"N/A"``, ``""`` and anything unreadable → None (no limit)."""
    if not isinstance(text, str):
        return None
    match = _AGE.match(text)
    if not match:
        return None
    unit = (match.group(2) or "years").lower().rstrip("s")
    return Age(float(match.group(1)), unit)


_CTIS_AGE_GROUP = re.compile(r"(\d{1,3})\s*(?:-|–|to)\s*(\d{1,3})|(\d{1,3})\s*\+|(?:under|<)\s*(\d{1,3})",
                             re.IGNORECASE)


def ctis_age_range(text: str | None) -> tuple[Age | None, Age | None]:
    """CTIS age groups (``"18-64 years, 65+ years"``) → the youngest and oldest ages they cover (None: no limit)."""
    lows: list[float] = []
    highs: list[float | None] = []
    for low, high, open_low, under in _CTIS_AGE_GROUP.findall(text or ""):
        if low:
            lows.append(float(low))
            highs.append(float(high))
        elif open_low:
            lows.append(float(open_low))
            highs.append(None)
        elif under:
            lows.append(0.0)
            highs.append(float(under))
    if not lows:
        return None, None
    minimum = min(lows)
    maximum = None if any(h is None for h in highs) else max(h for h in highs if h is not None)
    return (Age(minimum, "year") if minimum > 0 else None), (Age(maximum, "year") if maximum is not None else None)


def age_words(minimum: Age | None, maximum: Age | None) -> str:
    """"18 to 65 years", "18 years and older", "up to 17 years", "any age"."""
    if minimum and maximum:
        if minimum.unit == maximum.unit:
            return f"{minimum.words(with_unit=False)} to {maximum.words()}"
        return f"{minimum.words()} to {maximum.words()}"
    if minimum:
        return f"{minimum.words()} and older"
    if maximum:
        return f"up to {maximum.words()}"
    return "any age (the registry states no limit)"


SEX_WORDS = {"ALL": "female and male participants", "FEMALE": "female participants only",
             "MALE": "male participants only"}


def sex_words(code: str | None) -> str:
    return SEX_WORDS.get((code or "").upper(), "not stated")


def ctis_sex(text: str | None) -> str | None:
    """CTIS ``"Female, Male"`` → ``ALL``; ``"Female"`` → ``FEMALE``."""
    words = {word.strip().lower() for word in (text or "").split(",") if word.strip()}
    if {"female", "male"} <= words:
        return "ALL"
    if words == {"female"}:
        return "FEMALE"
    if words == {"male"}:
        return "MALE"
    return None


# ---------------------------------------------------------------------------------------------------- text


def unescape_registry(text: str) -> str:
    """ClinicalTrials.gov text is Markdown-escaped (``\\[rHGG\\]``, ``\\< 30``, ``\\*``): as the reader sees it."""
    return re.sub(r"\\([\[\]<>*_~#+\-.!|(){}`>])", r"\1", text or "")


_EXCLUSION_HEADING = re.compile(r"^[\s*#_-]*(?:key\s+|main\s+|principal\s+)?exclusion\s+criteria\b", re.IGNORECASE |
                                re.MULTILINE)


def split_criteria(text: str) -> tuple[str, str]:
    """The criteria text → (inclusion part, exclusion part), split at the "Exclusion Criteria" heading."""
    text = unescape_registry(text or "")
    match = _EXCLUSION_HEADING.search(text)
    if not match:
        return text, ""
    return text[:match.start()], text[match.start():]


_BULLET = re.compile(r"^\s*(?:[-*•·▪‣◦]|\(?\d{1,2}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}\))\s+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+(?=[A-Z(\"“])")


def sentences(text: str) -> Iterator[str]:
    """The sentences of a criteria text: one per line or bullet, and lines split after a full stop."""
    for line in (text or "").splitlines():
        line = _BULLET.sub("", line).strip()
        if not line:
            continue
        for part in _SENTENCE_END.split(line):
            part = " ".join(part.split())
            if part:
                yield part


# ---------------------------------------------------------------------------------------------------- MS forms

MS_FORMS: dict[str, str] = {
    "RRMS": "relapsing-remitting MS",
    "SPMS": "secondary progressive MS",
    "PPMS": "primary progressive MS",
    "PMS": "progressive MS (form not named)",
}
_NAMED_FORMS = (
    ("RRMS", re.compile(r"\brelapsing[\s-]*remitting\b|\bRRMS\b|\brelapsing\s+(?:forms?\s+of\s+)?(?:multiple\s+"
                        r"sclerosis|MS)\b|multiple\s+sclerosis,\s*relapsing|\bR-?MS\b", re.IGNORECASE)),
    ("SPMS", re.compile(r"\bsecondary[\s-]*progressive\b|\b(?:a|na|nr)?SPMS\b", re.IGNORECASE)),
    ("PPMS", re.compile(r"\bprimary[\s-]*progressive\b|\bPPMS\b", re.IGNORECASE)),
)
# After the named forms are taken out: "progressive MS", "Multiple Sclerosis, Chronic Progressive", "[PMS]".
_PROGRESSIVE = re.compile(r"\bprogressive\s+(?:forms?\s+of\s+)?(?:multiple\s+sclerosis|MS)\b|multiple\s+sclerosis,"
                          r"\s*(?:chronic\s+)?progressive\b|\bPMS\b", re.IGNORECASE)
# Abbreviations that are words elsewhere count only in capitals ("RMS", "PMS" in an MS trial's text).
_CAPITALS_ONLY = {"RMS", "R-MS", "PMS"}


def _forms_in(text: str) -> tuple[set[str], str]:
    found: set[str] = set()
    for code, pattern in _NAMED_FORMS:
        def take(match: re.Match[str], code: str = code) -> str:
            token = match.group(0)
            if token.upper() in _CAPITALS_ONLY and token != token.upper():
                return token
            found.add(code)
            return " " * len(token)

        text = pattern.sub(take, text)
    return found, text


def ms_forms(conditions: Iterable[str], title: str, criteria: str) -> tuple[str, ...]:
    """The MS forms a trial names for the people it takes (codes of ``MS_FORMS``, in that order)."""
    inclusion, _exclusion = split_criteria(criteria)
    found: set[str] = set()
    for text in [*conditions, title, inclusion]:
        named, rest = _forms_in(text or "")
        found |= named
        for match in _PROGRESSIVE.finditer(rest):
            token = match.group(0)
            if token.upper() in _CAPITALS_ONLY and token != token.upper():
                continue
            found.add("PMS")
    if found & {"SPMS", "PPMS"}:
        found.discard("PMS")  # "progressive MS" said of a trial that names its progressive forms adds nothing
    return tuple(code for code in MS_FORMS if code in found)


def forms_words(codes: Sequence[str]) -> str:
    return ", ".join(MS_FORMS.get(code, code) for code in codes) or "not named"


# ---------------------------------------------------------------------------------------------------- EDSS

_EDSS = re.compile(r"\b(?:EDSS|Expanded\s+Disability\s+Status\s+Scale)\b", re.IGNORECASE)
_N = r"(\d{1,2}(?:[.,]\d{1,2})?)"
_NOT_EDSS_UNIT = re.compile(r"^\s*(?:years?|months?|weeks?|days?|hours?|%|mg|kg|ml|cm|mm|x\b|times)",
                            re.IGNORECASE)
# Each alternative: (bound, inclusive, pattern). The first match after the EDSS mention wins, then limits joined
# to it by "and", "but" or a comma ("EDSS ≥ 2.0 and ≤ 6.5").
_LIMITS: tuple[tuple[str, bool | None, re.Pattern[str]], ...] = tuple(
    (bound, inclusive, re.compile(pattern, re.IGNORECASE)) for bound, inclusive, pattern in (
        ("range", True, rf"{_N}\s*(?:-|–|—|to|and)\s*{_N}"),
        ("max", True, rf"(?:≤|<=|=<|⩽|less\s+than\s+or\s+equal\s+to|lower\s+than\s+or\s+equal\s+to|equal\s+to\s+or\s+"
                      rf"(?:less|lower)\s+than|no\s+(?:more|greater|higher)\s+than|not\s+(?:more|greater|higher)\s+"
                      rf"than|at\s+most|maximum(?:\s+of)?|up\s+to(?:\s+and\s+including)?|not\s+exceeding|not\s+to\s+"
                      rf"exceed)\s*(?:of\s+|a\s+score\s+of\s+)?{_N}"),
        ("max", False, rf"(?:<|less\s+than|lower\s+than|below|under)\s*{_N}"),
        ("min", True, rf"(?:≥|>=|=>|⩾|greater\s+than\s+or\s+equal\s+to|higher\s+than\s+or\s+equal\s+to|"
                      rf"equal\s+to\s+or\s+(?:greater|higher)\s+than|at\s+least|minimum(?:\s+of)?|no\s+less\s+than|not\s+less\s+than)"
                      rf"\s*(?:of\s+)?{_N}"),
        ("min", False, rf"(?:>|greater\s+than|more\s+than|higher\s+than|above|over)\s*{_N}"),
        ("max", True, rf"{_N}\s*(?:points?\s+)?or\s+(?:less|lower|below|under)"),
        ("min", True, rf"{_N}\s*(?:points?\s+)?or\s+(?:more|higher|greater|above|over)"),
    )
)
_JOINED = re.compile(r"^[\s,;]*(?:and|but|or)?\s*(?:the\s+)?(?:EDSS\s*)?(?:score\s*)?(?:must\s+be\s*|of\s*|is\s*)?$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class EdssLimit:
    """One bound read from one sentence: ``EdssLimit("max", 6.5, True, "EDSS ≤ 6.5 at screening")``."""

    bound: str  # "min" or "max"
    value: float
    inclusive: bool
    sentence: str


def _number(text: str) -> float | None:
    value = float(text.replace(",", "."))
    return value if 0 <= value <= 10 else None


def _limits_in(sentence: str, excluded: bool) -> list[EdssLimit]:
    mention = _EDSS.search(sentence)
    if not mention:
        return []
    rest = sentence[mention.end():]
    found: list[EdssLimit] = []
    position = 0
    while True:
        best: tuple[int, str, bool | None, re.Match[str]] | None = None
        for bound, inclusive, pattern in _LIMITS:
            match = pattern.search(rest, position)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), bound, inclusive, match)
        if best is None:
            break
        start, bound, inclusive, match = best
        if found and not _JOINED.match(rest[position:start]):
            break  # a later number belongs to another criterion of the sentence (age, disease duration)
        if _NOT_EDSS_UNIT.match(rest[match.end():]):
            break
        values = [_number(group) for group in match.groups() if group]
        if any(value is None for value in values):
            break
        if bound == "range" and excluded:
            break  # an excluded range ("EDSS 0-1.5") is not one limit; the reader has the sentence
        numbers = [v for v in values if v is not None]
        if bound == "range":
            low, high = sorted(numbers)
            pairs = [("min", low, True), ("max", high, True)]
        else:
            pairs = [(bound, numbers[0], bool(inclusive))]
        for pair_bound, value, pair_inclusive in pairs:
            if excluded:  # "EDSS > 7.0" among the exclusion criteria: the trial takes up to 7.0
                pair_bound, pair_inclusive = ("max" if pair_bound == "min" else "min"), not pair_inclusive
            found.append(EdssLimit(pair_bound, value, pair_inclusive, sentence))
        position = match.end()
    return found


@dataclass(frozen=True)
class Edss:
    """The EDSS limits a trial's criteria state, with the sentences they came from."""

    minimum: float | None
    min_inclusive: bool
    maximum: float | None
    max_inclusive: bool
    sentences: tuple[str, ...]
    conflicting: bool = False  # the sentences give different values for one bound: read them

    def range_words(self) -> str:
        """"3.0 to 6.5", "at most 6.5", "below 7.0", "at least 3.0", "above 2.0 and below 7.0"."""
        low = f"{self.minimum:.1f}" if self.minimum is not None else None
        high = f"{self.maximum:.1f}" if self.maximum is not None else None
        if low and high and self.min_inclusive and self.max_inclusive:
            return f"{low} to {high}"
        parts = []
        if low:
            parts.append(f"at least {low}" if self.min_inclusive else f"above {low}")
        if high:
            parts.append(f"at most {high}" if self.max_inclusive else f"below {high}")
        return " and ".join(parts)

    def words(self) -> str:
        text = f"EDSS {self.range_words()}"
        if self.conflicting:
            text += " (the criteria state more than one EDSS limit: read the sentences)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"min": self.minimum, "min_inclusive": self.min_inclusive, "max": self.maximum,
                "max_inclusive": self.max_inclusive, "sentences": list(self.sentences),
                "conflicting": self.conflicting}

    @classmethod
    def from_json(cls, data: Any) -> Edss | None:
        if not isinstance(data, Mapping):
            return None
        low, high = data.get("min"), data.get("max")
        return cls(
            minimum=float(low) if isinstance(low, int | float) else None,
            min_inclusive=bool(data.get("min_inclusive", True)),
            maximum=float(high) if isinstance(high, int | float) else None,
            max_inclusive=bool(data.get("max_inclusive", True)),
            sentences=tuple(str(s) for s in data.get("sentences") or ()),
            conflicting=bool(data.get("conflicting")),
        )


def edss_limits(criteria: str) -> Edss | None:
    """The EDSS limits stated in the criteria text, or None when no sentence states one we can read."""
    inclusion, exclusion = split_criteria(criteria)
    limits = [limit for sentence in sentences(inclusion) for limit in _limits_in(sentence, excluded=False)]
    limits += [limit for sentence in sentences(exclusion) for limit in _limits_in(sentence, excluded=True)]
    if not limits:
        return None
    lows = [limit for limit in limits if limit.bound == "min"]
    highs = [limit for limit in limits if limit.bound == "max"]
    # Widest limits: never tell a reader a trial is closed to them when one of its sentences says otherwise.
    low = min(lows, key=lambda limit: (limit.value, not limit.inclusive)) if lows else None
    high = max(highs, key=lambda limit: (limit.value, limit.inclusive)) if highs else None
    conflicting = len({(x.value, x.inclusive) for x in lows}) > 1 or len({(x.value, x.inclusive) for x in highs}) > 1
    return Edss(
        minimum=low.value if low else None,
        min_inclusive=low.inclusive if low else True,
        maximum=high.value if high else None,
        max_inclusive=high.inclusive if high else True,
        sentences=tuple(dict.fromkeys(limit.sentence for limit in limits)),
        conflicting=conflicting,
    )
