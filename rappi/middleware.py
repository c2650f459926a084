"""Request id and access log.

`X-Request-ID` is taken from the client when it is a sane token, generated otherwise,
echoed in the response and attached to every log line of the request."""

import logging
import re
import time
import uuid
from datetime import UTC

from django.utils import timezone

from rappi.logging import request_id_var
from rappi.net import loggable_path

logger = logging.getLogger("rappi.request")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id_from(request) -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    return supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = _request_id_from(request)
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            user = getattr(request, "user", None)
            path = loggable_path(request.path)
            logger.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status_code": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class ApiUtcMiddleware:
    """API timestamps are UTC (docs/api.md); the admin and dashboards keep local time."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        with timezone.override(UTC):
            return self.get_response(request)


# --- Pages only ------------------------------------------------------------------------------

# The JSON API. Not /api/docs/: an HTML page, with its policy and all.
API_PREFIX = "/api/v1/"


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def web_only(middleware_class: type) -> type:
    """`middleware_class` for the admin, the console and the other pages; API requests
    pass it by untouched. Sessions, messages, the session user, htmx and the page
    CSP mean nothing to a bearer-token JSON API, yet cost every API request a share of
    its time. A subclass, so Django's checks still find the middleware they require."""
    hooks = {}

    def __call__(self, request):
        if is_api(request):
            return self.get_response(request)
        return middleware_class.__call__(self, request)

    hooks["__call__"] = __call__
    # The handler calls these hooks on its own: they must skip API requests too.
    for name in ("process_view", "process_exception", "process_template_response"):
        if hasattr(middleware_class, name):
            hooks[name] = _page_hook(getattr(middleware_class, name))
    return type(middleware_class.__name__, (middleware_class,), {**hooks, "__module__": __name__})


def _page_hook(hook):
    def page_hook(self, request, *args, **kwargs):
        if is_api(request):
            return None
        return hook(self, request, *args, **kwargs)

    return page_hook
