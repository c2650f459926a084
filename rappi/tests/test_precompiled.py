"""`rappi.precompiled.Precompiled`: a read compiled once answers each call with that
call's rows, as the ORM would (instances, select_related, prefetches), scoped per caller,
and refuses builders whose SQL would freeze a value."""

import pytest
from django.db.models import Prefetch
from django.utils import timezone

from identity.tests.factories import UserFactory
from orders.models import Destination, Order
from orders.selectors import order_get_for, order_list_for
from orders.tests.factories import customer_user, drop, make_order
from rappi.errors import NotFoundError
from rappi.precompiled import Precompiled
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
