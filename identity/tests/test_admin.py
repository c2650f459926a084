"""The Django admin: staff roles sign in, permissions come from the role, and edits go
through the same services as the API."""

import pytest

from identity.models import Role, User, UserSession
from identity.tests.factories import PASSWORD, RoleFactory, UserFactory, tokens_for

pytestmark = pytest.mark.django_db


def admin_login(client, user):
    return client.post("/admin/login/?next=/admin/", {"username": user.email, "password": PASSWORD})


def test_an_admin_signs_in_to_the_admin_with_email_and_password(client):
    admin = UserFactory(role_name="admin")
    response = admin_login(client, admin)
    assert response.status_code == 302
    assert response.url == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/identity/user/" in index.content
    assert b"/admin/identity/role/" in index.content


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_cannot_sign_in_to_the_admin(client, role):
    user = UserFactory(role_name=role)
    response = admin_login(client, user)
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    client.force_login(user)
    assert client.get("/admin/").status_code == 302


def test_a_staff_role_without_grants_cannot_sign_in(client):
    user = UserFactory(role=RoleFactory())
    admin_login(client, user)
    assert "_auth_user_id" not in client.session


def test_a_dispatcher_can_view_users_but_not_change_them(client):
    dispatcher = UserFactory(role_name="dispatcher")
    target = UserFactory(full_name="Original")
    client.force_login(dispatcher)
    assert client.get("/admin/identity/user/").status_code == 200
    assert client.get("/admin/identity/user/add/").status_code == 403
    response = client.post(
        f"/admin/identity/user/{target.pk}/change/",
        {
            "email": target.email,
            "full_name": "Hacked",
            "phone": "",
            "role": target.role_id,
            "is_active": "on",
        },
    )
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.full_name == "Original"


def test_a_custom_role_sees_only_what_it_may_read(client):
    role = RoleFactory(grants=["roles:read"])
    client.force_login(UserFactory(role=role))
    assert client.get("/admin/identity/role/").status_code == 200
    assert client.get("/admin/identity/user/").status_code == 403


def test_an_admin_adds_a_user_through_the_service(client):
    client.force_login(UserFactory(role_name="admin"))
    response = client.post(
        "/admin/identity/user/add/",
        {
            "email": "New.Driver@Rappi.pe",
            "full_name": "New Driver",
            "phone": "",
            "role": Role.objects.get(name="driver").pk,
            "is_active": "on",
            "password1": "Str0ng-Passw0rd",
            "password2": "Str0ng-Passw0rd",
        },
    )
    assert response.status_code == 302, response.content
    user = User.objects.get(email="new.driver@rappi.pe")
    assert user.role.name == "driver"
    assert user.check_password("Str0ng-Passw0rd")


def test_an_admin_rejects_a_weak_password_in_the_add_form(client):
    client.force_login(UserFactory(role_name="admin"))
    response = client.post(
        "/admin/identity/user/add/",
        {
            "email": "weak@rappi.pe",
            "full_name": "Weak",
            "role": Role.objects.get(name="customer").pk,
            "password1": "12345678",
            "password2": "12345678",
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="weak@rappi.pe").exists()


def test_unticking_active_in_the_admin_revokes_sessions(client):
    client.force_login(UserFactory(role_name="admin"))
    target = UserFactory()
    tokens_for(target)
    response = client.post(
        f"/admin/identity/user/{target.pk}/change/",
        {"email": target.email, "full_name": target.full_name, "phone": "", "role": target.role_id},
    )
    assert response.status_code == 302, response.content
    target.refresh_from_db()
    assert target.is_active is False
    assert not UserSession.objects.filter(user=target, revoked_at__isnull=True).exists()


def test_an_admin_edits_a_roles_permissions_inline(client):
    client.force_login(UserFactory(role_name="admin"))
    role = RoleFactory(grants=["orders:read"])
    grant = role.permissions.get()
    response = client.post(
        f"/admin/identity/role/{role.pk}/change/",
        {
            "name": role.name,
            "description": "edited",
            "permissions-TOTAL_FORMS": "2",
            "permissions-INITIAL_FORMS": "1",
            "permissions-0-id": grant.pk,
            "permissions-0-role": role.pk,
            "permissions-0-resource": "orders",
            "permissions-0-action": "read",
            "permissions-1-role": role.pk,
            "permissions-1-resource": "tracking",
            "permissions-1-action": "*",
        },
    )
    assert response.status_code == 302, response.content
    assert role.permission_codes() == ["orders:read", "tracking:*"]


def test_users_cannot_be_deleted_from_the_admin(client):
    client.force_login(UserFactory(role_name="admin"))
    target = UserFactory()
    assert client.get(f"/admin/identity/user/{target.pk}/delete/").status_code == 403


def test_createsuperuser_makes_an_admin_role_user():
    from django.core.management import call_command

    call_command(
        "createsuperuser", interactive=False, email="Boss@Rappi.pe", full_name="Boss", verbosity=0
    )
    boss = User.objects.get(email="boss@rappi.pe")
    assert boss.role.name == "admin"
    assert boss.is_superuser
    assert boss.is_staff


def test_an_admin_resets_a_password_and_the_users_sessions_end(client, api):
    client.force_login(UserFactory(role_name="admin"))
    target = UserFactory()
    access = tokens_for(target)["access"]
    page = client.get(f"/admin/identity/user/{target.pk}/password/")
    assert page.status_code == 200
    response = client.post(
        f"/admin/identity/user/{target.pk}/password/",
        {"new_password1": "Brand-New-Passw0rd", "new_password2": "Brand-New-Passw0rd"},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password("Brand-New-Passw0rd")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/v1/auth/me").status_code == 401


def test_the_change_form_links_to_the_password_reset(client):
    client.force_login(UserFactory(role_name="admin"))
    target = UserFactory()
    page = client.get(f"/admin/identity/user/{target.pk}/change/")
    assert b"../password/" in page.content
    assert client.get(f"/admin/identity/user/{target.pk}/password/").status_code == 200


def test_a_dispatcher_cannot_reset_passwords(client):
    client.force_login(UserFactory(role_name="dispatcher"))
    target = UserFactory()
    response = client.post(
        f"/admin/identity/user/{target.pk}/password/",
        {"new_password1": "Brand-New-Passw0rd", "new_password2": "Brand-New-Passw0rd"},
    )
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.check_password(PASSWORD)


# --- Sign-in throttling ----------


def admin_attempt(client, email, password, ip):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": password},
        REMOTE_ADDR=ip,
    )


def api_attempt(api, email, password, ip):
    return api.post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_admin_sign_in_is_throttled_per_account_and_refuses_even_the_right_password(client):
    staff = UserFactory(role_name="admin", email="boss@rappi.pe")
    for attempt in range(5):
        response = admin_attempt(client, staff.email, "wrong", f"10.1.0.{attempt}")
        assert response.status_code == 200  # the form again, "enter the correct email…"
    throttled = admin_attempt(client, staff.email, "wrong", "10.1.0.50")
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 3600
    assert b"Too many sign-in attempts" in throttled.content
    right = admin_attempt(client, " BOSS@rappi.pe ", PASSWORD, "10.1.0.51")
    assert right.status_code == 429
    assert b"Too many sign-in attempts" in right.content
    assert "_auth_user_id" not in client.session
    # Another account is not affected.
    other = UserFactory(role_name="admin")
    assert admin_attempt(client, other.email, PASSWORD, "10.1.0.52").status_code == 302


def test_admin_sign_in_is_throttled_per_ip_across_accounts(client):
    for attempt in range(20):
        admin_attempt(client, f"guess{attempt}@rappi.pe", "wrong", "192.0.2.40")
    assert admin_attempt(client, "guess-last@rappi.pe", "wrong", "192.0.2.40").status_code == 429
    assert admin_attempt(client, "guess-last@rappi.pe", "wrong", "192.0.2.41").status_code == 200


def test_the_api_and_the_admin_share_one_budget_per_account(client, api):
    staff = UserFactory(role_name="admin")
    for attempt in range(3):
        assert api_attempt(api, staff.email, "wrong", f"10.2.0.{attempt}").status_code == 401
    for attempt in range(2):
        assert admin_attempt(client, staff.email, "wrong", f"10.2.1.{attempt}").status_code == 200
    assert api_attempt(api, staff.email, PASSWORD, "10.2.2.1").status_code == 429
    assert admin_attempt(client, staff.email, PASSWORD, "10.2.2.2").status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_api_and_the_admin_share_one_budget_per_ip(client, api):
    for attempt in range(10):
        api_attempt(api, f"api{attempt}@rappi.pe", "wrong", "192.0.2.60")
        admin_attempt(client, f"admin{attempt}@rappi.pe", "wrong", "192.0.2.60")
    assert api_attempt(api, "next@rappi.pe", "wrong", "192.0.2.60").status_code == 429
    assert admin_attempt(client, "next@rappi.pe", "wrong", "192.0.2.60").status_code == 429
