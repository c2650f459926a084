"""`Idempotency-Key` (docs/api.md), exercised on the staff notification send."""

import pytest

from identity.documents import Notification
from identity.tests.factories import UserFactory
from rappi.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipient():
    return UserFactory()


@pytest.fixture
def post(dispatcher_api, recipient, django_capture_on_commit_callbacks):
    def _post(key=None, title="Hello", client=None):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
        with django_capture_on_commit_callbacks(execute=True):
            return (client or dispatcher_api).post(
                "/api/v1/notifications/",
                {"recipient_user_id": recipient.pk, "kind": "test", "title": title},
                format="json",
                **headers,
            )

    return _post


def test_a_replay_returns_the_first_response_and_applies_nothing_twice(post):
    first = post(key="k-1")
    second = post(key="k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Notification.objects.count() == 1


def test_without_a_key_each_request_applies(post):
    post()
    post()
    assert Notification.objects.count() == 2


def test_the_same_key_for_a_different_request_is_422(post):
    post(key="k-2", title="first")
    response = post(key="k-2", title="second")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Notification.objects.count() == 1


def test_keys_are_scoped_per_user(post, admin_api):
    post(key="shared")
    response = post(key="shared", client=admin_api)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert Notification.objects.count() == 2


def test_a_retry_while_the_first_is_still_running_is_409(post):
    post(key="busy")
    # Put the record back in its in-flight state: claimed, no response stored yet.
    IdempotencyRecord.objects.filter(key="busy").update(status_code=None, response_body=None)
    response = post(key="busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert Notification.objects.count() == 1


def test_a_claim_abandoned_by_a_dead_request_is_taken_over(post):
    from datetime import timedelta

    from django.utils import timezone

    post(key="orphan")
    Notification.objects.delete()
    # The worker died after claiming: no answer stored, and long ago.
    IdempotencyRecord.objects.filter(key="orphan").update(
        status_code=None, response_body=None, created_at=timezone.now() - timedelta(minutes=10)
    )
    response = post(key="orphan")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert Notification.objects.count() == 1


def test_a_failed_request_releases_its_key(post, dispatcher_api):
    bad = dispatcher_api.post(
        "/api/v1/notifications/", {"kind": "test"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3"
    )
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="k-3").exists()


@pytest.mark.parametrize("key", ["x" * 256, " "])
def test_a_malformed_key_is_400(post, key):
    response = post(key=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]["fields"]


def test_the_schema_documents_the_header(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    send = schema["paths"]["/api/v1/notifications/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in send["parameters"]]
    assert {"409", "422"} <= set(send["responses"])
