"""One audit record per HTTP request (docs/domain.md, Audit).

The record is built after the response, when the user is known: DRF authenticates
inside the view and puts the user it found on the Django request, the admin and
dashboards have theirs from the session, and a sign-in notes who signed in or which
account a failed attempt named (audit.signals). It is then queued for the background
writer: the request never waits for MongoDB and never fails because of auditing."""

import logging
import time
from datetime import UTC, datetime

from django.conf import settings

from audit import context, writer
from audit.records import MUTATING_METHODS, BodyTap, request_record

logger = logging.getLogger("audit.middleware")


def is_excluded(path: str) -> bool:
    return path.startswith((*settings.AUDIT_EXCLUDE_PATHS, settings.STATIC_URL or "/static/"))


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.AUDIT_ENABLED or is_excluded(request.path):
            return self.get_response(request)
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        body = BodyTap.install(request) if request.method in MUTATING_METHODS else None
        token = context.begin(request)
        status_code = 500  # if the handler raises past Django's own conversion
        try:
            response = self.get_response(request)
            status_code = response.status_code
            return response
        finally:
            context.end(token)
            self._record(request, status_code, started_at, started, body)

    @staticmethod
    def _record(request, status_code, started_at, started, body) -> None:
        try:
            record = request_record(
                request,
                status_code=status_code,
                started_at=started_at,
                duration_ms=(time.perf_counter() - started) * 1000,
                body=body,
            )
        except Exception:  # auditing never fails a request
            logger.exception("Audit record not built")
            return
        writer.submit(record)
