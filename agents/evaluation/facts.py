"""Text normalisation for fact checking: numbers with units, dates, quoted phrases, content words.

"$1,299", "1299 USD" and "1299 dollars" are one quantity; "March 5, 2024", "5 March 2024" and
"2024-03-05" one date. Facts and outputs are compared in this normal form.
"""

import re
from dataclasses import dataclass
from datetime import date

UNITS = {
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
    "yr": "year",
    "yrs": "year",
    "hour": "hour",
    "hours": "hour",
    "hr": "hour",
    "hrs": "hour",
    "h": "hour",
    "minute": "minute",
    "minutes": "minute",
    "min": "minute",
    "mins": "minute",
    "second": "second",
    "seconds": "second",
    "s": "second",
    "sec": "second",
    "%": "percent",
    "percent": "percent",
    "pct": "percent",
    "$": "usd",
    "usd": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "€": "eur",
    "eur": "eur",
    "euro": "eur",
    "euros": "eur",
    "£": "gbp",
    "gbp": "gbp",
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "ml": "ml",
    "l": "l",
    "liter": "l",
    "liters": "l",
    "km": "km",
    "mile": "mile",
    "miles": "mile",
    "unit": "unit",
    "units": "unit",
    "gb": "gb",
    "mb": "mb",
    "tb": "tb",
}
MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}
MONTHS |= {m[:3]: i for m, i in list(MONTHS.items())} | {"sept": 9}
STOP_WORDS = set(
    "a an the is are was were be been being of to in on at for with by from and or not no it its this that "
    "these those as into than then there their they them he she his her we our you your i me my do does did "
    "has have had can could will would should may might must shall about over under after before within "
    "up down out per each any all some".split()
)

_NUMBER = r"\d+(?:\.\d+)?"
_UNIT_WORDS = "|".join(sorted((re.escape(u) for u in UNITS if u.isalpha()), key=len, reverse=True))
_QUANTITY = re.compile(
    rf"(?P<pre>[$€£])?\s?(?P<num>{_NUMBER})\s?(?P<unit>%|(?:{_UNIT_WORDS})\b)?", re.IGNORECASE
)
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATES = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (
        re.compile(rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I),
        ("mon", "d", "y"),
    ),
    (
        re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_NAMES})\.?,?\s+(\d{{4}})\b", re.I),
        ("d", "mon", "y"),
    ),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("m", "d", "y")),
]
_QUOTED = re.compile(r"[\"“”']([^\"“”']{3,})[\"“”']")
_WORD = re.compile(r"[a-z][a-z0-9\-]*")
# Cheap necessary conditions, searched first so that most text skips the costlier patterns: every date
# form has a four-digit year, every quantity a digit.
_YEAR = re.compile(r"\d{4}")
_DIGIT = re.compile(r"\d")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_NOT_CONTENT = frozenset(STOP_WORDS | UNITS.keys() | MONTHS.keys())


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # "" for a bare number


def clean(text: str) -> str:
    """Lower case, plain quotes, no thousands separators."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    return _THOUSANDS.sub("", text) if "," in text else text


def dates(text: str) -> set[date]:
    found: set[date] = set()
    if not _YEAR.search(text):
        return found
    for pattern, order in _DATES:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups(), strict=True))
            try:
                month = MONTHS[parts["mon"].lower()] if "mon" in parts else int(parts["m"])
                found.add(date(int(parts["y"]), month, int(parts["d"])))
            except (KeyError, ValueError):
                continue
    return found


def _without_dates(text: str) -> str:
    if not _YEAR.search(text):
        return text
    for pattern, _ in _DATES:
        text = pattern.sub(" ", text)
    return text


def prepared(text: str) -> str:
    """Cleaned, with dates taken out (they are matched as dates, not as numbers or words)."""
    return _without_dates(clean(text))


def quantities(text: str, *, ready: bool = False) -> set[Quantity]:
    """The same matches as _QUANTITY.finditer, found faster: a match starts at most two characters
    (a currency sign, a space) before a digit, so each search starts there instead of scanning the
    whole text with a pattern that has no fixed first character."""
    if not ready:
        text = prepared(text)
    found = set()
    pos = 0
    while digit := _DIGIT.search(text, pos):
        match = _QUANTITY.search(text, max(pos, digit.start() - 2))
        unit = match.group("pre") or match.group("unit") or ""
        found.add(Quantity(float(match.group("num")), UNITS.get(unit.lower(), unit.lower())))
        pos = match.end()
    return found


def quoted(text: str) -> list[str]:
    return [q.strip().lower() for q in _QUOTED.findall(text)]


def stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str, *, ready: bool = False) -> set[str]:
    words = set(_WORD.findall(text if ready else prepared(text)))
    return {stem(w) if w[-1] == "s" else w for w in words - _NOT_CONTENT}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_BREAK.split(text) if len(s.strip()) > 2]
