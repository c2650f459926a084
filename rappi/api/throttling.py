"""Throttles whose counts live in the database, so every gunicorn worker process shares
them, and whose increments are atomic (one upsert), so parallel requests cannot slip
past the limit. A rate of "off" (or empty) disables a scope."""

import time

from django.db import connection
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from rappi.models import RateCounter
from rappi.net import client_ip

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "5/min" → (5, 60); "off"/""/None → None."""
    if not rate or rate.strip().lower() in {"off", "none"}:
        return None
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def counter_hit(key: str, period: int, now: float | None = None) -> tuple[int, float]:
    """Count one hit for `key` in the current fixed window; returns (hits so far, seconds
    until the window closes)."""
    now = time.time() if now is None else now
    window_start = int(now // period * period)
    expires_at = window_start + period
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, window_start, expires_at, count) "  # noqa: S608 - table name from model meta
            "VALUES (%s, %s, %s, 1) "
            "ON CONFLICT (key, window_start) "
            f"DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [key, window_start, expires_at],
        )
        hits = cursor.fetchone()[0]
    return hits, expires_at - now


def throttle_hit(scope: str, key: str | None) -> float | None:
    """Count one hit of `key` against `scope`'s rate; returns the seconds until its window
    closes when that spent the budget, else None (also for a scope that is off, or no key)."""
    # The rates are "N/period" strings; DRF's stubs type them as numbers.
    rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))  # type: ignore[arg-type]
    if rate is None or key is None:
        return None
    limit, period = rate
    hits, remaining = counter_hit(f"{scope}:{key}", period)
    return remaining if hits > limit else None


def purge_expired_counters(now: float | None = None) -> int:
    """Expired windows are dead weight; `manage.py purge_expired` (daily) calls this, so
    no request ever pays for the sweep."""
    now = time.time() if now is None else now
    deleted, _ = RateCounter.objects.filter(expires_at__lt=now).delete()
    return deleted


class SharedRateThrottle(BaseThrottle):
    scope: str = ""

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"

    def __init__(self):
        self.rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))
        self._wait: float | None = None

    def get_cache_key(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self._wait = throttle_hit(self.scope, self.get_cache_key(request, view))
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class AnonRateThrottle(SharedRateThrottle):
    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)


class UserRateThrottle(SharedRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return str(request.user.pk)
        return None
