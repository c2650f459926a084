"""Orders reads, already narrowed to the caller's rows (staff: all; a customer: its own;
a driver: none of these yet — runs arrive with the fleet app)."""

from django.db.models import Prefetch, QuerySet

from identity.models import User
from identity.scoping import scoped
from orders.models import Address, Customer, Destination, Invoice, Order, Payment, Rating
from rappi.selectors import get_or_404


def customer_list_for(*, user: User) -> QuerySet[Customer]:
    return scoped(Customer.objects.select_related("user"), user=user, customer_lookup="user")


def customer_get_for(*, user: User, pk) -> Customer:
    return get_or_404(customer_list_for(user=user), pk)


def address_list_for(*, user: User, customer: Customer) -> QuerySet[Address]:
    return customer.addresses.all()


def order_list_for(*, user: User) -> QuerySet[Order]:
    return scoped(
        Order.objects.select_related("customer").prefetch_related(
            Prefetch("destinations", queryset=Destination.objects.order_by("sequence"))
        ),
        user=user,
        customer_lookup="customer__user",
    )


def order_get_for(*, user: User, pk) -> Order:
    return get_or_404(order_list_for(user=user), pk)


def payment_list_for(*, user: User) -> QuerySet[Payment]:
    return scoped(Payment.objects.all(), user=user, customer_lookup="order__customer__user")


def payment_get_for(*, user: User, pk) -> Payment:
    return get_or_404(payment_list_for(user=user), pk)


def invoice_list_for(*, user: User) -> QuerySet[Invoice]:
    return scoped(Invoice.objects.all(), user=user, customer_lookup="order__customer__user")


def invoice_get_for(*, user: User, pk) -> Invoice:
    return get_or_404(invoice_list_for(user=user), pk)


def rating_list_for(*, user: User) -> QuerySet[Rating]:
    return scoped(Rating.objects.all(), user=user, customer_lookup="order__customer__user")
