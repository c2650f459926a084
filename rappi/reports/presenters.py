"""How the console shows each report: its chart (rappi/console/charts.py) and its headline
figures, read from the report's serialized data (the API's answer, decimals as strings),
and the words of its CSV header in the reader's language. Nothing here computes a figure:
it only picks them out of the data."""

from datetime import date

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from fleet.models import AssignmentStatus
from orders.models import OrderStatus, PaymentStatus, ServiceLevel
from rappi.console import charts
from rappi.reports.periods import DAY, MONTH, WEEK

GRANULARITY_LABELS = {DAY: _("Days"), WEEK: _("Weeks"), MONTH: _("Months")}
MONEY = "S/"

# The CSV's column and section names, as a person reads them; a name missing here is
# shown with its underscores as spaces.
COLUMN_LABELS = {
    "section": _("Part"),
    "bucket": _("From"),
    "total": _("Total"),
    "key": _("Item"),
    "value": _("Value"),
    "amount": _("Amount"),
    "count": _("Count"),
    "status": _("Status"),
    "provider": _("Provider"),
    "district": _("District"),
    "orders": _("Orders"),
    "drop_offs": _("Drop-offs"),
    "delivered": _("Delivered"),
    "delivered_share": _("Share delivered"),
    "payments_paid": _("Payments paid"),
    "paid_amount": _("Amount paid"),
    "orders_created": _("Orders created"),
    "orders_delivered": _("Orders delivered"),
    "invoices": _("Invoices"),
    "invoiced_amount": _("Amount invoiced"),
    "customer_id": _("Customer"),
    "full_name": _("Name"),
    "last_order_at": _("Last order"),
    "service_level": _("Service"),
    "created_at": _("Created"),
    # Sections of the reports with several parts in one table.
    "customer": _("Customer"),
    "orders_by_status": _("Orders by status"),
    "paid": _("Paid"),
    "invoiced": _("Invoiced"),
    "rating": _("Rating"),
    "last_orders": _("Last orders"),
    "origins": _("Origins"),
    "destinations": _("Destinations"),
    "by_provider": _("By provider"),
    "by_status": _("By status"),
    "refunds": _("Refunds"),
    "target_minutes": _("Target (min)"),
    "unmeasured": _("Not measured"),
    "avg_minutes": _("Average (min)"),
    "p50_minutes": _("Median (min)"),
    "p95_minutes": _("95th percentile (min)"),
    "max_minutes": _("Longest (min)"),
    "on_time": _("On time"),
    "late": _("Late"),
    "on_time_share": _("Share on time"),
    "overall": _("Overall"),
    "driver_id": _("Driver"),
    "is_active": _("Active"),
    "runs_total": _("Runs"),
    "runs_finished": _("Runs finished"),
    "runs_in_progress": _("Runs in progress"),
    "deliveries": _("Deliveries"),
    "failed_drops": _("Failed drop-offs"),
    "incidents": _("Incidents"),
    "rating_avg": _("Average rating"),
    "rating_count": _("Ratings"),
    "active_hours": _("Hours on the road"),
    "deliveries_per_hour": _("Deliveries per hour"),
    "incident_rate": _("Incidents per run"),
    "label": _("Name"),
    "severity": _("Severity"),
    "type": _("Type"),
    "kind": _("Kind"),
    "documents": _("Records"),
    "files": _("Files"),
    "bytes": _("Bytes"),
    "incident": _("Incident"),
    "sent": _("Sent"),
    "read": _("Read"),
    "unread": _("Unread"),
    "now": _("Now"),
    "day": _("Today"),
    "orders_today": _("Orders today"),
    "runs": _("Runs"),
    "drivers": _("Drivers"),
    "incidents_24h": _("Incidents (24 h)"),
    "revenue_today": _("Revenue today"),
    "unpaid": _("Unpaid"),
    "window_min": _("Window (min)"),
    "drivers_busy": _("Drivers busy"),
    "drivers_with_fix": _("Drivers with a recent fix"),
    "runs_in_progress_without_fix": _("Runs in progress without a fix"),
    "active_geofences": _("Active geofences"),
    "run": _("Run"),
    "stops": _("Stops"),
    "gps": _("GPS"),
    "proofs": _("Proofs"),
}

PAYMENT_TONES = {
    PaymentStatus.PENDING: "warn",
    PaymentStatus.PAID: "ok",
    PaymentStatus.FAILED: "late",
    PaymentStatus.REFUNDED: "muted",
}
SEVERITY_TONES = {1: "low", 2: "info", 3: "medium", 4: "high", 5: "critical"}
EVIDENCE_LABELS = {"photo": _("Photos"), "signature": _("Signatures"), "document": _("Documents")}
ORDER_TONES = {
    OrderStatus.PENDING_PAYMENT: "muted",
    OrderStatus.PENDING: "warn",
    OrderStatus.ASSIGNED: "info",
    OrderStatus.IN_TRANSIT: "low",
    OrderStatus.DELIVERED: "ok",
    OrderStatus.CANCELLED: "late",
}


def column_label(name: str) -> str:
    return str(COLUMN_LABELS.get(name, name.replace("_", " ")))


def section_label(name) -> str:
    return column_label(str(name)) if name else ""


def _figure(label, value, unit: str = "") -> dict:
    return {"label": label, "value": value, "unit": unit}


def _days(buckets: list[dict], granularity: str) -> list[str]:
    return charts.bucket_labels([date.fromisoformat(b["bucket"]) for b in buckets], granularity)


def _all_zero(*lists) -> bool:
    return all(value in (None, 0, "0", "0.00", 0.0) for values in lists for value in values)


def _chart(spec: dict, *value_lists) -> dict | None:
    """The spec, or None when it would draw nothing but zeros."""
    return None if _all_zero(*value_lists) else spec


# --- the reports of a period ----------------------------------------------------------------


def sales(data: dict) -> dict:
    buckets, totals = data["buckets"], data["totals"]
    created = [b["orders_created"] for b in buckets]
    delivered = [b["orders_delivered"] for b in buckets]
    paid = [b["paid_amount"] for b in buckets]
    spec = charts.bar(
        _days(buckets, data["granularity"]),
        [
            {"label": _("Orders created"), "values": created},
            {"label": _("Orders delivered"), "values": delivered, "tone": "ok"},
        ],
        line={"label": _("Amount paid"), "values": paid, "tone": "warn"},
        line_unit=MONEY,
    )
    return {
        "chart": _chart(spec, created, delivered, paid),
        "chart_label": _("Orders created and delivered per bucket, and the amount paid"),
        "figures": [
            _figure(_("Amount paid"), totals["paid_amount"], MONEY),
            _figure(_("Payments paid"), totals["payments_paid"]),
            _figure(_("Orders created"), totals["orders_created"]),
            _figure(_("Orders delivered"), totals["orders_delivered"]),
            _figure(_("Amount invoiced"), totals["invoiced_amount"], MONEY),
        ],
    }


def top_customers(data: dict) -> dict:
    customers = data["customers"]
    paid = [c["paid_amount"] for c in customers]
    spec = charts.bar(
        [c["full_name"] for c in customers],
        [{"label": _("Amount paid"), "values": paid}],
        horizontal=True,
        unit=MONEY,
    )
    return {"chart": _chart(spec, paid), "chart_label": _("Amount paid per customer")}


def geography(data: dict) -> dict:
    places, totals = data["destinations"], data["totals"]
    drops = [d["drop_offs"] for d in places]
    delivered = [d["delivered"] for d in places]
    spec = charts.bar(
        [d["district"] for d in places],
        [
            {"label": _("Drop-offs"), "values": drops},
            {"label": _("Delivered"), "values": delivered, "tone": "ok"},
        ],
        horizontal=True,
    )
    return {
        "chart": _chart(spec, drops),
        "chart_label": _("Drop-offs and deliveries per destination district"),
        "figures": [
            _figure(_("Orders"), totals["orders"]),
            _figure(_("Drop-offs"), totals["drop_offs"]),
            _figure(_("Delivered"), totals["delivered"]),
            _figure(_("Share delivered"), _percent(totals["delivered_share"]), "%"),
        ],
    }


def payments(data: dict) -> dict:
    statuses = data["by_status"]
    counts = [s["count"] for s in statuses]
    spec = charts.doughnut(
        [PaymentStatus(s["status"]).label for s in statuses],
        counts,
        tones=[PAYMENT_TONES.get(s["status"], "") for s in statuses],
    )
    refunds = data["refunds"]
    return {
        "chart": _chart(spec, counts),
        "chart_label": _("Payments by status"),
        "figures": [
            _figure(_("Payments"), data["totals"]["count"]),
            _figure(_("Amount"), data["totals"]["amount"], MONEY),
            _figure(_("To refund"), refunds["flagged"]["amount"], MONEY),
            _figure(_("Refunded"), refunds["refunded"]["amount"], MONEY),
        ],
    }


def overview(data: dict) -> dict:
    """Now, as the console's overview tiles show it (they are built from this report)."""
    by_status = data["orders_today"]
    counts = [row["count"] for row in by_status]
    spec = charts.bar(
        [OrderStatus(row["status"]).label for row in by_status],
        [{"label": _("Orders created today"), "values": counts}],
        tones=[ORDER_TONES.get(row["status"], "") for row in by_status],
    )
    runs, drivers = data["runs"], data["drivers"]
    return {
        "note": _("Now: today in Lima, and the last 24 hours for incidents."),
        "chart": _chart(spec, counts),
        "chart_label": _("Orders created today by status"),
        "figures": [
            _figure(_("Revenue today"), data["revenue_today"], MONEY),
            _figure(_("Orders waiting for a run"), data["orders_waiting"]),
            _figure(_("Runs in progress"), runs["in_progress"]),
            _figure(_("Runs assigned, not started"), runs["assigned"]),
            _figure(_("Drivers available"), drivers["available"]),
            _figure(_("Drivers busy"), drivers["busy"]),
            _figure(_("Drivers silent"), drivers["silent"]),
            _figure(_("Incidents (24 h)"), data["incidents_24h"]["total"]),
            _figure(_("Unpaid orders"), data["unpaid"]["count"]),
        ],
    }


def operations(data: dict) -> dict:
    return {
        "note": _("Now; a fix counts as recent for %(minutes)s min.")
        % {"minutes": data["window_min"]},
        "figures": [
            _figure(_("Runs in progress"), data["runs_in_progress"]),
            _figure(_("Drivers busy"), data["drivers_busy"]),
            _figure(_("Drivers with a recent fix"), data["drivers_with_fix"]),
            _figure(_("Runs in progress without a fix"), data["runs_in_progress_without_fix"]),
            _figure(_("Active geofences"), data["active_geofences"]),
            _figure(_("Incidents (24 h)"), data["incidents_24h"]),
        ],
    }


def delivery_times(data: dict) -> dict:
    levels, overall = data["by_service_level"], data["overall"]
    series = [
        {"label": _("Average"), "values": [row["avg_minutes"] for row in levels]},
        {"label": _("Median"), "values": [row["p50_minutes"] for row in levels]},
        {"label": _("95th percentile"), "values": [row["p95_minutes"] for row in levels]},
    ]
    spec = charts.bar(
        [_choice_label(ServiceLevel, row["service_level"]) for row in levels], series, unit="min"
    )
    return {
        "chart": _chart(spec, *(item["values"] for item in series)),
        "chart_label": _("Minutes from the run's start to the delivery, per service level"),
        "figures": [
            _figure(_("Drop-offs delivered"), overall["count"]),
            _figure(_("Average"), overall["avg_minutes"], "min"),
            _figure(_("95th percentile"), overall["p95_minutes"], "min"),
            _figure(_("Share on time"), _percent(overall["on_time_share"]), "%"),
        ],
    }


def sla(data: dict) -> dict:
    buckets, totals = data["buckets"], data["totals"]
    on_time = [b["on_time"] for b in buckets]
    late = [b["late"] for b in buckets]
    spec = charts.bar(
        _days(buckets, data["granularity"]),
        [
            {"label": _("On time"), "values": on_time, "tone": "ok"},
            {"label": _("Late"), "values": late, "tone": "late"},
        ],
        stacked=True,
    )
    return {
        "chart": _chart(spec, on_time, late),
        "chart_label": _("Drop-offs delivered on time and late per bucket"),
        "figures": [
            _figure(_("On time"), totals["on_time"]),
            _figure(_("Late"), totals["late"]),
            _figure(_("Share on time"), _percent(totals["on_time_share"]), "%"),
            *(
                _figure(
                    _("%(level)s on time")
                    % {"level": _choice_label(ServiceLevel, row["service_level"])},
                    _percent(row["on_time_share"]),
                    "%",
                )
                for row in totals["by_service_level"]
            ),
        ],
    }


DRIVERS_CHARTED = 25


def drivers(data: dict) -> dict:
    busiest = sorted(
        (row for row in data["drivers"] if row["deliveries"]),
        key=lambda row: (-row["deliveries"], row["full_name"]),
    )[:DRIVERS_CHARTED]
    deliveries = [row["deliveries"] for row in busiest]
    spec = charts.bar(
        [row["full_name"] for row in busiest],
        [{"label": _("Deliveries"), "values": deliveries}],
        horizontal=True,
    )
    return {
        "chart": _chart(spec, deliveries),
        "chart_label": _("Deliveries per driver, most first"),
    }


def incidents(data: dict) -> dict:
    levels = data["by_severity"]
    counts = [row["count"] for row in levels]
    spec = charts.bar(
        [_("Severity %(level)s") % {"level": row["severity"]} for row in levels],
        [{"label": _("Incidents"), "values": counts}],
        tones=[SEVERITY_TONES.get(row["severity"], "") for row in levels],
    )
    worst = max(
        (row for row in data["by_type"] if row["count"]), key=lambda r: r["count"], default=None
    )
    return {
        "chart": _chart(spec, counts),
        "chart_label": _("Incidents by severity"),
        "figures": [
            _figure(_("Incidents"), data["totals"]["count"]),
            _figure(_("Most frequent"), f"{worst['label']} ({worst['count']})" if worst else None),
        ],
    }


def evidence(data: dict) -> dict:
    kinds = data["by_kind"]
    documents = [row["documents"] for row in kinds]
    files = [row["files"] for row in kinds]
    spec = charts.bar(
        [EVIDENCE_LABELS.get(row["kind"], row["kind"]) for row in kinds],
        [
            {"label": _("Records"), "values": documents},
            {"label": _("Files"), "values": files},
        ],
    )
    totals = data["totals"]
    return {
        "chart": _chart(spec, documents, files),
        "chart_label": _("Evidence records and files by kind"),
        "figures": [
            _figure(_("Records"), totals["documents"]),
            _figure(_("Files"), totals["files"]),
            _figure(_("Stored"), _megabytes(totals["bytes"]), "MB"),
        ],
    }


def notifications(data: dict) -> dict:
    kinds = data["by_kind"]
    sent = [row["sent"] for row in kinds]
    spec = charts.doughnut([row["kind"] for row in kinds], sent)
    totals = data["totals"]
    return {
        "note": _("The last %(hours)s hours.") % {"hours": data["hours"]},
        "chart": _chart(spec, sent),
        "chart_label": _("Notifications sent by kind"),
        "figures": [
            _figure(_("Sent"), totals["sent"]),
            _figure(_("Read"), totals["read"]),
            _figure(_("Unread"), totals["unread"]),
        ],
    }


# --- one customer, one run ----------------------------------------------------------------


def customer_summary(data: dict) -> dict:
    by_status = data["orders"]["by_status"]
    counts = [s["count"] for s in by_status]
    spec = charts.bar(
        [OrderStatus(s["status"]).label for s in by_status],
        [{"label": _("Orders"), "values": counts}],
        tones=[ORDER_TONES.get(s["status"], "") for s in by_status],
    )
    rating = data["rating"]
    last_orders = [
        {
            "id": order["id"],
            "status": order["status"],
            "status_label": OrderStatus(order["status"]).label,
            "service_label": _choice_label(ServiceLevel, order["service_level"]),
            "total": order["total"],
            "created": parse_datetime(order["created_at"]),
        }
        for order in data["last_orders"]
    ]
    return {
        "extra": {"last_orders": last_orders},
        "chart": _chart(spec, counts),
        "chart_label": _("The customer's orders by status"),
        "figures": [
            _figure(_("Orders"), data["orders"]["total"]),
            _figure(_("Amount paid"), data["paid"]["amount"], MONEY),
            _figure(_("Amount invoiced"), data["invoiced"]["amount"], MONEY),
            _figure(
                _("Average rating"),
                rating["average"] if rating["average"] is not None else "—",
            ),
        ],
    }


def _choice_label(choices, value) -> str:
    return str(choices(value).label) if value in choices.values else str(value)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


def _percent(share) -> str | None:
    """A share (0 to 1) as a percentage with one decimal; None stays unknown."""
    return None if share is None else f"{float(share) * 100:.1f}"


def run_summary(data: dict) -> dict:
    stops, gps = data["stops"], data["gps"]
    levels = data["incidents"]["by_severity"]
    counts = [row["count"] for row in levels]
    spec = charts.bar(
        [_("Severity %(level)s") % {"level": row["severity"]} for row in levels],
        [{"label": _("Incidents"), "values": counts}],
        tones=[SEVERITY_TONES.get(row["severity"], "") for row in levels],
    )
    return {
        "extra": {
            "run_status": _choice_label(AssignmentStatus, data["status"]),
            "run_started": parse_datetime(data["started_at"]) if data["started_at"] else None,
            "run_finished": parse_datetime(data["finished_at"]) if data["finished_at"] else None,
        },
        "chart": _chart(spec, counts),
        "chart_label": _("The run's incidents by severity"),
        "figures": [
            _figure(_("Orders"), data["orders"]["count"]),
            _figure(_("Stops done"), f"{stops['done']} / {stops['total']}"),
            _figure(_("Skipped"), stops["skipped"]),
            _figure(_("Distance"), f"{gps['distance_m'] / 1000:.1f}", "km"),
            _figure(_("Time on the road"), f"{gps['duration_s'] / 60:.0f}", "min"),
            _figure(_("GPS fixes"), gps["fixes"]),
            _figure(_("Route deviations"), data["deviations"]),
            _figure(_("Proofs"), data["proofs"]),
        ],
    }


PRESENTERS = {
    "overview": overview,
    "operations": operations,
    "sales": sales,
    "top-customers": top_customers,
    "geography": geography,
    "payments": payments,
    "delivery-times": delivery_times,
    "sla": sla,
    "drivers": drivers,
    "incidents": incidents,
    "evidence": evidence,
    "notifications": notifications,
    "customers/summary": customer_summary,
    "assignments/summary": run_summary,
}
