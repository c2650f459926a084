"""What is happening now, and what happened on one run: the console overview's figures,
the operation right now (runs, drivers, fixes, geofences, incidents) and a run's summary.
Snapshots, not periods: each reads the apps' own selectors, a fixed number of queries
whatever the size of the operation."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from fleet import selectors as fleet_selectors
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Availability,
    Incident,
    IncidentType,
    Stop,
    StopStatus,
)
from orders import selectors as order_selectors
from orders.models import OrderStatus
from rappi.reports import outputs
from rappi.reports.periods import LIMA, Period
from rappi.reports.registry import ASSIGNMENT, FormatQuery, ReportDef, register
from rappi.reports.tables import section_rows
from rappi.selectors import get_or_404
from tracking import geofences, pings
from tracking import selectors as tracking_selectors
from tracking.documents import Evidence

CURRENCY = "PEN"
SEVERITIES = range(5, 0, -1)  # most serious first, as the console shows them
INCIDENT_WINDOW = timedelta(hours=24)


class OperationsSeverityCount(serializers.Serializer):
    severity = serializers.IntegerField(min_value=1, max_value=5)
    count = serializers.IntegerField(min_value=0)


def _by_severity(counts: dict[int, int]) -> list[dict]:
    return [{"severity": level, "count": counts.get(level, 0)} for level in SEVERITIES]


# --- overview --------------------------------------------------------------------------------


def lima_today(now: datetime) -> Period:
    """The America/Lima day holding `now`, from its local midnight to the next."""
    day = timezone.localtime(now, LIMA).date()
    return Period.of_days(day, day)


class OverviewOrderStatusCount(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    count = serializers.IntegerField(min_value=0)


class OverviewRuns(serializers.Serializer):
    in_progress = serializers.IntegerField()
    assigned = serializers.IntegerField(help_text="Assigned, not started yet")


class OverviewDrivers(serializers.Serializer):
    available = serializers.IntegerField(help_text="Active drivers available")
    busy = serializers.IntegerField(help_text="Active drivers busy")
    silent = serializers.IntegerField(
        help_text="Runs in progress whose driver sent no fix for `silent_after_s` (or none yet)"
    )
    silent_after_s = serializers.IntegerField()


class OverviewIncidents(serializers.Serializer):
    since = outputs.moment(help_text="24 hours before `now` (by the incident's `created_at`)")
    total = serializers.IntegerField()
    by_severity = OperationsSeverityCount(
        many=True, help_text="Severity 5 to 1, every level listed"
    )


class OverviewUnpaid(serializers.Serializer):
    days = serializers.IntegerField(help_text="The warning threshold (UNPAID_WARNING_DAYS)")
    created_before = outputs.moment()
    count = serializers.IntegerField(help_text="Orders pending payment created before then")


class OverviewOutput(serializers.Serializer):
    now = outputs.moment()
    day = outputs.PeriodOutput(help_text="Today: the Lima day holding `now`")
    orders_today = OverviewOrderStatusCount(
        many=True, help_text="Orders created today (by `created_at`), every status listed"
    )
    orders_waiting = serializers.IntegerField(help_text="Orders pending, not yet in a run")
    runs = OverviewRuns()
    drivers = OverviewDrivers()
    incidents_24h = OverviewIncidents()
    revenue_today = outputs.money(help_text="Paid payments of today (by `paid_at`)")
    currency = serializers.CharField()
    unpaid = OverviewUnpaid()


def overview(*, now: datetime | None = None) -> dict:
    """The console overview's figures: orders created today by status, orders waiting for
    a run, runs under way or assigned, drivers available / busy / silent, incidents of the
    last 24 hours by severity, today's revenue and orders unpaid for UNPAID_WARNING_DAYS.
    The console's tiles are built from this, so page and report never disagree."""
    now = now or timezone.now()
    today = lima_today(now)
    incidents_since = now - INCIDENT_WINDOW
    unpaid_before = now - timedelta(days=settings.UNPAID_WARNING_DAYS)
    by_status = order_selectors.order_counts_by_status(since=today.since, until=today.until)
    runs = fleet_selectors.run_counts_by_status()
    drivers = fleet_selectors.driver_counts_by_availability()
    incidents = fleet_selectors.incident_counts_by_severity(since=incidents_since)
    # Silent: no fix for DRIVER_SILENT_AFTER_S (or none yet). Read from the last positions
    # in one aggregation, the operations report's way, whatever the number of runs.
    # With no run under way nobody can be silent: MongoDB is not asked, so the overview
    # still opens while MongoDB is down and nothing is on the road.
    silent = 0
    if runs.get(AssignmentStatus.IN_PROGRESS):
        silent_since = now - timedelta(seconds=settings.DRIVER_SILENT_AFTER_S)
        silent = tracking_selectors.fix_freshness(since=silent_since)["runs_without_fix"]
    return {
        "now": now,
        "day": today.as_json(),
        "orders_today": [
            {"status": status.value, "count": by_status.get(status.value, 0)}
            for status in OrderStatus
        ],
        "orders_waiting": order_selectors.order_waiting_count(),
        "runs": {
            "in_progress": runs.get(AssignmentStatus.IN_PROGRESS, 0),
            "assigned": runs.get(AssignmentStatus.ASSIGNED, 0),
        },
        "drivers": {
            "available": drivers.get(Availability.AVAILABLE, 0),
            "busy": drivers.get(Availability.BUSY, 0),
            "silent": silent,
            "silent_after_s": settings.DRIVER_SILENT_AFTER_S,
        },
        "incidents_24h": {
            "since": incidents_since,
            "total": sum(incidents.values()),
            "by_severity": _by_severity(incidents),
        },
        "revenue_today": order_selectors.revenue_between(since=today.since, until=today.until),
        "currency": CURRENCY,
        "unpaid": {
            "days": settings.UNPAID_WARNING_DAYS,
            "created_before": unpaid_before,
            "count": order_selectors.unpaid_older_than_count(created_before=unpaid_before),
        },
    }


def _overview_table(data: dict) -> tuple[list[str], list[list]]:
    # The figures only: the instants derived from `now` stay in the JSON, so the CSV of a
    # second request a moment later still carries the same cells.
    unpaid = data["unpaid"]
    sections = [
        ("day", [("since", data["day"]["since"]), ("until", data["day"]["until"])]),
        ("orders_today", [(row["status"], row["count"]) for row in data["orders_today"]]),
        ("orders", [("waiting", data["orders_waiting"])]),
        ("runs", list(data["runs"].items())),
        ("drivers", list(data["drivers"].items())),
        (
            "incidents_24h",
            [
                *(
                    (f"severity_{row['severity']}", row["count"])
                    for row in data["incidents_24h"]["by_severity"]
                ),
                ("total", data["incidents_24h"]["total"]),
            ],
        ),
        ("revenue_today", [(data["currency"], data["revenue_today"])]),
        ("unpaid", [("days", unpaid["days"]), ("count", unpaid["count"])]),
    ]
    return ["section", "key", "value"], section_rows(sections)


register(
    ReportDef(
        name="overview",
        title=_("Overview"),
        description=(
            "The console overview's figures, now: orders created today (Lima day) by status, "
            "orders waiting for a run, runs in progress and assigned, drivers available, busy "
            "and silent, incidents of the last 24 hours by severity, revenue today, orders "
            "unpaid for more than UNPAID_WARNING_DAYS days."
        ),
        query=FormatQuery,
        output=OverviewOutput,
        build=overview,
        table=_overview_table,
    )
)


# --- operations --------------------------------------------------------------------------------


class OperationsQuery(FormatQuery):
    window_min = serializers.IntegerField(
        min_value=1,
        max_value=1440,
        default=5,
        help_text="How recent a fix must be, in minutes (1 to 1440)",
    )


class OperationsOutput(serializers.Serializer):
    now = outputs.moment()
    window_min = serializers.IntegerField()
    runs_in_progress = serializers.IntegerField()
    drivers_busy = serializers.IntegerField(help_text="Active drivers busy")
    drivers_with_fix = serializers.IntegerField(
        help_text="Drivers whose last fix was recorded in the last `window_min` minutes"
    )
    runs_in_progress_without_fix = serializers.IntegerField(
        help_text="Runs in progress with no fix in the last `window_min` minutes"
    )
    active_geofences = serializers.IntegerField(help_text="Geofences of every kind, active")
    incidents_24h = serializers.IntegerField(
        help_text="Incidents created in the last 24 hours (by `created_at`)"
    )


# The figures only: `now` stays in the JSON (see _overview_table).
_OPERATIONS_COLUMNS = [name for name in OperationsOutput().get_fields() if name != "now"]


def operations(*, window_min: int, now: datetime | None = None) -> dict:
    """Right now: runs under way, busy drivers, who sent a fix in the last `window_min`
    minutes and which runs in progress did not, active geofences, incidents in 24 h."""
    now = now or timezone.now()
    freshness = tracking_selectors.fix_freshness(since=now - timedelta(minutes=window_min))
    drivers = fleet_selectors.driver_counts_by_availability()
    incidents = fleet_selectors.incident_counts_by_severity(since=now - INCIDENT_WINDOW)
    return {
        "now": now,
        "window_min": window_min,
        "runs_in_progress": freshness["runs_in_progress"],
        "drivers_busy": drivers.get(Availability.BUSY, 0),
        "drivers_with_fix": freshness["drivers_with_fix"],
        "runs_in_progress_without_fix": freshness["runs_without_fix"],
        "active_geofences": geofences.geofence_list(active=True).count(),
        "incidents_24h": sum(incidents.values()),
    }


def _operations_table(data: dict) -> tuple[list[str], list[list]]:
    return _OPERATIONS_COLUMNS, [[data[column] for column in _OPERATIONS_COLUMNS]]


register(
    ReportDef(
        name="operations",
        title=_("Operations now"),
        description=(
            "Right now: runs in progress, drivers busy, drivers with a fix in the last "
            "`window_min` minutes, runs in progress without one, active geofences, incidents "
            "of the last 24 hours."
        ),
        query=OperationsQuery,
        output=OperationsOutput,
        build=operations,
        table=_operations_table,
    )
)


# --- one run's summary -------------------------------------------------------------------------


class RunSummaryOrders(serializers.Serializer):
    count = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="Ascending")


class RunSummaryStops(serializers.Serializer):
    total = serializers.IntegerField(help_text="Every stop of the run's route, pickups included")
    done = serializers.IntegerField(help_text="Visited or skipped")
    visited = serializers.IntegerField()
    skipped = serializers.IntegerField()
    pending = serializers.IntegerField()


class RunSummaryGps(serializers.Serializer):
    fixes = serializers.IntegerField()
    distance_m = serializers.FloatField(help_text="Great-circle length of the track")
    duration_s = serializers.FloatField(help_text="From the first fix to the last")
    avg_speed_kmh = serializers.FloatField(allow_null=True)
    first_at = outputs.moment(allow_null=True)
    last_at = outputs.moment(allow_null=True)


class RunSummaryIncidents(serializers.Serializer):
    total = serializers.IntegerField()
    by_severity = OperationsSeverityCount(
        many=True, help_text="Severity 5 to 1, every level listed"
    )


class AssignmentSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AssignmentStatus.choices)
    driver_id = serializers.IntegerField()
    driver_name = serializers.CharField()
    vehicle_id = serializers.IntegerField()
    vehicle_plate = serializers.CharField()
    created_at = outputs.moment()
    started_at = outputs.moment(allow_null=True)
    finished_at = outputs.moment(allow_null=True)
    orders = RunSummaryOrders()
    stops = RunSummaryStops()
    gps = RunSummaryGps(help_text="From the run's stored fixes")
    incidents = RunSummaryIncidents()
    deviations = serializers.IntegerField(help_text="Route deviation incidents")
    proofs = serializers.IntegerField(
        help_text="Evidence records of the run's drop-offs (proofs of delivery or failure)"
    )


def assignment_summary(*, object_id: int) -> dict:
    """One run: its orders, stops done, the distance and duration of its GPS track,
    incidents by severity, route deviations and proofs. 404 for an unknown run."""
    run = get_or_404(Assignment.objects.select_related("driver__user", "vehicle"), object_id)
    order_ids = list(run.orders.order_by("pk").values_list("pk", flat=True))
    stops = Stop.objects.filter(route__assignment=run).aggregate(
        total=Count("pk"),
        visited=Count("pk", filter=Q(status=StopStatus.VISITED)),
        skipped=Count("pk", filter=Q(status=StopStatus.SKIPPED)),
        pending=Count("pk", filter=Q(status=StopStatus.PENDING)),
    )
    incidents = {
        row["severity"]: row
        for row in Incident.objects.filter(assignment=run)
        .values("severity")
        .annotate(
            count=Count("pk"), deviations=Count("pk", filter=Q(type=IncidentType.ROUTE_DEVIATION))
        )
        .order_by()
    }
    track = pings.track_stats(assignment_id=run.pk)
    # A proof belongs to a drop-off of the run; an incident's own evidence is not one.
    proofs = Evidence.objects(assignment_id=run.pk, destination_id__ne=None).count()
    return {
        "id": run.pk,
        "status": run.status,
        "driver_id": run.driver_id,
        "driver_name": run.driver.user.full_name,
        "vehicle_id": run.vehicle_id,
        "vehicle_plate": run.vehicle.plate,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "orders": {"count": len(order_ids), "ids": order_ids},
        "stops": {**stops, "done": stops["visited"] + stops["skipped"]},
        "gps": {
            "fixes": track["pings"],
            "distance_m": track["distance_m"],
            "duration_s": track["duration_s"],
            "avg_speed_kmh": track["avg_speed_kmh"],
            "first_at": track["first_at"],
            "last_at": track["last_at"],
        },
        "incidents": {
            "total": sum(row["count"] for row in incidents.values()),
            "by_severity": _by_severity({level: row["count"] for level, row in incidents.items()}),
        },
        "deviations": sum(row["deviations"] for row in incidents.values()),
        "proofs": proofs,
    }


_RUN_FIELDS = (
    "id",
    "status",
    "driver_id",
    "driver_name",
    "vehicle_id",
    "vehicle_plate",
    "created_at",
    "started_at",
    "finished_at",
)


def _assignment_summary_table(data: dict) -> tuple[list[str], list[list]]:
    sections = [
        ("run", [(name, data[name]) for name in _RUN_FIELDS]),
        (
            "orders",
            [("count", data["orders"]["count"]), *(("id", pk) for pk in data["orders"]["ids"])],
        ),
        ("stops", list(data["stops"].items())),
        ("gps", list(data["gps"].items())),
        (
            "incidents",
            [
                *(
                    (f"severity_{row['severity']}", row["count"])
                    for row in data["incidents"]["by_severity"]
                ),
                ("total", data["incidents"]["total"]),
                ("deviations", data["deviations"]),
            ],
        ),
        ("proofs", [("count", data["proofs"])]),
    ]
    return ["section", "key", "value"], section_rows(sections)


register(
    ReportDef(
        name="assignments/summary",
        title=_("Run summary"),
        description=(
            "One run: its orders, stops done (visited, skipped, pending), distance and "
            "duration from its GPS fixes, incidents by severity, route deviations, proofs."
        ),
        query=FormatQuery,
        output=AssignmentSummaryOutput,
        build=assignment_summary,
        table=_assignment_summary_table,
        object=ASSIGNMENT,
    )
)
