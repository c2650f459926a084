"""Orders through the API: create, quote == total, edits while editable, the state machine,
cancellation, price adjustment, access scope and list cost."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from identity.tests.factories import UserFactory
from orders import services
from orders.models import Customer, Order, OrderStatus
from orders.tests.factories import CustomerFactory, customer_user, drop, make_order, order_body
from rappi.errors import IllegalTransitionError, PermissionDeniedError

pytestmark = pytest.mark.django_db


def test_registering_creates_the_linked_customer_record(api):
    response = api.post(
        "/api/v1/auth/register",
        {"email": "new@example.pe", "password": "Str0ng-Passw0rd", "full_name": "Nueva Clienta"},
        format="json",
    )
    assert response.status_code == 201
    customer = Customer.objects.get(email="new@example.pe")
    assert customer.user.email == "new@example.pe"
    assert customer.full_name == "Nueva Clienta"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get("/api/v1/auth/me").json()["customer_id"] == customer.pk


def test_a_customer_creates_a_two_drop_order_pending_payment(alice):
    client, _user, customer = alice
    response = client.post("/api/v1/orders/", order_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_payment"
    assert body["customer_id"] == customer.pk
    assert [d["sequence"] for d in body["destinations"]] == [1, 2]
    assert all(d["status"] == "pending" for d in body["destinations"])
    assert Decimal(body["total"]) == sum(Decimal(d["subtotal"]) for d in body["destinations"])
    assert body["currency"] == "PEN"
    assert body["origin"] == {
        "line": "Plaza de Armas",
        "district": "Cercado",
        "lat": -16.3988,
        "lng": -71.5369,
    }
    # 60·40·40 / 5000 = 19.2 kg chargeable for the bulky box
    assert body["destinations"][1]["chargeable_weight_kg"] == "19.200"
    assert body["total_weight_kg"] == "3.500"


def test_quote_equals_what_the_order_charges(alice):
    client, *_ = alice
    body = order_body(scheduled_for="2030-06-01T23:30:00-05:00", service_level="express")
    quote = client.post("/api/v1/orders/quote", body, format="json")
    assert quote.status_code == 200, quote.content
    order = client.post("/api/v1/orders/", body, format="json").json()
    assert quote.json()["total"] == order["total"]
    assert [leg["total"] for leg in quote.json()["legs"]] == [
        d["subtotal"] for d in order["destinations"]
    ]
    assert quote.json()["surcharge"]["night"] == "0.2500"
    assert Order.objects.count() == 1  # the quote stored nothing


def test_staff_create_for_a_named_customer_starts_pending(dispatcher_api):
    customer = CustomerFactory()
    response = dispatcher_api.post(
        "/api/v1/orders/", order_body(customer_id=customer.pk), format="json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    missing = dispatcher_api.post("/api/v1/orders/", order_body(), format="json")
    assert missing.status_code == 400
    assert "customer_id" in missing.json()["error"]["details"]["fields"]


def test_a_customer_cannot_order_for_someone_else(alice):
    client, _user, customer = alice
    other = CustomerFactory()
    response = client.post("/api/v1/orders/", order_body(customer_id=other.pk), format="json")
    assert response.status_code == 201
    assert response.json()["customer_id"] == customer.pk


def test_who_a_new_order_is_for_is_refused_as_before(dispatcher_api, client_for):
    """Staff must name an existing customer (400 on `customer_id`); a customer login
    without its customer record may not order (403)."""

    def fields(response):
        assert response.status_code == 400, response.content
        assert response.json() == {
            "error": {
                "code": "invalid",
                "message": "Invalid input.",
                "details": {"fields": response.json()["error"]["details"]["fields"]},
            }
        }
        return response.json()["error"]["details"]["fields"]

    assert fields(dispatcher_api.post("/api/v1/orders/", order_body(), format="json")) == {
        "customer_id": ["Staff must name the customer."]
    }
    unknown = dispatcher_api.post("/api/v1/orders/", order_body(customer_id=999999), format="json")
    assert fields(unknown) == {"customer_id": ["No such customer."]}
    user, customer = customer_user()
    customer.delete()
    refused = client_for(user).post("/api/v1/orders/", order_body(), format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert refused.json()["error"]["message"] == "Your login has no customer record."
    assert not Order.objects.exists()


def test_the_customer_of_a_new_order_comes_from_the_caller():
    staff_user = UserFactory(role_name="dispatcher")
    named = CustomerFactory()
    user, own = customer_user()
    pick = services.customer_for_new_order

    assert pick(user=staff_user, customer_id=named.pk) == named
    assert pick(user=user, customer_id=named.pk) == own  # a customer orders for itself
    assert pick(user=user, customer_id=None) == own
    for customer_id, message in [(None, "Staff must name the customer."), (0, "No such customer.")]:
        with pytest.raises(ValidationError) as refused:
            pick(user=staff_user, customer_id=customer_id)
        assert refused.value.message_dict == {"customer_id": [message]}
    own.delete()
    user.refresh_from_db()
    with pytest.raises(PermissionDeniedError):
        pick(user=user, customer_id=None)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(destinations=[]), "destinations"),
        (lambda b: b.update(destinations=b["destinations"] * 11), "destinations"),
        (lambda b: b["origin"].update(lat=91), "origin"),
        (lambda b: b["destinations"][0].update(lng=-181), "destinations"),
        (lambda b: b["destinations"][0]["package"].update(weight_kg="0"), "destinations"),
        (lambda b: b.update(service_level="teleport"), "service_level"),
        (lambda b: b.update(scheduled_for="2001-01-01T00:00:00Z"), "scheduled_for"),
    ],
)
def test_order_input_is_validated(alice, mutate, field):
    client, *_ = alice
    body = order_body()
    mutate(body)
    response = client.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]["fields"]
    assert Order.objects.count() == 0


def test_patch_cannot_release_an_unpaid_order(alice):
    client, *_ = alice
    order = client.post("/api/v1/orders/", order_body(), format="json").json()
    response = client.patch(f"/api/v1/orders/{order['id']}", {"status": "pending"}, format="json")
    assert response.status_code == 400
    assert Order.objects.get(pk=order["id"]).status == "pending_payment"


def test_patch_edits_notes_and_reprices_on_service_level(alice):
    client, *_ = alice
    order = client.post("/api/v1/orders/", order_body(), format="json").json()
    response = client.patch(
        f"/api/v1/orders/{order['id']}",
        {"notes": "Tocar timbre", "service_level": "urgent"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["notes"] == "Tocar timbre"
    assert Decimal(response.json()["total"]) > Decimal(order["total"])


def test_destinations_are_added_edited_and_removed_while_editable(alice):
    client, *_ = alice
    order = client.post("/api/v1/orders/", order_body(), format="json").json()
    base = f"/api/v1/orders/{order['id']}/destinations"
    added = client.post(base, order_body()["destinations"][0], format="json")
    assert added.status_code == 201
    assert added.json()["sequence"] == 3
    edited = client.patch(
        f"{base}/{added.json()['id']}", {"package": {"weight_kg": "30"}}, format="json"
    )
    assert edited.status_code == 200
    assert edited.json()["package"]["weight_kg"] == "30.000"
    first = order["destinations"][0]["id"]
    assert client.delete(f"{base}/{first}").status_code == 204
    after = client.get(f"/api/v1/orders/{order['id']}").json()
    assert [d["sequence"] for d in after["destinations"]] == [1, 2]
    assert Decimal(after["total"]) == sum(Decimal(d["subtotal"]) for d in after["destinations"])


def test_the_last_destination_cannot_be_removed(alice):
    client, _user, customer = alice
    order = make_order(customer=customer, by=customer.user)
    destination = order.destinations.get()
    response = client.delete(f"/api/v1/orders/{order.pk}/destinations/{destination.pk}")
    assert response.status_code == 400


def test_destinations_are_frozen_once_the_order_is_in_a_run(alice):
    client, _user, customer = alice
    order = make_order(customer=customer, by=customer.user)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.ASSIGNED)
    response = client.post(
        f"/api/v1/orders/{order.pk}/destinations", order_body()["destinations"][0], format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_editable"


# --- State machine --------------------------------------------------------------------------


ALL = [s.value for s in OrderStatus]


@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_every_transition_is_allowed_or_refused_as_specified(source, target):
    customer = CustomerFactory()
    order = make_order(customer=customer, by=UserFactory(role_name="dispatcher"))
    Order.objects.filter(pk=order.pk).update(status=source)
    order.refresh_from_db()
    if target in services.TRANSITIONS[source]:
        services.order_transition(order=order, to=target)
        order.refresh_from_db()
        assert order.status == target
    else:
        with pytest.raises(IllegalTransitionError) as refused:
            services.order_transition(order=order, to=target)
        assert refused.value.details["allowed"] == sorted(services.TRANSITIONS[source])
        order.refresh_from_db()
        assert order.status == source


def test_the_transition_table_is_spec_s():
    expected = {
        "pending_payment": {"pending", "cancelled"},
        "pending": {"assigned", "cancelled"},
        "assigned": {"pending", "in_transit", "cancelled"},
        "in_transit": {"delivered", "cancelled"},
        "delivered": {"in_transit"},
        "cancelled": {"in_transit"},
    }
    assert {k: set(v) for k, v in services.TRANSITIONS.items()} == expected


@pytest.mark.parametrize("status", ["pending_payment", "pending"])
def test_a_customer_cancels_before_the_run(alice, status):
    client, _user, customer = alice
    order = make_order(customer=customer, by=customer.user)
    Order.objects.filter(pk=order.pk).update(status=status)
    response = client.post(
        f"/api/v1/orders/{order.pk}/cancel", {"reason": "Ya no lo necesito"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "Ya no lo necesito"
    assert {d["status"] for d in body["destinations"]} == {"failed"}


def test_a_customer_cannot_cancel_an_order_in_a_run_but_staff_can(alice, dispatcher_api):
    client, _user, customer = alice
    order = make_order(customer=customer, by=customer.user)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.ASSIGNED)
    refused = client.post(f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "illegal_transition"
    assert (
        dispatcher_api.post(
            f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}, format="json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize("status", ["delivered", "cancelled"])
def test_terminal_orders_cannot_be_cancelled(dispatcher_api, status):
    order = make_order(customer=CustomerFactory(), by=UserFactory(role_name="dispatcher"))
    Order.objects.filter(pk=order.pk).update(status=status)
    response = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"]["allowed"] == ["in_transit"]


def test_staff_adjust_price_with_reason_and_floor(dispatcher_api):
    order = make_order(customer=CustomerFactory(), by=UserFactory(role_name="dispatcher"))
    discount = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/adjust-price",
        {"amount": "-2.50", "reason": "Promo"},
        format="json",
    )
    assert discount.status_code == 200
    assert Decimal(discount.json()["total"]) == order.legs_total - Decimal("2.50")
    huge = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/adjust-price",
        {"amount": "-9999", "reason": "Gratis"},
        format="json",
    )
    assert huge.json()["total"] == "0.00"
    order.refresh_from_db()
    assert order.adjustment_reason == "Gratis"
    assert order.adjusted_by is not None


def test_customers_cannot_adjust_prices(alice):
    client, _user, customer = alice
    order = make_order(customer=customer, by=customer.user)
    response = client.post(
        f"/api/v1/orders/{order.pk}/adjust-price", {"amount": "-5", "reason": "yo"}, format="json"
    )
    assert response.status_code == 403


# --- Lists and access -----------------------------------------------------------------------


def test_another_customers_order_is_404(alice, client_for):
    client, *_ = alice
    _bob, bob_customer = customer_user(email="bob@example.pe")
    theirs = make_order(customer=bob_customer, by=bob_customer.user)
    assert client.get(f"/api/v1/orders/{theirs.pk}").status_code == 404
    assert (
        client.post(
            f"/api/v1/orders/{theirs.pk}/cancel", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert client.get("/api/v1/orders/").json()["count"] == 0


def test_drivers_see_no_orders_yet(driver_api):
    assert driver_api.get("/api/v1/orders/").status_code == 403


def test_list_filters_search_and_ordering(dispatcher_api):
    by = UserFactory(role_name="dispatcher")
    ana = CustomerFactory(full_name="Ana Quispe", email="ana@q.pe")
    one = make_order(customer=ana, by=by, drops=[drop(district="Yanahuara")], level="urgent")
    two = make_order(customer=CustomerFactory(), by=by)
    assert [
        o["id"]
        for o in dispatcher_api.get("/api/v1/orders/?service_level=urgent").json()["results"]
    ] == [one.pk]
    assert [
        o["id"] for o in dispatcher_api.get("/api/v1/orders/?district=yanahuara").json()["results"]
    ] == [one.pk]
    assert [
        o["id"] for o in dispatcher_api.get("/api/v1/orders/?search=quispe").json()["results"]
    ] == [one.pk]
    assert [
        o["id"] for o in dispatcher_api.get(f"/api/v1/orders/?search=%23{two.pk}").json()["results"]
    ] == [two.pk]
    assert [
        o["id"]
        for o in dispatcher_api.get(f"/api/v1/orders/?customer_id={ana.pk}").json()["results"]
    ] == [one.pk]
    assert (
        dispatcher_api.get("/api/v1/orders/?status=pending&status=cancelled").json()["count"] == 2
    )
    assert dispatcher_api.get("/api/v1/orders/?status=flying").status_code == 400
    assert dispatcher_api.get("/api/v1/orders/?ordering=-total").status_code == 200
    assert (
        dispatcher_api.get("/api/v1/orders/?ordering=customer__user__password").status_code == 400
    )


@pytest.mark.parametrize("count", [1, 50])
def test_order_list_costs_a_constant_number_of_queries(
    dispatcher_api, django_assert_max_num_queries, count
):
    by = UserFactory(role_name="dispatcher")
    customer = CustomerFactory()
    for _ in range(count):
        make_order(customer=customer, by=by, drops=[drop(), drop(weight="3")])
    with django_assert_max_num_queries(7):
        response = dispatcher_api.get("/api/v1/orders/?page_size=200")
    assert response.json()["count"] == count
    assert all(len(o["destinations"]) == 2 for o in response.json()["results"])
