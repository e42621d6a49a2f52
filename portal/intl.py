"""Countries, currencies and languages from CLDR (Babel), and money and times in a store's locale."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, Protocol

import phonenumbers
from babel import Locale, UnknownLocaleError, localedata
from babel.core import get_global
from babel.dates import (
    format_date,
    format_skeleton,
    format_time,
    get_datetime_format,
    get_time_format,
    get_timezone,
)
from babel.numbers import format_currency, format_decimal, format_percent, get_territory_currencies

# The language the portal's own words are in; names of countries, currencies and languages use it too.
UI_LOCALE = Locale("en")


class HasLocale(Protocol):
    """What a locale is built from: a store (or anything with its language, country and time zone)."""

    language: str
    country: str
    timezone: str


def _by_name(pair: tuple[str, str]) -> str:
    """Sort key: the name without accents, so Åland Islands sits among the A's."""
    return "".join(c for c in unicodedata.normalize("NFKD", pair[1]) if not unicodedata.combining(c)).casefold()


@cache
def countries() -> dict[str, str]:
    """Return every country a store can be in and a sale can be made in, code -> name, by name.

    A country is a CLDR region with a two-letter code, a currency in use and a telephone country code: one
    list for creating stores, for the customer's country and for phone numbers.
    """
    names = UI_LOCALE.territories
    codes = [
        code
        for code in names
        if len(code) == 2
        and code.isalpha()
        and get_territory_currencies(code)
        and phonenumbers.country_code_for_region(code)
    ]
    return dict(sorted(((code, names[code]) for code in codes), key=_by_name))


@cache
def currencies() -> dict[str, str]:
    """Return the currencies in use in those countries today, code -> name, by code."""
    codes = {code for country in countries() for code in get_territory_currencies(country)}
    return {code: UI_LOCALE.currencies.get(code, code) for code in sorted(codes)}


@cache
def languages() -> dict[str, str]:
    """Return the languages Babel can format in (two-letter codes), code -> name, by name."""
    codes = [code for code in localedata.locale_identifiers() if len(code) == 2 and code in UI_LOCALE.languages]
    return dict(sorted(((code, UI_LOCALE.languages[code]) for code in codes), key=_by_name))


@cache
def countries_in(locale: str) -> dict[str, str]:
    """Return countries() named in a locale (fr: Allemagne, Royaume-Uni), by name: for the sale form."""
    names = Locale.parse(locale).territories
    return dict(sorted(((code, names.get(code, name)) for code, name in countries().items()), key=_by_name))


@cache
def languages_in(locale: str) -> dict[str, str]:
    """Return languages() named in a locale (de: Deutsch, Französisch), by name: for the sale form."""
    names = Locale.parse(locale).languages
    return dict(sorted(((code, names.get(code, name)) for code, name in languages().items()), key=_by_name))


@cache
def time_zones() -> list[str]:
    """Return the IANA time zones CLDR places in a country (plus UTC), by name: the choices for a store."""
    zones = {zone for listed in get_global("territory_zones").values() for zone in listed}
    return sorted((zones - {"Etc/Unknown"}) | {"UTC"})


def zones_of(country: str) -> list[str]:
    """Return the IANA time zones of a country, by name (none for an unknown country)."""
    return sorted(get_global("territory_zones").get(country.upper(), []))


def primary_language(language: str) -> str:
    """Return the language subtag of a store's language setting: en-gb -> en."""
    return language.replace("_", "-").split("-", 1)[0].lower()


@cache
def _locale(language: str, country: str) -> Locale:
    """Return the closest locale CLDR has for a language spoken in a country."""
    lang = primary_language(language)
    for candidate in (f"{lang}_{country.upper()}", lang):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return UI_LOCALE


def customer_locale(language: str, country: str) -> Locale:
    """Return the locale a customer reads in: their language as spoken in their country (fr + GB -> fr)."""
    return _locale(language or "en", country or "")


def store_locale(store: HasLocale | None) -> Locale:
    """Return a store's locale from its language and country (en + GB -> en_GB); head office uses English."""
    return _locale(store.language, store.country) if store is not None else UI_LOCALE


def store_zone(store: HasLocale | None) -> Any:
    """Return a store's time zone (UTC for head office)."""
    return get_timezone(store.timezone if store is not None else "UTC")


# Formatting is pure and the same amounts and times come back on every view of a list or a sale: keep the text.
FORMATTED = 8192


def _where(store: HasLocale | None) -> tuple[str, str, str] | None:
    """Return what formatting depends on in a store: its language, country and time zone."""
    return (store.language, store.country, store.timezone) if store is not None else None


def formatting_key(store: HasLocale | None) -> tuple[str, str, str] | None:
    """Return what a store's formatted money and times depend on (to key kept text by)."""
    return _where(store)


def _place(where: tuple[str, str, str] | None) -> tuple[Locale, Any]:
    """Return the locale and time zone for _where's answer."""
    if where is None:
        return UI_LOCALE, get_timezone("UTC")
    return _locale(where[0], where[1]), get_timezone(where[2])


def money(
    amount: Decimal | int | str, currency: str, store: HasLocale | None = None, locale: Locale | None = None
) -> str:
    """Format an amount in a currency the way the store's locale (or the given one) writes it: £1,299.00, 1 299,00 €."""
    return _money(Decimal(amount), currency, _where(store), locale)


@lru_cache(maxsize=FORMATTED)
def _money(amount: Decimal, currency: str, where: tuple[str, str, str] | None, locale: Locale | None) -> str:
    """money(), once per amount, currency, place and locale."""
    return format_currency(amount, currency, locale=locale or _place(where)[0])


def store_time(
    moment: datetime | date, store: HasLocale | None = None, fmt: str = "datetime", locale: Locale | None = None
) -> str:
    """Format a time in the store's zone and locale, or a date in its locale.

    fmt: "time" (09:30 BST), "date" (1 May 2026), "datetime" (1 May 2026, 09:30 BST) or
    "seconds" (1 May 2026, 09:30:05 BST, for the audit log). A locale given (the customer's) wins over the store's.
    """
    if isinstance(moment, datetime) and moment.tzinfo is None:
        raise ValueError("naive datetime given to store_time")
    return _store_time(moment, _where(store), fmt, locale)


@lru_cache(maxsize=FORMATTED)
def _store_time(moment: datetime | date, where: tuple[str, str, str] | None, fmt: str, locale: Locale | None) -> str:
    """store_time(), once per moment, place, format and locale."""
    place_locale, zone = _place(where)
    locale = locale or place_locale
    if not isinstance(moment, datetime):
        return format_date(moment, "medium", locale=locale)
    if fmt != "time":
        day = format_date(moment.astimezone(zone).date(), "medium", locale=locale)
        if fmt == "date":
            return day
    width = "medium" if fmt == "seconds" else "short"
    clock = format_time(moment, f"{get_time_format(width, locale).pattern} z", tzinfo=zone, locale=locale)
    if fmt == "time":
        return clock
    return get_datetime_format("medium", locale).replace("'", "").replace("{1}", day).replace("{0}", clock)


def percent(fraction: Decimal | float | None, store: HasLocale | None = None, digits: int = 1) -> str:
    """Format a fraction as a percentage the way the store's locale writes it: 42.5%, 42,5 %; a dash for none."""
    if fraction is None:
        return "–"
    # Rounded before the (cached) formatting: a report shows hundreds of rates, most of them alike.
    return _percent(round(Decimal(fraction), digits + 2), store_locale(store), digits)


@lru_cache(maxsize=4096)
def _percent(fraction: Decimal, locale: Locale, digits: int) -> str:
    """Format a rounded fraction with the locale's own percent pattern and `digits` decimals."""
    pattern = locale.percent_formats[None].pattern
    if digits:
        pattern = pattern.replace("0", "0." + "0" * digits, 1)
    return format_percent(fraction, pattern, locale=locale)


def number(value: Decimal | int, store: HasLocale | None = None) -> str:
    """Format a count the way the store's locale writes it: 12,345; 12 345."""
    return _number(value, store_locale(store))


@lru_cache(maxsize=4096)
def _number(value: Decimal | int, locale: Locale) -> str:
    """Format a count in a locale (cached: a report shows the same small counts many times)."""
    return format_decimal(value, locale=locale)


def short_date(day: date, store: HasLocale | None = None) -> str:
    """Format a day briefly (a chart's axis) in the store's locale: 3 May, May 3."""
    return format_skeleton("MMMd", day, locale=store_locale(store))
