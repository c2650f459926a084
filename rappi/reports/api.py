"""`/api/v1/reports/…`: one view per report, made from its declaration."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from rappi.api.filters import INT64_MAX
from rappi.api.schema import error_response
from rappi.errors import NotFoundError
from rappi.reports import registry
from rappi.reports.tables import csv_response


class FormatIsAParameter(DefaultContentNegotiation):
    """`?format=csv` (read with the query, not by DRF) or, without a `format`,
    `Accept: text/csv` asks for the CSV; anything else gets JSON, errors included."""

    class settings:
        URL_FORMAT_OVERRIDE = None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _asks_for_csv(request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


class ReportView(APIView):
    resource = "reports"
    content_negotiation_class = FormatIsAParameter
    report_name = ""

    def get(self, request, **path):
        object_id = _object_id(path)
        computed = registry.compute(self.report_name, request.query_params, object_id=object_id)
        # The query's `format`, when given, wins over the Accept header.
        wants_csv = (
            computed.format == "csv" if "format" in request.query_params else _asks_for_csv(request)
        )
        if wants_csv:
            header, rows = computed.csv_table()
            return csv_response(computed.filename(object_id), header, rows)
        return Response(computed.data)


def _object_id(path: dict) -> int | None:
    """A summary's path names its row (`customer_id` or `assignment_id`) in digits, maybe
    more than int() reads (4,300): longer than any id is no row."""
    if not path:
        return None
    digits = next(iter(path.values())).lstrip("0")
    if len(digits) > len(str(INT64_MAX)):
        raise NotFoundError()
    return int(digits or "0")


def view_for(report: registry.ReportDef) -> type[ReportView]:
    responses = {
        (200, "application/json"): report.output,
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR, description="`?format=csv` or `Accept: text/csv`"
        ),
        400: error_response("Bad query (`invalid`)"),
    }
    if report.object:
        responses[404] = error_response(f"No such {report.object} (`not_found`)")
    view = type(
        f"{report.slug.title().replace('-', '')}ReportView",
        (ReportView,),
        {"report_name": report.name, "__doc__": str(report.description)},
    )
    return extend_schema(
        parameters=[report.query],
        responses=responses,
        summary=str(report.title),
        tags=list(report.tags),
    )(view)
