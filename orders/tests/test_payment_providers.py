"""Payment provider clients against a fake MercadoPago served over real HTTP: the request we
send, how answers are read, every way the provider can fail, and webhook signatures."""

import hashlib
import hmac
import json
import socket
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from orders.payment_providers import (
    Checkout,
    MercadoPagoProvider,
    PaymentProviderError,
    ProviderPayment,
    ProviderPaymentNotFoundError,
    SimulatedProvider,
    WebhookSignatureError,
    get_provider,
    sign_webhook,
    simulated_checkout_payment_id,
)
from rappi.testing.fake_http import FakeHttpServer

SECRET = "whsec-test"
TOKEN = "TEST-token"
NOW = 1_790_000_000  # a fixed "now" for signature freshness


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PUBLIC_BASE_URL = "https://rappi.example/"
    settings.MP_WEBHOOK_TOLERANCE_S = 300
    return settings


@pytest.fixture(scope="module")
def _fake_server():
    # One server per module: stopping one takes half a second (serve_forever's poll).
    with FakeHttpServer() as server:
        yield server


@pytest.fixture
def fake(_fake_server):
    _fake_server.routes.clear()
    _fake_server.requests.clear()
    return _fake_server


@pytest.fixture
def mp(fake):
    return MercadoPagoProvider(
        access_token=TOKEN, webhook_secret=SECRET, api_url=fake.url, timeout_s=2.0
    )


def _checkout(provider, amount=Decimal("45.50")) -> Checkout:
    return provider.create_checkout(
        payment_id=17,
        order_id=5,
        amount=amount,
        currency="PEN",
        description="Rappi order #5",
        payer_email="alice@example.pe",
    )


def _mp_payment(**overrides) -> dict:
    return {
        "id": 987654,
        "status": "approved",
        "status_detail": "accredited",
        "external_reference": "17",
        "transaction_amount": 45.5,
        "currency_id": "PEN",
        "date_approved": "2026-11-22T10:00:00.000-04:00",
        **overrides,
    }


def _serve_payment(fake, body, status=200) -> None:
    fake.add("GET", r"/v1/payments/(?P<id>[^/]+)", lambda req: (status, body))


# --- Simulated provider ----------------------------------------------------------------------


def test_simulated_checkout_points_at_our_signed_checkout_page():
    checkout = _checkout(SimulatedProvider())
    assert checkout.external_id == "sim-17"
    prefix = "https://rappi.example/pay/simulated/"
    assert checkout.checkout_url.startswith(prefix)
    assert checkout.checkout_url.endswith("/")
    token = checkout.checkout_url.removeprefix(prefix).rstrip("/")
    assert simulated_checkout_payment_id(token) == 17


def test_a_payment_of_a_customer_without_email_names_no_payer(fake, mp):
    fake.add(
        "POST",
        "/checkout/preferences",
        lambda req: (201, {"id": "p", "init_point": "https://mp/p"}),
    )
    mp.create_checkout(
        payment_id=17,
        order_id=5,
        amount=Decimal("45.50"),
        currency="PEN",
        description="Rappi order #5",
        payer_email="",
    )
    assert "payer" not in fake.requests[0].json()


def test_a_payment_mercadopago_does_not_know_is_its_own_error(fake, mp):
    fake.add("GET", r"/v1/payments/987654", lambda req: (404, {"message": "Payment not found"}))
    with pytest.raises(ProviderPaymentNotFoundError) as caught:
        mp.fetch_payment("987654")
    assert caught.value.details["payment_id"] == "987654"


# --- Checkout Pro preference -----------------------------------------------------------------


def test_create_checkout_posts_a_preference_and_returns_its_init_point(fake, mp):
    fake.add(
        "POST",
        "/checkout/preferences",
        lambda req: (
            201,
            {
                "id": "123-pref",
                "init_point": "https://www.mercadopago.com.pe/checkout/v1/redirect?pref_id=1",
                "sandbox_init_point": "https://sandbox.mercadopago.com.pe/checkout/v1/redirect",
            },
        ),
    )
    checkout = _checkout(mp)
    assert checkout == Checkout(
        external_id="123-pref",
        checkout_url="https://www.mercadopago.com.pe/checkout/v1/redirect?pref_id=1",
    )
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", "/checkout/preferences")
    assert sent.headers["Authorization"] == "Bearer TEST-token"
    assert sent.headers["Content-Type"] == "application/json"
    body = json.loads(sent.body, parse_float=Decimal)
    [item] = body["items"]
    assert item["title"] == "Rappi order #5"
    assert item["quantity"] == 1
    assert item["unit_price"] == Decimal("45.50")
    assert item["currency_id"] == "PEN"
    assert body["external_reference"] == "17"
    assert body["notification_url"] == "https://rappi.example/api/v1/payments/webhooks/mercadopago"
    assert set(body["back_urls"]) == {"success", "pending", "failure"}
    assert all(url.startswith("https://rappi.example/") for url in body["back_urls"].values())
    assert body["auto_return"] == "approved"
    assert body["payer"] == {"email": "alice@example.pe"}


def test_unit_price_is_a_json_number_rounded_half_up_to_cents(fake, mp):
    fake.add(
        "POST",
        "/checkout/preferences",
        lambda req: (201, {"id": "p", "init_point": "https://mp/p"}),
    )
    _checkout(mp, amount=Decimal("10.005"))
    raw = fake.requests[0].body.decode()
    assert '"unit_price": 10.01' in raw


@pytest.mark.parametrize(
    "answer",
    [
        (400, {"message": "invalid items.unit_price"}),
        (401, {"message": "invalid access token"}),
        (500, {"message": "boom"}),
        (201, {"init_point": "https://mp/p"}),
        (201, {"id": "p"}),
        (201, {"id": "p", "init_point": None}),
        (201, {"id": "p", "init_point": "javascript:alert(1)"}),
        (201, b"<html>gateway</html>"),
        (201, ["p"]),
    ],
    ids=[
        "400",
        "401",
        "500",
        "no-id",
        "no-init-point",
        "null-init-point",
        "non-http-init-point",
        "not-json",
        "not-an-object",
    ],
)
def test_a_failed_preference_raises_payment_provider_error(fake, mp, answer):
    fake.add("POST", "/checkout/preferences", lambda req: answer)
    with pytest.raises(PaymentProviderError) as caught:
        _checkout(mp)
    assert caught.value.code == "payment_provider_unavailable"
    assert caught.value.http_status == 503


# --- Payment reads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mp_status", "ours"),
    [
        ("approved", "approved"),
        ("rejected", "rejected"),
        ("cancelled", "rejected"),
        ("refunded", "refunded"),
        ("charged_back", "refunded"),
        ("pending", "pending"),
        ("in_process", "pending"),
        ("authorized", "pending"),
        ("in_mediation", "pending"),
        ("a_status_added_later", "pending"),
    ],
)
def test_fetch_payment_normalises_the_status(fake, mp, mp_status, ours):
    _serve_payment(fake, _mp_payment(status=mp_status))
    assert mp.fetch_payment("987654").status == ours


def test_fetch_payment_reads_the_payment_exactly(fake, mp):
    _serve_payment(fake, _mp_payment(transaction_amount=1234.56))
    payment = mp.fetch_payment("987654")
    assert payment == ProviderPayment(
        external_id="987654",
        status="approved",
        external_reference="17",
        amount=Decimal("1234.56"),
        currency="PEN",
        paid_at=datetime(2026, 11, 22, 14, 0, tzinfo=UTC),
    )
    assert isinstance(payment.amount, Decimal)
    assert str(payment.amount) == "1234.56"
    assert payment.paid_at.utcoffset().total_seconds() == 0
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("GET", "/v1/payments/987654")
    assert sent.headers["Authorization"] == "Bearer TEST-token"


def test_an_unapproved_payment_without_reference_has_no_paid_at(fake, mp):
    _serve_payment(fake, _mp_payment(status="pending", date_approved=None, external_reference=None))
    payment = mp.fetch_payment("987654")
    assert payment.paid_at is None
    assert payment.external_reference == ""


def test_fetch_payment_keeps_the_id_inside_one_path_segment(fake, mp):
    fake.add("GET", "/checkout/preferences", lambda req: (200, _mp_payment()))
    with pytest.raises(PaymentProviderError):
        mp.fetch_payment("../../checkout/preferences")
    assert fake.requests[0].path == "/v1/payments/..%2F..%2Fcheckout%2Fpreferences"


@pytest.mark.parametrize(
    "answer",
    [
        (404, {"message": "Payment not found"}),
        (401, {"message": "invalid access token"}),
        (502, b"Bad Gateway"),
        (200, b"{not json"),
        (200, b""),
        (200, [_mp_payment()]),
        (200, _mp_payment(id=None)),
        (200, {k: v for k, v in _mp_payment().items() if k != "status"}),
        (200, _mp_payment(status=3)),
        (200, {k: v for k, v in _mp_payment().items() if k != "transaction_amount"}),
        (200, _mp_payment(transaction_amount="45.50")),
        (200, _mp_payment(transaction_amount=True)),
        (200, json.dumps(_mp_payment(transaction_amount=float("nan"))).encode()),
        (200, _mp_payment(currency_id=None)),
        (200, _mp_payment(date_approved="yesterday")),
        (200, _mp_payment(date_approved="2026-11-22T10:00:00")),
    ],
    ids=[
        "404",
        "401",
        "502-html",
        "not-json",
        "empty-body",
        "not-an-object",
        "no-id",
        "no-status",
        "status-not-a-string",
        "no-amount",
        "amount-a-string",
        "amount-a-bool",
        "amount-nan",
        "no-currency",
        "bad-date",
        "date-without-offset",
    ],
)
def test_a_failed_payment_read_raises_payment_provider_error(fake, mp, answer):
    fake.add("GET", r"/v1/payments/987654", lambda req: answer)
    with pytest.raises(PaymentProviderError):
        mp.fetch_payment("987654")


def test_a_redirect_is_a_failure_and_the_token_is_not_replayed(fake, mp):
    fake.add("GET", "/v1/payments/987654", lambda req: (302, b"", {"Location": "/elsewhere"}))
    fake.add("GET", "/elsewhere", lambda req: (200, _mp_payment()))
    with pytest.raises(PaymentProviderError):
        mp.fetch_payment("987654")
    assert [r.path for r in fake.requests] == ["/v1/payments/987654"]


def test_an_unreachable_provider_raises_payment_provider_error():
    with socket.socket() as probe:  # a port nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = MercadoPagoProvider(
        access_token=TOKEN,
        webhook_secret=SECRET,
        api_url=f"http://127.0.0.1:{port}",
        timeout_s=2.0,
    )
    with pytest.raises(PaymentProviderError):
        provider.fetch_payment("987654")
    with pytest.raises(PaymentProviderError):
        _checkout(provider)


def test_a_slow_provider_times_out_as_payment_provider_error():
    # The kernel accepts the connection into the backlog; nobody ever answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host, port = silent.getsockname()[:2]
        provider = MercadoPagoProvider(
            access_token=TOKEN,
            webhook_secret=SECRET,
            api_url=f"http://{host}:{port}",
            timeout_s=0.2,
        )
        started = time.monotonic()
        with pytest.raises(PaymentProviderError):
            provider.fetch_payment("987654")
        with pytest.raises(PaymentProviderError):
            _checkout(provider)
    assert time.monotonic() - started < 2


# --- Webhook signatures ----------------------------------------------------------------------


def _hmac(manifest: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()


def _headers(signature: str | None, request_id: str | None = "req-1") -> dict:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    return headers


def _verify(
    provider,
    *,
    data_id="987654",
    signature=None,
    request_id="req-1",
    query=None,
    body=None,
    now=NOW,
):
    if signature is None:
        signature = sign_webhook(secret=SECRET, data_id=data_id, request_id=request_id, ts=NOW)
    return provider.verify_webhook(
        headers=_headers(signature, request_id),
        query={"data.id": data_id, "type": "payment"} if query is None else query,
        body={"type": "payment", "data": {"id": data_id}} if body is None else body,
        now=now,
    )


def _refused(provider, **kwargs) -> WebhookSignatureError:
    with pytest.raises(WebhookSignatureError) as caught:
        _verify(provider, **kwargs)
    assert caught.value.code == "invalid_signature"
    assert caught.value.http_status == 401
    assert caught.value.details == {}  # why it failed is logged, not told to the caller
    return caught.value


def test_sign_webhook_follows_the_documented_manifest():
    assert sign_webhook(secret=SECRET, data_id="987654", request_id="req-1", ts=NOW) == (
        f"ts={NOW},v1=" + _hmac(f"id:987654;request-id:req-1;ts:{NOW};")
    )


def test_sign_webhook_leaves_out_missing_parts():
    assert sign_webhook(secret=SECRET, data_id="987654", request_id="", ts=NOW) == (
        f"ts={NOW},v1=" + _hmac(f"id:987654;ts:{NOW};")
    )
    assert sign_webhook(secret=SECRET, data_id="", request_id="req-1", ts=NOW) == (
        f"ts={NOW},v1=" + _hmac(f"request-id:req-1;ts:{NOW};")
    )


def test_a_signed_notification_returns_the_payment_id_from_the_query(mp):
    assert _verify(mp) == "987654"


def test_the_query_id_wins_over_the_body_id(mp):
    assert _verify(mp, body={"type": "payment", "data": {"id": "111"}}) == "987654"


def test_a_signed_notification_without_query_uses_the_body_id(mp):
    assert _verify(mp, query={}, body={"type": "payment", "data": {"id": 987654}}) == "987654"


def test_header_names_are_case_insensitive(mp):
    signature = sign_webhook(secret=SECRET, data_id="987654", request_id="req-1", ts=NOW)
    external_id = mp.verify_webhook(
        headers={"x-signature": signature, "X-REQUEST-ID": "req-1"},
        query={"data.id": "987654"},
        body={},
        now=NOW,
    )
    assert external_id == "987654"


def test_a_notification_without_request_id_is_signed_without_it(mp):
    signature = f"ts={NOW},v1=" + _hmac(f"id:987654;ts:{NOW};")
    assert _verify(mp, signature=signature, request_id=None) == "987654"


def test_an_alphanumeric_id_is_lowercased_in_the_manifest(mp):
    signature = f"ts={NOW},v1=" + _hmac(f"id:abc123def;request-id:req-1;ts:{NOW};")
    assert _verify(mp, data_id="ABC123def", signature=signature) == "ABC123def"


def test_an_alphanumeric_id_signed_as_sent_is_refused(mp):
    signature = f"ts={NOW},v1=" + _hmac(f"id:ABC123def;request-id:req-1;ts:{NOW};")
    _refused(mp, data_id="ABC123def", signature=signature)


def test_a_wrong_secret_is_refused(mp):
    signature = sign_webhook(secret="other-secret", data_id="987654", request_id="req-1", ts=NOW)
    _refused(mp, signature=signature)


def test_a_tampered_payment_id_is_refused(mp):
    signature = sign_webhook(secret=SECRET, data_id="987654", request_id="req-1", ts=NOW)
    _refused(mp, data_id="987655", signature=signature)


def test_a_tampered_request_id_is_refused(mp):
    signature = sign_webhook(secret=SECRET, data_id="987654", request_id="req-1", ts=NOW)
    _refused(mp, request_id="req-2", signature=signature)


def test_a_missing_signature_header_is_refused(mp):
    with pytest.raises(WebhookSignatureError):
        mp.verify_webhook(
            headers=_headers(None),
            query={"data.id": "987654"},
            body={"data": {"id": "987654"}},
            now=NOW,
        )


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        " ",
        "ts=,v1=abc",
        f"v1={'0' * 64}",
        f"ts={NOW}",
        f"ts={NOW};v1={'0' * 64}",
        f"ts=1,{sign_webhook(secret=SECRET, data_id='987654', request_id='req-1', ts=NOW)}",
        f"ts={NOW},v1={'0' * 64},v1={_hmac(f'id:987654;request-id:req-1;ts:{NOW};')}",
        f"ts={NOW},v1=abc,",
    ],
    ids=[
        "no-pairs",
        "blank",
        "empty-ts",
        "no-ts",
        "no-v1",
        "wrong-separator",
        "duplicate-ts",
        "duplicate-v1",
        "trailing-comma",
    ],
)
def test_a_malformed_signature_header_is_refused(mp, signature):
    _refused(mp, signature=signature)


@pytest.mark.parametrize("ts", [f"{NOW}.5", f"+{NOW}", f" {NOW}_0", "1e9", "١٢٣"])
def test_a_non_integer_ts_is_refused(mp, ts):
    # Signed over the same odd ts, so only the integer check can refuse it.
    signature = f"ts={ts},v1=" + _hmac(f"id:987654;request-id:req-1;ts:{ts.strip()};")
    _refused(mp, signature=signature)


def test_a_non_ascii_v1_is_refused_not_crashed(mp):
    _refused(mp, signature=f"ts={NOW},v1=ñ{'0' * 63}")


def test_a_valid_signature_at_the_edge_of_the_tolerance_is_accepted(mp):
    assert _verify(mp, now=NOW + 300) == "987654"
    assert _verify(mp, now=NOW - 300) == "987654"


def test_a_stale_signature_is_refused(mp):
    _refused(mp, now=NOW + 301)


def test_a_signature_from_the_future_is_refused(mp):
    _refused(mp, now=NOW - 301)


def test_the_tolerance_comes_from_settings(mp, settings):
    settings.MP_WEBHOOK_TOLERANCE_S = 10
    _refused(mp, now=NOW + 11)


def test_the_current_time_is_used_by_default(mp):
    ts = int(time.time())
    signature = sign_webhook(secret=SECRET, data_id="987654", request_id="req-1", ts=ts)
    assert _verify(mp, signature=signature, now=None) == "987654"
    old = sign_webhook(secret=SECRET, data_id="987654", request_id="req-1", ts=ts - 3600)
    _refused(mp, signature=old, now=None)


def test_without_a_configured_secret_every_notification_is_refused(fake):
    provider = MercadoPagoProvider(
        access_token=TOKEN, webhook_secret="", api_url=fake.url, timeout_s=2.0
    )
    # Even one "signed" with the empty secret.
    signature = sign_webhook(secret="", data_id="987654", request_id="req-1", ts=NOW)
    _refused(provider, signature=signature)


def test_a_signed_notification_naming_no_payment_is_refused(mp):
    signature = f"ts={NOW},v1=" + _hmac(f"request-id:req-1;ts:{NOW};")
    _refused(mp, data_id="", signature=signature, query={}, body={"type": "payment"})


# --- Choosing a provider ---------------------------------------------------------------------


def test_get_provider_defaults_to_the_configured_simulated_provider(settings):
    settings.PAYMENT_PROVIDER = "simulated"
    assert isinstance(get_provider(), SimulatedProvider)
    assert get_provider().name == "simulated"


def test_get_provider_builds_mercadopago_from_settings(settings):
    settings.PAYMENT_PROVIDER = "mercadopago"
    settings.MP_ACCESS_TOKEN = TOKEN
    settings.MP_WEBHOOK_SECRET = SECRET
    settings.MP_API_URL = "https://api.mercadopago.example/"
    settings.EXTERNAL_HTTP_TIMEOUT_S = 3.5
    provider = get_provider()
    assert isinstance(provider, MercadoPagoProvider)
    assert provider.name == "mercadopago"
    assert (provider.access_token, provider.webhook_secret) == (TOKEN, SECRET)
    assert provider.api_url == "https://api.mercadopago.example"
    assert provider.timeout_s == 3.5


def test_get_provider_by_name_overrides_the_setting(settings):
    settings.PAYMENT_PROVIDER = "simulated"
    settings.MP_ACCESS_TOKEN = TOKEN
    assert isinstance(get_provider("mercadopago"), MercadoPagoProvider)


def test_mercadopago_without_an_access_token_is_misconfigured(settings):
    settings.MP_ACCESS_TOKEN = ""
    with pytest.raises(ImproperlyConfigured, match="MP_ACCESS_TOKEN"):
        get_provider("mercadopago")


def test_a_non_http_api_url_is_misconfigured(settings):
    settings.MP_ACCESS_TOKEN = TOKEN
    settings.MP_API_URL = "file:///etc/passwd"
    with pytest.raises(ImproperlyConfigured, match="MP_API_URL"):
        get_provider("mercadopago")


def test_an_unknown_provider_is_misconfigured(settings):
    settings.PAYMENT_PROVIDER = "paypal"
    with pytest.raises(ImproperlyConfigured, match="paypal"):
        get_provider()
