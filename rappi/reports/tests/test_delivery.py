"""The delivery-times, SLA, drivers and incidents reports against a small dataset whose
answers are written here by hand (Lima wall-clock times; targets 240/120/60 minutes)."""

from datetime import timedelta

import pytest

from fleet.models import Assignment, Driver, Incident, IncidentOrigin
from orders import services as order_services
from orders.models import Rating
from rappi.reports import registry
from rappi.reports.tests import data

pytestmark = pytest.mark.django_db

NOVEMBER_2_TO_3 = {"since": "2026-11-01", "until": "2026-11-03"}


@pytest.fixture
def crew():
    """Rosa and Luis drive; Pedro drove once before leaving; Ana is new; Zoe left long ago."""
    rosa = data.driver(full_name="Rosa Mamani")
    luis = data.driver(full_name="Luis Condori")
    pedro = data.driver(full_name="Pedro Huamán")
    ana = data.driver(full_name="Ana Torres")
    zoe = data.driver(full_name="Zoe Apaza")
    Driver.objects.filter(pk__in=[pedro.pk, zoe.pk]).update(is_active=False)
    return {"rosa": rosa, "luis": luis, "pedro": pedro, "ana": ana, "zoe": zoe}


@pytest.fixture
def november(crew):
    """Runs and drop-offs around 1-3 November 2026 (Lima). Measured minutes in the period:
    standard 180 (on time), 270 (late); express 120 (exactly the target: on time), 90;
    urgent 40 (at 23:30 on the 2nd), 90 (late). One standard drop-off has no run (not
    measured); one urgent one is delivered ten minutes after the period."""
    who = data.customer(full_name="Bodega Misti")
    rosa, luis, pedro = crew["rosa"], crew["luis"], crew["pedro"]

    # Rosa's run that began before the period: its failed drop-off is not the period's.
    early = data.order(
        who,
        created="2026-10-31 20:00",
        status="cancelled",
        drops=[{"status": "failed"}],
    )
    r0 = data.run(
        rosa,
        [early],
        created="2026-10-31 22:00",
        started="2026-10-31 23:00",
        finished="2026-11-01 01:00",
    )
    a = data.order(
        who,
        created="2026-11-02 08:00",
        status="delivered",
        level="standard",
        drops=[
            {"status": "delivered", "delivered": "2026-11-02 12:00"},
            {"status": "delivered", "delivered": "2026-11-02 13:30"},
        ],
    )
    b = data.order(
        who,
        created="2026-11-02 08:30",
        status="delivered",
        level="express",
        drops=[{"status": "delivered", "delivered": "2026-11-02 11:00"}],
    )
    r1 = data.run(
        rosa,
        [a, b],
        created="2026-11-02 08:45",
        started="2026-11-02 09:00",
        finished="2026-11-02 13:30",
    )
    c = data.order(
        who,
        created="2026-11-02 21:00",
        status="delivered",
        level="urgent",
        drops=[{"status": "delivered", "delivered": "2026-11-02 23:30"}],
    )
    data.run(
        luis,
        [c],
        created="2026-11-02 22:30",
        started="2026-11-02 22:50",
        finished="2026-11-02 23:45",
    )
    d = data.order(
        who,
        created="2026-11-03 10:00",
        status="delivered",
        level="urgent",
        drops=[
            {"status": "delivered", "delivered": "2026-11-03 12:00"},
            {"status": "failed"},
        ],
    )
    r3 = data.run(
        luis, [d], status="in_progress", created="2026-11-03 10:15", started="2026-11-03 10:30"
    )
    # Delivered, but its run is gone: not measured.
    e = data.order(
        who,
        created="2026-11-03 07:00",
        status="delivered",
        level="standard",
        drops=[{"status": "delivered", "delivered": "2026-11-03 09:00"}],
    )
    # A run cancelled before it started, then the one that carried it.
    f = data.order(
        who,
        created="2026-11-03 07:30",
        status="delivered",
        level="express",
        drops=[{"status": "delivered", "delivered": "2026-11-03 10:00"}],
    )
    data.run(rosa, [f], status="cancelled", created="2026-11-03 08:00")
    r5 = data.run(
        pedro,
        [f],
        created="2026-11-03 08:20",
        started="2026-11-03 08:30",
        finished="2026-11-03 11:00",
    )
    h = data.order(
        who,
        created="2026-11-03 23:00",
        status="delivered",
        level="urgent",
        drops=[{"status": "delivered", "delivered": "2026-11-04 00:10"}],
    )
    data.run(
        rosa,
        [h],
        created="2026-11-03 23:35",
        started="2026-11-03 23:40",
        finished="2026-11-04 00:30",
    )

    data.incident(r0, created="2026-10-31 23:30", type="weather", severity=2)
    data.incident(r1, created="2026-11-02 10:00", type="traffic", severity=2)
    data.incident(r3, created="2026-11-03 11:00", type="wrong_address", severity=3)
    data.incident(r3, created="2026-11-03 11:30", type="failed_delivery", severity=3)
    # 04:30 UTC on the 4th: still the 3rd in Lima.
    data.incident(r5, created="2026-11-03 23:30", type="damaged_package", severity=5)

    data.rating(a, score=5, driver_id=rosa.pk, created="2026-11-02 14:00")
    data.rating(b, score=4, driver_id=rosa.pk, created="2026-11-02 15:00")
    data.rating(c, score=3, driver_id=luis.pk, created="2026-11-03 09:00")
    data.rating(f, score=2, driver_id=pedro.pk, created="2026-11-05 09:00")  # after
    data.rating(e, score=1, created="2026-11-03 12:00")  # no run: it names no driver
    return crew


# --- delivery-times ------------------------------------------------------------------------


def test_delivery_times_overall_and_per_level(dispatcher_api, november):
    body = dispatcher_api.get("/api/v1/reports/delivery-times", NOVEMBER_2_TO_3).json()

    assert body["service_level"] is None
    # 40, 90, 90, 120, 180, 270: each against its own level's target.
    assert body["overall"] == {
        "count": 6,
        "unmeasured": 1,
        "avg_minutes": 131.7,
        "p50_minutes": 105.0,
        "p95_minutes": 247.5,
        "max_minutes": 270.0,
        "on_time": 4,
        "on_time_share": 0.6667,
    }
    assert body["by_service_level"] == [
        {
            "service_level": "standard",
            "target_minutes": 240,
            "count": 2,
            "unmeasured": 1,
            "avg_minutes": 225.0,
            "p50_minutes": 225.0,
            "p95_minutes": 265.5,
            "max_minutes": 270.0,
            "on_time": 1,
            "on_time_share": 0.5,
        },
        {
            "service_level": "express",
            "target_minutes": 120,
            "count": 2,
            "unmeasured": 0,
            "avg_minutes": 105.0,
            "p50_minutes": 105.0,
            "p95_minutes": 118.5,
            "max_minutes": 120.0,
            "on_time": 2,  # 120 minutes is the target itself: on time
            "on_time_share": 1.0,
        },
        {
            "service_level": "urgent",
            "target_minutes": 60,
            "count": 2,
            "unmeasured": 0,
            "avg_minutes": 65.0,
            "p50_minutes": 65.0,
            "p95_minutes": 87.5,
            "max_minutes": 90.0,
            "on_time": 1,
            "on_time_share": 0.5,
        },
    ]


def test_delivery_times_of_one_service_level(dispatcher_api, november):
    body = dispatcher_api.get(
        "/api/v1/reports/delivery-times", {**NOVEMBER_2_TO_3, "service_level": "urgent"}
    ).json()

    assert body["service_level"] == "urgent"
    assert body["overall"] == {
        "count": 2,
        "unmeasured": 0,
        "avg_minutes": 65.0,
        "p50_minutes": 65.0,
        "p95_minutes": 87.5,
        "max_minutes": 90.0,
        "on_time": 1,
        "on_time_share": 0.5,
    }
    assert [row["service_level"] for row in body["by_service_level"]] == ["urgent"]


def test_a_delivery_at_half_past_eleven_in_lima_is_that_lima_days(dispatcher_api, november):
    second = dispatcher_api.get(
        "/api/v1/reports/delivery-times", {"since": "2026-11-02", "until": "2026-11-02"}
    ).json()
    fourth = dispatcher_api.get(
        "/api/v1/reports/delivery-times", {"since": "2026-11-04", "until": "2026-11-04"}
    ).json()

    # The 2nd: 180, 270, 120 and the urgent one at 23:30 (40 minutes).
    assert second["overall"]["count"] == 4
    assert second["by_service_level"][2]["max_minutes"] == 40.0
    # The 4th: only the one delivered at 00:10 (30 minutes after its run started).
    assert fourth["overall"]["count"] == 1
    assert fourth["overall"]["max_minutes"] == 30.0


def test_a_changed_tariff_target_changes_the_answer(dispatcher_api, november):
    order_services.tariff_update(by=data.staff("admin"), target_minutes_standard=300)

    body = dispatcher_api.get("/api/v1/reports/delivery-times", NOVEMBER_2_TO_3).json()

    standard = body["by_service_level"][0]
    assert (standard["target_minutes"], standard["on_time"], standard["on_time_share"]) == (
        300,
        2,
        1.0,
    )
    assert body["overall"]["on_time"] == 5


def test_delivery_times_csv(dispatcher_api, november):
    response = dispatcher_api.get(
        "/api/v1/reports/delivery-times", {**NOVEMBER_2_TO_3, "format": "csv"}
    )

    assert response["Content-Disposition"] == (
        'attachment; filename="delivery-times-2026-11-01-2026-11-03.csv"'
    )
    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,service_level,target_minutes,count,unmeasured,avg_minutes,p50_minutes,"
        "p95_minutes,max_minutes,on_time,on_time_share",
        "overall,all,,6,1,131.7,105.0,247.5,270.0,4,0.6667",
        "service_level,standard,240,2,1,225.0,225.0,265.5,270.0,1,0.5",
        "service_level,express,120,2,0,105.0,105.0,118.5,120.0,2,1.0",
        "service_level,urgent,60,2,0,65.0,65.0,87.5,90.0,1,0.5",
        "",
    ]


def test_delivery_times_of_an_empty_period(dispatcher_api, november):
    body = dispatcher_api.get(
        "/api/v1/reports/delivery-times", {"since": "2026-10-01", "until": "2026-10-02"}
    ).json()

    assert body["overall"] == {
        "count": 0,
        "unmeasured": 0,
        "avg_minutes": None,
        "p50_minutes": None,
        "p95_minutes": None,
        "max_minutes": None,
        "on_time": 0,
        "on_time_share": None,
    }


@pytest.mark.parametrize("value", ["fast", ""])
def test_an_unknown_service_level_is_400(dispatcher_api, value):
    response = dispatcher_api.get("/api/v1/reports/delivery-times", {"service_level": value})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "service_level" in response.json()["error"]["details"]["fields"]


# --- sla -----------------------------------------------------------------------------------


def _levels(part: dict) -> dict:
    return {
        row["service_level"]: (row["on_time"], row["late"], row["on_time_share"])
        for row in part["by_service_level"]
    }


def test_sla_per_day_and_level_with_totals(dispatcher_api, november):
    body = dispatcher_api.get("/api/v1/reports/sla", NOVEMBER_2_TO_3).json()

    first, second, third = body["buckets"]
    assert (first["bucket"], first["on_time"], first["late"], first["on_time_share"]) == (
        "2026-11-01",
        0,
        0,
        None,
    )
    # The urgent drop-off at 23:30 on the 2nd is the 2nd's.
    assert (second["bucket"], second["on_time"], second["late"], second["on_time_share"]) == (
        "2026-11-02",
        3,
        1,
        0.75,
    )
    assert _levels(second) == {
        "standard": (1, 1, 0.5),
        "express": (1, 0, 1.0),
        "urgent": (1, 0, 1.0),
    }
    assert (third["on_time"], third["late"]) == (1, 1)
    assert _levels(third) == {
        "standard": (0, 0, None),
        "express": (1, 0, 1.0),
        "urgent": (0, 1, 0.0),
    }
    totals = body["totals"]
    assert (totals["on_time"], totals["late"], totals["on_time_share"]) == (4, 2, 0.6667)
    assert _levels(totals) == {
        "standard": (1, 1, 0.5),
        "express": (2, 0, 1.0),
        "urgent": (1, 1, 0.5),
    }
    assert body["targets"] == [
        {"service_level": "standard", "target_minutes": 240},
        {"service_level": "express", "target_minutes": 120},
        {"service_level": "urgent", "target_minutes": 60},
    ]


def test_sla_weekly_buckets_add_up_to_the_totals(dispatcher_api, november):
    body = dispatcher_api.get(
        "/api/v1/reports/sla", {**NOVEMBER_2_TO_3, "granularity": "week"}
    ).json()

    # Sunday the 1st is in the week of Monday 26 October.
    assert [(b["bucket"], b["on_time"], b["late"]) for b in body["buckets"]] == [
        ("2026-10-26", 0, 0),
        ("2026-11-02", 4, 2),
    ]
    assert _levels(body["buckets"][1]) == {
        "standard": (1, 1, 0.5),
        "express": (2, 0, 1.0),
        "urgent": (1, 1, 0.5),
    }


def test_sla_follows_the_tariff(dispatcher_api, november):
    order_services.tariff_update(by=data.staff("admin"), target_minutes_urgent=90)

    body = dispatcher_api.get("/api/v1/reports/sla", NOVEMBER_2_TO_3).json()

    assert body["targets"][2] == {"service_level": "urgent", "target_minutes": 90}
    assert body["totals"]["by_service_level"][2] == {
        "service_level": "urgent",
        "on_time": 2,
        "late": 0,
        "on_time_share": 1.0,
    }
    assert (body["buckets"][2]["on_time"], body["buckets"][2]["late"]) == (2, 0)


def test_sla_csv(dispatcher_api, november):
    response = dispatcher_api.get(
        "/api/v1/reports/sla", {"since": "2026-11-02", "until": "2026-11-02", "format": "csv"}
    )

    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "bucket,service_level,target_minutes,on_time,late,on_time_share",
        "2026-11-02,all,,3,1,0.75",
        "2026-11-02,standard,240,1,1,0.5",
        "2026-11-02,express,120,1,0,1.0",
        "2026-11-02,urgent,60,1,0,1.0",
        "total,all,,3,1,0.75",
        "total,standard,240,1,1,0.5",
        "total,express,120,1,0,1.0",
        "total,urgent,60,1,0,1.0",
        "",
    ]


# --- drivers -------------------------------------------------------------------------------


def test_drivers(dispatcher_api, november):
    body = dispatcher_api.get("/api/v1/reports/drivers", NOVEMBER_2_TO_3).json()

    rows = {row["full_name"]: row for row in body["drivers"]}
    # By name; Zoe (inactive, nothing in the period) is left out, Pedro (inactive) is not.
    assert [row["full_name"] for row in body["drivers"]] == [
        "Ana Torres",
        "Luis Condori",
        "Pedro Huamán",
        "Rosa Mamani",
    ]
    # Runs created 2 Nov (finished) and 3 Nov (cancelled, and finished after midnight);
    # on the road 270 min + 60 of the run begun on 31 Oct + 20 before midnight = 350 min.
    assert rows["Rosa Mamani"] == {
        "driver_id": november["rosa"].pk,
        "full_name": "Rosa Mamani",
        "is_active": True,
        "runs_total": 3,
        "runs_finished": 2,
        "runs_in_progress": 0,
        "deliveries": 3,
        "failed_drops": 0,
        "incidents": 1,
        "rating_avg": 4.5,
        "rating_count": 2,
        "active_hours": 5.83,
        "deliveries_per_hour": 0.51,
        "incident_rate": 0.3333,
    }
    # The run still in progress counts until the end of the period: 55 + 810 minutes.
    assert rows["Luis Condori"] == {
        "driver_id": november["luis"].pk,
        "full_name": "Luis Condori",
        "is_active": True,
        "runs_total": 2,
        "runs_finished": 1,
        "runs_in_progress": 1,
        "deliveries": 2,
        "failed_drops": 1,
        "incidents": 2,
        "rating_avg": 3.0,
        "rating_count": 1,
        "active_hours": 14.42,
        "deliveries_per_hour": 0.14,
        "incident_rate": 1.0,
    }
    assert rows["Pedro Huamán"] == {
        "driver_id": november["pedro"].pk,
        "full_name": "Pedro Huamán",
        "is_active": False,
        "runs_total": 1,
        "runs_finished": 1,
        "runs_in_progress": 0,
        "deliveries": 1,
        "failed_drops": 0,
        "incidents": 1,
        "rating_avg": None,
        "rating_count": 0,
        "active_hours": 2.5,
        "deliveries_per_hour": 0.4,
        "incident_rate": 1.0,
    }
    assert rows["Ana Torres"] == {
        "driver_id": november["ana"].pk,
        "full_name": "Ana Torres",
        "is_active": True,
        "runs_total": 0,
        "runs_finished": 0,
        "runs_in_progress": 0,
        "deliveries": 0,
        "failed_drops": 0,
        "incidents": 0,
        "rating_avg": None,
        "rating_count": 0,
        "active_hours": 0.0,
        "deliveries_per_hour": None,
        "incident_rate": None,
    }


def test_drivers_of_the_first_of_november(dispatcher_api, november):
    body = dispatcher_api.get(
        "/api/v1/reports/drivers", {"since": "2026-11-01", "until": "2026-11-01"}
    )

    rosa = next(row for row in body.json()["drivers"] if row["full_name"] == "Rosa Mamani")
    # Only the last hour of the run begun on 31 October; its failed drop-off and the run
    # itself belong to the 31st.
    assert (rosa["runs_total"], rosa["failed_drops"], rosa["active_hours"]) == (0, 0, 1.0)


def test_a_run_cancelled_on_the_road_counts_its_time_and_deliveries(dispatcher_api, crew):
    """A run in progress whose orders are all cancelled is cancelled too (the fleet's
    assignment_order_cancelled): its driver was on the road from its start to then, and a
    drop-off delivered before the cancellation was delivered by that run."""
    who = data.customer(full_name="Bodega Misti")
    order = data.order(
        who,
        created="2026-11-02 08:00",
        status="cancelled",
        level="standard",
        drops=[
            {"status": "delivered", "delivered": "2026-11-02 10:30"},
            {"status": "failed"},
        ],
    )
    data.run(
        crew["ana"],
        [order],
        status="cancelled",
        created="2026-11-02 09:00",
        started="2026-11-02 10:00",
        finished="2026-11-02 11:30",
    )

    body = dispatcher_api.get("/api/v1/reports/drivers", NOVEMBER_2_TO_3).json()

    ana = next(row for row in body["drivers"] if row["full_name"] == "Ana Torres")
    assert ana["runs_total"] == 1
    assert (ana["deliveries"], ana["failed_drops"]) == (1, 1)
    assert (ana["active_hours"], ana["deliveries_per_hour"]) == (1.5, 0.67)


def test_drivers_csv(dispatcher_api, november):
    response = dispatcher_api.get("/api/v1/reports/drivers", {**NOVEMBER_2_TO_3, "format": "csv"})

    lines = response.content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == (
        "driver_id,full_name,is_active,runs_total,runs_finished,runs_in_progress,deliveries,"
        "failed_drops,incidents,rating_avg,rating_count,active_hours,deliveries_per_hour,"
        "incident_rate"
    )
    assert lines[1] == f"{november['ana'].pk},Ana Torres,true,0,0,0,0,0,0,,0,0.0,,"
    assert lines[4] == f"{november['rosa'].pk},Rosa Mamani,true,3,2,0,3,0,1,4.5,2,5.83,0.51,0.3333"
    assert len(lines) == 6


# --- incidents -----------------------------------------------------------------------------


def test_incidents(dispatcher_api, november):
    body = dispatcher_api.get("/api/v1/reports/incidents", NOVEMBER_2_TO_3).json()

    assert body["totals"] == {"count": 4}
    assert body["by_severity"] == [
        {"severity": 1, "count": 0},
        {"severity": 2, "count": 1},
        {"severity": 3, "count": 2},
        {"severity": 4, "count": 0},
        {"severity": 5, "count": 1},
    ]
    assert [(t["type"], t["count"]) for t in body["by_type"]] == [
        ("traffic", 1),
        ("weather", 0),
        ("wrong_address", 1),
        ("customer_absent", 0),
        ("damaged_package", 1),
        ("route_deviation", 0),
        ("forced_finish", 0),
        ("failed_delivery", 1),
        ("other", 0),
    ]
    assert body["by_type"][0]["label"] == "Traffic"
    # The one at 23:30 on the 3rd is the 3rd's.
    assert body["buckets"] == [
        {"bucket": "2026-11-01", "count": 0},
        {"bucket": "2026-11-02", "count": 1},
        {"bucket": "2026-11-03", "count": 3},
    ]


def test_incidents_monthly(dispatcher_api, november):
    body = dispatcher_api.get(
        "/api/v1/reports/incidents",
        {"since": "2026-10-01", "until": "2026-11-30", "granularity": "month"},
    ).json()

    assert body["totals"] == {"count": 5}
    assert body["buckets"] == [
        {"bucket": "2026-10-01", "count": 1},
        {"bucket": "2026-11-01", "count": 4},
    ]


def test_incidents_csv(dispatcher_api, november):
    response = dispatcher_api.get(
        "/api/v1/reports/incidents", {"since": "2026-11-03", "until": "2026-11-03", "format": "csv"}
    )

    assert response.content.decode("utf-8-sig").split("\r\n") == [
        "section,key,label,count",
        "total,,,3",
        "severity,1,,0",
        "severity,2,,0",
        "severity,3,,2",
        "severity,4,,0",
        "severity,5,,1",
        "type,traffic,Traffic,0",
        "type,weather,Weather,0",
        "type,wrong_address,Wrong address,1",
        "type,customer_absent,Customer absent,0",
        "type,damaged_package,Damaged package,1",
        "type,route_deviation,Route deviation,0",
        "type,forced_finish,Forced finish,0",
        "type,failed_delivery,Failed delivery,1",
        "type,other,Other,0",
        "bucket,2026-11-03,,3",
        "",
    ]


# --- a constant number of queries ----------------------------------------------------------

# The tariff, then the report's own grouped queries (see each builder's docstring).
QUERIES = {"delivery-times": 3, "sla": 3, "drivers": 7, "incidents": 2}


def _operation(n: int) -> None:
    """`n` orders of two drop-offs over November; the delivered ones in runs of five,
    each run with an incident, each delivered order rated."""
    orders = data.bulk_orders(n, drops=2, per_run=5)
    runs = list(Assignment.objects.values_list("pk", "created_at"))
    Incident.objects.bulk_create(
        Incident(
            assignment_id=pk,
            type="traffic",
            severity=1 + i % 5,
            origin=IncidentOrigin.DRIVER,
            created_at=created + timedelta(hours=2),
        )
        for i, (pk, created) in enumerate(runs)
    )
    driver_of = dict(Assignment.objects.values_list("orders", "driver_id"))
    Rating.objects.bulk_create(
        Rating(order=row, score=4, driver_id=driver_of[row.pk], created_at=row.delivered_at)
        for row in orders
        if row.delivered_at
    )
    data.fresh_planner_statistics()


@pytest.mark.parametrize("name", sorted(QUERIES))
@pytest.mark.parametrize("n", [10, 1000])
def test_a_constant_number_of_queries(name, n, django_assert_max_num_queries):
    registry.load_all()
    _operation(n)
    params = {"since": "2026-11-01", "until": "2026-11-30"}

    with django_assert_max_num_queries(QUERIES[name]):
        computed = registry.compute(name, params)

    if name == "delivery-times":
        assert computed.data["overall"]["count"] == 2 * ((n + 1) // 2)  # all measured
