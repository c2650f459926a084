"""An order's timeline: one event per change of the order or of one of its drop-offs,
written by the service that makes the change, in its transaction.

`order_transition` records every status change (as `status_changed` unless its caller names
what happened: `paid`, `assigned`, `run_started`…); the creation and the changes that leave
the status as it was (`repriced`, `price_adjusted`, a drop-off `delivered` or `failed`
before the last one, `payment_declined`, `rated`) are recorded with `order_event_record`.
Either way a change writes exactly one event.

Some of an event's data is for staff only (who adjusted a price and why, a manual payment's
reference, why a run was cancelled, incident ids): `event_data_for` and `describe` leave it
out for everyone else, and `event_actor_id_for` shows a customer no one's id but its own."""

from decimal import Decimal

from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from identity.models import User
from orders.models import ActorRole, Destination, Order, OrderEvent, OrderEventType, OrderStatus
from rappi.templatetags.console import money

T = OrderEventType

# Keys of `data` only staff see, by event type.
STAFF_ONLY_DATA: dict[str, frozenset[str]] = {
    T.PRICE_ADJUSTED: frozenset({"reason"}),
    T.PAID: frozenset({"reference"}),
    T.UNASSIGNED: frozenset({"reason"}),
    T.FAILED: frozenset({"incident_id"}),
    T.RUN_FINISHED: frozenset({"incident_id"}),
}


def actor_role_of(user: User | None) -> str:
    """`customer`, `driver` or `staff` as the user's role says; `system` without a user."""
    if user is None:
        return ActorRole.SYSTEM
    return {"customer": ActorRole.CUSTOMER, "driver": ActorRole.DRIVER}.get(
        user.scope, ActorRole.STAFF
    )


def money_str(value: Decimal) -> str:
    """Money in `data`: a decimal string with two places, as the API sends money."""
    return f"{Decimal(value):.2f}"


def order_event_record(
    *,
    order: Order,
    type: str,
    by: User | None = None,
    destination: Destination | None = None,
    from_status: str = "",
    to_status: str = "",
    data: dict | None = None,
) -> OrderEvent:
    """Record one event on `order`'s timeline. Called by the service making the change,
    inside its transaction, so the event commits or rolls back with it."""
    if not connection.in_atomic_block:
        # Outside a transaction the event would outlive a change that failed after it.
        raise RuntimeError("An order event is recorded inside the change's transaction.")
    return OrderEvent.objects.create(
        order=order,
        destination=destination,
        type=type,
        from_status=from_status,
        to_status=to_status,
        actor=by,
        actor_role=actor_role_of(by),
        data=data or {},
    )


def destination_data(destination: Destination) -> dict:
    """What an event about one drop-off keeps of it: its sequence may change later."""
    return {"destination_id": destination.pk, "sequence": destination.sequence}


# --- Reading -------------------------------------------------------------------------------


def event_data_for(event: OrderEvent, *, for_staff: bool) -> dict:
    if for_staff:
        return dict(event.data)
    hidden = STAFF_ONLY_DATA.get(event.type, frozenset())
    return {key: value for key, value in event.data.items() if key not in hidden}


def event_actor_id_for(event: OrderEvent, *, user: User) -> int | None:
    """Staff see who acted; anyone else only themselves (the role is always shown)."""
    if user.is_staff_member or event.actor_id == user.pk:
        return event.actor_id
    return None


def _status(value: str) -> str:
    return str(OrderStatus(value).label) if value in OrderStatus.values else value


def _money(data: dict, key: str) -> str:
    return money(data.get(key), data.get("currency", "PEN"))


def _sentence(event: OrderEvent, data: dict) -> str:
    run = data.get("assignment_id")
    drop = data.get("sequence", "?")
    match event.type:
        case T.CREATED:
            return _("Order created: %(total)s") % {"total": _money(data, "total")}
        case T.REPRICED:
            change = data.get("change")
            values = {"drop": drop, "total": _money(data, "to_total")}
            if change == "destination_added":
                return _("Drop-off %(drop)s added; total %(total)s") % values
            if change == "destination_updated":
                return _("Drop-off %(drop)s edited; total %(total)s") % values
            if change == "destination_removed":
                return _("Drop-off %(drop)s removed; total %(total)s") % values
            return _("Order details edited; total %(total)s") % values
        case T.PRICE_ADJUSTED:
            values = {
                "amount": _money(data, "amount"),
                "total": _money(data, "to_total"),
                "reason": data.get("reason", ""),
            }
            if "reason" in data:
                return _("Price adjusted by %(amount)s (%(reason)s); total %(total)s") % values
            return _("Price adjusted by %(amount)s; total %(total)s") % values
        case T.PAID:
            values = {"amount": _money(data, "amount"), "reference": data.get("reference", "")}
            if data.get("provider") == "manual":
                if data.get("reference"):
                    return _("Paid %(amount)s at the office (%(reference)s)") % values
                return _("Paid %(amount)s at the office") % values
            if data.get("provider") == "free":
                return _("Nothing to pay: the order is free")
            return _("Paid %(amount)s online") % values
        case T.PAYMENT_DECLINED:
            return _("Payment of %(amount)s declined") % {"amount": _money(data, "amount")}
        case T.ASSIGNED:
            return _("Assigned to run #%(run)s: %(driver)s, vehicle %(plate)s") % {
                "run": run,
                "driver": data.get("driver_name", ""),
                "plate": data.get("vehicle_plate", ""),
            }
        case T.UNASSIGNED:
            if data.get("reason"):
                return _("Taken off run #%(run)s: %(reason)s") % {
                    "run": run,
                    "reason": data["reason"],
                }
            if data.get("run_deleted"):
                return _("Taken off run #%(run)s (run deleted)") % {"run": run}
            return _("Taken off run #%(run)s (run cancelled)") % {"run": run}
        case T.RUN_STARTED:
            return _("Run #%(run)s started: on its way") % {"run": run}
        case T.DELIVERED:
            return _("Drop-off %(drop)s delivered to %(name)s") % {
                "drop": drop,
                "name": data.get("received_by", ""),
            }
        case T.FAILED:
            return _("Drop-off %(drop)s failed: %(reason)s") % {
                "drop": drop,
                "reason": data.get("reason", ""),
            }
        case T.RUN_FINISHED:
            count = len(data.get("failed_destination_ids", []))
            return ngettext(
                "Run #%(run)s closed by staff: %(count)d drop-off failed (%(reason)s)",
                "Run #%(run)s closed by staff: %(count)d drop-offs failed (%(reason)s)",
                count,
            ) % {"run": run, "count": count, "reason": data.get("reason", "")}
        case T.CANCELLED:
            if data.get("reason"):
                return _("Order cancelled: %(reason)s") % {"reason": data["reason"]}
            return _("Order cancelled")
        case T.REOPENED:
            return _("Reopened on run #%(run)s") % {"run": run}
        case T.RATED:
            return _("Rated %(score)s/5") % {"score": data.get("score")}
    return _("Status changed")


def describe(event: OrderEvent, *, for_staff: bool = True) -> str:
    """The event as a sentence in the active language, for people (the console's order
    page); what only staff may know is left out unless `for_staff`."""
    sentence = _sentence(event, event_data_for(event, for_staff=for_staff))
    if event.to_status and event.type in (T.DELIVERED, T.FAILED, T.RUN_FINISHED):
        # The drop-off that closed the order: say how it ended.
        return _("%(what)s; the order is now %(status)s") % {
            "what": sentence,
            "status": _status(event.to_status).lower(),
        }
    if event.type == T.STATUS_CHANGED:
        return _("Status changed from %(from)s to %(to)s") % {
            "from": _status(event.from_status),
            "to": _status(event.to_status),
        }
    return sentence
