"""Audit reads. Only holders of `audit:read` get here (the views check it); the log
has no row scope."""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit import writer
from audit.documents import DOMAIN, REQUEST, AuditEvent

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
TOP = 10
# Percentiles are computed here over the most recent durations of the range, at most
# this many: the same on MongoDB and on mongoeco, and a bounded cost on a busy range.
PERCENTILE_SAMPLE = 50_000
SUMMARY_DEFAULT_RANGE = timedelta(hours=24)


def audit_event_list(*, filters: dict):
    """Newest first. Filters: user_id, path (prefix), method, status_code (a code, or a
    class like "5xx"), since (inclusive), until (exclusive), kind, action, target_type,
    target_id, request_id."""
    events = AuditEvent.objects
    exact = ("user_id", "method", "kind", "action", "target_type", "target_id", "request_id")
    for name in exact:
        if filters.get(name) is not None:
            events = events.filter(**{name: filters[name]})
    if filters.get("path"):
        events = events.filter(path__startswith=filters["path"])
    status = filters.get("status_code")
    if status is not None:
        low, high = status_range(status)
        events = events.filter(status_code__gte=low, status_code__lt=high)
    if filters.get("since") is not None:
        events = events.filter(timestamp__gte=filters["since"])
    if filters.get("until") is not None:
        events = events.filter(timestamp__lt=filters["until"])
    return events.order_by("-timestamp", "-id")


def status_range(status: str) -> tuple[int, int]:
    """ "404" → [404, 405); "4xx" → [400, 500)."""
    if status.lower().endswith("xx"):
        low = int(status[0]) * 100
        return low, low + 100
    return int(status), int(status) + 1


def summary_window(
    *, since: datetime | None = None, until: datetime | None = None
) -> tuple[datetime, datetime]:
    """The range a summary covers: `until` defaults to now, `since` to a day before
    `until`. The caller refuses a range whose `since` is not before its `until`."""
    until = until or timezone.now()
    if since is None:
        try:
            since = until - SUMMARY_DEFAULT_RANGE
        except OverflowError:
            since = datetime.min.replace(tzinfo=UTC)
    return since, until


def audit_summary(*, since: datetime, until: datetime) -> dict:
    """Requests in [since, until): counts by status class and method, top paths and
    users, error figures, p50/p95 duration; domain actions by name."""
    collection = AuditEvent._get_collection()
    window = {"timestamp": {"$gte": since, "$lt": until}}
    requests = {"kind": REQUEST, **window}
    by_count = {"$sort": {"count": -1, "_id": 1}}
    facets: dict[str, Any] = next(
        collection.aggregate(
            [
                {"$match": requests},
                {
                    "$facet": {
                        "status": [{"$group": {"_id": "$status_code", "count": {"$sum": 1}}}],
                        "method": [{"$group": {"_id": "$method", "count": {"$sum": 1}}}],
                        "paths": [
                            {"$group": {"_id": "$path", "count": {"$sum": 1}}},
                            by_count,
                            {"$limit": TOP},
                        ],
                        "users": [
                            {"$match": {"user_id": {"$ne": None}}},
                            {
                                "$group": {
                                    "_id": "$user_id",
                                    "username": {"$max": "$username"},
                                    "count": {"$sum": 1},
                                }
                            },
                            by_count,
                            {"$limit": TOP},
                        ],
                    }
                },
            ]
        ),
        {},
    )
    by_class = dict.fromkeys(STATUS_CLASSES, 0)
    for row in facets.get("status", []):
        code = row["_id"]
        if isinstance(code, int) and 100 <= code <= 599:
            by_class[f"{code // 100}xx"] += row["count"]
    total = sum(by_class.values())
    actions = collection.aggregate(
        [
            {"$match": {"kind": DOMAIN, **window}},
            {"$group": {"_id": "$action", "count": {"$sum": 1}}},
            by_count,
        ]
    )
    p50, p95, sampled = _percentiles(collection, requests)
    return {
        "since": since,
        "until": until,
        "total": total,
        "by_status_class": by_class,
        "by_method": {row["_id"]: row["count"] for row in facets.get("method", [])},
        "top_paths": [{"path": r["_id"], "count": r["count"]} for r in facets.get("paths", [])],
        "top_users": [
            {"user_id": r["_id"], "username": r.get("username") or "", "count": r["count"]}
            for r in facets.get("users", [])
        ],
        "errors": by_class["5xx"],
        "error_rate": round(by_class["5xx"] / total, 4) if total else 0.0,
        "client_errors": by_class["4xx"],
        "client_error_rate": round(by_class["4xx"] / total, 4) if total else 0.0,
        "p50_duration_ms": p50,
        "p95_duration_ms": p95,
        "duration_sample": sampled,
        "domain_actions": [{"action": r["_id"], "count": r["count"]} for r in actions],
    }


def _percentiles(collection, match: dict) -> tuple[float | None, float | None, int]:
    durations = sorted(
        doc["duration_ms"]
        for doc in collection.find(match, {"duration_ms": 1, "_id": 0})
        .sort("timestamp", -1)
        .limit(PERCENTILE_SAMPLE)
        if isinstance(doc.get("duration_ms"), int | float)
    )
    if not durations:
        return None, None, 0
    return _nearest_rank(durations, 0.50), _nearest_rank(durations, 0.95), len(durations)


def _nearest_rank(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def audit_status() -> dict:
    """The audit pipeline as this worker sees it: whether it is on, the spool of the
    whole host (`host_spool`) and this worker's counts since it started (`worker`, None
    before it has a writer)."""
    return {"enabled": settings.AUDIT_ENABLED, **writer.status()}
