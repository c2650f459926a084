"""Tracking's domain errors, each with the `code` clients branch on (the API's error body).
The modules that raise them re-export them (`pings.BatchTooLargeError`,
`evidence.UploadTooLargeError`…), so either name works."""

from django.utils.translation import gettext_lazy as _

from rappi.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError

# --- Pings ---------------------------------------------------------------------------------------


class BatchTooLargeError(DomainError):
    code, http_status = "payload_too_large", 413
    default_message = _("Too many fixes in one request.")


class NotADriverError(PermissionDeniedError):
    default_message = _("Only the driver of a run sends its fixes.")


class RunNotInProgressError(ConflictError):
    code = "assignment_not_in_progress"
    default_message = _("Fixes are accepted only while the run is in progress.")


# --- Geofences -----------------------------------------------------------------------------------


class InvalidGeofenceError(DomainError):
    """400 `invalid` with `details.fields`, like a serializer's, for callers that are not
    the API (admin, demo, scripts)."""

    code, http_status = "invalid", 400
    default_message = _("Invalid input.")


class GeofenceManagedError(ConflictError):
    code = "geofence_managed"
    default_message = _(
        "A route corridor follows its run's route: only its name and active flag change here."
    )


# --- Evidence files ------------------------------------------------------------------------------


class UploadTooLargeError(DomainError):
    code, http_status = "payload_too_large", 413
    default_message = _("The upload is larger than allowed.")


class ImageTooLargeError(DomainError):
    code, http_status = "image_too_large", 413
    default_message = _("The image has more pixels than allowed.")


class UnsupportedFileTypeError(DomainError):
    code, http_status = "unsupported_file_type", 415
    default_message = _("This file type is not accepted: send a JPEG, PNG, WebP, HEIC or PDF.")


class FileNotFoundInStoreError(NotFoundError):
    default_message = _("File not found.")
