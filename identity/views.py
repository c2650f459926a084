"""The console's notification inbox (the JSON API is in identity/api/): the signed-in
staff member's own notifications, unread first, each linking to what it is about, with
"mark read" and "mark all read" through identity's services."""

from bson import ObjectId
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from identity import selectors, services
from identity.api.serializers import NotificationFilterInput
from identity.forms import InboxFilterForm
from rappi.api.permissions import WRITE
from rappi.console.access import console_page
from rappi.console.actions import perform
from rappi.console.lists import page_of
from rappi.console.queries import Chained, QueryFilters, mongo_backed
from rappi.errors import NotFoundError

# What a notification's data may name, and the console page showing it.
ABOUT = (
    ("order_id", "console:order", gettext_lazy("Order #%(id)s")),
    ("assignment_id", "console:run", gettext_lazy("Run #%(id)s")),
    ("geofence_id", "console:geofence", gettext_lazy("Geofence")),
)


@require_GET
@console_page()
@mongo_backed
def notification_inbox(request):
    """Unread first, newest first within each: a page costs two MongoDB counts and at most
    two reads, whatever its size."""
    filters = QueryFilters(NotificationFilterInput, InboxFilterForm, request)
    rows = []
    if filters.is_valid():
        rows = Chained(*selectors.notification_inbox_for(user=request.user, filters=filters.data))
    page = page_of(request, rows)
    for notification in page.object_list:
        notification.about = _about(notification.data or {})
    return render(
        request,
        "identity/inbox.html",
        {
            "filters": filters,
            "page_obj": page,
            "unread": selectors.notification_unread_count(user=request.user),
            "can_mark": request.user.has_permission("notifications", WRITE),
        },
    )


def _about(data: dict) -> list[dict]:
    """What the notification's data names: a label each, linked to its console page when
    there is one."""
    links = []
    for key, url_name, label in ABOUT:
        value = data.get(key)
        if key == "geofence_id":
            if not isinstance(value, str) or not ObjectId.is_valid(value):
                continue
        elif isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.isdigit())
        ):
            continue
        try:
            url = reverse(url_name, args=[value])
        except NoReverseMatch:  # a page the console does not have yet
            url = None
        links.append({"url": url, "label": label % {"id": value}})
    return links


@require_POST
@console_page("notifications", WRITE)
@mongo_backed
def notification_read(request, pk: str):
    try:
        notification = selectors.notification_get_for(user=request.user, pk=pk)
    except NotFoundError:  # someone else's, or none: the same answer
        raise Http404 from None
    perform(
        request,
        lambda: services.notification_mark_read(notification=notification),
        success=_("Marked as read: %(title)s") % {"title": notification.title},
    )
    return _back_to_inbox(request)


@require_POST
@console_page("notifications", WRITE)
@mongo_backed
def notification_read_all(request):
    count = services.notification_mark_all_read(user=request.user)
    messages.success(
        request,
        ngettext(
            "%(count)d notification marked as read.",
            "%(count)d notifications marked as read.",
            count,
        )
        % {"count": count},
    )
    return _back_to_inbox(request)


def _back_to_inbox(request):
    """To the inbox page the form was on (its filters and page kept)."""
    inbox = reverse("console:notifications")
    back = request.POST.get("next", "")
    if back.startswith(inbox) and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect(inbox)
