"""Audit records as the plain documents the writer stores. Each gets its `_id` when it is
made, so writing it twice (a replay after a partial write) is detected, not duplicated.
No body content, token or password ever goes into a record."""

import contextlib
import datetime
import decimal
import hashlib
import re
from datetime import UTC

from bson import ObjectId

from audit import context
from audit.documents import DOMAIN, REQUEST
from rappi.net import client_ip, loggable_path

HASHED_BYTES = 1024
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# An unsalted hash of a short body that holds a password can be brute-forced back to the
# password: such bodies get no hash.
_PASSWORD_FIELD = re.compile(rb"password", re.IGNORECASE)
_SENSITIVE_KEY = re.compile(r"password|token|secret", re.IGNORECASE)
REDACTED = "[redacted]"


def _text(value, limit: int) -> str:
    return _CONTROL_CHARACTERS.sub("", str(value or ""))[:limit]


class BodyTap:
    """Stands in for the request's input stream and keeps a copy of the first
    HASHED_BYTES bytes as the view reads them; the rest of the body is never kept, and a
    large upload is never loaded just to be hashed."""

    def __init__(self, stream):
        self._stream = stream
        self._head = bytearray()

    def read(self, *args):
        return self._keep(self._stream.read(*args))

    def readline(self, *args):
        return self._keep(self._stream.readline(*args))

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _keep(self, data):
        if data and len(self._head) < HASHED_BYTES:
            self._head += data[: HASHED_BYTES - len(self._head)]
        return data

    def head(self) -> bytes:
        """The body's first bytes, reading past what the view left unread if needed."""
        missing = HASHED_BYTES - len(self._head)
        if missing > 0:
            # A broken client stream leaves what was read.
            with contextlib.suppress(Exception):
                self._keep(self._stream.read(missing))
        return bytes(self._head)

    @classmethod
    def install(cls, request) -> "BodyTap | None":
        # Django reads every body through `request._stream`, and `request.body` replaces it
        # only after reading all of it through here.
        stream = getattr(request, "_stream", None)
        if stream is None:
            return None
        tap = cls(stream)
        request._stream = tap
        return tap


def payload_hash(head: bytes) -> str | None:
    if not head or _PASSWORD_FIELD.search(head):
        return None
    return hashlib.sha256(head).hexdigest()


def _who(request) -> tuple[int | None, str]:
    user = context.acting_user(request)
    if user is not None:
        return user.pk, _text(user.get_username(), 254)
    signed_in = getattr(request, context.SIGNED_IN, None)
    if signed_in is not None:
        return signed_in[0], _text(signed_in[1], 254)
    return None, _text(getattr(request, context.ATTEMPTED, ""), 254)


def request_record(
    request, *, status_code: int, started_at, duration_ms: float, body: BodyTap | None
) -> dict:
    user_id, username = _who(request)
    return {
        "_id": ObjectId(),
        "kind": REQUEST,
        "timestamp": started_at,
        "user_id": user_id,
        "username": username,
        "path": _text(loggable_path(request.path), 2048),
        "method": _text(request.method, 16),
        "ip": client_ip(request),
        "status_code": status_code,
        "duration_ms": round(duration_ms, 2),
        "request_id": getattr(request, "request_id", "") or "",
        "user_agent": _text(request.headers.get("User-Agent", ""), 300),
        "payload_hash": payload_hash(body.head()) if body is not None else None,
    }


def plain(value, *, depth: int = 0):
    """A value MongoDB stores as the caller meant it: decimals as strings (money stays
    exact), rows as their ids, sets as sorted lists, anything unknown as its text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:1000]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(UTC) if value.tzinfo else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return value.pk
    if depth < 3 and isinstance(value, set | frozenset):
        return sorted((plain(item, depth=depth + 1) for item in value), key=str)
    if depth < 3 and isinstance(value, list | tuple):
        return [plain(item, depth=depth + 1) for item in value]
    if depth < 3 and isinstance(value, dict):
        return {str(k): plain(v, depth=depth + 1) for k, v in value.items()}
    return str(value)[:1000]


def _changes(changes: dict | None) -> dict:
    out = {}
    for field, (old, new) in (changes or {}).items():
        if _SENSITIVE_KEY.search(str(field)):
            old, new = REDACTED, REDACTED
        out[str(field)] = {"old": plain(old), "new": plain(new)}
    return out


def _target(target) -> tuple[str, str]:
    if isinstance(target, tuple):
        kind, pk = target
        return str(kind), str(pk)
    return target._meta.model_name, str(target.pk)


def domain_record(*, action: str, target, changes: dict | None, actor) -> dict:
    """`target` is a model instance or a (type, id) pair; `changes` maps a field to its
    (old, new) values. The request it happens in, if any, is linked by id, path and IP."""
    request = context.current_request()
    actor = actor if actor is not None else context.acting_user(request)
    target_type, target_id = _target(target)
    record = {
        "_id": ObjectId(),
        "kind": DOMAIN,
        "timestamp": datetime.datetime.now(UTC),
        "user_id": actor.pk if actor is not None else None,
        "username": _text(actor.get_username(), 254) if actor is not None else "",
        "action": _text(action, 100),
        "target_type": target_type,
        "target_id": target_id,
        "changes": _changes(changes),
    }
    if request is not None:
        record.update(
            path=_text(loggable_path(request.path), 2048),
            method=_text(request.method, 16),
            ip=client_ip(request),
            request_id=getattr(request, "request_id", "") or "",
        )
    return record
