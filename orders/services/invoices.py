"""Invoices of paid orders, and customers' ratings of delivered ones."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from identity.models import User
from orders.errors import (
    AlreadyRatedError,
    InvoiceExistsError,
    OrderNotDeliveredError,
    OrderNotPaidError,
)
from orders.models import Invoice, Order, OrderEventType, OrderStatus, PaymentStatus, Rating
from orders.ruc import InvalidRucError, RucNotRegisteredError, ruc_lookup
from orders.services.lifecycle import _locked
from orders.timeline import order_event_record
from rappi.errors import PermissionDeniedError
from rappi.services import model_update


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
    model_update(
        instance=invoice, fields=("ruc", "business_name"), data=changes, validate_given_only=True
    )
    return invoice


def _delete_recorded(instance, *, action: str, fields: tuple[str, ...], by: User) -> None:
    """Delete `instance` under its row lock, the audit keeping what its `fields` said."""
    instance = type(instance).objects.select_for_update().filter(pk=instance.pk).first()
    if instance is None:
        return  # deleted meanwhile: nothing left to do or to record
    changes = {field: (getattr(instance, field), None) for field in fields}
    audit_record(action=action, target=instance, changes=changes, actor=by)
    instance.delete()


@transaction.atomic
def invoice_delete(*, invoice: Invoice, by: User) -> None:
    """Staff remove an invoice (the views check who may); the audit keeps what it said."""
    _delete_recorded(
        invoice,
        action="invoice.delete",
        fields=("number", "order_id", "ruc", "business_name", "amount"),
        by=by,
    )


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


@transaction.atomic
def rating_delete(*, rating: Rating, by: User) -> None:
    """Staff remove a rating (the admin checks who may); the audit keeps what it said."""
    _delete_recorded(
        rating,
        action="rating.delete",
        fields=("order_id", "driver_id", "score", "comment"),
        by=by,
    )
