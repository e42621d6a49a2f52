"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from ..i18n import N_, Message
from .throttle import run_check

MIN_LENGTH = 10
MAX_LENGTH = 128
# A short list of the passwords people reach for first; longer lists belong to a breach checker.
COMMON = frozenset(
    {
        "password123",
        "password1234",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "iloveyou123",
        "letmein1234",
        "welcome123",
        "changeme123",
        "passw0rd123",
        "administrator",
        "qwerty12345",
    }
)


# Letters and digits nobody misreads when a temporary password is read out or copied: no 0/o, 1/l/i.
READABLE = "abcdefghjkmnpqrstuvwxyz23456789"


def _hasher() -> PasswordHasher:
    """Return an argon2id hasher with the configured cost."""
    return PasswordHasher(
        time_cost=current_app.config["ARGON2_TIME_COST"],
        memory_cost=current_app.config["ARGON2_MEMORY_KIB"],
    )


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Check a password against a stored hash, in constant time, on a low-priority checking thread."""
    hasher = _hasher()

    def check() -> bool:
        try:
            return hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return run_check(check)


def needs_rehash(stored: str) -> bool:
    """Tell whether a hash was made with weaker settings than today's."""
    try:
        return _hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


def password_problem(password: str, username: str = "") -> str | None:
    """Return why a password is too weak, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return Message(N_("Use at least %(least)s characters."), least=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return Message(N_("Use at most %(most)s characters."), most=MAX_LENGTH)
    if password.lower() in COMMON or len(set(password)) < 4:
        return N_("That password is too easy to guess.")
    if username and username.lower() in password.lower():
        return N_("The password must not contain the username.")
    return None


def generate_password(username: str = "") -> str:
    """Return a random temporary password that meets the policy, easy to read out: three groups of four."""
    # 31^12 is about 2^59 guesses; groups of four never join into a card-number-sized run of digits.
    while True:
        candidate = "-".join("".join(secrets.choice(READABLE) for _ in range(4)) for _ in range(3))
        if password_problem(candidate, username) is None:
            return candidate
