"""Staff console sign-in: PBKDF2 password hashes, credentials from settings, and a lockout for failed logins.

There is no default password. Staff credentials are `BOT_STAFF_USER` plus either `BOT_STAFF_PASSWORD_HASH`
(`pbkdf2_sha256$iterations$salt$hexdigest`, made with `python -m bot.triage.staff_auth` or `python ui.py hash-password`)
or a plain `BOT_STAFF_PASSWORD` from the environment. Without them the console is disabled.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_ITERATIONS = 1_000
DISABLED_MESSAGE = (
    "The staff console is disabled: set BOT_STAFF_USER and BOT_STAFF_PASSWORD_HASH "
    "(or BOT_STAFF_PASSWORD) and restart. Make a hash with `python ui.py hash-password`."
)


class CredentialsError(ValueError):
    """The staff credentials in the settings are incomplete or malformed; the text says how to fix them."""


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: str | None = None) -> str:
    """`pbkdf2_sha256$iterations$salt$hexdigest` for `password`, with a random salt unless one is given."""
    if not password:
        raise ValueError("The password must not be empty.")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"Use at least {MIN_ITERATIONS:,} iterations.")
    salt = salt if salt is not None else secrets.token_hex(16)
    if not salt or "$" in salt:
        raise ValueError("The salt must be non-empty and must not contain '$'.")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"{ALGORITHM}${iterations}${salt}${digest}"


def _parse(encoded: str) -> tuple[int, str, str]:
    parts = encoded.strip().split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM:
        raise CredentialsError(
            f"BOT_STAFF_PASSWORD_HASH must look like {ALGORITHM}$iterations$salt$hexdigest "
            "(make one with `python ui.py hash-password`)."
        )
    _, iterations, salt, digest = parts
    if not iterations.isdigit() or int(iterations) < MIN_ITERATIONS:
        raise CredentialsError(f"BOT_STAFF_PASSWORD_HASH: iterations must be a number of at least {MIN_ITERATIONS:,}.")
    if not salt:
        raise CredentialsError("BOT_STAFF_PASSWORD_HASH: the salt is empty.")
    try:
        if len(bytes.fromhex(digest)) != 32:
            raise ValueError
    except ValueError:
        raise CredentialsError("BOT_STAFF_PASSWORD_HASH: the digest must be 64 hex characters.") from None
    return int(iterations), salt, digest.lower()


def verify_password(password: str, encoded: str) -> bool:
    """True if `password` matches the PBKDF2 hash `encoded` (constant-time comparison)."""
    iterations, salt, digest = _parse(encoded)
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True)
class StaffCredentials:
    """One staff account: a user name and either a PBKDF2 hash or a plain password (from the environment)."""

    user: str
    password_hash: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.user.strip():
            raise CredentialsError("BOT_STAFF_USER is empty.")
        if self.password_hash is None and not self.password:
            raise CredentialsError("Set BOT_STAFF_PASSWORD_HASH (or BOT_STAFF_PASSWORD) for the staff user.")
        if self.password_hash is not None:
            _parse(self.password_hash)

    @classmethod
    def from_settings(cls, settings: Settings) -> StaffCredentials | None:
        """The configured account, or None when no staff credentials are set at all (console disabled).

        Raises CredentialsError when they are set but incomplete or malformed."""
        user = (settings.staff_user or "").strip()
        plain = settings.staff_password.get_secret_value() if settings.staff_password is not None else ""
        hashed = (settings.staff_password_hash or "").strip()
        if not user and not plain and not hashed:
            return None
        if not user:
            raise CredentialsError("A staff password is set but BOT_STAFF_USER is not.")
        return cls(user=user, password_hash=hashed or None, password=plain or None)

    def verify(self, user: str, password: str) -> bool:
        """Constant-time check of a user name and password; the hash wins when both kinds are configured."""
        user_ok = hmac.compare_digest(user.strip().encode(), self.user.encode())
        if self.password_hash is not None:
            password_ok = verify_password(password, self.password_hash)
        else:
            password_ok = hmac.compare_digest(password.encode(), (self.password or "").encode())
        return user_ok and password_ok


class LoginGuard:
    """Failed-login lockout per key (the client address): after `max_failures` failures in a row the key is
    locked for `base_lock_s`, doubling with each further failure up to `max_lock_s`. A success clears it."""

    def __init__(
        self,
        max_failures: int = 5,
        base_lock_s: float = 30.0,
        max_lock_s: float = 900.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1.")
        self.max_failures = max_failures
        self.base_lock_s = base_lock_s
        self.max_lock_s = max_lock_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it is not locked."""
        with self._lock:
            until = self._locked_until.get(key, 0.0)
            return max(0.0, until - self._clock())

    def failure(self, key: str) -> float:
        """Record a failed attempt; return the lock time it caused (0 while under the threshold)."""
        with self._lock:
            if len(self._failures) >= self._max_keys and key not in self._failures:
                self._forget_expired()
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            if count < self.max_failures:
                return 0.0
            lock = min(self.max_lock_s, self.base_lock_s * 2 ** (count - self.max_failures))
            self._locked_until[key] = self._clock() + lock
            return lock

    def success(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)

    def _forget_expired(self) -> None:
        now = self._clock()
        for key in [k for k in self._failures if self._locked_until.get(k, 0.0) <= now]:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)


def main(argv: list[str] | None = None) -> int:
    """Print a hash for BOT_STAFF_PASSWORD_HASH; the password is read without echo (or from stdin if piped)."""
    argv = sys.argv[1:] if argv is None else argv
    iterations = int(argv[0]) if argv else DEFAULT_ITERATIONS
    if sys.stdin.isatty():
        password = getpass.getpass("Staff password: ")
        if password != getpass.getpass("Again: "):
            print("The passwords do not match.", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        print("Use a password of at least 12 characters.", file=sys.stderr)
        return 1
    print(hash_password(password, iterations=iterations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
