"""docs/api.md: the one error body for every status, request ids, lists, health checks."""

import json

import pytest
from django.test import override_settings

from identity.tests.factories import UserFactory
from rappi import mongo
from rappi.localmongo import LocalMongoServer

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]


# --- Error body for each status class ----------


def test_validation_error_names_each_field(api):
    error = assert_error(
        api.post("/api/v1/auth/register", {"email": "nope"}, format="json"), 400, "invalid"
    )
    assert set(error["details"]["fields"]) == {"email", "password", "full_name"}
    assert all(isinstance(m, str) for m in error["details"]["fields"]["email"])


def test_malformed_json_is_invalid_with_the_reason(api):
    response = api.post("/api/v1/auth/login", "{not json", content_type="application/json")
    error = assert_error(response, 400, "invalid")
    assert "JSON" in error["details"]["fields"]["non_field_errors"][0]


def test_missing_token_is_401_not_authenticated(api):
    assert_error(api.get("/api/v1/auth/me"), 401, "not_authenticated")


def test_expired_or_garbage_token_is_401_token_invalid(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer eyJhbGciOiJIUzI1NiJ9.e30.bad")
    assert_error(api.get("/api/v1/auth/me"), 401, "token_invalid")


def test_missing_permission_is_403(client_for):
    customer = UserFactory(role_name="customer")
    assert_error(client_for(customer).get("/api/v1/users/"), 403, "permission_denied")


def test_unknown_api_path_is_404_in_the_error_body(api):
    assert_error(api.get("/api/v1/no-such-thing"), 404, "not_found")


def test_unknown_row_is_404_in_the_error_body(client_for):
    admin = UserFactory(role_name="admin")
    assert_error(client_for(admin).get("/api/v1/users/999999"), 404, "not_found")


def test_wrong_method_is_405(api):
    assert_error(api.get("/api/v1/auth/login"), 405, "method_not_allowed")


def test_non_json_body_is_415(api):
    response = api.post("/api/v1/auth/login", "email=a", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_json_body_is_413(api):
    body = json.dumps({"email": "a@b.pe", "password": "x" * 4096})
    assert_error(
        api.post("/api/v1/auth/login", body, content_type="application/json"),
        413,
        "payload_too_large",
    )


def test_throttled_is_429_with_retry_after(api):
    for _ in range(5):
        api.post("/api/v1/auth/login", {"email": "who@x.pe", "password": "bad"}, format="json")
    response = api.post(
        "/api/v1/auth/login", {"email": "who@x.pe", "password": "bad"}, format="json"
    )
    error = assert_error(response, 429, "throttled")
    assert 0 < error["details"]["retry_after"] <= 3600
    assert response.headers["Retry-After"] == str(error["details"]["retry_after"])


@pytest.mark.urls("rappi.tests.urls")
def test_unexpected_error_in_an_api_view_is_500_without_internals(api, caplog):
    api.raise_request_exception = False
    error = assert_error(api.get("/api/v1/test/explode"), 500, "server_error")
    assert "secret" not in json.dumps(error)
    assert any("secret internals" in str(r.exc_info) for r in caplog.records if r.exc_info)


@pytest.mark.urls("rappi.tests.urls")
def test_unexpected_error_outside_drf_on_an_api_path_is_500_json(client):
    client.raise_request_exception = False
    error = assert_error(client.get("/api/v1/test/explode-plain"), 500, "server_error")
    assert "secret" not in json.dumps(error)


def test_non_api_404_stays_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- Request id ----------


def test_request_id_is_generated_when_absent(client):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_request_id_from_the_client_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.x")
    assert response["X-Request-ID"] == "abc-123.x"


def test_unsafe_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nInjected: yes")
    assert response["X-Request-ID"] != "bad id\nInjected: yes"
    assert len(response["X-Request-ID"]) == 32


def test_request_log_line_is_json_with_the_request_id(client):
    import io
    import logging

    from rappi.logging import JsonFormatter, RequestIdFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("rappi.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.get("/healthz", HTTP_X_REQUEST_ID="trace-42")
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert entry["request_id"] == "trace-42"
    assert entry["path"] == "/healthz"
    assert entry["status_code"] == 200
    assert entry["duration_ms"] >= 0


# --- Health ----------


def test_healthz_is_public(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_only_whether_each_database_answers(client):
    """Public: nothing about timings, errors or the audit writer's state."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"postgresql": {"ok": True}, "mongodb": {"ok": True}},
    }


@pytest.fixture
def own_mongo_server(mongo_test_database):
    """The app connected to a MongoDB-compatible server of this test's own, which the test
    may stop; the session's server is connected again afterwards."""
    server = LocalMongoServer()
    mongo.connect(server.start(), db="outage_probe", timeout_ms=300)
    try:
        yield server
    finally:
        server.stop()
        mongo.connect(mongo_test_database["uri"], db=mongo_test_database["db"])


def test_readyz_reports_a_mongodb_outage_with_503(client, own_mongo_server):
    assert client.get("/readyz").status_code == 200
    own_mongo_server.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"postgresql": {"ok": True}, "mongodb": {"ok": False}},
    }


# --- API schema and docs ----------


def test_schema_and_docs_are_public(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/auth/login" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_an_unreachable_mongodb_is_503_not_500(own_mongo_server):
    from identity.tests.factories import signed_in_client

    client = signed_in_client(UserFactory())
    own_mongo_server.stop()
    assert_error(client.get("/api/v1/notifications/"), 503, "service_unavailable")
