"""The overview, operations and run-summary reports against a small dataset whose answers
are written here by hand."""

import pytest
from django.utils import timezone

from fleet.models import Driver, Route, Stop, Vehicle
from rappi.reports import operations, registry
from rappi.reports.tables import csv_text
from rappi.reports.tests import data
from rappi.testing.mongo_commands import mongo_commands
from tracking import geofences

pytestmark = pytest.mark.django_db

NOW = data.at("2026-12-04 10:00")  # 15:00 UTC
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-71.54, -16.41], [-71.52, -16.41], [-71.52, -16.39], [-71.54, -16.41]]],
}


def busy(*drivers):
    Driver.objects.filter(pk__in=[d.pk for d in drivers]).update(availability="busy")


@pytest.fixture
def operation():
    """The operation at 10:00 on 4 December 2026 (Lima).

    Orders created today: one of each status but assigned; one pending and one assigned
    from yesterday; two unpaid from the 2nd, one just over two days old. Paid today: 20.00
    and 7.50 (12.50 yesterday at 23:55, and a refund, do not count).
    Runs: #1 in progress with a fix two minutes old, #2 in progress with one ten minutes
    old, #5 in progress without any, #3 assigned, #4 finished (its driver's last fix, one
    minute old, is from it). Drivers: four busy, one available, one deactivated.
    Incidents: severity 4 an hour ago, 3 half an hour ago, 2 exactly 24 hours ago (in),
    5 a minute earlier (out). Geofences: two active, one not."""
    ana = data.customer()
    data.order(ana, created="2026-12-04 08:00", status="pending_payment")
    waiting = data.order(ana, created="2026-12-04 00:10", status="pending")
    cancelled = data.order(ana, created="2026-12-04 09:30", status="cancelled")
    delivered = data.order(
        ana, created="2026-12-04 06:00", status="delivered", delivered="2026-12-04 09:00"
    )
    on_the_road = data.order(ana, created="2026-12-04 07:00", status="in_transit")
    yesterday = data.order(ana, created="2026-12-03 23:50", status="pending")
    to_be_driven = data.order(ana, created="2026-12-03 18:00", status="assigned")
    data.order(ana, created="2026-12-02 09:59", status="pending_payment")
    data.order(ana, created="2026-12-02 10:01", status="pending_payment")
    data.payment(delivered, amount="20.00", paid="2026-12-04 06:05")
    data.payment(waiting, amount="7.50", paid="2026-12-04 00:12")
    data.payment(yesterday, amount="12.50", paid="2026-12-03 23:55")
    data.payment(cancelled, amount="15.00", status="refunded", paid="2026-12-04 09:31")

    d1, d2, d3, d4, d5, d6 = (data.driver() for _ in range(6))
    run1 = data.run(d1, [on_the_road], status="in_progress", started="2026-12-04 08:00")
    run2 = data.run(d2, [], status="in_progress", started="2026-12-04 07:00")
    run3 = data.run(d3, [to_be_driven], status="assigned")
    run4 = data.run(
        d4, [delivered], status="finished", started="2026-12-04 06:30", finished="2026-12-04 09:00"
    )
    data.run(d6, [], status="in_progress", started="2026-12-04 09:00")
    busy(d1, d2, d3, d6)
    Driver.objects.filter(pk=d5.pk).update(is_active=False)
    data.position(run1, recorded="2026-12-04 09:58")
    data.position(run2, recorded="2026-12-04 09:50")
    data.position(run4, recorded="2026-12-04 09:59")

    data.incident(run1, created="2026-12-04 09:00", severity=4)
    data.incident(run2, created="2026-12-04 09:30", type="route_deviation", severity=3)
    data.incident(run2, created="2026-12-03 10:00", severity=2)
    data.incident(run4, created="2026-12-03 09:59", severity=5)

    geofences.geofence_create(name="Centro", kind="delivery_zone", geometry=SQUARE)
    geofences.geofence_create(name="Mercado", kind="forbidden", geometry=SQUARE)
    geofences.geofence_create(name="Antiguo", kind="delivery_zone", geometry=SQUARE, active=False)
    return {"runs": [run1, run2, run3]}


# --- overview ----------------------------------------------------------------------------------

OVERVIEW_AT_TEN = {
    "now": "2026-12-04T15:00:00Z",
    "day": {
        "since": "2026-12-04T05:00:00Z",
        "until": "2026-12-05T05:00:00Z",
        "timezone": "America/Lima",
    },
    "orders_today": [
        {"status": "pending_payment", "count": 1},
        {"status": "pending", "count": 1},
        {"status": "assigned", "count": 0},
        {"status": "in_transit", "count": 1},
        {"status": "delivered", "count": 1},
        {"status": "cancelled", "count": 1},
    ],
    "orders_waiting": 2,
    "runs": {"in_progress": 3, "assigned": 1},
    "drivers": {"available": 1, "busy": 4, "silent": 2, "silent_after_s": 300},
    "incidents_24h": {
        "since": "2026-12-03T15:00:00Z",
        "total": 3,
        "by_severity": [
            {"severity": 5, "count": 0},
            {"severity": 4, "count": 1},
            {"severity": 3, "count": 1},
            {"severity": 2, "count": 1},
            {"severity": 1, "count": 0},
        ],
    },
    "revenue_today": "27.50",
    "currency": "PEN",
    "unpaid": {"days": 2, "created_before": "2026-12-02T15:00:00Z", "count": 1},
}


def test_the_overview_figures(operation, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        figures = operations.overview(now=NOW)

    assert operations.OverviewOutput(figures).data == OVERVIEW_AT_TEN


def test_the_overview_csv(operation):
    report = registry.REPORTS["overview"]
    data_ = operations.OverviewOutput(operations.overview(now=NOW)).data

    assert csv_text(*report.table(data_)).split("\r\n") == [
        "\ufeffsection,key,value",
        "day,since,2026-12-04T05:00:00Z",
        "day,until,2026-12-05T05:00:00Z",
        "orders_today,pending_payment,1",
        "orders_today,pending,1",
        "orders_today,assigned,0",
        "orders_today,in_transit,1",
        "orders_today,delivered,1",
        "orders_today,cancelled,1",
        "orders,waiting,2",
        "runs,in_progress,3",
        "runs,assigned,1",
        "drivers,available,1",
        "drivers,busy,4",
        "drivers,silent,2",
        "drivers,silent_after_s,300",
        "incidents_24h,severity_5,0",
        "incidents_24h,severity_4,1",
        "incidents_24h,severity_3,1",
        "incidents_24h,severity_2,1",
        "incidents_24h,severity_1,0",
        "incidents_24h,total,3",
        "revenue_today,PEN,27.50",
        "unpaid,days,2",
        "unpaid,count,1",
        "",
    ]


def test_the_overview_through_the_api(dispatcher_api, operation):
    body = dispatcher_api.get("/api/v1/reports/overview").json()
    response = dispatcher_api.get("/api/v1/reports/overview", {"format": "csv"})

    # Only what does not depend on the clock: the runs and drivers as they stand.
    assert body["runs"] == {"in_progress": 3, "assigned": 1}
    assert (body["drivers"]["available"], body["drivers"]["busy"]) == (1, 4)
    assert response["Content-Disposition"] == (
        f'attachment; filename="overview-{timezone.localdate().isoformat()}.csv"'
    )
    assert response.content.decode("utf-8-sig").startswith("section,key,value\r\nday,since,")


def test_the_overview_costs_the_same_for_10_and_1000_orders(
    django_assert_max_num_queries, mongo_test_database
):
    sent = []
    for size in (10, 1000):
        data.bulk_orders(size, first_day="2026-12-04", days=1)
        data.bulk_live_runs(size // 10)
        with django_assert_max_num_queries(8), mongo_commands(mongo_test_database) as commands:
            figures = operations.overview(now=NOW)
        sent.append([command.name for command in commands])
        assert figures["orders_waiting"] == (5 if size == 10 else 505)
    assert sent[0] == sent[1] == ["aggregate"]


def test_with_no_run_under_way_the_overview_does_not_ask_mongodb(mongo_test_database):
    with mongo_commands(mongo_test_database) as commands:
        figures = operations.overview(now=NOW)

    assert commands == []
    assert figures["drivers"]["silent"] == 0


# --- operations --------------------------------------------------------------------------------


def test_the_operation_now(operation, django_assert_max_num_queries, mongo_test_database):
    with django_assert_max_num_queries(3), mongo_commands(mongo_test_database) as sent:
        figures = operations.operations(window_min=5, now=NOW)

    assert figures == {
        "now": NOW,
        "window_min": 5,
        "runs_in_progress": 3,
        "drivers_busy": 4,
        # Drivers 1 (run 1) and 4 (its finished run); not driver 2, ten minutes ago.
        "drivers_with_fix": 2,
        "runs_in_progress_without_fix": 2,
        "active_geofences": 2,
        "incidents_24h": 3,
    }
    assert [command.name for command in sent] == ["aggregate", "aggregate"]


def test_a_wider_window_sees_the_older_fix(operation):
    figures = operations.operations(window_min=15, now=NOW)

    assert figures["drivers_with_fix"] == 3
    assert figures["runs_in_progress_without_fix"] == 1


def test_without_any_fix_every_run_in_progress_is_without_one(operation):
    figures = operations.operations(window_min=1, now=NOW)

    assert figures["drivers_with_fix"] == 1  # driver 4's, a minute old
    assert figures["runs_in_progress_without_fix"] == 3


def test_the_operations_through_the_api(dispatcher_api, operation):
    response = dispatcher_api.get("/api/v1/reports/operations", {"window_min": 15})
    csv = dispatcher_api.get("/api/v1/reports/operations", {"window_min": 15, "format": "csv"})

    body = response.json()
    assert response.status_code == 200
    assert body["window_min"] == 15
    assert (body["runs_in_progress"], body["drivers_busy"], body["active_geofences"]) == (3, 4, 2)
    header, row, end = csv.content.decode("utf-8-sig").split("\r\n")
    assert header == (
        "window_min,runs_in_progress,drivers_busy,drivers_with_fix,"
        "runs_in_progress_without_fix,active_geofences,incidents_24h"
    )
    assert row.split(",") == [str(body[key]) for key in header.split(",")]
    assert end == ""


@pytest.mark.parametrize(
    "query", [{"window_min": 0}, {"window_min": 1441}, {"window_min": "five"}, {"hours": 2}]
)
def test_a_bad_window_is_400(dispatcher_api, query):
    response = dispatcher_api.get("/api/v1/reports/operations", query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_the_operations_cost_the_same_for_10_and_1000_runs(
    django_assert_max_num_queries, mongo_test_database
):
    sent = []
    for size in (10, 1000):
        runs = data.bulk_live_runs(size)
        for run in runs[:: size // 5]:
            data.position(run, recorded=NOW)
        with django_assert_max_num_queries(3), mongo_commands(mongo_test_database) as commands:
            figures = operations.operations(window_min=5, now=NOW)
        sent.append([command.name for command in commands])
        total = 10 if size == 10 else 1010
        assert figures["runs_in_progress"] == total
        assert figures["runs_in_progress_without_fix"] == total - (5 if size == 10 else 10)
    assert sent[0] == sent[1] == ["aggregate", "aggregate"]


# --- one run's summary ---------------------------------------------------------------------------


@pytest.fixture
def finished_run():
    """Run of 2 November 2026 (Lima), 08:00 to 12:00, carrying three orders: a pickup and
    three drop-offs (visited, skipped, pending), four incidents (two route deviations of
    severity 4, a customer absent of 3, traffic of 2), three proofs (a delivery photo, a
    signature, a failed drop-off's photo also filed with its incident) beside an incident's
    own photo, and three fixes 0.01° of latitude apart (1,111.95 m each) over 30 minutes.
    Another run's fixes, incidents and proofs must not count."""
    ana = data.customer()
    orders = [data.order(ana, created="2026-11-02 07:00", status="delivered") for _ in range(3)]
    driver = data.driver(full_name="Rosa Huamán")
    run = data.run(
        driver,
        orders,
        started="2026-11-02 08:00",
        finished="2026-11-02 12:00",
        created="2026-11-02 07:30",
    )
    Vehicle.objects.filter(pk=run.vehicle_id).update(plate="ABC-123")
    route = Route.objects.create(
        assignment=run, geometry={}, distance_m=3000, duration_s=1800, provider="test"
    )
    for sequence, (kind, status) in enumerate(
        [
            ("pickup", "visited"),
            ("delivery", "visited"),
            ("delivery", "skipped"),
            ("delivery", "pending"),
        ],
        start=1,
    ):
        Stop.objects.create(
            route=route, sequence=sequence, kind=kind, status=status, lat=-16.4, lng=-71.53
        )
    deviation = data.incident(run, created="2026-11-02 09:00", type="route_deviation", severity=4)
    data.incident(run, created="2026-11-02 09:30", type="route_deviation", severity=4)
    absent = data.incident(run, created="2026-11-02 10:00", type="customer_absent", severity=3)
    data.incident(run, created="2026-11-02 10:30", type="traffic", severity=2)
    data.evidence(run=run, destination_id=11, created="2026-11-02 09:10")
    data.evidence(run=run, kind="signature", destination_id=12, created="2026-11-02 09:40")
    data.evidence(run=run, incident=absent, destination_id=13, created="2026-11-02 10:01")
    data.evidence(incident=deviation, created="2026-11-02 09:05")
    data.fixes(
        run,
        [
            (-16.40, -71.53, "2026-11-02 08:10"),
            (-16.39, -71.53, "2026-11-02 08:20"),
            (-16.38, -71.53, "2026-11-02 08:40"),
        ],
    )
    other = data.run(data.driver(), [], started="2026-11-02 08:00", finished="2026-11-02 09:00")
    data.incident(other, created="2026-11-02 08:30", type="route_deviation", severity=5)
    data.evidence(run=other, destination_id=21, created="2026-11-02 08:40")
    data.fixes(other, [(-16.0, -71.0, "2026-11-02 08:10"), (-16.5, -71.0, "2026-11-02 08:50")])
    return run


def test_a_run_summary(dispatcher_api, finished_run):
    run = finished_run
    body = dispatcher_api.get(f"/api/v1/reports/assignments/{run.pk}/summary").json()

    assert body == {
        "id": run.pk,
        "status": "finished",
        "driver_id": run.driver_id,
        "driver_name": "Rosa Huamán",
        "vehicle_id": run.vehicle_id,
        "vehicle_plate": "ABC-123",
        "created_at": "2026-11-02T12:30:00Z",
        "started_at": "2026-11-02T13:00:00Z",
        "finished_at": "2026-11-02T17:00:00Z",
        "orders": {"count": 3, "ids": sorted(order.pk for order in run.orders.all())},
        "stops": {"total": 4, "visited": 2, "skipped": 1, "pending": 1, "done": 3},
        "gps": {
            "fixes": 3,
            "distance_m": 2223.9,
            "duration_s": 1800.0,
            "avg_speed_kmh": 4.45,
            "first_at": "2026-11-02T13:10:00Z",
            "last_at": "2026-11-02T13:40:00Z",
        },
        "incidents": {
            "total": 4,
            "by_severity": [
                {"severity": 5, "count": 0},
                {"severity": 4, "count": 2},
                {"severity": 3, "count": 1},
                {"severity": 2, "count": 1},
                {"severity": 1, "count": 0},
            ],
        },
        "deviations": 2,
        "proofs": 3,
    }


def test_a_run_summary_as_csv(dispatcher_api, finished_run):
    run = finished_run
    response = dispatcher_api.get(
        f"/api/v1/reports/assignments/{run.pk}/summary", {"format": "csv"}
    )

    assert response["Content-Disposition"] == (
        f'attachment; filename="assignments-summary-{run.pk}-'
        f'{timezone.localdate().isoformat()}.csv"'
    )
    lines = response.content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == "section,key,value"
    order_ids = sorted(order.pk for order in run.orders.all())
    assert lines[1:16] == [
        f"run,id,{run.pk}",
        "run,status,finished",
        f"run,driver_id,{run.driver_id}",
        "run,driver_name,Rosa Huamán",
        f"run,vehicle_id,{run.vehicle_id}",
        "run,vehicle_plate,ABC-123",
        "run,created_at,2026-11-02T12:30:00Z",
        "run,started_at,2026-11-02T13:00:00Z",
        "run,finished_at,2026-11-02T17:00:00Z",
        "orders,count,3",
        *(f"orders,id,{pk}" for pk in order_ids),
        "stops,total,4",
        "stops,done,3",
    ]
    assert "gps,distance_m,2223.9" in lines
    assert "incidents,deviations,2" in lines
    assert lines[-2:] == ["proofs,count,3", ""]


def test_a_run_not_started_has_an_empty_track(dispatcher_api, operation):
    run3 = operation["runs"][2]
    body = dispatcher_api.get(f"/api/v1/reports/assignments/{run3.pk}/summary").json()

    assert body["started_at"] is None
    assert body["gps"] == {
        "fixes": 0,
        "distance_m": 0.0,
        "duration_s": 0.0,
        "avg_speed_kmh": None,
        "first_at": None,
        "last_at": None,
    }
    assert body["stops"] == {"total": 0, "visited": 0, "skipped": 0, "pending": 0, "done": 0}


@pytest.mark.parametrize("run_id", ["0", "999999", str(2**63 - 1), str(2**63), str(2**64)])
def test_an_unknown_run_is_404(dispatcher_api, run_id):
    response = dispatcher_api.get(f"/api/v1/reports/assignments/{run_id}/summary")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_run_summary_costs_the_same_for_10_and_1000_orders_and_proofs(
    django_assert_max_num_queries, mongo_test_database
):
    sent = []
    for size in (10, 1000):
        orders = data.bulk_orders(size)
        run = data.run(data.driver(), orders, started="2026-11-02 08:00")
        data.evidence(run=run, destination_id=1, created="2026-11-02 09:00", count=size)
        with django_assert_max_num_queries(4), mongo_commands(mongo_test_database) as commands:
            summary = registry.compute("assignments/summary", {}, object_id=run.pk).data
        sent.append([command.name for command in commands])
        assert (summary["orders"]["count"], summary["proofs"]) == (size, size)
    assert sent[0] == sent[1] == ["aggregate", "aggregate"]
