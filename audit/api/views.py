from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import selectors
from audit.api import serializers as s
from rappi.api.inputs import validated
from rappi.api.schema import error_response

_MONGO_DOWN = error_response("MongoDB unreachable (`service_unavailable`)")
_RANGE = [
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Inclusive (ISO 8601)"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Exclusive (ISO 8601)"),
]


@extend_schema(
    tags=["audit"],
    summary="Audit records, newest first",
    parameters=[
        OpenApiParameter("user_id", OpenApiTypes.INT),
        OpenApiParameter("path", OpenApiTypes.STR, description="Path prefix"),
        OpenApiParameter("method", OpenApiTypes.STR, enum=s.HTTP_METHODS),
        OpenApiParameter(
            "status_code",
            OpenApiTypes.STR,
            description='A status ("404") or a status class ("5xx")',
            pattern=s.STATUS_PATTERN,
        ),
        *_RANGE,
        OpenApiParameter("kind", OpenApiTypes.STR, enum=("request", "domain")),
        OpenApiParameter("action", OpenApiTypes.STR, description='e.g. "tariff.update"'),
        OpenApiParameter("target_type", OpenApiTypes.STR, description='e.g. "order"'),
        OpenApiParameter("target_id", OpenApiTypes.STR),
        OpenApiParameter("request_id", OpenApiTypes.STR),
    ],
    responses={200: s.AuditEventOutput(many=True), 503: _MONGO_DOWN},
)
class AuditEventListView(generics.ListAPIView):
    """Every request and domain record (docs/domain.md, Audit), for holders of `audit:read`."""

    resource = "audit"
    serializer_class = s.AuditEventOutput
    filter_backends = []  # the filters below are the whole contract

    def get_queryset(self):
        params = validated(s.AuditEventFilterInput, self.request.query_params)
        return selectors.audit_event_list(filters=params)


class AuditSummaryView(APIView):
    resource = "audit"

    @extend_schema(
        tags=["audit"],
        summary="Request figures over a time range (default: the last 24 hours)",
        parameters=_RANGE,
        responses={
            200: s.AuditSummaryOutput,
            400: error_response("Invalid range (`invalid`)"),
            503: _MONGO_DOWN,
        },
    )
    def get(self, request):
        params = validated(s.AuditSummaryInput, request.query_params)
        since, until = selectors.summary_window(**params)
        if since >= until:
            raise ValidationError({"since": [_("Must be before `until` (default: now).")]})
        summary = selectors.audit_summary(since=since, until=until)
        return Response(s.AuditSummaryOutput(summary).data)


class AuditStatusView(APIView):
    """What `/readyz` does not tell the public: the writer's spool and counts."""

    resource = "audit"

    @extend_schema(
        tags=["audit"],
        summary="The audit writer: spool depth on this host, counts of the answering worker",
        responses={200: s.AuditStatusOutput},
    )
    def get(self, request):
        return Response(s.AuditStatusOutput(selectors.audit_status()).data)
