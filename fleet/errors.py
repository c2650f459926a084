from django.utils.translation import gettext_lazy as _

from rappi.errors import ConflictError


class VehicleUnavailableError(ConflictError):
    code = "vehicle_unavailable"
    default_message = _("The vehicle must be active and operational.")


class InactiveUserError(ConflictError):
    code = "user_inactive"
    default_message = _("A driver can only be reactivated while its login is active.")


class DriverUnavailableError(ConflictError):
    code = "driver_unavailable"
    default_message = _("The driver is not available.")


class CapacityExceededError(ConflictError):
    code = "capacity_exceeded"
    default_message = _("The load exceeds the vehicle's capacity.")


class DoesNotFitError(ConflictError):
    code = "does_not_fit"
    default_message = _("A package does not fit the vehicle's cargo box, however it is turned.")


class OrdersNotPendingError(ConflictError):
    code = "orders_not_pending"
    default_message = _("Only pending (paid) orders can be put in a run.")


class AssignmentInProgressError(ConflictError):
    code = "assignment_in_progress"
    default_message = _("A run in progress cannot be deleted.")
