"""The console's audit log, /console/audit/: `audit:read` only, the API's filters as a
form (a bad value is shown, with no rows), requests and domain records readable, the
summary of the chosen range on top, and the same few queries at any page size."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from audit.documents import AuditEvent
from audit.tests.factories import DomainRecordFactory, make_record
from identity.tests.factories import RoleFactory, UserFactory
from rappi import mongo
from rappi.testing.console import console_client
from rappi.testing.mongo_commands import mongo_commands

pytestmark = pytest.mark.django_db

URL = "/console/audit/"
T0 = datetime(2030, 5, 1, 17, 0, tzinfo=UTC)  # 12:00 in Lima


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def insert(*records) -> None:
    AuditEvent._get_collection().insert_many(list(records))


def request_record(n, minute, *, status=200, path="/api/v1/orders/", method="GET", **fields):
    return make_record(
        n,
        timestamp=at(minute),
        status_code=status,
        path=path,
        method=method,
        user_id=7,
        username="ana@rappi.pe",
        ip="203.0.113.9",
        duration_ms=12.5,
        **fields,
    )


def domain_record(n, minute, **fields):
    return DomainRecordFactory(
        number=n,
        timestamp=at(minute),
        user_id=7,
        username="ana@rappi.pe",
        method="POST",
        path="/console/orders/5/cancel/",
        **fields,
    )


def table(response) -> str:
    """The records' table (the summary above it names paths and users too)."""
    page = response.content.decode()
    return page[page.index('<table class="audit-records">') :]


def rows(response) -> list[str]:
    return re.findall(r'<tr class="audit-(request|domain)"', response.content.decode())


RANGE = {"since": "2030-05-01T11:00", "until": "2030-05-01T13:00"}  # Lima, around T0


# --- Access ----------------------------------------------------------------------------------


def test_a_dispatcher_reads_the_audit_log(console):
    insert(request_record(1, 0))
    response = console.get(URL, RANGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "ana@rappi.pe" in page
    assert "/api/v1/orders/" in page
    assert "203.0.113.9" in page
    assert "12.5 ms" in page


def test_a_staff_role_without_audit_read_gets_the_403_page():
    client = console_client(UserFactory(role=RoleFactory(grants=["orders:read", "geofences:read"])))
    response = client.get(URL)
    assert response.status_code == 403
    assert 'href="/console/audit/"' not in response.content.decode()


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_cannot_open_it(role):
    client = console_client(UserFactory(role_name=role))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"
    assert "_auth_user_id" not in client.session


def test_the_navigation_links_the_audit_log_only_for_holders_of_audit_read(console):
    assert 'href="/console/audit/"' in console.get("/console/").content.decode()
    other = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    assert 'href="/console/audit/"' not in other.get("/console/").content.decode()


# --- Rows ------------------------------------------------------------------------------------


def test_records_come_newest_first_with_the_time_in_lima(console):
    insert(request_record(1, 0, path="/api/v1/first"), request_record(2, 5, path="/api/v1/second"))
    page = table(console.get(URL, RANGE))
    assert page.index("/api/v1/second") < page.index("/api/v1/first")
    assert "<span>01/05/2030</span> <span>12:05:00</span>" in page  # 17:05 UTC


def test_a_domain_record_shows_its_action_target_and_changes(console):
    insert(domain_record(1, 0))
    page = console.get(URL, RANGE).content.decode()
    assert "order.cancel" in page
    assert "order #5" in page
    assert re.search(r"<dt>status</dt><dd><span class=\"old\">pending</span> → "
                     r"<span class=\"new\">cancelled</span></dd>", page)  # fmt: skip
    assert "POST /console/orders/5/cancel/" in page


def test_structured_changes_are_shown_as_json(console):
    insert(domain_record(1, 0, changes={"stops": {"old": [1, 2], "new": None}, "flag": True}))
    page = console.get(URL, RANGE).content.decode()
    assert "[1, 2]" in page
    assert "<dt>flag</dt>" in page


def test_thirty_records_are_paged_twenty_five_then_five(console):
    insert(*[request_record(n, n) for n in range(30)])
    first = console.get(URL, RANGE)
    assert len(rows(first)) == 25
    assert "30 results" in first.content.decode()
    assert len(rows(console.get(URL, {**RANGE, "page": 2}))) == 5


# --- Filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status_code": "5xx"}, 1),
        ({"status_code": "404"}, 1),
        ({"method": "post"}, 2),  # the domain record happened in a POST
        ({"path": "/api/v1/vehicles"}, 1),
        ({"kind": "domain"}, 1),
        ({"action": "order.cancel"}, 1),
        ({"user_id": "7"}, 5),
        ({"user_id": "8"}, 0),
        ({"since": "2030-05-01T12:02", "until": "2030-05-01T12:04"}, 2),
    ],
)
def test_the_apis_filters_narrow_the_list(console, query, expected):
    insert(
        request_record(1, 0),
        request_record(2, 1, status=500),
        request_record(3, 2, status=404, path="/api/v1/vehicles/3"),
        request_record(4, 3, method="POST"),
        domain_record(5, 4),
    )
    assert len(rows(console.get(URL, {**RANGE, **query}))) == expected


def test_a_local_time_in_the_form_means_lima_time(console):
    insert(request_record(1, 0))  # 12:00 Lima, 17:00 UTC
    assert len(rows(console.get(URL, {"since": "2030-05-01T12:00"}))) == 1
    assert len(rows(console.get(URL, {"since": "2030-05-01T12:00:01"}))) == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status_code": "9xx"}, "status_code"),
        ({"user_id": "abc"}, "user_id"),
        ({"method": "BREW"}, "method"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2030-05-01T13:00", "until": "2030-05-01T12:00"}, "until"),
    ],
)
def test_a_bad_filter_is_shown_with_no_rows_and_no_summary(console, query, field):
    insert(request_record(1, 0))
    response = console.get(URL, query)
    assert response.status_code == 200
    assert rows(response) == []
    assert response.context["filters"].form.errors[field]
    assert 'class="error"' in response.content.decode()
    assert response.context["summary"] is None


def test_a_bad_status_says_what_is_expected(console):
    response = console.get(URL, {"status_code": "9xx"})
    assert response.context["filters"].form.errors["status_code"] == [
        'A status like "404" or a class like "5xx".'
    ]


def test_a_start_in_the_future_without_an_end_is_explained_not_a_500(console):
    response = console.get(URL, {"since": "2999-01-01T00:00"})
    assert response.status_code == 200
    assert response.context["filters"].form.errors["since"]
    assert response.context["summary"] is None


def test_an_end_at_the_dawn_of_time_is_no_500(console):
    response = console.get(URL, {"until": "0001-01-01T06:00"})
    assert response.status_code == 200


# --- Summary ---------------------------------------------------------------------------------


def test_the_summary_counts_the_chosen_range(console):
    insert(
        request_record(1, 0),
        request_record(2, 1, status=500),
        request_record(3, 2, status=404),
        request_record(4, 3, method="POST", path="/api/v1/vehicles/"),
        domain_record(5, 4),
        request_record(6, 600),  # ten hours later: outside the range
    )
    response = console.get(URL, RANGE)
    summary = response.context["summary"]
    assert summary["total"] == 4
    assert summary["by_status_class"]["5xx"] == 1
    assert summary["by_status_class"]["4xx"] == 1
    assert summary["domain_actions"] == [{"action": "order.cancel", "count": 1}]
    page = response.content.decode()
    assert "Requests from 01/05/2030 11:00 to 01/05/2030 13:00 (Lima)" in page
    assert "25.0 %" in page  # one 5xx of four


def test_without_a_range_the_summary_covers_the_last_day(console):
    now = datetime.now(UTC)
    insert(
        make_record(1, timestamp=now - timedelta(hours=1)),
        make_record(2, timestamp=now - timedelta(hours=30)),
    )
    response = console.get(URL)
    assert response.context["summary"]["total"] == 1
    assert len(rows(response)) == 2  # the list itself is not limited to the day


# --- Cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 30])
def test_a_page_costs_the_same_queries_at_any_size(
    console, django_assert_max_num_queries, mongo_test_database, count
):
    insert(*[request_record(n, n % 60) for n in range(count - 1)], domain_record(99, 1))
    console.get(URL, RANGE)  # the session is loaded once
    # The session, its user, role and grants: what any console page costs.
    with django_assert_max_num_queries(4), mongo_commands(mongo_test_database) as sent:
        response = console.get(URL, RANGE)
    assert len(rows(response)) == min(count, 25)
    audit = [command for command in sent if command.collection == "audit_events"]
    # The summary's two aggregations and its durations; the rows' count and page.
    assert sorted(command.name for command in audit) == [
        "aggregate", "aggregate", "aggregate", "find", "find"
    ]  # fmt: skip


def test_the_rows_are_counted_by_the_server_not_read_whole(console, mongo_test_database):
    insert(*[request_record(n, n % 60) for n in range(30)])
    with mongo_commands(mongo_test_database) as sent:
        console.get(URL, RANGE)
    finds = [c.body for c in sent if c.name == "find" and c.collection == "audit_events"]
    rows_read = [body for body in finds if "duration_ms" not in (body.get("projection") or {})]
    assert [(body.get("skip", 0), body.get("limit")) for body in rows_read] == [(0, 25)]


def test_an_unreachable_mongodb_is_a_503_page_not_a_500(console, mongo_test_database):
    from rappi.testing.net import dead_uri

    mongo.connect(dead_uri(), db="outage_probe", timeout_ms=300)
    try:
        response = console.get(URL)
    finally:
        mongo.connect(mongo_test_database["uri"], db=mongo_test_database["db"])
    assert response.status_code == 503
    page = response.content.decode()
    assert "Temporarily unavailable" in page
