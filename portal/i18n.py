"""The portal's words in the reader's language: Flask-Babel, its catalogues under translations/, and the locale.

Staff screens are in the store's locale (its language and country, the same Locale `portal.intl` formats
money and dates with); the customer view is in the customer's language (`use_customer_locale`).
The compiled catalogues (.mo) are not kept in git: `compile_catalogues` builds any that are missing or
older than their .po when the app starts, and `make translations` rebuilds them all.
"""

from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from flask import Flask, g, has_app_context
from flask.json.tag import JSONTag, TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, get_locale, get_translations
from flask_babel.speaklater import LazyString

from . import config, intl

TRANSLATIONS = config.ROOT / "translations"
# The catalogues kept; en is the source (British English), en_AU and en_US only where the spelling differs.
LANGUAGES = ("en", "en_AU", "en_US", "fr", "de")
# Complete for the whole portal (tests/test_translations.py fails on a gap).
COMPLETE = ("fr", "de")

babel = Babel()


def N_(message: str) -> str:  # the name gettext tools look for
    """Mark a message for the catalogue without translating it here (services never know the reader)."""
    return message


def _shown(value: Any, locale: Locale | str) -> Any:
    """A Message's value as a reader in `locale` sees it: a number with the locale's digit groups, else as it is."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return format_decimal(value, locale=locale)
    return value


class Message(str):
    """A service's message with values: reads as its English text, and `|translate` says it in the reader's language.

    `Message(N_("Enter a quantity from 1 to %(most)s."), most=99)` is the str "Enter a quantity from 1 to 99."
    (for logs, the CLI and tests) that remembers its msgid and values, so `translate` can look the msgid up and
    fill in the values then. A value that is itself a Message (a status label) is translated too; numbers are
    written with the reader's digit groups. Never marked safe: values may carry what someone typed.
    """

    msgid: str
    values: dict[str, Any]

    def __new__(cls, msgid: str, /, **values: Any) -> Message:
        """Format the English text now and keep the msgid and values for translation later (a Message stays itself)."""
        if isinstance(msgid, Message) and not values:
            return msgid
        text = msgid % {k: _shown(v, SOURCE_LOCALE) for k, v in values.items()} if values else msgid
        self = super().__new__(cls, text)
        self.msgid, self.values = msgid, values
        return self

    def __mod__(self, values: Any) -> str:
        """`message % {...}` (WTForms' NumberRange and Length do it to every message) keeps the Message."""
        if isinstance(values, Mapping):
            return Message(self.msgid, **{**values, **self.values})
        return str.__mod__(self, values)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the msgid and values (str would pickle only the English text)."""
        return _rebuild, (self.msgid, self.values)


def _rebuild(msgid: str, values: dict[str, Any]) -> Message:
    """Unpickle a Message."""
    return Message(msgid, **values)


SOURCE_LOCALE = "en_GB"  # the catalogue's source words are British English
_CATALOGUE = "portal_catalogue"  # g's attribute: this request's locale and catalogue


def _catalogue() -> tuple[Locale, Any]:
    """This request's locale and catalogue, looked up once: Flask-Babel looks both up again for every word.

    Kept in g, as Flask-Babel keeps its locale, so it is exactly as fresh; use_customer_locale drops both.
    """
    if not has_app_context():
        return intl.UI_LOCALE, get_translations()
    found = g.get(_CATALOGUE)
    if found is None:
        found = (get_locale() or intl.UI_LOCALE, get_translations())
        setattr(g, _CATALOGUE, found)
    return found


def gettext(message: str, **values: Any) -> str:
    """A message in the reader's language, its values put in (as flask_babel.gettext, without its lookups)."""
    text = _catalogue()[1].ugettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, num: int, **values: Any) -> str:
    """The singular or plural in the reader's language, with num and the values put in (as flask_babel.ngettext)."""
    values.setdefault("num", num)
    return _catalogue()[1].ungettext(singular, plural, num) % values


def lazy_gettext(message: str, **values: Any) -> LazyString:
    """A message translated when it is shown (form labels, made at import): `_l`."""
    return LazyString(gettext, message, **values)


def translate(message: Any) -> str:
    """{{ message|translate }}: a known message in the reader's language, anything else as it is.

    For words that are data (vocabulary labels, a service's message, a Message with its values): a plain string,
    escaped by Jinja, never marked safe (Jinja's own `_()` would mark the result safe, wrong for text that may
    carry input).
    """
    if isinstance(message, Message):
        if not message.values:
            return gettext(message.msgid)
        locale = current_locale()
        values = {k: translate(v) if isinstance(v, Message) else _shown(v, locale) for k, v in message.values.items()}
        return gettext(message.msgid, **values)
    text = str(message) if message is not None else ""
    return gettext(text) if text else text


class _TagMessage(JSONTag):
    """Keep a Message a Message through the session (a flash), so it is translated when it is shown."""

    __slots__ = ()
    key = " msg"

    def check(self, value: Any) -> bool:
        """Tag Messages only."""
        return isinstance(value, Message)

    def to_json(self, value: Any) -> Any:
        """The msgid and its values (tagged in turn: a Message or an amount inside a Message)."""
        return [value.msgid, self.serializer.tag(value.values)]

    def to_python(self, value: Any) -> Any:
        """Rebuild the Message."""
        msgid, values = value
        return Message(msgid, **values)


class _TagDecimal(JSONTag):
    """Keep an amount in a Message an amount through the session (it is written with the reader's digit groups)."""

    __slots__ = ()
    key = " dec"

    def check(self, value: Any) -> bool:
        """Tag Decimals only."""
        return isinstance(value, Decimal)

    def to_json(self, value: Any) -> Any:
        """The amount as text, exactly."""
        return str(value)

    def to_python(self, value: Any) -> Any:
        """The amount again."""
        return Decimal(value)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, whose serializer keeps Messages (and the amounts in them)."""

    serializer = TaggedJSONSerializer()
    serializer.register(_TagMessage, index=0)
    serializer.register(_TagDecimal)


def use_customer_locale(language: str, country: str) -> Locale:
    """Speak the customer's language for the rest of this request (the customer view); return that locale."""
    locale = intl.customer_locale(language, country)
    g.portal_locale = locale
    from flask_babel import refresh

    refresh()
    g.pop(_CATALOGUE, None)
    return locale


def select_locale() -> str:
    """The locale of this request: the customer's on the customer view, else the signed-in person's store's."""
    forced = g.get("portal_locale")
    if forced is None:
        from flask_login import current_user

        store = current_user.store if current_user and current_user.is_authenticated else None
        forced = intl.store_locale(store)
    # Python's gettext reads a bare "en" as en_US (locale.normalize): the portal's own English is British.
    return SOURCE_LOCALE if str(forced) == "en" else str(forced)


def current_locale() -> Locale:
    """The locale the page is being written in (a Locale, for formatting)."""
    return _catalogue()[0]


def html_lang() -> str:
    """The page's lang attribute: en-GB, fr-FR, de."""
    return str(current_locale()).replace("_", "-")


def catalogue_files(root: Path = TRANSLATIONS) -> Iterator[tuple[Path, Path]]:
    """Yield each catalogue's .po and .mo paths."""
    for po in sorted(root.glob("*/LC_MESSAGES/messages.po")):
        yield po, po.with_suffix(".mo")


def compile_catalogue(po: Path, mo: Path) -> None:
    """Compile one .po into its .mo, written whole and then moved into place (workers may start together)."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    handle, temporary = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(temporary, mo)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def compile_catalogues(root: Path = TRANSLATIONS, force: bool = False) -> list[Path]:
    """Compile every catalogue whose .mo is missing or older than its .po; return the ones compiled."""
    done = []
    for po, mo in catalogue_files(root):
        if force or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            compile_catalogue(po, mo)
            done.append(mo)
    return done


def init_app(app: Flask) -> None:
    """Compile the catalogues if needed and bind Flask-Babel with the portal's locale selector."""
    compile_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", SOURCE_LOCALE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)
    # Jinja's _() and ngettext() through this request's catalogue, in place of Flask-Babel's lookups per word.
    app.jinja_env.install_gettext_callables(
        gettext=gettext,
        ngettext=lambda s, p, n: _catalogue()[1].ungettext(s, p, n),
        pgettext=lambda c, s: _catalogue()[1].upgettext(c, s),
        npgettext=lambda c, s, p, n: _catalogue()[1].unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.filters["translate"] = translate
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = SessionInterface()
    app.jinja_env.globals.update(html_lang=html_lang)


def extract_vocab(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, str]) -> Iterator[tuple]:
    """A Babel extractor for portal/vocab.py: the label of every member of the enums named in `options["enums"]`.

    `DRAFT = "draft", "Not quoted yet"` gives the msgid "Not quoted yet" (shown through `|translate`).
    """
    wanted = {name.strip() for name in options.get("enums", "").split(",") if name.strip()}
    tree = ast.parse(fileobj.read().decode("utf-8"))
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name not in wanted:
            continue
        for statement in node.body:
            value = getattr(statement, "value", None)
            if isinstance(statement, ast.Assign) and isinstance(value, ast.Tuple) and len(value.elts) >= 2:
                label = value.elts[1]
                if isinstance(label, ast.Constant) and isinstance(label.value, str):
                    yield statement.lineno, None, label.value, [f"{node.name} label"]
