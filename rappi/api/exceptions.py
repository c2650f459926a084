"""The one error body: `{"error": {"code", "message", "details"}}` for every status."""

import logging

from bson.errors import InvalidDocument
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from mongoengine.errors import ValidationError as MongoValidationError
from pymongo.errors import ConnectionFailure as PyMongoConnectionFailure
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from rappi.errors import ConcurrentUpdateError, DomainError, is_lock_conflict

logger = logging.getLogger("rappi.api")

# DRF exception class -> our code, where DRF's own default_code is not the contract's.
_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "token_invalid",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "invalid",
}


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A backing service is unavailable; try again shortly."
    default_code = "service_unavailable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def _code_for(exc: exceptions.APIException) -> str:
    # DRF's own classes get the contract's codes; our subclasses (InvalidCredentials,
    # TokenInvalid, PayloadTooLarge…) and explicit `code=` arguments keep theirs.
    if type(exc) in _CODES:
        return _CODES[type(exc)]
    return getattr(exc.detail, "code", None) or exc.default_code


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers = {}
    details: dict = {}
    if isinstance(exc, exceptions.ParseError):
        # Every 400 is `invalid` (docs/api.md); a body that is not JSON names no field.
        exc = exceptions.ValidationError({"non_field_errors": [str(exc.detail)]})
    if isinstance(exc, exceptions.ValidationError):
        invalid = exc.detail
        fields = invalid if isinstance(invalid, dict) else {"non_field_errors": invalid}
        return Response(
            error_body("invalid", _("Invalid input."), {"fields": fields}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    # Throttled.wait is set in its __init__; DRF's stubs do not declare it.
    wait = exc.wait if isinstance(exc, exceptions.Throttled) else None  # type: ignore[attr-defined]
    if wait is not None:
        details["retry_after"] = int(wait + 0.999)
        headers["Retry-After"] = str(details["retry_after"])
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    detail = exc.detail
    if isinstance(detail, dict):
        message = str(detail.get("detail", exc.default_detail))
        details.update({k: v for k, v in detail.items() if k not in ("detail", "code", "messages")})
    elif isinstance(detail, list):
        message = " ".join(str(item) for item in detail)
    else:
        message = str(detail)
    return Response(
        error_body(_code_for(exc), message, details), status=exc.status_code, headers=headers
    )


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception leaves as the one error body."""
    if isinstance(exc, DatabaseOperationalError) and is_lock_conflict(exc):
        # Not an unavailable database: the transaction lost a lock race and was undone.
        logger.warning("Transaction aborted by a lock conflict: %s", exc)
        exc = ConcurrentUpdateError()
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        fields = as_serializer_error(exc)
        if NON_FIELD_ERRORS in fields:  # Django's "__all__" is DRF's non_field_errors
            fields["non_field_errors"] = fields.pop(NON_FIELD_ERRORS)
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, MongoValidationError):
        errors = exc.errors or {"non_field_errors": exc}
        exc = exceptions.ValidationError({name: [str(err)] for name, err in errors.items()})
    elif isinstance(exc, InvalidDocument):
        exc = exceptions.ValidationError({"non_field_errors": [str(exc)]})
    elif isinstance(exc, PyMongoConnectionFailure | DatabaseOperationalError):
        logger.warning("Backing store unavailable: %s: %s", exc.__class__.__name__, exc)
        exc = ServiceUnavailable()
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        response = _api_exception_response(exc)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            # DRF fills WWW-Authenticate only through the view; keep it for 401s.
            view = context.get("view")
            header = view.get_authenticate_header(context["request"]) if view else None
            if header:
                response["WWW-Authenticate"] = header
        return response
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    set_rollback()
    return Response(
        error_body("server_error", _("An unexpected error occurred.")),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# --- Django-level handlers (urls.handler404 etc.): JSON on API paths -----------------


def is_api_path(request) -> bool:
    return request.path.startswith("/api/")


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)
