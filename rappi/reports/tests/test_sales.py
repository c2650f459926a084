"""The sales report against a small dataset whose answers are written here by hand."""

import pytest

from rappi.reports.tests import data

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/sales"


@pytest.fixture
def november():
    """Three orders in November 2026 (Lima), paid and unpaid, one delivered, one invoice."""
    ana = data.customer(full_name="Ana Quispe")
    first = data.order(
        ana,
        created="2026-11-02 09:00",
        status="delivered",
        total="30.00",
        delivered="2026-11-02 15:00",
    )
    second = data.order(ana, created="2026-11-02 23:30", total="12.50")
    third = data.order(ana, created="2026-11-10 10:00", total="40.00")
    data.payment(first, amount="30.00", paid="2026-11-02 09:05")
    # 23:30 in Lima is 04:30 UTC on the 3rd: it belongs to the 2nd.
    data.payment(second, amount="12.50", paid="2026-11-02 23:30")
    data.payment(third, amount="40.00", status="failed")
    data.payment(third, amount="40.00", status="refunded", paid="2026-11-10 10:05")
    data.invoice(first, amount="30.00", issued="2026-11-03 08:00", number="F001-00000001")
    return first, second, third


def test_daily_buckets_and_totals(dispatcher_api, november):
    body = dispatcher_api.get(URL, {"since": "2026-11-01", "until": "2026-11-10"}).json()

    assert body["period"] == {
        "since": "2026-11-01T05:00:00Z",
        "until": "2026-11-11T05:00:00Z",
        "timezone": "America/Lima",
    }
    assert len(body["buckets"]) == 10
    by_day = {b["bucket"]: b for b in body["buckets"]}
    assert by_day["2026-11-02"] == {
        "bucket": "2026-11-02",
        "payments_paid": 2,
        "paid_amount": "42.50",
        "orders_created": 2,
        "orders_delivered": 1,
        "invoices": 0,
        "invoiced_amount": "0.00",
    }
    assert by_day["2026-11-03"]["invoiced_amount"] == "30.00"
    assert by_day["2026-11-03"]["payments_paid"] == 0
    assert by_day["2026-11-10"]["orders_created"] == 1
    assert by_day["2026-11-10"]["payments_paid"] == 0  # refunded: no longer revenue
    assert body["totals"] == {
        "payments_paid": 2,
        "paid_amount": "42.50",
        "orders_created": 3,
        "orders_delivered": 1,
        "invoices": 1,
        "invoiced_amount": "30.00",
    }


def test_a_payment_at_half_past_eleven_in_lima_stays_on_its_lima_day(dispatcher_api, november):
    body = dispatcher_api.get(URL, {"since": "2026-11-03", "until": "2026-11-03"}).json()

    assert [b["bucket"] for b in body["buckets"]] == ["2026-11-03"]
    assert body["totals"]["payments_paid"] == 0
    assert body["totals"]["invoices"] == 1


def test_weekly_and_monthly_buckets(dispatcher_api, november):
    weekly = dispatcher_api.get(
        URL, {"since": "2026-11-01", "until": "2026-11-30", "granularity": "week"}
    ).json()
    monthly = dispatcher_api.get(
        URL, {"since": "2026-10-15", "until": "2026-11-30", "granularity": "month"}
    ).json()

    # 1 November 2026 is a Sunday: its week starts on Monday 26 October.
    assert [b["bucket"] for b in weekly["buckets"]] == [
        "2026-10-26",
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ]
    assert weekly["buckets"][1]["orders_created"] == 2
    assert weekly["buckets"][2]["orders_created"] == 1
    assert [(b["bucket"], b["orders_created"]) for b in monthly["buckets"]] == [
        ("2026-10-01", 0),
        ("2026-11-01", 3),
    ]


def test_csv_carries_the_same_numbers(dispatcher_api, november):
    response = dispatcher_api.get(
        URL, {"since": "2026-11-01", "until": "2026-11-03", "format": "csv"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="sales-2026-11-01-2026-11-03.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "bucket,payments_paid,paid_amount,orders_created,orders_delivered,invoices,invoiced_amount",
        "2026-11-01,0,0.00,0,0,0,0.00",
        "2026-11-02,2,42.50,2,1,0,0.00",
        "2026-11-03,0,0.00,0,0,1,30.00",
        "total,2,42.50,2,1,1,30.00",
        "",
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-02-30"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "until"),
        ({"since": "2024-01-01", "until": "2026-01-01"}, "until"),
        ({"granularity": "hour"}, "granularity"),
        ({"format": "xlsx"}, "format"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "9999-12-31"}, "until"),
        ({"since": "2026-11-1"}, "since"),  # the documented shape: two-digit day
        ({"since": "\uff12\uff10\uff12\uff16-11-01"}, "since"),  # full-width digits
    ],
)
def test_a_nonsense_period_is_400_naming_the_field(dispatcher_api, query, field):
    response = dispatcher_api.get(URL, query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    ("query", "since", "until", "paid"),
    [
        # Offsets Python reads but PostgreSQL refuses (beyond ±15:59): the same instants.
        (
            {"since": "2026-11-03T04:29:00+23:59", "until": "2026-11-02"},
            "2026-11-02T04:30:00Z",
            "2026-11-03T05:00:00Z",
            2,
        ),
        (
            {"since": "2026-11-02", "until": "2026-11-01T23:31:00-23:59"},
            "2026-11-02T05:00:00Z",
            "2026-11-02T23:30:00Z",
            1,  # 23:30 in Lima is after 23:30 UTC
        ),
    ],
)
def test_a_time_with_any_offset_is_the_same_instant(
    dispatcher_api, november, query, since, until, paid
):
    body = dispatcher_api.get(URL, query).json()

    assert (body["period"]["since"], body["period"]["until"]) == (since, until)
    assert body["totals"]["payments_paid"] == paid


def test_default_period_is_the_last_30_lima_days(dispatcher_api):
    body = dispatcher_api.get(URL).json()

    assert len(body["buckets"]) == 30


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_may_not_read_reports(client_for, role):
    response = client_for(data.staff(role)).get(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("n", [10, 1000])
@pytest.mark.parametrize("granularity", ["day", "month"])
def test_a_constant_number_of_queries(django_assert_max_num_queries, n, granularity):
    from rappi.reports import registry

    data.bulk_orders(n, first_day="2026-11-01", days=30)

    # Four parts per bucket, four totals.
    with django_assert_max_num_queries(8):
        body = registry.compute(
            "sales", {"since": "2026-11-01", "until": "2026-11-30", "granularity": granularity}
        ).data

    assert body["totals"]["orders_created"] == n
