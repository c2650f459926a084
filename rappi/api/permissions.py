"""One permission class for every viewset: the view declares the `resource` it exposes
(docs/domain.md, Roles and access) and the request's action (`read`, `write`, `delete`) is
derived from the HTTP method, or from `permission_actions[view.action]` for custom actions.

A custom action may name another resource too (`"ratings:write"`). A view whose
`resource` is None needs only an authenticated user (own-inbox and own-session
endpoints); public views set `permission_classes = [AllowAny]`."""

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission

from rappi.errors import PermissionDeniedError

READ, WRITE, DELETE = "read", "write", "delete"
ACTIONS = (READ, WRITE, DELETE)

_METHOD_ACTIONS = {
    "GET": READ,
    "HEAD": READ,
    "OPTIONS": READ,
    "POST": WRITE,
    "PUT": WRITE,
    "PATCH": WRITE,
    "DELETE": DELETE,
}


def required_action(request, view) -> str:
    custom = getattr(view, "permission_actions", {}) or {}
    view_action = getattr(view, "action", None)
    if view_action in custom:
        return custom[view_action]
    return _METHOD_ACTIONS.get(request.method, WRITE)


class HasResourcePermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not hasattr(view, "resource"):
            raise ImproperlyConfigured(
                f"{view.__class__.__name__} must declare `resource` (None for any signed-in user)."
            )
        if view.resource is None:
            return True
        resource, _sep, action = required_action(request, view).rpartition(":")
        return user.has_permission(resource or view.resource, action)


class DeclaredQueryParameters(BasePermission):
    """Runs with every API view's permission check, after authentication (a signed-out
    caller still gets its 401 first): a query parameter the endpoint does not document
    is a 400 `invalid`, `details.fields` naming each unknown one with the allowed ones."""

    def has_permission(self, request, view) -> bool:
        # Imported here: DRF loads permission classes while `rest_framework.views` is
        # still importing, and the schema machinery rappi.api.query reads needs it.
        from rappi.api.query import allowed_query_params

        if not request.query_params or request.method == "OPTIONS":
            return True
        # PostgreSQL text cannot hold NUL: refused here, for every parameter of every view.
        with_nul = sorted(
            name
            for name, values in request.query_params.lists()
            if "\x00" in name or any("\x00" in value for value in values)
        )
        if with_nul:
            raise ValidationError(
                {name: [_("Text may not contain NUL characters.")] for name in with_nul}
            )
        allowed = allowed_query_params(view, request.method)
        if allowed is None:
            return True
        unknown = sorted(set(request.query_params) - allowed)
        if not unknown:
            return True
        message = (
            _("Unknown parameter. Allowed: %(names)s.") % {"names": ", ".join(sorted(allowed))}
            if allowed
            else _("Unknown parameter. This endpoint takes none.")
        )
        raise ValidationError({name: [message] for name in unknown})


def require_staff(request) -> None:
    """For commands reserved to staff whatever the role's grants (customers and
    drivers hold some write grants for their own rows only)."""
    if not request.user.is_staff_member:
        raise PermissionDeniedError()
