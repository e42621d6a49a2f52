"""The offer catalogue in the database: seeding, drafts, the check with XCover (the sandbox), publishing, versions."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.admin import catalogue, catalogue_check
from portal.admin.catalogue import CatalogueError, CheckUnavailable, LineValues
from portal.extensions import db
from portal.models import AuditEvent, CatalogueVersion, Sale, User
from portal.sales import catalogue as offers
from portal.sales import quoting
from portal.vocab import CatalogueStatus, LineCheck
from portal.xcover import get_client
from tests.conftest import Auth, csrf_token
from tests.test_audit_coverage import fault
from tests.test_sales_service import CUSTOMER, product

# One attempt per call, so an injected fault settles at once.
pytestmark = pytest.mark.parametrize("app_overrides", [{"XCOVER_RETRY_MAX_ATTEMPTS": 1}])


class Spy:
    """The real client (to the mounted sandbox), keeping every quote request it sends."""

    def __init__(self) -> None:
        self.client = get_client()
        self.payloads: list[dict] = []

    def create_quote(self, payload: dict):
        self.payloads.append(payload)
        return self.client.create_quote(payload)


@pytest.fixture
def boss(make_user):
    return make_user("boss", "admin")


@pytest.fixture
def head_office(app, boss):
    client = app.test_client()
    Auth(client).sign_in("boss")
    return client


def lines_of(version: CatalogueVersion) -> dict[str, list[tuple[str, str | None]]]:
    db.session.refresh(version)
    return {c.key: [(line.check_result.value, line.policy_type) for line in c.lines] for c in version.categories}


def test_init_db_seeds_the_built_in_catalogue_once(app, runner):
    (version,) = catalogue.versions()
    assert (version.number, version.status, version.source) == (1, CatalogueStatus.PUBLISHED, "built-in")
    assert offers.as_mapping(version) == offers.DEFAULT_CATALOGUE | {
        key: {**entry, "offers": [{"policy_type_version": 1, "cover_term_months": None, **o} for o in entry["offers"]]}
        for key, entry in offers.DEFAULT_CATALOGUE.items()
    }
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert len(catalogue.versions()) == 1


def test_a_malformed_offer_catalogue_stops_the_seed_with_its_reason(app):
    for version in catalogue.versions():
        db.session.delete(version)
    db.session.commit()
    app.config["OFFER_CATALOGUE"] = {"Bikes!": {"offers": []}}
    with pytest.raises(RuntimeError, match="OFFER_CATALOGUE cannot seed the catalogue: Category 'Bikes!'"):
        catalogue.seed()
    app.config["OFFER_CATALOGUE"] = {"bikes": {"offers": [{"policy_type": "x", "cover_term_months": 999}]}}
    with pytest.raises(RuntimeError, match="from 1 to 120"):
        catalogue.seed()


@pytest.mark.both_dbs
def test_one_draft_at_a_time_copied_from_the_version_in_use(app, boss):
    draft = catalogue.start_draft(boss)
    assert catalogue.start_draft(boss).id == draft.id
    assert (draft.number, draft.status) == (2, CatalogueStatus.DRAFT)
    assert offers.as_mapping(draft) == offers.as_mapping(catalogue.current(CatalogueStatus.PUBLISHED))
    assert {line.check_result for line in draft.lines} == {LineCheck.UNCHECKED}
    db.session.add(CatalogueVersion(number=99, status=CatalogueStatus.DRAFT))
    with pytest.raises(IntegrityError):  # two screens at once cannot make a second draft
        db.session.flush()
    db.session.rollback()


@pytest.mark.both_dbs
def test_checked_and_published_a_draft_replaces_the_version_in_use_which_stays_readable(app, boss, store):
    draft = catalogue.start_draft(boss)
    with pytest.raises(CatalogueError, match="11 line"):
        catalogue.publish(draft, boss)
    spy = Spy()
    counts = catalogue_check.check(draft, boss, spy, store, Decimal("499.00"))
    assert counts == {"unchecked": 0, "accepted": 11, "refused": 0}
    (payload,) = spy.payloads
    assert (payload["currency"], payload["customer_country"], len(payload["request"])) == ("GBP", "GB", 11)
    first = payload["request"][0]
    assert (first["product_category"], first["product_price"], first["policy_type"]) == (
        "electronics",
        499.0,
        "product_warranty",
    )
    catalogue.publish(draft, boss)
    first, second = sorted(catalogue.versions(), key=lambda v: v.number)
    assert (first.status, second.status) == (CatalogueStatus.RETIRED, CatalogueStatus.PUBLISHED)
    assert offers.in_use().number == 2
    with pytest.raises(CatalogueError, match="can no longer change"):
        catalogue.save_category(first, boss, None, "bikes", "Bikes", [])
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "catalogue.published", AuditEvent.actor_id == boss.id)
    )
    assert event.details["replaces"] == 1 and event.details["version"] == 2 and event.store_id is None


@pytest.mark.both_dbs
def test_lines_xcover_refuses_carry_its_reasons_and_the_rest_are_still_checked(app, boss, store):
    draft = catalogue.start_draft(boss)
    catalogue.save_category(draft, boss, None, "bikes", "Bicycles", [LineValues("bike_cover", "1", 12)])
    electronics = next(c for c in draft.categories if c.key == "electronics")
    kept = [
        LineValues(line.policy_type, line.policy_type_version, line.cover_term_months) for line in electronics.lines
    ]
    catalogue.save_category(
        draft, boss, electronics, "", "Electronics", [*kept, LineValues("device_protection", "1", 12)]
    )
    spy = Spy()
    counts = catalogue_check.check(draft, boss, spy, store, Decimal("499.00"))
    assert counts == {"unchecked": 0, "accepted": 11, "refused": 2}
    assert len(spy.payloads) == 2  # the 422 named one line; the others went again without it
    checked = lines_of(draft)
    assert checked["bikes"] == [("refused", "bike_cover")]
    assert checked["electronics"][-1] == ("refused", "device_protection")
    bike = next(c for c in draft.categories if c.key == "bikes").lines[0]
    assert any("policy_type" in reason for reason in bike.check_detail["reasons"])
    device = electronics.lines[-1]
    assert device.check_detail["reasons"] and "price" not in device.check_detail
    accepted = electronics.lines[0]
    assert Decimal(accepted.check_detail["price"]) > 0 and accepted.check_detail["title"]
    with pytest.raises(CatalogueError, match="2 line"):
        catalogue.publish(draft, boss)


def test_changing_a_category_clears_only_the_lines_that_changed(app, boss, store):
    draft = catalogue.start_draft(boss)
    catalogue_check.check(draft, boss, Spy(), store, Decimal("499.00"))
    tablets = next(c for c in draft.categories if c.key == "tablets")
    first, second = tablets.lines
    catalogue.save_category(
        draft,
        boss,
        tablets,
        "",
        "Tablets",
        [
            LineValues(first.policy_type, first.policy_type_version, 24),
            LineValues(second.policy_type, second.policy_type_version, second.cover_term_months),
        ],
    )
    assert [line.check_result.value for line in tablets.lines] == ["unchecked", "accepted"]
    assert len(catalogue.unaccepted(draft)) == 1
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "catalogue.edited")).one()
    assert event.details["before"]["offers"][0]["cover_term_months"] == 12
    assert event.details["after"]["offers"][0]["cover_term_months"] == 24


def test_xcover_down_during_a_check_changes_nothing_and_is_recorded_as_a_failure(app, boss, store):
    draft = catalogue.start_draft(boss)
    catalogue_check.check(draft, boss, Spy(), store, Decimal("499.00"))
    fault(app, "create_quote", "error_503")
    with pytest.raises(CheckUnavailable):
        catalogue_check.check(draft, boss, Spy(), store, Decimal("499.00"))
    assert {line.check_result for line in draft.lines} == {LineCheck.ACCEPTED}
    results = db.session.scalars(
        sa.select(AuditEvent.result).where(AuditEvent.action == "catalogue.checked").order_by(AuditEvent.id)
    ).all()
    assert results == ["success", "failure"]


class MeanwhileElsewhere(Spy):
    """The real client; while XCover answers, head office does something to the draft on another screen."""

    def __init__(self, app, draft_id: int, boss_id: int, action) -> None:
        super().__init__()
        self.app, self.draft_id, self.boss_id, self.action = app, draft_id, boss_id, action

    def create_quote(self, payload: dict):
        package = super().create_quote(payload)
        with self.app.app_context():  # another request: its own session and connection
            self.action(db.session.get(CatalogueVersion, self.draft_id), db.session.get(User, self.boss_id))
        return package


def longer_tablet_cover(draft: CatalogueVersion, boss: User) -> None:
    tablets = next(c for c in draft.categories if c.key == "tablets")
    first, second = tablets.lines
    lines = [
        LineValues(first.policy_type, first.policy_type_version, 24),
        LineValues(second.policy_type, second.policy_type_version, second.cover_term_months),
    ]
    catalogue.save_category(draft, boss, tablets, "", "Tablets", lines)


@pytest.mark.both_dbs
def test_a_category_changed_while_xcover_answers_keeps_its_change_and_the_other_lines_their_check(app, boss, store):
    draft = catalogue.start_draft(boss)
    elsewhere = MeanwhileElsewhere(app, draft.id, boss.id, longer_tablet_cover)
    counts = catalogue_check.check(draft, boss, elsewhere, store, Decimal("499.00"))
    assert counts == {"unchecked": 1, "accepted": 10, "refused": 0}
    tablets = lines_of(draft)["tablets"]
    assert tablets == [("unchecked", "device_protection"), ("accepted", "product_warranty")]
    assert next(c for c in draft.categories if c.key == "tablets").lines[0].cover_term_months == 24
    assert len(catalogue.unaccepted(draft)) == 1


@pytest.mark.both_dbs
def test_a_draft_published_while_xcover_answers_takes_nothing_from_that_check(app, boss, store):
    draft = catalogue.start_draft(boss)
    catalogue_check.check(draft, boss, Spy(), store, Decimal("499.00"))
    checked_at = draft.checked_at
    elsewhere = MeanwhileElsewhere(app, draft.id, boss.id, catalogue.publish)
    with pytest.raises(CatalogueError, match="can no longer change"):
        catalogue_check.check(draft, boss, elsewhere, store, Decimal("250.00"))
    db.session.rollback()
    db.session.refresh(draft)
    assert draft.status == CatalogueStatus.PUBLISHED and draft.checked_at == checked_at
    assert draft.check_sample["price"] == "499.00"
    events = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action == "catalogue.checked")).all()
    assert len(events) == 1


@pytest.mark.both_dbs
def test_the_counter_offers_the_published_categories_and_each_sale_keeps_its_version(app, boss, store, make_user, fake):
    ann = make_user("ann.a", "associate", store)
    sale = quoting.request_quote(quoting.save_draft(ann, CUSTOMER, [product()]), ann, fake)
    assert sale.catalogue_version_id == catalogue.current(CatalogueStatus.PUBLISHED).id
    draft = catalogue.start_draft(boss)
    catalogue.save_category(draft, boss, None, "cameras", "Cameras", [LineValues("product_warranty", "1", 24)])
    for line in draft.lines:  # as a check with XCover would have it
        line.check_result = LineCheck.ACCEPTED
    catalogue.publish(draft, boss)
    seller = app.test_client()
    Auth(seller).sign_in("ann.a")
    assert '<option value="cameras">Cameras</option>' in seller.get("/sales/new").get_data(as_text=True)
    later = quoting.request_quote(quoting.save_draft(ann, CUSTOMER, [product("Camera", "cameras")]), ann, fake)
    db.session.expire_all()
    assert db.session.get(Sale, later.id).catalogue_version_id == draft.id
    assert db.session.get(Sale, sale.id).catalogue_version_id != draft.id
    quoted = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "sale.quoted").order_by(AuditEvent.id.desc())
    )
    assert quoted.details["catalogue_version"] == draft.number


def test_head_office_edits_checks_and_publishes_on_screen(head_office, store):
    head_office.post("/admin/catalogue/draft", data={"csrf_token": csrf_token(head_office, "/admin/catalogue/")})
    draft = catalogue.current(CatalogueStatus.DRAFT)
    page = f"/admin/catalogue/{draft.id}"
    html = head_office.get(page).get_data(as_text=True)
    assert 'id="publish-blocked">11 line(s) not accepted' in html and "Not checked yet" in html
    token = csrf_token(head_office, page)
    response = head_office.post(f"{page}/check", data={"csrf_token": token, "store": str(store.id), "price": "499"})
    assert response.status_code == 302
    html = head_office.get(page).get_data(as_text=True)
    assert "XCover accepts 11 of 11 lines." in html and "XCover quotes it" in html
    assert re.search(r"Last checked .*a £499\.00 product", html)
    response = head_office.post(f"{page}/publish", data={"csrf_token": token})
    assert response.headers["Location"] == "/admin/catalogue/"
    assert "Version 2 is in use" in head_office.get("/admin/catalogue/").get_data(as_text=True)


def test_the_category_form_keeps_what_was_typed_through_adding_removing_and_mistakes(head_office, boss):
    draft = catalogue.start_draft(boss)
    path = f"/admin/catalogue/{draft.id}/categories/new"
    token = csrf_token(head_office, path)
    typed = {
        "csrf_token": token,
        "key": "bikes",
        "label": "Bicycles",
        "lines-0-policy_type": "bike_cover",
        "lines-0-policy_type_version": "1",
        "lines-0-cover_term_months": "12",
    }
    html = head_office.post(path, data={**typed, "add_line": "1"}).get_data(as_text=True)
    assert 'name="lines-1-policy_type"' in html and 'value="bike_cover"' in html and 'value="Bicycles"' in html
    bad = {**typed, "lines-1-policy_type": "no spaces allowed", "lines-1-policy_type_version": "1", "key": "Bikes!"}
    response = head_office.post(path, data=bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="lines-1-policy_type-error">Enter XCover&#39;s policy type' in html
    assert 'id="key-error">2 to 40 lower-case letters' in html and 'value="no spaces allowed"' in html
    html = head_office.post(path, data={**bad, "remove_line": "1"}).get_data(as_text=True)
    assert 'name="lines-1-policy_type"' not in html and 'value="bike_cover"' in html
    response = head_office.post(path, data={**typed, "label": "Bikes 4111 1111 1111 1111"})
    assert response.status_code == 422 and "This looks like a card number" in response.get_data(as_text=True)
    assert "bikes" not in offers.as_mapping(catalogue.current(CatalogueStatus.DRAFT))


def test_a_published_version_cannot_be_changed_on_screen(head_office):
    published = catalogue.current(CatalogueStatus.PUBLISHED)
    category = published.categories[0]
    path = f"/admin/catalogue/{published.id}/categories/{category.id}"
    token = csrf_token(head_office, "/admin/catalogue/")
    response = head_office.post(path, data={"csrf_token": token, "label": "Changed"})
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/catalogue/{published.id}"
    assert "start a draft to change it" in head_office.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert catalogue.current(CatalogueStatus.PUBLISHED).categories[0].label == category.label
