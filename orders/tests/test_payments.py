"""Checkout, the simulated provider, MercadoPago's webhook (against a fake MercadoPago over
HTTP), manual payments and their guards."""

import time
from decimal import Decimal
from functools import partial

import pytest

from identity.documents import Notification
from orders.models import Order, Payment
from orders.payment_providers import sign_webhook
from orders.tests.factories import customer_user, make_order
from orders.tests.helpers import MP_SECRET
from rappi.testing.concurrency import race

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_order(alice):
    """(client, order): alice signed in, and an order of hers."""
    client, user, customer = alice
    return client, make_order(customer=customer, by=user)


def test_checkout_opens_one_simulated_payment_and_reuses_it(alice_order):
    client, order = alice_order
    first = client.post(f"/api/v1/orders/{order.pk}/checkout")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["payment"]["status"] == "pending"
    assert body["payment"]["provider"] == "simulated"
    assert body["payment"]["amount"] == str(order.total)
    assert "/pay/simulated/" in body["checkout_url"]  # the simulated provider's own page
    again = client.post(f"/api/v1/orders/{order.pk}/checkout").json()
    assert again["payment"]["id"] == body["payment"]["id"]
    assert Payment.objects.filter(order=order).count() == 1


def test_simulated_approval_releases_the_order_and_notifies(
    alice_order, django_capture_on_commit_callbacks
):
    client, order = alice_order
    payment = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/payments/{payment['id']}/simulate", {"outcome": "approved"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["status"] == "paid"
    assert response.json()["paid_at"]
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert (
        Notification.objects(
            recipient_user_id=order.customer.user_id, kind="payment.confirmed"
        ).count()
        == 1
    )
    # A second approval changes nothing and notifies nobody.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/api/v1/payments/{payment['id']}/simulate", {"outcome": "approved"}, format="json"
        )
    assert Notification.objects(kind="payment.confirmed").count() == 1


def test_simulated_rejection_keeps_the_order_unpaid_and_a_new_checkout_works(alice_order):
    client, order = alice_order
    payment = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    rejected = client.post(
        f"/api/v1/payments/{payment['id']}/simulate", {"outcome": "rejected"}, format="json"
    )
    assert rejected.json()["status"] == "failed"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"
    retry = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    assert retry["id"] != payment["id"]
    assert retry["status"] == "pending"


def test_checkout_of_a_paid_or_cancelled_order_is_409(alice_order):
    client, order = alice_order
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    response = client.post(f"/api/v1/orders/{order.pk}/checkout")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_payable"


def test_a_reprice_replaces_the_stale_checkout(alice_order):
    client, order = alice_order
    first = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    client.patch(f"/api/v1/orders/{order.pk}", {"service_level": "urgent"}, format="json")
    second = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    assert second["id"] != first["id"]
    assert Decimal(second["amount"]) > Decimal(first["amount"])
    assert Payment.objects.get(pk=first["id"]).status == "failed"


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_create_one_pending_payment():
    from identity import services as identity_services
    from identity.tests.factories import signed_in_client

    identity_services.roles_seed()
    user, customer = customer_user(email="racer@example.pe")
    order = make_order(customer=customer, by=user)
    clients = [signed_in_client(user) for _ in range(4)]
    answers = race(*(partial(c.post, f"/api/v1/orders/{order.pk}/checkout") for c in clients))
    ids = [answer.json()["payment"]["id"] for answer in answers]
    assert len(set(ids)) == 1
    assert len(ids) == 4
    assert Payment.objects.filter(order=order, status="pending").count() == 1


# --- MercadoPago, faked over HTTP -----------------------------------------------------------


def _mp_payment(payment: Payment, status="approved", amount=None):
    return {
        "id": 987654,
        "status": status,
        "external_reference": str(payment.pk),
        "transaction_amount": float(amount if amount is not None else payment.amount),
        "currency_id": payment.currency,
        "date_approved": "2026-11-22T10:00:00.000-04:00",
    }


def _webhook(api, data_id="987654", secret=MP_SECRET, ts=None, request_id="req-1", signature=None):
    ts = int(time.time()) if ts is None else ts
    headers = {"HTTP_X_REQUEST_ID": request_id}
    if signature is not False:
        headers["HTTP_X_SIGNATURE"] = signature or sign_webhook(
            secret=secret, data_id=data_id, request_id=request_id, ts=ts
        )
    return api.post(
        f"/api/v1/payments/webhooks/mercadopago?data.id={data_id}&type=payment",
        {"type": "payment", "data": {"id": data_id}},
        format="json",
        **headers,
    )


def test_mercadopago_checkout_returns_the_preference_url(alice_order, mercadopago):
    client, order = alice_order
    body = client.post(f"/api/v1/orders/{order.pk}/checkout").json()
    assert body["checkout_url"] == "https://mp.example/checkout/pref-1"
    assert body["payment"]["provider"] == "mercadopago"
    sent = mercadopago.requests[0]
    assert sent.headers["Authorization"] == "Bearer TEST-token"
    assert sent.json()["external_reference"] == str(body["payment"]["id"])


def test_a_signed_webhook_confirms_through_the_provider_exactly_once(
    api, alice_order, mercadopago, django_capture_on_commit_callbacks
):
    client, order = alice_order
    payment = Payment.objects.get(
        pk=client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]["id"]
    )
    mercadopago.payments["987654"] = _mp_payment(payment)
    with django_capture_on_commit_callbacks(execute=True):
        for attempt in range(3):
            response = _webhook(api, request_id=f"req-{attempt}")
            assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == "paid"
    assert payment.provider_payment_id == "987654"
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Notification.objects(kind="payment.confirmed").count() == 1
    assert [r.path for r in mercadopago.requests].count("/v1/payments/987654") == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"signature": False},
        {"secret": "wrong-secret"},
        {"signature": "ts=1,v1=deadbeef"},
        {"signature": "garbage"},
        {"ts": int(time.time()) - 3600},
        {"ts": int(time.time()) + 3600},
    ],
    ids=["missing", "wrong-secret", "bad-hmac", "malformed", "stale", "future"],
)
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(
    api, alice_order, mercadopago, kwargs
):
    client, order = alice_order
    payment = Payment.objects.get(
        pk=client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]["id"]
    )
    mercadopago.payments["987654"] = _mp_payment(payment)
    response = _webhook(api, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert Payment.objects.get(pk=payment.pk).status == "pending"
    assert "/v1/payments/987654" not in [r.path for r in mercadopago.requests]


def test_a_webhook_whose_amount_differs_does_not_confirm(api, alice_order, mercadopago):
    client, order = alice_order
    payment = Payment.objects.get(
        pk=client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]["id"]
    )
    mercadopago.payments["987654"] = _mp_payment(payment, amount=Decimal("0.50"))
    assert _webhook(api).status_code == 200
    assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_a_rejected_attempt_is_recorded_and_leaves_the_checkout_open(api, alice_order, mercadopago):
    client, order = alice_order
    payment = Payment.objects.get(
        pk=client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]["id"]
    )
    mercadopago.payments["987654"] = _mp_payment(payment, status="rejected")
    _webhook(api)
    attempt = Payment.objects.get(provider_payment_id="987654")
    assert (attempt.status, attempt.checkout_id) == ("failed", payment.pk)
    assert Payment.objects.get(pk=payment.pk).status == "pending"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_simulate_refuses_a_mercadopago_payment(alice_order, mercadopago):
    client, order = alice_order
    payment = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    response = client.post(
        f"/api/v1/payments/{payment['id']}/simulate", {"outcome": "approved"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "wrong_provider"


# --- Manual payments --------------------------------------------------------------------------


def test_staff_records_a_manual_payment_for_the_exact_total(dispatcher_api, alice_order):
    _client, order = alice_order
    response = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/payments",
        {"amount": str(order.total), "reference": "Caja 1"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "paid"
    assert response.json()["provider"] == "manual"
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_a_manual_payment_must_equal_the_total(dispatcher_api, alice_order):
    _client, order = alice_order
    response = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/payments", {"amount": "1.00"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "amount_mismatch"


def test_one_paid_payment_per_order(dispatcher_api, alice_order):
    _client, order = alice_order
    dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/payments", {"amount": str(order.total)}, format="json"
    )
    again = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/payments", {"amount": str(order.total)}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_paid"


def test_no_manual_payment_on_a_cancelled_order(dispatcher_api, alice_order):
    _client, order = alice_order
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    response = dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/payments", {"amount": str(order.total)}, format="json"
    )
    assert response.status_code == 409


def test_customers_cannot_record_manual_payments(alice_order):
    client, order = alice_order
    response = client.post(
        f"/api/v1/orders/{order.pk}/payments", {"amount": str(order.total)}, format="json"
    )
    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_a_manual_payment_closes_the_open_checkout(dispatcher_api, alice_order):
    client, order = alice_order
    open_payment = client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    dispatcher_api.post(
        f"/api/v1/orders/{order.pk}/payments", {"amount": str(order.total)}, format="json"
    )
    assert Payment.objects.get(pk=open_payment["id"]).status == "failed"


def test_another_customers_payments_are_404(alice_order, client_for):
    _client, order = alice_order
    payment = _client.post(f"/api/v1/orders/{order.pk}/checkout").json()["payment"]
    bob, _customer = customer_user(email="bob@example.pe")
    other = client_for(bob)
    assert other.get(f"/api/v1/payments/{payment['id']}").status_code == 404
    assert (
        other.post(
            f"/api/v1/payments/{payment['id']}/simulate", {"outcome": "approved"}, format="json"
        ).status_code
        == 404
    )
    assert other.get("/api/v1/payments/").json()["count"] == 0
