"""Fuzzing every form, the webhook and the sandbox with Hypothesis: never a 500, every value shown back escaped.

The forms are found, not listed: each visitor of tests/route_table.py opens every page they may see against
store A's objects (tests/world.py) and every <form> on it is collected, with its fields, under the endpoint it
posts (or GETs) to. Each endpoint with a form is then fuzzed with what a careless or hostile client sends:
arbitrary Unicode, huge strings, control characters and NUL, RTL overrides, markup, numbers out of range
(0, negative, 1e309, NaN, 10^12), malformed dates. A new form is fuzzed as soon as its route is declared.
Example counts come from the Hypothesis profile in conftest.py ("portal"; HYPOTHESIS_PROFILE=thorough for more).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.route_table import ROLE_NAMES, ROUTES
from tests.test_audit_coverage import HOOK_KEY, HOOK_SECRET
from tests.test_routes import instances
from tests.world import BACKENDS, World, world_fixture

# Shown back raw, this would run: every page must escape it, and no export may carry it unescaped into HTML.
MARKER = "<script>fz</script>"
RAW = MARKER.encode()
# Routes whose forms are a button and a CSRF token, no field: their refusals are walked in tests/test_routes.py.
BUTTONS = {
    "auth.sign_out",
    "sales.quote",
    "sales.opt_out",
    "sales.book",
    "sales.check",
    "sales.resend_email",
    "policies.check_return",
    "policies.preview_again",
    "policies.withdraw_return",
    "policies.confirm_correction",
    "policies.check_correction",
    "policies.discard_correction",
    "admin.unlock_person",
    "admin.sign_out_person",
    "admin.disable_person",
    "admin.enable_person",
    "admin.deactivate_store",
    "admin.reactivate_store",
    "catalogue.start_draft",
    "catalogue.publish",
    "catalogue.delete_category",
    "catalogue.discard",
    "admin.clear_pin",
    "auth.clear_pin",
    "customer.show_customer",
    "customer.acknowledge",
}
# Forms only a locked iPad shows (the PIN pad, the customer view's unlock): no crawl of a signed-in visitor reaches
# them; tests/test_quick_switch.py and tests/test_customer_view.py send them malformed and wrong values.
BEHIND_A_LOCK = {"auth.unlock", "customer.unlock"}
# Lock ends the visitor's session, which every later form here needs; its one field, a hidden `next`, is kept only
# as a local path without its query (tests/test_quick_switch.py sends it one with a query).
ENDS_THE_SESSION = {"auth.lock"}
# Routes with no form: pages, the export, files, and XCover's webhook (fuzzed on its own below).
NO_FORM = {
    "static",
    "main.healthz",
    "main.home",
    "sales.show",
    "policies.queue",
    "policies.show_return",
    "policies.show_correction",
    "audit.export",
    "admin.people_list",
    "admin.person",
    "admin.stores",
    "admin.store",
    "catalogue.index",
    "catalogue.version",
    "webhooks.xcover",
    "reports.export",
    "customer.view",
    "auth.locked",
    "auth.activity",
}
# The signed-in visitors last: fuzzing a password form counts failures against its own account.
FUZZED = sorted(
    set(ROUTES) - BUTTONS - NO_FORM - BEHIND_A_LOCK - ENDS_THE_SESSION,
    key=lambda e: (e.startswith("auth."), list(ROUTES).index(e)),
)

NUMBERS = ["0", "-1", "-0.01", "1e309", "-1e309", "NaN", "nan", "Infinity", "1000000000000", "9" * 40, "0x10"]
NUMBERS += ["1e-400", "١٢٣", "１２３", "12,50", "1_000", " 12 ", "12.345678901234567890", "2147483648", "-2147483649"]
DATES = ["2026-02-30", "0001-01-01", "9999-12-31", "10000-01-01", "-001-01-01", "2026-13-01", "31/12/2026", "today"]
TEXTS = [MARKER, "\x00", "a\x00b", "\u202etxt.exe", "\u200f\u202b\u2066", "\r\n\t\x0b\x0c\x1b[31m", "\ufeff"]
TEXTS += ["' OR 1=1 --", '"><img src=x onerror=alert(1)>', "{{7*7}}", "%00", "../../etc/passwd", "=cmd|' /C calc'!A0"]
TEXTS += ["\U0001f600" * 50, "ẞ" * 300, "x" * 70_000, "\u0301" * 500, "\ud7ff\ue000\uffff", "𝟘𝟙𝟚", "null", "true"]
VALUES = st.one_of(
    st.sampled_from(TEXTS + NUMBERS + DATES),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Sm"]), max_size=20),
    st.builds(lambda a, b: f"{a}{MARKER}{b}", st.text(max_size=8), st.sampled_from(NUMBERS + ["", "x"])),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@dataclass(frozen=True)
class Form:
    """One form found on a page: who saw it, where it goes, how, and its field names."""

    who: str
    method: str
    action: str
    fields: tuple[str, ...]


class _Forms(HTMLParser):
    """Collect every <form> of a page with the names of its inputs, selects, textareas and named buttons."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.found: list[tuple[str, str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a form, or add a field to the open one."""
        a = dict(attrs)
        if tag == "form":
            self.found.append(((a.get("method") or "get").upper(), a.get("action") or self.page, []))
        elif (
            tag in {"input", "select", "textarea", "button"}
            and a.get("name") not in {None, "csrf_token"}
            and self.found
        ):
            self.found[-1][2].append(str(a["name"]))


def crawl(world: World) -> dict[str, list[Form]]:
    """Every form each visitor finds on the pages they may open, by the endpoint it sends to."""
    adapter = world.app.url_map.bind("localhost")
    forms: dict[str, list[Form]] = {}
    for column, who in enumerate(ROLE_NAMES[:4]):  # store B's people see their own store's pages, as store A's do
        client = world.client(None if who == "anonymous" else who)
        for endpoint, access in ROUTES.items():
            if access.by_method.get("GET", ("",) * 6)[column] != "ok" or endpoint in {"static", "audit.export"}:
                continue
            rule = next(r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint)
            for url in instances(world, rule):
                response = client.get(url)
                if "text/html" not in response.content_type:
                    continue
                parser = _Forms(urlsplit(url).path)
                parser.feed(response.get_data(as_text=True))
                for method, action, fields in parser.found:
                    path = urlsplit(action).path
                    target, _ = adapter.match(path, method=method)
                    form = Form(who, method, path, tuple(dict.fromkeys(fields)))
                    if form not in forms.setdefault(target, []):
                        forms[target].append(form)
    return forms


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """One app and its objects for this module, per database."""
    yield from world_fixture(request)


@pytest.fixture(scope="module")
def forms(world: World) -> dict[str, list[Form]]:
    """The forms of the app, found by crawling it."""
    return crawl(world)


@pytest.fixture(scope="module")
def visitors(world: World) -> dict[str, Any]:
    """A signed-in client per visitor, with a CSRF token of its session."""
    from tests.conftest import csrf_token

    clients = {}
    for who in ROLE_NAMES[:4]:
        client = world.client(None if who == "anonymous" else who)
        clients[who] = (client, csrf_token(client, "/auth/sign-in" if who == "anonymous" else "/"))
    return clients


def check(response: Any, what: str) -> None:
    """Never a server error; never the marker shown back unescaped where a browser would run it.

    A JSON answer (XCover's webhook) may quote what it was sent: served as application/json with nosniff, no
    browser renders it as a page.
    """
    assert response.status_code < 500, (what, response.status_code)
    if response.mimetype == "application/json":
        assert response.headers["X-Content-Type-Options"] == "nosniff", what
        return
    assert RAW not in response.get_data(), (what, "the marker was shown back unescaped")


def test_every_form_found_is_fuzzed_and_every_fuzzed_route_has_one(forms):
    with_fields = {endpoint for endpoint, found in forms.items() if any(f.fields for f in found)}
    assert with_fields - set(FUZZED) - ENDS_THE_SESSION == set(), (
        "forms with fields not fuzzed: take them out of BUTTONS or NO_FORM"
    )
    assert set(FUZZED) - set(forms) == set(), "fuzzed routes whose form no visitor found on any page"


@pytest.mark.parametrize("endpoint", FUZZED)
def test_every_form_survives_anything(world, forms, visitors, endpoint):
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        form = data.draw(st.sampled_from(forms[endpoint]), label="form")
        client, token = visitors[form.who]
        fields = list(form.fields) or ["q"]
        chosen = data.draw(st.lists(st.sampled_from(fields), unique=True), label="fields sent")
        values = {name: data.draw(VALUES, label=name) for name in chosen}
        if form.method == "GET":
            response = client.get(form.action, query_string=values)
        else:
            response = client.post(form.action, data={"csrf_token": token, **values})
        check(response, f"{form.method} {form.action} {sorted(values)}")

    fuzz()


def test_hundreds_of_product_rows(world, visitors):
    client, token = visitors["associate_a"]
    data = {"csrf_token": token}
    for i in range(400):
        data |= {f"items-{i}-product_name": f"TV {i}", f"items-{i}-price": "100", f"items-{i}-quantity": "1"}
        data |= {f"items-{i}-category": "electronics", f"items-{i}-purchase_date": "2026-01-01"}
    data |= {"items-100000-product_name": "far", "items--1-price": "1", "items-x-price": "2"}
    response = client.post("/sales/new", data=data)
    check(response, "400 products")
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"csrf_token=%ZZ&items-0-price=%FF%FE&\xff\xfe=\x00"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nbroken"),
        ("multipart/form-data", b"no boundary at all"),
        ("application/json", b'{"csrf_token": [1, 2], "items": {"0": null}}'),
        ("text/plain", b"\x00" * 1000),
        ("application/x-www-form-urlencoded", b"a=" + b"x" * (2 * 1024 * 1024)),
        ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % i for i in range(20_000))),
    ],
)
def test_malformed_and_oversized_bodies(world, visitors, content_type, body):
    for who, url in (
        ("anonymous", "/auth/sign-in"),
        ("associate_a", "/sales/new"),
        ("head_office", "/admin/stores/new"),
    ):
        client, _ = visitors[who]
        response = client.post(url, data=body, content_type=content_type)
        check(response, f"{who} {url} {content_type}")
        assert response.status_code in {400, 413, 422}, (url, content_type, response.status_code)


def signed(body: bytes, key: str = HOOK_KEY, secret: str = HOOK_SECRET) -> dict[str, str]:
    """Headers that sign a webhook as XCover does (the signature covers the Date header)."""
    when = format_datetime(datetime.now(UTC), usegmt=True)
    digest = hmac.new(secret.encode(), f"date: {when}".encode(), hashlib.sha256).digest()
    signature = quote(base64.b64encode(digest).decode(), safe="")
    return {
        "Date": when,
        "Authorization": f'Signature keyId="{key}",algorithm="hmac-sha256",signature="{signature}"',
        "Content-Type": "application/json",
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.sampled_from(TEXTS + NUMBERS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
EVENTS = st.sampled_from(["BOOKING_CANCELLED", "BOOKING_UPDATED", "POLICY_CANCELLED", "", "x" * 300, MARKER])


def webhook_body(world: World) -> st.SearchStrategy[bytes]:
    """Webhook bodies: XCover's shape with anything inside, any JSON, or bytes that are not JSON at all."""
    from portal.extensions import db
    from portal.models import Sale

    refs = [db.session.get(Sale, world.sales["booked"]).xcover_ref, "", "UNKNOWN-REF", MARKER]
    shaped = st.fixed_dictionaries(
        {"event": EVENTS, "payload": st.fixed_dictionaries({"id": st.sampled_from(refs)}, optional={"status": JSON})},
        optional={"extra": JSON},
    ).map(lambda v: json.dumps(v).encode())
    return st.one_of(shaped, JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200))


def test_the_webhook_survives_anything(world):
    client = world.app.test_client()

    # Any header value a client can send: a line break cannot be (no HTTP client or server passes one).
    junk_values = st.text(st.characters(exclude_characters="\r\n"), max_size=80)

    @given(
        body=webhook_body(world),
        sign=st.booleans(),
        junk=st.dictionaries(st.sampled_from(["Date", "Authorization"]), junk_values),
    )
    def fuzz(body: bytes, sign: bool, junk: dict[str, str]) -> None:
        headers = signed(body) if sign else {"Content-Type": "application/json"}
        if not sign:
            headers |= {k: v.encode("utf-8", "replace").decode("latin-1") for k, v in junk.items()}
        response = client.post("/webhooks/xcover", data=body, headers=headers)
        check(response, f"webhook signed={sign}")
        allowed = {200, 202, 204, 400, 404, 409, 422} if sign else {400, 401}
        assert response.status_code in allowed, response.status_code

    fuzz()


def test_the_sandbox_survives_anything(world):
    """Every route of the mounted sandbox, signed with the portal's credentials, with any body and any id."""
    from tests.sandbox.signing import Signer

    app = world.app
    sandbox = app.extensions["xcover_sandbox_app"]
    partner = app.config["XCOVER_PARTNER_CODE"]
    signer = Signer(app.config["XCOVER_API_KEY"], app.config["XCOVER_API_SECRET"])
    client = app.test_client()
    rules = [r for r in sandbox.url_map.iter_rules() if r.endpoint != "static"]
    ids = st.one_of(st.text(max_size=20), st.sampled_from(["", MARKER, "0" * 300, "%00", "..", "\u202e"]))

    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        import requests

        rule = data.draw(st.sampled_from(rules), label="rule")
        method = data.draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})), label="method")
        values = {"partner": partner, **{n: data.draw(ids, label=n) for n in rule.arguments if n != "partner"}}
        path = "/sandbox/xcover" + rule.build(values, append_unknown=False)[1]
        body = data.draw(st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=100)), label="body")
        query = data.draw(
            st.dictionaries(st.sampled_from(["limit", "offset", "cursor", "q"]), st.sampled_from(NUMBERS))
        )
        url = "http://localhost" + path + ("?" + urlencode(query) if query else "")
        prepared = requests.Request(method, url, data=body, auth=signer).prepare()
        headers = {k: v for k, v in prepared.headers.items() if k not in {"Content-Length", "Content-Type"}}
        response = client.open(
            path, method=method, data=body, query_string=query, headers=headers, content_type="application/json"
        )
        assert response.status_code < 500 or response.status_code in {502, 503, 504}, (
            method,
            path,
            response.status_code,
        )
        if response.status_code >= 500:  # only an injected fault answers 5xx, in XCover's error shape
            assert response.is_json, (method, path, response.status_code)

    fuzz()
    with sandbox.app_context():
        from xcover_sandbox import control

        control.clear_faults(partner)  # a fuzzed body that happened to be a valid fault must not outlive the test
