from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed

from rappi.errors import ConflictError


class InvalidCredentials(AuthenticationFailed):
    default_detail = _("Email or password is incorrect.")
    default_code = "invalid_credentials"


class TokenInvalid(AuthenticationFailed):
    default_detail = _("The token is invalid, expired or revoked.")
    default_code = "token_invalid"


class ProtectedRoleError(ConflictError):
    code = "protected_role"
    default_message = _(
        "Seeded roles cannot be renamed or deleted, and admin keeps every permission."
    )


class RoleInUseError(ConflictError):
    code = "role_in_use"
    default_message = _("The role still has users; move them to another role first.")


class SelfLockoutError(ConflictError):
    code = "self_lockout"
    default_message = _("You cannot deactivate yourself or change your own role.")
