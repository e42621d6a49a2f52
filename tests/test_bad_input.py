"""Bad input gets a clear answer, never a 500: the outside attack's findings, on both databases."""

from __future__ import annotations

import pytest

from portal.audit.forms import DATE_RANGE_MESSAGE

from .conftest import csrf_token

HUGE = "9223372036854775808"  # 2**63: past BIGINT, let alone INTEGER
HUGE_23 = "1" * 23


@pytest.fixture
def manager(store, make_user, auth):
    make_user("meg", "manager", store)
    auth.sign_in("meg")
    return auth.client


@pytest.fixture
def admin(make_user, auth):
    make_user("hqadmin", "admin")
    auth.sign_in("hqadmin")
    return auth.client


@pytest.mark.both_dbs
@pytest.mark.parametrize("suffix", ["", "/edit", "/options", "/payment"])
def test_a_sale_id_past_any_integer_is_not_found(store, make_user, auth, suffix):
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    assert auth.client.get(f"/sales/{HUGE}{suffix}").status_code == 404
    assert auth.client.get(f"/sales/{2**31}{suffix}").status_code == 404


@pytest.mark.both_dbs
@pytest.mark.parametrize("suffix", ["/quote", "/book", "/check", "/email", "/opt-out"])
def test_posting_to_a_sale_id_past_any_integer_is_not_found(store, make_user, auth, suffix):
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    token = csrf_token(auth.client, "/sales/new")
    assert auth.client.post(f"/sales/{HUGE}{suffix}", data={"csrf_token": token}).status_code == 404


@pytest.mark.both_dbs
@pytest.mark.parametrize("cursor", ["before", "after"])
def test_a_page_cursor_past_bigint_is_ignored(manager, cursor):
    response = manager.get(f"/audit/?{cursor}={HUGE_23}")
    assert response.status_code == 200
    assert "<tbody>" in response.get_data(as_text=True)


@pytest.mark.both_dbs
@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv", "/audit/export.jsonl"])
@pytest.mark.parametrize("field", ["date_from", "date_to"])
@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01"])
def test_a_date_no_event_can_have_is_refused_beside_its_field(manager, path, field, value):
    response = manager.get(f"{path}?{field}={value}")
    if path == "/audit/":
        assert response.status_code == 200
        assert str(DATE_RANGE_MESSAGE) in response.get_data(as_text=True)  # a lazy string, in the store's English
    else:
        assert response.status_code == 400


@pytest.mark.both_dbs
def test_head_office_asking_for_a_huge_store_gets_not_found(admin):
    assert admin.get(f"/audit/?store={HUGE_23}").status_code == 404
    assert admin.get("/audit/?store=abc").status_code == 404


@pytest.mark.both_dbs
def test_a_nul_character_anywhere_is_refused_not_a_500(client, store, make_user, auth):
    # Found by tests/test_fuzz.py: PostgreSQL cannot compare text holding NUL, so a search or sign-in was a 500.
    token = csrf_token(client)
    response = client.post("/auth/sign-in", data={"username": "a\x00", "password": "x", "csrf_token": token})
    assert response.status_code == 400 and "text/html" in response.content_type
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    assert client.get("/sales/", query_string={"q": "\x00"}).status_code == 400
    assert client.get("/sales/?q=ok%00").status_code == 400
    assert client.get("/sales/", query_string={"q": "ok"}).status_code == 200
