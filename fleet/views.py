"""The console's fleet pages (the JSON API is in fleet/api/): runs and incidents boards,
the run page and its commands, drivers and vehicles lists, evidence files. Commands go
through fleet.services, as the API's do; a refusal is the domain error's message."""

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from fleet import selectors, services
from fleet.filters import AssignmentFilter, DriverFilter, IncidentFilter, VehicleFilter
from fleet.forms import (
    EVIDENCE_KIND_LABELS,
    IncidentEvidenceForm,
    IncidentReportForm,
    RunCancelForm,
    RunFinishForm,
    RunReopenForm,
    StopSequenceForm,
)
from fleet.models import Assignment, AssignmentStatus, Route, StopStatus
from rappi.api.permissions import READ, WRITE
from rappi.console import maps
from rappi.console.access import console_page, require
from rappi.console.actions import form_errors, perform
from rappi.console.lists import filtered, page_of, rows
from rappi.errors import NotFoundError
from rappi.selectors import get_or_404
from rappi.templatetags.console import lima
from tracking import geofences, pings


@require_GET
@console_page("drivers")
def driver_list(request):
    filters = filtered(DriverFilter, request, selectors.driver_list_for(user=request.user))
    page = page_of(
        request, rows(filters).select_related("user", "vehicle").order_by("user__full_name", "pk")
    )
    # Each driver's last fix: one MongoDB query for the page.
    positions = pings.positions_for(driver_ids=[driver.pk for driver in page])
    now = timezone.now()
    for driver in page:
        position = positions.get(driver.pk)
        driver.last_fix = pings.fix_output(position, now=now) if position else None
    return render(request, "fleet/driver_list.html", {"filters": filters, "page_obj": page})


@require_GET
@console_page("vehicles")
def vehicle_list(request):
    filters = filtered(VehicleFilter, request, selectors.vehicle_list_for(user=request.user))
    page = page_of(request, rows(filters).order_by("plate", "pk"))
    return render(request, "fleet/vehicle_list.html", {"filters": filters, "page_obj": page})


# --- Runs and incidents ------------------------------------------------------------------------


def _found(lookup, **kwargs):
    """A row in the user's scope, or the 404 page (never a hint that it exists)."""
    try:
        return lookup(**kwargs)
    except NotFoundError:
        raise Http404 from None


def _last_fixes(runs, *, now) -> dict[int, dict]:
    """Each run's last fix as shown (with `age_s`) and whether the run is silent (in
    progress with no fix for DRIVER_SILENT_AFTER_S, as on the overview): one MongoDB
    query for all of them."""
    positions = pings.positions_for(assignment_ids=[run.pk for run in runs])
    fixes = {}
    for run in runs:
        position = positions.get(run.pk)
        fix = pings.fix_output(position, now=now) if position else None
        live = run.status == AssignmentStatus.IN_PROGRESS
        fixes[run.pk] = {
            "fix": fix,
            "silent": live and (fix is None or fix["age_s"] > settings.DRIVER_SILENT_AFTER_S),
        }
    return fixes


def _status_tabs(request) -> list[dict]:
    """Links to the board by status, keeping the other filters (back to the first page)."""
    current = request.GET.get("status", "")
    tabs = []
    for value, label in [("", _("All runs")), *AssignmentStatus.choices]:
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("status", None)
        if value:
            query["status"] = value
        tabs.append(
            {
                "label": label,
                "url": f"?{query.urlencode()}" if query else request.path,
                "current": value == current,
            }
        )
    return tabs


@require_GET
@console_page("assignments")
def run_board(request):
    """The runs board, by status, refreshed in place every 10 s: driver, vehicle, orders,
    stops done, last fix and incidents of each run, in a fixed number of queries."""
    filters = filtered(AssignmentFilter, request, selectors.assignment_list_for(user=request.user))
    page = page_of(
        request,
        selectors.with_run_figures(rows(filters))
        .select_related("driver__user", "vehicle")
        .order_by("-created_at", "-pk"),
    )
    fixes = _last_fixes(list(page), now=timezone.now())
    for run in page:
        run.last_fix, run.silent = fixes[run.pk]["fix"], fixes[run.pk]["silent"]
    context = {"filters": filters, "page_obj": page, "tabs": _status_tabs(request)}
    if request.htmx:
        return render(request, "fleet/_run_rows.html", context)
    return render(request, "fleet/run_board.html", context)


def _may(user, resource: str) -> bool:
    return user.has_permission(resource, WRITE)


def _run_live_context(run: Assignment, *, user, with_map: bool = True) -> dict:
    """What the refreshed parts of the run page show: facts, stops, proofs, and (unless
    `with_map` is False) the map's scene: route, corridor, stops, GPS trail, last
    position, deviations. The API's reads: a fixed number of SQL queries and three
    MongoDB ones, whatever the run's size."""
    try:
        route = run.route  # selected with the run
    except Route.DoesNotExist:
        route = None
    stops = (
        list(route.stops.select_related("order", "destination").order_by("sequence"))
        if route is not None
        else []
    )
    proofs, evidence_by_incident = selectors.evidence_of_run(assignment=run)
    destinations = {stop.destination_id: stop.destination for stop in stops if stop.destination}
    for record in proofs:
        record.destination = destinations.get(record.destination_id)
        record.kind_label = EVIDENCE_KIND_LABELS.get(record.kind, record.kind)
    fix = _last_fixes([run], now=timezone.now())[run.pk]
    # Incidents (their files, and their places on the map) are shown to those who may
    # read incidents.
    sees_incidents = user.has_permission("incidents", READ)
    incidents = (
        list(run.incidents.select_related("reported_by").order_by("-created_at", "-pk"))
        if sees_incidents
        else []
    )
    scene = None
    if with_map:
        # What the API would show this user: the track and position with `tracking:read`,
        # the corridor with `geofences:read`.
        tracks = user.has_permission("tracking", READ)
        scene = _run_scene(
            run,
            route=route,
            stops=stops,
            corridor=geofences.corridor_for(assignment_id=run.pk)
            if user.has_permission("geofences", READ)
            else None,
            trail=pings.trail_for(assignment_id=run.pk) if tracks else None,
            fix=fix["fix"] if tracks else None,
            incidents=incidents,
        )
    return {
        "run": run,
        "orders": sorted(run.orders.all(), key=lambda order: order.pk),
        "route": route,
        "route_km": route.distance_m / 1000 if route else None,
        "route_minutes": route.duration_s / 60 if route else None,
        "stops": stops,
        "stops_done": sum(1 for stop in stops if stop.status != StopStatus.PENDING),
        "pending_stops": [stop for stop in stops if stop.status == StopStatus.PENDING],
        "proofs": proofs,
        "evidence_by_incident": evidence_by_incident,
        "last_fix": fix["fix"],
        "silent": fix["silent"],
        "sees_incidents": sees_incidents,
        "incidents": incidents,
        "scene": scene,
    }


def _stop_label(stop) -> str:
    """A stop's tooltip: its number and kind, where it is, how it went."""
    if stop.destination is not None:
        place = f"{stop.destination.line}, {stop.destination.district}"
    else:
        place = stop.order.origin_line if stop.order is not None else ""
    parts = [f"{stop.sequence}. {stop.get_kind_display()}", place, stop.get_status_display()]
    return " · ".join(part for part in parts if part)


def _run_scene(run, *, route, stops, corridor, trail, fix, incidents) -> dict:
    """The run's map: the planned route inside its corridor, the stops numbered in order
    and coloured by status, the GPS trail (simplified by `pings.trail_for`), the last
    position (greyed when older than GPS_STALE_AFTER_S) and the incidents that have a
    place (route deviations, where the driver left the corridor)."""
    vehicle = maps.vehicle(fix, plate=run.vehicle.plate, driver_name=run.driver.user.full_name)
    markers = [
        maps.marker(
            incident.lat,
            incident.lng,
            kind="incident",
            label=f"{incident.get_type_display()} · {lima(incident.created_at, 'time')}",
            url=f"#incident-{incident.pk}",
        )
        for incident in incidents
    ]
    return maps.scene(
        zones=[maps.zone(corridor, label=_("Route corridor")) if corridor else None],
        lines=[
            maps.line(route.geometry if route else None, kind="route", label=_("Planned route")),
            maps.line(trail, kind="trail", label=_("GPS trail")),
        ],
        stops=[maps.stop(stop, label=_stop_label(stop)) for stop in stops],
        markers=[*markers, vehicle],
    )


@require_GET
@console_page("assignments")
def run_page(request, pk: int):
    """A run: facts and its map, the actions its state allows, stops, proofs,
    incidents with their evidence. Facts (`?part=facts`) and stops with proofs
    (`?part=stops`) refresh every 10 s; the forms do not (nothing typed is lost)."""
    runs = selectors.assignment_list_for(user=request.user).select_related(
        "driver__user", "vehicle"
    )
    run = _found(get_or_404, queryset=runs, pk=pk)
    stops_only = bool(request.htmx) and request.GET.get("part") == "stops"
    context = _run_live_context(run, user=request.user, with_map=not stops_only)
    if request.htmx:  # the 10-second refresh of one of its live parts
        if request.GET.get("status", run.status) != run.status:
            # The run moved on (the driver started it, delivered the last drop-off…): the
            # actions it allows changed too, so the whole page is loaded again.
            return HttpResponseClientRefresh()
        part = "stops" if request.GET.get("part") == "stops" else "facts"
        return render(request, f"fleet/_run_{part}.html", context)
    user = request.user
    for incident in context["incidents"]:
        incident.evidence = context["evidence_by_incident"].get(incident.pk, [])
    context.update(
        {
            "may": {
                "assignments": _may(user, "assignments"),
                "routes": _may(user, "routes"),
                "incidents": _may(user, "incidents"),
                "reports": user.has_permission("reports", READ),
            },
            "active": run.status in Assignment.ACTIVE,
            "reportable": not (run.status == AssignmentStatus.CANCELLED and run.started_at is None),
            "cancel_form": RunCancelForm(),
            "finish_form": RunFinishForm(),
            "reopen_form": RunReopenForm(),
            "incident_form": IncidentReportForm(),
            "evidence_form": IncidentEvidenceForm(),
        }
    )
    return render(request, "fleet/run_page.html", context)


def _run_command(request, pk: int, command, *, success: str, form_class=None):
    """Run `command(run, form_data)` on a run in the user's scope (the view checked the
    grant; seeing the run is reading runs); a refusal is a message; back to the run page
    either way (PRG)."""
    require(request.user, "assignments", READ)
    run = _found(selectors.assignment_get_for, user=request.user, pk=pk)
    data = {}
    if form_class is not None:
        form = form_class(request.POST)
        if not form.is_valid():
            form_errors(request, form)
            return redirect("console:run", pk=run.pk)
        data = form.cleaned_data
    perform(request, lambda: command(run, data), success=success)
    return redirect("console:run", pk=run.pk)


@require_POST
@console_page("assignments", WRITE)
def run_start(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, _data: services.assignment_start(assignment=run, by=request.user),
        success=_("The run has started."),
    )


@require_POST
@console_page("assignments", WRITE)
def run_cancel(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, data: services.assignment_cancel(
            assignment=run, reason=data["reason"], by=request.user
        ),
        success=_("The run was cancelled; its orders are pending again."),
        form_class=RunCancelForm,
    )


@require_POST
@console_page("assignments", WRITE)
def run_finish(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, data: services.assignment_finish(
            assignment=run, reason=data["reason"], by=request.user
        ),
        success=_("The run was finished; its pending drop-offs failed."),
        form_class=RunFinishForm,
    )


@require_POST
@console_page("assignments", WRITE)
def run_reopen(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, data: services.assignment_reopen(
            assignment=run, include_delivered=data["include_delivered"], by=request.user
        ),
        success=_("The run is in progress again."),
        form_class=RunReopenForm,
    )


@require_POST
@console_page("routes", WRITE)
def run_route_plan(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, _data: services.route_plan(assignment=run),
        success=_("The route was planned again."),
    )


def _route_of(run: Assignment) -> Route:
    route = Route.objects.filter(assignment=run).first()
    if route is None:
        raise NotFoundError(_("This run has no route yet: plan it first."))
    return route


@require_POST
@console_page("routes", WRITE)
def run_route_optimize(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, _data: services.route_optimize(route=_route_of(run)),
        success=_("The pending stops were put in the best order."),
    )


@require_POST
@console_page("routes", WRITE)
def run_route_sequence(request, pk: int):
    """The pending stops in the order the form gives (`stop_ids` with `position`
    numbers, or an ↑/↓ button), through `route_resequence`."""
    return _run_command(
        request,
        pk,
        lambda run, data: services.route_resequence(
            route=_route_of(run), stop_ids=data["stop_ids"]
        ),
        success=_("The stops are in the new order."),
        form_class=StopSequenceForm,
    )


@require_POST
@console_page("incidents", WRITE)
def run_incident_report(request, pk: int):
    return _run_command(
        request,
        pk,
        lambda run, data: services.incident_report(
            assignment=run, type=data["type"], notes=data["notes"], by=request.user
        ),
        success=_("The incident was recorded."),
        form_class=IncidentReportForm,
    )


def _back(request, fallback: str) -> str:
    """Where a form said to go back to (a page of this site), else `fallback`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_POST
@console_page("incidents", WRITE)
def incident_evidence_upload(request, pk: int):
    """Files for an incident (multipart), through `incident_evidence_add`: sizes checked
    by the form, types and pixels by the evidence store; a refusal is a message."""
    incident = _found(selectors.incident_get_for, user=request.user, pk=pk)
    back = _back(request, reverse("console:incidents"))
    form = IncidentEvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        form_errors(request, form)
        return redirect(back)
    perform(
        request,
        lambda: services.incident_evidence_add(
            incident=incident,
            kind=form.cleaned_data["kind"],
            uploads=form.uploads(),
            note=form.cleaned_data["note"],
            by=request.user,
        ),
        success=_("The files were added to incident #%(id)s.") % {"id": incident.pk},
    )
    return redirect(back)


@require_GET
@console_page("incidents")
def incident_board(request):
    """The incidents board, refreshed in place every 10 s, with each incident's evidence
    (one MongoDB query for the page) and a form to add some."""
    filters = filtered(IncidentFilter, request, selectors.incident_list_for(user=request.user))
    page = page_of(
        request,
        rows(filters)
        .select_related("assignment__driver__user", "reported_by")
        .order_by("-created_at", "-pk"),
    )
    evidence = selectors.evidence_by_incident(incident_ids=[incident.pk for incident in page])
    for incident in page:
        incident.evidence = evidence.get(incident.pk, [])
    context = {
        "filters": filters,
        "page_obj": page,
        "may_upload": _may(request.user, "incidents"),
        "evidence_form": IncidentEvidenceForm(),
    }
    if request.htmx:
        return render(request, "fleet/_incident_rows.html", context)
    return render(request, "fleet/incident_board.html", context)


@require_GET
@console_page()
def evidence_file(request, file_id: str):
    """A proof's or an incident's file for console pages, which have a session rather
    than the API's bearer token: the same scope check as `/api/v1/files/<id>` (the owner
    row's), so a file the user may not see is a 404. Images open in the browser
    (thumbnails, full size); other files download."""
    try:
        stored, _record, stream = selectors.evidence_file_for(user=request.user, file_id=file_id)
    except NotFoundError:
        raise Http404 from None
    response = FileResponse(
        stream,
        as_attachment=not stored.content_type.startswith("image/"),
        filename=stored.filename,
        content_type=stored.content_type,
    )
    response["Content-Length"] = str(stored.size)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
