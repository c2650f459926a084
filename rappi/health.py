"""Liveness and readiness probes: public, unaudited, never cached."""

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from rappi import mongo


def _check(probe) -> dict:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure means "not ready", reported, never raised
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _sql_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {
        "postgresql" if connection.vendor == "postgresql" else connection.vendor: _check(_sql_ping),
        "mongodb": _check(mongo.ping),
    }
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks, "audit": _audit_state()},
        status=200 if ready else 503,
    )


def _audit_state() -> dict:
    """Reported, not part of readiness: with MongoDB away, records wait in the spool and
    the app keeps serving. `host_spool` is every worker's segments on this host;
    `worker` is the counts of the process that answered, since it started."""
    from audit import writer

    try:
        return {"enabled": settings.AUDIT_ENABLED, **writer.status()}
    except Exception as exc:  # a report, never a reason to fail the probe
        return {"enabled": settings.AUDIT_ENABLED, "error": exc.__class__.__name__}
