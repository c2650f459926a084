"""Sign-in throttles: one budget per client IP and one per account named, shared by every
way of signing in (the API, the admin) and across workers."""

import hashlib

from rest_framework.throttling import BaseThrottle

from rappi.api.throttling import SharedRateThrottle, throttle_hit
from rappi.net import client_ip

LOGIN_IP_SCOPE = "login_ip"
LOGIN_ACCOUNT_SCOPE = "login_account"


def _account_key(email: object) -> str | None:
    if not isinstance(email, str) or not email.strip():
        return None
    # Hashed: the key is stored, and the raw value is unvalidated client input.
    return hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()


def login_attempt_wait(*, ip: str | None, email: object) -> float | None:
    """Count one sign-in attempt against the budget of the client's IP and that of the
    account it names (any spelling of the email); returns the seconds to wait when either
    is spent, else None. Every sign-in form calls this before checking the password, so a
    refused attempt counts too and the right password waits like a wrong one."""
    waits = [
        throttle_hit(LOGIN_IP_SCOPE, ip or "unknown"),
        throttle_hit(LOGIN_ACCOUNT_SCOPE, _account_key(email)),
    ]
    return max((wait for wait in waits if wait is not None), default=None)


class LoginThrottle(BaseThrottle):
    """The API's sign-in budget: `login_attempt_wait` for the body's `email`."""

    def __init__(self):
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        data = request.data if isinstance(request.data, dict) else {}
        self._wait = login_attempt_wait(ip=client_ip(request), email=data.get("email"))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class LoginIpThrottle(SharedRateThrottle):
    """The per-IP sign-in budget alone (registration spends from it too)."""

    scope = LOGIN_IP_SCOPE

    def get_cache_key(self, request, view):
        return self.get_ident(request)
