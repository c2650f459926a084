"""The console's overview as tiles. The figures themselves are the `overview` report's
(rappi.reports.operations), so the page and the report never disagree: what happened today
(the Lima day), what waits, who is on the road. A fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from fleet.models import AssignmentStatus, Availability
from orders.models import OrderStatus
from rappi.reports import operations


@dataclass(frozen=True)
class Tile:
    label: str | Promise  # lazily translated
    value: object
    url: str
    tone: str = ""  # "", "warn" or "alert": how much it asks for attention


def lima_day(now: datetime) -> tuple[datetime, datetime]:
    """Start and end of the local (America/Lima) day holding `now`."""
    today = operations.lima_today(now)
    return today.since, today.until


def _link(url_name: str, **query) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode(query)}" if query else url


def overview(*, now: datetime | None = None) -> dict:
    figures = operations.overview(now=now)
    day = figures["day"]
    today = {
        "created_after": day["since"].isoformat(),
        "created_before": day["until"].isoformat(),
    }
    runs, drivers, unpaid = figures["runs"], figures["drivers"], figures["unpaid"]
    waiting = figures["orders_waiting"]
    incidents_after = figures["incidents_24h"]["since"].isoformat()
    return {
        "day": day["since"],
        "orders_today": [
            Tile(
                OrderStatus(row["status"]).label,
                row["count"],
                _link("console:orders", status=row["status"], **today),
            )
            for row in figures["orders_today"]
        ],
        "attention": [
            Tile(
                _("Orders waiting for a run"),
                waiting,
                _link("console:orders", status=OrderStatus.PENDING),
                "warn" if waiting else "",
            ),
            Tile(
                _("Unpaid for more than %(days)s days") % {"days": unpaid["days"]},
                unpaid["count"],
                _link(
                    "console:orders",
                    status=OrderStatus.PENDING_PAYMENT,
                    created_before=unpaid["created_before"].isoformat(),
                ),
                "alert" if unpaid["count"] else "",
            ),
            Tile(
                _("Runs in progress"),
                runs["in_progress"],
                _link("console:runs", status=AssignmentStatus.IN_PROGRESS),
            ),
            Tile(
                _("Runs assigned, not started"),
                runs["assigned"],
                _link("console:runs", status=AssignmentStatus.ASSIGNED),
            ),
        ],
        "drivers": [
            Tile(
                _("Available"),
                drivers["available"],
                _link("console:drivers", availability=Availability.AVAILABLE),
            ),
            Tile(
                _("Busy"),
                drivers["busy"],
                _link("console:drivers", availability=Availability.BUSY),
            ),
            Tile(
                _("Silent for %(minutes)s min") % {"minutes": drivers["silent_after_s"] // 60},
                drivers["silent"],
                _link("console:runs", status=AssignmentStatus.IN_PROGRESS),
                "alert" if drivers["silent"] else "",
            ),
        ],
        "incidents": [
            Tile(
                _("Severity %(level)s") % {"level": row["severity"]},
                row["count"],
                _link("console:incidents", severity=row["severity"], created_after=incidents_after),
                ("alert" if row["severity"] >= 4 else "warn") if row["count"] else "",
            )
            for row in figures["incidents_24h"]["by_severity"]
        ],
        "revenue_today": figures["revenue_today"],
        "revenue_url": _link("console:orders", **today),
    }
