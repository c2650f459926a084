"""Every role on every orders endpoint, the admin's service-backed actions, and the demo seed."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from identity.tests.factories import UserFactory
from orders import services
from orders.models import Customer, Order, Payment, Tariff
from orders.tests.factories import CustomerFactory, customer_user, make_order, order_body

pytestmark = pytest.mark.django_db

ROLES = ["admin", "dispatcher", "driver", "customer"]


@pytest.fixture
def world():
    """A customer `carla` with an order; the caller of role `customer` is carla."""
    user, customer = customer_user(email="carla@example.pe")
    order = make_order(customer=customer, by=user)
    return {"user": user, "customer": customer, "order": order}


def _caller(role, world):
    return world["user"] if role == "customer" else UserFactory(role_name=role)


# (method, path, body, expected per role)
MATRIX = [
    (
        "get",
        "/api/v1/customers/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "post",
        "/api/v1/customers/",
        {"full_name": "Walk In"},
        {"admin": 201, "dispatcher": 201, "driver": 403, "customer": 403},
    ),
    (
        "get",
        "/api/v1/customers/{customer}",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/customers/{customer}/addresses",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/orders/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/orders/{order}",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "post",
        "/api/v1/orders/quote",
        "order",
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "post",
        "/api/v1/orders/{order}/adjust-price",
        {"amount": "-1", "reason": "x"},
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 403},
    ),
    (
        "post",
        "/api/v1/orders/{order}/payments",
        "manual",
        {"admin": 201, "dispatcher": 201, "driver": 403, "customer": 403},
    ),
    (
        "post",
        "/api/v1/orders/{order}/checkout",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/payments/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/invoices/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/invoices/ruc/20100070970",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "get",
        "/api/v1/tariff",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 403},
    ),
    (
        "put",
        "/api/v1/tariff",
        {"base_fare": "6.00"},
        {"admin": 200, "dispatcher": 403, "driver": 403, "customer": 403},
    ),
    (
        "post",
        "/api/v1/orders/{order}/cancel",
        {"reason": "x"},
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "patch",
        "/api/v1/customers/{customer}",
        {"phone": "1"},
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "post",
        "/api/v1/customers/{customer}/addresses",
        "address",
        {"admin": 201, "dispatcher": 201, "driver": 403, "customer": 201},
    ),
    (
        "patch",
        "/api/v1/orders/{order}",
        {"notes": "n"},
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 200},
    ),
    (
        "post",
        "/api/v1/orders/",
        "order",
        {"admin": 400, "dispatcher": 400, "driver": 403, "customer": 201},
    ),
    (
        "post",
        "/api/v1/orders/{order}/destinations",
        "drop",
        {"admin": 201, "dispatcher": 201, "driver": 403, "customer": 201},
    ),
    (
        "post",
        "/api/v1/orders/{order}/rating",
        {"score": 5},
        {"admin": 403, "dispatcher": 403, "driver": 403, "customer": 409},
    ),
    (
        "post",
        "/api/v1/invoices/",
        "invoice",
        {"admin": 409, "dispatcher": 409, "driver": 403, "customer": 409},
    ),
    (
        "delete",
        "/api/v1/customers/{customer}",
        None,
        {"admin": 204, "dispatcher": 204, "driver": 403, "customer": 403},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _b, _e in MATRIX]
)
def test_role_endpoint_matrix(client_for, world, role, method, path, body, expected):
    url = path.format(customer=world["customer"].pk, order=world["order"].pk)
    if body == "order":
        body = order_body()  # staff without customer_id: 400 naming the field
    elif body == "drop":
        body = order_body()["destinations"][0]
    elif body == "address":
        body = {
            "label": "Casa",
            "line": "Calle 1",
            "district": "Cercado",
            "lat": -16.4,
            "lng": -71.5,
        }
    elif body == "invoice":
        body = {"order_id": world["order"].pk, "ruc": "20100070970", "business_name": "X"}
    elif body == "manual":
        body = {"amount": str(world["order"].total)}
    response = getattr(client_for(_caller(role, world)), method)(url, body or {}, format="json")
    assert response.status_code == expected[role], response.content


def test_a_webhook_without_mercadopago_configured_is_refused(api):
    response = api.post(
        "/api/v1/payments/webhooks/mercadopago?data.id=1&type=payment", {}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"


def test_a_fully_discounted_order_is_settled_at_checkout(client_for, world):
    staff = UserFactory(role_name="dispatcher")
    order = world["order"]
    services.order_adjust_price(order=order, amount=Decimal("-9999"), reason="Cortesía", by=staff)
    body = client_for(world["user"]).post(f"/api/v1/orders/{order.pk}/checkout").json()
    assert body["payment"]["status"] == "paid"
    assert body["payment"]["amount"] == "0.00"
    assert Order.objects.get(pk=order.pk).status == "pending"


# --- Admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_site_as_admin(client, admin):
    """Django's admin signed in as the admin (`admin_site` is the dispatcher's)."""
    client.force_login(admin)
    return client


def test_the_admin_cancels_orders_through_the_service(admin_site_as_admin, world):
    order = world["order"]
    form = admin_site_as_admin.post(
        "/admin/orders/order/", {"action": "cancel_orders", "_selected_action": [order.pk]}
    )
    assert form.status_code == 200
    assert b"reason" in form.content
    done = admin_site_as_admin.post(
        "/admin/orders/order/",
        {
            "action": "cancel_orders",
            "_selected_action": [order.pk],
            "apply": "1",
            "reason": "Cliente llamó",
        },
    )
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.cancel_reason == "Cliente llamó"


def test_a_refused_admin_action_is_a_message_not_a_crash(admin_site_as_admin, world):
    order = world["order"]
    Order.objects.filter(pk=order.pk).update(status="delivered")
    response = admin_site_as_admin.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [order.pk], "apply": "1", "reason": "x"},
        follow=True,
    )
    assert response.status_code == 200
    assert b"cannot go from delivered" in response.content
    assert Order.objects.get(pk=order.pk).status == "delivered"


def test_the_admin_adjusts_a_price(admin_site_as_admin, world):
    order = world["order"]
    admin_site_as_admin.post(
        "/admin/orders/order/",
        {
            "action": "adjust_price",
            "_selected_action": [order.pk],
            "apply": "1",
            "reason": "Promo",
            "amount": "-1.00",
        },
    )
    order.refresh_from_db()
    assert order.price_adjustment == Decimal("-1.00")
    assert order.total == order.legs_total - 1


@pytest.mark.parametrize(
    "path",
    [
        "/admin/orders/order/",
        "/admin/orders/customer/",
        "/admin/orders/payment/",
        "/admin/orders/invoice/",
        "/admin/orders/rating/",
    ],
)
def test_admin_lists_render(admin_site_as_admin, world, path):
    assert admin_site_as_admin.get(path).status_code == 200


def test_the_admin_order_page_renders_with_destinations(admin_site_as_admin, world):
    response = admin_site_as_admin.get(f"/admin/orders/order/{world['order'].pk}/change/")
    assert response.status_code == 200
    assert b"Av. Lambramani" in response.content


def test_the_tariff_admin_edits_the_singleton(admin_site_as_admin):
    tariff = services.tariff_get()
    assert admin_site_as_admin.get("/admin/orders/tariff/").status_code == 302
    page = admin_site_as_admin.get(f"/admin/orders/tariff/{tariff.pk}/change/")
    assert page.status_code == 200
    assert Tariff.objects.count() == 1


def test_a_dispatcher_cannot_edit_the_tariff_in_the_admin(client):
    client.force_login(UserFactory(role_name="dispatcher"))
    tariff = services.tariff_get()
    response = client.post(f"/admin/orders/tariff/{tariff.pk}/change/", {"base_fare": "1.00"})
    assert response.status_code == 403


# --- Demo seed -----------------------------------------------------------------------------


def test_the_demo_seed_is_idempotent_and_covers_the_states():
    call_command("seed_demo", verbosity=0)
    counts = (Customer.objects.count(), Order.objects.count(), Payment.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (Customer.objects.count(), Order.objects.count(), Payment.objects.count()) == counts
    states = set(Order.objects.values_list("status", flat=True))
    assert {"pending_payment", "pending", "cancelled", "delivered"} <= states
    call_command("seed_demo", "--reset", verbosity=0)
    assert Order.objects.count() == counts[1]


def test_staff_create_a_two_drop_order_in_the_admin_and_record_its_payment(admin_site_as_admin):
    customer = CustomerFactory(full_name="Panadería Misti")
    row = {
        "line": "Av. Lambramani 325",
        "district": "Cercado",
        "lat": "-16.421",
        "lng": "-71.5217",
        "recipient_name": "Marta",
        "recipient_phone": "959111222",
        "weight_kg": "2.5",
    }
    data = {
        "customer": customer.pk,
        "service_level": "express",
        "origin_line": "Plaza de Armas",
        "origin_district": "Cercado",
        "origin_lat": "-16.3988",
        "origin_lng": "-71.5369",
        "notes": "",
        "destinations-TOTAL_FORMS": "2",
        "destinations-INITIAL_FORMS": "0",
        "destinations-MIN_NUM_FORMS": "1",
        "destinations-MAX_NUM_FORMS": "20",
        **{f"destinations-0-{k}": v for k, v in row.items()},
        **{
            f"destinations-1-{k}": v
            for k, v in {
                **row,
                "lat": "-16.3891",
                "lng": "-71.5456",
                "length_cm": "60",
                "width_cm": "40",
                "height_cm": "40",
            }.items()
        },
    }
    response = admin_site_as_admin.post("/admin/orders/order/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    order = Order.objects.get(customer=customer)
    assert order.status == "pending"
    assert order.service_level == "express"
    assert [d.sequence for d in order.destinations.all()] == [1, 2]
    assert order.total == sum(d.subtotal for d in order.destinations.all()) > 0
    paid = admin_site_as_admin.post(
        "/admin/orders/order/",
        {
            "action": "record_payment",
            "_selected_action": [order.pk],
            "apply": "1",
            "reference": "Caja 7",
        },
    )
    assert paid.status_code == 302
    assert Payment.objects.get(order=order).status == "paid"
