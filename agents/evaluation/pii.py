"""Detectors for personal data in text, with the checksums that keep false positives down."""

import re

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}\b"
)
CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
US_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
UK_NINO = re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?\b")

# Cheap necessary conditions, checked first so that most text skips the costlier patterns. Phone,
# card and national id numbers all hold six digits with at most one separator between two of them.
_DIGIT_RUN = re.compile(r"\d(?:[\s.-]?\d){5}")
_IBAN_START = re.compile(r"[A-Z]{2}\d{2}")


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    compact = "".join(iban.split())  # IBAN's \s? also lets a line break or tab through
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


def _is_email_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_.+-@"  # str.isalnum() is exactly re's \w


def emails(text: str) -> list[str]:
    """EMAIL.findall(text), searched only in the stretch of address characters around each "@": an
    address never reaches beyond it, and the stretch's edges are non-word characters, so \b agrees."""
    found: list[str] = []
    at = text.find("@")
    while at >= 0:
        start, end = at, at + 1
        while start and _is_email_char(text[start - 1]):
            start -= 1
        while end < len(text) and _is_email_char(text[end]):
            end += 1
        found += EMAIL.findall(text, start, end)
        at = text.find("@", end)
    return found


def find_pii(text: str) -> dict[str, list[str]]:
    """{kind: matches} for every kind of personal data found."""
    found: dict[str, list[str]] = {}
    digits = bool(_DIGIT_RUN.search(text))
    digit_runs = CARD.findall(text) if digits else []
    cards = [m for m in digit_runs if luhn_ok(re.sub(r"\D", "", m))]
    checks = {
        "email": emails(text),
        "card_number": cards,
        "iban": [m for m in IBAN.findall(text) if iban_ok(m)] if _IBAN_START.search(text) else [],
        "national_id": US_SSN.findall(text) + UK_NINO.findall(text) if digits else [],
        # digits inside a long run (a card, an order number) are not a phone number
        "phone": [m for m in PHONE.findall(text) if not any(m.strip() in run for run in digit_runs)]
        if digits
        else [],
    }
    for kind, matches in checks.items():
        if matches:
            found[kind] = matches
    return found
