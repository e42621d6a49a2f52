"""The one declaration of who may do what on every route of the portal: walked by tests/test_routes.py.

Each route names, for every method it accepts, the answer each visitor gets against store A's objects
(tests/world.py): an anonymous visitor, store A's associate and manager, head office, store B's associate and
manager. A route with no declaration fails tests/test_routes.py::test_every_route_is_declared, which says how to
add it; a route that changes state (it accepts POST) is also walked by tests/test_audit_coverage.py.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLE_NAMES = ("anonymous", "associate_a", "manager_a", "head_office", "associate_b", "manager_b")
# What a declaration may say. "ok": the view answered (200; a redirect that is not to sign-in; 409 when the
# object's status does not allow it; 422 for the empty form sent). "in": sent to sign in (302 to /auth/sign-in).
OUTCOMES = {"ok", "in", "400", "401", "403", "404"}
OK = {200, 204, 302, 303, 409, 422}
# Shorthands, in ROLE_NAMES order.
SELLERS = ("in", "ok", "ok", "403", "404", "404")  # store A's sale: its people; another store's never sees it
# Routes that name no store's object show the visitor's own store: B's people get their own list, not A's.
OWN_STORE_SELLERS = ("in", "ok", "ok", "403", "ok", "ok")
OWN_STORE_MANAGERS = ("in", "403", "ok", "403", "403", "ok")
STORE_ADMIN = ("in", "403", "ok", "ok", "403", "404")  # store A's manager and head office; B's manager: not found
HEAD_OFFICE = ("in", "403", "403", "ok", "403", "403")
EVERYONE = ("ok", "ok", "ok", "ok", "ok", "ok")
SIGNED_IN = ("in", "ok", "ok", "ok", "ok", "ok")
STORE_STAFF = OWN_STORE_SELLERS  # routes of one's own person or screen, for store staff (head office has none)
REPORTERS = ("in", "403", "ok", "ok", "403", "ok")  # a manager's own store, head office any


@dataclass(frozen=True)
class Access:
    """The answers one route gives, per method, each a tuple in ROLE_NAMES order."""

    by_method: dict[str, tuple[str, ...]]

    @classmethod
    def same(cls, answers: tuple[str, ...], *methods: str) -> Access:
        """The same answers for every method named."""
        return cls({m: answers for m in methods})


GET, POST, BOTH = ("GET",), ("POST",), ("GET", "POST")


def _a(answers: tuple[str, ...], methods: tuple[str, ...]) -> Access:
    """Shorthand for Access.same."""
    return Access.same(answers, *methods)


# The one table. Walked in this order, so what changes state for the visitors after (sign out, discard a draft,
# deactivate a store) comes last in its group. Sale routes are walked against every sale of store A's statuses.
ROUTES: dict[str, Access] = {
    # Public
    "static": _a(EVERYONE, GET),
    "main.healthz": _a(EVERYONE, GET),
    "main.home": _a(SIGNED_IN, GET),
    "auth.sign_in": _a(EVERYONE, BOTH),
    "auth.change_password": _a(SIGNED_IN, BOTH),
    # XCover signs its webhooks; a session is no substitute (tests/test_webhooks.py sends signed ones).
    "webhooks.xcover": _a(("401",) * 6, POST),
    # The sale (store A's people; head office cannot sell)
    "sales.index": _a(OWN_STORE_SELLERS, GET),
    "sales.new": _a(OWN_STORE_SELLERS, BOTH),
    "sales.show": _a(SELLERS, GET),
    "sales.edit": _a(SELLERS, BOTH),
    "sales.quote": _a(SELLERS, POST),
    "sales.options": _a(SELLERS, BOTH),
    "sales.opt_out": _a(SELLERS, POST),
    "sales.payment": _a(SELLERS, BOTH),
    "sales.book": _a(SELLERS, POST),
    "sales.check": _a(SELLERS, POST),
    "sales.resend_email": _a(SELLERS, POST),
    # After the sale
    "policies.queue": _a(OWN_STORE_MANAGERS, GET),
    "policies.refund_failed": _a(SELLERS, BOTH),
    "policies.new_return": _a(SELLERS, BOTH),
    "policies.show_return": _a(SELLERS, GET),
    "policies.approve_here": _a(SELLERS, POST),
    "policies.decide": _a(("in", "403", "ok", "403", "404", "404"), POST),
    "policies.confirm_return": _a(SELLERS, POST),
    "policies.check_return": _a(SELLERS, POST),
    "policies.preview_again": _a(SELLERS, POST),
    "policies.withdraw_return": _a(SELLERS, POST),
    "policies.new_correction": _a(SELLERS, BOTH),
    "policies.show_correction": _a(SELLERS, GET),
    "policies.confirm_correction": _a(SELLERS, POST),
    "policies.check_correction": _a(SELLERS, POST),
    "policies.discard_correction": _a(SELLERS, POST),
    # The audit log, asked for store A's chain (?store=): a manager reads their store's, head office every store's
    "audit.events": _a(("in", "403", "ok", "ok", "403", "403"), GET),
    "audit.export": _a(("in", "403", "ok", "ok", "403", "403"), GET),
    # People and stores
    "admin.people_list": _a(STORE_ADMIN, GET),
    "admin.new_person": _a(STORE_ADMIN, BOTH),
    "admin.person": _a(STORE_ADMIN, GET),
    "admin.unlock_person": _a(STORE_ADMIN, POST),
    "admin.reset_password": _a(STORE_ADMIN, POST),
    "admin.sign_out_person": _a(STORE_ADMIN, POST),
    "admin.disable_person": _a(STORE_ADMIN, POST),
    "admin.enable_person": _a(STORE_ADMIN, POST),
    "admin.clear_pin": _a(STORE_ADMIN, POST),
    "admin.stores": _a(HEAD_OFFICE, GET),
    "admin.new_store": _a(HEAD_OFFICE, BOTH),
    "admin.store": _a(STORE_ADMIN, GET),
    "admin.store_settings": _a(STORE_ADMIN, BOTH),
    "admin.deactivate_store": _a(("in", "403", "403", "ok", "403", "404"), POST),
    "admin.reactivate_store": _a(("in", "403", "403", "ok", "403", "404"), POST),
    # The offer catalogue (head office)
    "catalogue.index": _a(HEAD_OFFICE, GET),
    "catalogue.version": _a(HEAD_OFFICE, GET),
    "catalogue.start_draft": _a(HEAD_OFFICE, POST),
    "catalogue.new_category": _a(HEAD_OFFICE, BOTH),
    "catalogue.edit_category": _a(HEAD_OFFICE, BOTH),
    "catalogue.check": _a(HEAD_OFFICE, POST),
    "catalogue.publish": _a(HEAD_OFFICE, POST),
    "catalogue.delete_category": _a(HEAD_OFFICE, POST),
    "catalogue.discard": _a(HEAD_OFFICE, POST),
    # Reports: managers (their own store when none is named) and head office
    "reports.index": _a(REPORTERS, GET),
    # Without ?table= there is nothing to export (tests/test_reports.py exports each table).
    "reports.export": _a(("in", "403", "404", "404", "403", "404"), GET),
    # Quick switch (docs/quick-switch.md): a PIN for store staff; the names screen and PIN pad serve a device
    "auth.set_pin": _a(STORE_STAFF, BOTH),
    "auth.clear_pin": _a(STORE_STAFF, POST),
    "auth.activity": _a(SIGNED_IN, POST),
    "auth.locked": _a(EVERYONE, GET),
    # Store A's person has no PIN pad on a device they never used; an unlocked session is sent back to its page.
    "auth.unlock": _a(("404", "ok", "ok", "ok", "ok", "ok"), BOTH),
    # The customer view: with none shown, its pages go back home
    "customer.view": _a(STORE_STAFF, GET),
    "customer.acknowledge": _a(STORE_STAFF, POST),
    "customer.unlock": _a(STORE_STAFF, POST),
    # Near the end: showing the customer view locks store A's sellers to it (a quoted sale), and Lock sends the
    # visitor to the names screen; sign-out still answers under both.
    "customer.show_customer": _a(SELLERS, POST),
    "auth.lock": _a(STORE_STAFF, POST),
    # Last: it ends the visitor's session, and sends everyone to the sign-in page.
    "auth.sign_out": _a(("in",) * 6, POST),
}
# Security headers every answer carries (portal/security.py); HTML pages also must not be cached.
HEADERS = {
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Permissions-Policy",
    "X-Request-ID",
}


# Routes walked by test_every_administration_request_leaves_its_events; the rest by the sale's walk.
ADMINISTRATION = ("admin.", "catalogue.", "auth.change_password")


def changing(admin: bool) -> set[str]:
    """The state-changing routes (they accept POST) of administration, or of everything else."""
    routes = {e for e, access in ROUTES.items() if "POST" in access.by_method}
    return {e for e in routes if e.startswith(ADMINISTRATION) == admin}
