"""CLDR countries and currencies, money and times in the store's locale, and phone numbers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import render_template_string

from portal import intl, phones
from portal.extensions import db
from portal.models import Sale, Store
from portal.sales.forms import SaleForm
from portal.stores import InvalidInput, create_store
from tests.conftest import ROOT, csrf_token

# The countries the portal had in a hand-written list before CLDR: every one must still work.
OLD_COUNTRIES = [
    "AU",
    "AT",
    "BE",
    "CA",
    "CH",
    "DE",
    "DK",
    "ES",
    "FI",
    "FR",
    "GB",
    "HK",
    "IE",
    "IT",
    "JP",
    "NL",
    "NO",
    "NZ",
    "PL",
    "PT",
    "SE",
    "SG",
    "US",
]
NNBSP, NBSP = "\u202f", "\u00a0"  # what CLDR puts between digit groups (fr) and before the € (fr)


def shop(language: str, country: str, zone: str = "UTC") -> SimpleNamespace:
    """A stand-in store: what a locale is built from."""
    return SimpleNamespace(language=language, country=country, timezone=zone)


# --- countries, currencies, languages ---------------------------------------------------------------


def test_one_list_of_countries_for_stores_sales_and_phones(app, store):
    countries = intl.countries()
    assert set(OLD_COUNTRIES) < set(countries) and {"MX", "BR", "ZA", "IN"} <= set(countries)
    assert countries["GB"] == "United Kingdom" and countries["MX"] == "Mexico"
    assert not {"EU", "UN", "ZZ", "AQ", "XA"} & set(countries)  # regions that are not places one sells in
    assert all(phones.calling_code(code) for code in countries)  # every one has phone numbers...
    assert set(phones.calling_codes()) == set(countries)
    with app.test_request_context():
        form = SaleForm(store=store)
        choices = [value for value, _ in form.country.choices]
        assert set(choices) == set(countries)  # ...and is on the sale form
        assert choices == list(intl.countries_in("en_GB"))  # named and sorted in the reader's (British) English
    assert list(countries.values()).index("Åland Islands") < list(countries.values()).index("Albania")


def test_currencies_and_languages_come_from_cldr():
    assert {"GBP", "EUR", "AUD", "MXN", "BRL"} <= set(intl.currencies())
    assert intl.currencies()["MXN"] == "Mexican Peso" and "GBX" not in intl.currencies()
    assert intl.languages()["pt"] == "Portuguese" and intl.primary_language("en-gb") == "en"


# --- money and times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "country", "currency", "amount", "shown"),
    [
        ("en", "GB", "GBP", "1299", "£1,299.00"),
        ("fr", "FR", "EUR", "1299", f"1{NNBSP}299,00{NBSP}€"),
        ("en", "AU", "AUD", "89", "$89.00"),  # at home the Australian dollar is plain $...
        ("en", "GB", "AUD", "89", "A$89.00"),  # ...in a British locale it needs its A
        ("es", "MX", "MXN", "1299.5", "$1,299.50"),
        ("pt", "BR", "BRL", "1299", f"R${NBSP}1.299,00"),
        ("fr", "AU", "AUD", "89", f"89,00{NBSP}$AU"),  # no fr_AU in CLDR: French it is, with the currency spelt out
    ],
)
def test_money_in_the_stores_locale(language, country, currency, amount, shown):
    assert intl.money(Decimal(amount), currency, shop(language, country)) == shown


def test_the_money_filter_uses_the_current_store_unless_told(app):
    template = "{{ amount|money('EUR') }} / {{ amount|money('GBP', store) }}"
    with app.test_request_context():
        html = render_template_string(
            template, amount=Decimal("1299"), current_store=shop("fr", "FR"), store=shop("en", "GB")
        )
    assert html == f"1{NNBSP}299,00{NBSP}€ / £1,299.00"


def test_times_in_the_stores_zone_and_locale():
    moment = datetime(2026, 11, 27, 23, 30, 5, tzinfo=UTC)
    london, sydney, paris = (
        shop("en", "GB", "Europe/London"),
        shop("en", "AU", "Australia/Sydney"),
        shop("fr", "FR", "Europe/Paris"),
    )
    assert intl.store_time(moment, london) == "27 Nov 2026, 23:30 GMT"
    assert intl.store_time(moment, sydney, "time") == f"10:30{NNBSP}am AEDT"
    assert intl.store_time(moment, sydney, "date") == "28 Nov 2026"  # already tomorrow in Sydney
    assert intl.store_time(moment, paris, "seconds") == "28 nov. 2026, 00:30:05 +0100"
    assert intl.store_time(moment, None, "seconds") == "Nov 27, 2026, 11:30:05\u202fPM UTC"  # head office
    assert intl.store_time(date(2026, 12, 1), paris) == "1 déc. 2026"
    with pytest.raises(ValueError):
        intl.store_time(datetime(2026, 11, 27, 23, 30), london)


# --- phone numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "region", "stored", "shown_at_home"),
    [
        ("07400 123456", "GB", "+447400123456", "07400 123456"),
        ("+44 (0)7400-123456", "AU", "+447400123456", "+44 7400 123456"),  # a British number in Sydney
        ("0412 345 678", "AU", "+61412345678", "0412 345 678"),
        ("55 1234 5678", "MX", "+525512345678", "55 1234 5678"),
        ("(11) 91234-5678", "BR", "+5511912345678", "(11) 91234-5678"),
    ],
)
def test_phone_numbers_are_stored_in_e164_and_shown_nationally(typed, region, stored, shown_at_home):
    assert phones.to_e164(typed, region) == stored
    assert phones.for_display(stored, region) == shown_at_home


@pytest.mark.parametrize("typed", ["07700 900123", "12", "+44 ", "phone me", "4111 1111 1111 1111"])
def test_numbers_phonenumbers_does_not_know_as_valid_are_refused(typed):
    with pytest.raises(phones.InvalidPhone) as refused:
        phones.to_e164(typed, "GB")
    assert refused.value.message == "Enter a valid mobile number, e.g. +44 7400 123456."


# --- stores outside the old list sell, end to end ----------------------------------------------------


def sell_in(client, store_code: str, make_user, **customer: str):
    """Sign in as an associate of a store and post a one-product sale; return the response."""
    store = db.session.scalar(sa.select(Store).where(Store.code == store_code))
    make_user(f"{store_code.lower()}.ana", "associate", store)
    token = csrf_token(client)
    client.post(
        "/auth/sign-in",
        data={"username": f"{store_code.lower()}.ana", "password": "correct-horse-battery", "csrf_token": token},
    )
    data = {
        "csrf_token": csrf_token(client, "/sales/new"),
        "items-0-product_name": "Portátil",
        "items-0-category": "electronics",
        "items-0-price": "1299.00",
        "items-0-quantity": "1",
        "items-0-purchase_date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
        "first_name": "Ana",
        "last_name": "Pérez",
        "email": "ana@example.com",
        "address1": "Av. Reforma 1",
        "city": "Ciudad",
        "postcode": "06600",
        **customer,
    }
    return client.post("/sales/new", data=data)


@pytest.mark.parametrize(
    ("code", "country", "currency", "language", "zone", "phone", "national", "price"),
    [
        ("MEX01", "MX", "MXN", "es", "America/Mexico_City", "55 1234 5678", "55 1234 5678", "$1,299.00"),
        ("SAO01", "BR", "BRL", "pt", "America/Sao_Paulo", "(11) 91234-5678", "(11) 91234-5678", f"R${NBSP}1.299,00"),
    ],
)
def test_a_store_outside_the_old_list_is_created_and_sells(
    client, make_user, fake, code, country, currency, language, zone, phone, national, price
):
    assert country not in OLD_COUNTRIES
    create_store(code, "Tienda", country, currency, language, zone)
    db.session.commit()
    resp = sell_in(client, code, make_user, phone=phone, country=country, language=language)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    sale = db.session.scalar(sa.select(Sale))
    assert (sale.country, sale.language, sale.currency) == (country, language, currency)
    assert sale.phone == phones.to_e164(phone, country) and sale.phone.startswith(phones.calling_code(country))
    page = client.get(f"/sales/{sale.id}/options").get_data(as_text=True)
    assert f"1 × {price}" in page and f"· {national}</p>" in page  # money and phone as the country writes them
    form = client.get("/sales/new").get_data(as_text=True)
    assert f'value="{phones.calling_code(country)} "' in form and re.search(
        rf'<option selected value="{country}">|<option value="{country}" selected>', form
    )


def test_an_invalid_phone_is_refused_beside_the_field_and_nothing_is_saved(client, make_user, store, fake):
    resp = sell_in(client, "LDN01", make_user, phone="07700 900123", country="GB", language="en")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="phone-error">Enter a valid mobile number, e.g. +44 7400 123456.</p>' in html
    assert 'value="07700 900123"' in html  # what was typed stays, to be corrected
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sale)) == 0


def test_a_phone_typed_without_prefix_is_the_stores_country_and_search_finds_it_as_typed(
    client, make_user, store, fake
):
    resp = sell_in(client, "LDN01", make_user, phone="07400 123456", country="IE", language="en")
    assert resp.status_code == 302
    sale = db.session.scalar(sa.select(Sale))
    assert sale.phone == "+447400123456"  # the London store's country, not the Irish customer's
    edit = client.get(f"/sales/{sale.id}/edit").get_data(as_text=True)
    assert 'value="07400 123456"' in edit  # shown nationally for correcting
    assert f"/sales/{sale.id}" in client.get("/sales/?q=07400+123456").get_data(as_text=True)


def test_create_store_refuses_what_cldr_does_not_know(app):
    with pytest.raises(InvalidInput, match="Unknown country"):
        create_store("EU01", "Brussels", "EU", "EUR", "fr", "Europe/Brussels")
    with pytest.raises(InvalidInput, match="Unknown currency"):
        create_store("MEX01", "Mexico", "MX", "MXV", "es", "America/Mexico_City")  # a fund code, not money
    with pytest.raises(InvalidInput, match="Bad language"):
        create_store("MEX01", "Mexico", "MX", "MXN", "xx", "America/Mexico_City")


# --- no hand-built money or times can come back -------------------------------------------------------

# Formatting money or times by hand instead of through intl.money / intl.store_time (|money, |store_time).
HAND_BUILT = [
    (re.compile(r"%\.?\d*f"), "printf-style number formatting"),
    (re.compile(r"\{[^{}]*:[,_]?\.\d+f\}"), "f-string decimal formatting"),
    (re.compile(r"\|\s*format\b"), "the Jinja format filter"),
    (re.compile(r"\bstrftime\("), "strftime"),
    (re.compile(r"~\s*[\"'] [\"']\s*~\s*[\w.]*currency"), "an amount joined to its currency code"),
    (re.compile(r"\}\}\s*\{\{\s*[\w.]*currency\s*\}\}"), "an amount followed by its currency code"),
    (re.compile(r"\{[\w.]*(total|price|amount)[\w.()]*\}\s*\{[\w.]*currency\}"), "an amount next to its currency"),
    (re.compile(r"[£€]\s*\{|\{[^{}]*\}\s*[£€]"), "a currency symbol typed next to a value"),
]


def test_no_money_or_time_is_formatted_by_hand():
    offences = []
    for path in sorted([*ROOT.joinpath("portal").rglob("*.py"), *ROOT.joinpath("templates").rglob("*.html")]):
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            offences += [
                f"{relative}:{number}: {what}: {line.strip()}" for pattern, what in HAND_BUILT if pattern.search(line)
            ]
    assert offences == []


def test_the_guard_catches_what_it_is_for():
    samples = [
        '{{ "%.2f"|format(total) }} {{ sale.currency }}',
        'f"Must be exactly {total:.2f} {sale.currency}"',
        "{{ sale.booked_at.strftime('%d %b') }}",
        'hint="must equal " ~ total ~ " " ~ sale.currency',
        'f"£{price}"',
    ]
    for sample in samples:
        assert any(pattern.search(sample) for pattern, _ in HAND_BUILT), sample
