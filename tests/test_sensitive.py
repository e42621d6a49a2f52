"""The card-number guard: every separator and Unicode form a card number can hide behind, fuzzed."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from portal.sensitive import (
    REDACTED,
    derived_key,
    find_card_number,
    is_phone_number,
    luhn_valid,
    new_key,
    redact_card_numbers,
    scrub,
)

SEPARATORS = ["", " ", "  ", "\u00a0", "\u2007", "\u202f", "\t", ".", "/", "-", " - ", "_", ",", "·", ")(", "\u3000"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def luhn_complete(body: str) -> str:
    """Append the check digit that makes body Luhn-valid."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


card_numbers = st.integers(min_value=12, max_value=18).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n).map(luhn_complete)
)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A card number with any separator between any of its digits, maybe in full-width digits."""
    number = draw(card_numbers)
    parts = [number[0]]
    for digit in number[1:]:
        parts.append(draw(st.sampled_from(SEPARATORS)) + digit)
    text = "".join(parts)
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return number, draw(st.sampled_from(["", "ref ", "SN", "card: "])) + text + draw(st.sampled_from(["", " x", "."]))


@settings(max_examples=400, deadline=None)
@given(disguised())
def test_a_card_number_is_found_behind_any_separator(case: tuple[str, str]) -> None:
    number, text = case
    assert find_card_number(text), text
    assert number not in redact_card_numbers(text).replace(" ", "")


@settings(max_examples=200, deadline=None)
@given(disguised())
def test_a_card_number_in_a_phone_field_is_found_as_the_normaliser_would_join_it(case: tuple[str, str]) -> None:
    _, text = case
    typed = "+(" + text + ")"
    # Some Luhn-valid digit strings are also real phone numbers (+263 71 000 0003): those are exempt by design.
    assume(not is_phone_number(typed, "GB"))
    assert find_card_number(typed, phone_region="GB")


@pytest.mark.parametrize(
    "text",
    [
        "+(4111) 1111 1111 1111",
        "4111  1111  1111  1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111 - 1111 - 1111 - 1111",
        "４１１１ １１１１ １１１１ １１１１",
    ],
)
def test_the_attack_findings_are_refused(text: str) -> None:
    assert find_card_number(text)
    assert find_card_number(text, phone_region="GB")


@pytest.mark.parametrize(
    ("phone", "region"),
    [("+49 151 1234 5678", "DE"), ("07700 900123", "GB"), ("+61 412 345 678", "AU"), ("(202) 555-0143", "US")],
)
def test_a_real_phone_number_is_not_a_card_number(phone: str, region: str) -> None:
    assert not find_card_number(phone, phone_region=region)


@pytest.mark.parametrize(
    ("phone", "region"),
    [
        ("+44 (0) 7400 123456", "GB"),
        ("0044 7400 123456", "GB"),
        ("0011 44 7400 123456", "AU"),
        ("+49 151 1234 5678", "GB"),
    ],
)
def test_a_phone_number_written_with_its_prefixes_is_still_a_phone(phone: str, region: str) -> None:
    assert not find_card_number(phone, phone_region=region)


@pytest.mark.parametrize(
    "text",
    [
        "+44 7400 123456 ext. 4111111111111111",
        "+44 7400 123456 extension 4111111111111111",
        "tel:+44-7400-123456;ext=4111111111111111",
        "tel:+44-7400-123456;isub=4111111111111111",
    ],
)
def test_a_valid_phone_number_does_not_exempt_a_card_number_carried_beside_it(text: str) -> None:
    """phonenumbers reads these as a valid number plus an extension; the card number rides in the extension."""
    assert find_card_number(text, phone_region="GB")


def test_the_german_mobile_would_be_refused_outside_a_phone_field() -> None:
    """+49 151 1234 5678 happens to be Luhn-valid: only the phone check lets it through."""
    assert find_card_number("+49 151 1234 5678")


@pytest.mark.parametrize("text", ["5012345678900", "2026-11-27 12:30", "Order 123456 of 789", "£1,299.00", ""])
def test_ordinary_values_are_not_card_numbers(text: str) -> None:
    assert not find_card_number(text)


def test_scrub_drops_secret_keys_but_keeps_words_that_merely_contain_pan() -> None:
    cleaned = scrub({"company": "Acme", "expand": "yes", "pan": "x", "card_pan": "y", "password": "p"})
    assert cleaned == {"company": "Acme", "expand": "yes", "pan": REDACTED, "card_pan": REDACTED, "password": REDACTED}


def test_a_new_key_that_would_spell_a_card_number_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # About 1 uuid4 in 140 holds a Luhn-valid run across its dashes: the card scans would flag the stored key.
    spelling = uuid.UUID("41111111-1111-4111-8111-111111111111")
    assert find_card_number(str(spelling))
    plain = uuid.UUID("abcdefab-cdef-4abc-8def-abcdefabcdef")
    draws = iter([spelling, plain])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert new_key() == str(plain)


def test_a_derived_key_is_the_same_for_a_name_and_never_spells_a_card_number() -> None:
    # The first name whose plain uuid5 holds a card number: its derived key steps past it, the same way each time.
    name = next(
        n
        for n in (f"send-email:XC-{i}" for i in itertools.count())
        if find_card_number(str(uuid.uuid5(uuid.NAMESPACE_URL, n)))
    )
    key = derived_key(name)
    assert key == derived_key(name) and not find_card_number(key)
    assert key != str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    # An ordinary name keeps its plain uuid5 (keys already sent to XCover stay the same).
    ordinary = next(
        n
        for n in (f"opt-out:XC-{i}" for i in itertools.count())
        if not find_card_number(str(uuid.uuid5(uuid.NAMESPACE_URL, n)))
    )
    assert derived_key(ordinary) == str(uuid.uuid5(uuid.NAMESPACE_URL, ordinary))


def test_a_whole_uuid_is_kept_by_scrub_though_its_digits_pass_the_luhn_check() -> None:
    quote_id = "76200309-7562-52db-86f2-ec5f7b96277e"  # an XCover quote id could be this: 7620030975625 is Luhn-valid
    assert find_card_number(quote_id)
    assert scrub({"policies": [quote_id], "cancellation_id": quote_id}) == {
        "policies": [quote_id],
        "cancellation_id": quote_id,
    }
    # Only a UUID, whole: the same digits inside other text, or a card number typed anyhow, are still redacted.
    assert scrub({"note": f"ref {quote_id}"}) == {"note": "ref [redacted]db-86f2-ec5f7b96277e"}
    assert scrub(["4111 1111 1111 1111", "4111-1111-1111-1111"]) == [REDACTED, REDACTED]
