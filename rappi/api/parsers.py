from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from rappi.api.exceptions import PayloadTooLarge


class JSONParser(parsers.JSONParser):
    """JSON with a body size limit: DRF reads the stream directly, so Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE is not applied to JSON bodies by itself."""

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
        return super().parse(stream, media_type, parser_context)


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
