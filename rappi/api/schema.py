"""OpenAPI: every operation documents the error statuses it can answer, with the one
error body, and the `Idempotency-Key` header where it is honoured; path ids are typed as
the ids they are (integers, or MongoDB's 24 hex digits)."""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.drainage import warn
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from rappi.api.idempotency import HEADER as IDEMPOTENCY_HEADER


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case; clients branch on it")
    message = serializers.CharField()
    details = serializers.DictField(
        help_text="Context; for `invalid`, `fields` maps each field to its messages"
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    """An error status a view declares: the one error body, and what the status means there
    (its codes, in backticks)."""
    return OpenApiResponse(ErrorSerializer, description=description)


# Decimals go out as strings (COERCE_DECIMAL_TO_STRING); computed ones are declared so too.
DECIMAL_STRING = {"type": "string", "format": "decimal"}
RELATIONAL_ID = {"type": "integer", "minimum": 1}
DOCUMENT_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
# URL regexes (as drf-spectacular anchors them) of the two kinds of id.
_RELATIONAL_ID_PATTERNS = {"^[0-9]+$", r"^\d+$"}
_DOCUMENT_ID_PATTERNS = {"^[0-9a-fA-F]{24}$", "^[0-9a-f]{24}$"}
_BLANK = {"type": "string", "maxLength": 0}

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_DESCRIPTIONS = {
    400: "Invalid input (`invalid`, with `details.fields`)",
    401: "Missing or invalid token (`not_authenticated`, `token_invalid`)",
    403: "Not allowed (`permission_denied`)",
    404: "Not found, or outside the caller's scope (`not_found`)",
    409: "State conflict",
    413: "Request body too large (`payload_too_large`)",
    415: "Unsupported media type (`unsupported_media_type`)",
    422: "Idempotency-Key reused for another request (`idempotency_key_reused`)",
    429: "Too many requests (`throttled`)",
    503: "A dependency is unavailable; retry (`service_unavailable`)",
}


def _sends_blank(field) -> bool:
    """A read-only field of a ModelSerializer over a `blank=True` column: DRF leaves
    `allow_blank` off read-only fields, yet the stored value may be ""."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.read_only or not isinstance(field, serializers.CharField):
        return False
    try:
        return model._meta.get_field(field.source).blank
    except FieldDoesNotExist:
        return False


def _is_public(view) -> bool:
    return any(isinstance(p, AllowAny) for p in view.get_permissions())


class AutoSchema(BaseAutoSchema):
    def _view_method(self):
        return getattr(self.view, getattr(self.view, "action", None) or "", None) or getattr(
            self.view, self.method.lower(), None
        )

    def _is_idempotent(self) -> bool:
        return bool(getattr(self._view_method(), "idempotent", False))

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if self._is_idempotent():
            params.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    description="Retry-safe key: a replay returns the first response.",
                )
            )
        return params

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            schema = parameter["schema"]
            if schema.get("type") == "integer" or schema.get("pattern") in _RELATIONAL_ID_PATTERNS:
                parameter["schema"] = dict(RELATIONAL_ID)
            elif schema.get("pattern") in _DOCUMENT_ID_PATTERNS:
                parameter["schema"] = dict(DOCUMENT_ID)
        return parameters

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # A blankable email or pattern becomes `oneOf: [formatted, blank]` with the default
        # left in the formatted branch, where "" fails (and "" may match both branches).
        branches = schema.get("oneOf")
        if branches and branches[-1] == _BLANK:
            if "default" in branches[0]:
                schema["default"] = branches[0].pop("default")
            schema["anyOf"] = schema.pop("oneOf")
        elif _sends_blank(field) and {"format", "pattern", "minLength"} & set(schema):
            outer = {"readOnly", "nullable", "description", "title", "deprecated"}
            formatted = {k: schema.pop(k) for k in list(schema) if k not in outer}
            schema["anyOf"] = [formatted, dict(_BLANK)]

    def _get_response_for_code(
        self, serializer, status_code, media_types=None, direction="response"
    ):
        if not str(status_code).startswith("2"):
            # Every error answers the one JSON error body, whatever the success media type.
            declared = serializer
            if not isinstance(declared, OpenApiResponse):
                declared = OpenApiResponse(declared)
            if declared.response is None:
                warn(
                    f"error status {status_code} declared without its body: "
                    "use rappi.api.schema.error_response"
                )
                serializer = OpenApiResponse(
                    ErrorSerializer,
                    description=declared.description or _DESCRIPTIONS.get(int(status_code), ""),
                    examples=declared.examples,
                )
            media_types = ["application/json"]
        return super()._get_response_for_code(serializer, status_code, media_types, direction)

    def _error_statuses(self) -> set[int]:
        statuses = {429}
        has_params = bool(self.path_regex and "(?P<" in self.path_regex)
        if not _is_public(self.view):
            statuses |= {401, 403}
        if self.method in _BODY_METHODS:
            statuses |= {400, 413, 415}
        if self._is_list_view() and self.method == "GET":
            statuses |= {400, 404}
        if has_params:
            statuses.add(404)
        if self._is_idempotent():
            statuses |= {409, 422}
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in sorted(self._error_statuses()):
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    error_response(_DESCRIPTIONS[status]), str(status)
                )
        return responses


def spec_spelled_paths(endpoints, **kwargs):
    """Preprocessing hook: routes accept both spellings, the schema shows the documented
    one: a trailing slash on collections (`/api/v1/users/`), none elsewhere (`/api/v1/auth/login`,
    `/api/v1/users/{id}`)."""
    spelled = []
    for path, path_regex, method, callback in endpoints:
        actions = set((getattr(callback, "actions", None) or {}).values())
        is_collection = bool(actions & {"list", "create"}) or getattr(
            getattr(callback, "cls", None), "is_collection", False
        )
        if path.endswith("/") and not is_collection:
            path = path[:-1]
        spelled.append((path, path_regex, method, callback))
    return spelled
