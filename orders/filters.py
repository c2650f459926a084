"""Filters of the customer, order and payment lists, shared by the API and the
server-rendered pages."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from orders.models import Customer, Order, OrderStatus, Payment, PaymentStatus, ServiceLevel
from rappi.api.filters import (
    CreatedRangeFilterSet,
    IdFilter,
    StrictBooleanFilter,
    StrictChoiceFilter,
    StrictMultipleChoiceFilter,
    TextSearchFilter,
    UtcIsoDateTimeFilter,
)


class CustomerFilter(CreatedRangeFilterSet):
    search = TextSearchFilter(
        fields=["full_name", "email", "phone", "tax_id"], help_text="Name, email, phone or tax id"
    )
    is_active = StrictBooleanFilter(label=_("Active"))

    class Meta:
        model = Customer
        fields = ["search", "is_active"]


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
    status = StrictMultipleChoiceFilter(choices=OrderStatus.choices)
    service_level = StrictChoiceFilter(choices=ServiceLevel.choices)
    customer_id = IdFilter(field_name="customer_id")
    customer = IdFilter(field_name="customer_id")
    district = django_filters.CharFilter(method="filter_district")
    search = django_filters.CharFilter(
        method="filter_search",
        help_text="Order id (`12` or `#12`), customer name or email, an address or recipient",
    )
    # Like the `created_*` range; an unscheduled order falls in no schedule range.
    scheduled_after = UtcIsoDateTimeFilter(
        field_name="scheduled_for",
        lookup_expr="gte",
        label=_("Scheduled from"),
        help_text="Scheduled at or after this instant (ISO 8601)",
    )
    scheduled_before = UtcIsoDateTimeFilter(
        field_name="scheduled_for",
        lookup_expr="lt",
        label=_("Scheduled before"),
        help_text="Scheduled before this instant (ISO 8601)",
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
    status = StrictChoiceFilter(choices=PaymentStatus.choices)
    order_id = IdFilter()
    provider = django_filters.CharFilter()

    class Meta:
        model = Payment
        fields = ["status", "order_id", "provider"]
