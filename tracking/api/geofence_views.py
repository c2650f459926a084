from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rappi.api.filters import OrderingFilter, SearchFilter
from rappi.api.inputs import validated
from rappi.api.permissions import READ, require_staff
from rappi.api.schema import error_response
from tracking import events, geofences, services
from tracking.api import geofence_serializers as s

MANAGED = error_response(
    "`geofence_managed`: a route corridor's outline, kind and tolerance follow its route"
)


@extend_schema_view(
    list=extend_schema(
        parameters=[s.GeofenceFilterInput],
        responses=s.GeofenceOutput(many=True),
        summary="Geofences: route corridors, delivery zones, forbidden and restriction zones",
    ),
    retrieve=extend_schema(responses=s.GeofenceOutput),
    create=extend_schema(
        request=s.GeofenceInput,
        responses={201: s.GeofenceOutput},
        summary="Draw a delivery, forbidden or vehicle-restriction zone",
    ),
    update=extend_schema(
        request=s.GeofenceUpdateInput, responses={200: s.GeofenceOutput, 409: MANAGED}
    ),
    partial_update=extend_schema(
        request=s.GeofenceUpdateInput, responses={200: s.GeofenceOutput, 409: MANAGED}
    ),
    destroy=extend_schema(
        responses={204: None}, summary="Deactivate a geofence (soft delete: it stops counting)"
    ),
)
class GeofenceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Staff only, reads included: zones and other runs' corridors are operational data. A
    driver or customer sees its run's corridor in `/tracking/orders/{id}`."""

    resource = "geofences"
    permission_actions = {"containing": READ, "events": READ}
    serializer_class = s.GeofenceOutput
    filter_backends = [SearchFilter, OrderingFilter]
    search_fields = ["name"]
    ordering_fields = ["name", "kind", "created_at", "updated_at"]
    ordering = ["name"]
    # MongoDB ids: 24 hex digits; anything else is no geofence (and never `containing`).
    lookup_value_regex = "[0-9a-fA-F]{24}"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        require_staff(request)

    def get_queryset(self):
        return geofences.geofence_list(
            **validated(s.GeofenceFilterInput, self.request.query_params)
        )

    def get_object(self):
        return geofences.geofence_get(pk=self.kwargs["pk"])

    def create(self, request):
        data = validated(s.GeofenceInput, request.data)
        geofence = services.geofence_create(**data)
        return Response(s.GeofenceOutput(geofence).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        geofence = self.get_object()
        data = validated(s.GeofenceUpdateInput, request.data, partial=partial)
        geofence = services.geofence_update(geofence=geofence, **data)
        return Response(s.GeofenceOutput(geofence).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.geofence_deactivate(geofence=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[s.ContainingInput],
        responses=s.GeofenceOutput(many=True),
        summary="Active geofences holding a point (its border included)",
    )
    @action(detail=False, methods=["get"], filter_backends=[])
    def containing(self, request):
        query = validated(s.ContainingInput, request.query_params)
        found = geofences.geofences_containing(
            lat=query["lat"], lng=query["lng"], kind=query.get("kind")
        )
        page = self.paginate_queryset(found)
        return self.get_paginated_response(s.GeofenceOutput(page, many=True).data)

    @extend_schema(
        parameters=[s.GeofenceEventFilterInput],
        responses=s.GeofenceEventOutput(many=True),
        summary="Enter/exit history of a geofence (newest first by default)",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request, pk=None):
        geofence = self.get_object()
        query = validated(s.GeofenceEventFilterInput, request.query_params)
        found = events.event_list_for(geofence=geofence, **query)
        page = self.paginate_queryset(found)
        return self.get_paginated_response(s.GeofenceEventOutput(page, many=True).data)
