"""The console's navigation: each entry shows only to staff holding its read grant."""

from collections.abc import Callable
from dataclasses import dataclass

import pymongo
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from pymongo.errors import PyMongoError

from identity.selectors import notification_unread_count
from rappi.api.permissions import READ

# A badge is worth little against a slow page: while MongoDB does not answer, pages go
# without it after this long rather than after the whole server-selection timeout.
BADGE_TIMEOUT_S = 0.3


def unread_notifications(request) -> int | None:
    """The signed-in user's unread notifications; None when MongoDB cannot tell."""
    try:
        with pymongo.timeout(BADGE_TIMEOUT_S):
            return notification_unread_count(user=request.user)
    except PyMongoError:
        return None


@dataclass(frozen=True)
class Entry:
    url_name: str
    label: str | Promise  # lazily translated
    resource: str | None  # None: every staff member
    # A count shown beside the label (request → number), read only if the page shows it.
    badge: Callable | None = None


# In the order a dispatcher's day goes; pages of later work are added here.
ENTRIES = (
    Entry("console:overview", _("Overview"), None),
    Entry("console:orders", _("Orders"), "orders"),
    Entry("console:runs", _("Runs"), "assignments"),
    Entry("console:fleet", _("Fleet map"), "tracking"),
    Entry("console:incidents", _("Incidents"), "incidents"),
    Entry("console:drivers", _("Drivers"), "drivers"),
    Entry("console:vehicles", _("Vehicles"), "vehicles"),
    Entry("console:customers", _("Customers"), "customers"),
    Entry("console:geofences", _("Geofences"), "geofences"),
    Entry("console:notifications", _("Notifications"), None, badge=unread_notifications),
    Entry("console:audit", _("Audit log"), "audit"),
    Entry("console:reports", _("Reports"), "reports"),
)


def navigation(request) -> dict:
    """Context processor: `console_nav`, the entries the signed-in user may open, with the
    current one marked."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith("/console/"):
        return {}
    entries = []
    for entry in ENTRIES:
        if entry.resource is not None and not user.has_permission(entry.resource, READ):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:  # a page not built yet (its test lists the missing ones)
            continue
        current = request.path == url if url.endswith("/console/") else request.path.startswith(url)
        badge = (lambda entry=entry: entry.badge(request)) if entry.badge else None
        entries.append({"url": url, "label": entry.label, "current": current, "badge": badge})
    return {"console_nav": entries}
