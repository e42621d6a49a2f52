"""Phone numbers: read and checked with phonenumbers, stored in E.164, shown the way the store's country writes them."""

from __future__ import annotations

from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from .i18n import N_, Message
from .intl import countries


class InvalidPhone(ValueError):
    """A number that is not a valid phone number; the message says what to type instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def calling_code(region: str) -> str:
    """Return a country's telephone prefix, e.g. +44 for GB (empty when it has none)."""
    code = phonenumbers.country_code_for_region(region.upper())
    return f"+{code}" if code else ""


@cache
def calling_codes() -> dict[str, str]:
    """Return every country's telephone code without the plus (GB -> 44), for the prefix that follows Country."""
    return {region: calling_code(region)[1:] for region in countries()}


def example(region: str) -> str:
    """Return an example mobile number of a country, written internationally: +44 7400 123456."""
    number = phonenumbers.example_number_for_type(
        region.upper(), PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(region.upper())
    if number is None:
        return Message(N_("%(code)s and the number"), code=calling_code(region) or "+")
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def to_e164(raw: str, region: str) -> str:
    """Return a typed number in E.164 (+447400123456); a number without a + is read as the region's own."""
    message = Message(N_("Enter a valid mobile number, e.g. %(example)s."), example=example(region))
    try:
        number = phonenumbers.parse(raw, region.upper())
    except NumberParseException:
        raise InvalidPhone(message) from None
    # E.164 has no room for an extension: refused rather than silently dropped.
    if not phonenumbers.is_valid_number(number) or number.extension:
        raise InvalidPhone(message)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def for_display(stored: str | None, region: str) -> str:
    """Show a stored number in the national format if it is the region's own, else internationally."""
    if not stored:
        return ""
    try:
        number = phonenumbers.parse(stored, region.upper())
    except NumberParseException:
        return stored
    own = phonenumbers.region_code_for_number(number) == region.upper()
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL if own else PhoneNumberFormat.INTERNATIONAL)
