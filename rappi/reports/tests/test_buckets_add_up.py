"""Buckets add up, whatever the data and the period: over random rows spread across month
and year boundaries, a report's daily buckets sum to its totals, each weekly or monthly
bucket equals the sum of its days, and the totals of two adjoining periods sum to the
totals of the whole."""

import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.models import Assignment, Incident
from orders.models import Destination, Invoice, Order, Payment
from rappi.reports import registry
from rappi.reports.periods import LIMA, Period, bucket_start
from rappi.reports.tests import data

pytestmark = pytest.mark.django_db

# Three months around a new year, in Lima.
FIRST_DAY = date(2026, 11, 20)
DAYS = 75
_DECIMAL = re.compile(r"-?\d+\.\d\d")
# Keys naming a bucket or a group rather than measuring it; shares do not add up.
_LABELS = ("service_level", "key", "type", "severity", "kind", "status", "level")


def additive(figures) -> Counter:
    """The counts and amounts inside `figures`, by their path (shares and averages are
    floats, which do not add up, and are left out)."""
    found: Counter = Counter()

    def walk(value, path):
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return
        if isinstance(value, int):
            found[path] += value
        elif isinstance(value, str) and _DECIMAL.fullmatch(value):
            found[path] += Decimal(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key != "bucket":
                    walk(item, (*path, key))
        elif isinstance(value, list):
            for item in value:
                label = next((str(item[k]) for k in _LABELS if k in item), None)
                walk(item, (*path, label))

    walk(figures, ())
    return +found if found else found


def _summed(counters) -> Counter:
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return Counter({k: v for k, v in total.items() if v})


def _nonzero(counter: Counter) -> Counter:
    return Counter({k: v for k, v in counter.items() if v})


moments = st.integers(min_value=0, max_value=DAYS * 24 * 60 - 1)  # minutes into the window


def _moment(minutes: int) -> datetime:
    start = datetime.combine(FIRST_DAY, time.min, tzinfo=LIMA)
    return start + timedelta(minutes=minutes)


rows = st.lists(
    st.tuples(
        moments,  # created
        st.sampled_from(["standard", "express", "urgent"]),
        st.one_of(st.none(), st.integers(min_value=0, max_value=72 * 60)),  # paid after
        st.one_of(st.none(), st.integers(min_value=5, max_value=8 * 60)),  # delivered after
        st.booleans(),  # invoiced
        st.integers(min_value=0, max_value=3),  # incidents on its run
    ),
    max_size=25,
)


def _load(spec) -> None:
    """Write the rows straight to the tables (bulk: hypothesis runs this many times)."""
    ana = data.customer()
    driver = data.driver()
    for n, (created, level, paid_after, delivered_after, invoiced, incidents) in enumerate(spec):
        created_at = _moment(created)
        delivered_at = (
            created_at + timedelta(minutes=30 + delivered_after) if delivered_after else None
        )
        order = Order.objects.create(
            customer=ana,
            status="delivered" if delivered_at else "pending",
            service_level=level,
            origin_line="Plaza de Armas",
            origin_district="Cercado",
            origin_lat=Decimal("-16.3988"),
            origin_lng=Decimal("-71.5369"),
            total=Decimal("10.00") + n,
            legs_total=Decimal("10.00") + n,
            created_at=created_at,
            delivered_at=delivered_at,
        )
        Destination.objects.create(
            order=order,
            sequence=1,
            line="Av. Ejército 101",
            district="Yanahuara",
            lat=Decimal("-16.39"),
            lng=Decimal("-71.54"),
            recipient_name="Rosa",
            recipient_phone="+51 959 000 111",
            weight_kg=Decimal("1.5"),
            subtotal=order.total,
            status="delivered" if delivered_at else "pending",
            delivered_at=delivered_at,
        )
        if paid_after is not None:
            Payment.objects.create(
                order=order,
                amount=order.total,
                status="paid",
                provider="culqi",
                paid_at=created_at + timedelta(minutes=paid_after),
            )
        if invoiced:
            Invoice.objects.create(
                order=order,
                number=f"F001-{n + 1:08d}",
                ruc="20123456789",
                business_name="Comercial Misti SAC",
                amount=order.total,
                issued_at=created_at + timedelta(hours=3),
            )
        if delivered_at or incidents:
            run = data.run(driver, [order], status="finished")
            Assignment.objects.filter(pk=run.pk).update(
                started_at=created_at + timedelta(minutes=30),
                finished_at=delivered_at,
                created_at=created_at,
            )
            Incident.objects.bulk_create(
                Incident(
                    assignment=run,
                    type=["traffic", "weather", "other"][i % 3],
                    severity=1 + (n + i) % 5,
                    origin="driver",
                    created_at=created_at + timedelta(hours=i),
                )
                for i in range(incidents)
            )


def _clear() -> None:
    Incident.objects.all().delete()
    Assignment.objects.all().delete()
    Invoice.objects.all().delete()
    Payment.objects.all().delete()
    Order.objects.all().delete()


def bucketed_reports() -> list[str]:
    registry.load_all()
    return [
        name for name, report in registry.REPORTS.items() if "granularity" in report.query().fields
    ]


def _report(name: str, period: Period, granularity: str) -> dict:
    params = {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "granularity": granularity,
    }
    return registry.compute(name, params).data


@pytest.mark.parametrize("name", bucketed_reports())
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spec=rows,
    first=st.integers(min_value=0, max_value=DAYS - 1),
    length=st.integers(min_value=1, max_value=DAYS),
    cut=st.integers(min_value=1, max_value=DAYS),
)
def test_buckets_add_up(name, spec, first, length, cut):
    _clear()
    _load(spec)
    start = FIRST_DAY + timedelta(days=first)
    period = Period.of_days(start, start + timedelta(days=length - 1))

    daily = _report(name, period, "day")
    days = {date.fromisoformat(b["bucket"]): additive(b) for b in daily["buckets"]}
    totals = _nonzero(additive(daily["totals"]))

    assert list(days) == [start + timedelta(days=i) for i in range(length)]
    assert _summed(days.values()) == totals
    for granularity in ("week", "month"):
        coarse = _report(name, period, granularity)
        assert _nonzero(additive(coarse["totals"])) == totals
        for entry in coarse["buckets"]:
            first_day = date.fromisoformat(entry["bucket"])
            inside = [f for day, f in days.items() if bucket_start(day, granularity) == first_day]
            assert _nonzero(additive(entry)) == _summed(inside), (granularity, first_day)
    if cut < length:  # two adjoining periods
        middle = start + timedelta(days=cut)
        head = _report(name, Period.of_days(start, middle - timedelta(days=1)), "day")
        tail = _report(name, Period.of_days(middle, period.last_day), "day")
        assert _summed([additive(head["totals"]), additive(tail["totals"])]) == totals
