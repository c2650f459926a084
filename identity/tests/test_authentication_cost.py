"""Authentication is one query per API request, and nothing it caches outlives a change:
a revoked session, a deactivated user and a changed role apply on the very next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity import selectors, services
from identity.models import Role, RolePermission
from identity.tests.factories import RoleFactory, UserFactory, signed_in_client, tokens_for

pytestmark = pytest.mark.django_db


def _me(client):
    """A request whose view reads nothing from the database, and its queries apart from
    the user throttle's counter (one upsert, counted when the throttle is on)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/permissions")
    return response, [q for q in captured if "_ratecounter" not in q["sql"]]


def test_an_authenticated_request_costs_one_query_once_the_grants_are_known():
    client = signed_in_client(UserFactory(role_name="dispatcher"))
    client.get("/api/v1/permissions")  # this process learns the role's grants
    response, queries = _me(client)
    assert response.status_code == 200
    assert len(queries) == 1, "\n".join(q["sql"][:150] for q in queries)
    assert response.json()


def test_the_first_request_of_a_role_version_loads_its_grants_once():
    role = RoleFactory(grants=["roles:read"])
    client = signed_in_client(UserFactory(role=role))
    response, queries = _me(client)
    assert response.status_code == 200
    assert len(queries) == 2  # the session with its user and role, then the grants
    assert _me(client)[1].__len__() == 1


def test_a_permission_change_applies_on_the_next_request():
    role = RoleFactory(grants=["orders:read"])
    client = signed_in_client(UserFactory(role=role))
    assert client.get("/api/v1/orders/").status_code == 200
    services.role_set_permissions(role=role, permissions=["vehicles:read"], by=None)
    assert client.get("/api/v1/orders/").status_code == 403
    assert client.get("/api/v1/vehicles/").status_code == 200


def test_a_grant_saved_on_its_own_moves_the_role_version():
    role = RoleFactory(grants=["vehicles:read"])
    client = signed_in_client(UserFactory(role=role))
    assert client.get("/api/v1/orders/").status_code == 403
    grant = RolePermission.objects.create(role=role, resource="orders", action="read")
    assert client.get("/api/v1/orders/").status_code == 200
    grant.delete()
    assert client.get("/api/v1/orders/").status_code == 403


def test_a_deactivated_user_is_cut_off_on_the_next_request():
    user = UserFactory(role_name="dispatcher")
    client = signed_in_client(user)
    assert client.get("/api/v1/permissions").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = client.get("/api/v1/permissions")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_a_revoked_session_is_cut_off_on_the_next_request():
    user = UserFactory(role_name="dispatcher")
    client = signed_in_client(user)
    assert client.get("/api/v1/permissions").status_code == 200
    services.session_revoke_all(user=user)
    assert client.get("/api/v1/permissions").status_code == 401


def test_a_role_taking_the_id_of_a_deleted_one_never_gets_its_cached_grants():
    role = RoleFactory(grants=["orders:read"])
    user = UserFactory(role=role)
    assert selectors.session_user(**_claims(user)).granted == {("orders", "read")}
    # Same id and version, another role (as after a test database is flushed).
    other = Role.objects.get(pk=role.pk)
    other.created_at = other.created_at.replace(year=other.created_at.year - 1)
    Role.objects.filter(pk=role.pk).update(created_at=other.created_at)
    RolePermission.objects.filter(role=role).delete()
    assert selectors.session_user(**_claims(user)).granted == frozenset()


@pytest.mark.parametrize(
    "user_id", ["x", None, 0, -3, 2**63, "9" * 5000], ids=lambda v: repr(v)[:12]
)
def test_a_token_naming_no_possible_user_is_refused_without_a_query(user_id):
    user = UserFactory()
    claims = _claims(user)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.session_user(public_id=claims["public_id"], user_id=user_id) is None
    assert len(queries) == 0


def test_the_user_loaded_is_the_one_the_orm_loads():
    user = UserFactory(role_name="driver")
    loaded = selectors.session_user(**_claims(user))
    fresh = type(user).objects.select_related("role").get(pk=user.pk)
    for field in type(user)._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(fresh, field.attname), field.name
    for field in Role._meta.concrete_fields:
        assert getattr(loaded.role, field.attname) == getattr(fresh.role, field.attname)
    assert loaded.current_session_id is not None
    assert loaded.scope == "driver"


def _claims(user) -> dict:
    from identity.tokens import SESSION_CLAIM, decode_access

    token = decode_access(tokens_for(user)["access"])
    return {"public_id": token[SESSION_CLAIM], "user_id": token["user_id"]}
