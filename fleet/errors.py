from django.utils.translation import gettext_lazy as _

from rappi.errors import ConflictError, DomainError


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


class AssignmentNotInProgressError(ConflictError):
    code = "assignment_not_in_progress"
    default_message = _("Deliveries are recorded only on a run in progress.")


class InvalidSequenceError(DomainError):
    """A 400 `invalid` like any validation error, raised where the stops are known."""

    code = "invalid"
    default_message = _("This stop order is not possible.")

    def __init__(self, message: str = "", **details):
        message = str(message or self.default_message)
        super().__init__(message, fields={"stop_ids": [message]}, **details)


class RouteWithoutRunError(ConflictError):
    code = "route_without_run"
    default_message = _("Only a run's route can be re-planned.")


class VehicleRestrictedError(ConflictError):
    code = "vehicle_restricted"
    default_message = _("On this day the vehicle's plate keeps it out of a restricted zone.")


class RouteRestrictedError(ConflictError):
    code = "route_restricted"
    default_message = _("The route cannot go around a zone closed to this vehicle on that day.")


class ProofEvidenceError(ConflictError):
    code = "proof_of_delivery"
    default_message = _("A proof of delivery or failure stays with its run.")


class RunClosedError(ConflictError):
    code = "run_closed"
    default_message = _("Only a run still to be driven (assigned or in progress) is re-planned.")


class VehicleBusyError(ConflictError):
    code = "vehicle_busy"
    default_message = _("The vehicle is already on another run.")


class NoVehicleError(ConflictError):
    """A reason in driver suggestions: the driver has no default vehicle."""

    code = "no_vehicle"
    default_message = _("The driver has no vehicle assigned.")


class DeliveryStopNeedsProofError(ConflictError):
    code = "delivery_stop_needs_proof"
    default_message = _(
        "A drop-off is done by delivering it or recording its failure, with a photo as proof."
    )
