"""The order timeline: each change of an order writes exactly one event, in the change's
transaction; `GET /api/v1/orders/{id}/events` lists them oldest first, scoped like the
order, without staff-only data for customers. The run's changes (assign, start, deliver,
fail, finish, reopen) are tested in fleet/tests/test_timeline.py."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import translation

from fleet.tests.factories import driver_user
from orders import services, timeline
from orders.models import Order, OrderEvent, OrderEventType
from orders.tests.factories import customer_user, drop, make_order, order_body
from orders.tests.helpers import events_of, mp_holds, mp_webhook, open_checkout, records

pytestmark = pytest.mark.django_db


def status(order) -> str:
    return Order.objects.get(pk=order.pk).status


@pytest.fixture
def order(alice):
    """Alice's own order, waiting for her payment."""
    _client, user, customer = alice
    return make_order(customer=customer, by=user, drops=[drop(), drop(lat="-16.4100")])


# --- One event per change -----------------------------------------------------------------


def test_a_customer_creating_an_order_records_created_by_the_customer(alice):
    client, user, _customer = alice
    response = client.post("/api/v1/orders/", order_body(), format="json")
    assert response.status_code == 201, response.content
    (event,) = events_of(Order.objects.get(pk=response.json()["id"]))
    assert (event.type, event.from_status, event.to_status) == ("created", "", "pending_payment")
    assert (event.actor_id, event.actor_role) == (user.pk, "customer")
    assert event.data == {
        "total": response.json()["total"],
        "currency": "PEN",
        "service_level": "standard",
        "destinations": 2,
    }


def test_staff_creating_an_order_records_created_pending_by_staff(alice, dispatcher):
    _client, _user, customer = alice
    order = make_order(customer=customer, by=dispatcher)
    (event,) = events_of(order)
    assert (event.type, event.to_status, event.actor_role) == ("created", "pending", "staff")


def test_editing_the_order_records_one_repriced_event_with_both_totals(alice, order):
    client, user, _customer = alice
    with records(order, "repriced") as new:
        response = client.patch(
            f"/api/v1/orders/{order.pk}", {"service_level": "urgent"}, format="json"
        )
    assert response.status_code == 200, response.content
    (event,) = new
    assert event.data["change"] == "order_updated"
    assert event.data["fields"] == ["service_level"]
    assert event.data["from_total"] == f"{order.total:.2f}"
    assert event.data["to_total"] == response.json()["total"] != event.data["from_total"]
    assert (event.actor_id, event.from_status, event.to_status) == (user.pk, "", "")


def test_adding_editing_and_removing_a_drop_off_record_one_repriced_event_each(alice, order):
    client, _user, _customer = alice
    base = f"/api/v1/orders/{order.pk}/destinations/"
    with records(order, "repriced") as added:
        response = client.post(base, drop(weight="4"), format="json")
    assert response.status_code == 201, response.content
    new_id = response.json()["id"]
    assert added[0].data["change"] == "destination_added"
    assert (added[0].destination_id, added[0].data["sequence"]) == (new_id, 3)

    with records(order, "repriced") as edited:
        response = client.patch(f"{base}{new_id}", {"recipient_name": "Ana"}, format="json")
    assert response.status_code == 200, response.content
    assert edited[0].data["change"] == "destination_updated"
    assert edited[0].data["fields"] == ["recipient_name"]

    first = order.destinations.get(sequence=1)
    with records(order, "repriced") as removed:
        assert client.delete(f"{base}{first.pk}").status_code == 204
    assert removed[0].data["change"] == "destination_removed"
    assert (removed[0].data["destination_id"], removed[0].data["sequence"]) == (first.pk, 1)
    assert removed[0].destination_id is None  # the drop-off is gone
    # The earlier events keep the drop-off they were about, while it exists.
    assert OrderEvent.objects.get(pk=edited[0].pk).destination_id == new_id


def test_a_refused_edit_records_nothing(alice, dispatcher):
    client, _user, customer = alice
    order = make_order(customer=customer, by=dispatcher)
    services.payment_record_manual(order=order, amount=order.total, reference="r", by=dispatcher)
    with records(order):
        response = client.patch(f"/api/v1/orders/{order.pk}", {"notes": "x"}, format="json")
    assert response.status_code == 409


def test_a_price_adjustment_records_amount_totals_reason_and_who(order, dispatcher_api):
    with records(order, "price_adjusted") as new:
        response = dispatcher_api.post(
            f"/api/v1/orders/{order.pk}/adjust-price",
            {"amount": "-2.50", "reason": "Cliente frecuente"},
            format="json",
        )
    assert response.status_code == 200, response.content
    (event,) = new
    assert event.data == {
        "amount": "-2.50",
        "reason": "Cliente frecuente",
        "from_total": f"{order.total:.2f}",
        "to_total": response.json()["total"],
        "currency": "PEN",
    }
    assert event.actor_role == "staff"
    assert event.actor_id is not None


def test_a_simulated_payment_records_paid_by_the_system(alice, order):
    client, _user, _customer = alice
    payment = open_checkout(client, order)
    with records(order, "paid") as new:
        response = client.post(
            f"/api/v1/payments/{payment.pk}/simulate", {"outcome": "approved"}, format="json"
        )
    assert response.status_code == 200, response.content
    (event,) = new
    assert (event.from_status, event.to_status) == ("pending_payment", "pending")
    assert (event.actor_id, event.actor_role) == (None, "system")
    assert event.data == {
        "payment_id": payment.pk,
        "amount": f"{order.total:.2f}",
        "currency": "PEN",
        "provider": "simulated",
    }


def test_a_declined_simulated_payment_records_payment_declined(alice, order):
    client, _user, _customer = alice
    payment = open_checkout(client, order)
    with records(order, "payment_declined") as new:
        response = client.post(
            f"/api/v1/payments/{payment.pk}/simulate", {"outcome": "rejected"}, format="json"
        )
    assert response.status_code == 200, response.content
    assert new[0].to_status == ""
    assert new[0].data["payment_id"] == payment.pk
    with records(order):  # declining it again changes nothing, records nothing
        client.post(
            f"/api/v1/payments/{payment.pk}/simulate", {"outcome": "rejected"}, format="json"
        )


def test_a_declined_card_then_an_approved_one_on_mercadopago_record_one_event_each(
    api, alice, order, mercadopago
):
    client, _user, _customer = alice
    checkout = open_checkout(client, order)
    mp_holds(mercadopago, "111", checkout, status="rejected")
    with records(order, "payment_declined") as declined:
        assert mp_webhook(api, "111").status_code == 200
    assert declined[0].data["checkout_id"] == checkout.pk
    mp_holds(mercadopago, "222", checkout)
    with records(order, "paid") as paid:
        assert mp_webhook(api, "222").status_code == 200
        assert mp_webhook(api, "222", request_id="req-2").status_code == 200  # repeated
    assert paid[0].data["provider"] == "mercadopago"
    assert paid[0].actor_role == "system"


def test_a_manual_payment_of_an_order_pending_payment_records_paid_with_its_transition(
    order, dispatcher_api
):
    with records(order, "paid") as new:
        response = dispatcher_api.post(
            f"/api/v1/orders/{order.pk}/payments",
            {"amount": str(order.total), "reference": "Caja 0042"},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert (new[0].from_status, new[0].to_status) == ("pending_payment", "pending")
    assert (new[0].data["provider"], new[0].data["reference"]) == ("manual", "Caja 0042")
    assert new[0].actor_role == "staff"


def test_a_manual_payment_of_a_staff_order_records_paid_without_a_status_change(alice, dispatcher):
    _client, _user, customer = alice
    order = make_order(customer=customer, by=dispatcher)
    with records(order, "paid") as new:
        services.payment_record_manual(
            order=order, amount=order.total, reference="Caja", by=dispatcher
        )
    assert (new[0].from_status, new[0].to_status) == ("", "")


def test_a_fully_discounted_order_is_paid_by_its_checkout(alice, order, dispatcher):
    client, user, _customer = alice
    services.order_adjust_price(order=order, amount=Decimal("-999"), reason="gift", by=dispatcher)
    with records(order, "paid") as new:
        assert client.post(f"/api/v1/orders/{order.pk}/checkout").status_code == 200
    assert new[0].data["provider"] == "free"
    assert (new[0].actor_id, new[0].actor_role, new[0].to_status) == (
        user.pk,
        "customer",
        "pending",
    )


def test_cancelling_records_one_event_with_the_reason_and_the_failed_drop_offs(alice, order):
    client, user, _customer = alice
    with records(order, "cancelled") as new:
        response = client.post(
            f"/api/v1/orders/{order.pk}/cancel", {"reason": "Cambio de planes"}, format="json"
        )
    assert response.status_code == 200, response.content
    (event,) = new
    assert (event.from_status, event.to_status) == ("pending_payment", "cancelled")
    assert event.data == {
        "reason": "Cambio de planes",
        "failed_destination_ids": sorted(order.destinations.values_list("pk", flat=True)),
    }
    assert (event.actor_id, event.actor_role) == (user.pk, "customer")


def test_an_illegal_transition_records_nothing(alice, order):
    client, _user, _customer = alice
    client.post(f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}, format="json")
    with records(order):
        response = client.post(f"/api/v1/orders/{order.pk}/cancel", {"reason": "y"}, format="json")
    assert response.status_code == 409


# --- Same transaction -------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_a_change_rolled_back_takes_its_event_with_it(order, dispatcher):
    def cancel_then_fail():
        with transaction.atomic():
            services.order_cancel(order=order, reason="x", by=dispatcher)
            assert [e.type for e in events_of(order)] == ["created", "cancelled"]
            raise Boom

    with records(order), pytest.raises(Boom):
        cancel_then_fail()
    assert status(order) == "pending_payment"


def test_a_payment_refused_after_its_checks_records_nothing(order, dispatcher):
    with records(order), pytest.raises(Exception, match="amount"):
        services.payment_record_manual(
            order=order, amount=order.total + 1, reference="r", by=dispatcher
        )


def test_an_event_cannot_be_recorded_outside_a_transaction(order, monkeypatch):
    # Tests run inside a transaction: the connection is shown as in autocommit.
    monkeypatch.setattr(timeline, "connection", SimpleNamespace(in_atomic_block=False))
    with pytest.raises(RuntimeError):
        timeline.order_event_record(order=order, type="status_changed")


# --- Reading: GET /api/v1/orders/{id}/events --------------------------------------------------


def _adjusted_and_paid(order, dispatcher):
    services.order_adjust_price(
        order=order, amount=Decimal("-1.00"), reason="Cliente frecuente", by=dispatcher
    )
    order.refresh_from_db()
    services.payment_record_manual(
        order=order, amount=order.total, reference="Caja 0042", by=dispatcher
    )


def test_the_customer_reads_its_orders_events_oldest_first(alice, order, dispatcher):
    client, user, _customer = alice
    _adjusted_and_paid(order, dispatcher)
    response = client.get(f"/api/v1/orders/{order.pk}/events")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert body["next"] is None
    assert [e["type"] for e in body["results"]] == ["created", "price_adjusted", "paid"]
    first = body["results"][0]
    assert set(first) == {
        "id",
        "order_id",
        "destination_id",
        "type",
        "from_status",
        "to_status",
        "actor_id",
        "actor_role",
        "data",
        "description",
        "at",
    }
    assert (first["order_id"], first["from_status"], first["to_status"]) == (
        order.pk,
        None,
        "pending_payment",
    )
    assert first["actor_id"] == user.pk  # its own doing


def test_customers_do_not_see_who_adjusted_a_price_nor_why_nor_staff_references(
    alice, order, dispatcher
):
    client, _user, _customer = alice
    _adjusted_and_paid(order, dispatcher)
    adjusted, paid = client.get(f"/api/v1/orders/{order.pk}/events").json()["results"][1:]
    assert adjusted["actor_role"] == "staff"
    assert adjusted["actor_id"] is None
    assert "reason" not in adjusted["data"]
    assert adjusted["data"]["amount"] == "-1.00"
    assert "Cliente frecuente" not in adjusted["description"]
    assert paid["actor_id"] is None
    assert "reference" not in paid["data"]
    assert "Caja 0042" not in paid["description"]


def test_staff_see_every_detail(alice, order, dispatcher, client_for):
    _adjusted_and_paid(order, dispatcher)
    response = client_for(dispatcher).get(f"/api/v1/orders/{order.pk}/events")
    adjusted, paid = response.json()["results"][1:]
    assert adjusted["actor_id"] == dispatcher.pk
    assert adjusted["data"]["reason"] == "Cliente frecuente"
    assert "Cliente frecuente" in adjusted["description"]
    assert paid["data"]["reference"] == "Caja 0042"
    assert "Caja 0042" in paid["description"]


def test_another_customers_order_is_not_found(order, client_for):
    other, _customer = customer_user()
    response = client_for(other).get(f"/api/v1/orders/{order.pk}/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_driver_is_refused_as_for_the_order_itself(order, client_for):
    # Drivers have no orders:read: they follow their runs, not orders.
    user, _driver = driver_user()
    client = client_for(user)
    assert client.get(f"/api/v1/orders/{order.pk}").status_code == 403
    assert client.get(f"/api/v1/orders/{order.pk}/events").status_code == 403


def test_no_such_order_is_not_found(dispatcher_api):
    assert dispatcher_api.get("/api/v1/orders/999999/events").status_code == 404


def test_signed_out_callers_are_refused(api, order):
    assert api.get(f"/api/v1/orders/{order.pk}/events").status_code == 401


def test_events_are_paged_like_other_lists(alice, order, dispatcher):
    client, _user, _customer = alice
    _adjusted_and_paid(order, dispatcher)
    body = client.get(f"/api/v1/orders/{order.pk}/events?page_size=2&page=2").json()
    assert body["count"] == 3
    assert body["previous"] is not None
    assert [e["type"] for e in body["results"]] == ["paid"]
    response = client.get(f"/api/v1/orders/{order.pk}/events?ordering=-at")
    assert response.status_code == 400  # oldest first, always


def _many_events(order, count):
    for index in range(count):
        timeline.order_event_record(order=order, type="status_changed", data={"n": index})


@pytest.mark.parametrize("count", [1, 50])
def test_reading_events_costs_the_same_queries_for_1_or_50(
    alice, order, dispatcher_api, count, django_assert_max_num_queries
):
    client, _user, _customer = alice
    _many_events(order, count - 1)  # with its `created`
    for caller in (client, dispatcher_api):
        with django_assert_max_num_queries(7):
            body = caller.get(f"/api/v1/orders/{order.pk}/events?page_size=200").json()
        assert body["count"] == count


def test_the_selector_is_empty_for_someone_elses_order(order):
    from orders.selectors import order_event_list_for

    other, _customer = customer_user()
    assert not order_event_list_for(user=other, order=order).exists()


# --- In words ------------------------------------------------------------------------------------


def test_events_read_as_sentences_in_spanish_and_english(order, dispatcher):
    _adjusted_and_paid(order, dispatcher)
    created, adjusted, paid = events_of(order)
    with translation.override("en"):
        assert timeline.describe(created).startswith("Order created: S/ ")
        assert timeline.describe(adjusted, for_staff=False).startswith(
            "Price adjusted by S/ -1.00; total S/ "
        )
        assert timeline.describe(paid) == f"Paid S/ {paid.data['amount']} at the office (Caja 0042)"
    with translation.override("es"):
        assert timeline.describe(created).startswith("Pedido creado: S/ ")
        assert "Cliente frecuente" in timeline.describe(adjusted)
        assert timeline.describe(paid, for_staff=False) == (
            f"Pagado S/ {paid.data['amount']} en oficina"
        )


def test_the_api_describes_events_in_the_requested_language(alice, order):
    client, _user, _customer = alice
    response = client.get(f"/api/v1/orders/{order.pk}/events", headers={"Accept-Language": "es"})
    assert response.json()["results"][0]["description"].startswith("Pedido creado: S/ ")


SAMPLE_DATA = {
    "created": {"total": "18.50", "currency": "PEN", "service_level": "standard"},
    "repriced": {"change": "destination_added", "sequence": 2, "to_total": "20.00"},
    "price_adjusted": {"amount": "-2.00", "to_total": "16.50", "reason": "SECRET-R"},
    "paid": {"amount": "18.50", "provider": "manual", "reference": "SECRET-REF"},
    "payment_declined": {"amount": "18.50", "provider": "simulated"},
    "assigned": {"assignment_id": 7, "driver_name": "Pedro", "vehicle_plate": "V1A-123"},
    "unassigned": {"assignment_id": 7, "reason": "SECRET-RUN"},
    "run_started": {"assignment_id": 7},
    "delivered": {"assignment_id": 7, "sequence": 1, "received_by": "Marta"},
    "failed": {"assignment_id": 7, "sequence": 1, "reason": "Nadie", "incident_id": 3},
    "run_finished": {"assignment_id": 7, "reason": "Avería", "failed_destination_ids": [1, 2]},
    "cancelled": {"reason": "Cambio de planes"},
    "reopened": {"assignment_id": 7},
    "rated": {"score": 5},
    "status_changed": {},
}


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", OrderEventType.values)
def test_every_kind_of_event_reads_as_a_whole_sentence(order, kind, language):
    event = OrderEvent(
        order=order,
        type=kind,
        from_status="in_transit",
        to_status="delivered",
        actor_role="staff",
        data=SAMPLE_DATA[kind],
    )
    with translation.override(language):
        for for_staff in (True, False):
            sentence = timeline.describe(event, for_staff=for_staff)
            assert sentence
            assert "%(" not in sentence
            assert "None" not in sentence
            if not for_staff:
                assert "SECRET" not in sentence
