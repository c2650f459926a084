"""Liveness and readiness probes: public, unaudited, never cached. Being public, they say
only whether each database answers; the audit writer's state is for staff
(`GET /api/v1/audit/status`)."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from rappi import mongo

logger = logging.getLogger("rappi.health")


def _check(name: str, probe) -> dict:
    try:
        probe()
    except Exception as exc:  # any failure means "not ready": logged, never shown
        logger.warning("Readiness: %s does not answer (%s)", name, exc.__class__.__name__)
        return {"ok": False}
    return {"ok": True}


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
        connection.vendor: _check(connection.vendor, _sql_ping),
        "mongodb": _check("mongodb", mongo.ping),
    }
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
