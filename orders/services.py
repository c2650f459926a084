"""Orders writes: customers and addresses, orders and their state machine, pricing,
payments, invoices and ratings. Every state change of an order goes through
`order_transition`."""

import logging
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from identity import services as identity_services
from identity.models import User
from orders import pricing
from orders.errors import (
    AlreadyPaidError,
    AlreadyRatedError,
    AmountMismatchError,
    InactiveCustomerError,
    InvoiceExistsError,
    OrderNotDeliveredError,
    OrderNotEditableError,
    OrderNotPaidError,
    OrderNotPayableError,
    PaymentNotPendingError,
    WrongProviderError,
)
from orders.models import (
    Address,
    Customer,
    Destination,
    Invoice,
    Order,
    OrderEventType,
    OrderStatus,
    Payment,
    PaymentStatus,
    Rating,
    Tariff,
)
from orders.payment_providers import (
    MercadoPagoProvider,
    ProviderPayment,
    ProviderPaymentNotFoundError,
    SimulatedProvider,
    WebhookSignatureError,
    get_provider,
)
from orders.ruc import InvalidRucError, RucNotRegisteredError, ruc_lookup
from orders.signals import order_cancelled, order_cancelling
from orders.timeline import destination_data, money_str, order_event_record
from rappi.errors import IllegalTransitionError, PermissionDeniedError
from rappi.routing import Point, get_router

logger = logging.getLogger(__name__)

MAX_DESTINATIONS = 20
# A scheduled time this far in the past is a mistake, not clock skew.
SCHEDULE_TOLERANCE = timedelta(minutes=5)


# --- Customers and addresses ------------------------------------------------------------


def customer_email_clean(*, email: str, customer: Customer | None = None) -> str:
    """The email `customer` (None: a new walk-in customer) may hold, lowercased. With a
    login it is always the login's: another one is refused (change the login's instead).
    Without one it may stay blank, but may not be another account's — another login's or
    another customer record's, in any case. Raises ValidationError on `email`."""
    email = (email or "").strip().lower()
    if customer is not None and customer.user_id:
        own = customer.user.email.lower()
        if email != own:
            raise ValidationError(
                {
                    "email": [
                        _(
                            "This customer signs in with a login and always has its email; "
                            "change the login's email instead."
                        )
                    ]
                }
            )
        return own
    if customer is not None and email == (customer.email or "").lower():
        return email  # unchanged: no conflict with itself
    others = Customer.objects.filter(email__iexact=email)
    if customer is not None:
        others = others.exclude(pk=customer.pk)
    if email and (User.objects.filter(email__iexact=email).exists() or others.exists()):
        raise ValidationError({"email": [_("This email belongs to another account.")]})
    return email


@transaction.atomic
def customer_create(
    *, full_name: str, email: str = "", phone: str = "", tax_id: str = "", user: User | None = None
) -> Customer:
    """A customer record: a walk-in one (its email checked), or a login's, which takes the
    login's email (a walk-in record may share it: registering never adopts one)."""
    email = user.email if user is not None else customer_email_clean(email=email)
    customer = Customer(full_name=full_name, email=email, phone=phone, tax_id=tax_id, user=user)
    customer.full_clean(exclude=["user"])
    customer.save()
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **changes) -> Customer:
    """Edit a customer; `is_active` cascades to the linked login (and back, via signals).
    The email follows `customer_email_clean`."""
    customer = (
        Customer.objects.select_for_update(of=("self",)).select_related("user").get(pk=customer.pk)
    )
    if "email" in changes:
        changes["email"] = customer_email_clean(email=changes["email"], customer=customer)
    is_active = changes.pop("is_active", None)
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.full_clean(exclude=["user"])
    customer.save()
    if is_active is False and customer.is_active:
        customer_deactivate(customer=customer)
    elif is_active is True and not customer.is_active:
        Customer.objects.filter(pk=customer.pk).update(is_active=True)
        customer.is_active = True
        if customer.user_id and not customer.user.is_active:
            identity_services.user_reactivate(user=customer.user)
    return customer


@transaction.atomic
def customer_deactivate(*, customer: Customer) -> Customer:
    """Soft delete; the customer's login is deactivated too (its sessions end)."""
    Customer.objects.filter(pk=customer.pk).update(is_active=False)
    customer.is_active = False
    if customer.user_id and customer.user.is_active:
        # A system cascade: the permission checked was customers:delete.
        identity_services.user_deactivate(user=customer.user, by=None)
    return customer


@transaction.atomic
def customer_link_user(*, user: User, link_by_email: bool = False) -> Customer:
    """Give a `customer` login its customer record: its own if it had one, else (when
    staff vouch for it) an unlinked record with the same email, else a new one."""
    customer = Customer.objects.filter(user=user).first()
    if customer is None and link_by_email:
        customer = (
            Customer.objects.select_for_update()
            .filter(user__isnull=True, email__iexact=user.email)
            .order_by("id")
            .first()
        )
        if customer is not None:
            customer.user = user
            customer.save(update_fields=["user", "updated_at"])
    if customer is None:
        customer = customer_create(
            full_name=user.full_name, email=user.email, phone=user.phone, user=user
        )
    customer_follow_user_email(user=user)
    customer.email = user.email
    if user.is_active and not customer.is_active:
        Customer.objects.filter(pk=customer.pk).update(is_active=True)
        customer.is_active = True
    return customer


def customer_follow_user_email(*, user: User) -> None:
    """A login's customer record carries the login's email (its change included)."""
    Customer.objects.filter(user=user).exclude(email=user.email).update(
        email=user.email, updated_at=timezone.now()
    )


def _keep_one_primary(address: Address) -> None:
    siblings = Address.objects.filter(customer_id=address.customer_id).exclude(pk=address.pk)
    if address.is_primary:
        siblings.filter(is_primary=True).update(is_primary=False)


@transaction.atomic
def address_create(*, customer: Customer, **fields) -> Address:
    Customer.objects.select_for_update().get(pk=customer.pk)  # serialise primary changes
    address = Address(customer=customer, **fields)
    if not customer.addresses.exists():
        address.is_primary = True  # the first address is the primary one
    if address.is_primary:
        Address.objects.filter(customer=customer, is_primary=True).update(is_primary=False)
    address.full_clean()
    address.save()
    return address


@transaction.atomic
def address_update(*, address: Address, **changes) -> Address:
    Customer.objects.select_for_update().get(pk=address.customer_id)
    for field, value in changes.items():
        setattr(address, field, value)
    _keep_one_primary(address)
    address.full_clean()
    address.save()
    return address


@transaction.atomic
def address_delete(*, address: Address) -> None:
    Customer.objects.select_for_update().get(pk=address.customer_id)
    was_primary = address.is_primary
    customer_id = address.customer_id
    address.delete()
    if was_primary:
        successor = Address.objects.filter(customer_id=customer_id).order_by("id").first()
        if successor is not None:
            Address.objects.filter(pk=successor.pk).update(is_primary=True)


# --- Order state machine -----------------------------------------------------------------

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
        raise IllegalTransitionError(
            _("An order cannot go from %(current)s to %(target)s.")
            % {
                "current": OrderStatus(order.status).label.lower(),
                "target": OrderStatus(to).label.lower(),
            },
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


# --- Pricing ----------------------------------------------------------------------------


def tariff_get() -> Tariff:
    tariff, _created = Tariff.objects.get_or_create(pk=Tariff.SINGLETON_ID)
    return tariff


@transaction.atomic
def tariff_update(*, by: User, **changes) -> Tariff:
    tariff = Tariff.objects.select_for_update().get(pk=tariff_get().pk)
    before = {field: getattr(tariff, field) for field in changes}
    for field, value in changes.items():
        setattr(tariff, field, value)
    tariff.updated_by = by
    tariff.full_clean()
    tariff.save()
    changed = {f: [str(before[f]), str(v)] for f, v in changes.items() if before[f] != v}
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


# --- Orders -------------------------------------------------------------------------------


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
    cached._prefetch_done = True
    order._prefetched_objects_cache = {"destinations": cached}


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
    for field, value in changes.items():
        setattr(order, field, value)
    order.save()
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
    for field, value in {**spec, **package}.items():
        setattr(destination, field, value)
    destination.save()
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
    pending = order.destinations.filter(status=Destination.Status.PENDING)
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
        status=Destination.Status.FAILED, failure_reason=reason[:300]
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
    before = {
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


# --- Payments -----------------------------------------------------------------------------


@transaction.atomic
def payment_checkout(*, order: Order, by: User) -> Payment:
    """Open a checkout for an order pending payment, or return the open one. Two taps on
    "pay" never create two checkouts: the order row is locked and a partial unique index
    allows one pending payment per order."""
    order = _locked(order)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderNotPayableError(status=order.status)
    if order.total == 0:
        # Fully discounted: nothing to collect, so it is settled on the spot.
        return _settle_free(order=order, by=by)
    provider = get_provider()
    open_payment = order.payments.filter(status=PaymentStatus.PENDING).first()
    if open_payment is not None:
        if open_payment.amount == order.total and open_payment.provider == provider.name:
            if isinstance(provider, SimulatedProvider):
                # Its link expires; whoever taps "pay" again gets a working one.
                open_payment.checkout_url = provider.checkout_url(payment_id=open_payment.pk)
                open_payment.save(update_fields=["checkout_url", "updated_at"])
            return open_payment
        # The order was re-priced (or the provider changed) since: close the stale checkout.
        open_payment.status = PaymentStatus.FAILED
        open_payment.save(update_fields=["status", "updated_at"])
    payment = Payment.objects.create(
        order=order,
        amount=order.total,
        currency=order.currency,
        provider=provider.name,
        created_by=by,
    )
    customer = order.customer
    checkout = provider.create_checkout(
        payment_id=payment.pk,
        order_id=order.pk,
        amount=payment.amount,
        currency=payment.currency,
        description=_("Rappi order #%(id)s") % {"id": order.pk},
        # A customer with a login pays as that login.
        payer_email=customer.user.email if customer.user_id else customer.email,
    )
    payment.external_id = checkout.external_id
    payment.checkout_url = checkout.checkout_url
    payment.save(update_fields=["external_id", "checkout_url", "updated_at"])
    return payment


def _payment_data(payment: Payment) -> dict:
    return {
        "payment_id": payment.pk,
        "amount": money_str(payment.amount),
        "currency": payment.currency,
        "provider": payment.provider,
    }


def _settle_free(*, order: Order, by: User) -> Payment:
    order.payments.filter(status=PaymentStatus.PENDING).update(status=PaymentStatus.FAILED)
    payment = Payment.objects.create(
        order=order,
        amount=order.total,
        currency=order.currency,
        provider="free",
        status=PaymentStatus.PAID,
        paid_at=timezone.now(),
        created_by=by,
    )
    order_transition(
        order=order,
        to=OrderStatus.PENDING,
        by=by,
        event=OrderEventType.PAID,
        data=_payment_data(payment),
    )
    return payment


def _notify_customer(order: Order, *, kind: str, title: str, body: str = "") -> None:
    if order.customer.user_id:
        identity_services.notification_send(
            recipient_user_id=order.customer.user_id,
            kind=kind,
            title=title,
            body=body,
            data={"order_id": order.pk},
        )


def _settles(*, checkout: Payment, order: Order, amount: Decimal, currency: str) -> bool:
    """Whether money of `amount` and `currency` received on `checkout` pays for the order:
    the order's open checkout, for exactly its current total, and nothing paid it yet.
    The caller holds the order's row lock."""
    return (
        checkout.status == PaymentStatus.PENDING
        and order.status == OrderStatus.PENDING_PAYMENT
        and amount == checkout.amount == order.total
        and currency == checkout.currency == order.currency
        and not order.payments.filter(status=PaymentStatus.PAID).exists()
    )


def _settle(*, order: Order, payment: Payment, provider_payment_id: str, paid_at) -> Payment:
    """`payment` settles its order: paid, order `pending_payment → pending`, customer told."""
    payment.status = PaymentStatus.PAID
    payment.provider_payment_id = provider_payment_id or payment.provider_payment_id
    payment.paid_at = paid_at or timezone.now()
    payment.save(update_fields=["status", "paid_at", "provider_payment_id", "updated_at"])
    # The provider confirmed it: the system's doing, whoever pressed "pay".
    order_transition(
        order=order, to=OrderStatus.PENDING, event=OrderEventType.PAID, data=_payment_data(payment)
    )
    _notify_customer(
        order,
        kind="payment.confirmed",
        title=_("Payment confirmed"),
        body=_("We received %(amount)s %(currency)s for order #%(id)s.")
        % {"amount": payment.amount, "currency": payment.currency, "id": order.pk},
    )
    return payment


def _log_refund_needed(payment: Payment) -> None:
    logger.error(
        "money received that does not settle its order; refund it",
        extra={"payment_id": payment.pk, "order_id": payment.order_id},
    )


@transaction.atomic
def payment_confirm(*, payment: Payment, provider_payment_id: str = "", paid_at=None) -> Payment:
    """The provider says this payment (checkout and attempt in one, as the simulated
    provider's) went through. It settles the order only if it is the order's open checkout
    for exactly the order's current total; anything else (a stale checkout, an order
    already paid or cancelled) is kept `failed` with `needs_refund`, for staff to return
    the money. Idempotent: a second confirmation changes nothing."""
    order = _locked(payment.order)  # order first, as checkout and cancel lock it
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status == PaymentStatus.PAID or payment.needs_refund:
        return payment
    if _settles(checkout=payment, order=order, amount=payment.amount, currency=payment.currency):
        return _settle(
            order=order, payment=payment, provider_payment_id=provider_payment_id, paid_at=paid_at
        )
    payment.status = PaymentStatus.FAILED
    payment.needs_refund = True
    payment.provider_payment_id = provider_payment_id or payment.provider_payment_id
    payment.paid_at = paid_at or timezone.now()
    payment.save(
        update_fields=["status", "needs_refund", "paid_at", "provider_payment_id", "updated_at"]
    )
    _log_refund_needed(payment)
    return payment


@transaction.atomic
def payment_fail(*, payment: Payment) -> Payment:
    """The provider declined the payment (the simulated provider's single attempt)."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status == PaymentStatus.PENDING:
        payment.status = PaymentStatus.FAILED
        payment.save(update_fields=["status", "updated_at"])
        order_event_record(
            order=payment.order,
            type=OrderEventType.PAYMENT_DECLINED,
            data=_payment_data(payment),
        )
    return payment


def payment_simulate(*, payment: Payment, outcome: str) -> Payment:
    """The simulated provider's "customer paid / card declined". Its checkout is a single
    attempt: a declined one is closed, and paying again opens a new checkout."""
    if payment.provider != "simulated" or settings.PAYMENT_PROVIDER != "simulated":
        raise WrongProviderError(provider=payment.provider)
    target = PaymentStatus.PAID if outcome == "approved" else PaymentStatus.FAILED
    if payment.status == target:
        return payment  # a repeated simulation changes nothing
    if payment.status != PaymentStatus.PENDING:
        raise PaymentNotPendingError(status=payment.status)
    if outcome == "approved":
        return payment_confirm(payment=payment, provider_payment_id=f"sim-{payment.pk}")
    return payment_fail(payment=payment)


# Our payment ids as we send them in `external_reference`: ASCII digits within a bigint.
_REFERENCE_RE = re.compile(r"[0-9]{1,18}")


def _provider_checkout(provider: str, reference: str) -> Payment | None:
    """The checkout (never an attempt row) a provider payment's reference names."""
    if not _REFERENCE_RE.fullmatch(reference):
        return None
    return Payment.objects.filter(pk=int(reference), provider=provider, checkout=None).first()


def payment_apply_provider_state(*, provider_payment: ProviderPayment) -> Payment | None:
    """What MercadoPago says about one of its payments (webhook). Each provider payment is
    one row of ours, found again by its id, so a repeated notification changes nothing.

    One checkout (our payment row, MercadoPago's preference) may receive several card
    attempts. An approval of exactly the order's total on its open checkout settles the
    order, recorded on the checkout row itself. Every other provider payment gets a row of
    its own linked to the checkout: a declined attempt is `failed` and leaves the checkout
    open for another card; approved money that cannot settle the order (a wrong amount or
    currency, a stale or closed checkout, an order already paid or cancelled) is `failed`
    with `needs_refund`. A refund is recorded on the row it returns. Payments still
    undecided store nothing, and references that are not ours are ignored (logged)."""
    reference = provider_payment.external_reference
    checkout = _provider_checkout(MercadoPagoProvider.name, reference)
    if checkout is None:
        logger.warning(
            "provider payment %s for no checkout of ours",
            provider_payment.external_id,
            extra={"reference": reference[:100], "mp_payment_id": provider_payment.external_id},
        )
        return None
    if provider_payment.status not in ("approved", "rejected", "refunded"):
        return None  # still undecided: a later notification says how it ended
    return _record_provider_payment(checkout=checkout, provider_payment=provider_payment)


@transaction.atomic
def _record_provider_payment(*, checkout: Payment, provider_payment: ProviderPayment) -> Payment:
    # Order first, as checkout and cancel lock it; then concurrent deliveries of one
    # notification run one after the other and the later ones find the row.
    order = _locked(checkout.order)
    checkout = Payment.objects.select_for_update().get(pk=checkout.pk)
    provider_id = provider_payment.external_id
    row = (
        Payment.objects.select_for_update()
        .filter(provider=checkout.provider, provider_payment_id=provider_id)
        .first()
    )
    if row is not None:
        return _follow_provider_payment(row, provider_payment)
    if provider_payment.status == "approved" and _settles(
        checkout=checkout,
        order=order,
        amount=provider_payment.amount,
        currency=provider_payment.currency,
    ):
        return _settle(
            order=order,
            payment=checkout,
            provider_payment_id=provider_id,
            paid_at=provider_payment.paid_at,
        )
    attempt = Payment(
        order=order,
        checkout=checkout,
        amount=provider_payment.amount.quantize(Decimal("0.01")),
        currency=provider_payment.currency,
        provider=checkout.provider,
        external_id=checkout.external_id,
        provider_payment_id=provider_id,
        status=PaymentStatus.FAILED,
        paid_at=provider_payment.paid_at,
    )
    if provider_payment.status == "approved":
        attempt.needs_refund = True
        attempt.paid_at = attempt.paid_at or timezone.now()
    elif provider_payment.status == "refunded":
        # Taken and given back before we heard of it: recorded, nothing to do.
        attempt.status = PaymentStatus.REFUNDED
    attempt.save()
    if provider_payment.status == "rejected":
        data = {**_payment_data(attempt), "checkout_id": checkout.pk}
        order_event_record(order=order, type=OrderEventType.PAYMENT_DECLINED, data=data)
    if attempt.needs_refund:
        _log_refund_needed(attempt)
    return attempt


def _follow_provider_payment(row: Payment, provider_payment: ProviderPayment) -> Payment:
    """A provider payment we already hold: only a refund (or, oddly, a late approval of a
    declined attempt, which is money to return) changes it. The caller holds the locks."""
    if provider_payment.status == "refunded" and (
        row.status == PaymentStatus.PAID or row.needs_refund
    ):
        row.status = PaymentStatus.REFUNDED
        row.needs_refund = False
        row.save(update_fields=["status", "needs_refund", "updated_at"])
    elif (
        provider_payment.status == "approved"
        and row.status == PaymentStatus.FAILED
        and not row.needs_refund
    ):
        row.needs_refund = True
        row.paid_at = provider_payment.paid_at or timezone.now()
        row.save(update_fields=["needs_refund", "paid_at", "updated_at"])
        _log_refund_needed(row)
    return row


def payment_webhook_mercadopago(*, headers, query, body: dict) -> Payment | None:
    try:
        provider = get_provider("mercadopago")
    except ImproperlyConfigured:
        # Not set up here: nothing can be verified, so nothing is accepted.
        raise WebhookSignatureError() from None
    external_id = provider.verify_webhook(headers=headers, query=query, body=body)
    topic = query.get("type") or query.get("topic") or body.get("type") or ""
    if topic and topic != "payment":
        return None  # merchant orders, chargebacks…: nothing to do here
    try:
        provider_payment = provider.fetch_payment(external_id)
    except ProviderPaymentNotFoundError:
        # Acknowledged: answering an error would have MercadoPago retry it for days.
        logger.warning(
            "mercadopago does not know payment %s",
            external_id,
            extra={"mp_payment_id": external_id},
        )
        return None
    return payment_apply_provider_state(provider_payment=provider_payment)


@transaction.atomic
def payment_record_manual(*, order: Order, amount: Decimal, reference: str, by: User) -> Payment:
    """Staff record money received outside the providers (cash, transfer)."""
    order = _locked(order)
    if order.status == OrderStatus.CANCELLED:
        raise OrderNotPayableError(status=order.status)
    if order.payments.filter(status=PaymentStatus.PAID).exists():
        raise AlreadyPaidError(order_id=order.pk)
    if amount != order.total:
        raise AmountMismatchError(amount=str(amount), total=str(order.total))
    order.payments.filter(status=PaymentStatus.PENDING).update(status=PaymentStatus.FAILED)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                order=order,
                amount=amount,
                currency=order.currency,
                provider="manual",
                reference=reference,
                status=PaymentStatus.PAID,
                paid_at=timezone.now(),
                created_by=by,
            )
    except IntegrityError:
        raise AlreadyPaidError(order_id=order.pk) from None
    paid = {**_payment_data(payment), "reference": reference}
    if order.status == OrderStatus.PENDING_PAYMENT:
        order_transition(
            order=order, to=OrderStatus.PENDING, by=by, event=OrderEventType.PAID, data=paid
        )
    else:  # a staff order, pending already: paid, no change of status
        order_event_record(order=order, type=OrderEventType.PAID, by=by, data=paid)
    logger.info("manual payment", extra={"order_id": order.pk, "user_id": by.pk})
    audit_record(
        action="payment.manual",
        target=payment,
        changes={
            "order_id": (None, order.pk),
            "amount": (None, amount),
            "reference": (None, reference),
            "status": (None, payment.status),
        },
        actor=by,
    )
    return payment


# --- Invoices and ratings -----------------------------------------------------------------


def _checked_ruc(ruc: str):
    """The RUC's registry data; a malformed or unregistered RUC is the client's field error."""
    try:
        return ruc_lookup(ruc)
    except (InvalidRucError, RucNotRegisteredError) as exc:
        raise ValidationError({"ruc": [exc.message]}) from None


@transaction.atomic
def invoice_create(*, order: Order, ruc: str, business_name: str, by: User) -> Invoice:
    order = _locked(order)
    registry = _checked_ruc(ruc)
    if not order.payments.filter(status=PaymentStatus.PAID).exists():
        raise OrderNotPaidError(order_id=order.pk)
    if Invoice.objects.filter(order=order).exists():
        raise InvoiceExistsError(order_id=order.pk)
    name = business_name or registry.business_name
    if not name:
        raise ValidationError(
            {"business_name": [_("Required when the registry does not give it.")]}
        )
    invoice = Invoice.objects.create(
        order=order,
        ruc=ruc,
        business_name=name,
        amount=order.total,
        currency=order.currency,
        created_by=by,
    )
    invoice.number = f"{Invoice.SERIES}-{invoice.pk:08d}"
    invoice.save(update_fields=["number"])
    return invoice


@transaction.atomic
def invoice_update(*, invoice: Invoice, **changes) -> Invoice:
    if "ruc" in changes:
        _checked_ruc(changes["ruc"])
    for field, value in changes.items():
        setattr(invoice, field, value)
    invoice.save()
    return invoice


@transaction.atomic
def rating_create(*, order: Order, score: int, comment: str, by: User) -> Rating:
    order = _locked(order)
    if order.customer.user_id != by.pk:
        raise PermissionDeniedError(_("Only the order's customer rates it."))
    if order.status != OrderStatus.DELIVERED:
        raise OrderNotDeliveredError(status=order.status)
    if Rating.objects.filter(order=order).exists():
        raise AlreadyRatedError(order_id=order.pk)
    rating = Rating(order=order, score=score, comment=comment)
    rating.full_clean()
    rating.save()
    order_event_record(
        order=order,
        type=OrderEventType.RATED,
        by=by,
        data={"rating_id": rating.pk, "score": score, "comment": comment},
    )
    return rating
