"""A worker killed in the middle of a booking: the sale settles from XCover's own record of the booking.

The kill is simulated where it bites: the booking request reaches XCover, XCover's request dies holding the
idempotency key (with or without the booking applied), and the portal's request dies before it can settle the
sale, leaving it `booking`. Then time passes (the sale's booking_started_at moves back) and a check runs.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal import config as portal_config
from portal.extensions import db
from portal.models import AuditEvent, Sale, utcnow
from portal.sales import booking, lookup, machine
from portal.vocab import SaleStatus
from portal.xcover.errors import XCoverError, XCoverOutcomeUnknown
from tests.conftest import csrf_token
from tests.test_sales_sandbox import pay, to_payment
from tests.test_sales_service import choose_first, product, quoted_sale
from xcover_sandbox import control
from xcover_sandbox import service as sandbox_service
from xcover_sandbox.extensions import db as sandbox_db
from xcover_sandbox.models import SandboxIdempotency, SandboxPackage


class WorkerKilled(BaseException):
    """kill -9 of the portal's worker: nothing after it runs, no except clause sees it."""


@pytest.fixture
def app_overrides() -> dict:
    """Quick retries, so the replays that meet 423 take a moment."""
    return {"XCOVER_RETRY_BASE_DELAY": 0.01, "XCOVER_RETRY_MAX_DELAY": 0.02}


@pytest.fixture
def seller(store, make_user, auth):
    """An associate selling against the mounted sandbox (not the fake)."""
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client


def kill_mid_booking(monkeypatch: pytest.MonkeyPatch, seller, sale_id: int, total: str, applied: bool) -> None:
    """Record the payment and send the booking; XCover's request and the portal's worker both die in it."""
    real = sandbox_service.create_booking

    def xcover_dies(partner, package_id, body, now):
        if applied:
            real(partner, package_id, body, now)
            sandbox_db.session.commit()
        raise RuntimeError("the request died inside XCover")

    def send_then_die(sale, user, client, expected, lost=None):
        with contextlib.suppress(XCoverError):
            client.create_booking(sale.xcover_ref, booking.booking_payload(sale), idempotency_key=sale.idempotency_key)
        raise WorkerKilled

    with monkeypatch.context() as m:
        m.setattr(sandbox_service, "create_booking", xcover_dies)
        m.setattr(control, "release", lambda partner, key: None)  # a dead process releases nothing
        m.setattr(booking, "_send_booking", send_then_die)
        with pytest.raises(WorkerKilled):
            pay(seller, sale_id, total)


def time_passes(app, sale_id: int) -> None:
    """Move the booking's start back past both deadlines, as if that long had gone by."""
    limits = booking.deadlines(app.config)
    past = utcnow() - max(limits.stale, limits.lost) - timedelta(seconds=1)
    db.session.execute(sa.update(Sale).where(Sale.id == sale_id).values(booking_started_at=past))
    db.session.commit()


def key_state(sandbox, key: str) -> str | None:
    with sandbox.app_context():
        return sandbox_db.session.scalar(sa.select(SandboxIdempotency.state).where(SandboxIdempotency.key == key))


def booked_packages(sandbox) -> list[str]:
    with sandbox.app_context():
        return list(
            sandbox_db.session.scalars(sa.select(SandboxPackage.status).where(SandboxPackage.booked_at.isnot(None)))
        )


@pytest.mark.both_dbs
def test_the_sale_page_settles_a_booking_whose_worker_died_before_xcover_made_it(app, sandbox, seller, monkeypatch):
    sale_id, total = to_payment(seller)
    kill_mid_booking(monkeypatch, seller, sale_id, total, applied=False)
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    old_key = sale.idempotency_key
    assert sale.status == SaleStatus.BOOKING and key_state(sandbox, old_key) == "in_flight"
    time_passes(app, sale_id)

    page = seller.get(f"/sales/{sale_id}")  # the page's own reload every 3 s
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/sales/{sale_id}/payment")
    payment = seller.get(page.headers["Location"]).get_data(as_text=True)
    assert booking.LOST_MESSAGE in payment and 'id="retry-booking"' in payment
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == SaleStatus.QUOTED and sale.idempotency_key != old_key and booked_packages(sandbox) == []

    retry = seller.post(f"/sales/{sale_id}/book", data={"csrf_token": csrf_token(seller, f"/sales/{sale_id}/payment")})
    assert retry.headers["Location"].endswith(f"/sales/{sale_id}")
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == SaleStatus.BOOKED
    assert booked_packages(sandbox) == ["CONFIRMED"]


@pytest.mark.both_dbs
def test_a_booking_given_up_as_lost_that_xcover_makes_late_is_still_taken(app, sandbox, seller, monkeypatch):
    """XCover may be slower than our budget: the Retry then meets "already booked", and that booking is ours."""
    sale_id, total = to_payment(seller)
    kill_mid_booking(monkeypatch, seller, sale_id, total, applied=False)
    time_passes(app, sale_id)
    seller.get(f"/sales/{sale_id}")
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == SaleStatus.QUOTED
    partner, ref, body = app.config["XCOVER_PARTNER_CODE"], sale.xcover_ref, booking.booking_payload(sale)
    with sandbox.app_context():  # the request thought lost completes at XCover after all
        sandbox_service.create_booking(partner, ref, body, utcnow())
        sandbox_db.session.commit()

    retry = seller.post(f"/sales/{sale_id}/book", data={"csrf_token": csrf_token(seller, f"/sales/{sale_id}/payment")})
    assert retry.headers["Location"].endswith(f"/sales/{sale_id}")
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == SaleStatus.BOOKED, sale.last_error
    assert booked_packages(sandbox) == ["CONFIRMED"]


@pytest.mark.both_dbs
def test_flask_reconcile_settles_a_booking_xcover_made_but_never_answered(app, sandbox, seller, runner, monkeypatch):
    sale_id, total = to_payment(seller)
    kill_mid_booking(monkeypatch, seller, sale_id, total, applied=True)
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == SaleStatus.BOOKING and key_state(sandbox, sale.idempotency_key) == "in_flight"
    assert booked_packages(sandbox) == ["CONFIRMED"]
    assert runner.invoke(args=["reconcile"]).output.strip() == "Nothing to reconcile."  # not stale yet
    time_passes(app, sale_id)

    result = runner.invoke(args=["reconcile"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Sale {sale_id} {sale.xcover_ref}: Covered"
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == SaleStatus.BOOKED and sale.coi_url
    assert booked_packages(sandbox) == ["CONFIRMED"]
    assert "Covered" in seller.get(f"/sales/{sale_id}").get_data(as_text=True)


# --- the rule, with the fake XCover ---------------------------------------------------------------


@pytest.fixture
def alex(store, make_user):
    return make_user("alex", "associate", store)


def left_booking(user, fake, started_ago: timedelta, applied: bool) -> Sale:
    """A paid sale whose worker died after sending its booking; XCover still holds the key (423)."""
    sale = quoted_sale(user, fake, [product()])
    choose_first(sale, user, fake)
    booking.record_payment(sale, user, "card", "R-1", lookup.cover_total(sale))
    assert machine.compare_and_set(
        sale, SaleStatus.QUOTED, SaleStatus.BOOKING, booking_started_at=utcnow() - started_ago
    )
    db.session.commit()
    db.session.refresh(sale)
    if applied:
        fake.create_booking(sale.xcover_ref, booking.booking_payload(sale), idempotency_key=sale.idempotency_key)
    for _ in range(3):
        fake.fail("create_booking", XCoverOutcomeUnknown("still in progress", status=423))
    return sale


LIMITS = booking.Deadlines(stale=timedelta(seconds=23), lost=timedelta(seconds=23))


@pytest.mark.both_dbs
def test_a_booking_xcover_made_is_taken_from_get_booking(app, alex, fake):
    sale = left_booking(alex, fake, timedelta(seconds=30), applied=True)
    assert booking.reconcile(sale, None, fake, LIMITS).sale.status == SaleStatus.BOOKED
    assert fake.count("get_booking") == 1 and len(fake.bookings) == 1


@pytest.mark.both_dbs
def test_a_booking_xcover_never_made_goes_back_to_payment_with_a_new_key(app, alex, fake):
    sale = left_booking(alex, fake, timedelta(seconds=30), applied=False)
    old_key = sale.idempotency_key
    result = booking.reconcile(sale, None, fake, LIMITS)
    assert result.sale.status == SaleStatus.QUOTED and result.message == booking.LOST_MESSAGE
    assert sale.idempotency_key != old_key and sale.booking_started_at is None and sale.payment_recorded_at
    failed = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "sale.booking_failed").order_by(AuditEvent.seq.desc())
    )
    assert failed.details["reason"] == "lost_in_flight" and failed.result == "failure"
    fake.failures.clear()
    assert booking.book(sale, alex, fake).sale.status == SaleStatus.BOOKED


@pytest.mark.both_dbs
def test_a_booking_that_could_still_be_on_its_way_is_never_given_up(app, alex, fake):
    """Checked before the budget is over (a short --stale-seconds), a 423 with no booking yet stays unknown."""
    sale = left_booking(alex, fake, timedelta(seconds=5), applied=False)
    result = booking.reconcile(sale, None, fake, booking.Deadlines(stale=timedelta(0), lost=LIMITS.lost))
    assert result.sale.status == SaleStatus.OUTCOME_UNKNOWN and fake.count("get_booking") == 1


def test_the_stale_limit_is_the_booking_budget_plus_a_margin(monkeypatch):
    monkeypatch.delenv("BOOKING_STALE_SECONDS", raising=False)
    monkeypatch.delenv("XCOVER_TOTAL_BUDGET", raising=False)
    settings = portal_config.load()
    assert settings["BOOKING_STALE_SECONDS"] == 18 + portal_config.BOOKING_MARGIN_SECONDS == 23
    limits = booking.deadlines(settings)
    # The sale page reloads every 3 s: a dead worker's sale settles on the first reload past the limit.
    assert limits.stale == limits.lost and limits.stale.total_seconds() + 3 < 30
    monkeypatch.setenv("XCOVER_TOTAL_BUDGET", "10")
    assert portal_config.load()["BOOKING_STALE_SECONDS"] == 15


def test_a_package_already_booked_is_our_booking_not_a_refusal(app, alex, fake):
    from portal.xcover.errors import XCoverValidationError

    sale = left_booking(alex, fake, timedelta(seconds=30), applied=False)
    assert booking.reconcile(sale, None, fake, LIMITS).sale.status == SaleStatus.QUOTED
    fake.failures.clear()
    fake.create_booking(sale.xcover_ref, booking.booking_payload(sale), idempotency_key="the-old-request")
    already = ["Quote package has already been booked."]
    fake.fail("create_booking", XCoverValidationError("An API error occurred.", status=422, body={"errors": already}))
    assert booking.book(sale, alex, fake).sale.status == SaleStatus.BOOKED
    assert len(fake.bookings) == 1
