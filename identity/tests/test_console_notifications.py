"""The console's inbox, /console/notifications/: the signed-in staff member's own
notifications only (as the API), unread first, linking to what they are about, marked read
one by one or all at once through identity's services; the unread count in the
navigation; the same few queries at any page size."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from django.urls import NoReverseMatch, reverse

from identity import selectors
from identity.documents import Notification
from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.console import console_client
from rappi.testing.mongo_commands import mongo_commands

pytestmark = pytest.mark.django_db

URL = "/console/notifications/"
READ_ALL = "/console/notifications/read-all/"
T0 = datetime(2030, 5, 1, 17, 0, tzinfo=UTC)


def notify(user, title, *, minute=0, read=False, **fields) -> Notification:
    notification = Notification(
        recipient_user_id=user.pk,
        kind=fields.pop("kind", "incident.reported"),
        title=title,
        created_at=T0 + timedelta(minutes=minute),
        read_at=T0 + timedelta(hours=1) if read else None,
        **fields,
    )
    notification.save()
    return notification


def titles(response) -> list[str]:
    return re.findall(r'<h2 class="notification-title">\s*(?:<span[^>]*>[^<]*</span>)?\s*([^<]+?)\s*</h2>',
                      response.content.decode())  # fmt: skip


def console_url(name: str, pk) -> str | None:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:  # a page another part of the console adds
        return None


# --- Access and scope ------------------------------------------------------------------------


def test_a_staff_member_sees_only_their_own_inbox(console, dispatcher):
    notify(dispatcher, "Mine")
    notify(UserFactory(role_name="dispatcher"), "A colleague's")
    response = console.get(URL)
    assert response.status_code == 200
    assert titles(response) == ["Mine"]


def test_every_staff_role_has_an_inbox():
    client = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    assert client.get(URL).status_code == 200
    assert 'href="/console/notifications/"' in client.get("/console/").content.decode()


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_cannot_open_it(role):
    client = console_client(UserFactory(role_name=role))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"


# --- The list --------------------------------------------------------------------------------


def test_unread_come_first_then_read_newest_first_within_each(console, dispatcher):
    notify(dispatcher, "Old unread", minute=0)
    notify(dispatcher, "New read", minute=30, read=True)
    notify(dispatcher, "New unread", minute=20)
    notify(dispatcher, "Old read", minute=10, read=True)
    assert titles(console.get(URL)) == ["New unread", "Old unread", "New read", "Old read"]


def test_paging_crosses_from_unread_to_read(console, dispatcher):
    for n in range(20):
        notify(dispatcher, f"Unread {n:02}", minute=n)
    for n in range(10):
        notify(dispatcher, f"Read {n:02}", minute=n, read=True)
    first = titles(console.get(URL))
    second = titles(console.get(URL, {"page": 2}))
    assert len(first) == 25
    assert len(second) == 5
    assert first[0] == "Unread 19"
    assert first[19] == "Unread 00"
    assert first[20] == "Read 09"
    assert second == ["Read 04", "Read 03", "Read 02", "Read 01", "Read 00"]


def test_the_order_is_identitys_selector_unread_then_read_filtered_as_the_api(dispatcher):
    notify(dispatcher, "Old unread", minute=0)
    notify(dispatcher, "New read", minute=30, read=True)
    notify(dispatcher, "New unread", minute=20)
    notify(dispatcher, "Payment", minute=40, kind="payment.confirmed")
    notify(UserFactory(role_name="dispatcher"), "A colleague's", minute=50)
    unread, read = selectors.notification_inbox_for(user=dispatcher)
    assert [n.title for n in unread] == ["Payment", "New unread", "Old unread"]
    assert [n.title for n in read] == ["New read"]
    unread, read = selectors.notification_inbox_for(
        user=dispatcher, filters={"kind": "payment.confirmed"}
    )
    assert ([n.title for n in unread], list(read)) == (["Payment"], [])


def test_a_notification_names_what_it_is_about(console, dispatcher):
    zone = ObjectId()
    notify(dispatcher, "Run left its corridor", data={"assignment_id": 7, "order_id": 5,
                                               "geofence_id": str(zone)})  # fmt: skip
    page = console.get(URL).content.decode()
    assert f'href="/console/geofences/{zone}/"' in page
    for name, pk, label in (("console:order", 5, "Order #5"), ("console:run", 7, "Run #7")):
        assert label in page
        url = console_url(name, pk)
        assert url is None or f'href="{url}">{label}</a>' in page


def test_data_that_names_nothing_links_nothing(console, dispatcher):
    notify(dispatcher, "Odd", data={"order_id": "five", "assignment_id": True, "geofence_id": "x"})
    page = console.get(URL).content.decode()
    assert "Odd" in page
    assert 'class="notification-about"' not in page


def test_the_unread_filter_reads_as_the_apis(console, dispatcher):
    notify(dispatcher, "Unread")
    notify(dispatcher, "Read", read=True)
    assert titles(console.get(URL, {"unread": "true"})) == ["Unread"]
    assert titles(console.get(URL, {"unread": "false"})) == ["Read"]
    assert titles(console.get(URL, {"kind": "payment.confirmed"})) == []


def test_a_bad_filter_is_shown_with_no_rows(console, dispatcher):
    notify(dispatcher, "Unread")
    response = console.get(URL, {"unread": "perhaps"})
    assert response.status_code == 200
    assert titles(response) == []
    assert response.context["filters"].form.errors["unread"]
    assert 'class="error"' in response.content.decode()


# --- Marking read ----------------------------------------------------------------------------


def test_marking_one_read_goes_through_the_service_and_back_to_the_page(console, dispatcher):
    notification = notify(dispatcher, "Incident on run #7")
    response = console.post(
        f"{URL}{notification.pk}/read/", {"next": f"{URL}?unread=true"}, follow=True
    )
    assert response.redirect_chain == [(f"{URL}?unread=true", 302)]
    notification.reload()
    assert notification.read_at is not None
    assert "Marked as read: Incident on run #7" in response.content.decode()
    assert titles(response) == []


def test_marking_read_twice_keeps_the_first_time(console, dispatcher):
    notification = notify(dispatcher, "Once", read=True)
    first = notification.read_at
    console.post(f"{URL}{notification.pk}/read/")
    notification.reload()
    assert notification.read_at == first


def test_someone_elses_notification_is_a_404_and_stays_unread(console):
    theirs = notify(UserFactory(role_name="dispatcher"), "Not yours")
    assert console.post(f"{URL}{theirs.pk}/read/").status_code == 404
    theirs.reload()
    assert theirs.read_at is None


@pytest.mark.parametrize("pk", ["1", "not-an-id", "0" * 24])
def test_an_unknown_id_is_a_404(console, pk):
    assert console.post(f"{URL}{pk}/read/").status_code == 404


def test_an_outside_next_is_ignored(console, dispatcher):
    notification = notify(dispatcher, "Phish")
    response = console.post(f"{URL}{notification.pk}/read/", {"next": "https://evil.example/"})
    assert response["Location"] == URL


def test_mark_all_read_marks_only_the_users_own(console, dispatcher):
    mine = [notify(dispatcher, f"Mine {n}") for n in range(3)]
    theirs = notify(UserFactory(role_name="dispatcher"), "Theirs")
    response = console.post(READ_ALL, follow=True)
    assert "3 notifications marked as read." in response.content.decode()
    assert all(n.reload().read_at is not None for n in mine)
    assert theirs.reload().read_at is None


def test_the_mark_actions_need_notifications_write_as_in_the_api():
    user = UserFactory(role=RoleFactory(grants=["notifications:read"]))
    notification = notify(user, "Own, unread")
    reader = console_client(user)
    assert reader.post(READ_ALL).status_code == 403
    assert reader.post(f"{URL}{notification.pk}/read/").status_code == 403
    assert notification.reload().read_at is None
    page = reader.get(URL).content.decode()
    assert "Own, unread" in page
    assert "Mark all as read" not in page
    assert "Mark as read" not in page


def test_the_mark_actions_are_posts(console, dispatcher):
    notification = notify(dispatcher, "x")
    assert console.get(READ_ALL).status_code == 405
    assert console.get(f"{URL}{notification.pk}/read/").status_code == 405


# --- The navigation's count ------------------------------------------------------------------


def test_the_navigation_shows_the_unread_count(console, dispatcher):
    for n in range(3):
        notify(dispatcher, f"n{n}")
    notify(dispatcher, "read", read=True)
    notify(UserFactory(role_name="dispatcher"), "someone else's")
    page = console.get("/console/").content.decode()
    assert re.search(r'href="/console/notifications/"[^>]*>Notifications <span class="nav-count">3<',
                     page)  # fmt: skip


def test_no_count_when_all_is_read(console, dispatcher):
    notify(dispatcher, "read", read=True)
    assert 'class="nav-count"' not in console.get("/console/").content.decode()


def test_the_count_is_left_out_while_mongodb_does_not_answer(console, mongo_test_database):
    from rappi import mongo
    from rappi.testing.net import dead_uri

    mongo.connect(dead_uri(), db="outage_probe", timeout_ms=5000)
    try:
        started = datetime.now(UTC)
        response = console.get("/console/")
        elapsed = datetime.now(UTC) - started
    finally:
        mongo.connect(mongo_test_database["uri"], db=mongo_test_database["db"])
    assert response.status_code == 200
    assert 'href="/console/notifications/"' in response.content.decode()
    assert elapsed < timedelta(seconds=2)


# --- Cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 30])
def test_a_page_costs_the_same_queries_at_any_size(
    console, dispatcher, django_assert_max_num_queries, mongo_test_database, count
):
    for n in range(count):
        notify(dispatcher, f"n{n}", minute=n, read=n % 2 == 0)
    console.get(URL)
    # The session, its user, role and grants: what any console page costs.
    with django_assert_max_num_queries(4), mongo_commands(mongo_test_database) as sent:
        response = console.get(URL)
    assert len(titles(response)) == min(count, 25)
    inbox = sorted(c.name for c in sent if c.collection == "notifications")
    # Unread and read counted and read (a page of each), the unread count of the page's
    # head and of the navigation.
    assert inbox == ["aggregate"] * 4 + ["find"] * 2
