from django.utils.translation import gettext_lazy as _

from rappi.errors import ConflictError


class VehicleUnavailableError(ConflictError):
    code = "vehicle_unavailable"
    default_message = _("The vehicle must be active and operational.")


class InactiveUserError(ConflictError):
    code = "user_inactive"
    default_message = _("A driver can only be reactivated while its login is active.")
