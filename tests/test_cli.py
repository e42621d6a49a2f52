"""The flask commands."""

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Store, User


def test_init_db_is_safe_to_run_again(runner, store):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Store)) == 1


def test_create_store(runner):
    result = runner.invoke(
        args=[
            "create-store",
            "--code",
            "man01",
            "--name",
            "Manchester",
            "--country",
            "gb",
            "--currency",
            "gbp",
            "--language",
            "en",
            "--timezone",
            "Europe/London",
        ]
    )
    assert result.exit_code == 0, result.output
    store = db.session.scalar(sa.select(Store).where(Store.code == "MAN01"))
    assert (store.country, store.currency, store.timezone) == ("GB", "GBP", "Europe/London")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--country", "XX", "--currency", "GBP", "--timezone", "Europe/London"], "Unknown country"),
        (["--country", "GB", "--currency", "GBX", "--timezone", "Europe/London"], "Unknown currency"),
        (["--country", "GB", "--currency", "GBP", "--timezone", "Mars/Base"], "Unknown time zone"),
    ],
)
def test_create_store_rejects_bad_codes(runner, args, message):
    result = runner.invoke(args=["create-store", "--code", "X1", "--name", "X", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_create_store_rejects_duplicate(runner, store):
    result = runner.invoke(
        args=[
            "create-store",
            "--code",
            "LDN01",
            "--name",
            "Again",
            "--country",
            "GB",
            "--currency",
            "GBP",
            "--timezone",
            "Europe/London",
        ]
    )
    assert result.exit_code != 0 and "already exists" in result.output


def test_create_user_with_password_option(runner, store):
    result = runner.invoke(
        args=[
            "create-user",
            "--username",
            "Ann",
            "--name",
            "Ann Lee",
            "--role",
            "associate",
            "--store",
            "LDN01",
            "--password",
            "a-strong-passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "ann"))
    assert user.store.code == "LDN01" and user.role == "associate"


def test_create_user_password_from_environment(runner, store, monkeypatch):
    monkeypatch.setenv("PORTAL_USER_PASSWORD", "another-strong-one")
    result = runner.invoke(
        args=["create-user", "--username", "bob", "--name", "Bob", "--role", "manager", "--store", "LDN01"]
    )
    assert result.exit_code == 0, result.output


def test_create_user_password_prompt(runner, store):
    result = runner.invoke(
        args=["create-user", "--username", "cat", "--name", "Cat", "--role", "associate", "--store", "LDN01"],
        input="prompted-passphrase\nprompted-passphrase\n",
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--role", "associate", "--store", "NOPE", "--password", "a-strong-passphrase"], "No store"),
        (["--role", "associate", "--password", "a-strong-passphrase"], "must belong to a store"),
        (["--role", "admin", "--store", "LDN01", "--password", "a-strong-passphrase"], "head office"),
        (["--role", "associate", "--store", "LDN01", "--password", "short"], "Weak password"),
        (["--role", "associate", "--store", "LDN01", "--password", "password123"], "Weak password"),
        (["--role", "owner", "--store", "LDN01", "--password", "a-strong-passphrase"], "Invalid value"),
    ],
)
def test_create_user_rejects_bad_input(runner, store, args, message):
    result = runner.invoke(args=["create-user", "--username", "dan", "--name", "Dan", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "dan")) is None


def test_create_user_rejects_duplicate_username(runner, store, make_user):
    make_user("eve", "associate", store)
    result = runner.invoke(
        args=[
            "create-user",
            "--username",
            "EVE",
            "--name",
            "Eve",
            "--role",
            "associate",
            "--store",
            "LDN01",
            "--password",
            "a-strong-passphrase",
        ]
    )
    assert result.exit_code != 0 and "taken" in result.output


@pytest.mark.both_dbs
def test_seed_demo_once(runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "ldn.alex" in first.output and "counter-demo-2026" in first.output
    stores = db.session.scalars(sa.select(Store)).all()
    assert {s.country for s in stores} == {"GB", "AU"}
    roles = sorted(u.role for u in db.session.scalars(sa.select(User)))
    assert roles.count("admin") == 1 and roles.count("manager") == 2 and roles.count("associate") == 4
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "nothing seeded" in second.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 7
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events
