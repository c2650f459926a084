"""MercadoPago Checkout Pro: one checkout (our payment row, the preference) may receive
several card attempts, each a MercadoPago payment of its own announced by webhook. Every
provider payment is one row; a declined attempt leaves the checkout open for a retry; the
first approval of the exact total settles the order, once; money that cannot settle it is
flagged for a refund. Driven through the public webhook against a fake MercadoPago over
HTTP."""

import importlib
import logging
from decimal import Decimal
from functools import partial

import pytest
from django.apps import apps
from django.db import IntegrityError

from identity.documents import Notification
from orders.models import Order, Payment
from orders.tests.factories import customer_user, make_order
from orders.tests.helpers import mp_holds, mp_webhook, open_checkout
from rappi.testing.concurrency import race

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_order(alice):
    """(client, order): alice signed in, and an order of hers."""
    client, user, customer = alice
    return client, make_order(customer=customer, by=user)


def _row(mp_id: str) -> Payment:
    return Payment.objects.get(provider="mercadopago", provider_payment_id=mp_id)


def _order_status(order) -> str:
    return Order.objects.get(pk=order.pk).status


def test_a_declined_attempt_then_an_approved_retry_settles_the_order_once(
    api, alice_order, mercadopago, django_capture_on_commit_callbacks
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, status="rejected")
    assert mp_webhook(api, "111").status_code == 200

    declined = _row("111")
    assert (declined.status, declined.needs_refund) == ("failed", False)
    assert declined.checkout_id == checkout.pk
    assert declined.order_id == order.pk
    checkout.refresh_from_db()
    assert checkout.status == "pending"  # still open: the buyer may try another card
    assert _order_status(order) == "pending_payment"
    assert open_checkout(client, order).pk == checkout.pk  # "pay" again reuses the preference

    mp_holds(mercadopago, "222", checkout)
    with django_capture_on_commit_callbacks(execute=True):
        assert mp_webhook(api, "222").status_code == 200
    checkout.refresh_from_db()
    assert (checkout.status, checkout.provider_payment_id) == ("paid", "222")
    assert checkout.paid_at is not None
    assert _order_status(order) == "pending"
    assert not Payment.objects.filter(order=order, needs_refund=True).exists()
    assert Payment.objects.filter(order=order, status="paid").count() == 1
    assert Notification.objects(kind="payment.confirmed").count() == 1


def test_a_wrong_amount_approval_is_flagged_and_the_exact_one_still_settles(
    api, alice_order, mercadopago
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, amount=Decimal("1.00"))
    assert mp_webhook(api, "111").status_code == 200

    wrong = _row("111")
    assert (wrong.status, wrong.needs_refund) == ("failed", True)
    assert wrong.amount == Decimal("1.00")
    assert wrong.checkout_id == checkout.pk
    assert Payment.objects.get(pk=checkout.pk).status == "pending"
    assert _order_status(order) == "pending_payment"

    mp_holds(mercadopago, "222", checkout)
    assert mp_webhook(api, "222").status_code == 200
    checkout.refresh_from_db()
    assert (checkout.status, checkout.provider_payment_id) == ("paid", "222")
    assert checkout.needs_refund is False
    assert _order_status(order) == "pending"
    assert _row("111").needs_refund is True  # the 1.00 still goes back


def test_a_wrong_currency_approval_does_not_settle(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, currency_id="USD")
    mp_webhook(api, "111")
    assert (_row("111").status, _row("111").needs_refund) == ("failed", True)
    assert _order_status(order) == "pending_payment"


def test_a_second_approval_after_the_order_is_paid_is_flagged(
    api, alice_order, mercadopago, django_capture_on_commit_callbacks
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout)
    mp_holds(mercadopago, "222", checkout)
    with django_capture_on_commit_callbacks(execute=True):
        mp_webhook(api, "111")
        assert mp_webhook(api, "222").status_code == 200

    assert (_row("111").pk, _row("111").status) == (checkout.pk, "paid")
    second = _row("222")
    assert (second.status, second.needs_refund, second.checkout_id) == (
        "failed",
        True,
        checkout.pk,
    )
    assert _order_status(order) == "pending"
    assert Notification.objects(kind="payment.confirmed").count() == 1


def test_the_same_webhook_twice_keeps_one_row(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, status="rejected")
    mp_holds(mercadopago, "222", checkout)
    for mp_id in ("111", "111", "222", "222", "111"):
        assert mp_webhook(api, mp_id).status_code == 200
    assert Payment.objects.filter(order=order).count() == 2
    assert _row("111").status == "failed"
    assert _row("222").pk == checkout.pk
    assert Payment.objects.get(pk=checkout.pk).status == "paid"


def test_an_approval_after_the_order_was_cancelled_is_flagged(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    client.post(f"/api/v1/orders/{order.pk}/cancel", {"reason": "Changed my mind"}, format="json")
    mp_holds(mercadopago, "111", checkout)
    assert mp_webhook(api, "111").status_code == 200
    late = _row("111")
    assert (late.status, late.needs_refund) == ("failed", True)
    assert _order_status(order) == "cancelled"
    assert not Payment.objects.filter(order=order, status="paid").exists()


def test_an_approval_on_a_checkout_replaced_by_a_reprice_is_flagged(api, alice_order, mercadopago):
    client, order = alice_order
    stale = open_checkout(client, order)
    client.patch(f"/api/v1/orders/{order.pk}", {"service_level": "urgent"}, format="json")
    mp_holds(mercadopago, "111", stale)
    assert mp_webhook(api, "111").status_code == 200
    assert (_row("111").status, _row("111").needs_refund) == ("failed", True)
    assert _order_status(order) == "pending_payment"


def test_a_payment_mercadopago_does_not_know_is_acknowledged_and_logged(
    api, alice_order, mercadopago, caplog
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    with caplog.at_level(logging.WARNING, logger="orders"):
        response = mp_webhook(api, "404404")
    assert response.status_code == 200  # answering 503 would make MercadoPago retry forever
    assert any(
        "404404" in r.getMessage() or getattr(r, "mp_payment_id", "") == "404404"
        for r in caplog.records
    )
    assert list(Payment.objects.filter(order=order)) == [checkout]
    assert Payment.objects.get(pk=checkout.pk).status == "pending"


@pytest.mark.parametrize("reference", ["", "not-ours", "99999999999999999999999", "١٢"])
def test_a_payment_that_is_not_ours_is_acknowledged_and_logged(
    api, alice_order, mercadopago, caplog, reference
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, external_reference=reference)
    with caplog.at_level(logging.WARNING, logger="orders"):
        assert mp_webhook(api, "111").status_code == 200
    assert any(r.levelno >= logging.WARNING for r in caplog.records)
    assert Payment.objects.count() == 1
    assert Payment.objects.get(pk=checkout.pk).status == "pending"


def test_a_payment_naming_a_row_that_is_no_mercadopago_checkout_is_ignored(
    api, alice_order, mercadopago
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, status="rejected")
    mp_webhook(api, "111")
    attempt_row = _row("111")
    manual = Payment.objects.create(
        order=order, amount=order.total, provider="manual", status="failed"
    )
    for mp_id, target in (("222", attempt_row), ("333", manual)):
        mp_holds(mercadopago, mp_id, target)
        assert mp_webhook(api, mp_id).status_code == 200
    assert not Payment.objects.filter(provider_payment_id__in=["222", "333"]).exists()
    assert _order_status(order) == "pending_payment"


def test_a_provider_that_is_down_answers_503_so_it_retries(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout)
    mercadopago.down = True
    response = mp_webhook(api, "111")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    assert Payment.objects.get(pk=checkout.pk).status == "pending"


def test_a_pending_attempt_stores_nothing_until_it_is_decided(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, status="in_process")
    assert mp_webhook(api, "111").status_code == 200
    assert Payment.objects.filter(order=order).count() == 1
    mp_holds(mercadopago, "111", checkout)
    mp_webhook(api, "111")
    assert Payment.objects.get(pk=checkout.pk).status == "paid"


def test_a_refund_of_the_settling_payment_is_recorded(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout)
    mp_webhook(api, "111")
    mp_holds(mercadopago, "111", checkout, status="refunded")
    assert mp_webhook(api, "111").status_code == 200
    checkout.refresh_from_db()
    assert (checkout.status, checkout.provider_payment_id) == ("refunded", "111")
    assert Payment.objects.filter(order=order).count() == 1


def test_refunding_flagged_money_clears_the_flag(api, alice_order, mercadopago):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout)
    mp_holds(mercadopago, "222", checkout)
    mp_webhook(api, "111")
    mp_webhook(api, "222")
    mp_holds(mercadopago, "222", checkout, status="refunded")
    mp_webhook(api, "222")
    returned = _row("222")
    assert (returned.status, returned.needs_refund) == ("refunded", False)
    assert Payment.objects.get(pk=checkout.pk).status == "paid"


def test_the_payments_list_shows_every_provider_payment_in_the_callers_scope(
    api, alice_order, mercadopago, client_for, dispatcher_api
):
    client, order = alice_order
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, status="rejected")
    mp_holds(mercadopago, "222", checkout)
    mp_webhook(api, "111")
    mp_webhook(api, "222")

    listed = client.get("/api/v1/payments/").json()
    assert listed["count"] == 2
    by_provider_id = {row["provider_payment_id"]: row for row in listed["results"]}
    assert by_provider_id["222"]["id"] == checkout.pk
    assert by_provider_id["222"]["status"] == "paid"
    assert by_provider_id["222"]["checkout_id"] is None
    assert by_provider_id["111"]["status"] == "failed"
    assert by_provider_id["111"]["checkout_id"] == checkout.pk
    assert by_provider_id["111"]["needs_refund"] is False
    one = client.get(f"/api/v1/payments/{_row('111').pk}")
    assert one.status_code == 200
    assert one.json()["order_id"] == order.pk

    bob, _customer = customer_user(email="bob@example.pe")
    assert client_for(bob).get("/api/v1/payments/").json()["count"] == 0
    assert client_for(bob).get(f"/api/v1/payments/{_row('111').pk}").status_code == 404
    assert dispatcher_api.get(f"/api/v1/payments/?order_id={order.pk}").json()["count"] == 2


def test_one_row_per_provider_payment_is_enforced_by_the_database(alice_order):
    _client, order = alice_order
    Payment.objects.create(
        order=order, amount=1, provider="mercadopago", provider_payment_id="1", status="failed"
    )
    Payment.objects.create(order=order, amount=1, provider="manual", status="failed")
    Payment.objects.create(order=order, amount=1, provider="manual", status="failed")  # blank ok
    with pytest.raises(IntegrityError):
        Payment.objects.create(
            order=order, amount=1, provider="mercadopago", provider_payment_id="1", status="failed"
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_webhook_store_one_row(mercadopago):
    from rest_framework.test import APIClient

    from identity import services as identity_services
    from identity.tests.factories import signed_in_client

    identity_services.roles_seed()
    user, customer = customer_user(email="racer@example.pe")
    order = make_order(customer=customer, by=user)
    checkout = open_checkout(signed_in_client(user), order)
    mp_holds(mercadopago, "111", checkout, status="rejected")
    answers = race(
        *(partial(mp_webhook, APIClient(), "111", request_id=f"req-{i}") for i in range(4))
    )
    assert [answer.status_code for answer in answers] == [200] * 4
    assert Payment.objects.filter(provider_payment_id="111").count() == 1
    assert Payment.objects.get(pk=checkout.pk).status == "pending"


def test_the_migration_reopens_checkouts_the_old_amount_check_left_blocked(
    api, alice_order, mercadopago
):
    _client, order = alice_order
    blocked = Payment.objects.create(
        order=order,
        amount=order.total,
        provider="mercadopago",
        provider_payment_id="111",
        needs_refund=True,
    )
    open_one = Payment.objects.create(
        order=make_order(customer=order.customer, by=order.created_by),
        amount=order.total,
        provider="mercadopago",
    )
    migration = importlib.import_module("orders.migrations.0003_payment_attempts_customer_email")
    migration.split_refunds_off_open_checkouts(apps, None)
    blocked.refresh_from_db()
    assert (blocked.status, blocked.needs_refund, blocked.provider_payment_id) == (
        "pending",
        False,
        "",
    )
    refund = _row("111")
    assert (refund.status, refund.needs_refund, refund.checkout_id) == ("failed", True, blocked.pk)
    assert Payment.objects.get(pk=open_one.pk).status == "pending"
    # The buyer's good payment on that checkout now settles the order.
    mp_holds(mercadopago, "222", blocked)
    assert mp_webhook(api, "222").status_code == 200
    assert _order_status(order) == "pending"
    assert Payment.objects.get(pk=blocked.pk).status == "paid"
