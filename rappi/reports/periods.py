"""The period of a report: whole (or, given as times, partial) America/Lima days.

Dates are Lima calendar days, `until` included: `since=2026-11-01&until=2026-11-30` is
November in Lima, from 05:00 UTC on the 1st to 05:00 UTC on 1 December. Times are exact
instants (without an offset they are UTC, like every timestamp of the API). Buckets are
Lima calendar days, ISO weeks (from Monday) or months, clipped to the period: a payment
at 23:30 in Lima belongs to that Lima day, not to the next UTC day."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rappi.api.query import QuerySerializer

LIMA = ZoneInfo(settings.TIME_ZONE)
DEFAULT_DAYS = 30
MAX_DAYS = 366  # a year, leap or not: the longest period one report may span
DAY, WEEK, MONTH = "day", "week", "month"
GRANULARITIES = (DAY, WEEK, MONTH)
_TRUNC = {DAY: TruncDate, WEEK: TruncWeek, MONTH: TruncMonth}


@dataclass(frozen=True)
class Period:
    since: datetime  # inclusive, aware
    until: datetime  # exclusive, aware

    @classmethod
    def of_days(cls, first: date, last: date) -> "Period":
        """Lima days `first` to `last`, both included."""
        return cls(_lima_midnight(first), _lima_midnight(last + timedelta(days=1)))

    @classmethod
    def default(cls, *, now: datetime | None = None) -> "Period":
        """The last 30 Lima days, today included."""
        today = timezone.localtime(now or timezone.now(), LIMA).date()
        return cls.of_days(today - timedelta(days=DEFAULT_DAYS - 1), today)

    def bounds(self, field: str) -> dict:
        """`.filter(**period.bounds("paid_at"))`: the rows whose `field` is inside."""
        return {f"{field}__gte": self.since, f"{field}__lt": self.until}

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.since, LIMA).date()

    @property
    def last_day(self) -> date:
        return timezone.localtime(self.until - timedelta(microseconds=1), LIMA).date()

    def buckets(self, granularity: str = DAY) -> list[date]:
        """The start of every bucket the period touches, in order (empty ones included,
        so a chart shows a day without sales as zero)."""
        starts, day = [], bucket_start(self.first_day, granularity)
        while day <= self.last_day:
            starts.append(day)
            day = next_bucket(day, granularity)
        return starts

    def as_json(self) -> dict:
        return {"since": self.since, "until": self.until, "timezone": settings.TIME_ZONE}


def _lima_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LIMA)


def bucket_start(day: date, granularity: str) -> date:
    if granularity == WEEK:
        return day - timedelta(days=day.weekday())
    if granularity == MONTH:
        return day.replace(day=1)
    return day


def next_bucket(start: date, granularity: str) -> date:
    if granularity == WEEK:
        return start + timedelta(days=7)
    if granularity == MONTH:
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def bucket(field: str, granularity: str = DAY):
    """The Lima bucket of `field`, computed by the database; `as_date()` reads it."""
    return _TRUNC[granularity](field, tzinfo=LIMA)


def as_date(value) -> date:
    """A bucket value as its Lima start date (TruncDate gives a date, the others an aware
    datetime or, on some backends, a naive Lima one)."""
    if isinstance(value, datetime):
        return (timezone.localtime(value, LIMA) if timezone.is_aware(value) else value).date()
    return value


def zero_filled(period: Period, granularity: str, rows: dict, empty: dict) -> list[dict]:
    """One entry per bucket of the period: the database's row for it, or `empty`."""
    return [{"bucket": start, **rows.get(start, empty)} for start in period.buckets(granularity)]


# What the schema promises (the field then checks the date and time in full).
_SHAPE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?$")


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 40,
        # A date, or a date and time (ISO 8601): checked in full by the field.
        "pattern": _SHAPE.pattern,
        "example": "2026-11-30",
    }
)
class _PeriodBoundField(serializers.Field):
    """A date (a Lima day) or an ISO 8601 time; which one is kept for `until`, where a date
    means "to the end of that day"."""

    default_error_messages = {
        "invalid": _("Give a date (2026-11-30) or an ISO 8601 time (2026-11-30T23:30:00-05:00).")
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        text = data.strip()
        if not _SHAPE.match(text):
            self.fail("invalid")
        try:
            day = parse_date(text)
            moment = None if day else parse_datetime(text)
        except ValueError:
            day = moment = None
        if moment is not None and timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        value = day or moment
        if value is None or not (_EARLIEST <= _as_moment(value) <= _LATEST):
            self.fail("invalid")
        # As UTC: Python reads offsets up to ±23:59, PostgreSQL refuses those beyond ±15:59.
        return value if day else moment.astimezone(UTC)

    def to_representation(self, value):
        return value.isoformat()


# Far enough for any business question, near enough that every conversion stays in range.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _as_moment(value) -> datetime:
    return _lima_midnight(value) if _is_day(value) else value


class PeriodQuery(QuerySerializer):
    """`since` / `until` (default: the last 30 Lima days, today included) and `format`."""

    since = _PeriodBoundField(
        required=False,
        help_text="First Lima day (YYYY-MM-DD) or an ISO 8601 time; default 29 days ago",
    )
    until = _PeriodBoundField(
        required=False,
        help_text="Last Lima day, included (YYYY-MM-DD), or an ISO 8601 time, excluded; "
        "default today",
    )
    format = serializers.ChoiceField(
        choices=["json", "csv"],
        default="json",
        help_text="`csv`: the same figures as a CSV file (UTF-8 with BOM, one header row)",
    )

    def validate(self, attrs):
        since, until = attrs.pop("since", None), attrs.pop("until", None)
        end = _end_of(until) if until is not None else Period.default().until
        if since is not None:
            start = _lima_midnight(since) if _is_day(since) else since
        elif until is not None:
            start = end - timedelta(days=DEFAULT_DAYS)
        else:
            start = Period.default().since
        if end <= start:
            raise serializers.ValidationError(
                {"until": [_("The period must end after it starts.")]}
            )
        if end - start > timedelta(days=MAX_DAYS):
            raise serializers.ValidationError(
                {"until": [_("A period spans at most %(days)s days.") % {"days": MAX_DAYS}]}
            )
        attrs["period"] = Period(start, end)
        return attrs


def _end_of(until) -> datetime:
    return _lima_midnight(until + timedelta(days=1)) if _is_day(until) else until


def _is_day(value) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


class BucketedQuery(PeriodQuery):
    granularity = serializers.ChoiceField(
        choices=GRANULARITIES, default=DAY, help_text="Size of the buckets (Lima calendar)"
    )
