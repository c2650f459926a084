"""The simulated provider's checkout page: what `checkout_url` opens in a browser, with no
bearer token — a short-lived signed link to one payment, the order and its total, and
Approve / Reject buttons that go through the same service as `POST /payments/{id}/simulate`."""

import re
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client

from identity.documents import Notification
from orders.models import Order, Payment
from orders.payment_providers import SIMULATED_CHECKOUT_SALT, simulated_checkout_token
from orders.tests.factories import drop, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_order(alice):
    """(client, order): alice signed in, and an order of hers with two drop-offs."""
    client, user, customer = alice
    order = make_order(
        customer=customer,
        by=user,
        drops=[drop(), drop(lat="-16.3891", lng="-71.5456", district="Yanahuara")],
    )
    return client, order


def _checkout_path(api_client, order) -> tuple[str, Payment]:
    body = api_client.post(f"/api/v1/orders/{order.pk}/checkout").json()
    url = urlsplit(body["checkout_url"])
    assert url.path.startswith("/pay/simulated/")
    assert not url.path.startswith("/api/")
    return url.path, Payment.objects.get(pk=body["payment"]["id"])


def _text(response) -> str:
    return response.content.decode()


def _assert_page(response, status=200):
    assert response.status_code == status, _text(response)[:2000]
    assert response["Content-Type"].startswith("text/html")
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"  # the link is a credential
    html = _text(response)
    assert "<script" not in html  # a Content-Security-Policy allows no inline script
    assert not re.search(r"\son[a-z]+\s*=", html)  # nor inline event handlers
    assert " style=" not in html
    assert "Traceback" not in html
    return html


def test_the_checkout_url_opens_the_order_without_signing_in(alice_order):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    html = _assert_page(Client().get(path))
    assert f"#{order.pk}" in html
    for destination in order.destinations.all():
        assert destination.line in html
        assert destination.district in html
    assert f"S/ {order.total:.2f}" in html
    assert re.search(r'<form[^>]*method="post"', html)
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'value="approved"' in html
    assert 'value="rejected"' in html
    assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_the_total_is_shown_in_soles_with_two_decimals(alice_order):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    Payment.objects.filter(pk=payment.pk).update(amount=Decimal("18.5"))
    assert "S/ 18.50" in _text(Client().get(path))


def test_approving_pays_and_releases_the_order(alice_order, django_capture_on_commit_callbacks):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    with django_capture_on_commit_callbacks(execute=True):
        html = _assert_page(Client().post(path, {"outcome": "approved"}))
    assert "approved" in html.lower()
    assert Payment.objects.get(pk=payment.pk).status == "paid"
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Notification.objects(kind="payment.confirmed").count() == 1


def test_a_second_approval_is_harmless(alice_order, django_capture_on_commit_callbacks):
    api_client, order = alice_order
    path, _payment = _checkout_path(api_client, order)
    browser = Client()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(path, {"outcome": "approved"})
        html = _assert_page(browser.post(path, {"outcome": "approved"}))
    assert "already" in html.lower()
    assert Payment.objects.filter(order=order, status="paid").count() == 1
    assert Notification.objects(kind="payment.confirmed").count() == 1
    # Opening the link again shows the settled payment, with nothing left to press.
    again = _assert_page(browser.get(path))
    assert "already" in again.lower()
    assert 'value="approved"' not in again


def test_rejecting_declines_the_payment(alice_order):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    html = _assert_page(Client().post(path, {"outcome": "rejected"}))
    assert "declined" in html.lower()
    assert Payment.objects.get(pk=payment.pk).status == "failed"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"
    # Approving the declined checkout afterwards changes nothing and says why.
    late = _assert_page(Client().post(path, {"outcome": "approved"}), status=409)
    assert "declined" in late.lower()
    assert 'value="approved"' not in late
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_an_expired_link_is_a_clear_error_page(alice_order, settings):
    api_client, order = alice_order
    _path, payment = _checkout_path(api_client, order)
    settings.SIMULATED_CHECKOUT_MAX_AGE_S = 60

    class SignedTwoMinutesAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 120)

    token = SignedTwoMinutesAgo(salt=SIMULATED_CHECKOUT_SALT).sign(str(payment.pk))
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/pay/simulated/{token}/", {"outcome": "approved"})
        assert "expired" in _assert_page(response, status=403).lower()
    assert Payment.objects.get(pk=payment.pk).status == "pending"


@pytest.mark.parametrize("kind", ["tampered", "other-payment", "garbage", "other-salt"])
def test_a_tampered_link_is_a_clear_error_page(alice_order, kind):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    token = path.split("/")[3]
    bad = {
        "tampered": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "other-payment": f"{payment.pk + 1}:{token.split(':', 1)[1]}",
        "garbage": "not-a-token",
        "other-salt": signing.TimestampSigner(salt="elsewhere").sign(str(payment.pk)),
    }[kind]
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/pay/simulated/{bad}/", {"outcome": "approved"})
        assert "not valid" in _assert_page(response, status=403).lower()
    assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_a_payment_of_another_provider_shows_its_state_and_cannot_be_simulated(alice_order):
    _api_client, order = alice_order
    payment = Payment.objects.create(
        order=order, amount=order.total, provider="mercadopago", external_id="pref-1"
    )
    path = f"/pay/simulated/{simulated_checkout_token(payment.pk)}/"
    html = _assert_page(Client().get(path))
    assert "pending" in html.lower()
    assert 'value="approved"' not in html
    refused = _assert_page(Client().post(path, {"outcome": "approved"}), status=409)
    assert 'value="approved"' not in refused
    assert Payment.objects.get(pk=payment.pk).status == "pending"
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_the_page_offers_nothing_while_simulation_is_switched_off(alice_order, settings):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    settings.PAYMENT_PROVIDER = "mercadopago"
    assert 'value="approved"' not in _assert_page(Client().get(path))
    _assert_page(Client().post(path, {"outcome": "approved"}), status=409)
    assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_an_unknown_outcome_is_400(alice_order):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    _assert_page(Client().post(path, {"outcome": "paid"}), status=400)
    assert Payment.objects.get(pk=payment.pk).status == "pending"


def test_other_methods_are_405(alice_order):
    api_client, order = alice_order
    path, _payment = _checkout_path(api_client, order)
    assert Client().put(path).status_code == 405


def test_the_form_needs_its_csrf_token(alice_order):
    api_client, order = alice_order
    path, payment = _checkout_path(api_client, order)
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(path, {"outcome": "approved"}).status_code == 403
    assert Payment.objects.get(pk=payment.pk).status == "pending"
    page = _text(browser.get(path))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    response = browser.post(path, {"outcome": "approved", "csrfmiddlewaretoken": csrf})
    assert response.status_code == 200
    assert Payment.objects.get(pk=payment.pk).status == "paid"


def test_the_page_speaks_the_browsers_language(alice_order):
    api_client, order = alice_order
    path, _payment = _checkout_path(api_client, order)
    spanish = _text(Client().get(path, HTTP_ACCEPT_LANGUAGE="es-PE,es;q=0.9"))
    english = _text(Client().get(path, HTTP_ACCEPT_LANGUAGE="en"))
    assert '<html lang="es' in spanish
    assert '<html lang="en' in english


def test_a_reused_checkout_hands_out_a_fresh_link(alice_order, settings):
    api_client, order = alice_order
    _first_path, payment = _checkout_path(api_client, order)
    settings.SIMULATED_CHECKOUT_MAX_AGE_S = 60

    class SignedTwoMinutesAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 120)

    old = SignedTwoMinutesAgo(salt=SIMULATED_CHECKOUT_SALT).sign(str(payment.pk))
    Payment.objects.filter(pk=payment.pk).update(
        checkout_url=f"http://testserver/pay/simulated/{old}/"
    )
    second_path, again = _checkout_path(api_client, order)
    assert again.pk == payment.pk
    assert Client().get(second_path).status_code == 200


def test_the_link_never_reaches_the_request_log_or_the_audit_log(alice_order, caplog, rf):
    from datetime import UTC, datetime

    from audit.records import request_record

    api_client, order = alice_order
    path, _payment = _checkout_path(api_client, order)
    token = path.strip("/").split("/")[-1]
    with caplog.at_level("INFO", logger="rappi.request"):
        Client().get(path)
    logged = [(record.getMessage(), getattr(record, "path", "")) for record in caplog.records]
    assert ("GET /pay/simulated/<secret>/ 200", "/pay/simulated/<secret>/") in logged
    assert not any(token in message or token in str(where) for message, where in logged)
    record = request_record(
        rf.get(path), status_code=200, started_at=datetime.now(UTC), duration_ms=1.0, body=None
    )
    assert record["path"] == "/pay/simulated/<secret>/"
