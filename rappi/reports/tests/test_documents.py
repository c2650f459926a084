"""The evidence and notifications reports against small sets of MongoDB documents whose
answers are written here by hand."""

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.documents import Notification
from rappi.reports import documents, registry
from rappi.reports.tests import data
from rappi.testing.mongo_commands import mongo_commands

pytestmark = pytest.mark.django_db

NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


# --- evidence ------------------------------------------------------------------------------------


@pytest.fixture
def evidence():
    """November 2026 (Lima). Incident A: two photos (1,000 + 2,500 bytes; 500) and a
    document (4,000). Incident B: a signature (300) and a photo of three files (700, 800,
    900). Incident C: a photo (100) and one at 23:30 on 30 November (50; 04:30 UTC on 1
    December, still November in Lima). Drop-off proofs of a run: a photo (1,200) and a
    signature (200). Outside: a photo at 23:59 on 31 October and one at midnight on
    1 December."""
    run = data.run(data.driver(), [], started="2026-11-02 08:00", finished="2026-11-02 18:00")
    a, b, c = (data.incident(run, created="2026-11-02 09:00") for _ in range(3))
    data.evidence(incident=a, sizes=(1000, 2500), created="2026-11-05 10:00")
    data.evidence(incident=a, sizes=(500,), created="2026-11-05 11:00")
    data.evidence(incident=a, kind="document", sizes=(4000,), created="2026-11-06 09:00")
    data.evidence(incident=b, kind="signature", sizes=(300,), created="2026-11-10 12:00")
    data.evidence(incident=b, sizes=(700, 800, 900), created="2026-11-10 12:05")
    data.evidence(incident=c, sizes=(100,), created="2026-11-12 08:00")
    data.evidence(incident=c, sizes=(50,), created="2026-11-30 23:30")
    data.evidence(run=run, destination_id=7, sizes=(1200,), created="2026-11-02 15:00")
    data.evidence(
        run=run, destination_id=7, kind="signature", sizes=(200,), created="2026-11-02 15:01"
    )
    data.evidence(incident=a, sizes=(9999,), created="2026-10-31 23:59")
    data.evidence(incident=c, sizes=(77,), created="2026-12-01 00:00")
    return a, b, c


def test_evidence_by_kind_and_top_incidents(dispatcher_api, evidence):
    a, b, c = evidence
    body = dispatcher_api.get("/api/v1/reports/evidence", NOVEMBER).json()

    assert body == {
        "period": {
            "since": "2026-11-01T05:00:00Z",
            "until": "2026-12-01T05:00:00Z",
            "timezone": "America/Lima",
        },
        "totals": {"documents": 9, "files": 12, "bytes": 12250},
        "by_kind": [
            {"kind": "photo", "documents": 6, "files": 9, "bytes": 7750},
            {"kind": "signature", "documents": 2, "files": 2, "bytes": 500},
            {"kind": "document", "documents": 1, "files": 1, "bytes": 4000},
        ],
        "top_incidents": [
            {"incident_id": a.pk, "documents": 3, "files": 4, "bytes": 8000},
            {"incident_id": b.pk, "documents": 2, "files": 4, "bytes": 2700},
            {"incident_id": c.pk, "documents": 2, "files": 2, "bytes": 150},
        ],
    }


def test_evidence_as_csv(dispatcher_api, evidence):
    a, b, c = evidence
    response = dispatcher_api.get("/api/v1/reports/evidence", {**NOVEMBER, "format": "csv"})

    assert response["Content-Disposition"] == (
        'attachment; filename="evidence-2026-11-01-2026-11-30.csv"'
    )
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,key,documents,files,bytes",
        "kind,photo,6,9,7750",
        "kind,signature,2,2,500",
        "kind,document,1,1,4000",
        "total,,9,12,12250",
        f"incident,{a.pk},3,4,8000",
        f"incident,{b.pk},2,4,2700",
        f"incident,{c.pk},2,2,150",
        "",
    ]


def test_a_day_without_evidence_is_zeros(dispatcher_api, evidence):
    body = dispatcher_api.get(
        "/api/v1/reports/evidence", {"since": "2026-11-20", "until": "2026-11-29"}
    )

    assert body.json()["totals"] == {"documents": 0, "files": 0, "bytes": 0}
    assert [row["documents"] for row in body.json()["by_kind"]] == [0, 0, 0]
    assert body.json()["top_incidents"] == []


def test_only_ten_incidents_are_listed_ties_by_id():
    run = data.run(data.driver(), [], started="2026-11-02 08:00", finished="2026-11-02 18:00")
    incidents = [data.incident(run, created="2026-11-02 09:00") for _ in range(12)]
    for incident in incidents:
        data.evidence(incident=incident, sizes=(10,), created="2026-11-03 10:00")
    data.evidence(incident=incidents[11], sizes=(10,), created="2026-11-03 11:00")

    top = registry.compute("evidence", NOVEMBER).data["top_incidents"]

    assert [row["incident_id"] for row in top] == [
        incidents[11].pk,
        *(incident.pk for incident in incidents[:9]),
    ]


def test_evidence_costs_one_aggregation_for_10_and_1000_documents(
    django_assert_num_queries, mongo_test_database
):
    run = data.run(data.driver(), [], started="2026-11-02 08:00", finished="2026-11-02 18:00")
    incident = data.incident(run, created="2026-11-02 09:00")
    sent = []
    for size in (10, 990):
        data.evidence(incident=incident, sizes=(10, 20), created="2026-11-03 10:00", count=size)
        with django_assert_num_queries(0), mongo_commands(mongo_test_database) as commands:
            report = registry.compute("evidence", NOVEMBER).data
        sent.append([command.name for command in commands])
    assert report["totals"] == {"documents": 1000, "files": 2000, "bytes": 30000}
    assert sent[0] == sent[1] == ["aggregate"]


@pytest.mark.parametrize("query", [{"since": "2026-13-01"}, {"limit": 5}, {"format": "pdf"}])
def test_a_bad_evidence_query_is_400(dispatcher_api, query):
    response = dispatcher_api.get("/api/v1/reports/evidence", query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# --- notifications ------------------------------------------------------------------------------

NOW = data.at("2026-12-04 10:00")


@pytest.fixture
def inbox():
    """Around 10:00 on 4 December 2026 (Lima): two order_assigned unread an hour ago, one
    read yesterday at noon, one with read_at null; two payment_received read; one
    incident_reported unread exactly 24 hours ago (in); one run_started a minute earlier
    (out of 24 hours, in 48); one dated half an hour after now (a clock ahead: out)."""
    data.notifications(kind="order_assigned", created="2026-12-04 09:00", count=2)
    data.notifications(kind="order_assigned", created="2026-12-03 12:00", read="2026-12-03 13:00")
    Notification(
        recipient_user_id=2,
        kind="order_assigned",
        title="x",
        created_at=data.at("2026-12-04 09:10"),
    ).save()
    data.notifications(
        kind="payment_received", created="2026-12-04 08:00", read="2026-12-04 08:30", count=2
    )
    data.notifications(kind="incident_reported", created="2026-12-03 10:00")
    data.notifications(kind="run_started", created="2026-12-03 09:59", read="2026-12-03 11:00")
    data.notifications(kind="run_started", created="2026-12-04 10:30")


def test_notifications_of_the_last_24_hours(inbox):
    report = documents.NotificationsReportOutput(documents.notifications(hours=24, now=NOW)).data

    assert report == {
        "now": "2026-12-04T15:00:00Z",
        "hours": 24,
        "since": "2026-12-03T15:00:00Z",
        "totals": {"sent": 7, "read": 3, "unread": 4},
        "by_kind": [
            {"kind": "order_assigned", "sent": 4, "read": 1, "unread": 3},
            {"kind": "payment_received", "sent": 2, "read": 2, "unread": 0},
            {"kind": "incident_reported", "sent": 1, "read": 0, "unread": 1},
        ],
    }


def test_notifications_of_the_last_48_hours(inbox):
    report = documents.notifications(hours=48, now=NOW)

    assert report["totals"] == {"sent": 8, "read": 4, "unread": 4}
    assert [row["kind"] for row in report["by_kind"]] == [
        "order_assigned",
        "payment_received",
        "incident_reported",
        "run_started",
    ]


def test_no_notifications_is_zeros():
    report = documents.notifications(hours=24, now=NOW)

    assert report["totals"] == {"sent": 0, "read": 0, "unread": 0}
    assert report["by_kind"] == []


def test_notifications_through_the_api_and_as_csv(dispatcher_api):
    now = timezone.now()
    data.notifications(kind="order_assigned", created=now - timedelta(hours=2), count=3)
    data.notifications(
        kind="order_delivered", created=now - timedelta(hours=5), read=now - timedelta(hours=4)
    )
    data.notifications(kind="order_delivered", created=now - timedelta(hours=30))

    body = dispatcher_api.get("/api/v1/reports/notifications", {"hours": 6}).json()
    response = dispatcher_api.get("/api/v1/reports/notifications", {"format": "csv", "hours": 6})

    assert body["hours"] == 6
    assert body["totals"] == {"sent": 4, "read": 1, "unread": 3}
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,kind,sent,read,unread",
        "kind,order_assigned,3,0,3",
        "kind,order_delivered,1,1,0",
        "total,,4,1,3",
        "",
    ]
    assert dispatcher_api.get("/api/v1/reports/notifications").json()["totals"]["sent"] == 4


@pytest.mark.parametrize("hours", [0, 721, "a day", ""])
def test_a_bad_number_of_hours_is_400(dispatcher_api, hours):
    response = dispatcher_api.get("/api/v1/reports/notifications", {"hours": hours})

    assert response.status_code == 400
    assert "hours" in response.json()["error"]["details"]["fields"]


def test_notifications_cost_one_aggregation_for_10_and_1000_documents(
    django_assert_num_queries, mongo_test_database
):
    sent = []
    for size in (10, 990):
        data.notifications(kind="order_assigned", created="2026-12-04 09:00", count=size)
        with django_assert_num_queries(0), mongo_commands(mongo_test_database) as commands:
            report = documents.notifications(hours=24, now=NOW)
        sent.append([command.name for command in commands])
    assert report["totals"]["sent"] == 1000
    assert sent[0] == sent[1] == ["aggregate"]
