"""What orders cost: the tariff, quotes, and pricing an order's drop-offs again after an
edit. The arithmetic itself is orders/pricing.py; this reads the tariff and the router."""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from identity.models import User
from orders import pricing
from orders.models import Destination, Order, PaymentStatus, Tariff
from rappi.precompiled import Precompiled
from rappi.routing import Point, get_router
from rappi.services import model_update

logger = logging.getLogger(__name__)

# A scheduled time this far in the past is a mistake, not clock skew.
SCHEDULE_TOLERANCE = timedelta(minutes=5)


# Read by every order created and every quote: compiled once (`rappi.precompiled`).
_tariff = Precompiled(Tariff, lambda *, pk: Tariff.objects.filter(pk=pk)[:1], ids=("pk",))


def tariff_get() -> Tariff:
    found = _tariff(pk=Tariff.SINGLETON_ID)
    if found:
        return found[0]
    tariff, _created = Tariff.objects.get_or_create(pk=Tariff.SINGLETON_ID)
    return tariff


# Every setting; who changed them last and when are the service's to write.
TARIFF_FIELDS = tuple(
    f.name for f in Tariff._meta.fields if f.name not in ("id", "updated_by", "updated_at")
)


@transaction.atomic
def tariff_update(*, by: User, **changes) -> Tariff:
    tariff = Tariff.objects.select_for_update().get(pk=tariff_get().pk)
    tariff.updated_by = by
    changed = {
        field: [str(old), str(new)]
        for field, (old, new) in model_update(
            instance=tariff, fields=TARIFF_FIELDS, data=changes, also_save=["updated_by"]
        ).items()
    }
    logger.info("tariff changed", extra={"user_id": by.pk, "changes": changed})
    if changed:
        audit_record(action="tariff.update", target=tariff, changes=changed, actor=by)
    return tariff


def _package(spec: dict) -> pricing.Package:
    return pricing.Package(
        weight_kg=spec["weight_kg"],
        length_cm=spec.get("length_cm"),
        width_cm=spec.get("width_cm"),
        height_cm=spec.get("height_cm"),
    )


def _priced_at(scheduled_for):
    return scheduled_for or timezone.now()


def order_quote(
    *, origin: dict, destinations: list[dict], service_level: str, scheduled_for=None
) -> pricing.Quote:
    """What creating this order would charge; nothing is stored."""
    _check_schedule(scheduled_for)
    origin_point = Point(lat=float(origin["lat"]), lng=float(origin["lng"]))
    return pricing.quote(
        tariff=tariff_get(),
        origin=origin_point,
        destinations=[
            (Point(lat=float(d["lat"]), lng=float(d["lng"])), _package(d["package"]))
            for d in destinations
        ],
        service_level=service_level,
        at=_priced_at(scheduled_for),
        router=get_router(),
    )


def _check_schedule(scheduled_for) -> None:
    if scheduled_for is not None and scheduled_for < timezone.now() - SCHEDULE_TOLERANCE:
        raise ValidationError({"scheduled_for": [_("Must not be in the past.")]})


def _close_open_checkouts(order: Order) -> None:
    """The amount of an open checkout no longer holds once the price changes."""
    order.payments.filter(status=PaymentStatus.PENDING).update(
        status=PaymentStatus.FAILED, updated_at=timezone.now()
    )


def _price(order: Order, destinations: list[Destination]) -> None:
    """Price `destinations` (in sequence order) from `order`'s origin, level and time, and
    set each leg and the order's totals on the instances; nothing is written."""
    quote = pricing.quote(
        tariff=tariff_get(),
        origin=Point(lat=float(order.origin_lat), lng=float(order.origin_lng)),
        destinations=[
            (
                Point(lat=float(d.lat), lng=float(d.lng)),
                pricing.Package(d.weight_kg, d.length_cm, d.width_cm, d.height_cm),
            )
            for d in destinations
        ],
        service_level=order.service_level,
        at=_priced_at(order.scheduled_for),
        router=get_router(),
    )
    for destination, leg in zip(destinations, quote.legs, strict=True):
        destination.distance_km = leg.distance_km
        destination.duration_min = leg.duration_min
        destination.chargeable_weight_kg = leg.chargeable_weight_kg
        destination.subtotal = leg.total
    order.currency = quote.currency
    order.legs_total = quote.legs_total
    order.total = pricing.order_total(order.legs_total, order.price_adjustment)


def _reprice(order: Order) -> Order:
    """Price every destination again (after any edit) and refresh the totals; an open
    checkout for the old amount is closed."""
    _close_open_checkouts(order)
    destinations = list(order.destinations.order_by("sequence"))
    _price(order, destinations)
    Destination.objects.bulk_update(
        destinations, ["distance_km", "duration_min", "chargeable_weight_kg", "subtotal"]
    )
    order.save(update_fields=["currency", "legs_total", "total", "updated_at"])
    return order
