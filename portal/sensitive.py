"""Guards for data that must never be stored or logged: card numbers, secrets, contact details."""
from __future__ import annotations

import re
from typing import Any

# Digits with optional single spaces or dashes between them, 13 to 19 digits in all.
_DIGIT_RUN = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|session|cvv|cvc|security_code|card_number|pan", re.I)
REDACTED = "[redacted]"


def luhn_valid(digits: str) -> bool:
    """Tell whether a string of digits passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_card_number(text: str | None) -> bool:
    """Tell whether the text holds a Luhn-valid run of 13 to 19 digits (a card number)."""
    if not text:
        return False
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        # A run may be padded by neighbouring digits split by separators; check every window.
        for size in range(13, min(19, len(digits)) + 1):
            for start in range(0, len(digits) - size + 1):
                if luhn_valid(digits[start:start + size]):
                    return True
    return False


def redact_card_numbers(text: str) -> str:
    """Replace any card-number-shaped run in the text."""
    def _sub(match: re.Match[str]) -> str:
        return REDACTED if find_card_number(match.group()) else match.group()
    return _DIGIT_RUN.sub(_sub, text)


def mask_email(email: str | None) -> str | None:
    """Mask an email address as a***@example.com."""
    if not email or "@" not in email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str | None:
    """Keep a phone number's last three digits only."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    return f"***{digits[-3:]}" if len(digits) > 3 else "***"


def scrub(value: Any) -> Any:
    """Return a copy safe for logs and the audit trail: secrets dropped, card numbers redacted."""
    if isinstance(value, dict):
        return {
            str(k): (REDACTED if _SECRET_KEYS.search(str(k)) else scrub(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return redact_card_numbers(value)
    return value
