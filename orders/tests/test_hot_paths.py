"""The orders hot paths of the API: what each costs in queries (constant whatever the page
size), an order created answered from memory byte for byte as a read answers it, and the
hand-written OrderOutput giving exactly the JSON of DRF's generic serialization."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from orders import selectors, services
from orders.api import serializers as s
from orders.api.views import OrderViewSet
from orders.models import Customer, Destination, DestinationStatus, Order, OrderStatus, ServiceLevel
from orders.services import orders as order_writes
from orders.tests.factories import CustomerFactory, customer_user, drop, make_order, order_body

pytestmark = pytest.mark.django_db

LIMA = ZoneInfo("America/Lima")
# Every API request pays these before its view runs: authentication (one query: session,
# user and role together) and the user throttle's shared counter (one upsert).
AUTH = 1
THROTTLE = 1
# A test runs inside a transaction, so a service's atomic block is a savepoint and its
# release: two statements that production spends as BEGIN and COMMIT instead.
SAVEPOINT = 2


def _generic(order) -> dict:
    """OrderOutput as DRF's generic field-by-field walk gives it (nested drop-offs too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            s.DestinationOutput, "to_representation", serializers.Serializer.to_representation
        )
        return serializers.ModelSerializer.to_representation(s.OrderOutput(), order)


def _assert_same_json(order) -> None:
    fast = s.OrderOutput(order).data
    generic = _generic(order)
    assert JSONRenderer().render(fast) == JSONRenderer().render(generic)
    assert fast == generic
    assert list(fast) == s.OrderOutput.Meta.fields


@pytest.fixture
def varied_orders(dispatcher):
    """Orders as they come: several drop-offs with and without (or with some) dimensions,
    scheduled or not, cancelled, discounted to nothing, surcharged, delivered, unpaid."""
    customer = CustomerFactory(full_name="Ñusta Quispe & Cía.")
    three = make_order(
        customer=customer,
        by=dispatcher,
        drops=[
            drop(weight="2.5"),
            drop(lat="-16.3900", weight="0.125", length_cm=60, width_cm=40, height_cm=40),
            drop(lat="-16.4300", weight="12", length_cm=Decimal("33.3")),
        ],
        level=ServiceLevel.EXPRESS,
        scheduled_for=timezone.now() + timedelta(days=2, microseconds=123),
        notes="Llamar antes — «portón verde»",
    )
    cancelled = make_order(customer=customer, by=dispatcher, drops=[drop(), drop(weight="1")])
    services.order_cancel(order=cancelled, reason="Cliente ausente", by=dispatcher)
    free = make_order(customer=customer, by=dispatcher, level=ServiceLevel.URGENT)
    services.order_adjust_price(
        order=free, amount=Decimal("-999.99"), reason="Cortesía", by=dispatcher
    )
    surcharged = make_order(customer=customer, by=dispatcher)
    services.order_adjust_price(
        order=surcharged, amount=Decimal("7.05"), reason="Escalera", by=dispatcher
    )
    delivered = make_order(customer=customer, by=dispatcher, drops=[drop(), drop()])
    # A drop-off done, the other not: the columns the run's services fill in.
    Destination.objects.filter(order=delivered, sequence=1).update(
        status=DestinationStatus.DELIVERED,
        delivered_at=datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC),
        received_by="Marta",
    )
    user, own = customer_user(email="own@example.pe")
    unpaid = make_order(customer=own, by=user, drops=[drop(weight="0.001")])
    return [three, cancelled, free, surcharged, delivered, unpaid]


@pytest.mark.parametrize("zone", [UTC, LIMA], ids=["utc", "lima"])
def test_the_fast_representation_is_the_generic_one(varied_orders, dispatcher, zone):
    with timezone.override(zone):
        read = list(selectors.order_list_for(user=dispatcher))
        assert len(read) == len(varied_orders)
        assert {o.status for o in read} == {"pending", "cancelled", "pending_payment"}
        for order in read:
            _assert_same_json(order)
        # As created, from memory (the drop-offs kept by the service).
        for order in varied_orders[:1]:
            _assert_same_json(order)
        # A page read as rows with their drop-offs' rows, as the list answers.
        rows = list(selectors.order_rows_for(user=dispatcher))
        assert [row.id for row in rows] == [o.id for o in read]
        drop_offs = selectors.drop_off_rows_by_order(order_ids=[row.id for row in rows])
        assert [[d.id for d in drop_offs[o.id]] for o in read] == [
            [d.id for d in o.destinations.all()] for o in read
        ]
        many = s.order_page_output(rows, drop_offs)
        assert JSONRenderer().render(many) == JSONRenderer().render([_generic(o) for o in read])


def _money(places=2, high=99999999):
    return st.decimals(min_value=-high, max_value=high, places=places)


def _positive(places, high):
    return st.decimals(min_value=0, max_value=high, places=places)


# Hypothesis takes naive bounds and gives each moment the zone `timezones` draws.
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
) | st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(LIMA),
)
_sides = st.none() | _positive(1, 400) | st.just(Decimal("0.0"))


@st.composite
def _in_memory_order(draw):
    """An order and its drop-offs as instances, with decimals of any places (quantized on
    the way out) and time zones of any kind."""
    order = Order(
        id=draw(st.integers(1, 2**63 - 1)),
        customer=Customer(id=draw(st.integers(1, 2**63 - 1)), full_name=draw(st.text())),
        status=draw(st.sampled_from(OrderStatus.values)),
        service_level=draw(st.sampled_from(ServiceLevel.values)),
        scheduled_for=draw(st.none() | _moments),
        origin_line=draw(st.text()),
        origin_district=draw(st.text()),
        origin_lat=draw(st.decimals(min_value=-90, max_value=90, places=6)),
        origin_lng=draw(st.decimals(min_value=-180, max_value=180, places=6)),
        notes=draw(st.text()),
        legs_total=draw(_money(places=draw(st.integers(0, 4)), high=9999999)),
        price_adjustment=draw(_money()),
        adjustment_reason=draw(st.text()),
        total=draw(_money()),
        currency="PEN",
        cancel_reason=draw(st.text()),
        cancelled_at=draw(st.none() | _moments),
        created_at=draw(_moments),
        updated_at=draw(_moments),
    )
    rows = [
        Destination(
            id=draw(st.integers(1, 2**63 - 1)),
            order=order,
            sequence=sequence,
            line=draw(st.text()),
            district=draw(st.text()),
            lat=draw(st.decimals(min_value=-90, max_value=90, places=6)),
            lng=draw(st.decimals(min_value=-180, max_value=180, places=6)),
            recipient_name=draw(st.text()),
            recipient_phone=draw(st.text()),
            weight_kg=draw(_positive(3, 10000)),
            length_cm=draw(_sides),
            width_cm=draw(_sides),
            height_cm=draw(_sides),
            description=draw(st.text()),
            distance_km=draw(_positive(draw(st.integers(0, 6)), 9999)),
            duration_min=draw(_positive(draw(st.integers(0, 6)), 99999)),
            chargeable_weight_kg=draw(_positive(3, 999999)),
            subtotal=draw(_money(places=2, high=99999999)),
            status=draw(st.sampled_from(DestinationStatus.values)),
            delivered_at=draw(st.none() | _moments),
            received_by=draw(st.text()),
            failure_reason=draw(st.text()),
        )
        for sequence in range(1, draw(st.integers(0, 4)) + 1)
    ]
    order_writes._with_destinations(order, rows)
    return order


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(order=_in_memory_order(), zone=st.sampled_from([UTC, LIMA]))
def test_the_fast_representation_is_the_generic_one_for_any_values(order, zone):
    with timezone.override(zone):
        _assert_same_json(order)
        for destination in order.destinations.all():
            fast = s.DestinationOutput(destination).data
            assert fast == serializers.Serializer.to_representation(
                s.DestinationOutput(), destination
            )


# --- Queries ---------------------------------------------------------------------------


@pytest.fixture
def sixty_orders(dispatcher):
    customer = CustomerFactory()
    for index in range(60):
        make_order(
            customer=customer,
            by=dispatcher,
            drops=[drop(), drop(length_cm=10, width_cm=20, height_cm=30), drop()][: 1 + index % 3],
        )


@pytest.mark.parametrize("size", [5, 50])
def test_the_order_list_costs_count_page_and_drop_offs(
    client_for, dispatcher, sixty_orders, django_assert_max_num_queries, size
):
    client = client_for(dispatcher)
    client.get("/api/v1/permissions")  # the process learns the role's grants once
    with django_assert_max_num_queries(AUTH + THROTTLE + 3):
        response = client.get(f"/api/v1/orders/?page_size={size}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == size


@pytest.mark.parametrize("caller", ["dispatcher", "customer"])
def test_a_list_that_only_pages_answers_what_the_filtered_list_answers(
    client_for, dispatcher, sixty_orders, caller
):
    """`?page=&page_size=` alone is read through precompiled SQL; naming the default
    ordering takes the filter backends' path. Same pages and counts, for each of two
    callers of one scope (the second uses the SQL compiled for the first)."""
    users = []
    for number in range(2):
        user, own = customer_user()
        for _ in range(3 + number):
            make_order(customer=own, by=dispatcher)
        users.append(user)
    callers = [dispatcher, dispatcher] if caller == "dispatcher" else users
    OrderViewSet.plain_list._shapes.clear()
    for index, user in enumerate(callers):
        client = client_for(user)
        expected_count = 67 if caller == "dispatcher" else 3 + index
        for query in ("", "?page_size=7", "?page=2&page_size=2", "?page=3&page_size=30"):
            plain = client.get(f"/api/v1/orders/{query}")
            ordered = f"{query}{'&' if query else '?'}ordering=-created_at"
            filtered = client.get(f"/api/v1/orders/{ordered}")
            assert plain.status_code == filtered.status_code
            body, other = plain.json(), filtered.json()
            if plain.status_code == 200:
                assert body["results"] == other["results"]
                assert body["count"] == other["count"] == expected_count
            else:
                assert plain.status_code == 404  # past the last page, either way
                assert body == other
    # The plain requests went the compiled way: one shape for the callers' scope.
    assert [key[1][0] for key in OrderViewSet.plain_list._shapes] == [callers[0].scope]


def test_an_order_costs_itself_with_its_customer_and_its_drop_offs(
    client_for, dispatcher, sixty_orders, django_assert_max_num_queries
):
    client = client_for(dispatcher)
    client.get("/api/v1/permissions")
    order = Order.objects.filter(destinations__sequence=3).first()
    with django_assert_max_num_queries(AUTH + THROTTLE + 2):
        response = client.get(f"/api/v1/orders/{order.pk}")
    assert response.status_code == 200
    assert len(response.json()["destinations"]) == 3


def test_creating_an_order_writes_each_row_once(
    client_for, dispatcher, django_assert_max_num_queries
):
    client = client_for(dispatcher)
    customer = CustomerFactory()
    body = order_body(customer_id=customer.pk)
    client.get("/api/v1/permissions")
    services.tariff_get()  # the tariff row exists, as it does once anyone has priced
    # The customer, the tariff, then one INSERT each: the order, its drop-offs, its event.
    with django_assert_max_num_queries(AUTH + THROTTLE + 5 + SAVEPOINT) as captured:
        response = client.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 201, response.content
    statements = [q["sql"] for q in captured.captured_queries]
    assert not [
        sql for sql in statements if sql.startswith(('UPDATE "orders_', 'DELETE FROM "orders_'))
    ]
    inserts = [sql.split('"')[1] for sql in statements if sql.startswith('INSERT INTO "orders_')]
    assert sorted(inserts) == ["orders_destination", "orders_order", "orders_orderevent"]


# --- The answer to a create ------------------------------------------------------------


@pytest.mark.parametrize("caller", ["staff", "customer"])
def test_the_created_order_is_answered_as_a_read_answers_it(client_for, dispatcher, caller):
    if caller == "staff":
        client, customer = client_for(dispatcher), CustomerFactory()
        body = order_body(
            customer_id=customer.pk,
            scheduled_for="2030-06-01T23:30:00-05:00",
            service_level="express",
            notes="Piso 3",
        )
        body["destinations"][0]["package"].update(length_cm="12.5", width_cm="8")
    else:
        user, _customer = customer_user(email="maria@example.pe")
        client, body = client_for(user), order_body()
    created = client.post("/api/v1/orders/", body, format="json")
    assert created.status_code == 201, created.content
    read = client.get(f"/api/v1/orders/{created.json()['id']}")
    assert read.status_code == 200
    assert created.content == read.content
    assert created.json()["destinations"][1]["package"]["weight_kg"] == "1.000"


def test_an_order_is_priced_and_kept_as_its_stored_rows_whatever_the_inputs_precision(
    dispatcher,
):
    """Inputs with more places than the columns keep are rounded as PostgreSQL rounds
    them, before pricing: the price is that of the stored rows, and so is the order."""
    order = make_order(
        customer=CustomerFactory(),
        by=dispatcher,
        drops=[
            drop(
                lat="-16.42100049",
                lng="-71.52170051",
                weight="2.00050",
                length_cm=Decimal("30.25"),
                width_cm=Decimal("20.35"),
                height_cm=Decimal("10.05"),
            )
        ],
    )
    read = selectors.order_get_for(user=dispatcher, pk=order.pk)
    assert s.OrderOutput(order).data == s.OrderOutput(read).data
    [row] = read.destinations.all()
    assert (row.lat, row.weight_kg, row.length_cm) == (
        Decimal("-16.421000"),
        Decimal("2.001"),
        Decimal("30.3"),
    )
    total = read.total
    repriced = services.order_update(order=read, by=dispatcher)  # prices the stored rows
    assert repriced.total == total
