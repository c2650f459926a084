"""Money can only settle an order for exactly what it costs, once; nobody edits the price of
a paid order; a stale checkout never releases an order; registration never adopts someone
else's customer record; production refuses the simulated provider."""

import time
from decimal import Decimal

import pytest

from identity.tests.factories import RoleFactory, UserFactory
from orders import services
from orders.models import Customer, Order, Payment, Tariff
from orders.payment_providers import sign_webhook
from orders.tests.factories import CustomerFactory, drop, make_order, order_body
from rappi.testing.fake_http import FakeHttpServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_order(alice):
    """(client, user, order): alice signed in, and an order of hers."""
    client, user, customer = alice
    return client, user, make_order(customer=customer, by=user)


def test_a_stale_simulated_checkout_cannot_release_a_repriced_order(alice_order):
    client, _user, order = alice_order
    stale = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    client.patch(f"/api/v1/orders/{order.pk}", {"service_level": "urgent"}, format="json")
    response = client.post(
        f"/api/v1/payments/{stale['id']}/simulate", {"outcome": "approved"}, format="json"
    )
    assert response.status_code == 409
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_a_price_adjustment_closes_the_open_checkout(alice_order, dispatcher_api):
    client, _user, order = alice_order
    stale = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/adjust-price",
        {"amount": "100", "reason": "Extra"},
        format="json",
    )
    assert Payment.objects.get(pk=stale["id"]).status == "failed"
    fresh = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    assert Decimal(fresh["amount"]) == Order.objects.get(pk=order.pk).total


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/v1/orders/{id}", {"service_level": "urgent"}),
        ("post", "/api/v1/orders/{id}/destinations", "drop"),
        ("post", "/api/v1/orders/{id}/adjust-price", {"amount": "-1", "reason": "x"}),
    ],
)
def test_a_paid_order_cannot_change_price(alice_order, dispatcher_api, method, path, body):
    client, _user, order = alice_order
    services.payment_record_manual(
        order=order, amount=order.total, reference="x", by=UserFactory(role_name="dispatcher")
    )
    total = Order.objects.get(pk=order.pk).total
    caller = dispatcher_api if "adjust" in path else client
    payload = order_body()["destinations"][0] if body == "drop" else body
    response = getattr(caller, method)(path.format(id=order.pk), payload, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_paid"
    assert Order.objects.get(pk=order.pk).total == total


def test_checkout_of_a_paid_order_is_409(alice_order):
    client, _user, order = alice_order
    services.payment_record_manual(
        order=order, amount=order.total, reference="x", by=UserFactory(role_name="dispatcher")
    )
    response = client.post(f"/api/v1/orders/{order.pk}/checkout")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_payable"


def test_checkout_honours_idempotency_key(alice_order):
    client, _user, order = alice_order
    first = client.post(f"/api/v1/orders/{order.pk}/checkout", HTTP_IDEMPOTENCY_KEY="tap-1")
    second = client.post(f"/api/v1/orders/{order.pk}/checkout", HTTP_IDEMPOTENCY_KEY="tap-1")
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Payment.objects.filter(order=order).count() == 1


def test_simulation_is_refused_when_the_simulated_provider_is_not_configured(alice_order, settings):
    client, _user, order = alice_order
    payment = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    settings.PAYMENT_PROVIDER = "mercadopago"
    response = client.post(
        f"/api/v1/payments/{payment['id']}/simulate", {"outcome": "approved"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "wrong_provider"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_a_webhook_for_a_stale_mercadopago_checkout_flags_a_refund(api, alice_order, settings):
    client, _user, order = alice_order
    with FakeHttpServer() as fake:
        fake.add(
            "POST",
            "/checkout/preferences",
            lambda req: (201, {"id": "p", "init_point": "https://mp/x"}),
        )
        settings.PAYMENT_PROVIDER, settings.MP_ACCESS_TOKEN, settings.MP_WEBHOOK_SECRET = (
            "mercadopago",
            "t",
            "s",
        )
        settings.MP_API_URL = fake.url
        stale = Payment.objects.get(
            pk=client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]["id"]
        )
        client.patch(
            f"/api/v1/orders/{order.pk}", {"service_level": "urgent"}, format="json"
        )  # closes it
        fake.add(
            "GET",
            r"/v1/payments/55",
            lambda req: (
                200,
                {
                    "id": 55,
                    "status": "approved",
                    "external_reference": str(stale.pk),
                    "transaction_amount": float(stale.amount),
                    "currency_id": "PEN",
                    "date_approved": "2026-11-22T10:00:00.000-05:00",
                },
            ),
        )
        ts = int(time.time())
        response = api.post(
            "/api/v1/payments/webhooks/mercadopago?data.id=55&type=payment",
            {"data": {"id": "55"}},
            format="json",
            HTTP_X_REQUEST_ID="r",
            HTTP_X_SIGNATURE=sign_webhook(secret="s", data_id="55", request_id="r", ts=ts),
        )
    assert response.status_code == 200  # acknowledged, so MercadoPago stops retrying
    money = Payment.objects.get(provider="mercadopago", provider_payment_id="55")
    assert (money.status, money.needs_refund, money.checkout_id) == ("failed", True, stale.pk)
    assert Payment.objects.get(pk=stale.pk).status == "failed"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_registering_with_a_walk_in_customers_email_does_not_adopt_its_record(api):
    walk_in = CustomerFactory(email="walkin@example.pe", tax_id="20100070970")
    make_order(customer=walk_in, by=UserFactory(role_name="dispatcher"))
    response = api.post(
        "/api/v1/auth/register",
        {"email": "WalkIn@example.pe", "password": "Str0ng-Passw0rd", "full_name": "Impostor"},
        format="json",
    )
    assert response.status_code == 201
    walk_in.refresh_from_db()
    assert walk_in.user_id is None
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get("/api/v1/orders/").json()["count"] == 0
    assert Customer.objects.filter(email__iexact="walkin@example.pe").count() == 2


def test_oversized_boxes_are_400_not_500(alice_order):
    client, *_ = alice_order
    body = order_body()
    body["destinations"][0]["package"].update(
        length_cm="999999.9", width_cm="999999.9", height_cm="999999.9"
    )
    for path in ("/api/v1/orders/quote", "/api/v1/orders/"):
        response = client.post(path, body, format="json")
        assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    "body", [{"volumetric_factor": 0}, {"multiplier_express": "-1"}, {"night_surcharge": "9"}]
)
def test_the_tariff_refuses_values_that_break_pricing(body, admin_api):
    assert admin_api.put("/api/v1/tariff", body, format="json").status_code == 400


def test_the_tariff_admin_refuses_a_zero_volumetric_factor(client):
    client.force_login(UserFactory(role_name="admin"))
    tariff = services.tariff_get()
    page = client.get(f"/admin/orders/tariff/{tariff.pk}/change/")
    data = {k: v for k, v in page.context["adminform"].form.initial.items() if v is not None}
    data.update(volumetric_factor="0", peak_windows="[]", night_start="22:00", night_end="06:00")
    response = client.post(f"/admin/orders/tariff/{tariff.pk}/change/", data)
    assert response.status_code == 200  # the form again, with the error
    assert Tariff.objects.get().volumetric_factor == 5000


def test_the_tariff_admin_saves_through_the_service(client):
    admin = UserFactory(role_name="admin")
    client.force_login(admin)
    tariff = services.tariff_get()
    page = client.get(f"/admin/orders/tariff/{tariff.pk}/change/")
    data = {k: v for k, v in page.context["adminform"].form.initial.items() if v is not None}
    data.update(
        base_fare="7.00",
        peak_windows='[{"start": "07:00", "end": "09:00"}]',
        night_start="22:00",
        night_end="06:00",
    )
    response = client.post(f"/admin/orders/tariff/{tariff.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = Tariff.objects.get()
    assert saved.base_fare == Decimal("7.00")
    assert saved.updated_by == admin


def test_two_primary_addresses_in_the_admin_are_a_form_error(client):
    client.force_login(UserFactory(role_name="admin"))
    customer = CustomerFactory()
    row = {
        "label": "A",
        "line": "L",
        "district": "D",
        "lat": "-16.4",
        "lng": "-71.5",
        "is_primary": "on",
    }
    data = {
        "full_name": customer.full_name,
        "email": customer.email,
        "phone": "",
        "tax_id": "",
        "is_active": "on",
        "addresses-TOTAL_FORMS": "2",
        "addresses-INITIAL_FORMS": "0",
        **{f"addresses-0-{k}": v for k, v in row.items()},
        **{f"addresses-1-{k}": v for k, v in {**row, "label": "B"}.items()},
    }
    response = client.post(f"/admin/orders/customer/{customer.pk}/change/", data)
    assert response.status_code == 200
    assert b"one primary address" in response.content
    assert customer.addresses.count() == 0


def test_the_invoice_admin_refuses_an_invalid_ruc(client, alice_order):
    _client, user, order = alice_order
    services.payment_record_manual(
        order=order, amount=order.total, reference="x", by=UserFactory(role_name="dispatcher")
    )
    invoice = services.invoice_create(order=order, ruc="20100070970", business_name="A", by=user)
    client.force_login(UserFactory(role_name="admin"))
    client.post(
        f"/admin/orders/invoice/{invoice.pk}/change/", {"ruc": "12345678901", "business_name": "A"}
    )
    invoice.refresh_from_db()
    assert invoice.ruc == "20100070970"


def test_rating_needs_ratings_write(client_for):
    role = RoleFactory(grants=["orders:*", "customers:*"])
    user = UserFactory(role=role)
    customer = CustomerFactory(user=user)
    order = make_order(customer=customer, by=UserFactory(role_name="dispatcher"), drops=[drop()])
    Order.objects.filter(pk=order.pk).update(status="delivered")
    assert (
        client_for(user)
        .post(f"/api/v1/orders/{order.pk}/rating", {"score": 5}, format="json")
        .status_code
        == 403
    )


def test_staff_replace_an_invoice_with_put(alice_order, dispatcher_api):
    client, user, order = alice_order
    services.payment_record_manual(
        order=order, amount=order.total, reference="x", by=UserFactory(role_name="dispatcher")
    )
    invoice = services.invoice_create(order=order, ruc="20100070970", business_name="A", by=user)
    response = dispatcher_api.put(
        f"/api/v1/invoices/{invoice.pk}",
        {"ruc": "20131312955", "business_name": "B SAC"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["ruc"] == "20131312955"
    assert (
        client.put(
            f"/api/v1/invoices/{invoice.pk}", {"business_name": "Mine"}, format="json"
        ).status_code
        == 403
    )
