from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from rappi.api.exceptions import PayloadTooLarge

# Far more than any body the API takes (the deepest, a GeoJSON polygon, is 5 levels), and
# far less than Python's recursion limit, which every later step (validation, hashing for
# Idempotency-Key, rendering) would otherwise have to stay under.
JSON_MAX_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """JSON with a body size limit (DRF reads the stream directly, so Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE is not applied to JSON bodies by itself) and a nesting
    limit: `[[[[…]]]]` 10,000 deep is a 20 KB body that makes the decoder, or anything
    recursive after it, raise RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request is not None and limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise PayloadTooLarge()
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        if depth_exceeds(data, JSON_MAX_DEPTH):
            raise _too_deep()
        return data


def _too_deep() -> ParseError:
    return ParseError(
        _("JSON parse error - nested deeper than %(limit)d levels.") % {"limit": JSON_MAX_DEPTH}
    )


def depth_exceeds(data, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep, without recursing."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


# Boundaries, part headers and the small text fields of an upload form.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadParser(parsers.MultiPartParser):
    """Multipart uploads, refused with 413 before anything is read when the declared body
    is larger than EVIDENCE_MAX_REQUEST_BYTES allows."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        if request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.EVIDENCE_MAX_REQUEST_BYTES + MULTIPART_OVERHEAD_BYTES:
                raise PayloadTooLarge()
        try:
            return super().parse(stream, media_type, parser_context)
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            # Django's guards against field floods are the client's mistake, not ours.
            raise ParseError(str(exc)) from exc
