"""Login throttles: per client IP and per attempted account, shared across workers."""

import hashlib

from rappi.api.throttling import SharedRateThrottle


class LoginIpThrottle(SharedRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view):
        return self.get_ident(request)


class LoginAccountThrottle(SharedRateThrottle):
    scope = "login_account"

    def get_cache_key(self, request, view):
        data = request.data if isinstance(request.data, dict) else {}
        email = data.get("email")
        if not isinstance(email, str) or not email.strip():
            return None
        # Hashed: the key is stored, and the raw value is unvalidated client input.
        return hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
