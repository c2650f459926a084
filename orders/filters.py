"""Filters of the customer, order and payment lists, shared by the API and the
server-rendered pages."""

import django_filters
from django.db.models import Q

from orders.models import Customer, Order, Payment, ServiceLevel
from rappi.api.filters import (
    CreatedRangeFilterSet,
    IdFilter,
    StrictBooleanFilter,
    StrictChoiceFilter,
    StrictMultipleChoiceFilter,
)


class CustomerFilter(CreatedRangeFilterSet):
    is_active = StrictBooleanFilter()

    class Meta:
        model = Customer
        fields = ["is_active"]


def order_search(queryset, term: str):
    """Orders matching `term` by id (`12` or `#12`), customer name or email, or any of
    their addresses or recipients."""
    term = term.strip()
    if not term:
        return queryset
    match = (
        Q(customer__full_name__icontains=term)
        | Q(customer__email__icontains=term)
        | Q(origin_line__icontains=term)
        | Q(destinations__line__icontains=term)
        | Q(destinations__recipient_name__icontains=term)
    )
    if term.lstrip("#").isdigit() and len(term) < 18:
        match |= Q(pk=int(term.lstrip("#")))
    return queryset.filter(match).distinct()


class OrderFilter(CreatedRangeFilterSet):
    status = StrictMultipleChoiceFilter(choices=Order.Status.choices)
    service_level = StrictChoiceFilter(choices=ServiceLevel.choices)
    customer_id = IdFilter(field_name="customer_id")
    customer = IdFilter(field_name="customer_id")
    district = django_filters.CharFilter(method="filter_district")
    search = django_filters.CharFilter(
        method="filter_search",
        help_text="Order id (`12` or `#12`), customer name or email, an address or recipient",
    )

    class Meta:
        model = Order
        fields = ["status", "service_level", "customer_id", "customer", "district", "search"]

    def filter_district(self, queryset, name, value):
        return queryset.filter(
            Q(origin_district__iexact=value) | Q(destinations__district__iexact=value)
        ).distinct()

    def filter_search(self, queryset, name, value):
        return order_search(queryset, value)


class PaymentFilter(CreatedRangeFilterSet):
    status = StrictChoiceFilter(choices=Payment.Status.choices)
    order_id = IdFilter()
    provider = django_filters.CharFilter()

    class Meta:
        model = Payment
        fields = ["status", "order_id", "provider"]
