"""Client mistakes that once produced a 500 (most found by the schema fuzzer) now get the
one error body."""

import pytest

from identity.documents import Notification
from identity.models import User
from identity.tests.factories import PASSWORD, UserFactory, signed_in_client
from rappi.testing.concurrency import race

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/v1/roles/null,null", "/api/v1/users/abc", "/api/v1/users/1.5"]
)
def test_non_numeric_ids_are_404(admin_api, path):
    response = admin_api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_nul_bytes_in_login_are_400(api):
    response = api.post(
        "/api/v1/auth/login", {"email": "a\x00b@x.pe", "password": "x\x00"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]["fields"]) == {"email", "password"}


def test_a_nul_byte_in_the_user_agent_does_not_break_login(api):
    UserFactory(email="ua@x.pe")
    response = api.post(
        "/api/v1/auth/login",
        {"email": "ua@x.pe", "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT="App\x00/1",
    )
    assert response.status_code == 200


def test_a_nul_byte_in_search_is_400(admin_api):
    response = admin_api.get("/api/v1/users/?search=a%00b")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    "value",
    [
        "0903-12-07T06:29:09.2+21:26",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "yesterday",
    ],
)
def test_odd_instants_in_date_filters_never_500(admin_api, value):
    from urllib.parse import quote

    response = admin_api.get(f"/api/v1/users/?created_after={quote(value)}")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "created_after" in response.json()["error"]["details"]["fields"]


def test_a_valid_offset_is_compared_in_utc(admin_api):
    user = UserFactory()
    stamp = user.created_at.astimezone().isoformat()
    from urllib.parse import quote

    found = admin_api.get(f"/api/v1/users/?created_after={quote(stamp)}&search={user.email}").json()
    assert found["count"] == 1


@pytest.mark.parametrize("value", ["maybe", "yes please", "2"])
def test_a_bad_boolean_filter_is_400_not_ignored(admin_api, value):
    response = admin_api.get(f"/api/v1/users/?is_active={value}")
    assert response.status_code == 400
    assert "is_active" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("value", ["1_0", "\uff11"])  # underscore, full-width digit one
def test_only_plain_digits_are_a_page(admin_api, value):
    assert admin_api.get(f"/api/v1/users/?page={value}").status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        {"$where": 1},
        {"a": {"$gt": 1}},
        {"a.b": 1},
        {"a\x00": 1},
        {"n": 2**70},
        {"": 1},
        {"deep": [[[[[[[[[[[1]]]]]]]]]]]},
    ],
)
def test_notification_data_mongodb_would_refuse_is_400(admin_api, data):
    recipient = UserFactory()
    body = {"recipient_user_id": recipient.pk, "kind": "x", "title": "t", "data": data}
    response = admin_api.post("/api/v1/notifications/", body, format="json")
    assert response.status_code == 400
    assert "data" in response.json()["error"]["details"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_staff_send_outside_a_transaction_stores_and_returns_the_id():
    """The production path: no surrounding transaction, so the write happens in the request."""
    from identity import services

    services.roles_seed()
    admin = signed_in_client(UserFactory(role_name="admin"))
    recipient = UserFactory()
    response = admin.post(
        "/api/v1/notifications/",
        {"recipient_user_id": recipient.pk, "kind": "x", "title": "t", "data": {"n": 1}},
        format="json",
    )
    assert response.status_code == 201
    assert len(response.json()["id"]) == 24
    assert Notification.objects(pk=response.json()["id"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_ups_with_one_email_give_one_user_and_clean_400s():
    from identity import services

    services.roles_seed()

    def sign_up():
        from rest_framework.test import APIClient

        return APIClient().post(
            "/api/v1/auth/register",
            {"email": "race@x.pe", "password": PASSWORD, "full_name": "Racer"},
            format="json",
            REMOTE_ADDR="198.51.100.1",
        )

    answers = race(*[sign_up] * 4)
    assert sorted(answer.status_code for answer in answers) == [201, 400, 400, 400]
    assert User.objects.filter(email="race@x.pe").count() == 1


# --- Deeply nested JSON ---------------------------------------------------------------------

DEEP_ARRAYS = "[" * 10_000 + "]" * 10_000  # 20 KB
DEEP_OBJECTS = '{"a":' * 5_000 + "1" + "}" * 5_000


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _assert_too_deep(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "nested deeper than" in error["details"]["fields"]["non_field_errors"][0]


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh"]
)
def test_deeply_nested_json_to_a_public_endpoint_is_400_not_500(api, path, body):
    _assert_too_deep(api.post(path, body, content_type="application/json"))


def test_deeply_nested_json_inside_a_field_is_400(api):
    body = '{"email": "a@b.pe", "password": ' + DEEP_ARRAYS + "}"
    _assert_too_deep(api.post("/api/v1/auth/login", body, content_type="application/json"))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/notifications/"),
        ("post", "/api/v1/geofences/"),
        ("post", "/api/v1/orders/quote"),
        ("patch", "/api/v1/users/{me}"),
    ],
)
def test_deeply_nested_json_to_an_authenticated_endpoint_is_400_not_500(client_for, method, path):
    user = UserFactory(role_name="admin")
    client = client_for(user)
    response = getattr(client, method)(
        path.format(me=user.pk), DEEP_ARRAYS, content_type="application/json"
    )
    _assert_too_deep(response)


def test_deeply_nested_json_with_an_idempotency_key_is_400_not_500(admin_api):
    response = admin_api.post(
        "/api/v1/notifications/",
        DEEP_ARRAYS,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="deep-1",
    )
    _assert_too_deep(response)


def test_json_at_the_nesting_limit_parses_and_one_level_more_does_not(api):
    from rappi.api.parsers import JSON_MAX_DEPTH

    at_limit = api.post(
        "/api/v1/auth/login", _nested(JSON_MAX_DEPTH), content_type="application/json"
    )
    assert at_limit.status_code == 400
    assert "nested" not in at_limit.json()["error"]["details"]["fields"]["non_field_errors"][0]
    _assert_too_deep(
        api.post("/api/v1/auth/login", _nested(JSON_MAX_DEPTH + 1), content_type="application/json")
    )


@pytest.mark.parametrize("digits", ["9" * 20, "9" * 5000, str(2**63)])
@pytest.mark.parametrize(
    "path", ["/api/v1/orders/{}", "/api/v1/customers/{}", "/api/v1/assignments/{}"]
)
def test_an_id_too_long_for_any_row_is_not_found(admin_api, path, digits):
    response = admin_api.get(path.format(digits))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
