"""Customers and their addresses. A login's customer record follows the login (its email,
its active state); a customer has one primary address; and who a new order is for."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from identity import services as identity_services
from identity.models import User
from orders.models import Address, Customer
from rappi.errors import PermissionDeniedError
from rappi.precompiled import Precompiled
from rappi.services import model_update


def customer_email_clean(*, email: str, customer: Customer | None = None) -> str:
    """The email `customer` (None: a new walk-in customer) may hold, lowercased. With a
    login it is always the login's: another one is refused (change the login's instead).
    Without one it may stay blank, but may not be another account's — another login's or
    another customer record's, in any case. Raises ValidationError on `email`."""
    email = (email or "").strip().lower()
    if customer is not None and customer.user is not None:
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


# What `customer_update` edits itself; `is_active` goes through deactivation.
CUSTOMER_FIELDS = ("full_name", "email", "phone", "tax_id")


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
    model_update(instance=customer, fields=CUSTOMER_FIELDS, data=changes, exclude=["user"])
    if is_active is False and customer.is_active:
        customer_deactivate(customer=customer)
    elif is_active is True and not customer.is_active:
        Customer.objects.filter(pk=customer.pk).update(is_active=True)
        customer.is_active = True
        if customer.user is not None and not customer.user.is_active:
            identity_services.user_reactivate(user=customer.user)
    return customer


@transaction.atomic
def customer_deactivate(*, customer: Customer) -> Customer:
    """Soft delete; the customer's login is deactivated too (its sessions end)."""
    Customer.objects.filter(pk=customer.pk).update(is_active=False)
    customer.is_active = False
    if customer.user is not None and customer.user.is_active:
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


ADDRESS_FIELDS = ("label", "line", "district", "lat", "lng", "is_primary")


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
    if changes.get("is_primary", address.is_primary):
        # Its siblings first: validating it checks the one-primary constraint.
        Address.objects.filter(customer_id=address.customer_id, is_primary=True).exclude(
            pk=address.pk
        ).update(is_primary=False)
    model_update(instance=address, fields=ADDRESS_FIELDS, data=changes)
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


# Read by every order staff create: compiled once (`rappi.precompiled`).
_customer = Precompiled(Customer, lambda *, pk: Customer.objects.filter(pk=pk)[:1], ids=("pk",))


def customer_for_new_order(*, user: User, customer_id: int | None) -> Customer:
    """Whom an order `user` creates is for. Staff name the customer (a ValidationError on
    `customer_id` when they do not, or name none that exists); a customer login orders for
    its own record, whatever it names, and one without its record is refused."""
    if user.is_staff_member:
        if customer_id is None:
            raise ValidationError({"customer_id": [_("Staff must name the customer.")]})
        found = _customer(pk=customer_id)
        if not found:
            raise ValidationError({"customer_id": [_("No such customer.")]})
        return found[0]
    customer = getattr(user, "customer_profile", None)
    if customer is None:
        raise PermissionDeniedError(_("Your login has no customer record."))
    return customer
