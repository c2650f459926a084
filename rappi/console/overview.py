"""The figures of the console's overview, each from its app's selectors: what happened
today (the Lima day), what waits, who is on the road. A fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from fleet import selectors as fleet_selectors
from fleet.models import AssignmentStatus, Availability
from orders import selectors as order_selectors
from orders.models import OrderStatus
from tracking import selectors as tracking_selectors


@dataclass(frozen=True)
class Tile:
    label: str
    value: object
    url: str
    tone: str = ""  # "", "warn" or "alert": how much it asks for attention


def lima_day(now: datetime) -> tuple[datetime, datetime]:
    """Start and end of the local (America/Lima) day holding `now`."""
    local = timezone.localtime(now, timezone.get_default_timezone())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _link(url_name: str, **query) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode(query)}" if query else url


def overview(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    start, end = lima_day(now)
    today = {
        "created_after": start.isoformat(),
        "created_before": end.isoformat(),
    }
    by_status = order_selectors.order_counts_by_status(since=start, until=end)
    runs = fleet_selectors.run_counts_by_status()
    drivers = fleet_selectors.driver_counts_by_availability()
    silent = tracking_selectors.silent_run_ids(now=now)
    incidents = fleet_selectors.incident_counts_by_severity(since=now - timedelta(hours=24))
    unpaid_days = settings.UNPAID_WARNING_DAYS
    unpaid = order_selectors.unpaid_older_than_count(
        created_before=now - timedelta(days=unpaid_days)
    )
    waiting = order_selectors.order_waiting_count()
    return {
        "day": start,
        "orders_today": [
            Tile(
                status.label,
                by_status.get(status.value, 0),
                _link("console:orders", status=status.value, **today),
            )
            for status in OrderStatus
        ],
        "attention": [
            Tile(
                _("Orders waiting for a run"),
                waiting,
                _link("console:orders", status=OrderStatus.PENDING),
                "warn" if waiting else "",
            ),
            Tile(
                _("Unpaid for more than %(days)s days") % {"days": unpaid_days},
                unpaid,
                _link(
                    "console:orders",
                    status=OrderStatus.PENDING_PAYMENT,
                    created_before=(now - timedelta(days=unpaid_days)).isoformat(),
                ),
                "alert" if unpaid else "",
            ),
            Tile(
                _("Runs in progress"),
                runs.get(AssignmentStatus.IN_PROGRESS, 0),
                _link("console:runs", status=AssignmentStatus.IN_PROGRESS),
            ),
            Tile(
                _("Runs assigned, not started"),
                runs.get(AssignmentStatus.ASSIGNED, 0),
                _link("console:runs", status=AssignmentStatus.ASSIGNED),
            ),
        ],
        "drivers": [
            Tile(
                _("Available"),
                drivers.get(Availability.AVAILABLE, 0),
                _link("console:drivers", availability=Availability.AVAILABLE),
            ),
            Tile(
                _("Busy"),
                drivers.get(Availability.BUSY, 0),
                _link("console:drivers", availability=Availability.BUSY),
            ),
            Tile(
                _("Silent for %(minutes)s min") % {"minutes": settings.DRIVER_SILENT_AFTER_S // 60},
                len(silent),
                _link("console:runs", status=AssignmentStatus.IN_PROGRESS),
                "alert" if silent else "",
            ),
        ],
        "incidents": [
            Tile(
                _("Severity %(level)s") % {"level": level},
                incidents.get(level, 0),
                _link(
                    "console:incidents",
                    severity=level,
                    created_after=(now - timedelta(hours=24)).isoformat(),
                ),
                ("alert" if level >= 4 else "warn") if incidents.get(level) else "",
            )
            for level in range(5, 0, -1)
        ],
        "revenue_today": order_selectors.revenue_between(since=start, until=end),
        "revenue_url": _link("console:orders", **today),
    }
