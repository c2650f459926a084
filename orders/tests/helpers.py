"""What several orders test modules do (and fleet's, for the timeline): pay through the
fake MercadoPago (orders/tests/conftest.py), read an order's timeline, send an order out
on a run."""

import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from fleet import services as fleet_services
from fleet.models import Assignment
from fleet.tests.factories import VehicleFactory, driver_user
from orders.models import OrderEvent, OrderStatus, Payment
from orders.payment_providers import sign_webhook
from orders.tests.factories import CustomerFactory, drop, make_order

# --- Payments through the fake MercadoPago --------------------------------------------------

# The webhook secret the `mercadopago` fixture configures.
MP_SECRET = "whsec-test"


def open_checkout(client, order) -> Payment:
    """The order's checkout, opened by `client` (its customer)."""
    response = client.post(f"/api/v1/orders/{order.pk}/checkout")
    assert response.status_code == 200, response.content
    return Payment.objects.get(pk=response.json()["payment"]["id"])


def mp_holds(fake, mp_id: str, checkout: Payment, status="approved", amount=None, **extra):
    """MercadoPago holds payment `mp_id`, made on `checkout`'s preference."""
    fake.payments[mp_id] = {
        "id": int(mp_id),
        "status": status,
        "external_reference": str(checkout.pk),
        "transaction_amount": float(checkout.amount if amount is None else amount),
        "currency_id": checkout.currency,
        "date_approved": "2026-11-22T10:00:00.000-05:00" if status == "approved" else None,
        **extra,
    }


def mp_webhook(api, mp_id: str, request_id="req-1"):
    """MercadoPago's signed notice that payment `mp_id` changed."""
    headers = {
        "HTTP_X_REQUEST_ID": request_id,
        "HTTP_X_SIGNATURE": sign_webhook(
            secret=MP_SECRET, data_id=mp_id, request_id=request_id, ts=int(time.time())
        ),
    }
    return api.post(
        f"/api/v1/payments/webhooks/mercadopago?data.id={mp_id}&type=payment",
        {"type": "payment", "data": {"id": mp_id}},
        format="json",
        **headers,
    )


# --- The order timeline ---------------------------------------------------------------------


def events_of(order) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(order_id=order.pk).order_by("at", "id"))


@contextmanager
def records(order, *types):
    """The block writes exactly these events on `order` (in this order); the new events
    are in the yielded list afterwards."""
    before = {event.pk for event in events_of(order)}
    new: list[OrderEvent] = []
    yield new
    new += [event for event in events_of(order) if event.pk not in before]
    assert [event.type for event in new] == list(types)


# --- Out on a run ---------------------------------------------------------------------------


def on_its_way(dispatcher, capture, *, drops: int = 2, plate: str = "ABC-123"):
    """An order with `drops` drop-offs on a run in progress (its route planned), and the
    run; `capture` is pytest-django's django_capture_on_commit_callbacks."""
    order = make_order(
        customer=CustomerFactory(full_name="Panadería Sol"),
        by=dispatcher,
        drops=[drop(lat=f"-16.{4100 + i * 60}", lng=f"-71.{5217 - i * 40}") for i in range(drops)],
    )
    _login, driver = driver_user(full_name="Ana Ruta")
    with capture(execute=True):
        run = fleet_services.assignment_create(
            orders=[order],
            driver=driver,
            vehicle=VehicleFactory(plate=plate, capacity_kg=Decimal("500")),
            by=dispatcher,
        )
        fleet_services.assignment_start(assignment=run, by=dispatcher)
    Assignment.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_TRANSIT
    return order, Assignment.objects.get(pk=run.pk)
