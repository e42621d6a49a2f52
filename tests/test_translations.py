"""Translations: the catalogues cover the whole portal in French and German (every template, form label and message,
flash and vocabulary label), are up to date with the code, compile, and the pages speak the store's (or the
customer's) language."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from portal import i18n
from portal.extensions import db
from portal.models import Store, User
from portal.stores import create_store

from .conftest import ROOT, Auth
from .test_sales_views import start_sale

TEMPLATES = ROOT / "templates"
KEYWORDS = {**dict.fromkeys(("_", "gettext", "N_", "_l", "lazy_gettext")), "ngettext": (1, 2)}


def extracted() -> dict[object, set[str]]:
    """Extract every message from the code as `make translations` does: msgid -> the files it comes from."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[object, set[str]] = {}

    def keep_directory(path: str) -> bool:
        """Skip hidden folders (.venv, .git) and the instance data."""
        name = os.path.basename(path)
        return not (name.startswith(".") or name in ("instance", "node_modules"))

    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=keep_directory
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, set()).add(filename.replace(os.sep, "/"))
    return found


def catalogue(language: str):
    """Read one language's .po."""
    with (i18n.TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def frozen(value: object) -> object:
    """A message id or string as a key: plural forms as a tuple."""
    return value if isinstance(value, str) else tuple(value)


def translated(message) -> bool:
    """Tell whether a catalogue entry has a translation (every plural form) that is not fuzzy."""
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return all(strings) and not message.fuzzy


def ids(cat) -> set[object]:
    """The msgids of a catalogue (plural ones as tuples)."""
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in cat if m.id}


def test_template_catalogue_is_up_to_date() -> None:
    """translations/messages.pot holds exactly the words in the code: run `make translations` when this fails."""
    with (i18n.TRANSLATIONS / "messages.pot").open("rb") as source:
        template = read_po(source)
    code = set(extracted())
    assert code - ids(template) == set(), "words in the code missing from messages.pot: run make translations"
    assert ids(template) - code == set(), "words in messages.pot no longer in the code: run make translations"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_each_catalogue_is_updated(language: str) -> None:
    """Every catalogue has exactly the template's words (pybabel update ran)."""
    with (i18n.TRANSLATIONS / "messages.pot").open("rb") as source:
        template = read_po(source)
    assert ids(catalogue(language)) == ids(template)


@pytest.mark.parametrize("language", i18n.COMPLETE)
def test_every_word_is_translated(language: str) -> None:
    """Every word of the portal (each template, form label and message, flash, vocabulary label) has a French and
    a German translation, none fuzzy."""
    found = extracted()
    needed = set(found)
    assert len(needed) > 700  # the extraction really found the portal's words
    sources = set().union(*found.values())
    # every template with words, and the Python that marks them, went into the extraction
    for area in ("main", "errors", "auth", "policies", "reports", "admin", "catalogue", "audit", "sales"):
        assert any(f.startswith(f"templates/{area}/") for f in sources), area
    for module in ("auth/forms.py", "policies/forms.py", "reports/forms.py", "admin/forms.py", "audit/forms.py"):
        assert f"portal/{module}" in sources, module
    by_id = {(m.id if isinstance(m.id, str) else tuple(m.id)): m for m in catalogue(language) if m.id}
    missing = sorted(str(msgid) for msgid in needed if msgid not in by_id or not translated(by_id[msgid]))
    assert missing == [], f"untranslated in {language}: {missing}"


@pytest.mark.parametrize("language", i18n.COMPLETE)
def test_placeholders_and_quotes(language: str) -> None:
    """A translation keeps exactly the placeholders of its msgid (a missing %(total)s would raise at render)."""
    import re

    holder = re.compile(r"%\(\w+\)[sd]")
    for m in catalogue(language):
        if not m.id or not m.string:
            continue
        source = m.id if isinstance(m.id, str) else m.id[1]
        for text in m.string if isinstance(m.string, tuple) else (m.string,):
            assert sorted(holder.findall(text)) == sorted(holder.findall(source)), (m.id, text)
            # _() returns markup that is not escaped again, and some land in attributes (aria-label="..."):
            # quotes are typographic (« », „ “), never the ASCII ones.
            assert '"' not in text or '"' in source, (m.id, text)


def test_compiled_catalogues_match_their_sources(app: Flask) -> None:
    """The .mo the app loads says what the .po says (the factory compiled any missing or older one)."""
    for po, mo in i18n.catalogue_files():
        assert mo.exists(), mo
        assert mo.stat().st_mtime >= po.stat().st_mtime, f"{mo} is older than its .po"
        # write_mo fills an untranslated plural with its msgid: entries that say their msgid are left out of both.
        with po.open("rb") as source:
            expected = {frozen(m.id): frozen(m.string) for m in read_po(source) if m.id and translated(m)}
        with mo.open("rb") as compiled:
            got = {frozen(m.id): frozen(m.string) for m in read_mo(compiled) if m.id}
        expected = {k: v for k, v in expected.items() if k != v and (k,) != v}
        got = {k: v for k, v in got.items() if k != v and (k,) != v}
        assert got == expected, po


def test_stale_or_missing_compiled_catalogue_is_rebuilt(tmp_path: Path) -> None:
    """compile_catalogues builds a missing .mo, leaves a fresh one alone and rebuilds one older than its .po."""
    root = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS / "fr", root / "fr", ignore=shutil.ignore_patterns("*.mo"))
    po = root / "fr" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    assert i18n.compile_catalogues(root) == [mo]
    assert i18n.compile_catalogues(root) == []
    os.utime(mo, (po.stat().st_mtime - 10, po.stat().st_mtime - 10))
    assert i18n.compile_catalogues(root) == [mo]
    with mo.open("rb") as compiled:
        assert {frozen(m.id): m.string for m in read_mo(compiled)}["New sale"] == "Nouvelle vente"


def test_vocab_extractor_reads_labels() -> None:
    """The vocabulary extractor yields the labels of the enums it is told about, and nothing else."""
    with (ROOT / "portal" / "vocab.py").open("rb") as source:
        labels = {m for _l, _f, m, _c in i18n.extract_vocab(source, None, None, {"enums": "DeclineReason"})}
    assert labels == {"Already covered", "Too expensive", "Not interested", "Will decide later", "Other"}


# Text a template may hold outside gettext: none but its block names (a body class) and machine-read attributes.
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_WORDS = re.compile(r"[A-Za-z]{2,}")
_READ_ATTRIBUTES = re.compile(r'\b(aria-label|title|placeholder|alt)="([^"]*)"')


def bare_words(html: str) -> list[str]:
    """The words of a template that do not go through gettext: its text and its read-aloud attributes."""
    html = re.sub(r"\{#.*?#\}", " ", html, flags=re.S)
    html = re.sub(r"\{%-? *block body_class *-?%\}.*?\{%-? *endblock *-?%\}", " ", html, flags=re.S)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    found = [m.group(0) for m in _READ_ATTRIBUTES.finditer(html) if _WORDS.search(_JINJA.sub(" ", m.group(2)))]
    text = re.sub(r"<[^>]*>", " ", _JINJA.sub(" ", html))
    return found + [line.strip() for line in text.splitlines() if _WORDS.search(line)]


def test_bare_words_are_found() -> None:
    """The check below sees a word left outside gettext, in text or in an attribute, and nothing else."""
    assert bare_words('<p class="lead">Hello {{ name }}</p>') == ["Hello"]
    assert bare_words('<nav aria-label="Pages">{{ _("Older") }}</nav>') == ['aria-label="Pages"']
    assert (
        bare_words('{% block body_class %}locked{% endblock %}<b title="{{ _(\'x\') }}">{{ _("Sign in") }}</b>') == []
    )


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_every_template_word_goes_through_gettext(template: str) -> None:
    """No template shows a word that is not in the catalogue: each one is `_()`, `ngettext` or data `|translate`."""
    assert bare_words((TEMPLATES / template).read_text(encoding="utf-8")) == []


def store_in(code: str, country: str, language: str, tz: str) -> Store:
    """A store with its language."""
    s = create_store(
        code, code, country, {"FR": "EUR", "DE": "EUR", "US": "USD", "AU": "AUD"}.get(country, "GBP"), language, tz
    )
    db.session.commit()
    return s


@pytest.fixture
def seller_in(make_user: Callable[..., User], client: FlaskClient, fake) -> Callable[..., FlaskClient]:
    """Sign in an associate of a new store with this country and language."""

    def _sign_in(country: str, language: str, tz: str = "Europe/Paris") -> FlaskClient:
        s = store_in(f"S{country}", country, language, tz)
        make_user(f"seller{country.lower()}", "associate", s)
        Auth(client).sign_in(f"seller{country.lower()}")
        return client

    return _sign_in


def test_french_store_sells_in_french(seller_in: Callable[..., FlaskClient]) -> None:
    """A French store's sale screens are in French: headings, labels, steps, badges, and money as fr_FR writes it."""
    client = seller_in("FR", "fr")
    page = client.get("/sales/new").get_data(as_text=True)
    assert '<html lang="fr-FR">' in page
    for words in ("Nouvelle vente", "Produits et client", "Nom du produit", "Numéro de série", "Code postal"):
        assert words in page, words
    assert re.search(r'<option (selected value="FR"|value="FR" selected)>France</option>', page)
    assert ">Royaume-Uni</option>" in page and ">français</option>" in page  # CLDR names in French
    sale_id = start_sale(client, **{"country": "FR", "phone": "+33 6 12 34 56 78", "postcode": "75001"})
    options = client.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    assert "Options de garantie" in options and "Non merci" in options and "Trop cher" in options
    assert "1 000,00\u00a0€" in options or "1\u202f000,00\u00a0€" in options


def test_french_store_home_and_password_pages(seller_in: Callable[..., FlaskClient]) -> None:
    """Beyond the sale screens, a French associate's home, password and PIN pages are in French."""
    client = seller_in("FR", "fr")
    home = client.get("/").get_data(as_text=True)
    assert "Ventes du jour" in home and "Bonjour" in home and "Today's sales" not in home
    password = client.get("/auth/password").get_data(as_text=True)
    assert "Enregistrer mon nouveau mot de passe" in password and "Mot de passe actuel" in password
    assert "Code PIN de changement rapide" in client.get("/auth/pin").get_data(as_text=True)


def test_german_store_sells_in_german(seller_in: Callable[..., FlaskClient]) -> None:
    """A German store's screens are in German."""
    client = seller_in("DE", "de", "Europe/Berlin")
    page = client.get("/sales/new").get_data(as_text=True)
    assert '<html lang="de-DE">' in page
    assert "Neuer Verkauf" in page and "Seriennummer" in page and "Abmelden" in page


def test_us_store_spells_american(seller_in: Callable[..., FlaskClient]) -> None:
    """An American store's screens use US spelling where it differs; the rest is the British source."""
    client = seller_in("US", "en", "America/New_York")
    page = client.get("/sales/new").get_data(as_text=True)
    assert '<html lang="en-US">' in page
    assert "ZIP code" in page and "Postcode" not in page
    assert "New sale" in page


def test_australian_store_words(seller_in: Callable[..., FlaskClient]) -> None:
    """An Australian store keeps British spelling and its terms (Mobile phone, Postcode), with State for Region."""
    client = seller_in("AU", "en", "Australia/Sydney")
    page = client.get("/sales/new").get_data(as_text=True)
    assert '<html lang="en-AU">' in page
    assert ">State</label>" in page and ">Postcode</label>" in page and ">Mobile phone</label>" in page


def test_british_store_is_unchanged(seller: FlaskClient) -> None:
    """A British store reads the source words."""
    page = seller.get("/sales/new").get_data(as_text=True)
    assert '<html lang="en-GB">' in page and "Postcode" in page and "New sale" in page


def test_translate_filter_escapes(app: Flask) -> None:
    """|translate returns plain text: a message carrying markup is escaped, never trusted."""
    with app.test_request_context():
        rendered = app.jinja_env.from_string("{{ m|translate }}").render(m="<b>x</b>")
    assert rendered == "&lt;b&gt;x&lt;/b&gt;"


def test_head_office_reads_british_english_not_american(app, make_user) -> None:
    make_user("boss", "admin", None)
    client = app.test_client()
    from tests.conftest import Auth

    Auth(client).sign_in("boss")
    page = client.get("/").get_data(as_text=True)
    assert "Offer catalogue" in page and "Offer catalog<" not in page
