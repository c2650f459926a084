from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from rappi.api.idempotency import idempotent
from rappi.api.inputs import validated
from rappi.api.permissions import require_staff
from rappi.api.schema import error_response
from rappi.errors import NotFoundError
from tracking import pings, selectors, services
from tracking.api import serializers as s

NOT_FOUND = error_response("No such run (or order) in the caller's scope (`not_found`)")
BAD_QUERY = error_response("Bad query parameter (`invalid`, with `details.fields`)")


@extend_schema(
    request=PolymorphicProxySerializer(
        component_name="PingsInput",
        serializers=[s.PingInput, s.PingBatchInput],
        resource_type_field_name=None,
    ),
    responses={
        202: s.PingIngestOutput,
        403: error_response("Not a driver (`permission_denied`)"),
        404: error_response("Not the caller's run (`not_found`)"),
        409: error_response("`assignment_not_in_progress`, or `idempotency_in_progress`"),
        413: error_response("More than 500 fixes (`payload_too_large`)"),
    },
    summary="Send one fix, or a batch of up to 500, of the caller's run in progress",
)
class PingIngestView(APIView):
    """The driver's phone streams fixes, or uploads what it buffered while offline. Each
    fix is accepted or rejected with a reason; driver and plate come from the run."""

    resource = "tracking"

    @idempotent
    def post(self, request):
        selectors.require_driver(request.user)  # 403 before anything about the body
        assignment_id, fixes = s.parse_fixes(request.data)
        run = selectors.ping_run_for(user=request.user, assignment_id=assignment_id)
        result = services.pings_record(run=run, fixes=fixes)
        return Response(s.PingIngestOutput(result).data, status=status.HTTP_202_ACCEPTED)


class _FormatIsAParameter(DefaultContentNegotiation):
    """Here `?format=` chooses the shape of the track, not a renderer."""

    class settings:
        URL_FORMAT_OVERRIDE = None


@extend_schema(
    parameters=[s.TrackQuery],
    responses={
        200: PolymorphicProxySerializer(
            component_name="Track",
            serializers=[s.PingOutput(many=True), s.TrackFeatureOutput],
            resource_type_field_name=None,
            many=False,
        ),
        400: BAD_QUERY,
        404: NOT_FOUND,
    },
    summary="A run's fixes in recorded-time order (or one GeoJSON LineString Feature)",
)
class RunTrackView(APIView):
    """Staff and the run's driver."""

    resource = "tracking"
    content_negotiation_class = _FormatIsAParameter

    def get(self, request, assignment_id):
        run = selectors.track_run_for(user=request.user, assignment_id=assignment_id)
        query = validated(s.TrackQuery, request.query_params)
        track = pings.track_for(
            assignment_id=run.pk,
            since=query.get("since"),
            until=query.get("until"),
            limit=query["limit"],
        )
        if query["format"] == "json":
            return Response(s.PingOutput(track, many=True).data)
        feature = {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [[fix["lng"], fix["lat"]] for fix in track],
            },
            "properties": {
                "assignment_id": run.pk,
                "driver_id": run.driver_id,
                "vehicle_plate": run.vehicle.plate,
                "pings": len(track),
                "recorded_at": [fix["recorded_at"] for fix in track],
            },
        }
        return Response(s.TrackFeatureOutput(feature).data)


@extend_schema(
    responses={
        200: s.LastFixOutput,
        404: error_response("No such run, or no fix yet (`not_found`)"),
    },
    summary="A run's latest fix (by device time)",
)
class RunLastFixView(APIView):
    resource = "tracking"

    def get(self, request, assignment_id):
        run = selectors.track_run_for(user=request.user, assignment_id=assignment_id)
        doc = pings.last_fix_for(assignment_id=run.pk)
        if doc is None:
            raise NotFoundError(_("This run has no fix yet."), assignment_id=run.pk)
        fix = pings.fix_output(doc, now=timezone.now())
        body = {**fix, "assignment_id": run.pk, "driver_id": run.driver_id}
        return Response(s.LastFixOutput({**body, "vehicle_plate": doc["vehicle_plate"]}).data)


@extend_schema(
    responses={200: s.TrackStatsOutput, 404: NOT_FOUND},
    summary="A run's track in numbers: fixes, distance, duration, average speed",
)
class RunTrackStatsView(APIView):
    resource = "tracking"

    def get(self, request, assignment_id):
        run = selectors.track_run_for(user=request.user, assignment_id=assignment_id)
        stats = pings.track_stats(assignment_id=run.pk)
        return Response(s.TrackStatsOutput({**stats, "assignment_id": run.pk}).data)


@extend_schema(
    parameters=[s.FleetQuery],
    responses={200: s.FleetEntryOutput(many=True), 400: BAD_QUERY},
    summary="Staff: every run in progress with its driver's last fix and route",
)
class FleetView(APIView):
    """The live map: not paginated (a map wants every run at once)."""

    resource = "tracking"

    def get(self, request):
        require_staff(request)
        query = validated(s.FleetQuery, request.query_params)
        entries = selectors.fleet_entries(stale=query["stale"])
        return Response(s.FleetEntryOutput(entries, many=True).data)


@extend_schema(
    parameters=[s.NearbyQuery],
    responses={200: s.NearbyDriverOutput(many=True), 400: BAD_QUERY},
    summary="Staff: drivers whose last fix is recent and within a radius, nearest first",
)
class NearbyDriversView(APIView):
    resource = "tracking"

    def get(self, request):
        require_staff(request)
        query = validated(s.NearbyQuery, request.query_params)
        drivers = selectors.nearby_drivers(**query)
        return Response(s.NearbyDriverOutput(drivers, many=True).data)


@extend_schema(
    responses={200: s.OrderTrackingOutput, 404: NOT_FOUND},
    summary="An order's tracking: its run, the driver's position, stops and ETA, proofs",
)
class OrderTrackingView(APIView):
    """The order's customer, staff, and the driver of a run carrying it."""

    resource = "tracking"

    def get(self, request, order_id):
        tracking = selectors.order_tracking_for(user=request.user, order_id=order_id)
        return Response(s.OrderTrackingOutput(tracking).data)
