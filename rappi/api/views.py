"""Django-level error pages: the one JSON error body on API paths, Django's HTML
pages elsewhere (admin, dashboards)."""

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views import defaults

from rappi.api.exceptions import is_api_path, json_error


def bad_request(request, exception=None):
    if is_api_path(request):
        return json_error(400, "invalid", _("Bad request."))
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api_path(request):
        return json_error(
            403, "permission_denied", _("You do not have permission to perform this action.")
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if is_api_path(request):
        return json_error(404, "not_found", _("Not found."))
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_path(request):
        return json_error(500, "server_error", _("An unexpected error occurred."))
    return defaults.server_error(request)


def home(request):
    return render(request, "home.html")
