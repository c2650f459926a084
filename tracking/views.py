"""The console's tracking pages (the JSON API is in tracking/api/): the live fleet map
with "drivers near here" (holders of `tracking:read`); the zones staff draw and the route
corridors routing keeps, on a map and in lists, and each geofence's recent enter/exit events
(`geofences:read`); the zone editor, drawing on the map or pasting GeoJSON, saving through
the geofence services with the API's own validation (`geofences:write`)."""

import json
from datetime import timedelta
from types import SimpleNamespace

import shapely
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from shapely.geometry import Polygon

from fleet.selectors import driver_list_for
from rappi.api.permissions import DELETE, WRITE
from rappi.console import maps
from rappi.console.access import console_page
from rappi.console.actions import perform
from rappi.console.lists import page_of
from rappi.console.queries import QueryFilters, mongo_backed
from rappi.errors import DomainError, NotFoundError
from tracking import events, geofences, selectors, services
from tracking.api.geofence_serializers import (
    GeofenceEventFilterInput,
    GeofenceFilterInput,
    GeofenceInput,
    GeofenceUpdateInput,
)
from tracking.api.serializers import NearbyQuery
from tracking.documents import Geofence, GeofenceEvent
from tracking.forms import (
    EVENT_LABELS,
    KIND_LABELS,
    GeofenceEventFilterForm,
    GeofenceFilterForm,
    GeofenceForm,
    NearbyForm,
)
from tracking.geofences import InvalidGeofenceError

CORRIDORS_PAGE = "corridors_page"
# The editor shows this many other zones and active corridors for reference.
EDITOR_ZONES, EDITOR_CORRIDORS = 200, 50
# The list counts each geofence's enter/exit events over this much time.
RECENT_EVENTS = timedelta(hours=24)


@require_GET
@console_page("tracking")
@mongo_backed
def fleet_map(request):
    """Every run in progress on a map and in a list, refreshed in place every 10 s; with a
    point (a click on the map, or typed), the drivers whose recent fix is near it, nearest
    first. The API's selectors: one SQL query and one MongoDB read for the fleet, as many
    again for the drivers nearby, whatever their numbers."""
    runs = selectors.fleet_entries()
    for run in runs:
        run["age"] = maps.fix_age(run["age_s"])
        run["url"] = reverse("console:run", args=[run["assignment_id"]])
    nearby, nearby_query = None, None
    if request.GET.get("lat") or request.GET.get("lng"):
        nearby_query = QueryFilters(NearbyQuery, NearbyForm, request)
        if nearby_query.is_valid():
            nearby = selectors.nearby_drivers(**nearby_query.data)
            for driver in nearby:
                driver["age"] = maps.fix_age(driver["age_s"])
    form = nearby_query.form if nearby_query else NearbyForm(initial={"radius_m": 2000})
    context = {
        "runs": runs,
        "nearby": nearby,
        "nearby_form": form,
        "scene": _fleet_scene(runs, nearby, nearby_query.data if nearby is not None else None),
    }
    if request.htmx:
        return render(request, "tracking/_fleet_live.html", context)
    return render(request, "tracking/fleet_map.html", context)


def _fleet_scene(runs: list[dict], nearby: list[dict] | None, point: dict | None) -> dict:
    markers = [
        maps.vehicle(
            run, plate=run["vehicle_plate"], driver_name=run["driver_name"], url=run["url"]
        )
        for run in runs
        if run["lat"] is not None
    ]
    for driver in nearby or []:
        markers.append(
            maps.marker(
                driver["lat"],
                driver["lng"],
                kind="driver",
                text=f"{driver['vehicle_plate']} · {round(driver['distance_m'])} m",
                label=f"{driver['driver_name']} · {driver['age']}",
            )
        )
    return maps.scene(
        lines=[
            maps.line(
                run["route_geometry"],
                kind="route",
                label=f"{run['vehicle_plate']} · {run['driver_name']}",
                url=run["url"],
            )
            for run in runs
        ],
        markers=markers,
        circles=[{"lat": point["lat"], "lng": point["lng"], "radius_m": point["radius_m"]}]
        if point
        else [],
    )


@require_GET
@console_page("geofences")
@mongo_backed
def geofence_list(request):
    """Zones by kind and name; corridors apart, newest first (one per planned run); both
    pages on a map coloured by kind, and each row's enter/exit events of the last 24 h.
    Two MongoDB reads per list (count, page) and one for the events; no SQL beyond the
    session's, whatever the number of rows."""
    filters = QueryFilters(GeofenceFilterInput, GeofenceFilterForm, request)
    zones = corridors = Geofence.objects.none()
    if filters.is_valid():
        found = geofences.geofence_list(**filters.data)
        zones = found.filter(kind__in=geofences.ZONE_KINDS).order_by("kind", "name", "id")
        corridors = found.filter(kind=geofences.ROUTE_CORRIDOR).order_by("-updated_at", "-id")
    zone_page = page_of(request, zones)
    corridor_page = page_of(request, corridors, param=CORRIDORS_PAGE)
    zone_page.object_list = list(zone_page.object_list)
    corridor_page.object_list = list(corridor_page.object_list)
    shown = [*zone_page.object_list, *corridor_page.object_list]
    recent = events.event_counts_since(
        geofence_ids=[geofence.pk for geofence in shown], since=timezone.now() - RECENT_EVENTS
    )
    for geofence in shown:
        _label(geofence)
        geofence.recent = recent.get(geofence.pk)
    return render(
        request,
        "tracking/geofence_list.html",
        {
            "filters": filters,
            "page_obj": zone_page,
            "corridor_page": corridor_page,
            "scene": maps.scene(zones=[_zone(geofence, link=True) for geofence in shown]),
            "can_write": _can_write(request),
            "kinds": KIND_LABELS.items(),
        },
    )


@require_GET
@console_page("geofences")
@mongo_backed
def geofence_detail(request, pk: str):
    """A geofence on a small map and its enter/exit events, newest first: two MongoDB
    reads for the events and one SQL query for their drivers, whatever the page size."""
    geofence = _geofence(pk)
    filters = QueryFilters(GeofenceEventFilterInput, GeofenceEventFilterForm, request)
    found = GeofenceEvent.objects.none()
    if filters.is_valid():
        found = events.event_list_for(geofence=geofence, **filters.data)
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
            "scene": maps.scene(zones=[_zone(geofence)]),
            "can_write": _can_write(request),
            "can_deactivate": request.user.has_permission("geofences", DELETE),
        },
    )


@require_http_methods(["GET", "POST"])
@console_page("geofences", WRITE)
@mongo_backed
def geofence_new(request):
    """Draw a zone (or paste its outline) and save it through `geofence_create`, with the
    API's GeofenceInput deciding what is refused. Saved: to its page (PRG). Refused: the
    form again with why, the outline drawn as refused and, for an invalid polygon, a
    marker where it fails."""
    form = GeofenceForm(_posted(request), initial={"kind": geofences.DELIVERY_ZONE, "active": True})
    if request.method == "POST":
        saved = _save(
            request,
            form,
            GeofenceInput,
            lambda data: services.geofence_create(**data),
            success=_("Zone “%(name)s” saved."),
        )
        if saved is not None:
            return redirect("console:geofence", str(saved.pk))
    return _editor(request, form, geofence=None)


@require_http_methods(["GET", "POST"])
@console_page("geofences", WRITE)
@mongo_backed
def geofence_edit(request, pk: str):
    """A zone's name, kind, tolerance, state and outline (loaded into the map's edit
    mode), saved through `geofence_update` with the API's GeofenceUpdateInput. A route
    corridor is shown, not edited: routing keeps its outline (the services refuse it)."""
    geofence = _geofence(pk)
    form = GeofenceForm(
        _posted(request),
        initial={
            "name": geofence.name,
            "kind": geofence.kind,
            "tolerance_m": "" if geofence.tolerance_m is None else f"{geofence.tolerance_m:.15g}",
            "active": geofence.active,
            "geometry": json.dumps(geofence.geometry, separators=(",", ":")),
        },
    )
    if request.method == "POST":
        saved = _save(
            request,
            form,
            GeofenceUpdateInput,
            lambda data: services.geofence_update(geofence=geofence, **data),
            success=_("Zone “%(name)s” saved."),
        )
        if saved is not None:
            return redirect("console:geofence", str(saved.pk))
        geofence = _geofence(pk)  # as stored, not as refused
    return _editor(request, form, geofence=geofence)


@require_POST
@console_page("geofences", DELETE)  # as the API's DELETE, which deactivates too
@mongo_backed
def geofence_deactivate(request, pk: str):
    """Soft delete through `geofence_deactivate`: the zone stays, with its events, but no
    longer counts (as unticking "Active" in the editor)."""
    geofence = _geofence(pk)
    perform(
        request,
        lambda: services.geofence_deactivate(geofence=geofence),
        success=_("Zone “%(name)s” deactivated: it no longer counts.") % {"name": geofence.name},
    )
    return redirect("console:geofence", str(geofence.pk))


def _posted(request):
    """The posted form, bound even when it came empty (a refusal to show, not a blank form)."""
    return request.POST if request.method == "POST" else None


def _geofence(pk: str) -> Geofence:
    try:
        geofence = geofences.geofence_get(pk=pk)
    except NotFoundError:
        raise Http404 from None
    _label(geofence)
    return geofence


def _can_write(request) -> bool:
    return request.user.has_permission("geofences", WRITE)


def _save(request, form, serializer_class, command, *, success: str):
    """The post read by the API's own serializer, then `command(validated_data)`; the saved
    geofence, or None with every refusal a message (and its field marked on the form)."""
    form.is_valid()  # every field takes any text: only to hold the errors shown
    posted = request.POST.copy()
    # An unticked box sends nothing, which the API's serializer would read as "left out".
    posted.setlist("active", ["true" if form.cleaned_data.get("active") else "false"])
    data = serializer_class(data=posted)
    refusals: dict = {}
    saved = None
    if not data.is_valid():
        refusals = data.errors
    else:
        try:
            saved = command(dict(data.validated_data))
        except InvalidGeofenceError as error:
            refusals = error.details.get("fields") or {None: [error.message]}
        except DomainError as error:
            refusals = {None: [error.message]}
    if saved is not None:
        messages.success(request, success % {"name": saved.name})
        return saved
    for name, errors in refusals.items():
        field = name if name in form.fields else None
        for message in _texts(errors):
            label = form.fields[field].label if field else ""
            messages.error(request, f"{label}: {message}" if label else message)
            form.add_error(field, message)
    return None


def _texts(errors) -> list[str]:
    if isinstance(errors, dict):
        return [text for value in errors.values() for text in _texts(value)]
    if isinstance(errors, list | tuple):
        return [text for value in errors for text in _texts(value)]
    return [str(errors)]


def _editor(request, form, *, geofence: Geofence | None):
    """The editor page: the other zones and the active corridors for reference (not
    editable), the outline being edited (the script loads it from the form into the map's
    edit mode) and, after a refusal, the refused outline and where it fails."""
    others = geofences.geofence_list().filter(kind__in=geofences.ZONE_KINDS)
    corridors = geofences.geofence_list(kind=geofences.ROUTE_CORRIDOR, active=True)
    if geofence is not None:  # the zone edited is the form's; a corridor stays as it is
        others, corridors = others.filter(id__ne=geofence.pk), corridors.filter(id__ne=geofence.pk)
    shown = [
        *([geofence] if geofence is not None and geofence.managed else []),
        *others.order_by("kind", "name", "id")[:EDITOR_ZONES],
        *corridors.order_by("-updated_at", "-id")[:EDITOR_CORRIDORS],
    ]
    for other in shown:
        _label(other)
    managed = bool(geofence is not None and geofence.managed)
    zones = [_zone(other) for other in shown]
    markers = []
    if form.is_bound and form.errors:
        submitted = _drawable(form.data.get("geometry", ""))
        if submitted is not None:
            kind = form.data.get("kind")
            zones.append(
                maps.zone(
                    SimpleNamespace(
                        geometry=submitted,
                        kind=kind if kind in geofences.ZONE_KINDS else geofences.DELIVERY_ZONE,
                        active=True,
                        name=_("Refused outline"),
                    ),
                    refused=True,
                )
            )
            markers.append(_failure_marker(submitted))
    return render(
        request,
        "tracking/geofence_edit.html",
        {
            "geofence": geofence,
            "managed": managed,
            "editing": not managed,
            "refused": bool(form.is_bound and form.errors),
            "form": form,
            "scene": maps.scene(zones=zones, markers=markers),
            "kinds": KIND_LABELS.items(),
        },
    )


def _zone(geofence: Geofence, *, link: bool = False) -> dict:
    label = f"{geofence.name} · {geofence.kind_label}"
    if not geofence.active:
        label += f" · {_('Inactive')}"
    url = reverse("console:geofence", args=[str(geofence.pk)]) if link else None
    return maps.zone(geofence, url=url, label=label)


def _drawable(text: str) -> dict | None:
    """The submitted outline when it can be drawn at all (a Polygon of [lng, lat] number
    pairs within range), whatever else is wrong with it; None otherwise."""
    try:
        geometry = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        return None
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        return None
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 2:
            return None
        if any(geofences.position_error(position) for position in ring):
            return None
    return {"type": "Polygon", "coordinates": rings}


def _failure_marker(geometry: dict) -> dict | None:
    """Where shapely finds the outline invalid (a self-intersection's crossing, a hole
    outside its shell…), as an error marker; None when it is valid or has no such place."""
    rings = geometry["coordinates"]
    try:
        fault = geofences.polygon_fault(Polygon(rings[0], rings[1:]))
    except (ValueError, TypeError, shapely.errors.ShapelyError):
        return None
    if fault is None or fault["lat"] is None:
        return None
    text = _("Crosses itself here") if fault["crossing"] else fault["reason"]
    return maps.marker(fault["lat"], fault["lng"], kind="error", text=text, label=fault["reason"])


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
