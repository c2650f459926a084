"""How deliveries go: delivery times and the on-time share against the tariff's targets,
the SLA per service level, each driver's work, incidents. From the `orders` and `fleet`
apps' tables.

A delivered drop-off is measured from the start of the run that carried its order to its
own `delivered_at`. An order is carried by at most one started run (staff cancel a run
only before it starts, one on the road is cancelled only with all its orders, and a
delivered or cancelled order is never reassigned), so one join to the started run finds
it. It is on time when delivered at most the service level's target minutes (the
tariff's `target_minutes_*`) after that start: the comparison is between the two
timestamps, so a drop-off exactly at the target is on time on every database. A
delivered drop-off whose order has no started run left (its run was deleted) cannot be
measured: it is counted as `unmeasured` and left out of the times and shares."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db.models import Avg, Count, F, Max, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from fleet.models import Assignment, AssignmentStatus, Driver, Incident, IncidentType
from orders.models import Destination, DestinationStatus, Rating, ServiceLevel, Tariff
from rappi.reports import outputs
from rappi.reports.periods import BucketedQuery, Period, PeriodQuery, as_date, bucket, zero_filled
from rappi.reports.registry import ReportDef, register
from rappi.reports.sql import Minutes, Percentile
from rappi.reports.tables import section_rows

LEVELS = tuple(ServiceLevel.values)
ALL = "all"
# The start of the run that carried a drop-off's order: filtered on once (not null) so
# every later reference reuses that one join to the started run.
RUN_START = "order__assignments__started_at"


def _targets() -> dict[str, int]:
    """The tariff's on-time targets; its defaults while no tariff has been saved (read
    without creating it: a report writes nothing)."""
    tariff = Tariff.objects.filter(pk=Tariff.SINGLETON_ID).first() or Tariff()
    return tariff.target_minutes()


def _delivered(period: Period, service_level: str | None = None):
    rows = Destination.objects.filter(
        status=DestinationStatus.DELIVERED, **period.bounds("delivered_at")
    )
    if service_level:
        rows = rows.filter(order__service_level=service_level)
    return rows


def _measured(period: Period, service_level: str | None = None):
    """The period's delivered drop-offs joined to their started run."""
    return _delivered(period, service_level).filter(**{f"{RUN_START}__isnull": False})


def _of_level(level: str | None) -> Q | None:
    return Q(order__service_level=level) if level else None


def _on_time(targets: dict[str, int], level: str | None = None) -> Q:
    """Delivered at most the target minutes of its service level after its run started."""
    condition = Q()
    for each in [level] if level else LEVELS:
        condition |= Q(
            order__service_level=each,
            delivered_at__lte=F(RUN_START) + timedelta(minutes=targets[each]),
        )
    return condition


def _minutes(value) -> float | None:
    return None if value is None else round(value, 1)


# --- delivery-times ------------------------------------------------------------------------


class DeliveryTimesQuery(PeriodQuery):
    service_level = serializers.ChoiceField(
        choices=ServiceLevel.choices,
        required=False,
        help_text="Only this service level's drop-offs (default: every level)",
    )


class DeliveryTimeFigures(serializers.Serializer):
    count = serializers.IntegerField(
        help_text="Drop-offs delivered in the period (by their `delivered_at`) and measured "
        "from their run's start"
    )
    unmeasured = serializers.IntegerField(
        help_text="Drop-offs delivered in the period whose order has no started run left "
        "(the run was deleted): not in the times nor the shares"
    )
    avg_minutes = serializers.FloatField(
        allow_null=True, help_text="Minutes from the run's start to the delivery, 1 decimal"
    )
    p50_minutes = serializers.FloatField(allow_null=True, help_text="Median (interpolated)")
    p95_minutes = serializers.FloatField(allow_null=True, help_text="95th percentile")
    max_minutes = serializers.FloatField(allow_null=True)
    on_time = serializers.IntegerField(
        help_text="Delivered at most the service level's target minutes after the run started"
    )
    on_time_share = outputs.share(help_text="`on_time` / `count`")


class DeliveryTimesLevel(DeliveryTimeFigures):
    service_level = serializers.ChoiceField(choices=ServiceLevel.choices)
    target_minutes = serializers.IntegerField(help_text="The tariff's on-time target")


class DeliveryTimesOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    service_level = serializers.ChoiceField(
        choices=ServiceLevel.choices, allow_null=True, help_text="The level asked for, if any"
    )
    overall = DeliveryTimeFigures(
        help_text="Every level, each drop-off against its own level's target"
    )
    by_service_level = DeliveryTimesLevel(many=True)


def _time_figures(prefix: str, where: Q | None, on_time: Q) -> dict:
    """`on_time` implies `where` (it names the level, or every level)."""
    return {
        f"{prefix}_count": Count("id", filter=where),
        f"{prefix}_avg": Avg("minutes", filter=where),
        f"{prefix}_p50": Percentile("minutes", 0.5, filter=where),
        f"{prefix}_p95": Percentile("minutes", 0.95, filter=where),
        f"{prefix}_max": Max("minutes", filter=where),
        f"{prefix}_on_time": Count("id", filter=on_time),
    }


def _times(figures: dict, delivered: dict, prefix: str) -> dict:
    count, on_time = figures[f"{prefix}_count"], figures[f"{prefix}_on_time"]
    return {
        "count": count,
        "unmeasured": delivered[prefix] - count,
        "avg_minutes": _minutes(figures[f"{prefix}_avg"]),
        "p50_minutes": _minutes(figures[f"{prefix}_p50"]),
        "p95_minutes": _minutes(figures[f"{prefix}_p95"]),
        "max_minutes": _minutes(figures[f"{prefix}_max"]),
        "on_time": on_time,
        "on_time_share": outputs.ratio(on_time, count),
    }


def delivery_times(*, period: Period, service_level: str | None = None) -> dict:
    """Minutes from run start to delivery of the period's delivered drop-offs: over every
    level and per level, with the on-time count and share (three queries: the tariff,
    the delivered counts, the measured figures, all levels in one pass)."""
    targets = _targets()
    levels = [service_level] if service_level else list(LEVELS)
    delivered = _delivered(period, service_level).aggregate(
        **{ALL: Count("id")},
        **{level: Count("id", filter=_of_level(level)) for level in levels},
    )
    aggregates = _time_figures(ALL, None, _on_time(targets, service_level))
    for level in levels:
        aggregates |= _time_figures(level, _of_level(level), _on_time(targets, level))
    figures = (
        _measured(period, service_level)
        .annotate(minutes=Minutes("delivered_at", RUN_START))
        .aggregate(**aggregates)
    )
    return {
        "period": period.as_json(),
        "service_level": service_level,
        "overall": _times(figures, delivered, ALL),
        "by_service_level": [
            {
                "service_level": level,
                "target_minutes": targets[level],
                **_times(figures, delivered, level),
            }
            for level in levels
        ],
    }


_TIME_COLUMNS = [
    "count",
    "unmeasured",
    "avg_minutes",
    "p50_minutes",
    "p95_minutes",
    "max_minutes",
    "on_time",
    "on_time_share",
]


def _delivery_times_table(data: dict) -> tuple[list[str], list[list]]:
    overall = data["overall"]
    levels = data["by_service_level"]
    rows = section_rows(
        [
            ("overall", [(ALL, None, *(overall[c] for c in _TIME_COLUMNS))]),
            (
                "service_level",
                [
                    (row["service_level"], row["target_minutes"], *(row[c] for c in _TIME_COLUMNS))
                    for row in levels
                ],
            ),
        ]
    )
    return ["section", "service_level", "target_minutes", *_TIME_COLUMNS], rows


# --- sla -----------------------------------------------------------------------------------


class SlaFigures(serializers.Serializer):
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    on_time_share = outputs.share(help_text="`on_time` / (`on_time` + `late`)")


class SlaLevel(SlaFigures):
    service_level = serializers.ChoiceField(choices=ServiceLevel.choices)


class SlaTarget(serializers.Serializer):
    service_level = serializers.ChoiceField(choices=ServiceLevel.choices)
    target_minutes = serializers.IntegerField(help_text="The tariff's on-time target")


class SlaBucket(SlaFigures):
    bucket = serializers.DateField(help_text="First Lima day of the bucket")
    by_service_level = SlaLevel(many=True)


class SlaTotals(SlaFigures):
    by_service_level = SlaLevel(many=True)


class SlaOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    granularity = serializers.ChoiceField(choices=["day", "week", "month"])
    targets = SlaTarget(many=True)
    buckets = SlaBucket(
        many=True,
        help_text="Measured drop-offs by the Lima bucket of their `delivered_at` (the "
        "`unmeasured` ones of delivery-times are left out)",
    )
    totals = SlaTotals()


def _sla(count: int, on_time: int) -> dict:
    return {
        "on_time": on_time,
        "late": count - on_time,
        "on_time_share": outputs.ratio(on_time, count),
    }


def sla(*, period: Period, granularity: str) -> dict:
    """On time and late per service level, per Lima bucket and over the period (the
    totals by their own query: one pass with a count per level)."""
    targets = _targets()
    on_time = _on_time(targets)
    measured = _measured(period)
    rows = (
        measured.annotate(b=bucket("delivered_at", granularity))
        .values("b", "order__service_level")
        .annotate(count=Count("id"), on_time=Count("id", filter=on_time))
        .order_by()
    )
    cells = {(as_date(row["b"]), row["order__service_level"]): row for row in rows}
    totals = measured.aggregate(
        **{f"{ALL}_count": Count("id"), f"{ALL}_on_time": Count("id", filter=on_time)},
        **{f"{level}_count": Count("id", filter=_of_level(level)) for level in LEVELS},
        **{f"{level}_on_time": Count("id", filter=_on_time(targets, level)) for level in LEVELS},
    )
    buckets, empty = [], {"count": 0, "on_time": 0}
    for start in period.buckets(granularity):
        by_level = {level: cells.get((start, level), empty) for level in LEVELS}
        # A bucket over every level: its three levels' rows added up.
        count = sum(cell["count"] for cell in by_level.values())
        buckets.append(
            {
                "bucket": start,
                **_sla(count, sum(cell["on_time"] for cell in by_level.values())),
                "by_service_level": [
                    {"service_level": level, **_sla(cell["count"], cell["on_time"])}
                    for level, cell in by_level.items()
                ],
            }
        )
    return {
        "period": period.as_json(),
        "granularity": granularity,
        "targets": [{"service_level": level, "target_minutes": targets[level]} for level in LEVELS],
        "buckets": buckets,
        "totals": {
            **_sla(totals[f"{ALL}_count"], totals[f"{ALL}_on_time"]),
            "by_service_level": [
                {
                    "service_level": level,
                    **_sla(totals[f"{level}_count"], totals[f"{level}_on_time"]),
                }
                for level in LEVELS
            ],
        },
    }


_SLA_COLUMNS = ["on_time", "late", "on_time_share"]


def _sla_table(data: dict) -> tuple[list[str], list[list]]:
    target = {row["service_level"]: row["target_minutes"] for row in data["targets"]}
    rows = []
    for label, part in [
        *((b["bucket"], b) for b in data["buckets"]),
        ("total", data["totals"]),
    ]:
        rows.append([label, ALL, None, *(part[c] for c in _SLA_COLUMNS)])
        rows.extend(
            [label, level, target[level], *(row[c] for c in _SLA_COLUMNS)]
            for row in part["by_service_level"]
            for level in [row["service_level"]]
        )
    return ["bucket", "service_level", "target_minutes", *_SLA_COLUMNS], rows


# --- drivers -------------------------------------------------------------------------------


class DriverReportRow(serializers.Serializer):
    driver_id = serializers.IntegerField()
    full_name = serializers.CharField()
    is_active = serializers.BooleanField()
    runs_total = serializers.IntegerField(help_text="Runs created in the period (any status)")
    runs_finished = serializers.IntegerField(help_text="Of those, finished now")
    runs_in_progress = serializers.IntegerField(help_text="Of those, in progress now")
    deliveries = serializers.IntegerField(
        help_text="Drop-offs of its runs delivered in the period (by `delivered_at`)"
    )
    failed_drops = serializers.IntegerField(
        help_text="Failed drop-offs of its runs started in the period (a failure has no "
        "time of its own: it counts when its run started)"
    )
    incidents = serializers.IntegerField(help_text="On its runs, created in the period")
    rating_avg = serializers.FloatField(
        allow_null=True, help_text="Ratings naming it, given in the period; 2 decimals"
    )
    rating_count = serializers.IntegerField()
    active_hours = serializers.FloatField(
        help_text="Sum over its started runs of the time from start to finish (or now, "
        "while in progress), only the part inside the period; 2 decimals"
    )
    deliveries_per_hour = serializers.FloatField(
        allow_null=True, help_text="`deliveries` / `active_hours` (null without active time)"
    )
    incident_rate = serializers.FloatField(
        allow_null=True, help_text="Incidents per run: `incidents` / `runs_total`"
    )


class DriversOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    drivers = DriverReportRow(
        many=True,
        help_text="Every active driver (zeros included) and inactive ones with activity in "
        "the period, by name",
    )


_DRIVER_EMPTY = {
    "runs_total": 0,
    "runs_finished": 0,
    "runs_in_progress": 0,
    "deliveries": 0,
    "failed_drops": 0,
    "incidents": 0,
    "rating_avg": None,
    "rating_count": 0,
    "active_minutes": None,
}


def _grouped(queryset, key: str, **figures) -> dict[int, dict]:
    rows = queryset.values(key).annotate(**figures).order_by()
    return {row.pop(key): row for row in rows}


def _active_minutes(period: Period):
    """Minutes each driver's started runs were on the road inside the period: from the
    later of start and `since` to the earlier of finish (or now) and `until`. A run
    cancelled on the road (its orders all cancelled) counts to its cancellation."""
    now = timezone.now()
    span_end = Least(Coalesce("finished_at", Value(now)), Value(period.until))
    span_start = Greatest("started_at", Value(period.since))
    return (
        Assignment.objects.filter(started_at__isnull=False, started_at__lt=period.until)
        .alias(span_start=span_start, span_end=span_end)
        .filter(span_end__gt=F("span_start"))
    )


def drivers(*, period: Period) -> dict:
    """Per driver: seven grouped queries (runs, active time, deliveries, failed drop-offs,
    incidents, ratings, then the drivers themselves) merged by driver id."""
    parts = [
        _grouped(
            Assignment.objects.filter(**period.bounds("created_at")),
            "driver_id",
            runs_total=Count("id"),
            runs_finished=Count("id", filter=Q(status=AssignmentStatus.FINISHED)),
            runs_in_progress=Count("id", filter=Q(status=AssignmentStatus.IN_PROGRESS)),
        ),
        _grouped(
            _active_minutes(period),
            "driver_id",
            active_minutes=Sum(Minutes("span_end", "span_start")),
        ),
        # Deliveries by their own time, failures by their run's start: two queries, each
        # one filter() call so the condition and the driver go through the same join to
        # the order's started run. (One query with an OR across the two tables let the
        # planner, without statistics, pick a nested loop that never finished.)
        _grouped(
            Destination.objects.filter(
                status=DestinationStatus.DELIVERED,
                **period.bounds("delivered_at"),
                **{f"{RUN_START}__isnull": False},
            ),
            "order__assignments__driver_id",
            deliveries=Count("id"),
        ),
        _grouped(
            Destination.objects.filter(status=DestinationStatus.FAILED, **period.bounds(RUN_START)),
            "order__assignments__driver_id",
            failed_drops=Count("id"),
        ),
        _grouped(
            Incident.objects.filter(**period.bounds("created_at")),
            "assignment__driver_id",
            incidents=Count("id"),
        ),
        _grouped(
            Rating.objects.filter(driver_id__isnull=False, **period.bounds("created_at")),
            "driver_id",
            rating_avg=Avg("score"),
            rating_count=Count("id"),
        ),
    ]
    merged: dict[int, dict] = {}
    for part in parts:
        for driver_id, figures in part.items():
            merged.setdefault(driver_id, dict(_DRIVER_EMPTY)).update(figures)
    people = (
        Driver.objects.filter(Q(is_active=True) | Q(pk__in=list(merged)))
        .values("pk", "user__full_name", "is_active")
        .order_by("user__full_name", "pk")
    )
    return {
        "period": period.as_json(),
        "drivers": [
            _driver_row(person, merged.get(person["pk"], _DRIVER_EMPTY)) for person in people
        ],
    }


def _driver_row(person: Mapping[str, Any], figures: dict) -> dict:
    hours = (figures["active_minutes"] or 0) / 60
    rating = figures["rating_avg"]
    return {
        "driver_id": person["pk"],
        "full_name": person["user__full_name"],
        "is_active": person["is_active"],
        **{k: v for k, v in figures.items() if k not in ("active_minutes", "rating_avg")},
        "rating_avg": None if rating is None else round(float(rating), 2),
        "active_hours": round(hours, 2),
        "deliveries_per_hour": round(figures["deliveries"] / hours, 2) if hours else None,
        "incident_rate": outputs.ratio(figures["incidents"], figures["runs_total"]),
    }


_DRIVER_COLUMNS = list(DriverReportRow().fields)


def _drivers_table(data: dict) -> tuple[list[str], list[list]]:
    return _DRIVER_COLUMNS, [[row[c] for c in _DRIVER_COLUMNS] for row in data["drivers"]]


# --- incidents -----------------------------------------------------------------------------

SEVERITIES = range(1, 6)


class IncidentSeverityCount(serializers.Serializer):
    severity = serializers.IntegerField(min_value=1, max_value=5)
    count = serializers.IntegerField()


class IncidentTypeCount(serializers.Serializer):
    type = serializers.ChoiceField(choices=IncidentType.choices)
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    count = serializers.IntegerField()


class IncidentsBucket(serializers.Serializer):
    bucket = serializers.DateField(help_text="First Lima day of the bucket")
    count = serializers.IntegerField()


class IncidentsTotals(serializers.Serializer):
    count = serializers.IntegerField()


class IncidentsOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    granularity = serializers.ChoiceField(choices=["day", "week", "month"])
    buckets = IncidentsBucket(
        many=True, help_text="Incidents created in the period, by the Lima bucket of `created_at`"
    )
    totals = IncidentsTotals()
    by_severity = IncidentSeverityCount(many=True, help_text="1 to 5, zeros included")
    by_type = IncidentTypeCount(many=True, help_text="Every type, zeros included")


def incidents(*, period: Period, granularity: str) -> dict:
    """Incidents created in the period: the total, by severity and by type in one pass;
    per Lima bucket in another."""
    created = Incident.objects.filter(**period.bounds("created_at"))
    counts = created.aggregate(
        total=Count("id"),
        **{f"severity_{s}": Count("id", filter=Q(severity=s)) for s in SEVERITIES},
        **{f"type_{t}": Count("id", filter=Q(type=t)) for t in IncidentType.values},
    )
    per_bucket = {
        as_date(row["b"]): {"count": row["count"]}
        for row in created.annotate(b=bucket("created_at", granularity))
        .values("b")
        .annotate(count=Count("id"))
        .order_by()
    }
    return {
        "period": period.as_json(),
        "granularity": granularity,
        "buckets": zero_filled(period, granularity, per_bucket, {"count": 0}),
        "totals": {"count": counts["total"]},
        "by_severity": [{"severity": s, "count": counts[f"severity_{s}"]} for s in SEVERITIES],
        "by_type": [
            {"type": value, "label": label, "count": counts[f"type_{value}"]}
            for value, label in IncidentType.choices
        ],
    }


def _incidents_table(data: dict) -> tuple[list[str], list[list]]:
    rows = section_rows(
        [
            ("total", [(None, None, data["totals"]["count"])]),
            ("severity", [(s["severity"], None, s["count"]) for s in data["by_severity"]]),
            ("type", [(t["type"], t["label"], t["count"]) for t in data["by_type"]]),
            ("bucket", [(b["bucket"], None, b["count"]) for b in data["buckets"]]),
        ]
    )
    return ["section", "key", "label", "count"], rows


register(
    ReportDef(
        name="delivery-times",
        title=_("Delivery times"),
        description=(
            "Delivered drop-offs of the period (by `delivered_at`): minutes from their run's "
            "start to the delivery (count, average, median, 95th percentile, maximum) and "
            "the share on time against the service level's target minutes of the tariff, "
            "over every level and per level. Drop-offs whose run is gone are counted as "
            "`unmeasured`."
        ),
        query=DeliveryTimesQuery,
        output=DeliveryTimesOutput,
        build=delivery_times,
        table=_delivery_times_table,
    )
)
register(
    ReportDef(
        name="sla",
        title=_("Service level (on time)"),
        description=(
            "Delivered drop-offs on time and late against the tariff's target minutes, per "
            "service level, per Lima day, week or month (by `delivered_at`) and over the "
            "period. Buckets add up to the totals."
        ),
        query=BucketedQuery,
        output=SlaOutput,
        build=sla,
        table=_sla_table,
    )
)
register(
    ReportDef(
        name="drivers",
        title=_("Drivers"),
        description=(
            "Per driver over the period: runs created (finished, in progress), drop-offs "
            "delivered and failed, incidents, rating, active hours on the road, deliveries "
            "per hour and incidents per run."
        ),
        query=PeriodQuery,
        output=DriversOutput,
        build=drivers,
        table=_drivers_table,
    )
)
register(
    ReportDef(
        name="incidents",
        title=_("Incidents"),
        description=(
            "Incidents created in the period: the total, by severity (1 to 5), by type and "
            "per Lima day, week or month. Buckets add up to the total."
        ),
        query=BucketedQuery,
        output=IncidentsOutput,
        build=incidents,
        table=_incidents_table,
    )
)
