"""Messages people read are in the catalogue: no f-string or unmarked literal where a message is made (a guard over
portal/), and Messages with values (portal.i18n.Message) read as English text but show in the reader's language."""

from __future__ import annotations

import ast
import pickle
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from flask import Flask, flash, get_flashed_messages
from flask.testing import FlaskClient

from portal import i18n
from portal.auth.passwords import MIN_LENGTH, password_problem
from portal.auth.pins import pin_problem
from portal.i18n import N_, Message
from portal.models import User
from portal.sales.quoting import MAX_QUANTITY

from .conftest import PASSWORD, ROOT, Auth, csrf_token
from .test_sales_views import sale_form
from .test_translations import store_in

# Calls that put a message in the catalogue (or take it from there); their argument is what the extractor reads.
MARKERS = {"N_", "_", "_l", "gettext", "ngettext", "lazy_gettext", "Message", "pin_message"}
# Exceptions whose message a person reads (flashed, or shown beside the form).
USER_ERRORS = {
    "SaleError",
    "InvalidTransition",
    "XCoverDown",
    "XCoverRejected",
    "ApprovalDenied",
    "ReturnExpired",
    "CatalogueError",
    "CheckUnavailable",
    "InvalidInput",
    "PinRefused",
    "ValidationError",
    "StopValidation",
}
# WTForms validators: their first argument (or message=) is the field's error.
VALIDATORS = {"DataRequired", "InputRequired", "Email"}
MESSAGE_KEYWORDS = {"message", "too_large", "required"}
# Functions whose string answer is a message for a person.
ANSWER_SUFFIXES = ("_problem", "_error", "_message")


def _name(node: ast.expr) -> str:
    """The called name: flash for flash(...), append for form.errors.append(...)."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _bare(node: ast.expr | None) -> bool:
    """Tell whether an expression makes words the catalogue cannot know: an f-string, a literal with letters,
    `"..." % x`, `"...".format()`, `"..." + x` (a call of a marker, a name or an attribute is fine)."""
    if node is None:
        return False
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(c.isalpha() for c in node.value)
    if isinstance(node, ast.BinOp):
        return _bare(node.left) or _bare(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _bare(node.func.value)
    if isinstance(node, ast.IfExp):
        return _bare(node.body) or _bare(node.orelse)
    if isinstance(node, ast.List | ast.Tuple):
        return any(_bare(e) for e in node.elts)
    return False


def _holds_errors(node: ast.expr) -> bool:
    """Tell whether an expression is a list of a form's or a service's errors: errors, form.x.errors, form_errors,
    errors.setdefault(name, [])."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setdefault":
        return _holds_errors(node.func.value)
    if isinstance(node, ast.Subscript):
        return _holds_errors(node.value)
    return _name(node).endswith("errors")


def bare_messages(source: str) -> Iterator[tuple[int, str]]:
    """Yield (line, what) for each message made of words the catalogue cannot know."""
    tree = ast.parse(source)
    for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        if function.name.endswith(ANSWER_SUFFIXES):
            for node in ast.walk(function):
                if isinstance(node, ast.Return) and _bare(node.value):
                    yield node.lineno, f"return of {function.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _name(node.func)
            first = node.args[0] if node.args else None
            if called == "flash" and _bare(first):
                yield node.lineno, "flash"
            elif called in ("append", "extend") and _holds_errors(node.func.value) and _bare(first):  # type: ignore[attr-defined]
                yield node.lineno, f"{called} to errors"
            elif called in USER_ERRORS | VALIDATORS and _bare(first):
                yield node.lineno, called
            elif (
                called == "Message" and first is not None and not isinstance(first, ast.Call | ast.Name | ast.Attribute)
            ):
                yield node.lineno, "Message of a literal not marked with N_()"
            for keyword in node.keywords:
                if keyword.arg in MESSAGE_KEYWORDS and _bare(keyword.value):
                    yield node.lineno, f"{keyword.arg}="
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_holds_errors(t) for t in targets) and _bare(node.value):
                yield node.lineno, "errors ="
        elif isinstance(node, ast.Dict) and any(
            isinstance(v, ast.List | ast.DictComp) for v in node.values
        ):  # {"field": ["..."]} given as errors
            for value in node.values:
                if isinstance(value, ast.List) and _bare(value):
                    yield node.lineno, "errors by field"
        elif isinstance(node, ast.DictComp) and isinstance(node.value, ast.List) and _bare(node.value):
            yield node.lineno, "errors by field"


def test_the_guard_finds_bare_messages() -> None:
    """Each kind of bare message is found, and the marked forms of the same are not."""
    bare = """
def f(form, errors, n):
    flash(f"Emailed {n}.", "success")
    flash("Saved.")
    errors["q"] = [f"From 1 to {n}."]
    errors.setdefault("q", []).append("Twice.")
    form.pin.errors.append("Wrong " + n)
    form.form_errors.append("Try again {}".format(n))
    raise SaleError(f"Sale {n} is gone.")
    DataRequired(message=f"Enter the {n}.")
    x = MoneyField(too_large="Too much.")
    y = {"price": ["Too much."]}
    Message("Enter %(n)s.", n=n)
def pin_problem(pin):
    return f"A PIN is {n} digits."
def quantity_error(n):
    return "Too many." if n else None
"""
    found = list(bare_messages(bare))
    assert sorted(line for line, _ in found) == [*range(3, 14), 15, 17], found  # each line, once
    marked = """
def f(form, errors, n):
    flash(gettext("Emailed %(n)s.", n=n), "success")
    flash(N_("Saved."))
    flash(exc.message, "error")
    errors["q"] = [Message(N_("From 1 to %(n)s."), n=n)]
    errors.setdefault("q", []).append(N_("Twice."))
    form.pin.errors.append(ngettext("%(num)d try", "%(num)d tries", n))
    raise SaleError(N_("Sale gone."), {"price": [N_("Too much.")]})
    DataRequired(message=N_("Enter the name."))
    x = MoneyField(too_large=Message(N_("At most %(most)s."), most=n))
    problems = ["XCover said no"]  # not a form's errors
    return f"{n} rows"  # not a message function
def pin_problem(pin):
    return None if pin else N_("Enter a PIN.")
"""
    assert list(bare_messages(marked)) == []


def test_no_bare_message_in_the_portal() -> None:
    """No flash, form or field error, validator message, user-facing exception or *_problem/*_error answer in portal/
    is an f-string or an unmarked literal: each is N_(), gettext/_ in a view, or a Message with its values."""
    found = []
    for path in sorted((ROOT / "portal").rglob("*.py")):
        for line, what in bare_messages(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert found == []


def test_message_reads_as_english_and_remembers_its_msgid() -> None:
    """A Message is its English text (logs, the CLI, tests), with the msgid and values kept; a Message of a Message
    is the same one, and it pickles whole."""
    m = Message(N_("Enter a quantity from 1 to %(most)s."), most=MAX_QUANTITY)
    assert m == "Enter a quantity from 1 to 99." and isinstance(m, str)
    assert (m.msgid, m.values) == ("Enter a quantity from 1 to %(most)s.", {"most": 99})
    assert Message(m) is m
    assert Message(N_("Enter a price from 0.01 to %(most)s each."), most=1000000) == (
        "Enter a price from 0.01 to 1,000,000 each."
    )
    again = pickle.loads(pickle.dumps(m))
    assert again == m and again.msgid == m.msgid and again.values == m.values


def test_translate_says_a_message_in_the_readers_language(app: Flask) -> None:
    """|translate looks the msgid up and fills in the values: numbers with the reader's digit groups, a Message
    value (a status label) translated too, and text someone typed escaped, never trusted."""
    with app.test_request_context():
        from flask import g

        g.portal_locale = "fr_FR"
        assert i18n.translate(Message(N_("Enter a quantity from 1 to %(most)s."), most=99)) == (
            "Saisissez une quantité de 1 à 99."
        )
        price = i18n.translate(Message(N_("Enter a price from 0.01 to %(most)s each."), most=1000000))
        assert price.replace("\u202f", " ").replace("\u00a0", " ") == "Saisissez un prix de 0,01 à 1 000 000 l’unité."
        weak = Message(N_("Weak password: %(problem)s"), problem=password_problem("short"))
        assert weak == f"Weak password: Use at least {MIN_LENGTH} characters."
        assert i18n.translate(weak) == f"Mot de passe trop faible : Utilisez au moins {MIN_LENGTH} caractères."
        taken = Message(N_("The username %(username)s is taken."), username="<b>x</b>")
        html = app.jinja_env.from_string("{{ m|translate }}").render(m=taken)
        assert html == "L’identifiant &lt;b&gt;x&lt;/b&gt; est déjà pris."


def test_a_validator_that_formats_its_message_keeps_the_message(app: Flask) -> None:
    """WTForms' NumberRange does `message % {...}`: the catalogue's term range still shows in French."""
    from werkzeug.datastructures import MultiDict

    from portal.admin.forms import LineForm

    form = LineForm(MultiDict({"policy_type": "p", "policy_type_version": "1", "cover_term_months": "500"}))
    assert not form.validate()
    (error,) = form.cover_term_months.errors
    assert error == "From 1 to 120." and isinstance(error, Message)
    with app.test_request_context():
        from flask import g

        g.portal_locale = "fr_FR"
        assert i18n.translate(error) == "De 1 à 120."


def test_a_flashed_message_is_translated_when_shown(app: Flask) -> None:
    """A Message flashed by a view keeps its msgid and values through the session cookie (a Message or an amount
    among its values too)."""
    client = app.test_client()

    @app.route("/_flash_test")
    def _flash() -> str:
        flash(Message(N_("A report covers at most %(most)s days."), most=366), "error")
        flash(Message(N_("Weak password: %(problem)s"), problem=password_problem("short")), "error")
        flash(Message(N_("Enter a price of at most %(most)s each."), most=Decimal("1000000")), "error")
        return ""

    @app.route("/_flashed_test")
    def _flashed() -> str:
        from flask import g

        g.portal_locale = "de_DE"
        return " | ".join(i18n.translate(m) for m in get_flashed_messages())

    client.get("/_flash_test")
    shown = client.get("/_flashed_test").get_data(as_text=True).split(" | ")
    assert shown == [
        "Ein Bericht umfasst höchstens 366 Tage.",
        f"Zu schwaches Passwort: Verwenden Sie mindestens {MIN_LENGTH} Zeichen.",
        "Geben Sie einen Stückpreis von höchstens 1.000.000 ein.",
    ]


@pytest.fixture
def french(make_user: Callable[..., User], client: FlaskClient) -> Callable[[str], FlaskClient]:
    """Sign in someone of a French store in this role."""

    def _sign_in(role: str = "associate") -> FlaskClient:
        store = store_in("SFR", "FR", "fr", "Europe/Paris")
        make_user(f"fr.{role}", role, store)
        Auth(client).sign_in(f"fr.{role}")
        return client

    return _sign_in


def test_french_sale_form_quantity_error(french: Callable[[str], FlaskClient]) -> None:
    """A quantity past the limit on the new-sale form is refused beside its field in French."""
    client = french("associate")
    token = csrf_token(client, "/sales/new")
    html = client.post("/sales/new", data=sale_form(token, **{"items-0-quantity": "100"})).get_data(as_text=True)
    assert 'id="items-0-quantity-error">Saisissez une quantité de 1 à 99.</p>' in html
    assert "Enter a quantity" not in html


def test_french_pin_problem(french: Callable[[str], FlaskClient]) -> None:
    """A PIN of the wrong length is refused in French (the service's words are English)."""
    client = french("associate")
    assert pin_problem("12") == "A PIN is exactly 6 digits."
    data = {"csrf_token": csrf_token(client, "/auth/pin"), "pin": "12", "confirm": "12"}
    html = client.post("/auth/pin", data=data).get_data(as_text=True)
    assert "Un code PIN comporte exactement 6 chiffres." in html and "A PIN is exactly" not in html


def test_french_report_range_error(french: Callable[[str], FlaskClient]) -> None:
    """A custom report period longer than allowed is refused in French."""
    client = french("manager")
    html = client.get("/reports/?period=custom&date_from=2025-01-01&date_to=2026-07-01").get_data(as_text=True)
    assert "Un rapport couvre au plus 366 jours." in html and "A report covers" not in html


def test_french_password_length_problem(french: Callable[[str], FlaskClient]) -> None:
    """A new password that is too short is refused in French."""
    client = french("associate")
    data = {"current_password": PASSWORD, "new_password": "short", "confirm": "short"}
    html = client.post("/auth/password", data={"csrf_token": csrf_token(client, "/auth/password"), **data})
    assert f"Utilisez au moins {MIN_LENGTH} caractères." in html.get_data(as_text=True)
