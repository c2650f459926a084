"""GET /api/v1/audit/events and /api/v1/audit/summary: `audit:read` only, filters, and
the summary's figures on a known set of records."""

from datetime import UTC, datetime, timedelta

import pytest

from audit.documents import AuditEvent
from audit.tests.factories import DomainRecordFactory, make_record
from identity import services as identity_services
from identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def fixture_log():
    """Ten requests and two domain records over twenty minutes."""
    rows = [
        # minute, user, method, path, status, duration
        (0, 1, "GET", "/api/v1/orders/", 200, 10.0),
        (1, 1, "GET", "/api/v1/orders/5", 200, 20.0),
        (2, 1, "POST", "/api/v1/orders/", 201, 30.0),
        (3, 2, "GET", "/api/v1/orders/", 200, 40.0),
        (4, 2, "PATCH", "/api/v1/orders/5", 400, 50.0),
        (5, None, "GET", "/api/v1/auth/me", 401, 60.0),
        (6, 2, "DELETE", "/api/v1/vehicles/3", 404, 70.0),
        (7, 3, "GET", "/api/v1/assignments/", 500, 80.0),
        (8, 1, "GET", "/api/v1/orders/", 200, 90.0),
        (19, 3, "GET", "/admin/", 302, 1000.0),
    ]
    records = [
        make_record(
            n,
            timestamp=at(minute),
            user_id=user,
            username=f"user{user}@example.pe" if user else "",
            method=method,
            path=path,
            status_code=status,
            duration_ms=duration,
        )
        for n, (minute, user, method, path, status, duration) in enumerate(rows)
    ]
    domain = [
        # number, minute, action, target, changes (all by user 1)
        (90, 3, "tariff.update", ("tariff", "1"), {"base_fare": {"old": "5.00", "new": "6.00"}}),
        (91, 9, "user.deactivate", ("user", "7"), {"is_active": {"old": True, "new": False}}),
    ]
    records += [
        DomainRecordFactory(
            number=n,
            timestamp=at(minute),
            user_id=1,
            username="user1@example.pe",
            action=action,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
        )
        for n, minute, action, (target_type, target_id), changes in domain
    ]
    AuditEvent._get_collection().insert_many(records)
    return records


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["request_id"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("dispatcher", 200), ("driver", 403), ("customer", 403)]
)
@pytest.mark.parametrize("path", ["/api/v1/audit/events", "/api/v1/audit/summary"])
def test_only_audit_readers_see_the_log(client_for, role, status, path):
    response = client_for(UserFactory(role_name=role)).get(path)
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_custom_role_needs_audit_read(client_for):
    admin = UserFactory(role_name="admin")
    identity_services.role_create(name="ops", permissions=["orders:*"], by=admin)
    ops = client_for(UserFactory(role_name="ops"))
    assert ops.get("/api/v1/audit/events").status_code == 403
    identity_services.role_create(name="auditor", permissions=["audit:read"], by=admin)
    assert (
        client_for(UserFactory(role_name="auditor")).get("/api/v1/audit/events").status_code == 200
    )


def test_events_come_newest_first_with_every_field(dispatcher_api, fixture_log):
    response = dispatcher_api.get("/api/v1/audit/events")
    body = response.json()
    assert body["count"] == 12
    assert ids(response)[:3] == ["r9", "r91", "r8"]
    row = body["results"][0]
    assert row == {
        "id": str(fixture_log[9]["_id"]),
        "kind": "request",
        "timestamp": "2030-05-01T12:19:00Z",
        "user_id": 3,
        "username": "user3@example.pe",
        "path": "/admin/",
        "method": "GET",
        "ip": "127.0.0.1",
        "status_code": 302,
        "duration_ms": 1000.0,
        "request_id": "r9",
        "user_agent": "",
        "payload_hash": None,
        "action": None,
        "target_type": None,
        "target_id": None,
        "changes": {},
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user_id=2", ["r6", "r4", "r3"]),
        ("path=/api/v1/orders/5", ["r4", "r1"]),
        ("method=patch", ["r4"]),
        ("status_code=200", ["r8", "r3", "r1", "r0"]),
        ("status_code=4xx", ["r6", "r5", "r4"]),
        ("status_code=5XX", ["r7"]),
        ("since=2030-05-01T12:07:00Z&until=2030-05-01T12:09:00Z", ["r8", "r7"]),
        ("since=2030-05-01T07:07:00-05:00&until=2030-05-01T07:09:00-05:00", ["r8", "r7"]),
        ("kind=domain", ["r91", "r90"]),
        ("action=tariff.update", ["r90"]),
        ("target_type=user&target_id=7", ["r91"]),
        ("request_id=r5", ["r5"]),
        ("user_id=1&kind=request&path=/api/v1/orders", ["r8", "r2", "r1", "r0"]),
    ],
)
def test_filters(dispatcher_api, fixture_log, query, expected):
    assert ids(dispatcher_api.get(f"/api/v1/audit/events?{query}")) == expected


@pytest.mark.parametrize(
    "query",
    [
        "status_code=6xx",
        "status_code=20",
        "method=FETCH",
        "user_id=abc",
        "since=yesterday",
        "since=2030-05-01T12:09:00Z&until=2030-05-01T12:00:00Z",
        "kind=other",
    ],
)
def test_a_bad_filter_is_a_400(dispatcher_api, query):
    response = dispatcher_api.get(f"/api/v1/audit/events?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_pages(dispatcher_api, fixture_log):
    page = dispatcher_api.get("/api/v1/audit/events?page_size=5&page=3").json()
    assert page["count"] == 12
    assert len(page["results"]) == 2
    assert page["next"] is None


def test_the_list_costs_the_same_queries_at_any_size(
    dispatcher_api, django_assert_max_num_queries, fixture_log
):
    AuditEvent._get_collection().insert_many([make_record(100 + n) for n in range(40)])
    with django_assert_max_num_queries(3):
        assert dispatcher_api.get("/api/v1/audit/events?page_size=50").status_code == 200


def test_the_summary_figures(dispatcher_api, fixture_log):
    response = dispatcher_api.get(
        "/api/v1/audit/summary?since=2030-05-01T12:00:00Z&until=2030-05-01T12:10:00Z"
    )
    assert response.status_code == 200, response.content
    summary = response.json()
    assert summary["since"] == "2030-05-01T12:00:00Z"
    assert summary["total"] == 9  # the 12:19 request is outside; domain records are apart
    assert summary["by_status_class"] == {"1xx": 0, "2xx": 5, "3xx": 0, "4xx": 3, "5xx": 1}
    assert summary["by_method"] == {"GET": 6, "POST": 1, "PATCH": 1, "DELETE": 1}
    assert summary["top_paths"][:2] == [
        {"path": "/api/v1/orders/", "count": 4},
        {"path": "/api/v1/orders/5", "count": 2},
    ]
    assert summary["top_users"] == [
        {"user_id": 1, "username": "user1@example.pe", "count": 4},
        {"user_id": 2, "username": "user2@example.pe", "count": 3},
        {"user_id": 3, "username": "user3@example.pe", "count": 1},
    ]
    assert (summary["errors"], summary["error_rate"]) == (1, round(1 / 9, 4))
    assert (summary["client_errors"], summary["client_error_rate"]) == (3, round(3 / 9, 4))
    # Durations 10..90: nearest rank p50 = 5th of 9, p95 = 9th of 9.
    assert (summary["p50_duration_ms"], summary["p95_duration_ms"]) == (50.0, 90.0)
    assert summary["duration_sample"] == 9
    assert summary["domain_actions"] == [
        {"action": "tariff.update", "count": 1},
        {"action": "user.deactivate", "count": 1},
    ]


def test_an_empty_range_summarises_to_zeros(dispatcher_api):
    summary = dispatcher_api.get("/api/v1/audit/summary").json()
    assert summary["total"] == 0
    assert summary["error_rate"] == 0.0
    assert summary["p50_duration_ms"] is None
    assert summary["top_paths"] == []


def test_the_summary_defaults_to_the_last_day(dispatcher_api):
    summary = dispatcher_api.get("/api/v1/audit/summary").json()
    since = datetime.fromisoformat(summary["since"])
    until = datetime.fromisoformat(summary["until"])
    assert until - since == timedelta(hours=24)


def test_a_summary_range_must_run_forwards(dispatcher_api):
    response = dispatcher_api.get("/api/v1/audit/summary?since=2999-01-01T00:00:00Z")
    assert response.status_code == 400
    assert "since" in response.json()["error"]["details"]["fields"]
