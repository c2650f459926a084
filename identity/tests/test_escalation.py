"""Holding users:write or roles:write is no way up: nobody hands out, or acts on someone
holding, permissions they do not hold themselves."""

import pytest

from identity.models import Role, User
from identity.tests.factories import RoleFactory, UserFactory, tokens_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_manager(client_for):
    """A custom role that manages users but is far from admin."""
    return client_for(UserFactory(role=RoleFactory(name="hr", grants=["users:*", "orders:read"])))


@pytest.fixture
def role_manager(client_for):
    return client_for(UserFactory(role=RoleFactory(name="roles-editor", grants=["roles:*"])))


def test_a_user_manager_cannot_create_an_admin(user_manager):
    response = user_manager.post(
        "/api/v1/users/",
        {"email": "evil@x.pe", "password": "Str0ng-Passw0rd", "full_name": "E", "role": "admin"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not User.objects.filter(email="evil@x.pe").exists()


def test_a_user_manager_can_create_a_user_with_a_weaker_role(user_manager):
    weaker = RoleFactory(name="viewer", grants=["orders:read"])
    response = user_manager.post(
        "/api/v1/users/",
        {"email": "ok@x.pe", "password": "Str0ng-Passw0rd", "full_name": "Ok", "role": weaker.name},
        format="json",
    )
    assert response.status_code == 201


def test_a_user_manager_cannot_promote_anyone_to_admin(user_manager):
    target = UserFactory(role=RoleFactory(grants=["orders:read"]))
    response = user_manager.patch(f"/api/v1/users/{target.pk}", {"role": "admin"}, format="json")
    assert response.status_code == 403
    assert User.objects.get(pk=target.pk).role.name != "admin"


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("patch", {"password": "Takeover-Passw0rd"}),
        ("patch", {"is_active": False}),
        ("delete", None),
    ],
)
def test_a_user_manager_cannot_touch_an_admin(user_manager, method, body):
    admin = UserFactory(role_name="admin")
    tokens_for(admin)
    response = getattr(user_manager, method)(f"/api/v1/users/{admin.pk}", body, format="json")
    assert response.status_code == 403
    admin.refresh_from_db()
    assert admin.is_active
    assert admin.check_password("s3cure-Passw0rd!")


def test_a_role_manager_cannot_grant_itself_everything(role_manager):
    own = Role.objects.get(name="roles-editor")
    response = role_manager.put(
        f"/api/v1/roles/{own.pk}/permissions", {"permissions": ["*:*"]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "self_lockout"
    assert own.permission_codes() == ["roles:*"]


def test_a_role_manager_cannot_grant_what_it_lacks_to_another_role(role_manager):
    other = RoleFactory(grants=["roles:read"])
    response = role_manager.put(
        f"/api/v1/roles/{other.pk}/permissions", {"permissions": ["users:*"]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["details"]["permissions"] == [
        "users:delete",
        "users:read",
        "users:write",
    ]
    assert other.permission_codes() == ["roles:read"]


def test_a_role_manager_cannot_create_a_role_with_more_than_it_holds(role_manager):
    response = role_manager.post(
        "/api/v1/roles/", {"name": "sneaky", "permissions": ["*:*"]}, format="json"
    )
    assert response.status_code == 403
    assert not Role.objects.filter(name="sneaky").exists()


def test_a_role_manager_cannot_edit_the_dispatcher_role(role_manager):
    dispatcher = Role.objects.get(name="dispatcher")
    response = role_manager.patch(
        f"/api/v1/roles/{dispatcher.pk}", {"description": "mine"}, format="json"
    )
    assert response.status_code == 403


def test_an_admin_may_still_do_all_of_it(admin_api):
    role = RoleFactory()
    assert (
        admin_api.put(
            f"/api/v1/roles/{role.pk}/permissions", {"permissions": ["*:*"]}, format="json"
        ).status_code
        == 200
    )
    target = UserFactory()
    assert (
        admin_api.patch(
            f"/api/v1/users/{target.pk}", {"role": role.name}, format="json"
        ).status_code
        == 200
    )


# --- The same rules in the Django admin --------------------------------------------------


def test_a_dispatcher_cannot_use_the_deactivate_action(client):
    boss = UserFactory(role_name="admin")
    client.force_login(UserFactory(role_name="dispatcher"))
    page = client.get("/admin/identity/user/")
    assert page.status_code == 200
    assert b"deactivate_users" not in page.content
    client.post(
        "/admin/identity/user/", {"action": "deactivate_users", "_selected_action": [boss.pk]}
    )
    boss.refresh_from_db()
    assert boss.is_active


def test_a_dispatcher_cannot_revoke_sessions_from_the_admin(client):
    from identity.models import UserSession

    boss = UserFactory(role_name="admin")
    tokens_for(boss)
    client.force_login(UserFactory(role_name="dispatcher"))
    session = UserSession.objects.get(user=boss)
    client.post(
        "/admin/identity/usersession/", {"action": "revoke", "_selected_action": [session.pk]}
    )
    session.refresh_from_db()
    assert session.revoked_at is None


def test_an_admin_revokes_sessions_from_the_admin(client):
    from identity.models import UserSession

    target = UserFactory()
    tokens_for(target)
    client.force_login(UserFactory(role_name="admin"))
    session = UserSession.objects.get(user=target)
    response = client.post(
        "/admin/identity/usersession/", {"action": "revoke", "_selected_action": [session.pk]}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.revoked_at is not None


def test_a_user_manager_cannot_deactivate_an_admin_from_the_admin(client):
    boss = UserFactory(role_name="admin")
    client.force_login(UserFactory(role=RoleFactory(grants=["users:*"])))
    client.post(
        "/admin/identity/user/", {"action": "deactivate_users", "_selected_action": [boss.pk]}
    )
    boss.refresh_from_db()
    assert boss.is_active


def test_a_role_editor_cannot_grant_everything_through_the_admin_inline(client):
    client.force_login(UserFactory(role=RoleFactory(grants=["roles:*"])))
    other = RoleFactory(grants=["roles:read"])
    grant = other.permissions.get()
    client.post(
        f"/admin/identity/role/{other.pk}/change/",
        {
            "name": other.name,
            "description": "",
            "permissions-TOTAL_FORMS": "2",
            "permissions-INITIAL_FORMS": "1",
            "permissions-0-id": grant.pk,
            "permissions-0-role": other.pk,
            "permissions-0-resource": "roles",
            "permissions-0-action": "read",
            "permissions-1-role": other.pk,
            "permissions-1-resource": "*",
            "permissions-1-action": "*",
        },
    )
    assert other.permission_codes() == ["roles:read"]
