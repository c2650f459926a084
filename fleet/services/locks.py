"""The row locks fleet's writes take, in one order: runs before orders, each kind in id
order (docs/architecture.md, Lock order). The other modules call them as
`locks.locked_run(...)`: one name to look up, so a test that delays a lock patches it once."""

from django.db.models import QuerySet

from fleet.models import Assignment
from orders.models import Order


def locked_run(assignment: Assignment) -> Assignment:
    return Assignment.objects.select_for_update().get(pk=assignment.pk)


def locked_orders(assignment: Assignment, **filters) -> QuerySet[Order]:
    """The run's orders (narrowed by `filters`), locked in id order and only themselves
    (not the join rows nor related rows): every path locks several orders the same way."""
    return (
        Order.objects.select_for_update(of=("self",))
        .filter(assignments=assignment, **filters)
        .order_by("pk")
    )


def assignments_lock_for_order(*, order: Order) -> list[Assignment]:
    """Lock the live runs holding `order`, in id order, before the order itself: what
    cancelling it may change (runs before orders, docs/architecture.md, Lock order)."""
    return list(
        Assignment.objects.select_for_update(of=("self",))
        .filter(orders=order, status__in=Assignment.ACTIVE)
        .order_by("pk")
    )
