"""The console's order page: facts, drop-offs with their proofs, payments, invoice, runs
and the timeline; the commands the state allows (cancel, adjust price, manual payment,
edit drop-offs), each through its service, a refusal shown as its message and a form's
errors next to its fields; commands the state or the role does not allow are not shown
(and a role without the grant is refused if it posts them); and the session-authenticated
file view of proofs, scoped as the API's downloads are."""

from decimal import Decimal

import pytest
from django.test import Client

from fleet import services as fleet_services
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import RoleFactory, UserFactory
from orders import services
from orders.models import Destination, OrderEvent, OrderStatus, Payment, PaymentStatus
from orders.tests.factories import CustomerFactory, customer_user, drop, make_order
from rappi.testing.concurrency import deadlocked
from rappi.testing.console import console_client, messages_of
from tracking.documents import Evidence
from tracking.tests.factories import small_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(dispatcher):
    """A staff order, pending (not paid yet), with two drop-offs."""
    return make_order(
        customer=CustomerFactory(full_name="Panadería Sol"),
        by=dispatcher,
        drops=[drop(), drop(lat="-16.4100", district="Yanahuara")],
    )


def url(order, action: str = "") -> str:
    return f"/console/orders/{order.pk}/{action}"


def delivered_with_proof(dispatcher):
    """An order delivered on a run, its drop-off's photo stored as proof."""
    driver_login, driver = driver_user(full_name="Ana Ruta")
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    run = fleet_services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(plate="RUN-101"), by=dispatcher
    )
    fleet_services.assignment_start(assignment=run, by=driver_login)
    [destination] = order.destinations.all()
    fleet_services.destination_deliver(
        assignment=run,
        destination_id=destination.pk,
        received_by="Marta Ccama",
        photo=("door.jpg", small_jpeg()),
        by=driver_login,
    )
    order.refresh_from_db()
    return order, run, Evidence.objects.get(destination_id=destination.pk)


# --- What the page shows --------------------------------------------------------------------


def test_the_page_shows_the_order_its_drop_offs_payments_and_timeline(console, order):
    services.order_adjust_price(
        order=order, amount=Decimal("-2.00"), reason="Cliente VIP", by=order.created_by
    )
    order.refresh_from_db()
    services.payment_record_manual(
        order=order, amount=order.total, reference="REC-77", by=order.created_by
    )
    response = console.get(url(order))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Order #{order.pk}" in page
    assert "Panadería Sol" in page
    # The adjustment and its reason.
    assert "Cliente VIP" in page
    assert "S/ -2.00" in page
    assert f"S/ {order.total:.2f}" in page
    assert "Yanahuara" in page
    assert "Marta Ccama" in page
    assert "REC-77" in page
    assert "manual" in page
    assert 'id="order-map" data-map' in page
    assert "map-placeholder" not in page
    # The timeline, oldest first, in sentences.
    texts = [item["text"] for item in response.context["events"]]
    assert texts[0].startswith("Order created")
    assert any("Price adjusted by S/ -2.00 (Cliente VIP)" in text for text in texts)
    assert len(texts) == OrderEvent.objects.filter(order=order).count()


def test_a_delivered_drop_off_shows_its_proof_as_a_thumbnail_opening_full_size(console, dispatcher):
    order, run, proof = delivered_with_proof(dispatcher)
    response = console.get(url(order))
    page = response.content.decode()
    file_url = f"/console/files/{proof.files[0].file_id}/"
    assert f'<a href="{file_url}" target="_blank" rel="noopener">' in page
    assert f'<img src="{file_url}"' in page
    assert "Marta Ccama" in page
    assert "Delivered" in page
    assert f"Run #{run.pk}" in page
    assert "RUN-101" in page
    image = console.get(file_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert "attachment" not in image.get("Content-Disposition", "")
    assert b"".join(image.streaming_content)[:3] == b"\xff\xd8\xff"


def test_an_order_that_does_not_exist_is_a_404_page(console):
    assert console.get("/console/orders/999999/").status_code == 404
    assert console.post("/console/orders/999999/cancel/", {"reason": "x"}).status_code == 404


# --- The file view's scope ---------------------------------------------------------------------


def test_a_staff_role_that_may_not_see_runs_gets_a_404_for_a_proof(dispatcher):
    order, _run, proof = delivered_with_proof(dispatcher)
    clerk = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    file_url = f"/console/files/{proof.files[0].file_id}/"
    assert clerk.get(file_url).status_code == 404
    # Nor is the thumbnail put on the order page, where it would not load.
    assert file_url not in clerk.get(url(order)).content.decode()


def test_an_unknown_or_malformed_file_id_is_a_404(console):
    assert console.get("/console/files/0123456789abcdef01234567/").status_code == 404
    assert console.get("/console/files/not-an-id/").status_code == 404


def test_customers_cannot_open_a_proof_through_the_console_even_their_own(dispatcher):
    order, _run, proof = delivered_with_proof(dispatcher)
    login, customer = customer_user()
    order.customer = customer
    order.save(update_fields=["customer"])
    client = Client()
    client.force_login(login)
    response = client.get(f"/console/files/{proof.files[0].file_id}/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"


# --- Actions shown by state and role ----------------------------------------------------------


def actions_of(response) -> dict:
    return response.context["actions"]


def test_an_unpaid_pending_order_offers_every_action(console, order):
    actions = actions_of(console.get(url(order)))
    assert actions == {
        "cancel": True,
        "adjust_price": True,
        "manual_payment": True,
        "edit_destinations": True,
    }
    page = console.get(url(order)).content.decode()
    for action in ("cancel/", "adjust-price/", "payments/", "destinations/"):
        assert f'action="{url(order, action)}"' in page


def test_a_paid_order_can_no_longer_change_price_nor_drop_offs(console, order):
    services.payment_record_manual(
        order=order, amount=order.total, reference="", by=order.created_by
    )
    page = console.get(url(order))
    assert actions_of(page) == {
        "cancel": True,
        "adjust_price": False,
        "manual_payment": False,
        "edit_destinations": False,
    }
    body = page.content.decode()
    assert "adjust-price/" not in body
    assert "destinations/" not in body
    assert "payments/" not in body


def test_a_delivered_order_offers_no_action(console, dispatcher):
    order, _run, _proof = delivered_with_proof(dispatcher)
    services.payment_record_manual(order=order, amount=order.total, reference="", by=dispatcher)
    response = console.get(url(order))
    assert not any(actions_of(response).values())
    assert "Nothing more can be done on an order that is delivered." in response.content.decode()


def test_a_role_that_only_reads_orders_sees_no_action_and_is_refused_if_it_posts(order):
    reader = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    response = reader.get(url(order))
    assert not any(actions_of(response).values())
    assert "Your role can read orders but not change them." in response.content.decode()
    for action, body in [
        ("cancel/", {"reason": "x"}),
        ("adjust-price/", {"amount": "1", "reason": "x"}),
        ("payments/", {"amount": str(order.total)}),
        ("destinations/", {}),
        (f"destinations/{order.destinations.first().pk}/remove/", {}),
    ]:
        assert reader.post(url(order, action), body).status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert order.destinations.count() == 2


# --- Each action: done, refused -------------------------------------------------------------


def test_cancel_with_a_reason_cancels_the_order(console, order, dispatcher):
    response = console.post(url(order, "cancel/"), {"reason": "Cliente desistió"})
    assert response.status_code == 302
    assert response["Location"] == url(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == "Cliente desistió"
    assert f"Order #{order.pk} cancelled." in messages_of(console.get(url(order)))


def test_cancel_without_a_reason_shows_the_field_error(console, order):
    response = console.post(url(order, "cancel/"), {"reason": ""})
    assert response.status_code == 400
    assert response.context["cancel_form"].errors == {"reason": ["This field is required."]}
    assert "This field is required." in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_a_cancel_that_loses_a_deadlock_is_refused_with_a_message_not_a_crash(
    console, order, monkeypatch
):
    monkeypatch.setattr(services, "order_cancel", deadlocked)
    response = console.post(url(order, "cancel/"), {"reason": "Cliente desistió"})
    assert response.status_code == 302
    [message] = messages_of(console.get(url(order)))
    assert message.startswith("Someone else changed the same records at the same moment")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_cancelling_a_cancelled_order_is_refused_with_the_transition_message(console, order):
    services.order_cancel(order=order, reason="first", by=order.created_by)
    response = console.post(url(order, "cancel/"), {"reason": "again"})
    assert response.status_code == 302
    [message] = messages_of(console.get(url(order)))
    assert message == "An order cannot go from cancelled to cancelled."


def test_adjust_price_sets_the_adjustment_and_its_reason(console, order):
    before = order.total
    response = console.post(url(order, "adjust-price/"), {"amount": "-1.50", "reason": "Demora"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.price_adjustment == Decimal("-1.50")
    assert order.adjustment_reason == "Demora"
    assert order.total == before - Decimal("1.50")
    assert "Price adjusted." in messages_of(console.get(url(order)))


def test_adjusting_a_paid_order_is_refused_with_its_message(console, order):
    services.payment_record_manual(
        order=order, amount=order.total, reference="", by=order.created_by
    )
    response = console.post(url(order, "adjust-price/"), {"amount": "-1.50", "reason": "Demora"})
    assert response.status_code == 302
    assert messages_of(console.get(url(order))) == ["The order already has a paid payment."]
    order.refresh_from_db()
    assert order.price_adjustment == Decimal("0")


def test_adjust_price_with_a_bad_amount_shows_the_field_error(console, order):
    response = console.post(url(order, "adjust-price/"), {"amount": "1.234", "reason": "x"})
    assert response.status_code == 400
    assert "amount" in response.context["adjust_form"].errors


def test_manual_payment_of_the_total_pays_the_order(console, dispatcher):
    login, customer = customer_user()
    order = make_order(customer=customer, by=login)  # pending payment
    page = console.get(url(order))
    assert page.context["payment_form"].initial["amount"] == order.total  # prefilled
    response = console.post(
        url(order, "payments/"), {"amount": str(order.total), "reference": "EF-1"}
    )
    assert response.status_code == 302
    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.PAID
    assert payment.provider == "manual"
    assert payment.reference == "EF-1"
    assert payment.created_by == dispatcher
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert "Payment recorded." in messages_of(console.get(url(order)))


def test_a_manual_payment_of_another_amount_is_refused_with_its_message(console, order):
    response = console.post(url(order, "payments/"), {"amount": "1.00"})
    assert response.status_code == 302
    assert messages_of(console.get(url(order))) == ["The amount must equal the order total."]
    assert not Payment.objects.filter(order=order).exists()


def drop_form(**changes) -> dict:
    body = {
        "line": "Calle Mercaderes 120",
        "district": "Cercado",
        "lat": "-16.3985",
        "lng": "-71.5360",
        "recipient_name": "Rosa Quispe",
        "recipient_phone": "+51 959 555 666",
        "weight_kg": "3.5",
        "length_cm": "30",
        "width_cm": "20",
        "height_cm": "10",
        "description": "Libros",
    }
    return {**body, **changes}


def test_adding_a_drop_off_prices_the_order_again(console, order):
    before = order.total
    response = console.post(url(order, "destinations/"), drop_form())
    assert response.status_code == 302
    added = order.destinations.get(sequence=3)
    assert added.recipient_name == "Rosa Quispe"
    assert added.weight_kg == Decimal("3.5")
    assert added.length_cm == Decimal("30")
    assert added.description == "Libros"
    order.refresh_from_db()
    assert order.total > before
    assert "Drop-off added; the order was priced again." in messages_of(console.get(url(order)))


def test_a_drop_off_with_missing_fields_shows_their_errors_and_keeps_what_was_typed(console, order):
    response = console.post(url(order, "destinations/"), drop_form(recipient_name="", lat="-95"))
    assert response.status_code == 400
    form = response.context["add_form"]
    assert set(form.errors) == {"recipient_name", "lat"}
    page = response.content.decode()
    assert 'value="Calle Mercaderes 120"' in page
    assert '<details class="edit" open>' in page
    assert order.destinations.count() == 2


def test_adding_a_drop_off_to_an_order_in_a_run_is_refused_with_its_message(
    console, order, dispatcher
):
    _login, driver = driver_user()
    fleet_services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    response = console.post(url(order, "destinations/"), drop_form())
    assert response.status_code == 302
    assert messages_of(console.get(url(order))) == [
        "Only orders pending payment or pending can be edited."
    ]
    assert order.destinations.count() == 2


def test_editing_a_drop_off_saves_it_and_prices_again(console, order):
    first = order.destinations.get(sequence=1)
    response = console.post(url(order, f"destinations/{first.pk}/"), drop_form(weight_kg="40"))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.weight_kg == Decimal("40")
    assert first.line == "Calle Mercaderes 120"
    assert "Drop-off 1 saved; the order was priced again." in messages_of(console.get(url(order)))


def test_editing_a_drop_off_with_a_bad_value_shows_the_error_on_that_drop_off(console, order):
    first = order.destinations.get(sequence=1)
    response = console.post(url(order, f"destinations/{first.pk}/"), drop_form(weight_kg="0"))
    assert response.status_code == 400
    [shown] = [d for d in response.context["destinations"] if d.pk == first.pk]
    assert shown.form_open
    assert "weight_kg" in shown.form.errors
    first.refresh_from_db()
    assert first.weight_kg == Decimal("2.0")


def test_editing_a_drop_off_of_a_paid_order_is_refused_with_its_message(console, order):
    services.payment_record_manual(
        order=order, amount=order.total, reference="", by=order.created_by
    )
    first = order.destinations.get(sequence=1)
    response = console.post(url(order, f"destinations/{first.pk}/"), drop_form())
    assert response.status_code == 302
    assert messages_of(console.get(url(order))) == ["The order already has a paid payment."]


def test_removing_a_drop_off_closes_the_gap(console, order):
    first = order.destinations.get(sequence=1)
    response = console.post(url(order, f"destinations/{first.pk}/remove/"))
    assert response.status_code == 302
    assert list(order.destinations.values_list("sequence", "district")) == [(1, "Yanahuara")]
    assert "Drop-off 1 removed; the order was priced again." in messages_of(console.get(url(order)))


def test_removing_the_last_drop_off_is_refused_with_its_message(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    [only] = order.destinations.all()
    response = console.post(url(order, f"destinations/{only.pk}/remove/"))
    assert response.status_code == 302
    assert messages_of(console.get(url(order))) == ["An order needs at least one destination."]
    assert Destination.objects.filter(pk=only.pk).exists()


def test_a_drop_off_of_another_order_is_a_404(console, order, dispatcher):
    other = make_order(customer=CustomerFactory(), by=dispatcher)
    foreign = other.destinations.first()
    assert console.post(url(order, f"destinations/{foreign.pk}/"), drop_form()).status_code == 404
    assert console.post(url(order, f"destinations/{foreign.pk}/remove/")).status_code == 404
    assert other.destinations.count() == 1
