import pytest

from identity.models import UserSession
from identity.scoping import scoped
from identity.tests.factories import UserFactory, tokens_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sessions():
    owners = {
        role: UserFactory(role_name=role) for role in ("admin", "dispatcher", "customer", "driver")
    }
    for owner in owners.values():
        tokens_for(owner)
    return owners


@pytest.mark.parametrize("role", ["admin", "dispatcher"])
def test_staff_see_every_row(sessions, role):
    assert (
        scoped(UserSession.objects.all(), user=sessions[role], customer_lookup="user").count() == 4
    )


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_see_only_rows_reaching_them(sessions, role):
    rows = scoped(
        UserSession.objects.all(), user=sessions[role], customer_lookup="user", driver_lookup="user"
    )
    assert [s.user_id for s in rows] == [sessions[role].pk]


def test_a_scope_without_a_lookup_sees_nothing(sessions):
    rows = scoped(UserSession.objects.all(), user=sessions["driver"], customer_lookup="user")
    assert rows.count() == 0


def test_a_custom_role_is_staff(sessions):
    from identity.tests.factories import RoleFactory

    auditor = UserFactory(role=RoleFactory(grants=["audit:read"]))
    assert auditor.scope == "staff"
    assert scoped(UserSession.objects.all(), user=auditor).count() == 4
