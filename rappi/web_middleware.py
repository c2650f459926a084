"""The middleware only pages need, wrapped by `rappi.middleware.web_only` so API requests
skip it (settings.MIDDLEWARE names these)."""

from csp.middleware import CSPMiddleware as _CSP
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django_htmx.middleware import HtmxMiddleware as _Htmx

from rappi.middleware import web_only

CSPMiddleware = web_only(_CSP)
SessionMiddleware = web_only(_Sessions)
AuthenticationMiddleware = web_only(_Authentication)
MessageMiddleware = web_only(_Messages)
HtmxMiddleware = web_only(_Htmx)
