"""Customers and addresses (own record only), the customer ↔ login cascade, invoices with
RUC validation, ratings once per delivered order, and the tariff."""

import pytest

from identity.models import User
from identity.tests.factories import UserFactory
from orders.models import Address, Customer, Invoice, Order, Rating
from orders.tests.factories import CustomerFactory, customer_user, make_order

pytestmark = pytest.mark.django_db

VALID_RUC = "20100070970"


@pytest.fixture
def bob():
    return customer_user(email="bob@example.pe")


def _address(**overrides):
    return {
        "label": "Casa",
        "line": "Calle Jerusalén 402",
        "district": "Cercado",
        "lat": -16.3955,
        "lng": -71.5358,
        **overrides,
    }


def test_a_customer_sees_and_edits_only_its_own_record(alice, bob):
    client, _user, customer = alice
    _bob_user, bob_customer = bob
    assert [c["id"] for c in client.get("/api/v1/customers/").json()["results"]] == [customer.pk]
    assert client.get(f"/api/v1/customers/{bob_customer.pk}").status_code == 404
    assert (
        client.patch(
            f"/api/v1/customers/{bob_customer.pk}", {"phone": "1"}, format="json"
        ).status_code
        == 404
    )
    response = client.patch(
        f"/api/v1/customers/{customer.pk}", {"phone": "+51 1 234"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "+51 1 234"


def test_addresses_have_one_primary(alice):
    client, _user, customer = alice
    base = f"/api/v1/customers/{customer.pk}/addresses"
    first = client.post(base, _address(), format="json").json()
    assert first["is_primary"] is True  # the first one is primary
    second = client.post(base, _address(label="Oficina", is_primary=True), format="json")
    assert second.status_code == 201, second.content
    second = second.json()
    listed = {a["label"]: a["is_primary"] for a in client.get(base).json()}
    assert listed == {"Casa": False, "Oficina": True}
    assert client.delete(f"{base}/{second['id']}").status_code == 204
    assert client.get(base).json()[0]["is_primary"] is True


def _admin_rows(*rows: dict, initial: int = 0) -> dict:
    """The customer admin's address inline, posted: `rows` as the formset's forms."""
    data = {"addresses-TOTAL_FORMS": str(len(rows)), "addresses-INITIAL_FORMS": str(initial)}
    for index, row in enumerate(rows):
        data.update({f"addresses-{index}-{name}": value for name, value in row.items()})
    return data


def test_a_customer_added_in_the_admin_has_its_first_address_primary_as_through_the_api(
    admin_site,
):
    response = admin_site.post(
        "/admin/orders/customer/add/",
        {
            "full_name": "Rosa Quispe",
            "email": "",
            "phone": "",
            "tax_id": "",
            "is_active": "on",
            **_admin_rows(_address()),
        },
    )

    assert response.status_code == 302, response.content
    customer = Customer.objects.get(full_name="Rosa Quispe")
    assert [(a.label, a.is_primary) for a in customer.addresses.all()] == [("Casa", True)]


def test_a_primary_address_removed_in_the_admin_hands_over_as_through_the_api(admin_site):
    customer = CustomerFactory()
    first = Address.objects.create(customer=customer, is_primary=True, **_address())
    second = Address.objects.create(customer=customer, **_address(label="Oficina"))
    rows = [
        {**_address(), "id": first.pk, "customer": customer.pk, "is_primary": "on", "DELETE": "on"},
        {**_address(label="Oficina"), "id": second.pk, "customer": customer.pk},
    ]
    response = admin_site.post(
        f"/admin/orders/customer/{customer.pk}/change/",
        {
            "full_name": customer.full_name,
            "email": customer.email,
            "phone": customer.phone,
            "tax_id": customer.tax_id,
            "is_active": "on",
            **_admin_rows(*rows, initial=2),
        },
    )

    assert response.status_code == 302, response.content
    assert [(a.label, a.is_primary) for a in customer.addresses.all()] == [("Oficina", True)]


def test_address_coordinates_are_validated(alice):
    client, _user, customer = alice
    response = client.post(
        f"/api/v1/customers/{customer.pk}/addresses", _address(lat=-95), format="json"
    )
    assert response.status_code == 400
    assert "lat" in response.json()["error"]["details"]["fields"]


def test_another_customers_addresses_are_404(alice, bob):
    client, *_ = alice
    _bob_user, bob_customer = bob
    base = f"/api/v1/customers/{bob_customer.pk}/addresses"
    assert client.get(base).status_code == 404
    assert client.post(base, _address(), format="json").status_code == 404


def test_deactivating_a_customer_deactivates_its_login(dispatcher_api, alice):
    client, user, customer = alice
    assert dispatcher_api.delete(f"/api/v1/customers/{customer.pk}").status_code == 204
    assert User.objects.get(pk=user.pk).is_active is False
    assert client.get("/api/v1/auth/me").status_code == 401


def test_deactivating_a_login_deactivates_its_customer(alice, admin_api):
    _client, user, customer = alice
    admin_api.delete(f"/api/v1/users/{user.pk}")
    assert Customer.objects.get(pk=customer.pk).is_active is False
    admin_api.patch(f"/api/v1/users/{user.pk}", {"is_active": True}, format="json")
    assert Customer.objects.get(pk=customer.pk).is_active is True


def test_giving_the_customer_role_links_a_customer_record(admin_api):
    walk_in = CustomerFactory(email="walkin@example.pe")
    user = UserFactory(email="walkin@example.pe", role_name="dispatcher")
    admin_api.patch(f"/api/v1/users/{user.pk}", {"role": "customer"}, format="json")
    walk_in.refresh_from_db()
    assert walk_in.user_id == user.pk  # re-linked by email, not duplicated
    assert Customer.objects.filter(email="walkin@example.pe").count() == 1


def test_customers_cannot_create_customers_or_reactivate(alice):
    client, _user, customer = alice
    assert client.post("/api/v1/customers/", {"full_name": "X"}, format="json").status_code == 403
    assert (
        client.patch(
            f"/api/v1/customers/{customer.pk}", {"is_active": False}, format="json"
        ).status_code
        == 403
    )


# --- Invoices ----------------------------------------------------------------------------


def _paid_order(customer, by):
    order = make_order(customer=customer, by=by)
    from orders import services

    services.payment_record_manual(
        order=order, amount=order.total, reference="t", by=UserFactory(role_name="dispatcher")
    )
    return order


def test_a_customer_invoices_its_paid_order(alice):
    client, user, customer = alice
    order = _paid_order(customer, user)
    response = client.post(
        "/api/v1/invoices/",
        {"order_id": order.pk, "ruc": VALID_RUC, "business_name": "Alice SAC"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith("F001-")
    assert body["amount"] == str(order.total)
    again = client.post(
        "/api/v1/invoices/",
        {"order_id": order.pk, "ruc": VALID_RUC, "business_name": "X"},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invoice_exists"


@pytest.mark.parametrize("ruc", ["2010007097", "20100070971", "30100070970", "2010007097A"])
def test_invalid_rucs_are_refused(alice, ruc):
    client, user, customer = alice
    order = _paid_order(customer, user)
    response = client.post(
        "/api/v1/invoices/", {"order_id": order.pk, "ruc": ruc, "business_name": "X"}, format="json"
    )
    assert response.status_code == 400
    assert "ruc" in response.json()["error"]["details"]["fields"]
    assert not Invoice.objects.exists()


def test_unpaid_orders_are_not_invoiced(alice):
    client, user, customer = alice
    order = make_order(customer=customer, by=user)
    response = client.post(
        "/api/v1/invoices/",
        {"order_id": order.pk, "ruc": VALID_RUC, "business_name": "X"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_paid"


def test_another_customers_invoices_are_404(alice, bob, client_for):
    _client, user, customer = alice
    order = _paid_order(customer, user)
    invoice = _client.post(
        "/api/v1/invoices/",
        {"order_id": order.pk, "ruc": VALID_RUC, "business_name": "A"},
        format="json",
    ).json()
    bob_user, _bob_customer = bob
    other = client_for(bob_user)
    assert other.get(f"/api/v1/invoices/{invoice['id']}").status_code == 404
    assert other.get("/api/v1/invoices/").json()["count"] == 0
    refused = other.post(
        "/api/v1/invoices/",
        {"order_id": order.pk, "ruc": VALID_RUC, "business_name": "B"},
        format="json",
    )
    assert refused.status_code == 404


def test_ruc_lookup_endpoint(alice):
    client, *_ = alice
    assert client.get(f"/api/v1/invoices/ruc/{VALID_RUC}").json()["valid"] is True
    body = client.get("/api/v1/invoices/ruc/20100070971").json()
    assert body["valid"] is False
    assert body["reason"]


# --- Ratings ----------------------------------------------------------------------------


def test_a_delivered_order_is_rated_once_by_its_customer(alice, client_for, bob):
    client, user, customer = alice
    order = make_order(customer=customer, by=user)
    early = client.post(f"/api/v1/orders/{order.pk}/rating", {"score": 5}, format="json")
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "order_not_delivered"
    Order.objects.filter(pk=order.pk).update(status="delivered")
    rated = client.post(
        f"/api/v1/orders/{order.pk}/rating", {"score": 4, "comment": "Bien"}, format="json"
    )
    assert rated.status_code == 201
    assert rated.json()["score"] == 4
    again = client.post(f"/api/v1/orders/{order.pk}/rating", {"score": 1}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_rated"
    bob_user, _ = bob
    assert (
        client_for(bob_user)
        .post(f"/api/v1/orders/{order.pk}/rating", {"score": 1}, format="json")
        .status_code
        == 404
    )
    assert Rating.objects.get(order=order).score == 4


@pytest.mark.parametrize("score", [0, 6, "five"])
def test_scores_are_1_to_5(alice, score):
    client, user, customer = alice
    order = make_order(customer=customer, by=user)
    Order.objects.filter(pk=order.pk).update(status="delivered")
    assert (
        client.post(
            f"/api/v1/orders/{order.pk}/rating", {"score": score}, format="json"
        ).status_code
        == 400
    )


# --- Tariff --------------------------------------------------------------------------------


def test_admin_edits_the_tariff_and_prices_follow(alice, admin_api):
    response = admin_api.put(
        "/api/v1/tariff",
        {"base_fare": "50.00", "peak_windows": [{"start": "07:00", "end": "09:00"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["base_fare"] == "50.00"
    assert response.json()["updated_by"]
    _client, user, customer = alice
    assert make_order(customer=customer, by=user).legs_total >= 50


def test_dispatchers_read_but_do_not_change_the_tariff(dispatcher_api):
    assert dispatcher_api.get("/api/v1/tariff").status_code == 200
    assert (
        dispatcher_api.put("/api/v1/tariff", {"base_fare": "1.00"}, format="json").status_code
        == 403
    )


@pytest.mark.parametrize(
    "body",
    [
        {"base_fare": "-1"},
        {"peak_windows": [{"start": "25:00", "end": "09:00"}]},
        {"volumetric_factor": 0},
    ],
)
def test_tariff_input_is_validated(body, admin_api):
    assert admin_api.put("/api/v1/tariff", body, format="json").status_code == 400
