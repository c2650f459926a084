"""Role management rules: seeded roles are protected, in-use roles stay, admin keeps *:*."""

import pytest

from identity import catalogue, services
from identity.models import Role
from identity.tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_seeded_roles_exist_with_their_grants():
    names = set(Role.objects.filter(is_system=True).values_list("name", flat=True))
    assert names == {"admin", "dispatcher", "driver", "customer"}
    assert Role.objects.get(name="admin").permission_codes() == ["*:*"]


def test_seeding_again_keeps_an_admins_edits():
    dispatcher = Role.objects.get(name="dispatcher")
    services.role_set_permissions(role=dispatcher, permissions=["orders:read"], by=None)
    services.roles_seed()
    assert Role.objects.get(name="dispatcher").permission_codes() == ["orders:read"]
    assert Role.objects.filter(name="dispatcher").count() == 1


@pytest.mark.parametrize("name", ["admin", "customer"])
def test_seeded_roles_cannot_be_renamed_or_deleted(admin_api, name):
    role = Role.objects.get(name=name)
    rename = admin_api.patch(f"/api/v1/roles/{role.pk}", {"name": "boss"}, format="json")
    assert rename.status_code == 409
    assert rename.json()["error"]["code"] == "protected_role"
    assert admin_api.delete(f"/api/v1/roles/{role.pk}").status_code == 409
    assert Role.objects.filter(name=name).exists()


def test_seeded_role_description_can_change(admin_api):
    role = Role.objects.get(name="driver")
    response = admin_api.patch(
        f"/api/v1/roles/{role.pk}", {"description": "Couriers"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["description"] == "Couriers"


def test_admin_role_keeps_every_permission(admin_api):
    role = Role.objects.get(name="admin")
    response = admin_api.put(
        f"/api/v1/roles/{role.pk}/permissions", {"permissions": ["users:read"]}, format="json"
    )
    assert response.status_code == 409
    assert role.permission_codes() == ["*:*"]


def test_a_role_in_use_cannot_be_deleted(admin_api):
    role = RoleFactory()
    UserFactory(role=role)
    response = admin_api.delete(f"/api/v1/roles/{role.pk}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "role_in_use"
    assert response.json()["error"]["details"]["users"] == 1


def test_an_unused_custom_role_is_deleted(admin_api):
    role = RoleFactory()
    assert admin_api.delete(f"/api/v1/roles/{role.pk}").status_code == 204
    assert not Role.objects.filter(pk=role.pk).exists()


def test_replacing_permissions_sets_exactly_the_list_deduplicated(admin_api):
    role = RoleFactory(grants=["orders:read", "users:read"])
    response = admin_api.put(
        f"/api/v1/roles/{role.pk}/permissions",
        {"permissions": ["tracking:*", "orders:write", "tracking:*"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["permissions"] == ["orders:write", "tracking:*"]
    assert role.permission_codes() == ["orders:write", "tracking:*"]


def test_unknown_permissions_are_reported_by_position(admin_api):
    role = RoleFactory(grants=["orders:read"])
    response = admin_api.put(
        f"/api/v1/roles/{role.pk}/permissions",
        {"permissions": ["orders:read", "rockets:launch", "orders"]},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]["permissions"]
    assert set(fields) == {"1", "2"}
    assert role.permission_codes() == ["orders:read"]


@pytest.mark.parametrize("name", ["Admin", "a", "has space", "1abc", "x" * 51])
def test_role_names_are_slugs(admin_api, name):
    response = admin_api.post("/api/v1/roles/", {"name": name}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]["fields"]


def test_role_names_are_unique(admin_api):
    response = admin_api.post("/api/v1/roles/", {"name": "dispatcher"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]["fields"]


def test_role_update_refuses_permissions_in_the_body(admin_api):
    role = RoleFactory()
    response = admin_api.patch(f"/api/v1/roles/{role.pk}", {"permissions": ["*:*"]}, format="json")
    assert response.status_code == 400
    assert role.permission_codes() == []


def test_the_migrated_roles_grant_what_the_catalogue_seeds():
    # The seed migration keeps its own frozen copy of the grants: a change to the catalogue
    # needs a data migration, or a fresh database and `roles_seed` would disagree.
    for name, spec in catalogue.SEEDED_ROLES.items():
        role = Role.objects.get(name=name)
        assert role.description == spec["description"]
        assert sorted(role.permission_codes()) == sorted(spec["permissions"])
