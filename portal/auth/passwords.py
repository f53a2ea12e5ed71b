"""Passwords: hashing with argon2id (pwdlib's recommended settings) and the strength rule for new ones."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, safe to store."""
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches ``password_hash``; False for users without a password."""
    if not password_hash:
        # Spend the same time as a real check so unknown accounts are not revealed by timing.
        _hasher().verify(password, _dummy_hash())
        return False
    return _hasher().verify(password, password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not-a-real-password")


PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256
PASSWORD_RULE = (
    f"At least {PASSWORD_MIN_LENGTH} characters, with letters and at least one digit or symbol, "
    "and not your email address."
)


def password_problem(password: str, email: str) -> str | None:
    """What makes ``password`` too weak for the account ``email`` (see :data:`PASSWORD_RULE`), or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"The password is too short: use at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"The password is too long: use at most {PASSWORD_MAX_LENGTH} characters."
    if not any(c.isalpha() for c in password) or all(c.isalpha() for c in password):
        return "Mix letters with at least one digit or symbol in the password."
    local_part = email.partition("@")[0].lower()
    if email and (email.lower() in password.lower() or (len(local_part) >= 4 and local_part in password.lower())):
        return "The password must not contain your email address."
    return None
