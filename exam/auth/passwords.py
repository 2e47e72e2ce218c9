"""Password hashing with Argon2id (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_STRONG = PasswordHasher()
# Tests and the demo's thousands of simulated students would spend minutes on the strong parameters.
_FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def hash_password(password: str, *, fast: bool = False) -> str:
    """Argon2id hash of `password`."""
    return (_FAST if fast else _STRONG).hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches `stored_hash`; never raises for a wrong password or a corrupt hash."""
    try:
        return _STRONG.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def validate_new_password(password: str) -> str | None:
    """Why `password` is not acceptable, or None. Length beats composition rules (NIST 800-63B)."""
    if len(password) < 8:
        return "too_short"
    if len(password) > 256:
        return "too_long"
    return None
