"""`Idempotency-Key` for POST endpoints a mobile client may retry (docs/api.md).

Decorate a DRF view method with `@idempotent`. The first request with a key runs and
its response (any non-5xx) is stored; a retry with the same key and the same request
gets that response again (`Idempotent-Replayed: true`) and applies nothing twice. The
same key with a different request is refused (422 `idempotency_key_reused`); a retry
that arrives while the first is still running is refused (409 `idempotency_in_progress`).
Keys are scoped per user and kept for IDEMPOTENCY_TTL_HOURS."""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from rappi.errors import IdempotencyInProgressError, IdempotencyKeyReusedError
from rappi.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def _file_digest(upload) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def request_fingerprint(request) -> str:
    """SHA-256 over method, path and the parsed body (uploaded files by content digest)."""
    data = request.data
    if hasattr(data, "lists"):  # form or multipart: values are lists, files apart
        body = {name: values for name, values in data.lists() if name not in request.FILES}
    else:
        body = data
    files = {name: [_file_digest(u) for u in uploads] for name, uploads in request.FILES.lists()}
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "body": body, "files": files},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validated_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            {HEADER: [_("Must be 1 to %(max)d printable characters.") % {"max": MAX_KEY_LENGTH}]}
        )
    return key


def _claim(*, request, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """Insert the in-flight record; return the existing one if the key is taken.

    Records past their TTL are gone, and so are in-flight ones older than
    IDEMPOTENCY_IN_FLIGHT_SECONDS: their request died (worker killed) without answering,
    and the key must not stay blocked."""
    now = timezone.now()
    mine = IdempotencyRecord.objects.filter(user=request.user, key=key)
    mine.filter(created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)).delete()
    mine.filter(
        status_code__isnull=True,
        created_at__lt=now - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_SECONDS),
    ).delete()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    user=request.user,
                    key=key,
                    method=request.method,
                    path=request.path[:500],
                    fingerprint=fingerprint,
                )
            return None
        except IntegrityError:
            existing = mine.first()
            if existing is not None:
                return existing
            # The holder released the key between our insert and our read: claim again.
    raise IdempotencyInProgressError(key=key)


def idempotent(view_method):
    @wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = _validated_key(request)
        if key is None or not request.user.is_authenticated:
            return view_method(view, request, *args, **kwargs)
        fingerprint = request_fingerprint(request)
        existing = _claim(request=request, key=key, fingerprint=fingerprint)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError(key=key)
            if existing.status_code is None:
                raise IdempotencyInProgressError(key=key)
            return Response(
                existing.response_body,
                status=existing.status_code,
                headers={REPLAYED_HEADER: "true"},
            )
        try:
            response = view_method(view, request, *args, **kwargs)
        except Exception:
            # A raised error means the service rolled back and nothing was applied:
            # the key is released so the client may retry.
            IdempotencyRecord.objects.filter(user=request.user, key=key).delete()
            raise
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(user=request.user, key=key).delete()
            return response
        body = (
            json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
        )
        IdempotencyRecord.objects.filter(user=request.user, key=key).update(
            status_code=response.status_code, response_body=body
        )
        return response

    wrapper.idempotent = True
    return wrapper


def purge_expired_idempotency_records() -> int:
    expired_before = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=expired_before).delete()
    return deleted
