"""Guards for data that must never be stored or logged: card numbers, secrets, contact details."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

import phonenumbers

# 13 to 19 digits, any of them parted by up to three separators: whitespace or punctuation of any kind
# (double spaces, NBSP, dots, slashes, " - "). Text is NFKC-normalised first, so full-width digits count.
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[\W_]{0,3}\d){12,}(?!\d)")
_NON_DIGIT = re.compile(r"\D")
# "pan" only as a whole word of the key (card_pan, pan), so "company" or "expand" are kept.
_SECRET_KEYS = re.compile(
    r"pass(word)?|secret|token|session|cvv|cvc|security_code|card_number|(?<![a-z])pan(?![a-z])", re.I
)
REDACTED = "[redacted]"
# A value that is a UUID, whole, is machine-made: XCover's quote, cancellation and update ids, our own keys.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Digits a phone number may carry before its own: international prefix (0011), country code (up to 3), trunk 0.
_MAX_PREFIX_DIGITS = 8


def normalise(text: str) -> str:
    """Return the text in Unicode NFKC form (full-width digits become ASCII, NBSP a space)."""
    return unicodedata.normalize("NFKC", text)


def luhn_valid(digits: str) -> bool:
    """Tell whether a string of digits passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _holds_card_digits(digits: str) -> bool:
    """Tell whether any 13 to 19 digit window of a digit string passes the Luhn check."""
    # A run may be padded by neighbouring digits split by separators; check every window.
    for size in range(13, min(19, len(digits)) + 1):
        for start in range(0, len(digits) - size + 1):
            if luhn_valid(digits[start : start + size]):
                return True
    return False


def is_phone_number(text: str, region: str | None) -> bool:
    """Tell whether the text is a valid phone number for the region (or in international form), and only that.

    Every digit typed must belong to the number: an extension ("ext 4111…", ";isub=…") or digits beside it
    would be dropped from the stored number, so they are no reason to exempt the text.
    """
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number) or number.extension:
        return False
    own = phonenumbers.national_significant_number(number)
    digits = "".join(ch for ch in normalise(text) if ch.isdigit())
    # Before the number itself only an international prefix, country code and trunk prefix: "0044 (0) 7400…".
    return digits.endswith(own) and len(digits) - len(own) <= _MAX_PREFIX_DIGITS


def find_card_number(text: str | None, *, phone_region: str | None = None) -> bool:
    """Tell whether the text holds a Luhn-valid run of 13 to 19 digits (a card number).

    With phone_region, a valid phone number for that region is not a card number; any other value is
    judged as typed and as a phone normaliser would join it (every digit together).
    """
    if not text:
        return False
    text = normalise(str(text))
    if phone_region is not None:
        if is_phone_number(text, phone_region):
            return False
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 13 and _holds_card_digits(digits):
            return True
    return any(_holds_card_digits(_NON_DIGIT.sub("", m.group())) for m in _DIGIT_RUN.finditer(text))


def new_key() -> str:
    """A fresh random key (idempotency key, form token, request id): a uuid4 that no card scan reads as a card."""
    while True:  # about 1 uuid4 in 140 holds a Luhn-valid run of 13 to 19 digits across its dashes
        key = str(uuid.uuid4())
        if not find_card_number(key):
            return key


def derived_key(name: str) -> str:
    """A key derived from a name (one name, one key, so repeats of a request share it) that spells no card number."""
    attempt = 0
    while True:
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, name if attempt == 0 else f"{name}#{attempt}"))
        if not find_card_number(key):
            return key
        attempt += 1


def redact_card_numbers(text: str) -> str:
    """Replace any card-number-shaped run in the (NFKC-normalised) text."""

    def _sub(match: re.Match[str]) -> str:
        return REDACTED if _holds_card_digits(_NON_DIGIT.sub("", match.group())) else match.group()

    return _DIGIT_RUN.sub(_sub, normalise(text))


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
    """Return a copy safe for logs and the audit trail: secrets dropped, card numbers redacted, whole UUIDs kept."""
    if isinstance(value, dict):
        return {str(k): (REDACTED if _SECRET_KEYS.search(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        # About 1 UUID in 140 holds a Luhn-valid run across its dashes; redacting it would lose an XCover quote id
        # from the audit trail. Nobody types a card number in a UUID's shape, whole.
        return value if _UUID.fullmatch(value) else redact_card_numbers(value)
    return value
