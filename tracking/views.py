"""The console's geofence pages (the JSON API is in tracking/api/): the zones staff draw
and the route corridors routing keeps, read-only here (the map editor comes with the maps),
and each geofence's recent enter/exit events. Holders of `geofences:read`."""

from django.http import Http404
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from fleet.selectors import driver_list_for
from rappi.console.access import console_page
from rappi.console.lists import page_of
from rappi.console.queries import QueryFilters, mongo_backed
from rappi.errors import NotFoundError
from tracking import events, geofences
from tracking.api.geofence_serializers import GeofenceEventFilterInput, GeofenceFilterInput
from tracking.documents import Geofence, GeofenceEvent
from tracking.forms import EVENT_LABELS, KIND_LABELS, GeofenceEventFilterForm, GeofenceFilterForm

CORRIDORS_PAGE = "corridors_page"


@require_GET
@console_page("geofences")
@mongo_backed
def geofence_list(request):
    """Zones by kind and name; corridors apart, newest first (one per planned run). Two
    MongoDB reads per list (count, page), outlines left out; no SQL beyond the session's."""
    filters = QueryFilters(GeofenceFilterInput, GeofenceFilterForm, request)
    zones = corridors = Geofence.objects.none()
    if filters.is_valid():
        found = geofences.geofence_list(**filters.data).exclude("geometry")
        zones = found.filter(kind__in=geofences.ZONE_KINDS).order_by("kind", "name", "id")
        corridors = found.filter(kind=geofences.ROUTE_CORRIDOR).order_by("-updated_at", "-id")
    zone_page = page_of(request, zones)
    corridor_page = page_of(request, corridors, param=CORRIDORS_PAGE)
    for geofence in [*zone_page.object_list, *corridor_page.object_list]:
        _label(geofence)
    return render(
        request,
        "tracking/geofence_list.html",
        {"filters": filters, "page_obj": zone_page, "corridor_page": corridor_page},
    )


@require_GET
@console_page("geofences")
@mongo_backed
def geofence_detail(request, pk: str):
    """A geofence and its enter/exit events, newest first: two MongoDB reads for the
    events and one SQL query for their drivers, whatever the page size."""
    try:
        geofence = geofences.geofence_get(pk=pk)
    except NotFoundError:
        raise Http404 from None
    _label(geofence)
    filters = QueryFilters(GeofenceEventFilterInput, GeofenceEventFilterForm, request)
    found = GeofenceEvent.objects.none()
    if filters.is_valid():
        query = dict(filters.data)
        ordering = query.pop("ordering")
        found = events.event_list_for(geofence=geofence, **query).order_by(
            ordering, ordering.replace("at", "id")
        )
    page = page_of(request, found)
    page.object_list = list(page.object_list)
    drivers = driver_list_for(user=request.user).in_bulk(
        {event.driver_id for event in page.object_list}
    )
    for event in page.object_list:
        event.type_label = EVENT_LABELS.get(event.type, event.type)
        event.driver = drivers.get(event.driver_id)
        event.run_url = _run_url(event.assignment_id)
    return render(
        request,
        "tracking/geofence_detail.html",
        {
            "geofence": geofence,
            "filters": filters,
            "page_obj": page,
        },
    )


def _label(geofence: Geofence) -> None:
    geofence.kind_label = KIND_LABELS.get(geofence.kind, geofence.kind)
    geofence.managed = geofence.kind == geofences.ROUTE_CORRIDOR
    geofence.run_url = _run_url(geofence.assignment_id)


def _run_url(assignment_id: int | None) -> str | None:
    if assignment_id is None:
        return None
    try:
        return reverse("console:run", args=[assignment_id])
    except NoReverseMatch:  # the run page is not there: the number is shown alone
        return None
