"""Callers most orders tests need: a customer with a login, and a dispatcher."""

import pytest

from identity.tests.factories import UserFactory
from orders.tests.factories import customer_user


@pytest.fixture
def alice(client_for):
    """(client, user, customer) of a customer with a login; some modules narrow it."""
    user, customer = customer_user(email="alice@example.pe")
    return client_for(user), user, customer


@pytest.fixture
def staff(client_for):
    return client_for(UserFactory(role_name="dispatcher"))
