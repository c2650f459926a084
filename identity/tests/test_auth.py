"""Sign-up, sign-in, rotation with reuse detection, sessions, logout, deactivation and
login throttling (docs/domain.md, Identity)."""

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from identity.models import User, UserSession
from identity.tests.factories import PASSWORD, UserFactory, tokens_for

pytestmark = pytest.mark.django_db


def login(api, email, password=PASSWORD, **extra):
    return api.post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json", **extra
    )


def bearer(api, access):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


# --- Register ----------


def test_register_creates_a_customer_and_signs_in(api):
    response = api.post(
        "/api/v1/auth/register",
        {
            "email": " Ana@Example.PE ",
            "password": PASSWORD,
            "full_name": "Ana Flores",
            "phone": "+51 1",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["email"] == "ana@example.pe"
    assert body["user"]["role"] == "customer"
    assert body["access"]
    assert body["refresh"]
    me = bearer(api, body["access"]).get("/api/v1/auth/me").json()
    assert me["email"] == "ana@example.pe"
    assert "orders:write" in me["permissions"]
    assert "users:read" not in me["permissions"]


def test_register_refuses_a_taken_email_in_any_case(api):
    UserFactory(email="taken@example.pe")
    response = api.post(
        "/api/v1/auth/register",
        {"email": "TAKEN@example.pe", "password": PASSWORD, "full_name": "X"},
        format="json",
    )
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]["fields"]


def test_register_refuses_a_weak_password(api):
    response = api.post(
        "/api/v1/auth/register",
        {"email": "weak@example.pe", "password": "12345678", "full_name": "Weak"},
        format="json",
    )
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]["fields"]
    assert not User.objects.filter(email="weak@example.pe").exists()


def test_register_cannot_choose_a_role(api):
    response = api.post(
        "/api/v1/auth/register",
        {"email": "sneaky@example.pe", "password": PASSWORD, "full_name": "S", "role": "admin"},
        format="json",
    )
    assert response.status_code == 201
    assert User.objects.get(email="sneaky@example.pe").role.name == "customer"


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"])
def test_passwords_are_hashed_with_argon2(api):
    api.post(
        "/api/v1/auth/register",
        {"email": "argon@example.pe", "password": PASSWORD, "full_name": "A"},
        format="json",
    )
    stored = User.objects.get(email="argon@example.pe").password
    assert identify_hasher(stored).algorithm == "argon2"
    assert check_password(PASSWORD, stored)


def test_production_hashers_start_with_argon2():
    from rappi.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


# --- Login ----------


def test_login_returns_tokens_and_the_user(api):
    user = UserFactory(email="driver@example.pe", role_name="driver")
    response = login(api, "Driver@Example.pe", HTTP_USER_AGENT="DriverApp/2.1")
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {
        "id": user.pk,
        "email": "driver@example.pe",
        "full_name": user.full_name,
        "phone": user.phone,
        "role": "driver",
        "is_active": True,
        "created_at": body["user"]["created_at"],
        "last_login": body["user"]["last_login"],
    }
    session = UserSession.objects.get(user=user)
    assert session.user_agent == "DriverApp/2.1"
    assert session.ip == "127.0.0.1"


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_login_with_bad_credentials_is_401_invalid_credentials(api, password):
    UserFactory(email="x@example.pe")
    response = login(api, "x@example.pe", password)
    if password == "":
        assert response.status_code == 400
    else:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"


def test_login_of_an_unknown_email_looks_like_a_wrong_password(api):
    response = login(api, "nobody@example.pe")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_inactive_user_cannot_log_in(api):
    UserFactory(email="gone@example.pe", is_active=False)
    assert login(api, "gone@example.pe").status_code == 401


def test_me_lists_effective_permissions_and_profiles(client_for):
    user = UserFactory(role_name="dispatcher")
    me = client_for(user).get("/api/v1/auth/me").json()
    assert me["role"] == "dispatcher"
    assert "orders:delete" in me["permissions"]
    assert "ratings:read" in me["permissions"]
    assert "ratings:write" not in me["permissions"]
    assert "users:write" not in me["permissions"]
    assert me["customer_id"] is None
    assert me["driver_id"] is None


# --- Refresh rotation ----------


def test_refresh_rotates_and_the_old_refresh_is_refused(api):
    user = UserFactory()
    tokens = tokens_for(user)
    first = api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh"] != tokens["refresh"]
    assert bearer(api, rotated["access"]).get("/api/v1/auth/me").status_code == 200

    replay = api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_invalid"


def test_reusing_a_rotated_refresh_revokes_the_whole_session(api):
    """A refresh token seen twice has leaked: the session, and its newest tokens, die."""
    user = UserFactory()
    tokens = tokens_for(user)
    rotated = api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").json()
    api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert (
        api.post("/api/v1/auth/refresh", {"refresh": rotated["refresh"]}, format="json").status_code
        == 401
    )
    assert bearer(api, rotated["access"]).get("/api/v1/auth/me").status_code == 401
    assert UserSession.objects.get(user=user).revoked_reason == "refresh_reuse"


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_refresh_with_a_malformed_token_is_401(api, refresh):
    response = api.post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_an_access_token_is_not_a_refresh_token(api):
    tokens = tokens_for(UserFactory())
    assert (
        api.post("/api/v1/auth/refresh", {"refresh": tokens["access"]}, format="json").status_code
        == 401
    )


def test_refresh_of_a_deactivated_user_is_refused(api):
    user = UserFactory()
    tokens = tokens_for(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert (
        api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code
        == 401
    )


# --- Logout and sessions ----------


def test_logout_revokes_the_refresh_and_its_access(api):
    user = UserFactory()
    tokens = tokens_for(user)
    bearer(api, tokens["access"])
    assert (
        api.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code
        == 204
    )
    assert api.get("/api/v1/auth/me").status_code == 401
    api.credentials()
    assert (
        api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code
        == 401
    )


def test_logout_with_someone_elses_refresh_revokes_nothing(api):
    mine, theirs = tokens_for(UserFactory()), tokens_for(other := UserFactory())
    response = bearer(api, mine["access"]).post(
        "/api/v1/auth/logout", {"refresh": theirs["refresh"]}, format="json"
    )
    assert response.status_code == 401
    assert UserSession.objects.get(user=other).revoked_at is None


def test_sessions_lists_own_active_sessions_with_client_details(api):
    user = UserFactory()
    tokens_for(user, user_agent="Phone", ip="10.1.2.3")
    current = tokens_for(user, user_agent="Laptop")
    revoked = tokens_for(user, user_agent="Old")
    bearer(api, revoked["access"]).post(
        "/api/v1/auth/logout", {"refresh": revoked["refresh"]}, format="json"
    )
    tokens_for(UserFactory(), user_agent="Someone else")

    sessions = bearer(api, current["access"]).get("/api/v1/auth/sessions").json()
    assert sorted(s["user_agent"] for s in sessions) == ["Laptop", "Phone"]
    assert {s["ip"] for s in sessions} == {"10.1.2.3", "127.0.0.1"}
    assert [s["current"] for s in sessions if s["user_agent"] == "Laptop"] == [True]
    assert set(sessions[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "ip",
        "current",
    }


def test_revoking_one_session_cuts_its_access_token_at_once(api):
    user = UserFactory()
    phone, laptop = tokens_for(user), tokens_for(user)
    phone_session = UserSession.objects.filter(user=user).order_by("created_at").first()
    response = bearer(api, laptop["access"]).delete(f"/api/v1/auth/sessions/{phone_session.pk}")
    assert response.status_code == 204
    assert bearer(api, phone["access"]).get("/api/v1/auth/me").status_code == 401
    assert bearer(api, laptop["access"]).get("/api/v1/auth/me").status_code == 200


def test_revoking_another_users_session_is_404(api):
    tokens_for(other := UserFactory())
    theirs = UserSession.objects.get(user=other)
    response = bearer(api, tokens_for(UserFactory())["access"]).delete(
        f"/api/v1/auth/sessions/{theirs.pk}"
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_all_sessions_signs_out_everywhere(api):
    user = UserFactory()
    first, second = tokens_for(user), tokens_for(user)
    assert bearer(api, first["access"]).delete("/api/v1/auth/sessions").status_code == 204
    for tokens in (first, second):
        assert bearer(api, tokens["access"]).get("/api/v1/auth/me").status_code == 401


def test_tokens_carry_a_random_session_id_not_the_row_id(api):
    user = UserFactory()
    first, second = tokens_for(user), tokens_for(user)
    sids = [AccessToken(t["access"])["sid"] for t in (first, second)]
    rows = list(UserSession.objects.filter(user=user).order_by("pk"))
    for sid, session in zip(sids, rows, strict=True):
        assert isinstance(sid, str)
        assert len(sid) >= 22
        assert not sid.isdigit()
        assert sid == session.public_id
        assert sid != str(session.pk)
    assert sids[0] != sids[1]
    assert RefreshToken(second["refresh"])["sid"] == sids[1]
    # The sessions list keeps its integer ids and never shows the token's.
    listed = bearer(api, second["access"]).get("/api/v1/auth/sessions").json()
    assert sorted(s["id"] for s in listed) == [r.pk for r in rows]
    assert not any(sid in str(listed) for sid in sids)


def test_a_token_naming_a_session_by_its_row_id_is_refused(api):
    """Even whoever holds the signing key cannot guess a live session's id."""
    user = UserFactory()
    tokens_for(user)
    session = UserSession.objects.get(user=user)
    forged = RefreshToken.for_user(user)
    forged["sid"] = session.pk
    response = bearer(api, str(forged.access_token)).get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
    refreshed = api.post("/api/v1/auth/refresh", {"refresh": str(forged)}, format="json")
    assert refreshed.status_code == 401


# --- Deactivation ----------


def test_deactivating_a_user_cuts_its_live_tokens_at_once(api, admin_api):
    user = UserFactory()
    tokens = tokens_for(user)
    assert bearer(api, tokens["access"]).get("/api/v1/auth/me").status_code == 200
    assert admin_api.delete(f"/api/v1/users/{user.pk}").status_code == 204
    assert api.get("/api/v1/auth/me").status_code == 401
    api.credentials()
    assert (
        api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code
        == 401
    )
    assert not UserSession.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_a_password_reset_by_staff_ends_existing_sessions(api, admin_api):
    user = UserFactory()
    tokens = tokens_for(user)
    response = admin_api.patch(
        f"/api/v1/users/{user.pk}", {"password": "An0ther-Str0ng-One"}, format="json"
    )
    assert response.status_code == 200
    assert bearer(api, tokens["access"]).get("/api/v1/auth/me").status_code == 401
    assert login(api, user.email, "An0ther-Str0ng-One").status_code == 200


# --- Throttling ----------


def test_login_is_throttled_per_account_across_ips(api):
    UserFactory(email="target@example.pe")
    for attempt in range(5):
        response = login(api, "target@example.pe", "wrong", REMOTE_ADDR=f"10.0.0.{attempt}")
        assert response.status_code == 401
    blocked = login(api, "target@example.pe", PASSWORD, REMOTE_ADDR="10.0.0.99")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "throttled"
    # Another account is not affected.
    UserFactory(email="bystander@example.pe")
    assert login(api, "bystander@example.pe", REMOTE_ADDR="10.0.0.99").status_code == 200


def test_login_is_throttled_per_ip_across_accounts(api):
    for attempt in range(20):
        login(api, f"guess{attempt}@example.pe", "wrong", REMOTE_ADDR="192.0.2.7")
    blocked = login(api, "guess-last@example.pe", "wrong", REMOTE_ADDR="192.0.2.7")
    assert blocked.status_code == 429
    assert login(api, "guess-last@example.pe", "wrong", REMOTE_ADDR="192.0.2.8").status_code == 401


def test_the_account_limit_ignores_case_and_spaces(api):
    UserFactory(email="case@example.pe")
    for variant in [
        "case@example.pe",
        "CASE@example.pe",
        " Case@Example.PE ",
        "case@EXAMPLE.pe",
        "cAse@example.pe",
    ]:
        login(api, variant, "wrong", REMOTE_ADDR="10.9.9.9")
    assert login(api, "Case@example.pe", PASSWORD, REMOTE_ADDR="10.9.9.10").status_code == 429


def test_a_forged_forwarded_for_does_not_escape_the_ip_limit(api):
    """With no trusted proxy (TRUSTED_PROXIES empty) the socket address counts, whatever the
    client claims in X-Forwarded-For."""
    for attempt in range(20):
        login(
            api,
            f"x{attempt}@example.pe",
            "wrong",
            REMOTE_ADDR="203.0.113.5",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
        )
    blocked = login(
        api, "y@example.pe", "wrong", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.1.1.1"
    )
    assert blocked.status_code == 429


@override_settings(TRUSTED_PROXIES=["10.0.0.1"])
def test_behind_a_trusted_proxy_the_forwarded_client_is_counted_and_recorded(api):
    user = UserFactory(email="proxied@example.pe")
    response = login(
        api,
        "proxied@example.pe",
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9",
    )
    assert response.status_code == 200
    assert UserSession.objects.get(user=user).ip == "198.51.100.9"
    for attempt in range(20):
        login(
            api,
            f"z{attempt}@example.pe",
            "wrong",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        )
    assert (
        login(
            api,
            "z@example.pe",
            "wrong",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        ).status_code
        == 429
    )
    # Another client behind the same proxy is not blocked.
    assert (
        login(
            api,
            "z@example.pe",
            "wrong",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="198.51.100.8",
        ).status_code
        == 401
    )
