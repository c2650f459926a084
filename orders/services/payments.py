"""Payments: checkouts with the provider, what the provider says of them (confirmation,
webhook), manual and free settlements. Each locks the order row first, then its payments."""

import logging
import re
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from identity import services as identity_services
from identity.models import User
from orders.errors import (
    AlreadyPaidError,
    AmountMismatchError,
    OrderNotPayableError,
    PaymentNotPendingError,
    WrongProviderError,
)
from orders.models import Order, OrderEventType, OrderStatus, Payment, PaymentStatus
from orders.payment_providers import (
    MercadoPagoProvider,
    ProviderPayment,
    ProviderPaymentNotFoundError,
    SimulatedProvider,
    WebhookSignatureError,
    get_provider,
)
from orders.services.lifecycle import _locked, order_transition
from orders.timeline import money_str, order_event_record

logger = logging.getLogger(__name__)


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
        payer_email=customer.user.email if customer.user is not None else customer.email,
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
        provider = cast(MercadoPagoProvider, get_provider("mercadopago"))
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
