"""The order state machine: `TRANSITIONS`, and `order_transition`, the one place an order
changes state; `_locked`, the order row lock every order write takes first."""

from django.utils import timezone
from django.utils.translation import gettext as _

from identity.models import User
from orders.models import Destination, Order, OrderEventType, OrderStatus
from orders.timeline import order_event_record
from rappi.errors import IllegalTransitionError

TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.PENDING_PAYMENT: {OrderStatus.PENDING, OrderStatus.CANCELLED},
    OrderStatus.PENDING: {OrderStatus.ASSIGNED, OrderStatus.CANCELLED},
    OrderStatus.ASSIGNED: {OrderStatus.PENDING, OrderStatus.IN_TRANSIT, OrderStatus.CANCELLED},
    OrderStatus.IN_TRANSIT: {OrderStatus.DELIVERED, OrderStatus.CANCELLED},
    OrderStatus.DELIVERED: {OrderStatus.IN_TRANSIT},
    OrderStatus.CANCELLED: {OrderStatus.IN_TRANSIT},
}
TERMINAL = {OrderStatus.DELIVERED, OrderStatus.CANCELLED}


def order_transition(
    *,
    order: Order,
    to: str,
    by: User | None = None,
    event: str = OrderEventType.STATUS_CHANGED,
    destination: Destination | None = None,
    data: dict | None = None,
) -> Order:
    """The one place an order changes state; the caller holds the row lock. The change is
    recorded on the order's timeline once: as `event` with `destination` and `data` when
    the caller says what happened, else as a plain status change."""
    allowed = TRANSITIONS[order.status]
    if to not in allowed:
        raise IllegalTransitionError.between(
            _("An order cannot go from %(current)s to %(target)s."),
            OrderStatus,
            current=order.status,
            target=to,
            allowed=sorted(allowed),
        )
    previous, order.status = order.status, to
    changed = ["status", "updated_at"]
    if to == OrderStatus.DELIVERED or previous == OrderStatus.DELIVERED:
        # Reports count deliveries by this moment; a reopened run takes it back.
        order.delivered_at = timezone.now() if to == OrderStatus.DELIVERED else None
        changed.append("delivered_at")
    order.save(update_fields=changed)
    order_event_record(
        order=order,
        type=event,
        by=by,
        destination=destination,
        from_status=previous,
        to_status=to,
        data=data,
    )
    return order


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update().get(pk=order.pk)
