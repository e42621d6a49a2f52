"""Models and their database constraints."""

from datetime import UTC

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import User


@pytest.mark.both_dbs
def test_store_and_user_round_trip(store, make_user):
    user = make_user("ann", "associate", store)
    db.session.expire_all()
    loaded = db.session.get(User, user.id)
    assert loaded.store.code == "LDN01"
    assert loaded.password_hash.startswith("$argon2id$")
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == UTC.utcoffset(None)


@pytest.mark.both_dbs
def test_admin_cannot_have_a_store(store):
    db.session.add(User(username="bad", display_name="Bad", role="admin", password_hash="x", store_id=store.id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.both_dbs
def test_associate_must_have_a_store(app):
    db.session.add(User(username="bad", display_name="Bad", role="associate", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.both_dbs
def test_unknown_role_refused(store):
    with pytest.raises(ValueError):  # the model refuses it first...
        User(username="bad", display_name="Bad", role="owner", password_hash="x", store_id=store.id)
    with pytest.raises(IntegrityError):  # ...and the database refuses it behind the model's back too
        db.session.execute(
            sa.text(
                "INSERT INTO user_account (username, display_name, role, password_hash, store_id, active,"
                " failed_sign_ins, sessions_valid_after, created_at, updated_at)"
                " VALUES ('bad', 'Bad', 'owner', 'x', :store, true, 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"store": store.id},
        )
    db.session.rollback()


def test_sqlite_runs_in_wal_with_foreign_keys(app):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_password_hash_meets_asvs_appendix_c(monkeypatch):
    """Production settings: argon2id with at least t=2 and 19 MiB."""
    from portal import create_app
    from portal.auth.passwords import hash_password

    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        params = hash_password("a-long-enough-password").split("$")[3]
    values = dict(p.split("=") for p in params.split(","))
    assert int(values["t"]) >= 2 and int(values["m"]) >= 19 * 1024
