import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fleet import selectors, services
from fleet.api import serializers as s
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Availability,
    Driver,
    Incident,
    IncidentOrigin,
    IncidentType,
    Route,
    Vehicle,
    VehicleStatus,
    VehicleType,
)
from orders.models import Order
from rappi.api.filters import StrictBooleanFilter
from rappi.api.permissions import READ, WRITE, require_staff
from rappi.errors import NotFoundError

CONFLICT = OpenApiResponse(description="`vehicle_unavailable`, `user_inactive`, …")


class VehicleFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VehicleStatus.choices)
    type = django_filters.ChoiceFilter(choices=VehicleType.choices)
    is_active = StrictBooleanFilter()

    class Meta:
        model = Vehicle
        fields = ["status", "type", "is_active"]


@extend_schema_view(
    list=extend_schema(responses=s.VehicleOutput(many=True)),
    retrieve=extend_schema(responses=s.VehicleOutput),
    create=extend_schema(request=s.VehicleInput, responses={201: s.VehicleOutput}),
    update=extend_schema(request=s.VehicleUpdateInput, responses=s.VehicleOutput),
    partial_update=extend_schema(request=s.VehicleUpdateInput, responses=s.VehicleOutput),
    destroy=extend_schema(responses={204: None}, summary="Deactivate a vehicle (soft delete)"),
)
class VehicleViewSet(viewsets.ModelViewSet):
    resource = "vehicles"
    serializer_class = s.VehicleOutput
    lookup_value_regex = "[0-9]+"
    filterset_class = VehicleFilter
    search_fields = ["plate"]
    ordering_fields = ["id", "plate", "capacity_kg", "created_at"]
    ordering = ["plate"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Vehicle.objects.none()
        return selectors.vehicle_list_for(user=self.request.user)

    def get_object(self):
        return selectors.vehicle_get_for(user=self.request.user, pk=self.kwargs["pk"])

    def create(self, request):
        data = s.VehicleInput(data=request.data)
        data.is_valid(raise_exception=True)
        vehicle = services.vehicle_create(**data.validated_data)
        return Response(s.VehicleOutput(vehicle).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        vehicle = self.get_object()
        data = s.VehicleUpdateInput(data=request.data, partial=True, context={"instance": vehicle})
        data.is_valid(raise_exception=True)
        return Response(
            s.VehicleOutput(services.vehicle_update(vehicle=vehicle, **data.validated_data)).data
        )

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.vehicle_deactivate(vehicle=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class DriverFilter(django_filters.FilterSet):
    availability = django_filters.ChoiceFilter(choices=Availability.choices)
    is_active = StrictBooleanFilter()
    vehicle_id = django_filters.NumberFilter()

    class Meta:
        model = Driver
        fields = ["availability", "is_active", "vehicle_id"]


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
class DriverViewSet(viewsets.ModelViewSet):
    """Staff manage couriers; a driver sees its own record (`GET /drivers/me`)."""

    resource = "drivers"
    serializer_class = s.DriverOutput
    lookup_value_regex = "[0-9]+"
    filterset_class = DriverFilter
    search_fields = ["user__full_name", "user__email", "licence_number", "phone"]
    ordering_fields = ["id", "created_at", "availability"]
    ordering = ["id"]
    permission_actions = {"me": READ, "set_vehicle": WRITE, "ratings": "ratings:read"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Driver.objects.none()
        return selectors.driver_list_for(user=self.request.user)

    def get_object(self):
        return selectors.driver_get_for(user=self.request.user, pk=self.kwargs["pk"])

    def create(self, request):
        require_staff(request)
        data = s.DriverCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        driver = services.driver_create(by=request.user, **data.validated_data)
        return Response(s.DriverOutput(driver).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        require_staff(request)
        driver = self.get_object()
        data = s.DriverUpdateInput(data=request.data, partial=True, context={"instance": driver})
        data.is_valid(raise_exception=True)
        return Response(
            s.DriverOutput(services.driver_update(driver=driver, **data.validated_data)).data
        )

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
        data = s.DriverVehicleInput(data=request.data)
        data.is_valid(raise_exception=True)
        driver = services.driver_set_vehicle(driver=driver, vehicle=data.validated_data["vehicle"])
        return Response(s.DriverOutput(driver).data)

    @extend_schema(
        responses={200: s.DriverOutput, 404: OpenApiResponse(description="No driver profile")}
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def me(self, request):
        driver = Driver.objects.select_related("user").filter(user=request.user).first()
        if driver is None:
            raise NotFoundError(_("You have no driver profile."))
        return Response(s.DriverOutput(driver).data)

    @extend_schema(responses=s.DriverRatingsOutput)
    @action(detail=True, methods=["get"], pagination_class=None)
    def ratings(self, request, pk=None):
        return Response(
            s.DriverRatingsOutput(selectors.driver_ratings(driver=self.get_object())).data
        )


class AssignmentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AssignmentStatus.choices)
    driver_id = django_filters.NumberFilter()
    vehicle_id = django_filters.NumberFilter()
    order_id = django_filters.NumberFilter(field_name="orders__id")

    class Meta:
        model = Assignment
        fields = ["status", "driver_id", "vehicle_id", "order_id"]


@extend_schema_view(
    list=extend_schema(responses=s.AssignmentOutput(many=True)),
    retrieve=extend_schema(responses=s.AssignmentOutput),
    create=extend_schema(
        request=s.AssignmentCreateInput,
        responses={
            201: s.AssignmentOutput,
            409: OpenApiResponse(
                description="`orders_not_pending`, `driver_unavailable`, `vehicle_unavailable`, "
                "`capacity_exceeded`, `does_not_fit`"
            ),
        },
    ),
    destroy=extend_schema(responses={204: None, 409: CONFLICT}),
)
class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs. Staff see and manage all; a driver sees its own and starts them."""

    resource = "assignments"
    serializer_class = s.AssignmentOutput
    lookup_value_regex = "[0-9]+"
    filterset_class = AssignmentFilter
    ordering_fields = ["id", "created_at", "started_at", "status"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Assignment.objects.none()
        return selectors.assignment_list_for(user=self.request.user)

    def get_object(self):
        return selectors.assignment_get_for(user=self.request.user, pk=self.kwargs["pk"])

    def _output(self, assignment):
        return s.AssignmentOutput(
            selectors.assignment_get_for(user=self.request.user, pk=assignment.pk)
        ).data

    def create(self, request):
        require_staff(request)
        data = s.AssignmentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["order_ids"]
        orders = list(Order.objects.filter(pk__in=ids))
        missing = sorted(set(ids) - {o.pk for o in orders})
        if missing:
            raise NotFoundError(_("No such order(s)."), order_ids=missing)
        assignment = services.assignment_create(
            orders=orders,
            driver=data.validated_data["driver"],
            vehicle=data.validated_data["vehicle"],
            by=request.user,
        )
        return Response(self._output(assignment), status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        require_staff(request)
        services.assignment_delete(assignment=self.get_object())
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
        data = s.AssignmentFinishInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = services.assignment_finish(
            assignment=assignment, reason=data.validated_data["reason"], by=request.user
        )
        return Response(self._output(assignment))

    @extend_schema(
        request=s.AssignmentReopenInput, responses={200: s.AssignmentOutput, 409: CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        require_staff(request)
        assignment = self.get_object()
        data = s.AssignmentReopenInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = services.assignment_reopen(assignment=assignment, **data.validated_data)
        return Response(self._output(assignment))

    @extend_schema(request=None, responses={200: s.RouteOutput, 409: CONFLICT})
    @action(detail=True, methods=["post"], url_path="regenerate-route")
    def regenerate_route(self, request, pk=None):
        require_staff(request)
        route = services.route_plan(assignment=self.get_object())
        return Response(s.RouteOutput(selectors.route_get_for(user=request.user, pk=route.pk)).data)

    @extend_schema(
        request=s.AssignmentCancelInput, responses={200: s.AssignmentOutput, 409: CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        require_staff(request)
        assignment = self.get_object()
        data = s.AssignmentCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = services.assignment_cancel(
            assignment=assignment, reason=data.validated_data["reason"]
        )
        return Response(self._output(assignment))


class IncidentFilter(django_filters.FilterSet):
    assignment_id = django_filters.NumberFilter()
    type = django_filters.ChoiceFilter(choices=IncidentType.choices)
    origin = django_filters.ChoiceFilter(choices=IncidentOrigin.choices)
    severity = django_filters.NumberFilter()
    severity_min = django_filters.NumberFilter(field_name="severity", lookup_expr="gte")

    class Meta:
        model = Incident
        fields = ["assignment_id", "type", "origin", "severity"]


@extend_schema_view(
    list=extend_schema(responses=s.IncidentOutput(many=True)),
    retrieve=extend_schema(responses=s.IncidentOutput),
    create=extend_schema(
        request=s.IncidentCreateInput,
        responses={201: s.IncidentOutput, 404: OpenApiResponse(description="Not the caller's run")},
    ),
    update=extend_schema(request=s.IncidentUpdateInput, responses=s.IncidentOutput),
    partial_update=extend_schema(request=s.IncidentUpdateInput, responses=s.IncidentOutput),
    destroy=extend_schema(responses={204: None}),
)
class IncidentViewSet(viewsets.ModelViewSet):
    """Staff see every incident; a driver those of its own runs, and reports on them."""

    resource = "incidents"
    serializer_class = s.IncidentOutput
    lookup_value_regex = "[0-9]+"
    filterset_class = IncidentFilter
    search_fields = ["notes"]
    ordering_fields = ["id", "created_at", "severity"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Incident.objects.none()
        return selectors.incident_list_for(user=self.request.user)

    def get_object(self):
        return selectors.incident_get_for(user=self.request.user, pk=self.kwargs["pk"])

    def create(self, request):
        data = s.IncidentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = selectors.assignment_get_for(
            user=request.user, pk=data.validated_data["assignment_id"]
        )
        incident = services.incident_report(
            assignment=assignment,
            type=data.validated_data["type"],
            notes=data.validated_data["notes"],
            by=request.user,
        )
        return Response(s.IncidentOutput(incident).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        require_staff(request)
        incident = self.get_object()
        data = s.IncidentUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        incident = services.incident_update(incident=incident, **data.validated_data)
        return Response(s.IncidentOutput(incident).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        require_staff(request)
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(responses=s.RouteOutput(many=True)),
    retrieve=extend_schema(responses=s.RouteOutput),
)
class RouteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Planned routes of runs; a driver sees its own runs' routes and marks stops visited."""

    resource = "routes"
    serializer_class = s.RouteOutput
    lookup_value_regex = "[0-9]+"
    filter_backends = []
    permission_actions = {"plan": WRITE, "visit": WRITE}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Route.objects.none()
        return selectors.route_list_for(user=self.request.user)

    def get_object(self):
        return selectors.route_get_for(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(request=s.RoutePlanInput, responses={201: s.RouteOutput, 404: OpenApiResponse()})
    @action(detail=False, methods=["post"])
    def plan(self, request):
        require_staff(request)
        data = s.RoutePlanInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = selectors.assignment_get_for(
            user=request.user, pk=data.validated_data["assignment_id"]
        )
        route = services.route_plan(assignment=assignment)
        return Response(
            s.RouteOutput(selectors.route_get_for(user=request.user, pk=route.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=s.StopOutput)
    @action(detail=True, methods=["post"], url_path=r"stops/(?P<stop_id>[0-9]+)/visit")
    def visit(self, request, pk=None, stop_id=None):
        route = self.get_object()
        stop = route.stops.filter(pk=stop_id).first()
        if stop is None:
            raise NotFoundError()
        return Response(s.StopOutput(services.stop_visit(stop=stop)).data)
