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


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


def find_pii(text: str) -> dict[str, list[str]]:
    """{kind: matches} for every kind of personal data found."""
    found: dict[str, list[str]] = {}
    digit_runs = CARD.findall(text)
    cards = [m for m in digit_runs if luhn_ok(re.sub(r"\D", "", m))]
    checks = {
        "email": EMAIL.findall(text),
        "card_number": cards,
        "iban": [m for m in IBAN.findall(text) if iban_ok(m)],
        "national_id": US_SSN.findall(text) + UK_NINO.findall(text),
        # digits inside a long run (a card, an order number) are not a phone number
        "phone": [m for m in PHONE.findall(text) if not any(m.strip() in run for run in digit_runs)],
    }
    for kind, matches in checks.items():
        if matches:
            found[kind] = matches
    return found
