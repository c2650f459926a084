"""`rappi.precompiled.Precompiled`: a read compiled once answers each call with that
call's rows, as the ORM would (instances, select_related, prefetches), scoped per caller,
and refuses builders whose SQL would freeze a value. `PrecompiledRows`: a list that only
pages answers the rows, count and pages the ORM's queryset gives."""

import pytest
from django.db import connection
from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone
from rest_framework.filters import BaseFilterBackend
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.viewsets import GenericViewSet

from identity.tests.factories import UserFactory
from orders.models import Destination, Order, Tariff
from orders.selectors import (
    DROP_OFF_ROW_FIELDS,
    drop_off_rows_by_order,
    order_get_for,
    order_list_for,
    order_rows_for,
)
from orders.tests.factories import CustomerFactory, customer_user, drop, make_order
from rappi.api.filters import OrderingFilter
from rappi.api.pagination import PageNumberPagination
from rappi.api.viewsets import ScopedViewSetMixin
from rappi.errors import NotFoundError
from rappi.precompiled import Precompiled, PrecompiledRows
from rappi.selectors import get_or_404

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers(dispatcher):
    """Two customers' logins with an order each: [(user, order), (user, order)]."""
    pairs = []
    for _ in range(2):
        user, record = customer_user()
        pairs.append((user, make_order(customer=record, by=dispatcher)))
    return pairs


def test_each_caller_gets_its_own_rows_from_the_compiled_sql(two_customers, dispatcher):
    (first_user, first_order), (second_user, second_order) = two_customers
    # The customer shape is compiled by the first call; the second customer uses it.
    assert order_get_for(user=first_user, pk=first_order.pk) == first_order
    assert order_get_for(user=second_user, pk=second_order.pk) == second_order
    for user, other in ((first_user, second_order), (second_user, first_order)):
        with pytest.raises(NotFoundError):
            order_get_for(user=user, pk=other.pk)
    # Staff have a shape of their own, which sees both; the customers' is unchanged.
    assert order_get_for(user=dispatcher, pk=first_order.pk) == first_order
    assert order_get_for(user=dispatcher, pk=str(second_order.pk)) == second_order
    with pytest.raises(NotFoundError):
        order_get_for(user=first_user, pk=second_order.pk)


def test_the_instances_are_the_orms_own(dispatcher, django_assert_num_queries):
    user, record = customer_user()
    order = make_order(customer=record, by=dispatcher, drops=[drop(), drop(weight="3.5")])
    expected = get_or_404(order_list_for(user=user), order.pk)
    with django_assert_num_queries(2):  # the order with its customer, then its drop-offs
        found = order_get_for(user=user, pk=order.pk)
    assert {
        field.attname: getattr(found, field.attname) for field in Order._meta.concrete_fields
    } == {field.attname: getattr(expected, field.attname) for field in Order._meta.concrete_fields}
    assert found.customer == expected.customer
    with django_assert_num_queries(0):  # select_related and the prefetch came with it
        drop_offs = [(d.pk, d.sequence, d.line) for d in found.destinations.all()]
        assert found.customer.full_name == expected.customer.full_name
        assert all(d.order is found for d in found.destinations.all())
    assert drop_offs == [(d.pk, d.sequence, d.line) for d in expected.destinations.all()]


def test_an_inactive_or_unscoped_caller_finds_nothing(two_customers):
    (user, order), _other = two_customers
    user.is_active = False
    with pytest.raises(NotFoundError):
        order_get_for(user=user, pk=order.pk)
    user.is_active = True
    assert order_get_for(user=user, pk=order.pk) == order
    driver = UserFactory(role_name="driver")  # drivers see no orders through this read
    with pytest.raises(NotFoundError):
        order_get_for(user=driver, pk=order.pk)


@pytest.mark.parametrize(
    "pk", ["99999999999999999999", str(2**63), 2**63, -(2**64), "-1", "abc", "0"]
)
def test_ids_no_row_can_have_are_absent(two_customers, dispatcher, pk):
    with pytest.raises(NotFoundError):
        order_get_for(user=dispatcher, pk=pk)


def test_a_builder_whose_sql_would_freeze_a_value_is_refused(dispatcher):
    read = Precompiled(
        Order,
        lambda *, user, pk: Order.objects.filter(pk=pk, created_at__lte=timezone.now()),
        ids=("pk",),
        users=("user",),
    )
    with pytest.raises(ValueError, match="changes between two builds"):
        read(user=dispatcher, pk=1)


def test_a_builder_that_leaves_out_an_id_is_refused(dispatcher):
    read = Precompiled(Order, lambda *, pk: Order.objects.all(), ids=("pk",))
    with pytest.raises(ValueError, match=r"\['pk'\] not in its SQL"):
        read(pk=1)


def test_a_builder_of_other_rows_is_refused():
    read = Precompiled(
        Order,
        lambda *, pk: Destination.objects.filter(pk=pk).prefetch_related(Prefetch("order")),
        ids=("pk",),
    )
    with pytest.raises(TypeError, match="reads Destination rows"):
        read(pk=1)


def _counting_converter_lookups(monkeypatch) -> list:
    looked_up: list = []
    original = connection.ops.get_db_converters

    def get_db_converters(expression):
        looked_up.append(expression)
        return original(expression)

    monkeypatch.setattr(connection.ops, "get_db_converters", get_db_converters)
    return looked_up


def test_columns_without_converters_are_worked_out_once(two_customers, monkeypatch):
    (_user, order), _other = two_customers
    read = Precompiled(Order, lambda *, pk: Order.objects.filter(pk=pk)[:1], ids=("pk",))
    connection.ensure_connection()
    looked_up = _counting_converter_lookups(monkeypatch)
    assert read(pk=order.pk) == [order]
    assert looked_up  # the first call works the converters out: none for these columns
    looked_up.clear()
    found = read(pk=order.pk)[0]
    assert looked_up == []
    assert (found.total, found.created_at, found.status) == (
        order.total,
        order.created_at,
        order.status,
    )


def test_columns_with_converters_keep_them(monkeypatch):
    read = Precompiled(Tariff, lambda *, pk: Tariff.objects.filter(pk=pk)[:1], ids=("pk",))
    tariff, _created = Tariff.objects.update_or_create(
        pk=Tariff.SINGLETON_ID, defaults={"peak_windows": [{"start": "07:00", "end": "09:30"}]}
    )
    connection.ensure_connection()
    looked_up = _counting_converter_lookups(monkeypatch)
    for _ in range(2):  # the JSON column is decoded on every call, by its converter
        looked_up.clear()
        assert read(pk=tariff.pk)[0].peak_windows == [{"start": "07:00", "end": "09:30"}]
        assert looked_up


# --- PrecompiledRows ------------------------------------------------------------------------


def _newest_first(*, user):
    return order_rows_for(user=user).order_by("-created_at", "-id")


def test_rows_pages_and_counts_are_the_querysets_per_caller(two_customers, dispatcher):
    (first_user, first_order), (second_user, _second) = two_customers
    for _ in range(3):
        make_order(customer=first_user.customer_profile, by=dispatcher)
    read = PrecompiledRows(Order, users=("user",))
    for user in (first_user, second_user, dispatcher, first_user):
        expected = list(_newest_first(user=user))
        rows = read.rows(build=_newest_first, user=user)
        assert rows.count() == len(expected)
        assert rows[0:2] == expected[0:2]
        assert rows[1:3] == expected[1:3]
        assert rows[0:100] == expected
        assert rows[len(expected) : len(expected) + 5] == []
        assert rows[2:2] == []
        assert type(rows[0:1][0]).__name__ == "Row"  # named, as values_list(named=True)
    assert {row.id for row in read.rows(build=_newest_first, user=second_user)[0:10]} == {
        _second.id
    }
    assert first_order.id in {
        row.id for row in read.rows(build=_newest_first, user=first_user)[0:10]
    }


def test_rows_keep_the_orms_column_order_and_values(dispatcher):
    user, record = customer_user(full_name="Señora Ñusta")
    order = make_order(customer=record, by=dispatcher, drops=[drop(), drop(weight="3.5")])

    def build(*, user):  # an annotation among the columns
        return (
            order_list_for(user=user)
            .annotate(customer_name=F("customer__full_name"))
            .order_by("id")
            .values_list("id", "customer_name", "total", "created_at", named=True)
        )

    rows = PrecompiledRows(Order, users=("user",)).rows(build=build, user=user)
    assert (
        rows[0:5]
        == list(build(user=user))
        == [(order.id, "Señora Ñusta", order.total, order.created_at)]
    )
    assert rows[0:1][0].customer_name == "Señora Ñusta"


def test_an_inactive_or_unscoped_caller_counts_no_rows(two_customers):
    (user, _order), _other = two_customers
    read = PrecompiledRows(Order, users=("user",))
    user.is_active = False
    assert read.rows(build=_newest_first, user=user).count() == 0
    assert read.rows(build=_newest_first, user=user)[0:10] == []
    driver = UserFactory(role_name="driver")
    assert read.rows(build=_newest_first, user=driver).count() == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda *, user: order_list_for(user=user), "values_list"),
        (lambda *, user: order_rows_for(user=user).order_by(), "ordered"),
        (lambda *, user: _newest_first(user=user)[:5], "unsliced"),
    ],
)
def test_rows_of_a_builder_it_cannot_page_are_refused(dispatcher, build, message):
    with pytest.raises(ValueError, match=message):
        PrecompiledRows(Order, users=("user",)).rows(build=build, user=dispatcher)


@pytest.mark.parametrize("page", [0, slice(None, 5, 2), slice(0, None), slice(-1, 3)])
def test_rows_take_bounded_slices_only(dispatcher, page):
    rows = PrecompiledRows(Order, users=("user",)).rows(build=_newest_first, user=dispatcher)
    with pytest.raises(TypeError):
        rows[page]


def test_a_pages_drop_offs_are_read_with_sql_compiled_per_page_length(dispatcher):
    customer = CustomerFactory()
    orders = [
        make_order(customer=customer, by=dispatcher, drops=[drop(), drop(weight="1")][: 1 + i % 2])
        for i in range(4)
    ]
    pages = [[orders[0]], [orders[1], orders[0]], orders, [orders[3], orders[2]]]
    for page in pages:  # the last one reuses the SQL of the second, with its own ids
        ids = [order.pk for order in page]
        assert drop_off_rows_by_order(order_ids=ids) == {
            pk: list(
                Destination.objects.filter(order_id=pk)
                .order_by("sequence")
                .values_list(*DROP_OFF_ROW_FIELDS, named=True)
            )
            for pk in ids
        }
    assert drop_off_rows_by_order(order_ids=[]) == {}


def test_all_rows_are_the_querysets(two_customers, dispatcher):
    read = PrecompiledRows(Order, users=("user",))
    for user in (dispatcher, two_customers[0][0]):
        assert read.rows(build=_newest_first, user=user).all() == list(_newest_first(user=user))


class _NarrowsByCaller(BaseFilterBackend):
    """A backend that reads the caller from the request, as none of the project's does."""

    def filter_queryset(self, request, queryset, view):
        return queryset.filter(customer__user_id=request.user.pk)


class _CallersOrders(ScopedViewSetMixin, GenericViewSet):
    scoped_model = Order
    list_selector = staticmethod(order_rows_for)
    plain_list = PrecompiledRows(Order, users=("user",))
    filter_backends = [_NarrowsByCaller, OrderingFilter]
    ordering = ["-created_at"]
    ordering_fields = ["id", "created_at"]
    pagination_class = PageNumberPagination


def _list_rows(view_class, user, query=""):
    view = view_class()
    view.request = Request(APIRequestFactory().get(f"/{query}"))
    view.request.user = user
    view.format_kwarg, view.action, view.kwargs = None, "list", {}
    return view.list_rows()


def test_a_backend_reading_the_caller_is_compiled_with_the_stand_in(two_customers):
    (first_user, first_order), (second_user, second_order) = two_customers
    for user, order in ((first_user, first_order), (second_user, second_order)):
        rows = _list_rows(_CallersOrders, user)
        assert [row.id for row in rows[0:10]] == [order.id]
        assert rows.count() == 1


def test_subclasses_compile_their_own_plain_list(two_customers):
    class Newest(_CallersOrders):
        ordering = ["created_at"]

    assert Newest.plain_list is not _CallersOrders.plain_list
    (user, _order), _other = two_customers
    _list_rows(_CallersOrders, user)
    assert Newest.plain_list._shapes == {}


def test_other_paginators_and_parameters_take_the_filtered_path(two_customers):
    class Offsets(_CallersOrders):
        pagination_class = LimitOffsetPagination

    (user, _order), _other = two_customers
    assert isinstance(_list_rows(Offsets, user), QuerySet)
    assert isinstance(_list_rows(_CallersOrders, user, "?ordering=id"), QuerySet)
    assert not isinstance(_list_rows(_CallersOrders, user, "?page=1&page_size=3"), QuerySet)
