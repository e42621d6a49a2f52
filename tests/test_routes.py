"""Every route, every role, every store: walked from app.url_map against store A's objects, on both databases.

ROUTES (tests/route_table.py) is the one declaration of who may do what. Each route of the portal (the
mounted sandbox stands in for XCover and is fuzzed in tests/test_fuzz.py) names, for every method it
accepts, the answer each visitor gets: an anonymous visitor, store A's associate and manager, head office,
store B's associate and manager, each against store A's objects (tests/world.py: a sale in each status, a
return, a correction, a catalogue draft, a person). A route with no declaration fails
test_every_route_is_declared, which says how to add it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.routing import Rule

from portal.extensions import db
from portal.models import AuditEvent
from tests import route_table
from tests.conftest import csrf_token
from tests.route_table import HEADERS, OK, OUTCOMES, ROLE_NAMES, ROUTES
from tests.world import BACKENDS, World, world_fixture


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """One app and its objects for this module, per database."""
    yield from world_fixture(request)


def portal_rules(app) -> list[Rule]:
    """Every route of the portal (the sandbox is mounted beside it, with its own map)."""
    return list(app.url_map.iter_rules())


def methods(rule: Rule) -> list[str]:
    """The methods a route accepts, less the ones Flask answers for it (HEAD, OPTIONS)."""
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def instances(world: World, rule: Rule) -> list[str]:
    """The URLs of a route against store A's objects: a sale-only route once per sale status."""
    names = set(re.findall(r"<(?:\w+:)?(\w+)>", rule.rule))
    fixed = {
        "store_id": world.store_a,
        "user_id": world.person,
        "version_id": world.version_id,
        "category_id": world.category_id,
        "correction_id": world.correction_id,
        "item_id": world.booked_item,
        "filename": "css/app.css",
    }
    if "return_id" in names:
        pairs = [{"sale_id": sale, "return_id": ret} for sale, ret in world.returns]
    elif names & {"correction_id", "item_id"}:
        pairs = [{"sale_id": world.sales["booked"]}]
    elif "sale_id" in names:
        pairs = [{"sale_id": sale} for sale in [*world.sales.values(), world.paying]]
    else:
        pairs = [{}]
    urls = []
    for ids in pairs:
        values = {**fixed, **ids}
        for fmt in ("csv", "jsonl") if "fmt" in names else ("",):
            urls.append(re.sub(r"<(?:\w+:)?(\w+)>", lambda m, v=values, f=fmt: str(v.get(m.group(1), f)), rule.rule))
    if rule.endpoint.startswith("audit."):
        urls = [f"{url}?store={world.store_a}" for url in urls]
    return urls


def outcome(response) -> str:
    """The declared outcome a response matches, or its status code."""
    code = response.status_code
    if code == 302 and "/auth/sign-in" in response.headers.get("Location", ""):
        return "in"
    return "ok" if code in OK else str(code)


def table_problems(app) -> list[str]:
    """What is wrong between app.url_map and ROUTES, each as a sentence that says how to put it right."""
    problems = []
    rules = {rule.endpoint: rule for rule in portal_rules(app)}
    table = route_table.ROUTES  # read at call time, so a test can swap the table
    for endpoint, rule in sorted(rules.items()):
        if endpoint not in table:
            problems.append(
                f"route {endpoint} ({rule.rule}, {', '.join(methods(rule))}) has no declaration: add "
                f'"{endpoint}": _a(ANSWERS, {tuple(methods(rule))!r}) to ROUTES in '
                f"tests/route_table.py, ANSWERS being one answer per visitor in {ROLE_NAMES} from {sorted(OUTCOMES)} "
                "(or a shorthand such as SELLERS); if it changes state, also walk it in tests/test_audit_coverage.py"
            )
        elif set(table[endpoint].by_method) != set(methods(rule)):
            problems.append(
                f"route {endpoint} accepts {methods(rule)} but ROUTES declares {sorted(table[endpoint].by_method)}"
            )
    for endpoint in sorted(set(table) - set(rules)):
        problems.append(f"ROUTES declares {endpoint}, which the app no longer has: remove it from tests/route_table.py")
    for endpoint, access in table.items():
        for method, answers in access.by_method.items():
            if len(answers) != len(ROLE_NAMES) or not set(answers) <= OUTCOMES:
                problems.append(
                    f"ROUTES[{endpoint!r}] {method}: {answers} is not one of {sorted(OUTCOMES)} per visitor"
                )
    return problems


def test_every_route_is_declared(world):
    problems = table_problems(world.app)
    assert not problems, "\n".join(problems)


def test_a_missing_declaration_is_named_with_how_to_add_it(world, monkeypatch):
    monkeypatch.setattr(route_table, "ROUTES", {k: v for k, v in ROUTES.items() if k != "sales.show"})
    (problem,) = table_problems(world.app)
    assert problem.startswith("route sales.show (/sales/<int:sale_id>, GET) has no declaration: add ")
    assert "\"sales.show\": _a(ANSWERS, ('GET',)) to ROUTES in tests/route_table.py" in problem


def count_rows() -> dict[str, int]:
    """Rows in every table of the portal's database."""
    db.session.expire_all()
    tables = db.metadata.sorted_tables
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in tables}


@pytest.mark.parametrize("who", ROLE_NAMES)
def test_every_post_without_a_csrf_token_is_refused_and_writes_nothing(world, who):
    client = world.client(None if who == "anonymous" else who)
    before = count_rows()
    refused = []
    for rule in portal_rules(world.app):
        if "POST" not in rule.methods or rule.endpoint == "webhooks.xcover":  # signed by XCover, not a form
            continue
        for url in instances(world, rule):
            for data in ({}, {"csrf_token": "forged"}):
                response = client.post(url, data=data)
                if response.status_code != 400 or "text/html" not in response.content_type:
                    refused.append(f"{rule.endpoint} {url} {data}: {response.status_code}")
    assert not refused, "\n".join(refused)
    assert count_rows() == before


# Routes after which the visitor's session (and its CSRF token) is a new one.
ENDS_SESSION = {"auth.lock"}


@pytest.mark.parametrize("who", ROLE_NAMES)
def test_every_route_answers_each_visitor_as_declared(world, who):
    """Each visitor walks every route and method against store A's objects; refusals change nothing."""
    column = ROLE_NAMES.index(who)
    client = world.client(None if who == "anonymous" else who)
    token = csrf_token(client, "/auth/sign-in" if who == "anonymous" else "/")
    rules = {rule.endpoint: rule for rule in portal_rules(world.app)}
    assert not table_problems(world.app)
    wrong = []
    for endpoint, access in ROUTES.items():
        rule = rules[endpoint]
        for method, answers in access.by_method.items():
            want = answers[column]
            for url in instances(world, rule):
                before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
                data = {"csrf_token": token} if method == "POST" else None
                response = client.open(url, method=method, data=data, buffered=True)
                response.close()  # a static file's handle
                got = outcome(response)
                if endpoint in ENDS_SESSION and "/auth/locked" in response.headers.get("Location", ""):
                    # Lock ends the session (and its CSRF token): the next form's token comes from the new session
                    # (the sign-in page answers on a locked iPad; a customer view sent its page elsewhere).
                    token = csrf_token(
                        client, "/auth/sign-in" if "/auth/locked" in response.headers["Location"] else "/"
                    )
                if got != want:
                    wrong.append(f"{endpoint} {method} {url}: declared {want}, got {response.status_code}")
                missing = HEADERS - set(response.headers.keys())
                if missing:
                    wrong.append(f"{endpoint} {method} {url}: no {sorted(missing)}")
                if "text/html" in response.content_type and response.headers.get("Cache-Control") != "no-store":
                    wrong.append(f"{endpoint} {method} {url}: an HTML page without Cache-Control: no-store")
                if want in {"400", "403", "404"} or (want == "in" and who == "anonymous"):
                    db.session.expire_all()
                    after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
                    if after != before and not (want == "401" and after == before + 1):
                        wrong.append(f"{endpoint} {method} {url}: refused ({want}) but wrote {after - before} events")
    assert not wrong, f"{who}:\n" + "\n".join(wrong)


def test_the_outside_attack_table_names_tests_that_exist():
    root = Path(__file__).resolve().parent.parent
    page = (root / "docs/development.md").read_text()
    section = page.split("### The outside attack, kept", 1)[1].split("\n### ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)
    assert len(named) >= 20
    missing = [f"{path}::{name}" for path, name in named if f"def {name}(" not in (root / path).read_text()]
    assert not missing, f"docs/development.md names tests that do not exist: {missing}"
