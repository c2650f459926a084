"""The simulated checkout page in a real browser, as a buyer opens `checkout_url`: in the
browser's language (Spanish or English), readable on a laptop and a tablet, working under
the Content-Security-Policy, and paying the order with one click."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
from orders.tests.factories import customer_user, drop, make_order
from rappi.testing.browser import SIZES, screenshot, watch_csp

pytestmark = pytest.mark.usefixtures("live_db")

LANGUAGES = {
    "es": {"locale": "es-PE", "title": "Pedido", "approve": "Aprobar pago", "paid": "aprobado"},
    "en": {"locale": "en-GB", "title": "Order", "approve": "Approve payment", "paid": "approved"},
}


@pytest.fixture
def checkout_path(client_for):
    user, customer = customer_user(email="alice@example.pe")
    order = make_order(
        customer=customer,
        by=user,
        drops=[drop(), drop(lat="-16.3891", lng="-71.5456", district="Yanahuara")],
    )
    body = client_for(user).post(f"/api/v1/orders/{order.pk}/checkout").json()
    return order, urlsplit(body["checkout_url"]).path


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_buyer_pays_on_the_checkout_page(browser, live_server, checkout_path, language, size):
    order, path = checkout_path
    words = LANGUAGES[language]
    context = browser.new_context(locale=words["locale"], viewport=SIZES[size])
    page = context.new_page()
    violations = watch_csp(page)
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{words['title']} #{order.pk}")
    expect(page.get_by_text(f"S/ {order.total:.2f}")).to_be_visible()
    screenshot(page, f"checkout-{language}-{size}")
    page.get_by_role("button", name=words["approve"]).click()
    expect(page.get_by_role("status").first).to_contain_text(words["paid"])
    screenshot(page, f"checkout-paid-{language}-{size}")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
    assert violations == []
    context.close()
