"""A customer's email is its own: never another account's (another login or another customer
record, in any case), and for a customer with a login always the login's, which is what the
payment provider is told."""

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from identity.tests.factories import UserFactory
from orders import services
from orders.models import Customer
from orders.tests.factories import CustomerFactory, make_order
from rappi.testing.fake_http import FakeHttpServer

pytestmark = pytest.mark.django_db


def _email_errors(response) -> list[str]:
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid"
    return body["details"]["fields"]["email"]


@pytest.mark.parametrize("email", ["ALICE@example.pe", "walkin@EXAMPLE.pe"])
def test_staff_cannot_create_a_customer_with_another_accounts_email(dispatcher_api, alice, email):
    CustomerFactory(email="walkin@example.pe")
    before = Customer.objects.count()
    response = dispatcher_api.post(
        "/api/v1/customers/", {"full_name": "Copycat", "email": email}, format="json"
    )
    assert _email_errors(response)
    assert Customer.objects.count() == before


def test_staff_cannot_give_a_walk_in_another_accounts_email(dispatcher_api, alice):
    walk_in = CustomerFactory(email="walkin@example.pe")
    CustomerFactory(email="other@example.pe")
    for taken in ("Alice@Example.pe", "OTHER@example.pe"):
        response = dispatcher_api.patch(
            f"/api/v1/customers/{walk_in.pk}", {"email": taken}, format="json"
        )
        assert _email_errors(response)
    assert Customer.objects.get(pk=walk_in.pk).email == "walkin@example.pe"
    fresh = dispatcher_api.patch(
        f"/api/v1/customers/{walk_in.pk}", {"email": "New@Example.pe"}, format="json"
    )
    assert fresh.status_code == 200
    assert fresh.json()["email"] == "new@example.pe"
    # Re-sending its own email (any case) is no conflict with itself.
    same = dispatcher_api.put(
        f"/api/v1/customers/{walk_in.pk}",
        {"full_name": walk_in.full_name, "email": "NEW@example.pe"},
        format="json",
    )
    assert same.status_code == 200, same.content


def test_a_customer_with_a_login_cannot_take_another_email(alice, dispatcher_api):
    client, _user, customer = alice
    for caller in (client, dispatcher_api):
        response = caller.patch(
            f"/api/v1/customers/{customer.pk}", {"email": "elsewhere@example.pe"}, format="json"
        )
        assert any("login" in message for message in _email_errors(response))
    assert Customer.objects.get(pk=customer.pk).email == "alice@example.pe"
    same = client.patch(
        f"/api/v1/customers/{customer.pk}",
        {"email": "ALICE@example.pe", "phone": "1"},
        format="json",
    )
    assert same.status_code == 200
    assert same.json()["email"] == "alice@example.pe"


def test_the_customer_record_follows_its_logins_email(alice, admin_api):
    _client, user, customer = alice
    response = admin_api.patch(
        f"/api/v1/users/{user.pk}", {"email": "Alice.New@example.pe"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Customer.objects.get(pk=customer.pk).email == "alice.new@example.pe"


def test_the_customer_record_follows_an_email_changed_in_the_user_admin(client, alice):
    _client, user, customer = alice
    client.force_login(UserFactory(role_name="admin"))
    data = {
        "email": "alice.admin@example.pe",
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role_id,
        "is_active": "on",
    }
    response = client.post(f"/admin/identity/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Customer.objects.get(pk=customer.pk).email == "alice.admin@example.pe"


def _admin_customer_form(customer, **changes) -> dict:
    return {
        "full_name": customer.full_name,
        "email": customer.email,
        "phone": customer.phone,
        "tax_id": customer.tax_id,
        "is_active": "on",
        "addresses-TOTAL_FORMS": "0",
        "addresses-INITIAL_FORMS": "0",
        **changes,
    }


def test_the_customer_admin_refuses_another_accounts_email(client, alice):
    client.force_login(UserFactory(role_name="admin"))
    walk_in = CustomerFactory(email="walkin@example.pe")
    response = client.post(
        f"/admin/orders/customer/{walk_in.pk}/change/",
        _admin_customer_form(walk_in, email="ALICE@example.pe"),
    )
    assert response.status_code == 200  # the form again, with the error on the field
    assert "email" in response.context["adminform"].form.errors
    assert Customer.objects.get(pk=walk_in.pk).email == "walkin@example.pe"


def test_the_customer_admin_creates_through_the_service(client, alice):
    client.force_login(UserFactory(role_name="admin"))
    blank = Customer(full_name="Nuevo", email="", phone="", tax_id="")
    before = Customer.objects.count()
    refused = client.post(
        "/admin/orders/customer/add/", _admin_customer_form(blank, email="alice@EXAMPLE.pe")
    )
    assert refused.status_code == 200
    assert Customer.objects.count() == before
    created = client.post(
        "/admin/orders/customer/add/", _admin_customer_form(blank, email="Nuevo@Example.pe")
    )
    assert created.status_code == 302
    assert Customer.objects.get(full_name="Nuevo").email == "nuevo@example.pe"


def test_the_customer_admin_refuses_a_new_email_for_a_customer_with_a_login(client, alice):
    _client, _user, customer = alice
    client.force_login(UserFactory(role_name="admin"))
    response = client.post(
        f"/admin/orders/customer/{customer.pk}/change/",
        _admin_customer_form(customer, email="elsewhere@example.pe"),
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert Customer.objects.get(pk=customer.pk).email == "alice@example.pe"


def test_the_payment_provider_is_told_the_logins_email(alice, settings):
    client, user, customer = alice
    # A record left out of step before this rule existed still pays as its login.
    Customer.objects.filter(pk=customer.pk).update(email="stale@example.pe")
    order = make_order(customer=customer, by=user)
    with FakeHttpServer() as fake:
        fake.add(
            "POST",
            "/checkout/preferences",
            lambda req: (201, {"id": "p", "init_point": "https://mp.example/p"}),
        )
        settings.PAYMENT_PROVIDER, settings.MP_ACCESS_TOKEN = "mercadopago", "t"
        settings.MP_API_URL = fake.url
        assert client.post(f"/api/v1/orders/{order.pk}/checkout").status_code == 200
    assert fake.requests[0].json()["payer"] == {"email": "alice@example.pe"}


def test_existing_linked_records_are_brought_into_step_by_the_migration(alice):
    _client, _user, customer = alice
    walk_in = CustomerFactory(email="Walk.In@example.pe")
    Customer.objects.filter(pk=customer.pk).update(email="stale@example.pe")
    migration = importlib.import_module("orders.migrations.0003_payment_attempts_customer_email")
    migration.sync_linked_customer_emails(apps, None)
    assert Customer.objects.get(pk=customer.pk).email == "alice@example.pe"
    assert Customer.objects.get(pk=walk_in.pk).email == "Walk.In@example.pe"  # no login: kept


def test_registering_keeps_working_when_a_walk_in_has_the_email(api):
    CustomerFactory(email="walkin@example.pe")
    response = api.post(
        "/api/v1/auth/register",
        {"email": "walkin@example.pe", "password": "Str0ng-Passw0rd", "full_name": "Walk In"},
        format="json",
    )
    assert response.status_code == 201, response.content
    linked = Customer.objects.get(user__email="walkin@example.pe")
    assert linked.email == "walkin@example.pe"


def test_the_service_refuses_directly_too(alice):
    with pytest.raises(ValidationError) as caught:
        services.customer_create(full_name="X", email="alice@example.pe")
    assert "email" in caught.value.message_dict
