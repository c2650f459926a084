"""The console's audit log (the JSON API is in audit/api/): every request and domain record,
filtered as `/api/v1/audit/events` filters them, with the figures of `/api/v1/audit/summary`
for the chosen range. Read-only; holders of `audit:read`."""

import json
from datetime import UTC, datetime

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from audit import selectors
from audit.api.serializers import AuditEventFilterInput
from audit.documents import AuditEvent
from audit.forms import KIND_LABELS, AuditFilterForm
from rappi.console.access import console_page
from rappi.console.lists import page_of
from rappi.console.queries import QueryFilters, mongo_backed


@require_GET
@console_page("audit")
@mongo_backed
def audit_log(request):
    """A page costs two MongoDB reads for the rows (count, page) and three for the summary,
    whatever the page size; no SQL beyond the session's."""
    filters = QueryFilters(AuditEventFilterInput, AuditFilterForm, request)
    events = AuditEvent.objects.none()
    summary = None
    if filters.is_valid():
        events = selectors.audit_event_list(filters=filters.data)
        since, until = selectors.summary_window(
            since=filters.data.get("since"), until=filters.data.get("until")
        )
        if since < until:
            summary = _readable_summary(selectors.audit_summary(since=since, until=until))
        else:  # a start in the future with no end: the list is simply empty
            filters.form.add_error("since", _("Must be before the end of the range (now if none)."))
    page = page_of(request, events)
    page.object_list = [_readable(event) for event in page.object_list]
    return render(
        request,
        "audit/audit_log.html",
        {"filters": filters, "page_obj": page, "summary": summary},
    )


def _readable_summary(summary: dict) -> dict:
    return {
        **summary,
        "since_shown": _lima(summary["since"]),
        "until_shown": _lima(summary["until"]),
        "error_rate_pct": summary["error_rate"] * 100,
        "client_error_rate_pct": summary["client_error_rate"] * 100,
    }


def _lima(moment: datetime) -> datetime:
    """`moment` as Lima's wall clock (naive, so templates show it as is); a range reaching
    back to year 1 has no Lima time, and shows in UTC."""
    try:
        return timezone.localtime(moment).replace(tzinfo=None)
    except OverflowError:
        return moment.astimezone(UTC).replace(tzinfo=None)


def _readable(event: AuditEvent) -> AuditEvent:
    event.kind_label = KIND_LABELS.get(event.kind, event.kind)
    event.status_class = f"{event.status_code // 100}xx" if event.status_code else ""
    event.change_rows = [
        (field, _json(change.get("old")), _json(change.get("new")))
        if isinstance(change, dict)
        else (field, "", _json(change))
        for field, change in sorted((event.changes or {}).items())
    ]
    return event


def _json(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
