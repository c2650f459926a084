"""Orders and their drop-offs: create, edit while editable (priced again each time),
cancel, adjust the price."""

import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from identity.models import User
from orders import pricing
from orders.errors import AlreadyPaidError, InactiveCustomerError, OrderNotEditableError
from orders.models import (
    Customer,
    Destination,
    DestinationStatus,
    Order,
    OrderEventType,
    OrderStatus,
    PaymentStatus,
)
from orders.services.lifecycle import _locked, order_transition
from orders.services.quotes import _check_schedule, _close_open_checkouts, _price, _reprice
from orders.signals import order_cancelled, order_cancelling
from orders.timeline import destination_data, money_str, order_event_record
from rappi.errors import IllegalTransitionError
from rappi.services import model_update

logger = logging.getLogger(__name__)

MAX_DESTINATIONS = 20
# What edits change: an order's notes, schedule and service level; a drop-off's place,
# recipient and package (given apart, as `package`).
ORDER_FIELDS = ("notes", "scheduled_for", "service_level")
DESTINATION_FIELDS = ("line", "district", "lat", "lng", "recipient_name", "recipient_phone")
PACKAGE_FIELDS = ("weight_kg", "length_cm", "width_cm", "height_cm", "description")


def _destination(order: Order, sequence: int, spec: dict) -> Destination:
    package = spec["package"]
    return Destination(
        order=order,
        sequence=sequence,
        line=spec["line"],
        district=spec["district"],
        lat=spec["lat"],
        lng=spec["lng"],
        recipient_name=spec["recipient_name"],
        recipient_phone=spec["recipient_phone"],
        weight_kg=package["weight_kg"],
        length_cm=package.get("length_cm"),
        width_cm=package.get("width_cm"),
        height_cm=package.get("height_cm"),
        description=package.get("description", ""),
    )


@transaction.atomic
def order_create(
    *,
    by: User,
    customer: Customer,
    origin: dict,
    destinations: list[dict],
    service_level: str,
    scheduled_for=None,
    notes: str = "",
) -> Order:
    """A customer's own order starts `pending_payment`; one staff create for a customer
    starts `pending` (paid offline or on account). Priced before it is written, so each
    row is inserted once with its price; the order comes back with its drop-offs, as a read
    would give them (`order.destinations.all()` answers without a query)."""
    if not customer.is_active:
        raise InactiveCustomerError(customer_id=customer.pk)
    _check_schedule(scheduled_for)
    order = Order(
        customer=customer,
        status=OrderStatus.PENDING if by.is_staff_member else OrderStatus.PENDING_PAYMENT,
        service_level=service_level,
        scheduled_for=scheduled_for,
        origin_line=origin["line"],
        origin_district=origin["district"],
        origin_lat=origin["lat"],
        origin_lng=origin["lng"],
        notes=notes,
        created_by=by,
    )
    rows = [_destination(order, index, spec) for index, spec in enumerate(destinations, start=1)]
    for row in (order, *rows):
        _as_stored(row)
    _price(order, rows)
    order.save(force_insert=True)
    Destination.objects.bulk_create(rows)
    _with_destinations(order, rows)
    order_event_record(
        order=order,
        type=OrderEventType.CREATED,
        by=by,
        to_status=order.status,
        data={
            "total": money_str(order.total),
            "currency": order.currency,
            "service_level": order.service_level,
            "destinations": len(destinations),
        },
    )
    return order


def _as_stored(row) -> None:
    """Round `row`'s decimals to their columns' places as PostgreSQL does (half away from
    zero), so prices and answers computed from the instance are those of its stored row."""
    for field in row._meta.concrete_fields:
        if isinstance(field, models.DecimalField):
            value = getattr(row, field.attname)
            if value is not None:
                places = Decimal(1).scaleb(-field.decimal_places)
                setattr(
                    row,
                    field.attname,
                    field.to_python(value).quantize(places, rounding=ROUND_HALF_UP),
                )


def _with_destinations(order: Order, destinations: list[Destination]) -> None:
    """Let `order.destinations.all()` answer with the rows just written, as a prefetch
    would, instead of reading them back."""
    cached = order.destinations.all()
    cached._result_cache = destinations
    # Django's own prefetch markers, which its stubs do not declare.
    cached._prefetch_done = True  # type: ignore[attr-defined]
    order._prefetched_objects_cache = {"destinations": cached}  # type: ignore[attr-defined]


def _editable(order: Order) -> Order:
    """Lock an order that may still change price: not in a run, not yet paid."""
    order = _locked(order)
    if not order.is_editable:
        raise OrderNotEditableError(status=order.status)
    if order.payments.filter(status=PaymentStatus.PAID).exists():
        raise AlreadyPaidError(order_id=order.pk)
    return order


def _repriced(
    order: Order, *, before, by: User | None, change: str, destination=None, **data
) -> Order:
    """Price an edited order again and record the edit with the totals before and after."""
    order = _reprice(order)
    order_event_record(
        order=order,
        type=OrderEventType.REPRICED,
        by=by,
        destination=destination,
        data={
            "change": change,
            **data,
            "from_total": money_str(before),
            "to_total": money_str(order.total),
            "currency": order.currency,
        },
    )
    return order


@transaction.atomic
def order_update(*, order: Order, by: User | None = None, **changes) -> Order:
    """Notes, schedule and service level, while editable; re-priced."""
    order = _editable(order)
    if "scheduled_for" in changes:
        _check_schedule(changes["scheduled_for"])
    before = order.total
    model_update(instance=order, fields=ORDER_FIELDS, data=changes, validate_given_only=True)
    return _repriced(order, before=before, by=by, change="order_updated", fields=sorted(changes))


@transaction.atomic
def destination_add(*, order: Order, spec: dict, by: User | None = None) -> Destination:
    order = _editable(order)
    count = order.destinations.count()
    if count >= MAX_DESTINATIONS:
        raise ValidationError({"destinations": [_("An order has at most 20 destinations.")]})
    destination = _destination(order, count + 1, spec)
    destination.save()
    _repriced(
        order,
        before=order.total,
        by=by,
        change="destination_added",
        destination=destination,
        **destination_data(destination),
    )
    destination.refresh_from_db()
    return destination


@transaction.atomic
def destination_update(
    *, order: Order, destination: Destination, spec: dict, by: User | None = None
) -> Destination:
    order = _editable(order)
    package = spec.pop("package", {})
    model_update(
        instance=destination,
        fields=DESTINATION_FIELDS + PACKAGE_FIELDS,
        data={**spec, **package},
        validate_given_only=True,
    )
    _repriced(
        order,
        before=order.total,
        by=by,
        change="destination_updated",
        destination=destination,
        **destination_data(destination),
        fields=sorted({**spec, **package}),
    )
    destination.refresh_from_db()
    return destination


@transaction.atomic
def destination_remove(*, order: Order, destination: Destination, by: User | None = None) -> None:
    order = _editable(order)
    if order.destinations.count() <= 1:
        raise ValidationError({"destinations": [_("An order needs at least one destination.")]})
    removed = destination_data(destination)
    destination.delete()
    # Close the gap: sequences stay 1..n (two passes keep the unique index happy).
    remaining = list(order.destinations.order_by("sequence"))
    for offset, item in enumerate(remaining, start=1):
        item.sequence = MAX_DESTINATIONS + offset
    Destination.objects.bulk_update(remaining, ["sequence"])
    for offset, item in enumerate(remaining, start=1):
        item.sequence = offset
    Destination.objects.bulk_update(remaining, ["sequence"])
    _repriced(order, before=order.total, by=by, change="destination_removed", **removed)


CUSTOMER_CANCELLABLE = {OrderStatus.PENDING_PAYMENT, OrderStatus.PENDING}


@transaction.atomic
def order_cancel(*, order: Order, reason: str, by: User) -> Order:
    """Any non-terminal order; a customer only before it is in a run. Pending drop-offs
    fail with the reason, open checkouts are closed. A paid payment is not refunded here:
    refunds are staff work with the provider."""
    order_cancelling.send(sender=Order, order=order)  # its runs first: runs before orders
    order = _locked(order)
    if not by.is_staff_member and order.status not in CUSTOMER_CANCELLABLE:
        raise IllegalTransitionError(
            _("Only staff can cancel an order that is already in a run."),
            current=order.status,
            target=OrderStatus.CANCELLED,
            allowed=[],
        )
    pending = order.destinations.filter(status=DestinationStatus.PENDING)
    failed_ids = sorted(pending.values_list("pk", flat=True))
    order_transition(
        order=order,
        to=OrderStatus.CANCELLED,
        by=by,
        event=OrderEventType.CANCELLED,
        # Its pending drop-offs fail with it: recorded here, not one event each.
        data={"reason": reason, "failed_destination_ids": failed_ids},
    )
    order.cancel_reason = reason
    order.cancelled_at = timezone.now()
    order.save(update_fields=["cancel_reason", "cancelled_at", "updated_at"])
    Destination.objects.filter(pk__in=failed_ids).update(
        status=DestinationStatus.FAILED, failure_reason=reason[:300]
    )
    order.payments.filter(status=PaymentStatus.PENDING).update(status=PaymentStatus.FAILED)
    order_cancelled.send(sender=Order, order=order)
    return order


@transaction.atomic
def order_adjust_price(*, order: Order, amount: Decimal, reason: str, by: User) -> Order:
    """Staff discount (negative) or surcharge, replacing any earlier adjustment; the
    total never drops below 0. Not once the order is paid and running."""
    order = _editable(order)
    _close_open_checkouts(order)
    before: dict[str, Any] = {
        "price_adjustment": order.price_adjustment,
        "adjustment_reason": order.adjustment_reason,
        "total": order.total,
    }
    order.price_adjustment = amount
    order.adjustment_reason = reason
    order.adjusted_by = by
    order.total = pricing.order_total(order.legs_total, amount)
    order.save(
        update_fields=[
            "price_adjustment",
            "adjustment_reason",
            "adjusted_by",
            "total",
            "updated_at",
        ]
    )
    order_event_record(
        order=order,
        type=OrderEventType.PRICE_ADJUSTED,
        by=by,
        data={
            "amount": money_str(amount),
            "reason": reason,
            "from_total": money_str(before["total"]),
            "to_total": money_str(order.total),
            "currency": order.currency,
        },
    )
    logger.info(
        "order price adjusted",
        extra={"order_id": order.pk, "user_id": by.pk, "amount": str(amount), "reason": reason},
    )
    audit_record(
        action="order.price_adjust",
        target=order,
        changes={field: (old, getattr(order, field)) for field, old in before.items()},
        actor=by,
    )
    return order
