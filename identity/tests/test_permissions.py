"""Every role against every identity endpoint, wildcard semantics, a custom role."""

import re

import pytest

from identity import catalogue
from identity.models import Role
from identity.tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ["admin", "dispatcher", "driver", "customer"]


@pytest.fixture
def target():
    return UserFactory(role_name="customer")


def _call(client, method, path, body=None):
    return getattr(client, method)(path, body or {}, format="json")


def _role_id(name):
    return Role.objects.get(name=name).pk


# (method, path builder, body builder, {role: expected status})
MATRIX = [
    (
        "get",
        lambda t: "/api/v1/users/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 403},
    ),
    (
        "post",
        lambda t: "/api/v1/users/",
        lambda: {"email": "new@example.pe", "password": "Str0ng-Passw0rd", "full_name": "New"},
        {"admin": 201, "dispatcher": 403, "driver": 403, "customer": 403},
    ),
    (
        "get",
        lambda t: f"/api/v1/users/{t.pk}",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 403},
    ),
    (
        "patch",
        lambda t: f"/api/v1/users/{t.pk}",
        lambda: {"full_name": "Renamed"},
        {"admin": 200, "dispatcher": 403, "driver": 403, "customer": 403},
    ),
    (
        "delete",
        lambda t: f"/api/v1/users/{t.pk}",
        None,
        {"admin": 204, "dispatcher": 403, "driver": 403, "customer": 403},
    ),
    (
        "get",
        lambda t: "/api/v1/roles/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 403},
    ),
    (
        "post",
        lambda t: "/api/v1/roles/",
        lambda: {"name": "auditor", "permissions": ["audit:read"]},
        {"admin": 201, "dispatcher": 403, "driver": 403, "customer": 403},
    ),
    (
        "put",
        lambda t: f"/api/v1/roles/{_role_id('dispatcher')}/permissions",
        lambda: {"permissions": ["orders:*"]},
        {"admin": 200, "dispatcher": 403, "driver": 403, "customer": 403},
    ),
    (
        "get",
        lambda t: "/api/v1/permissions/",
        None,
        {"admin": 200, "dispatcher": 200, "driver": 403, "customer": 403},
    ),
    ("get", lambda t: "/api/v1/auth/me", None, dict.fromkeys(ROLES, 200)),
    ("get", lambda t: "/api/v1/auth/sessions", None, dict.fromkeys(ROLES, 200)),
    ("get", lambda t: "/api/v1/notifications/", None, dict.fromkeys(ROLES, 200)),
    ("get", lambda t: "/api/v1/notifications/unread-count", None, dict.fromkeys(ROLES, 200)),
    ("post", lambda t: "/api/v1/notifications/read-all", None, dict.fromkeys(ROLES, 200)),
    (
        "post",
        lambda t: "/api/v1/notifications/",
        lambda: None,
        {"admin": 201, "dispatcher": 201, "driver": 403, "customer": 403},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    MATRIX,
    ids=[
        "list-users",
        "create-user",
        "get-user",
        "patch-user",
        "deactivate-user",
        "list-roles",
        "create-role",
        "replace-role-permissions",
        "catalogue",
        "me",
        "sessions",
        "inbox",
        "unread-count",
        "read-all",
        "send-notification",
    ],
)
def test_role_endpoint_matrix(client_for, target, role, method, path, body, expected):
    caller = UserFactory(role_name=role)
    payload = body() if body else None
    if payload is None and path(target) == "/api/v1/notifications/" and method == "post":
        payload = {"recipient_user_id": target.pk, "kind": "test", "title": "Hello"}
    response = _call(client_for(caller), method, path(target), payload)
    assert response.status_code == expected[role], response.content
    if response.status_code == 403:
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("granted", "resource", "action", "allowed"),
    [
        ({("users", "*")}, "users", "delete", True),
        ({("users", "*")}, "roles", "read", False),
        ({("*", "read")}, "orders", "read", True),
        ({("*", "read")}, "orders", "write", False),
        ({("*", "*")}, "audit", "delete", True),
        ({("orders", "read")}, "orders", "read", True),
        ({("orders", "read")}, "orders", "write", False),
        (set(), "orders", "read", False),
    ],
)
def test_wildcards_grant_exactly_their_side(granted, resource, action, allowed):
    assert catalogue.grants(granted, resource, action) is allowed


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("orders", "is not of the form resource:action"),
        ("orders:fly", "unknown action 'fly'"),
        ("rockets:read", "unknown resource 'rockets'"),
        (":read", "unknown resource ''"),
        ("orders:", "unknown action ''"),
    ],
)
def test_permissions_outside_the_catalogue_are_refused(code, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        catalogue.parse_permission(code)


def test_a_custom_role_grants_what_it_lists_and_nothing_more(client_for, admin_api):
    created = admin_api.post(
        "/api/v1/roles/",
        {
            "name": "auditor",
            "description": "Reads users",
            "permissions": ["users:read", "audit:read"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["permissions"] == ["audit:read", "users:read"]

    auditor = UserFactory(role=Role.objects.get(name="auditor"))
    client = client_for(auditor)
    assert client.get("/api/v1/users/").status_code == 200
    assert client.post("/api/v1/users/", {}, format="json").status_code == 403
    assert client.get("/api/v1/roles/").status_code == 403
    me = client.get("/api/v1/auth/me").json()
    assert me["permissions"] == ["users:read", "audit:read"]


def test_permission_changes_apply_to_the_next_request(client_for, admin_api):
    role = RoleFactory(grants=["users:read"])
    client = client_for(UserFactory(role=role))
    assert client.get("/api/v1/users/").status_code == 200
    response = admin_api.put(
        f"/api/v1/roles/{role.pk}/permissions", {"permissions": []}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["permissions"] == []
    assert client.get("/api/v1/users/").status_code == 403


def test_a_role_with_no_grants_is_refused_everything_but_its_own_things(client_for):
    client = client_for(UserFactory(role=RoleFactory()))
    assert client.get("/api/v1/users/").status_code == 403
    assert client.get("/api/v1/notifications/").status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200


def test_the_catalogue_lists_every_resource_and_action(admin_api):
    body = admin_api.get("/api/v1/permissions/").json()
    assert body["resources"] == list(catalogue.RESOURCES)
    assert body["actions"] == ["read", "write", "delete"]
    assert len(body["permissions"]) == len(catalogue.RESOURCES) * 3
    assert "ratings:write" in body["permissions"]
