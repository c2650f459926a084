"""Top customers, one customer's summary, geography and payments against a small dataset
whose answers are written here by hand."""

import pytest

from orders.models import Payment
from rappi.reports import registry
from rappi.reports.tests import data

pytestmark = pytest.mark.django_db

registry.load_all()
NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


def attempt(order, *, created: str, **kwargs) -> Payment:
    """A payment row created at Lima time `created` (the payments report counts by it)."""
    row = data.payment(order, **kwargs)
    Payment.objects.filter(pk=row.pk).update(created_at=data.at(created))
    return row


@pytest.fixture
def shop():
    """November 2026 (Lima) for five customers, with rows just outside it on both sides.

    Ana: an order from 31 October paid on 1 November, one delivered and invoiced in
    November, one cancelled whose payment was refunded. Luis: a delivered order paid
    manually, one created at 23:30 on 30 November (04:30 UTC on 1 December) with a pending
    checkout, one from 1 December. Rosa: one order paid after a declined attempt, plus a
    second approval flagged for refund. Zoe and Hugo: one unpaid order each. Pedro: only
    October."""
    ana = data.customer(full_name="Ana Quispe", email="ana@example.pe")
    luis = data.customer(full_name="Luis Mamani")
    rosa = data.customer(full_name="Rosa Huamán")
    zoe = data.customer(full_name="Zoe Apaza")
    hugo = data.customer(full_name="Hugo Ccori")
    pedro = data.customer(full_name="Pedro Condori")

    a1 = data.order(
        ana,
        created="2026-10-31 23:50",
        status="delivered",
        total="50.00",
        delivered="2026-11-01 03:00",
        drops=[{"district": "Cercado", "status": "delivered", "delivered": "2026-11-01 03:00"}],
    )
    a2 = data.order(
        ana,
        created="2026-11-05 09:00",
        status="delivered",
        total="30.00",
        district="Cercado",
        delivered="2026-11-05 13:00",
        drops=[
            {"district": "Yanahuara", "status": "delivered", "delivered": "2026-11-05 12:00"},
            {"district": "Cayma", "status": "delivered", "delivered": "2026-11-05 13:00"},
        ],
    )
    a3 = data.order(
        ana,
        created="2026-11-20 10:00",
        status="cancelled",
        total="15.00",
        district="Cercado",
        drops=[{"district": "Yanahuara"}],
    )
    attempt(
        a1,
        amount="50.00",
        provider="mercadopago",
        paid="2026-11-01 00:10",
        created="2026-10-31 23:55",
    )
    attempt(
        a2,
        amount="30.00",
        provider="mercadopago",
        paid="2026-11-05 09:05",
        created="2026-11-05 09:00",
    )
    attempt(
        a3,
        amount="15.00",
        provider="mercadopago",
        status="refunded",
        paid="2026-11-20 10:05",
        created="2026-11-20 10:00",
    )
    data.invoice(a1, amount="50.00", issued="2026-11-01 09:00", number="F001-00000001")
    data.invoice(a2, amount="30.00", issued="2026-11-05 14:00", number="F001-00000002")
    data.rating(a1, score=5)
    data.rating(a2, score=4)

    l1 = data.order(
        luis,
        created="2026-11-03 08:00",
        status="delivered",
        total="40.00",
        district="Yanahuara",
        delivered="2026-11-03 11:00",
        drops=[
            {"district": "Cercado", "status": "delivered", "delivered": "2026-11-03 10:00"},
            {"district": "Yanahuara", "status": "failed"},
        ],
    )
    l2 = data.order(
        luis,
        created="2026-11-30 23:30",
        total="40.00",
        district="Cayma",
        drops=[{"district": "Cercado"}],
    )
    data.order(luis, created="2026-12-01 09:00", total="40.00")
    attempt(
        l1, amount="40.00", provider="manual", paid="2026-11-03 08:10", created="2026-11-03 08:10"
    )
    attempt(
        l2, amount="40.00", provider="mercadopago", status="pending", created="2026-11-30 23:35"
    )

    r1 = data.order(
        rosa,
        created="2026-11-10 10:00",
        status="in_transit",
        total="40.00",
        district="Cercado",
        drops=[{"district": "Cayma"}],
    )
    attempt(r1, amount="40.00", provider="mercadopago", status="failed", created="2026-11-10 09:58")
    attempt(
        r1,
        amount="40.00",
        provider="mercadopago",
        paid="2026-11-10 10:05",
        created="2026-11-10 10:00",
    )
    attempt(
        r1,
        amount="40.00",
        provider="mercadopago",
        status="failed",
        needs_refund=True,
        created="2026-11-10 10:07",
    )

    data.order(
        zoe,
        created="2026-11-15 12:00",
        status="pending_payment",
        district="Cayma",
        drops=[{"district": "Cayma"}],
    )
    data.order(
        hugo,
        created="2026-11-16 12:00",
        status="pending_payment",
        district="Alto Selva Alegre",
        drops=[{"district": "Miraflores"}],
    )

    p1 = data.order(
        pedro, created="2026-10-15 10:00", status="delivered", delivered="2026-10-15 14:00"
    )
    attempt(
        p1, amount="25.00", provider="manual", paid="2026-10-15 10:05", created="2026-10-15 10:05"
    )
    return {"ana": ana, "luis": luis, "rosa": rosa, "zoe": zoe, "hugo": hugo, "pedro": pedro}


# --- top customers -------------------------------------------------------------------------

TOP = "/api/v1/reports/top-customers"


def test_top_customers_by_paid_amount_then_orders_then_id(dispatcher_api, shop):
    body = dispatcher_api.get(TOP, NOVEMBER).json()

    assert body["limit"] == 10
    assert body["currency"] == "PEN"
    assert body["customers"] == [
        # 50.00 paid on 1 November for October's order + 30.00; the refunded 15.00 is not.
        {
            "customer_id": shop["ana"].pk,
            "full_name": "Ana Quispe",
            "orders": 2,
            "delivered": 1,
            "paid_amount": "80.00",
            "last_order_at": "2026-11-20T15:00:00Z",
        },
        # Ties with Rosa at 40.00, with more orders; its order of 1 December is after the
        # period, so the latest is the one of 23:30 on 30 November (Lima).
        {
            "customer_id": shop["luis"].pk,
            "full_name": "Luis Mamani",
            "orders": 2,
            "delivered": 1,
            "paid_amount": "40.00",
            "last_order_at": "2026-12-01T04:30:00Z",
        },
        {
            "customer_id": shop["rosa"].pk,
            "full_name": "Rosa Huamán",
            "orders": 1,
            "delivered": 0,
            "paid_amount": "40.00",
            "last_order_at": "2026-11-10T15:00:00Z",
        },
        # Nothing paid, one order each: the older customer first (not by name).
        {
            "customer_id": shop["zoe"].pk,
            "full_name": "Zoe Apaza",
            "orders": 1,
            "delivered": 0,
            "paid_amount": "0.00",
            "last_order_at": "2026-11-15T17:00:00Z",
        },
        {
            "customer_id": shop["hugo"].pk,
            "full_name": "Hugo Ccori",
            "orders": 1,
            "delivered": 0,
            "paid_amount": "0.00",
            "last_order_at": "2026-11-16T17:00:00Z",
        },
    ]  # Pedro did nothing in November


def test_top_customers_a_payment_counts_on_its_lima_day(dispatcher_api, shop):
    # Ana's October order was paid at 00:10 on 1 November in Lima (05:10 UTC).
    body = dispatcher_api.get(TOP, {"since": "2026-10-01", "until": "2026-10-31"}).json()

    assert [(c["full_name"], c["orders"], c["paid_amount"]) for c in body["customers"]] == [
        ("Pedro Condori", 1, "25.00"),
        ("Ana Quispe", 1, "0.00"),
    ]


def test_top_customers_limit(dispatcher_api, shop):
    body = dispatcher_api.get(TOP, {**NOVEMBER, "limit": "2"}).json()

    assert body["limit"] == 2
    assert [c["full_name"] for c in body["customers"]] == ["Ana Quispe", "Luis Mamani"]


def test_top_customers_csv(dispatcher_api, shop):
    response = dispatcher_api.get(TOP, {**NOVEMBER, "limit": "3", "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="top-customers-2026-11-01-2026-11-30.csv"'
    )
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "customer_id,full_name,orders,delivered,paid_amount,last_order_at",
        f"{shop['ana'].pk},Ana Quispe,2,1,80.00,2026-11-20T15:00:00Z",
        f"{shop['luis'].pk},Luis Mamani,2,1,40.00,2026-12-01T04:30:00Z",
        f"{shop['rosa'].pk},Rosa Huamán,1,0,40.00,2026-11-10T15:00:00Z",
        "",
    ]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", ""])
def test_top_customers_a_bad_limit_is_400(dispatcher_api, limit):
    response = dispatcher_api.get(TOP, {"limit": limit})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "limit" in response.json()["error"]["details"]["fields"]


# --- one customer's summary ----------------------------------------------------------------


def summary_url(customer_id) -> str:
    return f"/api/v1/reports/customers/{customer_id}/summary"


def test_customer_summary_over_its_whole_life(dispatcher_api, shop):
    ana = shop["ana"]
    body = dispatcher_api.get(summary_url(ana.pk)).json()

    a3, a2, a1 = ana.orders.order_by("-created_at")
    assert body == {
        "customer": {"id": ana.pk, "full_name": "Ana Quispe", "email": "ana@example.pe"},
        "currency": "PEN",
        "orders": {
            "total": 3,
            "by_status": [
                {"status": "pending_payment", "count": 0},
                {"status": "pending", "count": 0},
                {"status": "assigned", "count": 0},
                {"status": "in_transit", "count": 0},
                {"status": "delivered", "count": 2},
                {"status": "cancelled", "count": 1},
            ],
        },
        # The refunded 15.00 is not paid; two invoices and two ratings do not double
        # anything.
        "paid": {"count": 2, "amount": "80.00"},
        "invoiced": {"count": 2, "amount": "80.00"},
        "rating": {"average": 4.5, "count": 2},
        "last_orders": [
            {
                "id": a3.pk,
                "status": "cancelled",
                "service_level": "standard",
                "total": "15.00",
                "created_at": "2026-11-20T15:00:00Z",
            },
            {
                "id": a2.pk,
                "status": "delivered",
                "service_level": "standard",
                "total": "30.00",
                "created_at": "2026-11-05T14:00:00Z",
            },
            {
                "id": a1.pk,
                "status": "delivered",
                "service_level": "standard",
                "total": "50.00",
                "created_at": "2026-11-01T04:50:00Z",
            },
        ],
    }


def test_customer_summary_of_a_customer_without_orders(dispatcher_api):
    nobody = data.customer(full_name="Nadia Flores", email="")

    body = dispatcher_api.get(summary_url(nobody.pk)).json()

    assert body["orders"]["total"] == 0
    assert {s["count"] for s in body["orders"]["by_status"]} == {0}
    assert body["paid"] == {"count": 0, "amount": "0.00"}
    assert body["invoiced"] == {"count": 0, "amount": "0.00"}
    assert body["rating"] == {"average": None, "count": 0}
    assert body["last_orders"] == []
    assert body["customer"]["email"] == ""


def test_customer_summary_lists_the_latest_five_orders(dispatcher_api):
    maria = data.customer(full_name="María Ticona")
    made = [
        data.order(maria, created=f"2026-11-0{day} 10:00", level="express", total="12.00")
        for day in range(1, 8)
    ]
    # Two orders created at the same instant: the later id first.
    twin = data.order(maria, created="2026-11-07 10:00")

    body = dispatcher_api.get(summary_url(maria.pk)).json()

    assert body["orders"]["total"] == 8
    assert [o["id"] for o in body["last_orders"]] == [
        twin.pk,
        made[6].pk,
        made[5].pk,
        made[4].pk,
        made[3].pk,
    ]


def test_customer_summary_csv(dispatcher_api, shop):
    luis = shop["luis"]
    response = dispatcher_api.get(summary_url(luis.pk), {"format": "csv"})

    l3, l2, l1 = luis.orders.order_by("-created_at")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="customers-summary-{luis.pk}-'
    )
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,key,value,amount,status,service_level,created_at",
        f"customer,id,{luis.pk},,,,",
        "customer,full_name,Luis Mamani,,,,",
        f"customer,email,{luis.email},,,,",
        "orders,total,3,,,,",
        "orders_by_status,pending_payment,0,,,,",
        "orders_by_status,pending,2,,,,",
        "orders_by_status,assigned,0,,,,",
        "orders_by_status,in_transit,0,,,,",
        "orders_by_status,delivered,1,,,,",
        "orders_by_status,cancelled,0,,,,",
        "paid,payments,1,40.00,,,",
        "invoiced,invoices,0,0.00,,,",
        "rating,average,,,,,",
        "rating,count,0,,,,",
        f"last_orders,{l3.pk},,40.00,pending,standard,2026-12-01T14:00:00Z",
        f"last_orders,{l2.pk},,40.00,pending,standard,2026-12-01T04:30:00Z",
        f"last_orders,{l1.pk},,40.00,delivered,standard,2026-11-03T13:00:00Z",
        "",
    ]


@pytest.mark.parametrize("customer_id", ["999999999", str(2**63 - 1), str(2**63), "9" * 30])
def test_customer_summary_of_an_unknown_customer_is_404(dispatcher_api, customer_id):
    response = dispatcher_api.get(summary_url(customer_id))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_customer_summary_takes_no_period(dispatcher_api, shop):
    response = dispatcher_api.get(summary_url(shop["ana"].pk), {"since": "2026-11-01"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# --- geography -----------------------------------------------------------------------------

GEOGRAPHY = "/api/v1/reports/geography"


def test_geography_by_origin_and_destination_district(dispatcher_api, shop):
    body = dispatcher_api.get(GEOGRAPHY, NOVEMBER).json()

    # Ana's order of 31 October and Luis's of 1 December are outside; Luis's of 23:30 on
    # 30 November is inside.
    assert body["origins"] == [
        {"district": "Cercado", "orders": 3},
        {"district": "Cayma", "orders": 2},
        {"district": "Alto Selva Alegre", "orders": 1},
        {"district": "Yanahuara", "orders": 1},
    ]
    # The cancelled order's drop-off counts (and is not delivered); a failed one is not
    # delivered.
    assert body["destinations"] == [
        {"district": "Cayma", "drop_offs": 3, "delivered": 1, "delivered_share": 0.3333},
        {"district": "Yanahuara", "drop_offs": 3, "delivered": 1, "delivered_share": 0.3333},
        {"district": "Cercado", "drop_offs": 2, "delivered": 1, "delivered_share": 0.5},
        {"district": "Miraflores", "drop_offs": 1, "delivered": 0, "delivered_share": 0.0},
    ]
    assert body["totals"] == {
        "orders": 7,
        "drop_offs": 9,
        "delivered": 3,
        "delivered_share": 0.3333,
    }


def test_geography_of_an_empty_period(dispatcher_api, shop):
    body = dispatcher_api.get(GEOGRAPHY, {"since": "2026-09-01", "until": "2026-09-30"}).json()

    assert body["origins"] == []
    assert body["destinations"] == []
    assert body["totals"] == {
        "orders": 0,
        "drop_offs": 0,
        "delivered": 0,
        "delivered_share": None,
    }


def test_geography_csv(dispatcher_api, shop):
    response = dispatcher_api.get(GEOGRAPHY, {**NOVEMBER, "format": "csv"})

    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,district,orders,drop_offs,delivered,delivered_share",
        "origins,Cercado,3,,,",
        "origins,Cayma,2,,,",
        "origins,Alto Selva Alegre,1,,,",
        "origins,Yanahuara,1,,,",
        "destinations,Cayma,,3,1,0.3333",
        "destinations,Yanahuara,,3,1,0.3333",
        "destinations,Cercado,,2,1,0.5",
        "destinations,Miraflores,,1,0,0.0",
        "total,,7,9,3,0.3333",
        "",
    ]


# --- payments ------------------------------------------------------------------------------

PAYMENTS = "/api/v1/reports/payments"


def test_payments_by_provider_and_status(dispatcher_api, shop):
    body = dispatcher_api.get(PAYMENTS, NOVEMBER).json()

    # Rows created in November: Ana's checkout of 31 October (paid in November) is not,
    # Luis's pending checkout of 23:35 on 30 November is.
    assert body["by_provider"] == [
        {"provider": "manual", "status": "pending", "count": 0, "amount": "0.00"},
        {"provider": "manual", "status": "paid", "count": 1, "amount": "40.00"},
        {"provider": "manual", "status": "failed", "count": 0, "amount": "0.00"},
        {"provider": "manual", "status": "refunded", "count": 0, "amount": "0.00"},
        {"provider": "mercadopago", "status": "pending", "count": 1, "amount": "40.00"},
        {"provider": "mercadopago", "status": "paid", "count": 2, "amount": "70.00"},
        {"provider": "mercadopago", "status": "failed", "count": 2, "amount": "80.00"},
        {"provider": "mercadopago", "status": "refunded", "count": 1, "amount": "15.00"},
    ]
    assert body["by_status"] == [
        {"status": "pending", "count": 1, "amount": "40.00"},
        {"status": "paid", "count": 3, "amount": "110.00"},
        {"status": "failed", "count": 2, "amount": "80.00"},
        {"status": "refunded", "count": 1, "amount": "15.00"},
    ]
    # Rosa's second approval is flagged; the declined attempt is failed, not flagged.
    assert body["refunds"] == {
        "flagged": {"count": 1, "amount": "40.00"},
        "refunded": {"count": 1, "amount": "15.00"},
    }
    assert body["totals"] == {"count": 7, "amount": "245.00"}


def test_payments_csv(dispatcher_api, shop):
    response = dispatcher_api.get(
        PAYMENTS, {"since": "2026-10-01", "until": "2026-10-31", "format": "csv"}
    )

    assert response["Content-Disposition"] == (
        'attachment; filename="payments-2026-10-01-2026-10-31.csv"'
    )
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,provider,status,count,amount",
        "by_provider,manual,pending,0,0.00",
        "by_provider,manual,paid,1,25.00",
        "by_provider,manual,failed,0,0.00",
        "by_provider,manual,refunded,0,0.00",
        "by_provider,mercadopago,pending,0,0.00",
        "by_provider,mercadopago,paid,1,50.00",
        "by_provider,mercadopago,failed,0,0.00",
        "by_provider,mercadopago,refunded,0,0.00",
        "by_status,,pending,0,0.00",
        "by_status,,paid,2,75.00",
        "by_status,,failed,0,0.00",
        "by_status,,refunded,0,0.00",
        "refunds,,flagged,0,0.00",
        "refunds,,refunded,0,0.00",
        "total,,,2,75.00",
        "",
    ]


@pytest.mark.parametrize("url", [PAYMENTS, GEOGRAPHY])
def test_an_unknown_parameter_is_400(dispatcher_api, url):
    response = dispatcher_api.get(url, {"limit": "5"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# --- a constant number of queries ----------------------------------------------------------


@pytest.mark.parametrize("n", [10, 1000])
def test_queries_do_not_grow_with_the_data(django_assert_max_num_queries, n):
    orders = data.bulk_orders(n, first_day="2026-11-01", days=30)
    first_customer = orders[0].customer_id

    with django_assert_max_num_queries(1):
        top = registry.compute("top-customers", NOVEMBER).data
    with django_assert_max_num_queries(2):
        summary = registry.compute("customers/summary", {}, object_id=first_customer).data
    with django_assert_max_num_queries(4):
        geography = registry.compute("geography", NOVEMBER).data
    with django_assert_max_num_queries(3):
        payments = registry.compute("payments", NOVEMBER).data

    # The data is really in the period: the queries above read all of it.
    assert sum(c["orders"] for c in top["customers"]) == n
    assert summary["orders"]["total"] == n // 5
    assert geography["totals"]["orders"] == n
    assert payments["totals"]["count"] == n
