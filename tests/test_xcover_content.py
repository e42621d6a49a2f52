"""XCover's words as it really sends them: HTML cleaned to an allow-list and shown formatted, the acknowledgement
hashing exactly what was shown; empty content and null dates, durations and amounts handled."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from portal.extensions import db
from portal.models import Sale
from portal.sales import options, quoting
from portal.xcover.html import clean, content_disclaimer, disclaimer_fragment, plain
from portal.xcover.types import QuotePackage
from tests.conftest import csrf_token
from tests.test_sales_service import CUSTOMER, product
from tests.test_sales_views import start_sale

RECORDED = Path(__file__).parent / "contracts" / "recorded"
HOSTILE = (
    '<p onclick="steal()">Cover &amp; more <strong>now</strong><br>see <a href="https://xcover.com/en/pds" '
    'target="_blank">wording</a> <a href="javascript:alert(1)">x</a><script>alert(1)</script>'
    '<img src="x" onerror="alert(1)"><!-- note --></p><iframe src="https://evil.example"></iframe>'
    "<style>body{display:none}</style>"
)


def test_clean_keeps_the_allow_list_and_drops_the_rest() -> None:
    cleaned = clean(HOSTILE)
    assert cleaned.startswith("<p>Cover &amp; more <strong>now</strong><br>see ")
    assert '<a href="https://xcover.com/en/pds" rel="noopener noreferrer">wording</a>' in cleaned
    for gone in ("script", "onclick", "onerror", "javascript:", "<img", "iframe", "<style", "note", "target"):
        assert gone not in cleaned
    assert clean(cleaned) == cleaned
    assert clean("price < 5 & more") == "price &lt; 5 &amp; more"
    assert clean(None) == "" and clean("") == ""


def test_plain_drops_tags_and_decodes_entities() -> None:
    assert plain("<p>Damage &amp; theft<br>cover</p><p>Two</p>") == "Damage & theft cover Two"
    assert plain(None) == ""


def test_the_disclaimer_fragment_is_blocks_of_cleaned_html() -> None:
    fragment = disclaimer_fragment("Plain & simple", "<p>Underwritten by <b>Us</b></p>")
    assert str(fragment) == "<p>Plain &amp; simple</p>\n<p>Underwritten by <b>Us</b></p>"
    assert str(content_disclaimer({"disclaimer": HOSTILE})) == clean(HOSTILE)
    assert str(content_disclaimer({})) == ""


class Recorded:
    """A client answering create_quote with a recorded XCover package, changed as a test needs."""

    def __init__(self, change: Any) -> None:
        body = json.loads((RECORDED / "test_quote.json").read_text())[0]["response_body"]
        self.body = copy.deepcopy(body)
        change(self.body["quotes"]["0"])
        self.sent: list[dict[str, Any]] = []

    def create_quote(self, payload: dict[str, Any]) -> QuotePackage:
        self.sent.append(payload)
        return QuotePackage.from_json(self.body)


def jewellery_sale(alex: Any, client: Recorded) -> Sale:
    """A one-product sale whose category has one offer (product_insurance, 12 months), quoted by `client`."""
    sale = quoting.save_draft(alex, CUSTOMER, [product("Ring", "jewellery", "400.00")])
    return quoting.request_quote(sale, alex, client)


@pytest.fixture
def alex(store, make_user):
    return make_user("alex", "associate", store)


def test_empty_content_and_null_dates_are_handled_with_our_own_term(app, alex) -> None:
    def retail_nulls(quote: dict[str, Any]) -> None:
        quote["policy"]["content"] = {}
        quote["policy"].pop("underwriter")
        quote.update(policy_end_date=None, duration=None, cover_amount=None, cover_amount_formatted=None)
        quote["extra_fields"] = {}

    sale = jewellery_sale(alex, Recorded(retail_nulls))
    (cover,) = sale.covers
    assert cover.status == "quoted" and cover.term_months == 12  # from our catalogue, not an echo
    assert cover.end_date is None and cover.ends_on is None and cover.start_date
    assert cover.title == "Missed Event Cover (Generic)"  # no content title: the policy's name
    assert cover.content["disclaimer"] == "" and cover.content["description"] == ""
    assert options.disclaimer_hash([cover]) == hashlib.sha256(b"").hexdigest()


def test_html_from_xcover_is_kept_cleaned(app, alex) -> None:
    def hostile(quote: dict[str, Any]) -> None:
        quote["policy"]["content"]["disclaimer"] = HOSTILE
        quote["policy"]["content"]["title"] = "<b>Missed</b> Event &amp; Cover"

    sale = jewellery_sale(alex, Recorded(hostile))
    (cover,) = sale.covers
    assert cover.content["disclaimer"] == clean(HOSTILE) and "<script" not in json.dumps(cover.content)
    assert cover.title == "Missed Event & Cover"
    # The recorded description is plain text; the recorded benefits fill "what is covered".
    assert cover.content["inclusions"][0]["title"] == "Updated Transalation"


def shown_disclaimers(page: str) -> list[str]:
    """The disclaimer fragments exactly as the options page shows them, in order."""
    return re.findall(r'<div class="disclaimer" data-disclaimer-for="\d+">(.*?)</div>', page, re.S)


@pytest.fixture
def seller(store, make_user, auth):
    """A signed-in associate selling against the mounted sandbox (real-shaped HTML answers)."""
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client


def test_a_sale_shows_the_sandboxs_html_disclaimer_formatted_and_hashes_what_was_shown(app, seller) -> None:
    sale_id = start_sale(seller)
    page = seller.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    shown = shown_disclaimers(page)
    assert shown, "no disclaimer on the options page"
    assert "<p>Extended Warranty is arranged by Cover Genius Ltd and underwritten by <strong>" in shown[0]
    assert "&lt;p&gt;" not in page and "&amp;amp;" not in page
    assert "Accidental Damage &amp; Theft Protection is arranged" in page  # one entity, shown as "&"
    sale = db.session.get(Sale, sale_id)
    firsts = {item.id: item.covers[0] for item in sale.items}
    data = {"csrf_token": csrf_token(seller, f"/sales/{sale_id}/options"), "acknowledged": "y"}
    data.update({f"choice_{item_id}": str(cover.id) for item_id, cover in firsts.items()})
    assert seller.post(f"/sales/{sale_id}/options", data=data).status_code == 302
    on_page = {
        int(cover_id): fragment
        for cover_id, fragment in re.findall(
            r'<div class="disclaimer" data-disclaimer-for="(\d+)">(.*?)</div>', page, re.S
        )
    }
    text = "\n\n".join(on_page[cover.id] for cover in firsts.values())
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).ack_disclaimer_hash == hashlib.sha256(text.encode()).hexdigest()
    assert html.unescape(text).count("Sandbox Underwriting Ltd") >= 2
