"""Orders reads, already narrowed to the caller's rows (staff: all; a customer: its own;
a driver: none of these yet — runs arrive with the fleet app)."""

from decimal import Decimal

from django.db.models import Count, F, Prefetch, QuerySet, Sum

from identity.models import User
from identity.scoping import scoped
from orders.models import (
    Address,
    Customer,
    Destination,
    Invoice,
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentStatus,
)
from rappi.precompiled import Precompiled, PrecompiledRows, attach_prefetched
from rappi.selectors import get_or_404


def customer_list_for(*, user: User) -> QuerySet[Customer]:
    return scoped(Customer.objects.select_related("user"), user=user, customer_lookup="user")


def customer_get_for(*, user: User, pk) -> Customer:
    return get_or_404(customer_list_for(user=user), pk)


def address_list_for(*, user: User, customer: Customer) -> QuerySet[Address]:
    return customer.addresses.all()


def _orders_for(*, user: User) -> QuerySet[Order]:
    return scoped(
        Order.objects.select_related("customer"), user=user, customer_lookup="customer__user"
    )


def _drop_offs_in_order() -> QuerySet[Destination]:
    """An order's drop-offs as every read shows them: in their run order."""
    return Destination.objects.order_by("sequence")


def order_list_for(*, user: User) -> QuerySet[Order]:
    return _orders_for(user=user).prefetch_related(
        Prefetch("destinations", queryset=_drop_offs_in_order())
    )


# What the order list shows, read as rows (named tuples) rather than models: building a
# page of Order, Customer and Destination instances cost more CPU than its queries.
ORDER_ROW_FIELDS = (
    "id",
    "customer_id",
    "status",
    "service_level",
    "scheduled_for",
    "origin_line",
    "origin_district",
    "origin_lat",
    "origin_lng",
    "notes",
    "legs_total",
    "price_adjustment",
    "adjustment_reason",
    "total",
    "currency",
    "cancel_reason",
    "cancelled_at",
    "created_at",
    "updated_at",
)
DROP_OFF_ROW_FIELDS = (
    "order_id",
    "id",
    "sequence",
    "line",
    "district",
    "lat",
    "lng",
    "recipient_name",
    "recipient_phone",
    "weight_kg",
    "length_cm",
    "width_cm",
    "height_cm",
    "description",
    "distance_km",
    "duration_min",
    "chargeable_weight_kg",
    "subtotal",
    "status",
    "delivered_at",
    "received_by",
    "failure_reason",
)


def order_rows_for(*, user: User) -> QuerySet:
    """The caller's orders as rows of ORDER_ROW_FIELDS and `customer_name`, for a page that
    only shows them; filter, order and slice it as the model queryset."""
    return (
        _orders_for(user=user)
        .annotate(customer_name=F("customer__full_name"))
        .values_list(*ORDER_ROW_FIELDS, "customer_name", named=True)
    )


def _drop_offs_of_orders(**order_ids) -> QuerySet:
    return (
        Destination.objects.filter(order_id__in=list(order_ids.values()))
        .order_by("order_id", "sequence")
        .values_list(*DROP_OFF_ROW_FIELDS, named=True)
    )


# The page's drop-offs, compiled once per number of orders (`rappi.precompiled`): the SQL
# changes with it (`IN (%s, %s, …)`), and a page holds at most API_MAX_PAGE_SIZE.
_drop_offs_of_page: dict[int, PrecompiledRows] = {}


def drop_off_rows_by_order(*, order_ids: list[int]) -> dict[int, list]:
    """The drop-offs of these orders (already scoped) as rows of DROP_OFF_ROW_FIELDS, in
    sequence, by order id: one query for a page."""
    by_order: dict[int, list] = {order_id: [] for order_id in order_ids}
    if order_ids:
        names = tuple(f"order_{number}" for number in range(len(order_ids)))
        read = _drop_offs_of_page.get(len(order_ids))
        if read is None:
            read = _drop_offs_of_page.setdefault(
                len(order_ids), PrecompiledRows(Destination, ids=names)
            )
        rows = read.rows(build=_drop_offs_of_orders, **dict(zip(names, order_ids, strict=True)))
        for row in rows.all():
            by_order[row.order_id].append(row)
    return by_order


# An order's detail, its hottest read, compiled once (`rappi.precompiled`): the order as
# `order_list_for` scopes it, then its drop-offs, left on it as the list's prefetch is.
_order_for = Precompiled(
    Order,
    lambda *, user, pk: _orders_for(user=user).filter(pk=pk)[:1],
    ids=("pk",),
    users=("user",),
)
_drop_offs_of = Precompiled(
    Destination,
    lambda *, order: _drop_offs_in_order().filter(order=order),
    ids=("order",),
)


def order_get_for(*, user: User, pk) -> Order:
    order = _order_for.get_or_404(user=user, pk=pk)
    attach_prefetched(order, "destinations", _drop_offs_of(order=order.pk))
    return order


def order_event_list_for(*, user: User, order: Order) -> QuerySet[OrderEvent]:
    """`order`'s timeline, oldest first, scoped as the order is (empty for a caller who
    may not read it). Whole rows: what the caller may see of each is said by
    `orders.timeline` (`event_data_for`, `event_actor_id_for`, `describe`)."""
    return scoped(
        OrderEvent.objects.filter(order=order).select_related("actor"),
        user=user,
        customer_lookup="order__customer__user",
    ).order_by("at", "id")


def payment_list_for(*, user: User) -> QuerySet[Payment]:
    return scoped(Payment.objects.all(), user=user, customer_lookup="order__customer__user")


def payment_get_for(*, user: User, pk) -> Payment:
    return get_or_404(payment_list_for(user=user), pk)


def invoice_list_for(*, user: User) -> QuerySet[Invoice]:
    return scoped(Invoice.objects.all(), user=user, customer_lookup="order__customer__user")


def invoice_get_for(*, user: User, pk) -> Invoice:
    return get_or_404(invoice_list_for(user=user), pk)


# --- Figures for the console's overview (staff only; one aggregate query each) -------------


def order_counts_by_status(*, since, until) -> dict[str, int]:
    """Orders created in [since, until) by status."""
    rows = (
        Order.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("status")
        .annotate(count=Count("id"))
    )
    return {row["status"]: row["count"] for row in rows}


def order_waiting_count() -> int:
    """Orders paid (or created by staff) and not yet in a run."""
    return Order.objects.filter(status=OrderStatus.PENDING).count()


def revenue_between(*, since, until) -> Decimal:
    """Money settled in [since, until): paid payments by the time they were paid."""
    total = Payment.objects.filter(
        status=PaymentStatus.PAID, paid_at__gte=since, paid_at__lt=until
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


def unpaid_older_than_count(*, created_before) -> int:
    """Orders still waiting for their payment that were created before `created_before`."""
    return Order.objects.filter(
        status=OrderStatus.PENDING_PAYMENT, created_at__lt=created_before
    ).count()
