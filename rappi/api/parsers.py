from django.conf import settings
from rest_framework import parsers

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
