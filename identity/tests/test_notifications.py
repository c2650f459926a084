"""The notification inbox (docs/domain.md, Tracking and geofences) in MongoDB: own rows only, staff may send."""

import pytest
from django.db import transaction

from identity import services
from identity.documents import Notification
from identity.tests.factories import UserFactory
from rappi import mongo

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Send through the service. Tests run inside a transaction, so the write waits for
    a commit; the capture runs it as the commit would."""

    def _send(user, kind="order.delivered", title="Delivered", **extra):
        with django_capture_on_commit_callbacks(execute=True):
            notification = services.notification_send(
                recipient_user_id=user.pk, kind=kind, title=title, **extra
            )
        return notification

    return _send


@pytest.fixture
def alice():
    return UserFactory(email="alice@example.pe")


@pytest.fixture
def bob():
    return UserFactory(email="bob@example.pe")


def test_inbox_lists_only_own_notifications_newest_first(client_for, alice, bob, send):
    send(alice, title="first")
    send(bob, title="not yours")
    send(alice, title="second", data={"order_id": 7})
    body = client_for(alice).get("/api/v1/notifications/").json()
    assert body["count"] == 2
    assert [n["title"] for n in body["results"]] == ["second", "first"]
    item = body["results"][0]
    assert set(item) == {"id", "kind", "title", "body", "data", "read_at", "created_at"}
    assert item["data"] == {"order_id": 7}
    assert item["read_at"] is None
    assert len(item["id"]) == 24


def test_another_users_notification_is_404_for_every_action(client_for, alice, bob, send):
    theirs = send(bob)
    client = client_for(alice)
    for method, path in [
        ("get", f"/api/v1/notifications/{theirs.pk}"),
        ("post", f"/api/v1/notifications/{theirs.pk}/read"),
        ("delete", f"/api/v1/notifications/{theirs.pk}"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    theirs.reload()
    assert theirs.read_at is None


def test_staff_do_not_read_other_inboxes_either(bob, send, admin_api):
    theirs = send(bob)
    assert admin_api.get(f"/api/v1/notifications/{theirs.pk}").status_code == 404
    assert admin_api.get("/api/v1/notifications/").json()["count"] == 0


# The last: a well-formed ObjectId no document has (a literal: parallel workers must collect
# the same test ids).
@pytest.mark.parametrize("bad_id", ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "5f0000000000000000000000"])
def test_malformed_or_unknown_ids_are_404(client_for, alice, bad_id):
    response = client_for(alice).get(f"/api/v1/notifications/{bad_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_mark_read_is_idempotent_and_keeps_the_first_time(client_for, alice, send):
    note = send(alice)
    client = client_for(alice)
    first = client.post(f"/api/v1/notifications/{note.pk}/read").json()
    second = client.post(f"/api/v1/notifications/{note.pk}/read").json()
    assert first["read_at"] is not None
    assert first["read_at"] == second["read_at"]


def test_unread_count_and_read_all(client_for, alice, bob, send):
    for _ in range(3):
        send(alice)
    send(bob)
    client = client_for(alice)
    assert client.get("/api/v1/notifications/unread-count").json() == {"count": 3}
    assert client.post("/api/v1/notifications/read-all").json() == {"updated": 3}
    assert client.get("/api/v1/notifications/unread-count").json() == {"count": 0}
    assert Notification.objects(recipient_user_id=bob.pk, read_at=None).count() == 1


def test_unread_and_kind_filters(client_for, alice, send):
    read = send(alice, kind="run.assigned")
    services.notification_mark_read(notification=read)
    send(alice, kind="run.assigned")
    send(alice, kind="payment.confirmed")
    client = client_for(alice)
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 2
    assert client.get("/api/v1/notifications/?unread=false").json()["count"] == 1
    assert client.get("/api/v1/notifications/?kind=payment.confirmed").json()["count"] == 1
    bad = client.get("/api/v1/notifications/?unread=perhaps")
    assert bad.status_code == 400
    assert "unread" in bad.json()["error"]["details"]["fields"]


def test_delete_own_notification(client_for, alice, send):
    note = send(alice)
    assert client_for(alice).delete(f"/api/v1/notifications/{note.pk}").status_code == 204
    assert Notification.objects(pk=note.pk).count() == 0


def test_staff_send_to_a_user(
    client_for, alice, django_capture_on_commit_callbacks, dispatcher_api
):
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher_api.post(
            "/api/v1/notifications/",
            {
                "recipient_user_id": alice.pk,
                "kind": "run.assigned",
                "title": "New run",
                "body": "Run #4",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    assert (
        client_for(alice).get("/api/v1/notifications/").json()["results"][0]["title"] == "New run"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipient_user_id": 999999, "kind": "x", "title": "t"}, "recipient_user_id"),
        ({"kind": "x", "title": "t"}, "recipient_user_id"),
        ({"recipient_user_id": 1, "kind": "Not Snake", "title": "t"}, "kind"),
        ({"recipient_user_id": 1, "kind": "x", "title": ""}, "title"),
        ({"recipient_user_id": 1, "kind": "x", "title": "t", "data": "nope"}, "data"),
    ],
)
def test_send_validates_its_input(alice, body, field, admin_api):
    if body.get("recipient_user_id") == 1:
        body["recipient_user_id"] = alice.pk
    response = admin_api.post("/api/v1/notifications/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_a_customer_holding_notifications_write_still_cannot_send(client_for, alice, bob):
    response = client_for(alice).post(
        "/api/v1/notifications/",
        {"recipient_user_id": bob.pk, "kind": "x", "title": "spam"},
        format="json",
    )
    assert response.status_code == 403
    assert Notification.objects.count() == 0


def test_send_inside_a_transaction_waits_for_the_commit(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.notification_send(recipient_user_id=alice.pk, kind="x", title="t")
        assert Notification.objects.count() == 0
    assert Notification.objects(recipient_user_id=alice.pk).count() == 1


def test_send_inside_a_rolled_back_transaction_writes_nothing(
    alice, django_capture_on_commit_callbacks
):
    def send_then_fail():
        with transaction.atomic():
            services.notification_send(recipient_user_id=alice.pk, kind="x", title="t")
            raise RuntimeError("rollback")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        send_then_fail()
    assert callbacks == []
    assert Notification.objects.count() == 0


def test_the_inbox_index_exists():
    indexes = mongo.get_db()["notifications"].index_information()
    assert [("recipient_user_id", 1), ("read_at", 1), ("created_at", 1)] in [
        spec["key"] for spec in indexes.values()
    ]
