"""One record per request, with the right user whatever the authentication, and nothing
of the body, tokens or passwords."""

import hashlib

import pytest
from django.test import Client

from identity.tests.factories import PASSWORD, UserFactory, tokens_for

pytestmark = pytest.mark.django_db


def test_a_jwt_request_is_recorded_with_its_user(api, recorded):
    user = UserFactory(role_name="dispatcher")
    access = tokens_for(user)["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = api.get("/api/v1/auth/me", HTTP_USER_AGENT="courier-app/2.1")
    (record,) = recorded()
    assert (record.user_id, record.username) == (user.pk, user.email)
    assert (record.kind, record.method, record.path) == ("request", "GET", "/api/v1/auth/me")
    assert record.status_code == 200
    assert record.duration_ms >= 0
    assert record.request_id == response["X-Request-ID"]
    assert record.user_agent == "courier-app/2.1"
    assert record.ip == "127.0.0.1"
    assert record.payload_hash is None
    assert access not in repr(record.to_mongo())


def test_a_session_request_is_recorded_with_its_user(recorded):
    admin = UserFactory(role_name="admin")
    browser = Client()
    browser.force_login(admin)
    assert browser.get("/admin/").status_code == 200
    (record,) = recorded()
    assert (record.user_id, record.username, record.path) == (admin.pk, admin.email, "/admin/")


def test_an_anonymous_request_is_recorded_without_a_user(api, recorded):
    assert api.get("/api/v1/auth/me").status_code == 401
    (record,) = recorded()
    assert (record.user_id, record.username, record.status_code) == (None, "", 401)


def test_a_failed_api_sign_in_records_the_account_but_never_the_password(api, recorded):
    UserFactory(email="known@example.pe")
    response = api.post(
        "/api/v1/auth/login",
        {"email": "known@example.pe", "password": "Not-The-Password-42"},
        format="json",
    )
    assert response.status_code == 401
    (record,) = recorded()
    assert (record.user_id, record.username, record.status_code) == (None, "known@example.pe", 401)
    assert record.payload_hash is None  # the body holds a password
    assert "Not-The-Password-42" not in repr(record.to_mongo())


def test_a_successful_api_sign_in_records_who_signed_in(api, recorded):
    user = UserFactory(email="back@example.pe")
    response = api.post(
        "/api/v1/auth/login", {"email": "back@example.pe", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    (record,) = recorded()
    assert (record.user_id, record.username) == (user.pk, "back@example.pe")
    assert response.json()["access"] not in repr(record.to_mongo())


def test_a_failed_admin_sign_in_records_the_account(recorded):
    response = Client().post(
        "/admin/login/", {"username": "intruder@example.pe", "password": "guess"}
    )
    assert response.status_code == 200  # the form again, with its error
    (record,) = recorded()
    assert (record.user_id, record.username, record.method) == (None, "intruder@example.pe", "POST")
    assert "guess" not in repr(record.to_mongo())


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/readyz", "/static/anything.css", "/api/docs/", "/api/schema/"],
)
def test_health_static_and_docs_are_not_recorded(api, recorded, path):
    api.get(path)
    api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="audited")
    assert [(r.path, r.request_id) for r in recorded()] == [("/api/v1/auth/me", "audited")]


def test_with_audit_disabled_nothing_is_recorded(api, recorded, settings):
    api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="while-enabled")
    settings.AUDIT_ENABLED = False
    api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="while-disabled")
    assert [r.request_id for r in recorded()] == ["while-enabled"]


def test_the_payload_hash_covers_the_first_kilobyte_of_a_mutating_body(api, recorded):
    body = b'{"refresh": "' + b"x" * 3000 + b'"}'
    # Refused before the view reads the body: the hash still covers its first 1 KB.
    response = api.generic("POST", "/api/v1/auth/logout", body, content_type="application/json")
    assert response.status_code == 401
    (record,) = recorded()
    assert record.payload_hash == hashlib.sha256(body[:1024]).hexdigest()


def test_the_payload_hash_is_the_same_whether_or_not_the_view_read_the_body(api, recorded):
    body = b'{"refresh": "' + b"y" * 3000 + b'"}'
    api.generic("POST", "/api/v1/auth/refresh", body, content_type="application/json")
    (record,) = recorded()
    assert record.payload_hash == hashlib.sha256(body[:1024]).hexdigest()


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(api, recorded, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api.get("/api/v1/auth/me", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="1.2.3.4")
    (record,) = recorded()
    assert record.ip == "198.51.100.4"


def test_behind_a_trusted_proxy_the_client_hop_is_recorded(api, recorded, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api.get("/api/v1/auth/me", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    # A client writing its own X-Forwarded-For only adds hops left of the real one.
    api.get("/api/v1/auth/me", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.8")
    assert [r.ip for r in recorded()] == ["203.0.113.9", "203.0.113.8"]
