"""What the business sells and earns: sales, top customers, one customer's summary,
geography, payments. Everything from the `orders` app's tables."""

from django.db.models import Avg, Count, F, FilteredRelation, Max, Q
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from orders.models import (
    Customer,
    Destination,
    DestinationStatus,
    Invoice,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
)
from rappi.api.filters import INT64_MAX
from rappi.errors import NotFoundError
from rappi.reports import outputs
from rappi.reports.periods import (
    BucketedQuery,
    Period,
    PeriodQuery,
    as_date,
    bucket,
    zero_filled,
)
from rappi.reports.registry import CUSTOMER, FormatQuery, ReportDef, register
from rappi.reports.sql import ZERO, money_sum
from rappi.reports.tables import section_rows

# --- sales ---------------------------------------------------------------------------------


class SalesFigures(serializers.Serializer):
    payments_paid = serializers.IntegerField(help_text="Payments settled (by `paid_at`)")
    paid_amount = outputs.money()
    orders_created = serializers.IntegerField(help_text="By `created_at`")
    orders_delivered = serializers.IntegerField(help_text="By the order's `delivered_at`")
    invoices = serializers.IntegerField(help_text="By `issued_at`")
    invoiced_amount = outputs.money()


class SalesBucket(SalesFigures):
    bucket = serializers.DateField(help_text="First Lima day of the bucket")


class SalesOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    granularity = serializers.ChoiceField(choices=["day", "week", "month"])
    currency = serializers.CharField()
    buckets = SalesBucket(many=True)
    totals = SalesFigures()


_SALES_EMPTY = {
    "payments_paid": 0,
    "paid_amount": ZERO,
    "orders_created": 0,
    "orders_delivered": 0,
    "invoices": 0,
    "invoiced_amount": ZERO,
}


def _paid(period: Period):
    return Payment.objects.filter(status=PaymentStatus.PAID, **period.bounds("paid_at"))


def _created(period: Period):
    return Order.objects.filter(**period.bounds("created_at"))


def _delivered(period: Period):
    return Order.objects.filter(status=OrderStatus.DELIVERED, **period.bounds("delivered_at"))


def _invoiced(period: Period):
    return Invoice.objects.filter(**period.bounds("issued_at"))


def _by_bucket(queryset, field: str, granularity: str, **figures) -> dict:
    rows = (
        queryset.annotate(b=bucket(field, granularity)).values("b").annotate(**figures).order_by()
    )
    return {as_date(row.pop("b")): row for row in rows}


def sales(*, period: Period, granularity: str) -> dict:
    """Paid payments (status `paid`: a refunded one no longer counts), orders created,
    orders delivered and invoices issued, per Lima bucket and over the whole period."""
    parts = [
        _by_bucket(
            _paid(period),
            "paid_at",
            granularity,
            payments_paid=Count("id"),
            paid_amount=money_sum("amount"),
        ),
        _by_bucket(_created(period), "created_at", granularity, orders_created=Count("id")),
        _by_bucket(_delivered(period), "delivered_at", granularity, orders_delivered=Count("id")),
        _by_bucket(
            _invoiced(period),
            "issued_at",
            granularity,
            invoices=Count("id"),
            invoiced_amount=money_sum("amount"),
        ),
    ]
    merged: dict = {}
    for part in parts:
        for start, figures in part.items():
            merged.setdefault(start, dict(_SALES_EMPTY)).update(figures)
    totals = {
        **_paid(period).aggregate(payments_paid=Count("id"), paid_amount=money_sum("amount")),
        **_created(period).aggregate(orders_created=Count("id")),
        **_delivered(period).aggregate(orders_delivered=Count("id")),
        **_invoiced(period).aggregate(invoices=Count("id"), invoiced_amount=money_sum("amount")),
    }
    return {
        "period": period.as_json(),
        "granularity": granularity,
        "currency": "PEN",
        "buckets": zero_filled(period, granularity, merged, _SALES_EMPTY),
        "totals": totals,
    }


_SALES_COLUMNS = list(_SALES_EMPTY)


def _sales_table(data: dict) -> tuple[list[str], list[list]]:
    rows = [[b["bucket"], *(b[c] for c in _SALES_COLUMNS)] for b in data["buckets"]]
    rows.append(["total", *(data["totals"][c] for c in _SALES_COLUMNS)])
    return ["bucket", *_SALES_COLUMNS], rows


register(
    ReportDef(
        name="sales",
        title=_("Sales"),
        description=(
            "Per Lima day, week or month: paid payments (count, amount), orders created, "
            "orders delivered, invoices issued; the totals of the period. Buckets add up "
            "to the totals."
        ),
        query=BucketedQuery,
        output=SalesOutput,
        build=sales,
        table=_sales_table,
    )
)


# --- top customers -------------------------------------------------------------------------


def _settled(period: Period | None = None) -> FilteredRelation:
    """A customer's orders' payments with status `paid` (paid in `period`, if given), joined
    as `settled`. An order has at most one (the constraint payment_one_paid_per_order), so
    the join adds no rows and its orders are still counted once each."""
    condition = Q(orders__payments__status=PaymentStatus.PAID)
    if period is not None:
        condition &= Q(**period.bounds("orders__payments__paid_at"))
    return FilteredRelation("orders__payments", condition=condition)


class TopCustomersQuery(PeriodQuery):
    limit = serializers.IntegerField(
        min_value=1, max_value=100, default=10, help_text="How many customers (1 to 100)"
    )


class TopCustomer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    full_name = serializers.CharField()
    orders = serializers.IntegerField(help_text="Orders created in the period (`created_at`)")
    delivered = serializers.IntegerField(help_text="Of those orders, the ones now delivered")
    paid_amount = outputs.money(
        help_text="Payments settled in the period (status `paid`, by `paid_at`), whenever "
        "their order was created"
    )
    last_order_at = outputs.moment(
        allow_null=True,
        help_text="When the customer's latest order created before the end of the period "
        "was created (so a past period's report does not change with later orders)",
    )


class TopCustomersOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    limit = serializers.IntegerField()
    currency = serializers.CharField()
    customers = TopCustomer(many=True)


def top_customers(*, period: Period, limit: int) -> dict:
    """The customers who paid most in the period (then more orders, then the oldest id);
    customers with neither a paid payment nor an order in the period are left out."""
    in_period = Q(**period.bounds("orders__created_at"))
    rows = (
        Customer.objects.alias(settled=_settled(period))
        .annotate(
            orders_in_period=Count("orders", filter=in_period),
            delivered=Count("orders", filter=in_period & Q(orders__status=OrderStatus.DELIVERED)),
            last_order_at=Max("orders__created_at", filter=Q(orders__created_at__lt=period.until)),
            paid_amount=money_sum("settled__amount"),
        )
        .filter(Q(orders_in_period__gt=0) | Q(paid_amount__gt=0))
        .order_by("-paid_amount", "-orders_in_period", "id")
    )
    columns = ("id", "full_name", "orders_in_period", "delivered", "paid_amount", "last_order_at")
    return {
        "period": period.as_json(),
        "limit": limit,
        "currency": "PEN",
        "customers": [
            {
                "customer_id": row["id"],
                "full_name": row["full_name"],
                "orders": row["orders_in_period"],
                "delivered": row["delivered"],
                "paid_amount": row["paid_amount"],
                "last_order_at": row["last_order_at"],
            }
            for row in rows.values(*columns)[:limit]
        ],
    }


_TOP_COLUMNS = ["customer_id", "full_name", "orders", "delivered", "paid_amount", "last_order_at"]


def _top_customers_table(data: dict) -> tuple[list[str], list[list]]:
    return _TOP_COLUMNS, [[c[column] for column in _TOP_COLUMNS] for c in data["customers"]]


register(
    ReportDef(
        name="top-customers",
        title=_("Top customers"),
        description=(
            "The customers who paid most in the period (payments settled, by `paid_at`), "
            "with their orders created in the period (`created_at`), how many of those are "
            "delivered, and their latest order. Ties: more orders first, then the customer id."
        ),
        query=TopCustomersQuery,
        output=TopCustomersOutput,
        build=top_customers,
        table=_top_customers_table,
    )
)


# --- one customer's summary ----------------------------------------------------------------

LAST_ORDERS = 5


class SummaryCustomer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()
    email = serializers.CharField(allow_blank=True)


class StatusCount(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    count = serializers.IntegerField(min_value=0)


class SummaryOrders(serializers.Serializer):
    total = serializers.IntegerField(min_value=0)
    by_status = StatusCount(many=True, help_text="Every order status, in the order's life order")


class CountAmount(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    amount = outputs.money()


class SummaryRating(serializers.Serializer):
    average = serializers.FloatField(
        allow_null=True, help_text="Average score (1 to 5) of the ratings of its orders"
    )
    count = serializers.IntegerField(min_value=0)


class SummaryLastOrder(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    service_level = serializers.CharField()
    total = outputs.money()
    created_at = outputs.moment()


class CustomerSummaryOutput(serializers.Serializer):
    customer = SummaryCustomer()
    currency = serializers.CharField()
    orders = SummaryOrders()
    paid = CountAmount(help_text="Payments settled (status `paid`; a refunded one is not)")
    invoiced = CountAmount(help_text="Invoices issued for its orders")
    rating = SummaryRating()
    last_orders = SummaryLastOrder(many=True, help_text=f"Its latest {LAST_ORDERS} orders")


def _status_key(status: str) -> str:
    return f"orders_{status}"


def customer_summary(*, object_id: int) -> dict:
    """One customer over its whole life: orders by status, money paid and invoiced, the
    ratings it gave, its latest orders. Two queries: the figures, the latest orders."""
    if object_id > INT64_MAX:
        raise NotFoundError()
    # An order has at most one invoice, one rating and one settled payment: joining them
    # adds no rows.
    figures = {
        "orders_total": Count("orders"),
        **{
            _status_key(status): Count("orders", filter=Q(orders__status=status))
            for status in OrderStatus.values
        },
        "invoices": Count("orders__invoice"),
        "invoiced_amount": money_sum("orders__invoice__amount"),
        "rating_average": Avg("orders__rating__score"),
        "ratings": Count("orders__rating"),
        "payments_paid": Count("settled"),
        "paid_amount": money_sum("settled__amount"),
    }
    found = (
        Customer.objects.filter(pk=object_id)
        .alias(settled=_settled())
        .annotate(**figures)
        .order_by()
        .values("id", "full_name", "email", *figures)
    )
    row = next(iter(found), None)
    if row is None:
        raise NotFoundError()
    last_orders = Order.objects.filter(customer_id=object_id).order_by("-created_at", "-id")
    average = row["rating_average"]
    return {
        "customer": {"id": row["id"], "full_name": row["full_name"], "email": row["email"]},
        "currency": "PEN",
        "orders": {
            "total": row["orders_total"],
            "by_status": [
                {"status": status, "count": row[_status_key(status)]}
                for status in OrderStatus.values
            ],
        },
        "paid": {"count": row["payments_paid"], "amount": row["paid_amount"]},
        "invoiced": {"count": row["invoices"], "amount": row["invoiced_amount"]},
        "rating": {
            "average": round(float(average), 2) if average is not None else None,
            "count": row["ratings"],
        },
        "last_orders": list(
            last_orders.values("id", "status", "service_level", "total", "created_at")[:LAST_ORDERS]
        ),
    }


_SUMMARY_HEADER = ["section", "key", "value", "amount", "status", "service_level", "created_at"]


def _customer_summary_table(data: dict) -> tuple[list[str], list[list]]:
    customer, orders = data["customer"], data["orders"]
    sections = [
        ("customer", [(key, customer[key], "", "", "", "") for key in customer]),
        ("orders", [("total", orders["total"], "", "", "", "")]),
        (
            "orders_by_status",
            [(s["status"], s["count"], "", "", "", "") for s in orders["by_status"]],
        ),
        ("paid", [("payments", data["paid"]["count"], data["paid"]["amount"], "", "", "")]),
        (
            "invoiced",
            [("invoices", data["invoiced"]["count"], data["invoiced"]["amount"], "", "", "")],
        ),
        (
            "rating",
            [
                ("average", data["rating"]["average"], "", "", "", ""),
                ("count", data["rating"]["count"], "", "", "", ""),
            ],
        ),
        (
            "last_orders",
            [
                (o["id"], "", o["total"], o["status"], o["service_level"], o["created_at"])
                for o in data["last_orders"]
            ],
        ),
    ]
    return _SUMMARY_HEADER, section_rows(sections)


register(
    ReportDef(
        name="customers/summary",
        title=_("Customer summary"),
        description=(
            "One customer over its whole life: orders by status, payments settled, invoices, "
            "the average rating it gave its orders, its latest orders."
        ),
        query=FormatQuery,
        output=CustomerSummaryOutput,
        build=customer_summary,
        table=_customer_summary_table,
        object=CUSTOMER,
    )
)


# --- geography -----------------------------------------------------------------------------


class OriginDistrict(serializers.Serializer):
    district = serializers.CharField()
    orders = serializers.IntegerField(min_value=0)


class DestinationDistrict(serializers.Serializer):
    district = serializers.CharField()
    drop_offs = serializers.IntegerField(min_value=0)
    delivered = serializers.IntegerField(min_value=0)
    delivered_share = outputs.share(help_text="delivered / drop_offs")


class GeographyTotals(serializers.Serializer):
    orders = serializers.IntegerField(min_value=0)
    drop_offs = serializers.IntegerField(min_value=0)
    delivered = serializers.IntegerField(min_value=0)
    delivered_share = outputs.share()


class GeographyOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    origins = OriginDistrict(
        many=True, help_text="Orders created in the period (`created_at`) by origin district"
    )
    destinations = DestinationDistrict(
        many=True,
        help_text="The drop-offs of the orders created in the period (cancelled orders "
        "included) by destination district, and how many of them are now delivered",
    )
    totals = GeographyTotals()


def geography(*, period: Period) -> dict:
    """Where the orders created in the period come from and go to, districts as written on
    the order (largest first, then by name)."""
    orders = _created(period)
    drops = Destination.objects.filter(**period.bounds("order__created_at"))
    delivered = Count("id", filter=Q(status=DestinationStatus.DELIVERED))
    origins = (
        orders.order_by()
        .values(district=F("origin_district"))
        .annotate(orders=Count("id"))
        .order_by("-orders", "district")
    )
    destinations = (
        drops.order_by()
        .values("district")
        .annotate(drop_offs=Count("id"), delivered=delivered)
        .order_by("-drop_offs", "district")
    )
    totals = {
        **orders.aggregate(orders=Count("id")),
        **drops.aggregate(drop_offs=Count("id"), delivered=delivered),
    }
    return {
        "period": period.as_json(),
        "origins": list(origins),
        "destinations": [
            {**row, "delivered_share": outputs.ratio(row["delivered"], row["drop_offs"])}
            for row in destinations
        ],
        "totals": {
            **totals,
            "delivered_share": outputs.ratio(totals["delivered"], totals["drop_offs"]),
        },
    }


_GEOGRAPHY_HEADER = ["section", "district", "orders", "drop_offs", "delivered", "delivered_share"]


def _geography_table(data: dict) -> tuple[list[str], list[list]]:
    totals = data["totals"]
    sections = [
        ("origins", [(o["district"], o["orders"], "", "", "") for o in data["origins"]]),
        (
            "destinations",
            [
                (d["district"], "", d["drop_offs"], d["delivered"], d["delivered_share"])
                for d in data["destinations"]
            ],
        ),
        (
            "total",
            [
                (
                    "",
                    totals["orders"],
                    totals["drop_offs"],
                    totals["delivered"],
                    totals["delivered_share"],
                )
            ],
        ),
    ]
    return _GEOGRAPHY_HEADER, section_rows(sections)


register(
    ReportDef(
        name="geography",
        title=_("Geography"),
        description=(
            "Orders created in the period by origin district; their drop-offs by destination "
            "district, with the share delivered."
        ),
        query=PeriodQuery,
        output=GeographyOutput,
        build=geography,
        table=_geography_table,
    )
)


# --- payments ------------------------------------------------------------------------------


class ProviderStatus(serializers.Serializer):
    provider = serializers.CharField()
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    count = serializers.IntegerField(min_value=0)
    amount = outputs.money()


class StatusFigures(serializers.Serializer):
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    count = serializers.IntegerField(min_value=0)
    amount = outputs.money()


class PaymentRefunds(serializers.Serializer):
    flagged = CountAmount(
        help_text="Payments flagged `needs_refund`: money received that could not settle its "
        "order and is still to be returned (the flag clears once refunded)"
    )
    refunded = CountAmount(help_text="Payments with status `refunded`")


class PaymentsOutput(serializers.Serializer):
    period = outputs.PeriodOutput()
    currency = serializers.CharField()
    by_provider = ProviderStatus(
        many=True,
        help_text="Payment rows created in the period (`created_at`: checkouts and every "
        "attempt, whatever became of them), per provider and status; every status of a "
        "provider that has any",
    )
    by_status = StatusFigures(many=True, help_text="The same, all providers together")
    refunds = PaymentRefunds()
    totals = CountAmount()


_COUNT_AMOUNT_EMPTY = {"count": 0, "amount": ZERO}


def payments(*, period: Period) -> dict:
    """Payment rows created in the period: what was attempted, by provider and status,
    with the money to refund and refunded."""
    rows = Payment.objects.filter(**period.bounds("created_at")).order_by()
    figures = {"count": Count("id"), "amount": money_sum("amount")}
    # The rows are plain dicts: their grouping keys move out of them into the index.
    pairs = {
        (row.pop("provider"), row.pop("status")): row  # type: ignore[misc]
        for row in rows.values("provider", "status").annotate(**figures)
    }
    per_status = {
        row.pop("status"): row  # type: ignore[misc]
        for row in rows.values("status").annotate(**figures)
    }
    flagged, refunded = Q(needs_refund=True), Q(status=PaymentStatus.REFUNDED)
    overall = rows.aggregate(
        total_count=Count("id"),
        total_amount=money_sum("amount"),
        flagged_count=Count("id", filter=flagged),
        flagged_amount=money_sum("amount", filter=flagged),
        refunded_count=Count("id", filter=refunded),
        refunded_amount=money_sum("amount", filter=refunded),
    )
    providers = sorted({provider for provider, _status in pairs})
    return {
        "period": period.as_json(),
        "currency": "PEN",
        "by_provider": [
            {
                "provider": provider,
                "status": status,
                **pairs.get((provider, status), _COUNT_AMOUNT_EMPTY),
            }
            for provider in providers
            for status in PaymentStatus.values
        ],
        "by_status": [
            {"status": status, **per_status.get(status, _COUNT_AMOUNT_EMPTY)}
            for status in PaymentStatus.values
        ],
        "refunds": {
            "flagged": {"count": overall["flagged_count"], "amount": overall["flagged_amount"]},
            "refunded": {
                "count": overall["refunded_count"],
                "amount": overall["refunded_amount"],
            },
        },
        "totals": {"count": overall["total_count"], "amount": overall["total_amount"]},
    }


_PAYMENTS_HEADER = ["section", "provider", "status", "count", "amount"]


def _payments_table(data: dict) -> tuple[list[str], list[list]]:
    refunds = data["refunds"]
    sections = [
        (
            "by_provider",
            [(p["provider"], p["status"], p["count"], p["amount"]) for p in data["by_provider"]],
        ),
        ("by_status", [("", s["status"], s["count"], s["amount"]) for s in data["by_status"]]),
        (
            "refunds",
            [
                ("", "flagged", refunds["flagged"]["count"], refunds["flagged"]["amount"]),
                ("", "refunded", refunds["refunded"]["count"], refunds["refunded"]["amount"]),
            ],
        ),
        ("total", [("", "", data["totals"]["count"], data["totals"]["amount"])]),
    ]
    return _PAYMENTS_HEADER, section_rows(sections)


register(
    ReportDef(
        name="payments",
        title=_("Payments"),
        description=(
            "Payment rows created in the period (checkouts and every provider attempt) by "
            "provider and status, count and amount; the money flagged for refund and the "
            "money refunded; totals."
        ),
        query=PeriodQuery,
        output=PaymentsOutput,
        build=payments,
        table=_payments_table,
    )
)
