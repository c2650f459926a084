from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import selectors, services
from fleet.api import serializers as s
from fleet.filters import AssignmentFilter, DriverFilter, IncidentFilter, VehicleFilter
from fleet.models import Assignment, Driver, Incident, Route, Vehicle
from orders.models import Order
from orders.selectors import order_get_for
from rappi.api.idempotency import idempotent
from rappi.api.inputs import validated
from rappi.api.parsers import UploadParser
from rappi.api.permissions import READ, WRITE, require_staff
from rappi.api.schema import error_response
from rappi.api.viewsets import ScopedViewSetMixin
from rappi.errors import NotFoundError
from tracking import evidence as evidence_store

CONFLICT = error_response("`vehicle_unavailable`, `user_inactive`, …")
NOT_FOUND = error_response("No such row in the caller's scope")
DELIVERY_CONFLICT = error_response(
    "`assignment_not_in_progress`, or `illegal_transition` for a drop-off "
    "already delivered or failed"
)
ROUTE_CONFLICT = error_response(
    "`route_restricted`: no way round a zone closed to the vehicle today; `route_without_run`"
)
TOO_LARGE = error_response(
    "A file or the whole upload is too large (`payload_too_large`), or its images "
    "have too many pixels (`image_too_large`)"
)
UNSUPPORTED = error_response("A file is not a JPEG, PNG, WebP or PDF")


DELIVERY_RESPONSES = {
    200: s.DeliveryOutput,
    404: NOT_FOUND,
    409: DELIVERY_CONFLICT,
    413: TOO_LARGE,
    415: UNSUPPORTED,
}


def read_upload(upload) -> tuple[str, bytes]:
    """(name, bytes) of an uploaded file, refused before reading when it is too large."""
    limit = evidence_store.max_file_bytes()
    if upload.size > limit:
        raise evidence_store.UploadTooLargeError(
            filename=evidence_store.clean_filename(upload.name or ""), limit_bytes=limit
        )
    return upload.name or "", upload.read()


@extend_schema_view(
    list=extend_schema(responses=s.VehicleOutput(many=True)),
    retrieve=extend_schema(responses=s.VehicleOutput),
    create=extend_schema(request=s.VehicleInput, responses={201: s.VehicleOutput}),
    update=extend_schema(request=s.VehicleUpdateInput, responses=s.VehicleOutput),
    partial_update=extend_schema(request=s.VehicleUpdateInput, responses=s.VehicleOutput),
    destroy=extend_schema(responses={204: None}, summary="Deactivate a vehicle (soft delete)"),
)
class VehicleViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    resource = "vehicles"
    serializer_class = s.VehicleOutput
    filterset_class = VehicleFilter
    ordering_fields = ["id", "plate", "capacity_kg", "created_at"]
    ordering = ["plate"]

    scoped_model = Vehicle
    list_selector = staticmethod(selectors.vehicle_list_for)
    get_selector = staticmethod(selectors.vehicle_get_for)

    def create(self, request):
        data = validated(s.VehicleInput, request.data)
        vehicle = services.vehicle_create(**data)
        return Response(s.VehicleOutput(vehicle).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        vehicle = self.get_object()
        data = validated(
            s.VehicleUpdateInput, request.data, partial=True, context={"instance": vehicle}
        )
        return Response(s.VehicleOutput(services.vehicle_update(vehicle=vehicle, **data)).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.vehicle_deactivate(vehicle=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(responses=s.DriverOutput(many=True)),
    retrieve=extend_schema(responses=s.DriverOutput),
    create=extend_schema(
        request=s.DriverCreateInput, responses={201: s.DriverOutput, 409: CONFLICT}
    ),
    update=extend_schema(
        request=s.DriverUpdateInput, responses={200: s.DriverOutput, 409: CONFLICT}
    ),
    partial_update=extend_schema(
        request=s.DriverUpdateInput, responses={200: s.DriverOutput, 409: CONFLICT}
    ),
    destroy=extend_schema(responses={204: None}, summary="Deactivate a driver and its login"),
)
class DriverViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Staff manage couriers; a driver sees its own record (`GET /drivers/me`)."""

    resource = "drivers"
    serializer_class = s.DriverOutput
    filterset_class = DriverFilter
    ordering_fields = ["id", "created_at", "availability"]
    ordering = ["id"]
    permission_actions = {"me": READ, "set_vehicle": WRITE, "ratings": "ratings:read"}

    scoped_model = Driver
    list_selector = staticmethod(selectors.driver_list_for)
    get_selector = staticmethod(selectors.driver_get_for)

    def create(self, request):
        require_staff(request)
        data = validated(s.DriverCreateInput, request.data)
        driver = services.driver_create(by=request.user, **data)
        return Response(s.DriverOutput(driver).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        require_staff(request)
        driver = self.get_object()
        data = validated(
            s.DriverUpdateInput, request.data, partial=True, context={"instance": driver}
        )
        return Response(s.DriverOutput(services.driver_update(driver=driver, **data)).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        require_staff(request)
        services.driver_deactivate(driver=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.DriverVehicleInput, responses={200: s.DriverOutput, 409: CONFLICT})
    @action(detail=True, methods=["put"], url_path="vehicle")
    def set_vehicle(self, request, pk=None):
        require_staff(request)
        driver = self.get_object()
        data = validated(s.DriverVehicleInput, request.data)
        driver = services.driver_set_vehicle(driver=driver, vehicle=data["vehicle"])
        return Response(s.DriverOutput(driver).data)

    @extend_schema(responses={200: s.DriverOutput, 404: error_response("No driver profile")})
    @action(detail=False, methods=["get"], pagination_class=None)
    def me(self, request):
        return Response(s.DriverOutput(selectors.driver_own_profile(user=request.user)).data)

    @extend_schema(responses=s.DriverRatingsOutput)
    @action(detail=True, methods=["get"], pagination_class=None)
    def ratings(self, request, pk=None):
        return Response(
            s.DriverRatingsOutput(selectors.driver_ratings(driver=self.get_object())).data
        )


def _orders_or_404(ids: list[int]) -> list[Order]:
    orders = list(Order.objects.filter(pk__in=ids))
    missing = sorted(set(ids) - {o.pk for o in orders})
    if missing:
        raise NotFoundError(_("No such order(s)."), order_ids=missing)
    return orders


@extend_schema_view(
    list=extend_schema(responses=s.AssignmentOutput(many=True)),
    retrieve=extend_schema(responses=s.AssignmentOutput),
    create=extend_schema(
        request=s.AssignmentCreateInput,
        responses={
            201: s.AssignmentOutput,
            409: error_response(
                "`orders_not_pending`, `driver_unavailable` (busy, or on a live "
                "run: `assignment_id`), `vehicle_unavailable`, `vehicle_busy` (on another live "
                "run: `assignment_id`, `status`), `capacity_exceeded`, `does_not_fit`, "
                "`vehicle_restricted`, `route_restricted`"
            ),
        },
    ),
    destroy=extend_schema(responses={204: None, 409: CONFLICT}),
)
class AssignmentViewSet(
    ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Runs. Staff see and manage all; a driver sees its own and starts them."""

    resource = "assignments"
    serializer_class = s.AssignmentOutput
    filterset_class = AssignmentFilter
    ordering_fields = ["id", "created_at", "started_at", "status"]
    ordering = ["-created_at"]

    scoped_model = Assignment
    list_selector = staticmethod(selectors.assignment_list_for)
    get_selector = staticmethod(selectors.assignment_get_for)

    def _output(self, assignment):
        return s.AssignmentOutput(
            selectors.assignment_get_for(user=self.request.user, pk=assignment.pk)
        ).data

    def create(self, request):
        require_staff(request)
        data = validated(s.AssignmentCreateInput, request.data)
        assignment = services.assignment_create(
            orders=_orders_or_404(data["order_ids"]),
            driver=data["driver"],
            vehicle=data["vehicle"],
            by=request.user,
        )
        return Response(self._output(assignment), status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        require_staff(request)
        services.assignment_delete(assignment=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.AssignmentOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        assignment = self.get_object()  # a driver only reaches its own runs
        return Response(
            self._output(services.assignment_start(assignment=assignment, by=request.user))
        )

    @extend_schema(
        request=s.AssignmentFinishInput, responses={200: s.AssignmentOutput, 409: CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def finish(self, request, pk=None):
        require_staff(request)
        assignment = self.get_object()
        data = validated(s.AssignmentFinishInput, request.data)
        assignment = services.assignment_finish(
            assignment=assignment, reason=data["reason"], by=request.user
        )
        return Response(self._output(assignment))

    @extend_schema(
        request=s.AssignmentReopenInput,
        responses={
            200: s.AssignmentOutput,
            409: error_response(
                "`illegal_transition` (not finished), `driver_unavailable`, "
                "`vehicle_unavailable`, `vehicle_busy` (its vehicle is on another live run)"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        require_staff(request)
        assignment = self.get_object()
        data = validated(s.AssignmentReopenInput, request.data)
        assignment = services.assignment_reopen(assignment=assignment, by=request.user, **data)
        return Response(self._output(assignment))

    @extend_schema(request=None, responses={200: s.RouteOutput, 409: ROUTE_CONFLICT})
    @action(detail=True, methods=["post"], url_path="regenerate-route")
    def regenerate_route(self, request, pk=None):
        require_staff(request)
        route = services.route_plan(assignment=self.get_object())
        return Response(s.RouteOutput(selectors.route_get_for(user=request.user, pk=route.pk)).data)

    def _delivery(self, *, destination_id, serializer, record):
        """Validate an upload form, let `record` apply it, answer the drop-off's new state."""
        assignment = self.get_object()  # a driver only reaches its own runs
        fields = validated(serializer, self.request.data)
        for name in ("photo", "signature"):
            if fields.get(name) is not None:
                fields[name] = read_upload(fields[name])
        destination = record(
            assignment=assignment,
            destination_id=int(destination_id),
            by=self.request.user,
            **fields,
        )
        order = Order.objects.get(pk=destination.order_id)
        assignment.refresh_from_db()
        proofs = [
            p for p in selectors.proofs_for_order(order=order) if p.destination_id == destination.pk
        ]
        return Response(
            s.DeliveryOutput(
                {
                    "destination": destination,
                    "order": order,
                    "assignment": assignment,
                    "proofs": proofs,
                }
            ).data
        )

    @extend_schema(
        request={"multipart/form-data": s.DeliverInput},
        responses=DELIVERY_RESPONSES,
        summary="Deliver a drop-off with a photo (and signature) as proof",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"destinations/(?P<destination_id>[0-9]+)/deliver",
        parser_classes=[UploadParser],
    )
    @idempotent
    def deliver(self, request, pk=None, destination_id=None):
        return self._delivery(
            destination_id=destination_id,
            serializer=s.DeliverInput,
            record=services.destination_deliver,
        )

    @extend_schema(
        request={"multipart/form-data": s.FailInput},
        responses=DELIVERY_RESPONSES,
        summary="Record a failed drop-off with a photo; an incident is recorded",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"destinations/(?P<destination_id>[0-9]+)/fail",
        parser_classes=[UploadParser],
    )
    @idempotent
    def fail(self, request, pk=None, destination_id=None):
        return self._delivery(
            destination_id=destination_id, serializer=s.FailInput, record=services.destination_fail
        )

    @extend_schema(responses=s.EvidenceOutput(many=True), summary="Proofs of a run's drop-offs")
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def proofs(self, request, pk=None):
        proofs = selectors.proofs_for_run(assignment=self.get_object())
        return Response(s.EvidenceOutput(proofs, many=True).data)

    @extend_schema(
        parameters=[s.SuggestionQuery],
        responses={
            200: s.SuggestionsOutput,
            400: error_response("Bad query parameter (`invalid`)"),
            404: error_response("No such order"),
        },
        summary="Staff: drivers ranked for an order (restriction, fit, capacity, distance, rating)",
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def suggestions(self, request):
        require_staff(request)
        query = validated(s.SuggestionQuery, request.query_params)
        order = order_get_for(user=request.user, pk=query["order_id"])
        return Response(
            s.SuggestionsOutput(
                selectors.driver_suggestions(
                    order=order,
                    limit=query["limit"],
                    only_fit=query["only_fit"],
                )
            ).data
        )

    @extend_schema(
        request=s.AssignmentCancelInput, responses={200: s.AssignmentOutput, 409: CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        require_staff(request)
        assignment = self.get_object()
        data = validated(s.AssignmentCancelInput, request.data)
        assignment = services.assignment_cancel(
            assignment=assignment, reason=data["reason"], by=request.user
        )
        return Response(self._output(assignment))


@extend_schema_view(
    list=extend_schema(responses=s.IncidentOutput(many=True)),
    retrieve=extend_schema(responses=s.IncidentOutput),
    create=extend_schema(
        request=s.IncidentCreateInput,
        responses={
            201: s.IncidentOutput,
            404: error_response("Not the caller's run"),
            409: error_response(
                "`run_closed`: a driver reports on its runs still to be driven "
                "(assigned, in progress); staff on any run but one cancelled before it started"
            ),
        },
    ),
    update=extend_schema(request=s.IncidentUpdateInput, responses=s.IncidentOutput),
    partial_update=extend_schema(request=s.IncidentUpdateInput, responses=s.IncidentOutput),
    destroy=extend_schema(responses={204: None}),
)
class IncidentViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Staff see every incident; a driver those of its own runs, and reports on them."""

    resource = "incidents"
    # A driver may remove what it uploaded by mistake; deleting incidents stays staff work.
    permission_actions = {"delete_evidence": WRITE}
    serializer_class = s.IncidentOutput
    filterset_class = IncidentFilter
    search_fields = ["notes"]
    ordering_fields = ["id", "created_at", "severity"]
    ordering = ["-created_at"]

    scoped_model = Incident
    list_selector = staticmethod(selectors.incident_list_for)
    get_selector = staticmethod(selectors.incident_get_for)

    def create(self, request):
        data = validated(s.IncidentCreateInput, request.data)
        assignment = selectors.assignment_get_for(user=request.user, pk=data["assignment_id"])
        incident = services.incident_report(
            assignment=assignment,
            type=data["type"],
            notes=data["notes"],
            by=request.user,
        )
        return Response(s.IncidentOutput(incident).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        require_staff(request)
        incident = self.get_object()
        data = validated(s.IncidentUpdateInput, request.data, partial=True)
        incident = services.incident_update(incident=incident, **data)
        return Response(s.IncidentOutput(incident).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        require_staff(request)
        services.incident_delete(incident=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.EvidenceOutput(many=True), summary="An incident's evidence")
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        filter_backends=[],
        parser_classes=[UploadParser],  # for the POST mapped below
    )
    def evidence(self, request, pk=None):
        records = selectors.evidence_for_incident(incident=self.get_object())
        return Response(s.EvidenceOutput(records, many=True).data)

    @extend_schema(
        request={"multipart/form-data": s.IncidentEvidenceInput},
        responses={201: s.EvidenceOutput, 404: NOT_FOUND, 413: TOO_LARGE, 415: UNSUPPORTED},
        summary="Attach files (several) to an incident",
    )
    @evidence.mapping.post
    @idempotent
    def add_evidence(self, request, pk=None):
        incident = self.get_object()
        data = validated(s.IncidentEvidenceInput, request.data)
        record = services.incident_evidence_add(
            incident=incident,
            kind=data["kind"],
            uploads=[read_upload(upload) for upload in data["files"]],
            note=data["note"],
            by=request.user,
        )
        return Response(s.EvidenceOutput(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            204: None,
            404: NOT_FOUND,
            409: error_response("`proof_of_delivery`: kept with its run"),
        },
        summary="Delete evidence and its files",
    )
    @action(detail=True, methods=["delete"], url_path=r"evidence/(?P<evidence_id>[0-9a-fA-F]{24})")
    def delete_evidence(self, request, pk=None, evidence_id=None):
        services.incident_evidence_delete(
            incident=self.get_object(), evidence_id=evidence_id, by=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(responses=s.RouteOutput(many=True)),
    retrieve=extend_schema(responses=s.RouteOutput),
)
class RouteViewSet(
    ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Planned routes of runs; a driver sees its own runs' routes and marks stops visited."""

    resource = "routes"
    serializer_class = s.RouteOutput
    filter_backends = []
    permission_actions = {"plan": WRITE, "visit": WRITE, "optimize": WRITE, "sequence": WRITE}

    scoped_model = Route
    list_selector = staticmethod(selectors.route_list_for)
    get_selector = staticmethod(selectors.route_get_for)

    @extend_schema(
        request=s.RoutePlanInput,
        responses={201: s.RouteOutput, 404: NOT_FOUND, 409: ROUTE_CONFLICT},
    )
    @action(detail=False, methods=["post"])
    def plan(self, request):
        require_staff(request)
        data = validated(s.RoutePlanInput, request.data)
        if "order_ids" in data:
            route = services.route_plan_for_orders(orders=_orders_or_404(data["order_ids"]))
        else:
            assignment = selectors.assignment_get_for(user=request.user, pk=data["assignment_id"])
            route = services.route_plan(assignment=assignment)
        return Response(
            s.RouteOutput(selectors.route_get_for(user=request.user, pk=route.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def _route_output(self, route):
        return Response(
            s.RouteOutput(selectors.route_get_for(user=self.request.user, pk=route.pk)).data
        )

    @extend_schema(
        request=None,
        responses={200: s.RouteOutput, 409: ROUTE_CONFLICT},
        summary="Re-optimise the pending stops after the last visited one",
    )
    @action(detail=True, methods=["post"])
    def optimize(self, request, pk=None):
        require_staff(request)
        return self._route_output(services.route_optimize(route=self.get_object()))

    @extend_schema(
        request=s.RouteSequenceInput,
        responses={200: s.RouteOutput, 409: ROUTE_CONFLICT},
        summary="Put the pending stops in the dispatcher's order",
    )
    @action(detail=True, methods=["put"])
    def sequence(self, request, pk=None):
        require_staff(request)
        route = self.get_object()
        data = validated(s.RouteSequenceInput, request.data)
        route = services.route_resequence(route=route, stop_ids=data["stop_ids"])
        return self._route_output(route)

    @extend_schema(
        request=None,
        responses={
            200: s.StopOutput,
            404: NOT_FOUND,
            409: error_response(
                "`assignment_not_in_progress` (`status`), `route_without_run`, "
                "`delivery_stop_needs_proof` (deliver or fail the drop-off: `deliver_url`, "
                "`fail_url`), `illegal_transition` (a skipped pickup)"
            ),
        },
        summary="Mark a pickup of a run in progress visited (its loads collected)",
    )
    @action(detail=True, methods=["post"], url_path=r"stops/(?P<stop_id>[0-9]+)/visit")
    def visit(self, request, pk=None, stop_id=None):
        route = self.get_object()
        stop = route.stops.filter(pk=stop_id).first()
        if stop is None:
            raise NotFoundError()
        return Response(s.StopOutput(services.stop_visit(stop=stop)).data)


class StoredTypeNegotiation(BaseContentNegotiation):
    """The bytes go out in their stored type whatever the client's `Accept` (DRF would
    refuse `Accept: image/jpeg` with a 406: only its JSON renderer is listed); an error
    before them is the JSON error body."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(
    responses={
        # Stored files are JPEG or PDF; the generic type lets clients take any bytes.
        (200, "application/octet-stream"): OpenApiTypes.BINARY,
        (200, "image/jpeg"): OpenApiTypes.BINARY,
        (200, "application/pdf"): OpenApiTypes.BINARY,
        404: NOT_FOUND,
    },
    summary="Download an evidence file (streamed; checked against its owner's scope)",
)
class FileDownloadView(APIView):
    """Bytes of a proof or incident file for staff, the run's driver or the order's customer."""

    resource = None  # the owner row's scope decides, in the selector
    content_negotiation_class = StoredTypeNegotiation

    def get(self, request, file_id):
        stored, _record, stream = selectors.evidence_file_for(user=request.user, file_id=file_id)
        response = FileResponse(
            stream, as_attachment=True, filename=stored.filename, content_type=stored.content_type
        )
        response["Content-Length"] = str(stored.size)
        response["ETag"] = f'"{stored.sha256}"'
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response


@extend_schema(
    responses={200: s.EvidenceOutput(many=True), 404: NOT_FOUND},
    summary="Proofs of delivery of an order (its customer and staff)",
)
class OrderProofsView(APIView):
    resource = "orders"

    def get(self, request, order_id):
        order = order_get_for(user=request.user, pk=order_id)
        return Response(s.EvidenceOutput(selectors.proofs_for_order(order=order), many=True).data)
