"""What most orders tests need besides the personas (the root conftest.py): a customer
with a login named alice, and a fake MercadoPago."""

import pytest

from orders.tests.factories import customer_user
from orders.tests.helpers import MP_SECRET
from rappi.testing.fake_http import FakeHttpServer


@pytest.fixture
def alice(client_for):
    """(client, user, customer) of a customer with a login; some modules narrow it."""
    user, customer = customer_user(email="alice@example.pe")
    return client_for(user), user, customer


@pytest.fixture
def mercadopago(settings):
    """A fake MercadoPago, configured as the payment provider: `fake.payments[id]` is what
    GET /v1/payments/{id} answers (404 for an id it does not hold); `fake.down = True`
    makes it answer 502."""
    with FakeHttpServer() as fake:
        fake.payments, fake.down = {}, False

        def read_payment(req):
            if fake.down:
                return 502, b"Bad Gateway"
            found = fake.payments.get(req.match["id"])
            return (200, found) if found else (404, {"message": "Payment not found"})

        fake.add(
            "POST",
            "/checkout/preferences",
            lambda req: (201, {"id": "pref-1", "init_point": "https://mp.example/checkout/pref-1"}),
        )
        fake.add("GET", r"/v1/payments/(?P<id>[^/]+)", read_payment)
        settings.PAYMENT_PROVIDER = "mercadopago"
        settings.MP_ACCESS_TOKEN = "TEST-token"
        settings.MP_WEBHOOK_SECRET = MP_SECRET
        settings.MP_API_URL = fake.url
        yield fake
