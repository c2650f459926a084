"""What MongoDB holds beside the GPS fixes: evidence (photos, signatures, documents of
incidents and drop-offs) and users' notifications. Each report is one aggregation pipeline
($facet for its parts), whatever the number of documents; written for MongoDB and for the
embedded mongoeco server alike (no $dateTrunc with a time zone, no long $in lists)."""

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from identity.documents import Notification
from rappi.reports import outputs
from rappi.reports.periods import Period, PeriodQuery
from rappi.reports.registry import FormatQuery, ReportDef, register
from rappi.reports.tables import section_rows
from tracking.documents import EVIDENCE_KINDS, Evidence

# --- evidence ----------------------------------------------------------------------------------

TOP_INCIDENTS = 10


class EvidenceReportFigures(serializers.Serializer):
    documents = serializers.IntegerField(help_text="Evidence records")
    files = serializers.IntegerField(help_text="Files they hold")
    bytes = serializers.IntegerField(help_text="Size of those files as stored")


# The key first, then the figures: a base's fields come before the subclass's own.
class _EvidenceKindKey(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EVIDENCE_KINDS)


class _IncidentKey(serializers.Serializer):
    incident_id = serializers.IntegerField()


class EvidenceReportKind(_EvidenceKindKey, EvidenceReportFigures):
    pass


class EvidenceReportIncident(_IncidentKey, EvidenceReportFigures):
    pass


class EvidenceReportOutput(serializers.Serializer):
    period = outputs.PeriodOutput(help_text="Evidence by its `created_at`")
    totals = EvidenceReportFigures()
    by_kind = EvidenceReportKind(many=True, help_text="Every kind listed")
    top_incidents = EvidenceReportIncident(
        many=True,
        help_text=f"The {TOP_INCIDENTS} incidents with the most evidence records (then files, "
        "then bytes; ties by incident id)",
    )


def _figures(key) -> dict:
    return {
        "$group": {
            "_id": key,
            "documents": {"$sum": 1},
            "files": {"$sum": "$files"},
            "bytes": {"$sum": "$bytes"},
        }
    }


_NO_EVIDENCE = {"documents": 0, "files": 0, "bytes": 0}


def _counted(row: dict) -> dict:
    return {name: row[name] for name in _NO_EVIDENCE}


def evidence(*, period: Period) -> dict:
    """Evidence records created in the period, with their files and bytes: in all, by kind,
    and for the incidents with the most of them."""
    pipeline = [
        {"$match": {"created_at": {"$gte": period.since, "$lt": period.until}}},
        {
            "$project": {
                "kind": 1,
                "incident_id": 1,
                "files": {"$size": {"$ifNull": ["$files", []]}},
                "bytes": {"$sum": "$files.size"},
            }
        },
        {
            "$facet": {
                "totals": [_figures(None)],
                "by_kind": [_figures("$kind")],
                "top_incidents": [
                    {"$match": {"incident_id": {"$ne": None}}},
                    _figures("$incident_id"),
                    {"$sort": {"documents": -1, "files": -1, "bytes": -1, "_id": 1}},
                    {"$limit": TOP_INCIDENTS},
                ],
            }
        },
    ]
    (facets,) = Evidence._get_collection().aggregate(pipeline)
    kinds = {row["_id"]: _counted(row) for row in facets["by_kind"]}
    return {
        "period": period.as_json(),
        "totals": _counted(facets["totals"][0]) if facets["totals"] else dict(_NO_EVIDENCE),
        "by_kind": [{"kind": kind, **kinds.get(kind, _NO_EVIDENCE)} for kind in EVIDENCE_KINDS],
        "top_incidents": [
            {"incident_id": row["_id"], **_counted(row)} for row in facets["top_incidents"]
        ],
    }


_EVIDENCE_COLUMNS = list(_NO_EVIDENCE)


def _evidence_table(data: dict) -> tuple[list[str], list[list]]:
    def values(figures: dict) -> list:
        return [figures[column] for column in _EVIDENCE_COLUMNS]

    sections = [
        ("kind", [(row["kind"], *values(row)) for row in data["by_kind"]]),
        ("total", [("", *values(data["totals"]))]),
        ("incident", [(row["incident_id"], *values(row)) for row in data["top_incidents"]]),
    ]
    return ["section", "key", *_EVIDENCE_COLUMNS], section_rows(sections)


register(
    ReportDef(
        name="evidence",
        title=_("Evidence"),
        description=(
            "Evidence records (photos, signatures, documents of incidents and drop-offs) "
            "created in the period: records, files and bytes in all and by kind, and the "
            f"{TOP_INCIDENTS} incidents with the most evidence."
        ),
        query=PeriodQuery,
        output=EvidenceReportOutput,
        build=evidence,
        table=_evidence_table,
    )
)


# --- notifications -----------------------------------------------------------------------------


class NotificationsQuery(FormatQuery):
    hours = serializers.IntegerField(
        min_value=1,
        max_value=720,
        default=24,
        help_text="How far back, in hours (1 to 720)",
    )


class NotificationReportFigures(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Notifications created")
    read = serializers.IntegerField(help_text="Of those, read by now")
    unread = serializers.IntegerField()


class _NotificationKindKey(serializers.Serializer):
    kind = serializers.CharField()


class NotificationReportKind(_NotificationKindKey, NotificationReportFigures):
    pass


class NotificationsReportOutput(serializers.Serializer):
    now = outputs.moment()
    hours = serializers.IntegerField()
    since = outputs.moment(help_text="`hours` before `now` (by the notification's `created_at`)")
    totals = NotificationReportFigures()
    by_kind = NotificationReportKind(many=True, help_text="Most sent first")


def _sent_and_read(key) -> dict:
    return {
        "$group": {
            "_id": key,
            "sent": {"$sum": 1},
            # Absent and null both mean unread.
            "read": {"$sum": {"$cond": [{"$ifNull": ["$read_at", False]}, 1, 0]}},
        }
    }


def _with_unread(row: dict) -> dict:
    return {"sent": row["sent"], "read": row["read"], "unread": row["sent"] - row["read"]}


def notifications(*, hours: int, now: datetime | None = None) -> dict:
    """Notifications created in the last `hours`: sent, read and unread, in all and by
    kind."""
    now = now or timezone.now()
    since = now - timedelta(hours=hours)
    pipeline = [
        {"$match": {"created_at": {"$gte": since, "$lte": now}}},
        {
            "$facet": {
                "totals": [_sent_and_read(None)],
                "by_kind": [_sent_and_read("$kind"), {"$sort": {"sent": -1, "_id": 1}}],
            }
        },
    ]
    (facets,) = Notification._get_collection().aggregate(pipeline)
    totals = facets["totals"]
    return {
        "now": now,
        "hours": hours,
        "since": since,
        "totals": _with_unread(totals[0]) if totals else {"sent": 0, "read": 0, "unread": 0},
        "by_kind": [{"kind": row["_id"], **_with_unread(row)} for row in facets["by_kind"]],
    }


_NOTIFICATION_COLUMNS = ["sent", "read", "unread"]


def _notifications_table(data: dict) -> tuple[list[str], list[list]]:
    sections = [
        (
            "kind",
            [(row["kind"], *(row[c] for c in _NOTIFICATION_COLUMNS)) for row in data["by_kind"]],
        ),
        ("total", [("", *(data["totals"][c] for c in _NOTIFICATION_COLUMNS))]),
    ]
    return ["section", "kind", *_NOTIFICATION_COLUMNS], section_rows(sections)


register(
    ReportDef(
        name="notifications",
        title=_("Notifications"),
        description=(
            "Notifications created in the last `hours` hours: sent, read and unread, in all "
            "and by kind."
        ),
        query=NotificationsQuery,
        output=NotificationsReportOutput,
        build=notifications,
        table=_notifications_table,
    )
)
