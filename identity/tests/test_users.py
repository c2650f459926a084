"""Staff user management and the list contract (pagination, search, filters, ordering)."""

import pytest

from identity.models import Role, User
from identity.signals import role_assigned
from identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_user_with_a_role_by_name(admin_api):
    response = admin_api.post(
        "/api/v1/users/",
        {
            "email": "Rosa@Rappi.pe",
            "password": "Str0ng-Passw0rd",
            "full_name": "Rosa",
            "role": "driver",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "rosa@rappi.pe"
    assert body["role"] == "driver"
    assert body["is_active"] is True
    assert "password" not in body
    assert User.objects.get(email="rosa@rappi.pe").check_password("Str0ng-Passw0rd")


def test_create_user_fires_role_assigned_for_profile_apps(admin_api):
    seen = []

    def receiver(sender, user, previous_role, **kwargs):
        seen.append((user.email, user.role.name, previous_role))

    role_assigned.connect(receiver)
    try:
        admin_api.post(
            "/api/v1/users/",
            {
                "email": "d@rappi.pe",
                "password": "Str0ng-Passw0rd",
                "full_name": "D",
                "role": "driver",
            },
            format="json",
        )
    finally:
        role_assigned.disconnect(receiver)
    assert seen == [("d@rappi.pe", "driver", None)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "taken@example.pe", "password": "Str0ng-Passw0rd", "full_name": "Dup"}, "email"),
        (
            {
                "email": "x@example.pe",
                "password": "Str0ng-Passw0rd",
                "full_name": "X",
                "role": "pilot",
            },
            "role",
        ),
        ({"email": "not-an-email", "password": "Str0ng-Passw0rd", "full_name": "X"}, "email"),
        ({"email": "y@example.pe", "password": "short", "full_name": "Y"}, "password"),
        ({"email": "z@example.pe", "password": "Str0ng-Passw0rd", "full_name": ""}, "full_name"),
    ],
)
def test_create_user_refuses_bad_input_by_field(admin_api, body, field):
    UserFactory(email="taken@example.pe")
    response = admin_api.post("/api/v1/users/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_changing_a_role_fires_role_assigned_with_the_previous_one(admin_api):
    user = UserFactory(role_name="customer")
    seen = []

    def receiver(sender, user, previous_role, **kwargs):
        seen.append((user.role.name, previous_role.name))

    role_assigned.connect(receiver)
    try:
        response = admin_api.patch(f"/api/v1/users/{user.pk}", {"role": "driver"}, format="json")
    finally:
        role_assigned.disconnect(receiver)
    assert response.status_code == 200
    assert response.json()["role"] == "driver"
    assert seen == [("driver", "customer")]


def test_staff_cannot_deactivate_themselves(admin_api, admin):
    response = admin_api.delete(f"/api/v1/users/{admin.pk}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "self_lockout"
    assert User.objects.get(pk=admin.pk).is_active


def test_staff_cannot_change_their_own_role(admin_api, admin):
    response = admin_api.patch(f"/api/v1/users/{admin.pk}", {"role": "customer"}, format="json")
    assert response.status_code == 409
    assert User.objects.get(pk=admin.pk).role.name == "admin"


def test_delete_is_a_soft_deactivation_and_reactivation_works(admin_api):
    user = UserFactory()
    assert admin_api.delete(f"/api/v1/users/{user.pk}").status_code == 204
    assert User.objects.get(pk=user.pk).is_active is False
    response = admin_api.patch(f"/api/v1/users/{user.pk}", {"is_active": True}, format="json")
    assert response.json()["is_active"] is True


def test_patch_to_inactive_revokes_sessions_like_delete(admin_api, client_for):
    user = UserFactory()
    their_client = client_for(user)
    assert (
        admin_api.patch(f"/api/v1/users/{user.pk}", {"is_active": False}, format="json").status_code
        == 200
    )
    assert their_client.get("/api/v1/auth/me").status_code == 401


def test_email_change_to_a_taken_one_is_refused(admin_api):
    UserFactory(email="a@example.pe")
    other = UserFactory(email="b@example.pe")
    response = admin_api.patch(
        f"/api/v1/users/{other.pk}", {"email": "A@example.pe"}, format="json"
    )
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]["fields"]


# --- List contract ---------------------------------------------------------------------


def test_list_is_paginated_with_count_and_links(admin_api):
    UserFactory.create_batch(4)
    body = admin_api.get("/api/v1/users/?page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["previous"] is None
    assert "page=2" in body["next"]
    last = admin_api.get("/api/v1/users/?page_size=2&page=3").json()
    assert len(last["results"]) == 1
    assert last["next"] is None


def test_page_size_is_capped_at_200(admin_api):
    UserFactory.create_batch(3)
    body = admin_api.get("/api/v1/users/?page_size=5000").json()
    assert body["count"] == 4
    assert len(body["results"]) == 4
    from rappi.api.pagination import PageNumberPagination

    assert PageNumberPagination().max_page_size == 200


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "page_size=0", "page_size=-3", "page_size=x"]
)
def test_malformed_paging_is_400(admin_api, query):
    response = admin_api.get(f"/api/v1/users/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_a_page_past_the_end_is_404(admin_api):
    assert admin_api.get("/api/v1/users/?page=9").json()["error"]["code"] == "not_found"


def test_ordering_by_whitelisted_fields(admin_api):
    UserFactory(email="zed@example.pe", full_name="Zed")
    UserFactory(email="amy@example.pe", full_name="Amy")
    emails = [u["email"] for u in admin_api.get("/api/v1/users/?ordering=-email").json()["results"]]
    assert emails == sorted(emails, reverse=True)
    names = [
        u["full_name"]
        for u in admin_api.get("/api/v1/users/?ordering=full_name,-id").json()["results"]
    ]
    assert names == sorted(names)


@pytest.mark.parametrize("ordering", ["password", "-password", "role__name", "email,nope", ","])
def test_ordering_by_an_unknown_field_is_400(admin_api, ordering):
    response = admin_api.get(f"/api/v1/users/?ordering={ordering}")
    assert response.status_code == 400
    assert "ordering" in response.json()["error"]["details"]["fields"]


def test_search_and_filters(admin_api):
    UserFactory(email="quispe@example.pe", full_name="Carlos Quispe", role_name="driver")
    UserFactory(
        email="mamani@example.pe", full_name="Rosa Mamani", role_name="driver", is_active=False
    )
    UserFactory(email="flores@example.pe", full_name="Ana Flores")
    found = admin_api.get("/api/v1/users/?search=quis").json()["results"]
    assert [u["email"] for u in found] == ["quispe@example.pe"]
    drivers = admin_api.get("/api/v1/users/?role=driver&is_active=true").json()["results"]
    assert [u["email"] for u in drivers] == ["quispe@example.pe"]


def test_created_range_filters(admin_api):
    from datetime import UTC, datetime

    old = UserFactory(email="old@example.pe")
    User.objects.filter(pk=old.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    recent = admin_api.get("/api/v1/users/?created_after=2021-01-01T00:00:00Z").json()["results"]
    assert "old@example.pe" not in {u["email"] for u in recent}
    before = admin_api.get("/api/v1/users/?created_before=2021-01-01T00:00:00Z").json()["results"]
    assert [u["email"] for u in before] == ["old@example.pe"]


def test_a_bad_date_filter_is_400(admin_api):
    response = admin_api.get("/api/v1/users/?created_after=yesterday")
    assert response.status_code == 400
    assert "created_after" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("size", [1, 50])
def test_user_list_costs_a_constant_number_of_queries(
    admin_api, django_assert_max_num_queries, size
):
    UserFactory.create_batch(size)
    # auth (session + role permissions), throttle, count, page
    with django_assert_max_num_queries(6):
        response = admin_api.get("/api/v1/users/?page_size=200")
    assert len(response.json()["results"]) == size + 1


@pytest.mark.parametrize("size", [1, 30])
def test_role_list_costs_a_constant_number_of_queries(
    admin_api, django_assert_max_num_queries, size
):
    from identity.tests.factories import RoleFactory

    for _ in range(size):
        RoleFactory(grants=["orders:read", "users:*"])
    with django_assert_max_num_queries(7):
        response = admin_api.get("/api/v1/roles/?page_size=200")
    assert response.json()["count"] == size + 4
    assert Role.objects.count() == size + 4
